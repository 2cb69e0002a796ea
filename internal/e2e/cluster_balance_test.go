package e2e

import (
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/harness"
)

// The controller's automatic balancer (issue 8), proven on real processes
// with an idempotent acks=all producer writing throughout: no acknowledged
// record lost, no produce error.

// balanceOverrides turn the balancer on with a short settle time.
func balanceOverrides(extra map[string]string) map[string]string {
	o := map[string]string{"auto.rebalance.enable": "true", "auto.rebalance.settle.ms": "2000"}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// finishTraffic stops the producer and the reader after a few hundred more
// records: every acknowledged record is in the log, the producer saw no
// error, and what the reader saw during the test is in the final log.
func finishTraffic(t *testing.T, c *harness.Cluster, topic string, p *trackedProducer, rl *readLog) {
	t.Helper()
	p.waitAcked(t, p.acked.Load()+300)
	acks := p.stop(t)
	addr := c.Running()[0].Addr()
	checkAcked(t, addr, topic, acks)
	read := rl.stop()
	if len(read) == 0 {
		t.Fatal("the consumer read nothing during the test")
	}
	ends, err := harness.NewAdmin(t, []string{addr}).ListEndOffsets(testCtx(t, 30*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	ends.Each(func(o kadm.ListedOffset) { total += int(o.Offset) })
	checkReadsCommitted(t, addr, topic, read, total)
}

// evenOver checks that the partitions are at rf replicas, all in sync,
// only on the brokers ids, with replicas and preferred leaders per broker
// within one of even, and each partition led by its preferred replica.
func evenOver(ids []int32, rf int) func(map[int32]partState) error {
	return func(ps map[int32]partState) error {
		replicas, leaders := map[int32]int{}, map[int32]int{}
		for p, s := range ps {
			if len(s.replicas) != rf || len(s.isr) != rf {
				return fmt.Errorf("partition %d: %v, want %d replicas in sync", p, s, rf)
			}
			for _, r := range s.replicas {
				if !slices.Contains(ids, r) {
					return fmt.Errorf("partition %d: %v has a replica outside %v", p, s, ids)
				}
				replicas[r]++
			}
			if s.leader != s.replicas[0] {
				return fmt.Errorf("partition %d: %v not led by its preferred replica", p, s)
			}
			leaders[s.leader]++
		}
		within := func(what string, count map[int32]int, total int) error {
			lo, hi := total/len(ids), (total+len(ids)-1)/len(ids)
			for _, id := range ids {
				if count[id] < lo || count[id] > hi {
					return fmt.Errorf("%s per broker %v, want %d..%d on each of %v", what, count, lo, hi, ids)
				}
			}
			return nil
		}
		if err := within("replicas", replicas, len(ps)*rf); err != nil {
			return err
		}
		return within("leaders", leaders, len(ps))
	}
}

// TestClusterBalanceJoinAndDecommission: a fourth broker joins three that
// hold 24 partitions at RF 3: replicas and leaders move onto it until both
// are within one of even (6 leaders and 18 replicas each). Then a broker is
// decommissioned (broker.decommissioned on its entity, as `troupe cluster
// decommission` sets it): it ends with no replicas and every partition
// keeps RF 3 in sync on the other three.
func TestClusterBalanceJoinAndDecommission(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 4, Overrides: balanceOverrides(nil)})
	joiner := c.Broker(4)
	joiner.Stop() // registered once, holds nothing: it joins later
	c.WaitBrokers(t, 3, 30*time.Second)
	const topic = "spread"
	createReplicated(t, c, topic, 24, 3, map[string]string{"min.insync.replicas": "2"})
	p := startPacedProducer(t, c, topic, 500, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	rl := startReader(t, c, topic)
	p.waitAcked(t, 300)

	joined := time.Now()
	joiner.Restart()
	c.WaitBrokers(t, 4, 30*time.Second)
	waitPartitions(t, c.Running(), topic, 90*time.Second, evenOver([]int32{1, 2, 3, 4}, 3))
	t.Logf("broker 4 joined: replicas and leaders even over 4 brokers after %v", time.Since(joined).Round(100*time.Millisecond))

	adm := c.Admin(t)
	ctx := testCtx(t, 30*time.Second)
	resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "broker.decommissioned", Value: kmsg.StringPtr("true")}}, 2)
	if err != nil || resp[0].Err != nil {
		t.Fatalf("decommission broker 2: %v %v", err, resp)
	}
	started := time.Now()
	waitPartitions(t, c.Running(), topic, 120*time.Second, evenOver([]int32{1, 3, 4}, 3))
	t.Logf("broker 2 decommissioned: no replicas left on it after %v", time.Since(started).Round(100*time.Millisecond))
	// A topic created now is placed on the others only.
	createReplicated(t, c, "later", 6, 2, nil)
	waitPartitions(t, c.Running(), "later", 30*time.Second, evenOver([]int32{1, 3, 4}, 2))
	finishTraffic(t, c, topic, p, rl)
}

