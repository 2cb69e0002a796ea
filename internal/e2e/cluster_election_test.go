package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/harness"
)

// TestClusterElectionOnlyFromISR: a replica that fell out of the ISR never
// becomes leader (unclean.leader.election.enable is false by default), and
// an offline partition comes back when its last ISR member does, with
// every replica following it again.
//
// RF 3, min.insync.replicas 2, replicas L (leader), F1, F2. F1 is killed
// and misses acknowledged writes; then L and F2 are killed: the partition
// is offline. F1 restarted must not take it (it would lose acknowledged
// records). F2 restarted leads it again; L restarted follows; and F1, which
// came back while the partition had no leader, must still learn the new
// leader, catch up and rejoin the ISR.
func TestClusterElectionOnlyFromISR(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 3})
	const topic = "isr-only"
	createReplicated(t, c, topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	st := waitPartitions(t, c.Running(), topic, 30*time.Second, fullISR(1, 3))[0]
	l := brokerByID(t, c, st.leader)
	f1, f2 := otherTwo(c, l)
	p := startPacedProducer(t, c, topic, 1000)
	p.waitAcked(t, 500)
	f1.Kill()
	waitPartitions(t, c.Running(), topic, 30*time.Second, isrIs(l.ID(), l.ID(), f2.ID()))
	p.waitAcked(t, p.acked.Load()+1000) // records F1 does not have
	l.Kill()
	waitPartitions(t, c.Running(), topic, 30*time.Second, isrIs(f2.ID(), f2.ID()))
	f2.Kill()

	// F1 alone: not in the ISR, so the partition stays offline.
	f1.Restart()
	c.WaitBrokers(t, 1, 30*time.Second)
	// A barrier: the controller handles F1's return before a topic created
	// after it, so once that topic has a leader, any election F1's return
	// caused has been written and announced.
	createReplicated(t, c, "barrier", 1, 1, nil)
	// Acks of records committed before the partition went offline have
	// reached the producer by now; none may come while F1 is alone.
	acked := p.acked.Load()
	ps, err := partitionsFrom(f1.Addr(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if s := ps[0]; s.leader >= 0 {
		t.Fatalf("out-of-sync replica %d returned alone and partition 0 has a leader: %v", f1.ID(), s)
	}
	raw := dial(t, f1.Addr())
	batch := harness.BuildBatch(harness.Batch{ProducerID: harness.NoProducer, ProducerEpoch: -1, BaseSequence: -1,
		Records: []harness.Record{{Value: []byte("unclean")}}})
	resp, err := raw.Do(harness.ProduceRequest(9, 1, topic, 0, batch))
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("produce to the out-of-sync replica %d: %v, want NOT_LEADER_OR_FOLLOWER", f1.ID(), err)
	}
	if n := p.acked.Load(); n != acked {
		t.Fatalf("%d records acknowledged while the partition had no in-sync leader", n-acked)
	}

	// The last ISR member returns and leads; the others follow it.
	f2.Restart()
	waitPartitions(t, c.Running(), topic, 30*time.Second, func(ps map[int32]partState) error {
		if s := ps[0]; s.leader != f2.ID() {
			return fmt.Errorf("partition 0: %v, want leader %d", s, f2.ID())
		}
		return nil
	})
	l.Restart()
	waitPartitions(t, c.Running(), topic, 60*time.Second, fullISR(1, 3))
	p.waitAcked(t, acked+500)
	acks := p.stop(t)
	checkAcked(t, f2.Addr(), topic, acks)
	waitReplicasIdentical(t, c, topic, 1)
}

// TestClusterUncleanElection: where a topic allows it
// (unclean.leader.election.enable), an out-of-sync replica takes an
// offline partition, losing what only the old leader had; when the old
// leader returns it truncates its diverged tail to the new leader's log by
// leader epoch, and the two replicas end identical, every record the new
// leader acknowledged included.
func TestClusterUncleanElection(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 2})
	const topic = "unclean"
	createReplicated(t, c, topic, 1, 2, map[string]string{"unclean.leader.election.enable": "true", "min.insync.replicas": "1"})
	st := waitPartitions(t, c.Running(), topic, 30*time.Second, fullISR(1, 2))[0]
	l := brokerByID(t, c, st.leader)
	f := c.Brokers[0]
	if f == l {
		f = c.Brokers[1]
	}
	cl := c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite())
	produce := func(prefix string, n int) {
		t.Helper()
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
		}
		produceAll(t, cl, recs)
	}
	produce("both", 200)
	f.Kill()
	waitPartitions(t, c.Running(), topic, 30*time.Second, isrIs(l.ID(), l.ID()))
	produce("old-leader-only", 200) // acknowledged with the ISR at min.insync.replicas 1
	l.Kill()
	f.Restart()
	waitPartitions(t, []*harness.Broker{f}, topic, 30*time.Second, isrIs(f.ID(), f.ID()))
	produce("new-leader", 200)
	l.Restart()
	waitPartitions(t, c.Running(), topic, 30*time.Second, fullISR(1, 2))
	batches := waitReplicasIdentical(t, c, topic, 1)
	got := consumeN(t, f.Addr(), topic, 400, 30*time.Second)
	seen := map[string]bool{}
	for _, r := range got {
		seen[string(r.Value)] = true
	}
	for _, v := range []string{"both-0", "both-199", "new-leader-0", "new-leader-199"} {
		if !seen[v] {
			t.Fatalf("record %s missing after the unclean election", v)
		}
	}
	if seen["old-leader-only-0"] {
		t.Fatalf("records only the old leader had survived an unclean election they cannot survive")
	}
	if !strings.Contains(l.Log(), "truncating diverged log") {
		t.Fatalf("old leader %d did not truncate its diverged tail", l.ID())
	}
	t.Logf("%d records, %d batches identical on both replicas", len(got), len(batches[0]))
}
