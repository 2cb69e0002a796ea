package sim

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/troupe-mq/troupe/actors"
	"github.com/troupe-mq/troupe/cluster"
)

// history is what the clients saw, for the checker.
type history struct {
	// acks are the batches acknowledged with acks=all by idempotent
	// producers whose topics allow no unclean election: their records must
	// all be in the final log.
	acks map[actors.TopicPartition][]ackedBatch
	all  int
	// seen is what consumers read: offset -> value (below the high
	// watermark, so committed: it must never change).
	seen map[actors.TopicPartition]map[int64]string
	// leaders: the broker that acknowledged writes in each leader epoch.
	leaders map[actors.TopicPartition]map[int32]int32
	// powerLoss: some broker lost power; only flush.messages=1 topics keep
	// their guarantee then.
	powerLoss bool
}

type ackedBatch struct {
	producer string
	seq      int32
	values   []string
	base     int64
	at       time.Duration
}

func newHistory() *history {
	return &history{acks: map[actors.TopicPartition][]ackedBatch{}, seen: map[actors.TopicPartition]map[int64]string{},
		leaders: map[actors.TopicPartition]map[int32]int32{}}
}

func (h *history) ackedCount() int { return h.all }

// guarded reports whether a topic keeps Kafka's guarantees in this run: a
// power loss voids them for topics without flush.messages=1 (the page
// cache held acknowledged records), and unclean elections for topics that
// allow them.
func (w *World) guarded(topic string) bool {
	for _, t := range w.cfg.Topics {
		if t.Name == topic {
			return !t.Unclean && (t.FlushMessages || !w.hist.powerLoss)
		}
	}
	return !w.hist.powerLoss
}

// acked records an acknowledged batch, and which broker led the epoch it
// was acknowledged in.
func (h *history) acked(w *World, p *producer, b *clientBatch, base int64, at answerAt) {
	h.all++
	if at.leader {
		m := h.leaders[p.tp]
		if m == nil {
			m = map[int32]int32{}
			h.leaders[p.tp] = m
		}
		if other, ok := m[at.epoch]; ok && other != at.broker {
			w.fail("%s: brokers %d and %d both acknowledged writes as leader of epoch %d", p.tp, other, at.broker, at.epoch)
		}
		m[at.epoch] = at.broker
	}
	if p.acks == -1 && p.guarded {
		h.acks[p.tp] = append(h.acks[p.tp], ackedBatch{producer: p.name, seq: b.seq, values: b.values, base: base, at: w.now})
	}
}

// observed records a record a consumer read.
func (h *history) observed(w *World, co *consumer, r readRecord) {
	m := h.seen[co.tp]
	if m == nil {
		m = map[int64]string{}
		h.seen[co.tp] = m
	}
	if v, ok := m[r.offset]; ok && v != r.value && w.guarded(co.tp.Topic) {
		w.fail("%s: offset %d was read as %q and later as %q", co.tp, r.offset, v, r.value)
	}
	m[r.offset] = r.value
}

// --- convergence -------------------------------------------------------------------

// converged reports whether the healed cluster is whole again: every
// broker serves, one controller, and every partition has a leader whose
// ISR holds every replica, all at its log end and high watermark. why says
// what is still missing.
func (w *World) converged() (bool, string) {
	if !w.clients.idle() {
		return false, "a producer still has a batch in flight"
	}
	ctrls := 0
	for _, b := range w.brokers {
		if !b.serving() {
			return false, fmt.Sprintf("broker %d does not serve", b.id)
		}
		if b.node.IsController() {
			ctrls++
		}
	}
	if ctrls != 1 {
		return false, fmt.Sprintf("%d active controllers", ctrls)
	}
	for _, name := range w.nemesis.churned {
		if _, err := w.zk.admin.Topic(name); err == nil {
			return false, fmt.Sprintf("deleted topic %s still in ZooKeeper", name)
		}
	}
	if ok, _, _ := w.zk.admin.Conn().Exists(cluster.ReassignPartitionsPath); ok {
		return false, "reassignment requests not taken"
	}
	for _, t := range w.topics() {
		if len(t.Moving) > 0 {
			return false, fmt.Sprintf("%s: partitions %v still moving", t.Name, slices.Sorted(mapsKeys(t.Moving)))
		}
		for _, p := range slices.Sorted(mapsKeys(t.Partitions)) {
			tp := actors.TopicPartition{Topic: t.Name, Partition: p}
			replicas := t.Partitions[p]
			for _, b := range w.brokers {
				if _, ok := b.node.Replica(tp); ok && !slices.Contains(replicas, b.id) {
					return false, fmt.Sprintf("%s: broker %d still holds a replica a move removed", tp, b.id)
				}
			}
			var leader *actors.ReplicaState
			states := map[int32]actors.ReplicaState{}
			for _, id := range replicas {
				st, ok := w.broker(id).node.Replica(tp)
				if !ok {
					return false, fmt.Sprintf("%s: no replica on broker %d", tp, id)
				}
				states[id] = st
				if st.Leader {
					if leader != nil {
						return false, fmt.Sprintf("%s: two leaders", tp)
					}
					s := st
					leader = &s
				}
			}
			if leader == nil {
				return false, fmt.Sprintf("%s: no leader", tp)
			}
			if len(leader.ISR) != len(replicas) {
				return false, fmt.Sprintf("%s: isr %v of replicas %v", tp, leader.ISR, replicas)
			}
			if leader.HighWatermark != leader.LogEndOffset {
				return false, fmt.Sprintf("%s: high watermark %d below log end %d", tp, leader.HighWatermark, leader.LogEndOffset)
			}
			for _, id := range replicas {
				st := states[id]
				if st.LeaderEpoch != leader.LeaderEpoch || st.LogEndOffset != leader.LogEndOffset {
					return false, fmt.Sprintf("%s: replica on %d at epoch %d log end %d, leader at %d %d",
						tp, id, st.LeaderEpoch, st.LogEndOffset, leader.LeaderEpoch, leader.LogEndOffset)
				}
			}
		}
	}
	return true, ""
}