// TestClusterBalanceBrokerLost: a broker killed for good (a removal grace
// of 3 s): once the grace passes, its replicas are re-created on the
// others and every partition is at RF 3 in the ISR again.
func TestClusterBalanceBrokerLost(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 4, Overrides: balanceOverrides(nil),
		Args: []string{"--broker-removal-grace", "3s"}})
	const topic = "survive"
	createReplicated(t, c, topic, 12, 3, map[string]string{"min.insync.replicas": "2"})
	waitPartitions(t, c.Running(), topic, 90*time.Second, evenOver([]int32{1, 2, 3, 4}, 3))
	p := startPacedProducer(t, c, topic, 500, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	rl := startReader(t, c, topic)
	p.waitAcked(t, 300)

	lost := c.Broker(3)
	if lost == c.Controller(t, 10*time.Second) {
		lost = c.Broker(2)
	}
	lost.Kill()
	killed := time.Now()
	rest := []int32{}
	for _, b := range c.Brokers {
		if b != lost {
			rest = append(rest, b.ID())
		}
	}
	waitPartitions(t, c.Running(), topic, 120*time.Second, evenOver(rest, 3))
	t.Logf("broker %d lost: every partition back at RF 3 on %v after %v", lost.ID(), rest, time.Since(killed).Round(100*time.Millisecond))
	finishTraffic(t, c, topic, p, rl)
}

// TestClusterBalanceSkewedLoad: two partitions of one topic are written
// ten times harder than everything else, and sit (by an explicit
// assignment) on the same two of four brokers. Replica counts are even, so
// only the load goal can see it: once the brokers have reported their
// replica sizes, the balancer spreads the heavy replicas, and the bytes on
// each broker's disk end within 10 % of the mean.
func TestClusterBalanceSkewedLoad(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 4, Overrides: balanceOverrides(map[string]string{
		"auto.rebalance.check.interval.ms": "3000"})})
	ctx := testCtx(t, 3*time.Minute)
	adm := c.Admin(t)
	// Counts are even (4 replicas a broker, 2 of each topic), the bytes
	// are not: hot-0 and hot-1 are both on brokers 1 and 2.
	createAssigned(t, c, "hot", []int32{1, 2}, []int32{2, 1}, []int32{3, 4}, []int32{4, 3})
	createAssigned(t, c, "cold", []int32{1, 3}, []int32{2, 4}, []int32{3, 1}, []int32{4, 2})
	prod := c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	payload := make([]byte, 32<<10)
	write := func(topic string, part int32, bytes int) {
		for range bytes / len(payload) {
			rand.Read(payload)
			prod.Produce(ctx, &kgo.Record{Topic: topic, Partition: part, Value: slices.Clone(payload)}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce %s-%d: %v", topic, part, err)
				}
			})
		}
	}
	for p := int32(0); p < 4; p++ {
		write("cold", p, 2<<20)
	}
	write("hot", 0, 20<<20)
	write("hot", 1, 20<<20)
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	p := startPacedProducer(t, c, "cold", 300)
	rl := startReader(t, c, "cold")
	written := time.Now()
	harness.Eventually(t, 120*time.Second, func() error {
		dirs, err := adm.DescribeAllLogDirs(ctx, nil)
		if err != nil {
			return err
		}
		per := map[int32]int64{}
		var total int64
		for id, ds := range dirs {
			for _, d := range ds {
				per[id] += d.Size()
				total += d.Size()
			}
		}
		// Every replica's bytes are on disk (48 MiB written, RF 2).
		if total < 2*48<<20 {
			return fmt.Errorf("%d bytes on disk over the brokers, want all %d", total, 2*48<<20)
		}
		mean := float64(total) / 4
		for id := int32(1); id <= 4; id++ {
			if dev := float64(per[id]) - mean; dev > 0.1*mean || dev < -0.1*mean {
				return fmt.Errorf("bytes per broker %v, mean %.0f: broker %d is %.0f%% off", per, mean, id, 100*dev/mean)
			}
		}
		// Moves done: every partition at RF 2 in sync.
		for _, topic := range []string{"hot", "cold"} {
			ps, err := partitionsFrom(c.Brokers[0].Addr(), topic)
			if err != nil {
				return err
			}
			if err := fullISR(4, 2)(ps); err != nil {
				return fmt.Errorf("%s: %w", topic, err)
			}
		}
		return nil
	})
	t.Logf("skewed load balanced within 10%% of the mean %v after writing", time.Since(written).Round(100*time.Millisecond))
	finishTraffic(t, c, "cold", p, rl)
}

