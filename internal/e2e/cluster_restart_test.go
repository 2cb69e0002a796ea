package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/troupe-mq/troupe/internal/harness"
)

// TestClusterRestartedBrokerAnswersWhenCurrent (issue 7, bug 10): a broker
// restarted after kill -9 answers clients only once it knows the cluster.
// From the moment it is started again, a client asks it for metadata as
// often as it can, the way kcat does with the full bootstrap list during a
// rolling restart: every answer it gets must list the broker itself, and
// a live leader for every partition. And the restarted broker does not
// wait out its dead predecessor's session (20 s here): its registration
// carries its data directory's id, which proves the old one was its own.
func TestClusterRestartedBrokerAnswersWhenCurrent(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 3, ZKTickTime: time.Second, SessionTimeout: 20 * time.Second})
	const topic, parts = "restarted", 6
	createReplicated(t, c, topic, parts, 3, map[string]string{"min.insync.replicas": "2"})
	ctrl := c.Controller(t, 30*time.Second)
	var victim *harness.Broker
	for _, b := range c.Brokers {
		if b != ctrl {
			victim = b
			break
		}
	}
	victim.Kill()
	restarted := make(chan error, 1)
	start := time.Now()
	go func() { restarted <- victim.RestartErr() }()

	answers := 0
	var restartErr error
	done := false
	for deadline := time.Now().Add(90 * time.Second); !done || answers < 20; {
		if time.Now().After(deadline) {
			t.Fatalf("the restarted broker gave %d answers in 90 s (restart: %v)", answers, restartErr)
		}
		select {
		case restartErr = <-restarted:
			if restartErr != nil {
				t.Fatalf("restart: %v\n%s", restartErr, victim.Tail(30))
			}
			done = true
			t.Logf("broker %d ready %v after it was started again", victim.ID(), time.Since(start).Round(time.Millisecond))
		default:
		}
		resp, err := metadataFrom(victim.Addr(), topic, 300*time.Millisecond, 500*time.Millisecond)
		if err != nil {
			continue // not listening yet, or not answering yet: what a client may see
		}
		answers++
		ids := map[int32]bool{}
		for _, b := range resp.Brokers {
			ids[b.NodeID] = true
		}
		if !ids[victim.ID()] {
			t.Fatalf("answer %d: the restarted broker answered metadata without itself: brokers %v", answers, slices.Sorted(mapKeys(ids)))
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != parts {
			t.Fatalf("answer %d: the restarted broker answered %d topics (%v)", answers, len(resp.Topics), resp.Topics)
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.Leader < 0 || !ids[p.Leader] {
				t.Fatalf("answer %d: partition %d has leader %d (brokers %v)", answers, p.Partition, p.Leader, slices.Sorted(mapKeys(ids)))
			}
		}
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Fatalf("the restarted broker took %v: it waited out its predecessor's session", el)
	}
	waitPartitions(t, c.Running(), topic, 60*time.Second, fullISR(parts, 3))
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
