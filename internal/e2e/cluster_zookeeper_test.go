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

// TestClusterZooKeeperOutage: ZooKeeper stopped for 10 s. Meanwhile the
// existing leaders keep taking acks=all writes (the ISRs are whole, so no
// ISR change is needed) and serve fetches. When ZooKeeper returns the
// cluster carries on: every broker is registered, a new topic can be
// created, and a leader killed afterwards fails over. Every acknowledged
// record survives and the replicas end identical.
func TestClusterZooKeeperOutage(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 3})
	const topic, parts = "zk-outage", 3
	createReplicated(t, c, topic, parts, 3, map[string]string{"min.insync.replicas": "2"})
	p := startPacedProducer(t, c, topic, 1000, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	p.waitAcked(t, 500)

	c.ZK.Stop()
	stoppedAt := time.Now()
	// Produce keeps being acknowledged all through the outage, ...
	for time.Since(stoppedAt) < 10*time.Second {
		p.waitAcked(t, p.acked.Load()+200)
	}
	// ... and fetch is served: a new consumer reads what was acknowledged
	// before and during it.
	inOutage := int(p.acked.Load())
	got := consumeN(t, c.Brokers[0].Addr(), topic, inOutage, 30*time.Second, kgo.SeedBrokers(c.Bootstrap()...))
	if time.Since(stoppedAt) > 10*time.Second+30*time.Second {
		t.Fatal("test too slow to have consumed inside the outage")
	}
	t.Logf("zookeeper down %v: %d records acknowledged, %d consumed meanwhile", time.Since(stoppedAt).Round(time.Millisecond), inOutage, len(got))
	c.ZK.Start()
	restartedAt := time.Now()

	// The cluster carries on: registrations, topic creation, failover.
	c.WaitBrokers(t, 3, 60*time.Second)
	createReplicated(t, c, "zk-after", 2, 3, nil)
	t.Logf("topic created %v after zookeeper came back", time.Since(restartedAt).Round(time.Millisecond))
	before := waitPartitions(t, c.Running(), topic, 60*time.Second, fullISR(parts, 3))[0]
	victim := brokerByID(t, c, before.leader)
	victim.Kill()
	waitPartitions(t, c.Running(), topic, 30*time.Second, func(ps map[int32]partState) error {
		for p, s := range ps {
			if s.leader < 0 || s.leader == victim.ID() || slices.Contains(s.isr, victim.ID()) {
				return fmt.Errorf("partition %d: %v", p, s)
			}
		}
		if ps[0].epoch <= before.epoch {
			return fmt.Errorf("partition 0: %v, was %v", ps[0], before)
		}
		return nil
	})
	p.waitAcked(t, p.acked.Load()+500)
	victim.Restart()
	waitPartitions(t, c.Running(), topic, 60*time.Second, fullISR(parts, 3))
	for _, b := range c.Brokers {
		l := b.Log()
		t.Logf("broker %d: %d session expiries, %d re-registrations, %d controller resignations", b.ID(),
			strings.Count(l, "broker registration lost"), strings.Count(l, "broker re-registered"), strings.Count(l, "resigning as controller"))
	}
	acks := p.stop(t)
	checkAcked(t, c.Brokers[0].Addr(), topic, acks)
	waitReplicasIdentical(t, c, topic, parts)
}
