package actors

import (
	"testing"

	"github.com/troupe-mq/troupe/messages"
	"github.com/troupe-mq/troupe/storage"
)

// TestLeaderThrottledFetches: the leader marks a follower's fetch as
// throttled (for leader.replication.throttled.rate) while that follower is
// out of the ISR and a move is adding it, or the topic's
// leader.replication.throttled.replicas names this leader; an ISR member's
// fetch never is.
func TestLeaderThrottledFetches(t *testing.T) {
	fetchFrom := func(r *replica, id int32) FetchResult {
		reply := make(chan FetchResult, 1)
		drive(r, &FetchRequest{FetchOffset: 0, MaxBytes: 1 << 20, MinOneBatch: true, ReplicaID: id, ReplicaEpoch: -1,
			CurrentLeaderEpoch: -1, Reply: reply})
		return <-reply
	}
	for _, tc := range []struct {
		name      string
		overrides map[string]string
		adding    []int32
		want      map[int32]bool // follower → throttled
	}{
		{"no move, no list", nil, nil, map[int32]bool{2: false, 3: false}},
		{"a move adds 3", nil, []int32{3}, map[int32]bool{2: false, 3: true}},
		{"the topic lists this leader", map[string]string{"leader.replication.throttled.replicas": "0:1"}, nil, map[int32]bool{2: false, 3: true}},
		{"the topic lists another broker", map[string]string{"leader.replication.throttled.replicas": "0:2"}, nil, map[int32]bool{2: false, 3: false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := coreReplica(t, storage.NewMemFS(), tc.overrides, []int32{1, 2, 3}, []int32{1, 2})
			drive(r, &applyPartitionState{cfg: r.cfg, state: &messages.PartitionState{Topic: "core", Partition: 0, Leader: 1, LeaderEpoch: 1,
				Replicas: []int32{1, 2, 3}, Isr: []int32{1, 2}, AddingReplicas: tc.adding}})
			for id, want := range tc.want {
				if res := fetchFrom(r, id); res.Err != nil || res.Throttled != want {
					t.Errorf("fetch from %d: err %v, throttled %v, want %v", id, res.Err, res.Throttled, want)
				}
			}
		})
	}
}