// TestClusterReassignControllerKilled: a move copying 256 MiB at a 32 MB/s
// throttle is interrupted by killing the controller (neither source nor
// target of the move); the next controller takes it over from the topic
// znode and completes it, with a producer writing throughout.
func TestClusterReassignControllerKilled(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 3})
	ctx := testCtx(t, 3*time.Minute)
	adm := c.Admin(t)
	ctrl := c.Controller(t, 10*time.Second)
	var others []int32
	for _, b := range c.Brokers {
		if b != ctrl {
			others = append(others, b.ID())
		}
	}
	const topic = "handover"
	createAssigned(t, c, topic, []int32{others[0]})
	fill := c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	payload := make([]byte, 64<<10)
	for range (256 << 20) / len(payload) {
		rand.Read(payload)
		fill.Produce(ctx, &kgo.Record{Topic: topic, Value: slices.Clone(payload)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("fill: %v", err)
			}
		})
	}
	if err := fill.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rate := kmsg.StringPtr("32000000")
	if resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "leader.replication.throttled.rate", Value: rate},
		{Op: kadm.SetConfig, Name: "follower.replication.throttled.rate", Value: rate}}); err != nil || resp[0].Err != nil {
		t.Fatalf("throttle: %v %v", err, resp)
	}
	p := startPacedProducer(t, c, topic, 200)
	rl := startReader(t, c, topic)
	p.waitAcked(t, 100)

	target := []int32{others[1], others[0]}
	assign(t, ctx, adm, topic, 0, target)
	harness.Eventually(t, 30*time.Second, func() error {
		l, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: nil})
		if err != nil {
			return err
		}
		if r, ok := l[topic][0]; !ok || !slices.Equal(r.AddingReplicas, []int32{others[1]}) {
			return fmt.Errorf("listed %+v, want the move adding %d", l, others[1])
		}
		return nil
	})
	ctrl.Kill()
	killed := time.Now()
	waitPartitions(t, c.Running(), topic, 120*time.Second, func(ps map[int32]partState) error {
		if s := ps[0]; !slices.Equal(s.replicas, target) || len(s.isr) != 2 {
			return fmt.Errorf("partition 0: %v, want replicas %v in sync", s, target)
		}
		return nil
	})
	t.Logf("controller %d killed mid-move; the next one completed the move to %v %v later", ctrl.ID(), target, time.Since(killed).Round(100*time.Millisecond))
	ctrl.Restart()
	c.WaitBrokers(t, 3, 30*time.Second)
	finishTraffic(t, c, topic, p, rl)
}
