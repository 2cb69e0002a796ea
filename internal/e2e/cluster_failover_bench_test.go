package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/harness"
)

// BenchmarkFailover measures the failover time of a partition: from the
// kill -9 of its leader's broker to the first acks=all write its successor
// accepts (min.insync.replicas 2, so the new leader and the remaining
// follower must both have it). ZooKeeper's session timeout is Kafka's
// default 18 s, so a failover much faster than that shows the remoting
// based detection at work (the controller watches every broker's actor
// endpoint; a standby deposes a dead controller).
//
// Each iteration creates a one-partition RF 3 topic whose preferred leader
// is the victim (the controller's broker, or another one), kills it, polls
// the two survivors with raw acks=all Produce requests until one accepts,
// then restarts the victim outside the timed span. ns/op is the mean; the
// median, min and max are reported too.
//
//	go test -run '^$' -bench Failover -benchtime 10x ./internal/e2e/
func BenchmarkFailover(b *testing.B) {
	for _, tc := range []struct {
		name       string
		controller bool
	}{{"leader=not-controller", false}, {"leader=controller", true}} {
		b.Run(tc.name, func(b *testing.B) {
			b.StopTimer() // only the failovers are timed
			c := harness.StartCluster(b, harness.ClusterOptions{Brokers: 3, SessionTimeout: 18 * time.Second})
			adm := c.Client(b)
			var took []time.Duration
			for i := range b.N {
				victim := pickVictim(b, c, tc.controller)
				topic := fmt.Sprintf("failover-%d", i)
				createOnLeader(b, c, adm, topic, victim)
				var survivors []*harness.RawConn
				for _, br := range c.Running() {
					if br != victim {
						rc, err := harness.DialRaw(br.Addr())
						if err != nil {
							b.Fatal(err)
						}
						rc.Timeout = 15 * time.Second
						survivors = append(survivors, rc)
					}
				}
				b.StartTimer()
				start := time.Now()
				victim.Kill()
				if err := firstAcceptedWrite(survivors, topic, 30*time.Second); err != nil {
					b.Fatalf("iteration %d: %v", i, err)
				}
				d := time.Since(start)
				b.StopTimer()
				took = append(took, d)
				for _, rc := range survivors {
					rc.Close()
				}
				victim.Restart()
				c.WaitBrokers(b, 3, 60*time.Second)
			}
			slices.Sort(took)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(took[len(took)/2]), "median-ms")
			b.ReportMetric(ms(took[0]), "min-ms")
			b.ReportMetric(ms(took[len(took)-1]), "max-ms")
			b.Logf("%s: %d failovers: %v", tc.name, len(took), took)
		})
	}
}

// pickVictim returns the controller's broker, or the running broker with
// the highest id that is not the controller.
func pickVictim(b testing.TB, c *harness.Cluster, controller bool) *harness.Broker {
	ctrl := c.Controller(b, 30*time.Second)
	if controller {
		return ctrl
	}
	for i := len(c.Brokers) - 1; i >= 0; i-- {
		if c.Brokers[i] != ctrl {
			return c.Brokers[i]
		}
	}
	b.Fatal("no broker besides the controller")
	return nil
}

// createOnLeader creates a one-partition RF 3 topic (min.insync.replicas 2)
// with leader first in its assignment, and waits until it leads with a
// full ISR.
func createOnLeader(b testing.TB, c *harness.Cluster, cl *kgo.Client, topic string, leader *harness.Broker) {
	replicas := []int32{leader.ID()}
	for _, br := range c.Brokers {
		if br != leader {
			replicas = append(replicas, br.ID())
		}
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	cfg := kmsg.NewCreateTopicsRequestTopicConfig()
	cfg.Name, cfg.Value = "min.insync.replicas", kmsg.StringPtr("2")
	rt.Configs = append(rt.Configs, cfg)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		b.Fatalf("create %s on %v: %v", topic, replicas, err)
	}
	waitPartitions(b, c.Running(), topic, 30*time.Second, func(ps map[int32]partState) error {
		if s := ps[0]; s.leader != leader.ID() || len(s.isr) != 3 {
			return fmt.Errorf("partition 0: %v, want leader %d and a full isr", s, leader.ID())
		}
		return nil
	})
	if err := firstAcceptedWrite([]*harness.RawConn{mustDial(b, leader.Addr())}, topic, 30*time.Second); err != nil {
		b.Fatalf("first write to %s: %v", topic, err)
	}
}

func mustDial(b testing.TB, addr string) *harness.RawConn {
	rc, err := harness.DialRaw(addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rc.Close() })
	return rc
}

// firstAcceptedWrite sends acks=all Produce requests for partition 0 to
// each connection in turn until one is accepted.
func firstAcceptedWrite(conns []*harness.RawConn, topic string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for n := 0; time.Now().Before(deadline); n++ {
		for _, rc := range conns {
			batch := harness.BuildBatch(harness.Batch{ProducerID: harness.NoProducer, ProducerEpoch: -1, BaseSequence: -1,
				Records: []harness.Record{{Value: []byte("failover-" + strconv.Itoa(n))}}})
			resp, err := rc.Do(harness.ProduceRequest(9, -1, topic, 0, batch))
			if err != nil {
				return err
			}
			pp := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
			if last = kerr.ErrorForCode(pp.ErrorCode); last == nil {
				return nil
			}
		}
		time.Sleep(time.Millisecond) // polling interval, not synchronization
	}
	return fmt.Errorf("no acks=all write accepted within %v: %w", timeout, last)
}
