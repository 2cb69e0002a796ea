package e2e

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/troupe-mq/troupe/internal/harness"
)

// ack is where the broker said a record went.
type ack struct {
	partition int32
	offset    int64
}

// trackedProducer produces numbered records ("0", "1", …) without pause
// from its own goroutine, with an idempotent acks=all franz-go client that
// retries forever, and remembers every acknowledgement.
type trackedProducer struct {
	cl     *kgo.Client
	topic  string
	cancel context.CancelFunc
	done   chan struct{}
	acked  atomic.Int64
	mu     struct {
		sync.Mutex
		acks map[string]ack // value -> where it was acknowledged
		errs []error
	}
}

func startTrackedProducer(t *testing.T, addr, topic string, opts ...kgo.Opt) *trackedProducer {
	t.Helper()
	p := &trackedProducer{topic: topic, done: make(chan struct{})}
	p.mu.acks = map[string]ack{}
	p.cl = harness.NewClient(t, []string{addr}, append([]kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(time.Millisecond),
		kgo.MaxBufferedRecords(2000), // Produce blocks while the broker is down
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
	}, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		defer close(p.done)
		for i := 0; ctx.Err() == nil; i++ {
			p.cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}, p.onAck)
		}
	}()
	t.Cleanup(func() { p.cancel(); <-p.done })
	return p
}

func (p *trackedProducer) onAck(r *kgo.Record, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			p.mu.errs = append(p.mu.errs, fmt.Errorf("record %s: %w", r.Value, err))
		}
		return
	}
	p.mu.acks[string(r.Value)] = ack{r.Partition, r.Offset}
	p.acked.Add(1)
}

// waitAcked waits until at least n records have been acknowledged.
func (p *trackedProducer) waitAcked(t *testing.T, n int64) {
	t.Helper()
	harness.Eventually(t, 60*time.Second, func() error {
		if got := p.acked.Load(); got < n {
			return fmt.Errorf("%d of %d records acknowledged", got, n)
		}
		return nil
	})
}

// stop stops producing and waits for every record in flight to be
// acknowledged or failed, then returns the acknowledgements.
func (p *trackedProducer) stop(t *testing.T) map[string]ack {
	t.Helper()
	p.cancel()
	<-p.done
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// With infinite retries and a broker that comes back, a record may
	// only fail because its context was canceled by stop itself.
	for i, err := range p.mu.errs {
		if i == 5 {
			t.Errorf("… and %d more produce errors", len(p.mu.errs)-5)
			break
		}
		t.Errorf("produce error: %v", err)
	}
	out := make(map[string]ack, len(p.mu.acks))
	for k, v := range p.mu.acks {
		out[k] = v
	}
	return out
}

// checkAcked reads the whole topic and checks that every acknowledged
// record is at the offset it was acknowledged at, that offsets are
// contiguous and that no record appears twice (the producer is
// idempotent).
func checkAcked(t *testing.T, addr, topic string, acks map[string]ack) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	ends, err := harness.NewAdmin(t, []string{addr}).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s-%d: %v", o.Topic, o.Partition, o.Err)
		}
		total += int(o.Offset)
	})
	recs := consumeN(t, addr, topic, total, 60*time.Second)
	at := map[ack]string{}
	seen := map[string]ack{}
	next := map[int32]int64{}
	for _, r := range recs {
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d follows %d", r.Partition, r.Offset, next[r.Partition]-1)
		}
		next[r.Partition]++
		v := string(r.Value)
		if prev, dup := seen[v]; dup {
			t.Fatalf("record %s stored twice: partition %d offsets %d and %d", v, r.Partition, prev.offset, r.Offset)
		}
		seen[v] = ack{r.Partition, r.Offset}
		at[ack{r.Partition, r.Offset}] = v
	}
	lost := 0
	for v, a := range acks {
		if got, ok := at[a]; !ok || got != v {
			if lost < 5 {
				t.Errorf("acknowledged record %s at %d/%d: found %q there", v, a.partition, a.offset, got)
			}
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged records lost or moved", lost, len(acks))
	}
	t.Logf("%d records stored, %d acknowledged, all acknowledged present", len(recs), len(acks))
}