// --- the final checks -----------------------------------------------------------------

// check compares what the clients saw with the final logs.
func (w *World) check() {
	// Deleted topics left nothing behind: no replica runs, no log on disk.
	for _, b := range w.brokers {
		for _, tp := range b.node.Partitions() {
			if slices.Contains(w.nemesis.churned, tp.Topic) {
				w.fail("broker %d runs a replica of %s, a deleted topic", b.id, tp)
				return
			}
		}
		dirs, _ := b.fs.List(dataDir)
		for _, d := range dirs {
			for _, name := range w.nemesis.churned {
				if strings.HasPrefix(d, name+"-") {
					w.fail("broker %d keeps %s/%s of the deleted topic %s", b.id, dataDir, d, name)
					return
				}
			}
		}
	}
	for _, t := range w.topics() {
		for _, p := range slices.Sorted(mapsKeys(t.Partitions)) {
			tp := actors.TopicPartition{Topic: t.Name, Partition: p}
			w.checkPartition(tp, t.Partitions[p], t.FlushMessages)
			if w.failure != nil {
				return
			}
		}
	}
}

func (w *World) checkPartition(tp actors.TopicPartition, replicas []int32, flushed bool) {
	var leaderLog []byte
	var leader int32 = -1
	logs := map[int32][]byte{}
	for _, id := range replicas {
		data, err := w.broker(id).node.ReadLog(tp, 0)
		if err != nil {
			w.fail("%s: reading the log on broker %d: %v", tp, id, err)
			return
		}
		logs[id] = data
		if st, _ := w.broker(id).node.Replica(tp); st.Leader {
			leader, leaderLog = id, data
		}
	}
	// Replicas are byte-identical (the high watermark is the log end now).
	for _, id := range replicas {
		if !bytes.Equal(logs[id], leaderLog) {
			w.fail("%s: the log on broker %d (%d bytes) differs from the leader %d's (%d bytes)", tp, id, len(logs[id]), leader, len(leaderLog))
			return
		}
	}
	recs := decodeRecords(leaderLog)
	byValue := map[string]int64{}
	byOffset := map[int64]string{}
	st, _ := w.broker(leader).node.Replica(tp)
	next := st.LogStartOffset
	for _, r := range recs {
		if r.offset != next {
			w.fail("%s: offset %d follows %d in the final log", tp, r.offset, next-1)
			return
		}
		next++
		if prev, dup := byValue[r.value]; dup && r.pid >= 0 {
			w.fail("%s: %q of an idempotent producer is in the final log twice, at %d and %d", tp, r.value, prev, r.offset)
			return
		}
		byValue[r.value] = r.offset
		byOffset[r.offset] = r.value
	}
	if next != st.LogEndOffset {
		w.fail("%s: the final log's records end at %d, its log end is %d", tp, next, st.LogEndOffset)
		return
	}
	guarded := w.guarded(tp.Topic)
	if guarded {
		for _, b := range w.hist.acks[tp] {
			for i, v := range b.values {
				off, ok := byValue[v]
				if !ok {
					w.fail("%s: %q, acknowledged (acks=all) at %.3fs at offset %d, is not in the final log", tp, v, b.at.Seconds(), b.base+int64(i))
					return
				}
				if off != b.base+int64(i) {
					w.fail("%s: %q was acknowledged at offset %d and is at %d", tp, v, b.base+int64(i), off)
					return
				}
			}
		}
	}
	for _, off := range slices.Sorted(mapsKeys(w.hist.seen[tp])) {
		if !guarded {
			break
		}
		v := w.hist.seen[tp][off]
		if got, ok := byOffset[off]; !ok || got != v {
			w.fail("%s: a consumer read %q at offset %d; the final log has %q there", tp, v, off, got)
			return
		}
	}
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
