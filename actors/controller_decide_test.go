package actors

import (
	"slices"
	"testing"

	"github.com/troupe-mq/troupe/cluster"
)

func TestControllerDecide(t *testing.T) {
	live := func(ids ...int32) map[int32]cluster.BrokerInfo {
		m := map[int32]cluster.BrokerInfo{}
		for _, id := range ids {
			m[id] = cluster.BrokerInfo{ID: id}
		}
		return m
	}
	type want struct {
		change bool
		create bool
		leader int32
		epoch  int32
		isr    []int32
	}
	for _, tc := range []struct {
		name     string
		brokers  map[int32]cluster.BrokerInfo
		shutting []int32
		replicas []int32
		state    *cluster.LeaderAndIsr // nil: no state yet
		unclean  bool
		want     want
	}{
		{name: "new partition, all live", brokers: live(1, 2, 3), replicas: []int32{2, 3, 1},
			want: want{change: true, create: true, leader: 2, epoch: 0, isr: []int32{2, 3, 1}}},
		{name: "new partition, preferred dead", brokers: live(1, 3), replicas: []int32{2, 3, 1},
			want: want{change: true, create: true, leader: 3, epoch: 0, isr: []int32{3, 1}}},
		{name: "new partition, all dead", brokers: live(), replicas: []int32{2, 3},
			want: want{change: true, create: true, leader: -1, epoch: 0, isr: []int32{2, 3}}},
		{name: "healthy", brokers: live(1, 2, 3), replicas: []int32{1, 2, 3},
			state: &cluster.LeaderAndIsr{Leader: 1, LeaderEpoch: 4, ISR: []int32{1, 2, 3}}},
		{name: "leader dead: first live ISR member in assignment order", brokers: live(2, 3), replicas: []int32{1, 3, 2},
			state: &cluster.LeaderAndIsr{Leader: 1, LeaderEpoch: 4, ISR: []int32{1, 2, 3}},
			want:  want{change: true, leader: 3, epoch: 5, isr: []int32{2, 3}}},
		{name: "leader dead, live replica not in ISR is never elected cleanly: offline", brokers: live(3), replicas: []int32{1, 2, 3},
			state: &cluster.LeaderAndIsr{Leader: 1, LeaderEpoch: 4, ISR: []int32{1, 2}},
			want:  want{change: true, leader: -1, epoch: 5, isr: []int32{1, 2}}},
		{name: "offline partition, live replica not in ISR is never elected cleanly", brokers: live(3), replicas: []int32{1, 2, 3},
			state: &cluster.LeaderAndIsr{Leader: -1, LeaderEpoch: 5, ISR: []int32{1, 2}}},
		{name: "leader dead, unclean allowed", brokers: live(3), replicas: []int32{1, 2, 3}, unclean: true,
			state: &cluster.LeaderAndIsr{Leader: 1, LeaderEpoch: 4, ISR: []int32{1, 2}},
			want:  want{change: true, leader: 3, epoch: 5, isr: []int32{3}}},
		{name: "offline partition whose last leader returns: elected at a new epoch", brokers: live(1), replicas: []int32{1, 2},
			state: &cluster.LeaderAndIsr{Leader: -1, LeaderEpoch: 4, ISR: []int32{1}},
			want:  want{change: true, leader: 1, epoch: 5, isr: []int32{1}}},
		{name: "follower dead: removed from ISR, epoch bumped", brokers: live(1, 2), replicas: []int32{1, 2, 3},
			state: &cluster.LeaderAndIsr{Leader: 1, LeaderEpoch: 4, ISR: []int32{1, 2, 3}},
			want:  want{change: true, leader: 1, epoch: 5, isr: []int32{1, 2}}},
		{name: "leader shutting down moves", brokers: live(1, 2, 3), shutting: []int32{1}, replicas: []int32{1, 2, 3},
			state: &cluster.LeaderAndIsr{Leader: 1, LeaderEpoch: 4, ISR: []int32{1, 2, 3}},
			want:  want{change: true, leader: 2, epoch: 5, isr: []int32{2, 3}}},
		{name: "leader shutting down with no other ISR member stays", brokers: live(1, 2), shutting: []int32{1}, replicas: []int32{1, 2},
			state: &cluster.LeaderAndIsr{Leader: 1, LeaderEpoch: 4, ISR: []int32{1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := &clusterView{brokers: tc.brokers, shuttingDown: map[int32]bool{}, suspects: map[int32]int64{}}
			for _, id := range tc.shutting {
				cc.shuttingDown[id] = true
			}
			p := &ctrlPartition{tp: TopicPartition{"t", 0}, replicas: tc.replicas, uncleanAllowed: tc.unclean, zkVersion: 7}
			if tc.state != nil {
				p.hasState, p.state = true, *tc.state
			}
			ch, ok := cc.decide(p)
			if ok != tc.want.change {
				t.Fatalf("change = %v (%+v), want %v", ok, ch, tc.want.change)
			}
			if !ok {
				return
			}
			if ch.create != tc.want.create || ch.state.Leader != tc.want.leader || ch.state.LeaderEpoch != tc.want.epoch ||
				!slices.Equal(ch.state.ISR, tc.want.isr) {
				t.Fatalf("got %+v, want %+v", ch, tc.want)
			}
			if !ch.create && ch.expected != 7 {
				t.Fatalf("update must expect the current zkVersion 7, got %d", ch.expected)
			}
		})
	}
}

func TestControllerPreferredElection(t *testing.T) {
	cc := &clusterView{brokers: map[int32]cluster.BrokerInfo{1: {ID: 1}, 2: {ID: 2}}, shuttingDown: map[int32]bool{}}
	p := &ctrlPartition{replicas: []int32{1, 2}, hasState: true, state: cluster.LeaderAndIsr{Leader: 2, LeaderEpoch: 3, ISR: []int32{2, 1}}}
	ch, ok := cc.preferredElection(p)
	if !ok || ch.state.Leader != 1 || ch.state.LeaderEpoch != 4 {
		t.Fatalf("preferred election: %+v %v", ch, ok)
	}
	p.state.ISR = []int32{2} // preferred replica not caught up
	if _, ok := cc.preferredElection(p); ok {
		t.Fatal("preferred replica outside the ISR must not be elected")
	}
}

func TestPartitionStateReportsDeadLeaderAsNone(t *testing.T) {
	cc := &clusterView{brokers: map[int32]cluster.BrokerInfo{2: {ID: 2}}}
	tpc := &ctrlTopic{name: "t"}
	p := &ctrlPartition{tp: TopicPartition{"t", 0}, replicas: []int32{1, 2}, hasState: true, state: cluster.LeaderAndIsr{Leader: 1, ISR: []int32{1}}}
	ps := cc.partitionState(tpc, p)
	if ps.Leader != -1 || !slices.Equal(ps.OfflineReplicas, []int32{1}) {
		t.Fatalf("state %+v: want leader -1 and offline [1]", ps)
	}
}

// TestPartitionsOnIncludesWritesInFlight: a broker that joins while a
// partition's ISR change is being committed must still be told the
// partition (the AlterPartition commit is answered to the leader only).
func TestPartitionsOnIncludesWritesInFlight(t *testing.T) {
	p := &ctrlPartition{tp: TopicPartition{"t", 0}, replicas: []int32{1, 2, 3}, hasState: true, inFlight: true,
		state: cluster.LeaderAndIsr{Leader: 2, LeaderEpoch: 4, ISR: []int32{2}}, zkVersion: 4}
	v := &clusterView{
		brokers: map[int32]cluster.BrokerInfo{1: {ID: 1}, 2: {ID: 2}, 3: {ID: 3}},
		topics:  map[string]*ctrlTopic{"t": {name: "t", partitions: map[int32]*ctrlPartition{0: p}}},
	}
	got := v.partitionsOn(3)
	if len(got) != 1 || got[0].Leader != 2 || got[0].LeaderEpoch != 4 {
		t.Fatalf("partitionsOn(3) = %v, want partition t-0 led by 2 at epoch 4", got)
	}
}