// TestKillDuringProduce: a broker killed -9 while an idempotent acks=all
// producer writes, then restarted on the same data dir, still holds every
// acknowledged record exactly once; production then carries on.
func TestKillDuringProduce(t *testing.T) {
	b := harness.StartBroker(t, harness.BrokerOptions{})
	createTopic(t, b.Admin(t), "kill", 3, nil)
	p := startTrackedProducer(t, b.Addr(), "kill")
	for round := int64(1); round <= 2; round++ {
		p.waitAcked(t, round*3000)
		b.Kill()
		start := time.Now()
		b.Restart()
		t.Logf("restart took %v", time.Since(start))
	}
	start := time.Now()
	p.waitAcked(t, p.acked.Load()+3000) // producing resumes after the restart
	t.Logf("3000 more acks took %v", time.Since(start))
	acks := p.stop(t)
	checkAcked(t, b.Addr(), "kill", acks)
}

// TestSigtermDuringProduce: SIGTERM while producing exits 0; after a
// restart every acknowledged record is there.
func TestSigtermDuringProduce(t *testing.T) {
	b := harness.StartBroker(t, harness.BrokerOptions{})
	createTopic(t, b.Admin(t), "term", 3, nil)
	p := startTrackedProducer(t, b.Addr(), "term")
	// A consumer long-polls at the end of the log meanwhile: shutdown
	// answers its fetch instead of waiting out max wait.
	cons := b.Client(t, kgo.ConsumeTopics("term"), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(20*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for ctx.Err() == nil {
			cons.PollFetches(ctx)
		}
	}()
	t.Cleanup(func() { cancel(); <-consumed })
	p.waitAcked(t, 3000)
	start := time.Now()
	b.Stop() // fails the test unless the exit code is 0
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("SIGTERM took %v to exit", d)
	} else {
		t.Logf("SIGTERM exit after %v", d)
	}
	b.Restart()
	p.waitAcked(t, p.acked.Load()+3000)
	acks := p.stop(t)
	checkAcked(t, b.Addr(), "term", acks)
}

// TestKillDuringLargeProduce: kill -9 while large batches (hundreds of
// KiB, several pages per write) are being appended, three times; the
// restarted broker recovers its logs to whole batches and keeps every
// acknowledged record.
func TestKillDuringLargeProduce(t *testing.T) {
	b := harness.StartBroker(t, harness.BrokerOptions{})
	createTopic(t, b.Admin(t), "large", 2, nil)
	p := startLargeProducer(t, b.Addr(), "large")
	for round := int64(1); round <= 3; round++ {
		p.waitAcked(t, round*150)
		b.Kill()
		b.Restart()
	}
	p.waitAcked(t, p.acked.Load()+100)
	checkAcked(t, b.Addr(), "large", p.stop(t))
}

// startLargeProducer is startTrackedProducer with 20 KiB records in
// batches of up to 900 KiB.
func startLargeProducer(t *testing.T, addr, topic string) *trackedProducer {
	t.Helper()
	p := &trackedProducer{topic: topic, done: make(chan struct{})}
	p.mu.acks = map[string]ack{}
	p.cl = harness.NewClient(t, []string{addr},
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(20*time.Millisecond),
		kgo.ProducerBatchMaxBytes(900<<10), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(200),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	pad := make([]byte, 20<<10)
	go func() {
		defer close(p.done)
		for i := 0; ctx.Err() == nil; i++ {
			v := append([]byte(strconv.Itoa(i)+"|"), pad...)
			p.cl.Produce(ctx, &kgo.Record{Topic: topic, Value: v}, p.onAck)
		}
	}()
	t.Cleanup(func() { p.cancel(); <-p.done })
	return p
}
