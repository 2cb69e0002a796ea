package e2e

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/troupe-mq/troupe/actors"
	"github.com/troupe-mq/troupe/internal/broker"
	"github.com/troupe-mq/troupe/internal/harness"
)

// lockedBuffer collects a broker's log lines for the test to look at.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

// startInProcess starts a broker inside the test process, with
// AllowCrashForTests, logging into logs. It is shut down at cleanup.
func startInProcess(t *testing.T, logs *lockedBuffer) *broker.Broker {
	t.Helper()
	b, err := broker.Start(broker.Config{ID: 1, Listen: "127.0.0.1:0", DataDir: t.TempDir(),
		Log: zerolog.New(logs).Level(zerolog.InfoLevel), AllowCrashForTests: true, TickEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return b
}

// TestPartitionActorCrash: a partition actor that panics is restarted from
// its log while the other partitions keep serving; afterwards it serves
// every record acknowledged before, during and after the crashes.
func TestPartitionActorCrash(t *testing.T) {
	logs := &lockedBuffer{}
	b := startInProcess(t, logs)
	addr := b.Addr().String()
	createTopic(t, harness.NewAdmin(t, []string{addr}), "crash", 3, nil)
	p := startTrackedProducer(t, addr, "crash", kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	perPartition := func() map[int32]int {
		p.mu.Lock()
		defer p.mu.Unlock()
		m := map[int32]int{}
		for _, a := range p.mu.acks {
			m[a.partition]++
		}
		return m
	}
	p.waitAcked(t, 2000)
	const restartedMsg = "partition actor failed; restarting it from its log"
	for crash := 1; crash <= 3; crash++ {
		pid, ok := b.Replicas().Partition(actors.TopicPartition{Topic: "crash", Partition: 0})
		if !ok {
			t.Fatal("partition crash-0 has no actor")
		}
		before := perPartition()
		b.Send(pid, &actors.CrashForTest{})
		harness.Eventually(t, 10*time.Second, func() error {
			if n := logs.count(restartedMsg); n < crash {
				return errorf("%d restarts logged, want %d", n, crash)
			}
			return nil
		})
		// The other partitions keep taking records.
		harness.Eventually(t, 30*time.Second, func() error {
			now := perPartition()
			for _, part := range []int32{1, 2} {
				if now[part] < before[part]+200 {
					return errorf("partition %d: %d acks, was %d at the crash", part, now[part], before[part])
				}
			}
			return nil
		})
	}
	// The crashed partition takes records again.
	before := perPartition()[0]
	harness.Eventually(t, 30*time.Second, func() error {
		if now := perPartition()[0]; now < before+200 {
			return errorf("partition 0: %d acks, was %d after the crashes", now, before)
		}
		return nil
	})
	acks := p.stop(t)
	checkAcked(t, addr, "crash", acks)
}
