package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/harness"
)

// TestClusterRollingRestart: every broker in turn, the controller's
// included, is stopped with SIGTERM (controlled shutdown) and restarted
// while an idempotent acks=all producer writes; the next one goes once the
// restarted broker is back in every ISR. Each exits 0, the producer sees
// no error at all, every acknowledged record is there and the replicas end
// identical.
func TestClusterRollingRestart(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 3})
	const topic, parts = "rolling", 6
	createReplicated(t, c, topic, parts, 3, map[string]string{"min.insync.replicas": "2"})
	p := startPacedProducer(t, c, topic, 1000, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	p.waitAcked(t, 500)
	ctrl := c.Controller(t, 30*time.Second)
	order := []*harness.Broker{ctrl} // the controller first, then the others
	for _, b := range c.Brokers {
		if b != ctrl {
			order = append(order, b)
		}
	}
	for _, b := range order {
		acked := p.acked.Load()
		b.Stop() // fails the test unless the exit code is 0
		waitPartitions(t, c.Running(), topic, 30*time.Second, func(ps map[int32]partState) error {
			for p, s := range ps {
				if s.leader < 0 || s.leader == b.ID() || slices.Contains(s.isr, b.ID()) {
					return fmt.Errorf("partition %d: %v", p, s)
				}
			}
			return nil
		})
		p.waitAcked(t, acked+300)
		b.Restart()
		waitPartitions(t, c.Running(), topic, 60*time.Second, fullISR(parts, 3))
		if errs := p.produceErrors(); len(errs) > 0 {
			t.Fatalf("after the controlled restart of broker %d: %d produce errors, first: %v", b.ID(), len(errs), errs[0])
		}
		t.Logf("broker %d restarted and back in every isr", b.ID())
	}
	p.waitAcked(t, p.acked.Load()+300)
	acks := p.stop(t)
	checkAcked(t, c.Brokers[0].Addr(), topic, acks)
	waitReplicasIdentical(t, c, topic, parts)
}

// TestClusterDeleteTopicWithBrokerDown: a topic deleted while one of its
// replicas' brokers is down. As in Kafka, the deletion waits for that
// broker (DeleteTopics may answer REQUEST_TIMED_OUT meanwhile) while the
// live brokers delete their replicas at once; when the broker returns it
// deletes its replicas too, the topic is gone from every broker's metadata,
// and the name can be used for a new topic whose replicas start empty.
func TestClusterDeleteTopicWithBrokerDown(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 3})
	const topic = "doomed"
	createReplicated(t, c, topic, 3, 3, nil)
	recs := randomRecords(newRand(11), topic, 300)
	produceAll(t, c.Client(t, kgo.RecordPartitioner(kgo.RoundRobinPartitioner())), recs)
	down := c.Brokers[2]
	down.Kill()
	c.WaitBrokers(t, 2, 30*time.Second)
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 2000
	req.TopicNames = []string{topic}
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, dt)
	resp, err := req.RequestWith(testCtx(t, 30*time.Second), c.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	switch err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); {
	case err == nil:
	case errors.Is(err, kerr.RequestTimedOut):
		t.Logf("DeleteTopics with broker %d down: %v (deletion pending, as in Kafka)", down.ID(), err)
	default:
		t.Fatalf("delete %s with broker %d down: %v", topic, down.ID(), err)
	}
	dirsOf := func(b *harness.Broker) []string {
		m, _ := filepath.Glob(filepath.Join(b.DataDir(), topic+"-*"))
		return m
	}
	harness.Eventually(t, 30*time.Second, func() error {
		for _, b := range c.Running() {
			if d := dirsOf(b); len(d) > 0 {
				return fmt.Errorf("live broker %d still has %v", b.ID(), d)
			}
		}
		return nil
	})
	if d := dirsOf(down); len(d) != 3 {
		t.Fatalf("stopped broker %d has %v, want its 3 replicas still on disk", down.ID(), d)
	}
	down.Restart()
	harness.Eventually(t, 30*time.Second, func() error {
		for _, b := range c.Running() {
			if _, err := partitionsFrom(b.Addr(), topic); !errors.Is(err, kerr.UnknownTopicOrPartition) {
				return fmt.Errorf("broker %d: metadata for %s: %v", b.ID(), topic, err)
			}
			if d := dirsOf(b); len(d) > 0 {
				return fmt.Errorf("broker %d still has %v", b.ID(), d)
			}
		}
		return nil
	})
	// The name is free: a new topic of that name starts empty everywhere.
	harness.Eventually(t, 30*time.Second, func() error {
		cctx := testCtx(t, 10*time.Second)
		r, err := c.Admin(t).CreateTopic(cctx, 2, 3, nil, topic)
		if err == nil {
			err = r.Err
		}
		return err
	})
	waitPartitions(t, c.Running(), topic, 30*time.Second, fullISR(2, 3))
	fresh := randomRecords(newRand(12), topic, 100)
	produceAll(t, c.Client(t, kgo.RecordPartitioner(kgo.RoundRobinPartitioner())), fresh)
	checkRoundTrip(t, fresh, consumeN(t, down.Addr(), topic, len(fresh), 30*time.Second))
	for _, b := range c.Brokers {
		if _, err := os.Stat(filepath.Join(b.DataDir(), topic+"-2")); err == nil {
			t.Fatalf("broker %d has a replica of partition 2, which the new topic does not have", b.ID())
		}
	}
}
