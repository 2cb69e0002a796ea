package actors

import (
	"sync"
	"sync/atomic"
)

// ReplicaStats are one local replica's figures for DescribeLogDirs and the
// load reports the controller's planner uses. The partition actor writes
// them at each housekeeping round (about once a second); anyone may read
// them without going through its mailbox.
type ReplicaStats struct {
	size     atomic.Int64 // bytes of the log's segments
	logEnd   atomic.Int64
	hw       atomic.Int64
	appended atomic.Int64 // bytes appended since the actor opened the log
}

// Size is the bytes of the replica's log.
func (s *ReplicaStats) Size() int64 { return s.size.Load() }

// LogEnd and HighWatermark are the replica's offsets as last published.
func (s *ReplicaStats) LogEnd() int64        { return s.logEnd.Load() }
func (s *ReplicaStats) HighWatermark() int64 { return s.hw.Load() }

// Appended is the bytes appended since the log was opened (the rate is its
// change over time).
func (s *ReplicaStats) Appended() int64 { return s.appended.Load() }

// statsRegistry holds the stats of every local replica.
type statsRegistry struct {
	m sync.Map // TopicPartition → *ReplicaStats
}

func (r *statsRegistry) get(tp TopicPartition) *ReplicaStats {
	if s, ok := r.m.Load(tp); ok {
		return s.(*ReplicaStats)
	}
	s, _ := r.m.LoadOrStore(tp, &ReplicaStats{})
	return s.(*ReplicaStats)
}

func (r *statsRegistry) remove(tp TopicPartition) { r.m.Delete(tp) }

// Stats returns the stats of every local replica with an open log.
func (r *Replicas) Stats() map[TopicPartition]*ReplicaStats {
	out := map[TopicPartition]*ReplicaStats{}
	r.stats.m.Range(func(k, v any) bool {
		out[k.(TopicPartition)] = v.(*ReplicaStats)
		return true
	})
	return out
}
