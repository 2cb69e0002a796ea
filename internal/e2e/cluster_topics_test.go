package e2e

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/troupe-mq/troupe/internal/harness"
)

// TestClusterAddPartitions: partitions added to an RF 3 topic while an
// idempotent acks=all producer writes get leaders and full ISRs on every
// broker, the producer starts using them, and every partition's replicas
// end identical with every acknowledged record in place.
func TestClusterAddPartitions(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 3})
	const topic = "growing"
	createReplicated(t, c, topic, 2, 3, map[string]string{"min.insync.replicas": "2"})
	// kgo learns of new partitions at its periodic metadata refresh.
	p := startPacedProducer(t, c, topic, 1000, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.MetadataMaxAge(time.Second))
	p.waitAcked(t, 500)
	resp, err := c.Admin(t).CreatePartitions(testCtx(t, 30*time.Second), 2, topic) // 2 more: 4 in all
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("create partitions: %v", err)
	}
	waitPartitions(t, c.Running(), topic, 30*time.Second, fullISR(4, 3))
	harness.Eventually(t, 30*time.Second, func() error {
		used := map[int32]bool{}
		for _, a := range p.acksSoFar() {
			used[a.partition] = true
		}
		if !used[2] || !used[3] {
			return fmt.Errorf("acknowledged records in partitions %v, want 2 and 3 too", used)
		}
		return nil
	})
	acks := p.stop(t)
	checkAcked(t, c.Brokers[0].Addr(), topic, acks)
	waitReplicasIdentical(t, c, topic, 4)
}

// TestClusterMinISRChange: min.insync.replicas changed on a live topic
// takes effect on its leader: with one follower down, acks=all is refused
// (NOT_ENOUGH_REPLICAS) once the topic asks for 3 in sync and accepted
// again once it asks for 2.
func TestClusterMinISRChange(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 3})
	const topic = "min-isr"
	createReplicated(t, c, topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	st := waitPartitions(t, c.Running(), topic, 30*time.Second, fullISR(1, 3))[0]
	leader := brokerByID(t, c, st.leader)
	var follower *harness.Broker
	for _, b := range c.Brokers {
		if b != leader {
			follower = b
		}
	}
	follower.Kill()
	waitPartitions(t, c.Running(), topic, 30*time.Second, func(ps map[int32]partState) error {
		if s := ps[0]; len(s.isr) != 2 {
			return fmt.Errorf("partition 0: %v", s)
		}
		return nil
	})
	set := func(v string) {
		t.Helper()
		resp, err := c.Admin(t).AlterTopicConfigs(testCtx(t, 30*time.Second),
			[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "min.insync.replicas", Value: &v}}, topic)
		if err == nil {
			err = resp[0].Err
		}
		if err != nil {
			t.Fatalf("set min.insync.replicas=%s: %v", v, err)
		}
	}
	produce := func() error {
		cl := harness.NewClient(t, c.Bootstrap(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(1), kgo.DisableIdempotentWrite())
		return cl.ProduceSync(testCtx(t, 20*time.Second), &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr()
	}
	set("3")
	harness.Eventually(t, 30*time.Second, func() error {
		if err := produce(); !errors.Is(err, kerr.NotEnoughReplicas) {
			return fmt.Errorf("acks=all with 2 in sync and min.insync.replicas=3: %v, want NOT_ENOUGH_REPLICAS", err)
		}
		return nil
	})
	set("2")
	harness.Eventually(t, 30*time.Second, func() error {
		if err := produce(); err != nil {
			return fmt.Errorf("acks=all with 2 in sync and min.insync.replicas=2: %v", err)
		}
		return nil
	})
}
