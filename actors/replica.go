package actors

import (
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/internal/config"
	"github.com/troupe-mq/troupe/messages"
	"github.com/troupe-mq/troupe/storage"
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// Compare orders partitions by topic, then partition number.
func (tp TopicPartition) Compare(o TopicPartition) int { return compareTP(tp, o) }

// role is what a replica currently does for its partition.
type role uint8

const (
	roleNone     role = iota // no LeaderAndIsr applied yet
	roleLeader               // serves produce and fetch, tracks followers
	roleFollower             // copies the leader's log
)

func (r role) String() string {
	switch r {
	case roleLeader:
		return "leader"
	case roleFollower:
		return "follower"
	}
	return "none"
}

// The replica core.
//
// A replica is the deterministic state machine of one partition replica:
// its log, its role and the replication bookkeeping. It has no goroutines,
// reads no clock and does no messaging. step feeds it one input and returns
// the effects it asks for, in order; its shell (the partitionActor, or the
// simulator's node) carries them out. Its storage is a storage.Log over the
// FS seam, called synchronously: appends and truncations are state of the
// core, not effects, while an fsync (the one slow storage call) is an effect
// (startSync) whose result comes back as an input (syncDone).
//
// Inputs: *applyPartitionState (LeaderAndIsr), tick, *housekeeping,
// *syncDone, *updateTopicConfig, the gateway's requests (*ProduceRequest,
// *FetchRequest, *ListOffsetsRequest, *OffsetForLeaderEpochRequest,
// *DeleteRecordsRequest), *alterPartitionResult, and the fetcher's
// *followerStateRequest, *truncateFollower and *appendFromLeader.
//
// Effects: answer (a reply to a gateway request, delivered without ever
// blocking), reply (the answer to a fetcher's message, to its sender),
// wake (parked long-polls to signal), proposeISR (an AlterPartition for
// the controller) and *startSync.
//
// Checks that hold in every role run in step; the rest is the role's:
// replica_leader.go, replica_follower.go.
//
// Not safe for concurrent use: the owning shell serializes access.
type replica struct {
	tp      TopicPartition
	topicID []byte
	localID int32
	log     zerolog.Logger
	cfg     config.Topic
	// broker is the broker-wide configuration (replica.lag.time.max.ms).
	broker *config.Broker
	// lagTicks is replica.lag.time.max.ms in ticks.
	lagTicks int64
	// tickEvery is the duration one tick stands for (request timeouts
	// arrive as durations and are counted in ticks).
	tickEvery time.Duration

	data      *storage.Log
	producers *producerStates
	// snapshotAt is the log end the producer snapshot on disk covers (-1: none).
	snapshotAt int64

	role           role
	leaderID       int32
	leaderEpoch    int32
	partitionEpoch int32
	replicas       []int32
	// isr is the committed in-sync replica set (from the controller).
	// Invariant (leader): localID ∈ isr.
	isr []int32
	// adding are the replicas a reassignment is adding (from the
	// controller): their replication is throttled while out of sync.
	adding []int32

	// Leader state.
	// Invariant: data.LogStartOffset() <= hw <= data.LogEndOffset().
	hw int64
	// epochStart is the log end at which this leader's epoch began: the
	// high watermark it publishes to consumers must first reach it, or a
	// consumer could see the high watermark go back after a leader change
	// (KIP-207; the old leader's high watermark is at most epochStart).
	epochStart int64
	followers  map[int32]*followerProgress
	pending    []pendingAck // ordered by lastOffset
	waiters    []waiter
	// alter is the ISR change the leader asked the controller to commit
	// (nil: none). Only one change is in flight at a time.
	alter *alterState
	// refused is the last proposal the controller refused, with the state
	// it was made in (proposalKey); the same proposal is not made again
	// until something in it changed, or refusedRetryTicks pass.
	refused   string
	refusedAt int64
	// syncRunning: a startSync is out (flush.messages=1); its syncDone
	// comes back before the next starts.
	syncRunning bool

	// Follower state: needsTruncation is set on becoming a follower and
	// cleared once the log was checked against the leader's epochs.
	needsTruncation bool

	// held are requests that arrived before the first LeaderAndIsr (the
	// actor just (re)started); they are stepped once it is applied.
	held []heldInput

	ticks int64
	// out collects the effects of the input being stepped.
	out []effect
}

// followerProgress is what the leader knows of one follower.
type followerProgress struct {
	// leo is the follower's log end offset as its last fetch reported it;
	// -1 until it fetches under this leader epoch.
	leo int64
	// lastCaughtUp is the tick at which the follower was last known to have
	// everything the leader had (Kafka's lastCaughtUpTimeMs).
	lastCaughtUp int64
	// leoAtLastFetch / lastFetch: the leader's log end and the tick at the
	// previous fetch, to credit a follower that caught up to it.
	leoAtLastFetch int64
	lastFetch      int64
	// brokerEpoch is the newest broker epoch the follower's fetches
	// carried (KIP-903), -1 until one does. A fetch with an older one comes
	// from a previous incarnation of the broker and is refused.
	brokerEpoch int64
}

// alterState is an ISR change in flight.
type alterState struct {
	isr []int32
	key string
	// base is the partition epoch the proposal was made in: the controller
	// commits it only over that version, so a newer state settles it.
	base int32
}

// pendingAck is an acks=all produce waiting for the high watermark.
type pendingAck struct {
	lastOffset int64 // committed when hw > lastOffset
	result     ProduceResult
	reply      chan<- ProduceResult
	deadline   int64 // tick
}

// waiter is a parked long-poll fetch.
type waiter struct {
	notify   chan<- struct{}
	parkedAt int64 // tick
}

// heldInput is an input held until the replica has a role.
type heldInput struct {
	msg  any
	from any
}

// maxHeld bounds the requests a replica holds while it waits for its first
// state after a (re)start; beyond it they are refused with
// ErrReplicaNotAvailable and the client retries.
const maxHeld = 1024

// Effects a replica returns.
type (
	effect any
	// answer is a reply to a gateway request: deliver sends it on the
	// request's own channel, which has room for it, without blocking.
	answer interface{ deliver() }
	// wake signals parked long-polls that something changed.
	wake struct{ notify []chan<- struct{} }
	// proposeISR asks the controller to commit an ISR change; the replica
	// manager forwards it (and resends it to a new controller).
	proposeISR struct {
		req *messages.AlterPartitionRequest
	}
	// startSync: run sync off the actor and report syncDone.
	startSync struct {
		upTo int64
		sync func() error
	}
)

// replyTo is the answer effect for a request with a reply channel of T.
type replyTo[T any] struct {
	ch chan<- T
	v  T
}

func (r replyTo[T]) deliver() {
	select {
	case r.ch <- r.v:
	default:
	}
}

func newReplica(tp TopicPartition, localID int32, data *storage.Log, cfg config.Topic, b *config.Broker, tickEvery time.Duration, log zerolog.Logger) *replica {
	r := &replica{
		tp:         tp,
		localID:    localID,
		log:        log,
		broker:     b,
		data:       data,
		producers:  newProducerStates(),
		snapshotAt: -1,
		leaderID:   -1,
		tickEvery:  tickEvery,
		followers:  make(map[int32]*followerProgress),
	}
	r.setConfig(cfg)
	r.hw = data.HighWatermark()
	return r
}

func (r *replica) setConfig(cfg config.Topic) {
	r.cfg = cfg
	r.lagTicks = max(1, int64(r.broker.ReplicaLagTimeMax/r.tickEvery))
}

// emit records an effect of the current input.
func (r *replica) emit(e effect) { r.out = append(r.out, e) }

func answerWith[T any](r *replica, ch chan<- T, v T) { r.emit(replyTo[T]{ch: ch, v: v}) }

// step takes one input and returns the effects it causes, in order. from
// identifies the sender of the messages answered with a reply effect.
func (r *replica) step(msg any, from any) []effect {
	r.stepOne(msg, from)
	out := r.out
	r.out = nil
	return out
}

func (r *replica) stepOne(msg any, from any) {
	switch m := msg.(type) {
	case *applyPartitionState:
		r.apply(m)
		return
	case tick:
		r.tick()
		return
	case *housekeeping:
		r.housekeeping(m)
		return
	case *syncDone:
		r.syncDone(m.upTo, m.err)
		return
	case *updateTopicConfig:
		r.setConfig(m.cfg)
		r.data.SetConfig(storageConfig(m.cfg))
		return
	case *alterPartitionResult:
		r.alterPartitionDone(m.resp, m.err)
		return
	}
	if r.role == roleNone {
		if len(r.held) >= maxHeld {
			r.refuse(msg, from, ErrReplicaNotAvailable)
			return
		}
		r.held = append(r.held, heldInput{msg: msg, from: from})
		return
	}
	switch m := msg.(type) {
	case *ProduceRequest:
		r.produce(m)
	case *FetchRequest:
		r.fetch(m)
	case *ListOffsetsRequest:
		answerWith(r, m.Reply, r.listOffsets(m))
	case *OffsetForLeaderEpochRequest:
		answerWith(r, m.Reply, r.offsetForLeaderEpoch(m))
	case *DeleteRecordsRequest:
		answerWith(r, m.Reply, r.deleteRecords(m))
	case *followerStateRequest:
		r.emit(reply{to: from, msg: r.followerReady(m.leaderEpoch)})
	case *truncateFollower:
		r.emit(reply{to: from, msg: r.truncateFollower(m)})
	case *appendFromLeader:
		r.emit(reply{to: from, msg: r.appendFromLeader(m)})
	}
}

// apply switches role according to a LeaderAndIsr state, then steps the
// inputs held while the replica had none.
func (r *replica) apply(m *applyPartitionState) {
	if m.cfg != r.cfg {
		r.setConfig(m.cfg)
		r.data.SetConfig(storageConfig(m.cfg))
	}
	st := m.state
	if st.Leader == r.localID {
		if err := r.becomeLeader(st); err != nil {
			r.log.Error().Err(err).Msg("cannot become leader")
			return
		}
	} else {
		r.becomeFollower(st)
	}
	held := r.held
	r.held = nil
	for _, h := range held {
		r.stepOne(h.msg, h.from)
	}
}

func (r *replica) applyAssignment(st *messages.PartitionState) {
	r.topicID = st.TopicId
	r.leaderID = st.Leader
	r.leaderEpoch = st.LeaderEpoch
	r.partitionEpoch = st.PartitionEpoch
	r.replicas = slices.Clone(st.Replicas)
	r.isr = slices.Clone(st.Isr)
	r.adding = slices.Clone(st.AddingReplicas)
}

// leaderThrottled reports whether this leader's answers to follower id
// count against leader.replication.throttled.rate: the follower is out of
// sync and is being added by a move, or the topic's
// leader.replication.throttled.replicas names this leader's replica
// (Kafka throttles only followers outside the ISR, so a throttle never
// pushes an in-sync replica out).
func (r *replica) leaderThrottled(id int32) bool {
	if slices.Contains(r.isr, id) {
		return false
	}
	return slices.Contains(r.adding, id) || r.cfg.LeaderThrottled.Has(r.tp.Partition, r.localID)
}

// checkEpoch validates a client's current_leader_epoch (-1: not given).
func (r *replica) checkEpoch(current int32) error {
	switch {
	case current < 0 || current == r.leaderEpoch:
		return nil
	case current < r.leaderEpoch:
		return ErrFencedLeaderEpoch
	default:
		return ErrUnknownLeaderEpoch
	}
}

// canAnswer checks a read-only request: a consumer's (replicaID < 0) only
// at the leader, a replica's at any replica; current_leader_epoch, when
// given, must be this replica's.
func (r *replica) canAnswer(replicaID, currentEpoch int32) error {
	if r.role != roleLeader && replicaID < 0 {
		return ErrNotLeader
	}
	return r.checkEpoch(currentEpoch)
}

// offsetForLeaderEpoch handles OffsetForLeaderEpoch.
func (r *replica) offsetForLeaderEpoch(req *OffsetForLeaderEpochRequest) OffsetForLeaderEpochResult {
	res := OffsetForLeaderEpochResult{LeaderEpoch: -1, EndOffset: -1}
	if err := r.canAnswer(req.ReplicaID, req.CurrentLeaderEpoch); err != nil {
		res.Err = err
		return res
	}
	res.LeaderEpoch, res.EndOffset = r.data.EndOffsetForEpoch(req.LeaderEpoch)
	return res
}

// listOffsets handles ListOffsets.
func (r *replica) listOffsets(req *ListOffsetsRequest) ListOffsetsResult {
	res := ListOffsetsResult{Offset: -1, Timestamp: -1, LeaderEpoch: -1}
	if err := r.canAnswer(req.ReplicaID, req.CurrentLeaderEpoch); err != nil {
		res.Err = err
		return res
	}
	res.LeaderEpoch = r.leaderEpoch
	upTo := r.hw
	if req.ReplicaID >= 0 {
		upTo = r.data.LogEndOffset()
	} else if req.Timestamp != -2 && !r.hwPublished() {
		// KIP-207: until this leader's high watermark reaches its epoch's
		// start, it may be below what the previous leader answered.
		res.Err = ErrOffsetNotAvailable
		return res
	}
	switch req.Timestamp {
	case -1: // latest
		res.Offset = upTo
	case -2: // earliest
		res.Offset = r.data.LogStartOffset()
	case -3: // max timestamp
		off, ts := r.data.MaxTimestampOffset()
		if off >= 0 && off < upTo {
			res.Offset, res.Timestamp = off, ts
		}
	default:
		off, ts, err := r.data.OffsetForTimestamp(req.Timestamp)
		if err != nil {
			res.Err = err
			return res
		}
		if off >= 0 && off < upTo {
			res.Offset, res.Timestamp = off, ts
		}
	}
	if res.Offset >= 0 {
		res.LeaderEpoch = r.epochOf(res.Offset)
	}
	return res
}

// epochOf returns the leader epoch that wrote offset: the newest epoch
// starting at or before it (-1 when the cache knows none).
func (r *replica) epochOf(offset int64) int32 {
	epoch := int32(-1)
	for _, e := range r.data.EpochEntries() {
		if e[1] > offset {
			break
		}
		epoch = int32(e[0])
	}
	return epoch
}

// tick advances logical time: request timeouts, ISR shrink.
func (r *replica) tick() {
	r.ticks++
	if len(r.pending) > 0 {
		kept := r.pending[:0]
		for _, p := range r.pending {
			if r.ticks >= p.deadline {
				res := p.result
				res.Err = ErrTimeout
				answerWith(r, p.reply, res)
				continue
			}
			kept = append(kept, p)
		}
		clear(r.pending[len(kept):])
		r.pending = kept
	}
	if r.role == roleLeader {
		r.leaderTick()
	}
}

// housekeeping runs the flush policy, and retention and checkpoints when
// their intervals are due. Producers quiet for producer.id.expiration.ms
// (against nowMs, the wall clock the shell read) are forgotten, as in
// Kafka.
func (r *replica) housekeeping(m *housekeeping) {
	d := r.data
	if m.retention {
		cutoff := m.nowMs - r.broker.ProducerIDExpiration.Milliseconds()
		if n := r.producers.expire(cutoff); n > 0 {
			r.log.Debug().Int("producers", n).Msg("expired idle producer ids")
		}
		r.saveProducers()
		if n, err := d.ApplyRetention(); err != nil {
			r.log.Error().Err(err).Msg("retention failed")
		} else if n > 0 {
			r.log.Info().Int("segments", n).Int64("log_start", d.LogStartOffset()).Msg("retention removed segments")
		}
	}
	if r.role != roleLeader || r.cfg.FlushMessages != 1 {
		// A leader with flush.messages=1 syncs in the background
		// (startSync); a synchronous flush here would stall the actor.
		if err := d.MaybeFlush(); err != nil {
			r.log.Error().Err(err).Msg("flush failed")
		}
	}
	if m.checkpoint {
		if err := d.Checkpoint(); err != nil {
			r.log.Error().Err(err).Msg("checkpoint failed")
		}
	}
}

// close answers everything waiting with err and wakes parked fetches; the
// shell closes (or deletes) the log after carrying out the effects.
func (r *replica) close(err error) []effect {
	for _, h := range r.held {
		r.refuse(h.msg, h.from, ErrReplicaNotAvailable)
	}
	r.held = nil
	r.failPending(err)
	r.wakeWaiters()
	out := r.out
	r.out = nil
	return out
}

// refuse answers an input that cannot be served now.
func (r *replica) refuse(m any, from any, err error) {
	if a := refusal(m, err); a != nil {
		r.emit(a)
		return
	}
	var epoch int32
	switch m := m.(type) {
	case *followerStateRequest:
		epoch = m.leaderEpoch
	case *truncateFollower:
		epoch = m.leaderEpoch
	case *appendFromLeader:
		epoch = m.leaderEpoch
	default:
		return
	}
	r.emit(reply{to: from, msg: &followerState{tp: r.tp, leaderEpoch: epoch}})
}

// --- producer state ------------------------------------------------------------

// loadProducers restores the idempotent producer state: from the snapshot
// the replica left at its last close (or housekeeping), plus the batch
// headers appended after it; from all batch headers when there is no
// usable snapshot.
func (r *replica) loadProducers() error {
	data, ok, err := r.data.ReadAux(producerSnapshotName)
	if err == nil && ok {
		covered, derr := r.producers.decodeSnapshot(data)
		if derr == nil && covered <= r.data.LogEndOffset() {
			r.snapshotAt = covered
			return r.replayProducers(max(covered, r.data.LogStartOffset()))
		}
		r.log.Warn().AnErr("err", derr).Int64("covered_to", covered).Int64("log_end", r.data.LogEndOffset()).
			Msg("ignoring producer state snapshot; rebuilding from the log")
		// Remove it: once appends pass its offset again (after a machine
		// crash lost the log's tail), it would describe other batches.
		if err := r.forgetSnapshot(); err != nil {
			return err
		}
	}
	return r.rebuildProducers()
}

// rebuildProducers replays every batch header into the producer state.
func (r *replica) rebuildProducers() error {
	r.producers.reset()
	r.snapshotAt = -1
	return r.replayProducers(r.data.LogStartOffset())
}

func (r *replica) replayProducers(from int64) error {
	return r.data.ScanBatches(from, func(h storage.BatchHeader) error {
		r.producers.update(&h, h.BaseOffset+int64(h.LastOffsetDelta))
		return nil
	})
}

// saveProducers snapshots the producer state as of the log end, so the
// next open replays only what comes after.
func (r *replica) saveProducers() {
	leo := r.data.LogEndOffset()
	if leo == r.snapshotAt {
		return
	}
	if err := r.data.WriteAux(producerSnapshotName, r.producers.encodeSnapshot(leo)); err != nil {
		r.log.Warn().Err(err).Msg("cannot write producer state snapshot")
		return
	}
	r.snapshotAt = leo
}

// forgetSnapshot removes the snapshot (durably) before the log is
// truncated: it would describe batches that are about to go.
func (r *replica) forgetSnapshot() error {
	r.snapshotAt = -1
	return r.data.RemoveAux(producerSnapshotName)
}

// truncate cuts the log to offset (a no-op above the log end, except that
// epochs starting at the log end are trimmed), removing the producer
// snapshot first and rebuilding the producer state after.
func (r *replica) truncate(offset int64) error {
	if offset < r.data.LogEndOffset() {
		if err := r.forgetSnapshot(); err != nil {
			return fmt.Errorf("removing producer snapshot before truncation: %w", err)
		}
	}
	before := r.data.LogEndOffset()
	if err := r.data.TruncateTo(offset); err != nil {
		return err
	}
	r.hw = min(r.hw, r.data.LogEndOffset())
	if r.data.LogEndOffset() < before {
		if err := r.rebuildProducers(); err != nil {
			return fmt.Errorf("rebuilding producer state after truncation: %w", err)
		}
	}
	return nil
}

// recordReplicated updates producer state from batches appended as they
// came from the leader (offsets already assigned).
// The log validated them on append, so a walk error cannot happen here.
func (r *replica) recordReplicated(records []byte) {
	_ = eachBatch(records, func(h *storage.BatchHeader, _ []byte, _ bool) error {
		r.producers.update(h, h.BaseOffset+int64(h.LastOffsetDelta))
		return nil
	})
}

// storageConfig maps a topic's effective config to the log's.
func storageConfig(t config.Topic) storage.Config {
	c := storage.DefaultConfig()
	c.SegmentBytes = t.SegmentBytes
	c.SegmentMs = t.SegmentMs
	c.IndexIntervalBytes = t.IndexIntervalBytes
	c.SegmentIndexBytes = t.SegmentIndexBytes
	c.MaxMessageBytes = t.MaxMessageBytes
	c.RetentionBytes = t.RetentionBytes
	c.RetentionMs = t.RetentionMs
	c.FlushMessages = t.FlushMessages
	c.FlushMs = t.FlushMs
	c.FileDeleteDelay = t.FileDeleteDelay
	return c
}
