package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/troupe-mq/troupe/internal/harness"
)

// TestClusterLeaderKilledRepeatedly: RF 3, min.insync.replicas 2, an
// idempotent acks=all producer at about 1,000 records/s; the leader of
// partition 0 is killed -9 and restarted five times, each time after the
// previous victim rejoined the ISR. Every acknowledged record is read back
// once, at the offset it was acknowledged at, offsets are contiguous, and
// once the cluster settles all three replicas of every partition hold the
// same batches (base offset, leader epoch, CRC), read from the segment
// files in each broker's data directory. A consumer reading all along
// never sees a record that is not in the final log at that offset.
func TestClusterLeaderKilledRepeatedly(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 3})
	const topic, parts = "kill-leader", 3
	createReplicated(t, c, topic, parts, 3, map[string]string{"min.insync.replicas": "2"})
	p := startPacedProducer(t, c, topic, 1000, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	reader := startReader(t, c, topic)
	p.waitAcked(t, 1000)
	for round := 1; round <= 5; round++ {
		before := waitPartitions(t, c.Running(), topic, 60*time.Second, fullISR(parts, 3))[0]
		victim := brokerByID(t, c, before.leader)
		acked := p.acked.Load()
		victim.Kill()
		start := time.Now()
		after := waitPartitions(t, c.Running(), topic, 30*time.Second, func(ps map[int32]partState) error {
			s := ps[0]
			if s.leader < 0 || s.leader == victim.ID() || s.epoch <= before.epoch {
				return fmt.Errorf("partition 0: %v (was %v)", s, before)
			}
			if slices.Contains(s.isr, victim.ID()) {
				return fmt.Errorf("partition 0: killed broker %d still in isr %v", victim.ID(), s.isr)
			}
			return nil
		})[0]
		// acks=all producing goes on with two of three replicas in sync.
		p.waitAcked(t, acked+500)
		t.Logf("round %d: killed leader %d (epoch %d); broker %d leads at epoch %d; 500 more acks %v after the kill",
			round, victim.ID(), before.epoch, after.leader, after.epoch, time.Since(start).Round(time.Millisecond))
		victim.Restart()
		// The loop's first wait is for the victim back in every ISR.
	}
	waitPartitions(t, c.Running(), topic, 60*time.Second, fullISR(parts, 3))
	p.waitAcked(t, p.acked.Load()+500)
	acks := p.stop(t)
	checkAcked(t, c.Bootstrap()[0], topic, acks)
	checkReadsCommitted(t, c.Bootstrap()[0], topic, reader.stop(), len(acks))
	batches := waitReplicasIdentical(t, c, topic, parts)
	epochs := map[int32]bool{}
	for _, bs := range batches {
		for _, b := range bs {
			epochs[b.epoch] = true
		}
	}
	t.Logf("replicas identical: %d/%d/%d batches in partitions 0/1/2, %d leader epochs among them",
		len(batches[0]), len(batches[1]), len(batches[2]), len(epochs))
}
