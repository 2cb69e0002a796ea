package e2e

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/harness"
)

// produceReads counts the Produce responses a client read (a kgo hook):
// proof that a producer kept asking while nothing was acknowledged.
type produceReads struct{ n atomic.Int64 }

// OnBrokerRead implements kgo.HookBrokerRead.
func (h *produceReads) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 0 && err == nil {
		h.n.Add(1)
	}
}

// isrIs is a waitPartitions condition: partition 0 led by leader with
// exactly isr in sync.
func isrIs(leader int32, isr ...int32) func(map[int32]partState) error {
	slices.Sort(isr)
	return func(ps map[int32]partState) error {
		s := ps[0]
		if s.leader != leader || !slices.Equal(s.isr, isr) {
			return fmt.Errorf("partition 0: %v, want leader %d isr %v", s, leader, isr)
		}
		return nil
	}
}

// TestClusterFollowerLoss: RF 3, min.insync.replicas 2. A follower killed
// leaves the ISR and acks=all producing goes on with two in sync; restarted,
// it catches up and rejoins the ISR. With both followers down, acks=all
// fails with NOT_ENOUGH_REPLICAS — for a real client and a raw request —
// and no record is acknowledged although the producer keeps retrying; once
// they return, every acknowledged record is there and the replicas agree.
func TestClusterFollowerLoss(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 3})
	const topic = "isr"
	createReplicated(t, c, topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	st := waitPartitions(t, c.Running(), topic, 30*time.Second, fullISR(1, 3))[0]
	leader := brokerByID(t, c, st.leader)
	f1, f2 := otherTwo(c, leader)
	reads := &produceReads{}
	p := startPacedProducer(t, c, topic, 1000, kgo.WithHooks(reads))
	p.waitAcked(t, 500)

	// One follower down: the ISR shrinks, acks=all goes on at min ISR.
	f1.Kill()
	waitPartitions(t, c.Running(), topic, 30*time.Second, isrIs(leader.ID(), leader.ID(), f2.ID()))
	p.waitAcked(t, p.acked.Load()+1000)
	f1.Restart()
	waitPartitions(t, c.Running(), topic, 30*time.Second, isrIs(leader.ID(), leader.ID(), f1.ID(), f2.ID()))
	t.Logf("broker %d rejoined the isr", f1.ID())
	p.waitAcked(t, p.acked.Load()+500)

	// Both followers down: below min.insync.replicas.
	f1.Kill()
	f2.Kill()
	waitPartitions(t, []*harness.Broker{leader}, topic, 30*time.Second, isrIs(leader.ID(), leader.ID()))
	raw := dial(t, leader.Addr())
	for i := range 5 {
		batch := harness.BuildBatch(harness.Batch{ProducerID: harness.NoProducer, ProducerEpoch: -1, BaseSequence: -1,
			Records: []harness.Record{{Value: fmt.Appendf(nil, "raw-%d", i)}}})
		resp, err := raw.Do(harness.ProduceRequest(9, -1, topic, 0, batch))
		if err != nil {
			t.Fatal(err)
		}
		pp := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(pp.ErrorCode); !errors.Is(err, kerr.NotEnoughReplicas) {
			t.Fatalf("raw acks=all produce with isr [%d]: %v, want NOT_ENOUGH_REPLICAS", leader.ID(), err)
		}
	}
	probe := harness.NewClient(t, []string{leader.Addr()}, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(1),
		kgo.DisableIdempotentWrite())
	err := probe.ProduceSync(testCtx(t, 20*time.Second), &kgo.Record{Topic: topic, Value: []byte("probe")}).FirstErr()
	if !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("kgo acks=all produce with isr [%d]: %v, want NOT_ENOUGH_REPLICAS", leader.ID(), err)
	}
	// Nothing is acknowledged while the producer keeps trying. Every ack
	// it got before the ISR shrank has reached it by now: the raw
	// requests above were answered after those acks were sent.
	acked := p.acked.Load()
	readsAt := reads.n.Load()
	harness.Eventually(t, 30*time.Second, func() error {
		if n := p.acked.Load(); n != acked {
			return fmt.Errorf("%d records acknowledged with one replica in sync", n-acked)
		}
		if n := reads.n.Load() - readsAt; n < 20 {
			return fmt.Errorf("%d produce answers refused so far", n)
		}
		return nil
	})
	if n := p.acked.Load(); n != acked {
		t.Fatalf("%d records acknowledged with one replica in sync", n-acked)
	}
	t.Logf("isr [%d]: %d produce answers, none acknowledging", leader.ID(), reads.n.Load()-readsAt)

	f1.Restart()
	f2.Restart()
	waitPartitions(t, c.Running(), topic, 60*time.Second, fullISR(1, 3))
	p.waitAcked(t, acked+1000)
	acks := p.stop(t)
	checkAcked(t, leader.Addr(), topic, acks)
	waitReplicasIdentical(t, c, topic, 1)
}
