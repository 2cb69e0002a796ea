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

// TestClusterPauseWithinSession: a broker frozen with SIGSTOP until the
// controller gives up on it over remoting, within its ZooKeeper session
// (Kafka's default 18 s). gRPC enforces at least 10 s between client
// keepalive pings, so a hung (not crashed) broker's remoting endpoint is
// declared dead after about 11 s. Its leaderships move and it leaves every
// ISR while acks=all producing goes on. Resumed with the same session (so
// the same broker epoch), it answers the controller's ping, is told its new
// roles, catches up and rejoins every ISR; a paused controller is deposed
// by the standbys and resigns when it resumes. Every acknowledged record
// survives and the replicas end identical.
func TestClusterPauseWithinSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		pick func(c *harness.Cluster, leaders map[int32]partState) *harness.Broker
	}{
		{"leader", func(c *harness.Cluster, leaders map[int32]partState) *harness.Broker {
			// A leader that is not the controller (the next case covers that).
			ctrl := c.Controller(t, 30*time.Second)
			for _, s := range leaders {
				if s.leader != ctrl.ID() {
					return brokerByID(t, c, s.leader)
				}
			}
			t.Fatalf("the controller %d leads every partition", ctrl.ID())
			return nil
		}},
		{"controller", func(c *harness.Cluster, _ map[int32]partState) *harness.Broker {
			return c.Controller(t, 30*time.Second)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 3, SessionTimeout: 18 * time.Second})
			const topic, parts = "paused", 3
			createReplicated(t, c, topic, parts, 3, map[string]string{"min.insync.replicas": "2"})
			before := waitPartitions(t, c.Running(), topic, 30*time.Second, fullISR(parts, 3))
			victim := tc.pick(c, before)
			// Requests in flight to the frozen broker hold up later batches
			// until the client gives up on them (see the fencing test).
			p := startPacedProducer(t, c, topic, 1000, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
				kgo.ProduceRequestTimeout(2*time.Second), kgo.RequestTimeoutOverhead(time.Second))
			p.waitAcked(t, 500)
			wasController := c.Controller(t, 30*time.Second) == victim
			victim.Pause()
			pausedAt := time.Now()
			others := live(c, victim)
			waitPartitions(t, others, topic, 30*time.Second, func(ps map[int32]partState) error {
				for p, s := range ps {
					if s.leader < 0 || s.leader == victim.ID() || slices.Contains(s.isr, victim.ID()) {
						return fmt.Errorf("partition %d: %v", p, s)
					}
				}
				return nil
			})
			t.Logf("broker %d (controller: %v) paused; out of every isr after %v", victim.ID(), wasController, time.Since(pausedAt).Round(time.Millisecond))
			p.waitAcked(t, p.acked.Load()+500)
			victim.Resume()
			resumedAt := time.Now()
			waitPartitions(t, c.Running(), topic, 60*time.Second, fullISR(parts, 3))
			t.Logf("broker %d back in every isr %v after the resume (paused %v)", victim.ID(),
				time.Since(resumedAt).Round(time.Millisecond), resumedAt.Sub(pausedAt).Round(time.Millisecond))
			if l := victim.Log(); strings.Contains(l, "broker registration lost") {
				t.Fatalf("broker %d lost its ZooKeeper session: the pause was not within the session", victim.ID())
			}
			if wasController {
				c.Controller(t, 30*time.Second)
				harness.Eventually(t, 30*time.Second, func() error {
					if !strings.Contains(victim.Log(), "resigning as controller") {
						return fmt.Errorf("paused controller %d has not resigned", victim.ID())
					}
					return nil
				})
				t.Logf("resigned within %v of the resume", time.Since(resumedAt).Round(time.Millisecond))
			}
			p.waitAcked(t, p.acked.Load()+500)
			acks := p.stop(t)
			checkAcked(t, others[0].Addr(), topic, acks)
			waitReplicasIdentical(t, c, topic, parts)
		})
	}
}

// TestClusterLaggingFollowerShrinksISR: a follower that stops fetching but
// stays reachable (frozen for a few seconds: less than the ~11 s remoting
// keepalive and the 18 s session) is dropped from the ISR by its leader
// after replica.lag.time.max.ms (1.5 s here), through the controller
// (AlterPartition), and acks=all producing goes on. Resumed, it catches up
// and the leader adds it back the same way. The controller never treats it
// as failed.
func TestClusterLaggingFollowerShrinksISR(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 3, SessionTimeout: 18 * time.Second,
		Overrides: map[string]string{"replica.lag.time.max.ms": "1500"}})
	const topic = "lagging"
	createReplicated(t, c, topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	st := waitPartitions(t, c.Running(), topic, 30*time.Second, fullISR(1, 3))[0]
	leader := brokerByID(t, c, st.leader)
	ctrl := c.Controller(t, 30*time.Second)
	var f *harness.Broker
	for _, b := range c.Brokers {
		if b != leader && (f == nil || f == ctrl) {
			f = b
		}
	}
	p := startPacedProducer(t, c, topic, 1000)
	p.waitAcked(t, 500)
	f.Pause()
	pausedAt := time.Now()
	var others []*harness.Broker
	var want []int32
	for _, b := range c.Brokers {
		if b != f {
			others = append(others, b)
			want = append(want, b.ID())
		}
	}
	waitPartitions(t, others, topic, 30*time.Second, isrIs(leader.ID(), want...))
	shrunk := time.Since(pausedAt)
	p.waitAcked(t, p.acked.Load()+500)
	f.Resume()
	t.Logf("follower %d paused %v; isr shrank after %v", f.ID(), time.Since(pausedAt).Round(time.Millisecond), shrunk.Round(time.Millisecond))
	waitPartitions(t, c.Running(), topic, 30*time.Second, fullISR(1, 3))
	if !strings.Contains(leader.Log(), "change=shrink") {
		t.Fatalf("leader %d did not ask for the shrink", leader.ID())
	}
	for _, b := range c.Brokers {
		if strings.Contains(b.Log(), "treating broker as failed") {
			t.Fatalf("broker %d's controller treated a broker as failed: the shrink was not the leader's", b.ID())
		}
	}
	p.waitAcked(t, p.acked.Load()+500)
	acks := p.stop(t)
	checkAcked(t, leader.Addr(), topic, acks)
	waitReplicasIdentical(t, c, topic, 1)
}
