package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/troupe-mq/troupe/internal/harness"
)

// TestClusterControlledShutdown: SIGTERM to a broker that leads partitions
// while an idempotent acks=all producer writes. The broker asks the
// controller to move its leaderships away first and only then stops
// serving: it exits 0, its log says every leadership moved before its
// gateway closed, the producer gets no error at all (retries of
// NOT_LEADER_OR_FOLLOWER stay inside the client) and every acknowledged
// record is there. Restarted, it rejoins every ISR and the replicas agree.
func TestClusterControlledShutdown(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 3})
	const topic, parts = "controlled", 6
	createReplicated(t, c, topic, parts, 3, map[string]string{"min.insync.replicas": "2"})
	before := waitPartitions(t, c.Running(), topic, 30*time.Second, fullISR(parts, 3))
	led := map[int32]int{}
	for _, s := range before {
		led[s.leader]++
	}
	victim := brokerByID(t, c, before[0].leader)
	p := startPacedProducer(t, c, topic, 1000, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	p.waitAcked(t, 1000)

	acked := p.acked.Load()
	start := time.Now()
	victim.Stop() // fails the test unless the exit code is 0
	t.Logf("broker %d (leading %d of %d partitions) exited 0 after %v", victim.ID(), led[victim.ID()], parts, time.Since(start).Round(time.Millisecond))
	log := victim.Log()
	moved := strings.LastIndex(log, "controlled shutdown: leaderships moved")
	gwDown := strings.LastIndex(log, "broker stopped")
	if moved < 0 || gwDown < moved {
		t.Fatalf("broker %d's log does not show its leaderships moved before it stopped:\n%s", victim.ID(), victim.Tail(30))
	}
	waitPartitions(t, c.Running(), topic, 30*time.Second, func(ps map[int32]partState) error {
		for p, s := range ps {
			if s.leader < 0 || s.leader == victim.ID() || slices.Contains(s.isr, victim.ID()) {
				return fmt.Errorf("partition %d: %v", p, s)
			}
		}
		return nil
	})
	p.waitAcked(t, acked+1000)
	if errs := p.produceErrors(); len(errs) > 0 {
		t.Fatalf("producer saw %d errors during the controlled shutdown, first: %v", len(errs), errs[0])
	}
	victim.Restart()
	waitPartitions(t, c.Running(), topic, 60*time.Second, fullISR(parts, 3))
	p.waitAcked(t, p.acked.Load()+500)
	acks := p.stop(t) // fails the test on any produce error
	checkAcked(t, c.Brokers[0].Addr(), topic, acks)
	waitReplicasIdentical(t, c, topic, parts)
}
