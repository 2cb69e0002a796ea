package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/internal/harness"
)

// TestClusterReassignment drives KIP-455 reassignment with kadm (Kafka's
// AlterPartitionReassignments / ListPartitionReassignments) against three
// brokers while an idempotent acks=all producer writes:
//   - a partition moves off one of its brokers onto the third: it ends on
//     the target replicas, all in sync, the leaving broker's log deleted;
//   - a move onto a broker that is down (asked in Kafka's legacy znode)
//     cannot finish, is listed in
//     progress, and once cancelled the partition is back on its original
//     replicas;
//   - bad requests are refused with Kafka's codes;
//   - a new order of the same replicas moves no data, and ElectLeaders
//     makes the new preferred replica leader;
//
// and every acknowledged record is there at the end.
func TestClusterReassignment(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 3})
	const topic = "moving"
	createReplicated(t, c, topic, 2, 2, map[string]string{"min.insync.replicas": "1"})
	p := startPacedProducer(t, c, topic, 1000, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	p.waitAcked(t, 500)
	adm := c.Admin(t)
	ctx := testCtx(t, 2*time.Minute)

	before, err := partitionsFrom(c.Brokers[0].Addr(), topic)
	if err != nil {
		t.Fatal(err)
	}
	third := func(rs []int32) int32 {
		for _, b := range c.Brokers {
			if !slices.Contains(rs, b.ID()) {
				return b.ID()
			}
		}
		t.Fatalf("no broker outside %v", rs)
		return -1
	}

	// 1. Partition 0 moves off its second replica onto the third broker.
	orig0 := before[0].replicas
	target := []int32{third(orig0), orig0[0]}
	leaving := orig0[1]
	assign(t, ctx, adm, topic, 0, target)
	waitPartitions(t, c.Running(), topic, 60*time.Second, func(ps map[int32]partState) error {
		s := ps[0]
		if !slices.Equal(s.replicas, target) || len(s.isr) != 2 || !slices.Contains(target, s.leader) {
			return fmt.Errorf("partition 0: %v, want replicas %v in sync", s, target)
		}
		return nil
	})
	waitNoReassignments(t, adm, topic)
	dir := filepath.Join(c.Broker(leaving).DataDir(), topic+"-0")
	harness.Eventually(t, 30*time.Second, func() error {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("broker %d still has %s (%v)", leaving, dir, err)
		}
		return nil
	})
	t.Logf("partition 0 moved from %v to %v; broker %d deleted its replica", orig0, target, leaving)

	// 2. Bad requests.
	var bad kadm.AlterPartitionAssignmentsReq
	bad.Assign(topic, 1, []int32{orig0[0], 99})
	bad.Assign(topic, 7, []int32{1, 2})
	bad.CancelAssign(topic, 0)
	resp, err := adm.AlterPartitionAssignments(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	for part, want := range map[int32]error{1: kerr.InvalidReplicaAssignment, 7: kerr.UnknownTopicOrPartition, 0: kerr.NoReassignmentInProgress} {
		if got := resp[topic][part].Err; !errors.Is(got, want) {
			t.Errorf("partition %d: %v, want %v", part, got, want)
		}
	}

	// 3. A move onto a broker that is down, asked the way Kafka's legacy
	// tools ask (their JSON in /admin/reassign_partitions), cannot finish;
	// cancelled with kadm, the partition is back on its original replicas.
	part, orig1 := int32(1), before[1].replicas
	down := c.Broker(third(orig1))
	down.Stop()
	zc, err := cluster.DialZooKeeper(c.ZooKeeperConnect(), 10*time.Second, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer zc.Close()
	legacy := fmt.Sprintf(`{"version":1,"partitions":[{"topic":%q,"partition":%d,"replicas":[%d,%d]}]}`, topic, part, down.ID(), orig1[0])
	if _, err := zc.Create(cluster.ReassignPartitionsPath, []byte(legacy), cluster.ModePersistent); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 30*time.Second, func() error {
		l, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: nil})
		if err != nil {
			return err
		}
		r, ok := l[topic][part]
		if !ok || !slices.Equal(r.AddingReplicas, []int32{down.ID()}) {
			return fmt.Errorf("listed %+v, want partition %d adding [%d]", l, part, down.ID())
		}
		return nil
	})
	var cancel kadm.AlterPartitionAssignmentsReq
	cancel.CancelAssign(topic, part)
	cresp, err := adm.AlterPartitionAssignments(ctx, cancel)
	if err != nil || cresp[topic][part].Err != nil {
		t.Fatalf("cancel: %v %v", err, cresp)
	}
	waitNoReassignments(t, adm, topic)
	waitPartitions(t, c.Running(), topic, 60*time.Second, func(ps map[int32]partState) error {
		if s := ps[part]; !slices.Equal(s.replicas, orig1) || s.leader < 0 {
			return fmt.Errorf("partition %d: %v, want replicas %v", part, s, orig1)
		}
		return nil
	})
	down.Restart()
	c.WaitBrokers(t, 3, 30*time.Second)
	t.Logf("partition %d's move onto stopped broker %d cancelled: back on %v", part, down.ID(), orig1)

	// 4. A new order of the same replicas moves no data: the leader stays
	// and is no longer the preferred replica, until ElectLeaders (sent by
	// kadm to the controller) elects the preferred one.
	now, err := partitionsFrom(c.Brokers[0].Addr(), topic)
	if err != nil {
		t.Fatal(err)
	}
	rs := now[0].replicas
	var reordered []int32
	for _, b := range rs {
		if b != now[0].leader {
			reordered = append(reordered, b)
		}
	}
	reordered = append(reordered, now[0].leader)
	assign(t, ctx, adm, topic, 0, reordered)
	waitPartitions(t, c.Running(), topic, 30*time.Second, func(ps map[int32]partState) error {
		if s := ps[0]; !slices.Equal(s.replicas, reordered) {
			return fmt.Errorf("partition 0: %v, want replicas %v", s, reordered)
		}
		return nil
	})
	elected, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := elected[topic][0]; r.Err != nil && !errors.Is(r.Err, kerr.ElectionNotNeeded) {
		t.Fatalf("ElectLeaders: %v", r.Err)
	}
	waitPartitions(t, c.Running(), topic, 30*time.Second, func(ps map[int32]partState) error {
		if s := ps[0]; s.leader != reordered[0] {
			return fmt.Errorf("partition 0: %v, want leader %d", s, reordered[0])
		}
		return nil
	})
	again, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}, 9: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(again[topic][0].Err, kerr.ElectionNotNeeded) || !errors.Is(again[topic][9].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("ElectLeaders again: %+v, want ELECTION_NOT_NEEDED and UNKNOWN_TOPIC_OR_PARTITION", again[topic])
	}
	t.Logf("partition 0 reordered to %v: ElectLeaders made broker %d leader", reordered, reordered[0])

	p.waitAcked(t, p.acked.Load()+300)
	acks := p.stop(t)
	if errs := p.produceErrors(); len(errs) > 0 {
		t.Errorf("%d produce errors, first: %v", len(errs), errs[0])
	}
	checkAcked(t, c.Brokers[0].Addr(), topic, acks)
}

func assign(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, part int32, replicas []int32) {
	t.Helper()
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, part, replicas)
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp[topic][part].Err; err != nil {
		t.Fatalf("reassign %s-%d to %v: %v", topic, part, replicas, err)
	}
}

func waitNoReassignments(t *testing.T, adm *kadm.Client, topic string) {
	t.Helper()
	harness.Eventually(t, 60*time.Second, func() error {
		l, err := adm.ListPartitionReassignments(testCtx(t, 10*time.Second), kadm.TopicsSet{topic: nil})
		if err != nil {
			return err
		}
		if len(l[topic]) > 0 {
			return fmt.Errorf("still moving: %+v", l[topic])
		}
		return nil
	})
}
