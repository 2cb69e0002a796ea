package actors

import (
	"errors"
	"fmt"
	"hash/crc32"
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

// role is what a replica currently does for its partition.
type role uint8

const (
	roleNone     role = iota // no LeaderAndIsr applied yet, or stopped
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
	brokerEpoch    int64
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
	notify chan<- struct{}
	until  time.Time
}

// replica is the state machine of one partition replica: its log, its role
// and the replication bookkeeping. It has no goroutines and does no
// messaging; the partitionActor feeds it and carries out what it asks for
// through the outbox.
//
// Not safe for concurrent use: the owning partition actor serializes access.
type replica struct {
	tp      TopicPartition
	topicID []byte
	localID int32
	log     zerolog.Logger
	cfg     config.Topic
	// lagTicks is replica.lag.time.max.ms in ticks.
	lagTicks int64
	// tickEvery is the wall duration of one tick (for request timeouts).
	tickEvery time.Duration
	clock     func() time.Time

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

	// Leader state.
	// Invariant: data.LogStartOffset() <= hw <= data.LogEndOffset().
	hw        int64
	followers map[int32]*followerProgress
	pending   []pendingAck // ordered by lastOffset
	waiters   []waiter
	// alterInFlight is the ISR the leader asked the controller to commit;
	// nil when none is outstanding. Only one change is in flight at a time.
	alterInFlight []int32
	// syncedTo is the offset below which the local log is fsynced, used in
	// place of the log end for the high watermark when flush.messages=1.
	syncedTo    int64
	syncRunning bool
	// alterSentAt is the tick alterInFlight was sent; an answer that never
	// comes (controller gone) is given up after alterTimeoutTicks.
	alterSentAt int64

	// Follower state: needsTruncation is set on becoming a follower and
	// cleared once the log was checked against the leader's epochs.
	needsTruncation bool

	ticks int64

	// outbox collects what the actor must send after the current message.
	outbox []any
}

func newReplica(tp TopicPartition, localID int32, data *storage.Log, cfg config.Topic, b *config.Broker, tickEvery time.Duration, clock func() time.Time, log zerolog.Logger) *replica {
	r := &replica{
		tp:         tp,
		localID:    localID,
		log:        log,
		data:       data,
		producers:  newProducerStates(),
		snapshotAt: -1,
		leaderID:   -1,
		tickEvery:  tickEvery,
		clock:      clock,
		followers:  make(map[int32]*followerProgress),
	}
	r.setConfig(cfg, b)
	r.hw = data.HighWatermark()
	r.syncedTo = data.LogEndOffset()
	return r
}

func (r *replica) setConfig(cfg config.Topic, b *config.Broker) {
	r.cfg = cfg
	r.lagTicks = max(1, int64(b.ReplicaLagTimeMax/r.tickEvery))
}

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

// forgetSnapshot removes the snapshot before the log is truncated: it
// would describe batches that are about to go.
func (r *replica) forgetSnapshot() error {
	r.snapshotAt = -1
	return r.data.RemoveAux(producerSnapshotName)
}

// durableEnd is the local log end as the high watermark may count it.
func (r *replica) durableEnd() int64 {
	if r.cfg.FlushMessages == 1 {
		return r.syncedTo
	}
	return r.data.LogEndOffset()
}

// becomeLeader applies a LeaderAndIsr that makes this replica the leader.
func (r *replica) becomeLeader(st *messages.PartitionState) error {
	if err := r.data.AssignEpoch(st.LeaderEpoch, r.data.LogEndOffset()); err != nil {
		return fmt.Errorf("assign leader epoch %d: %w", st.LeaderEpoch, err)
	}
	prev := r.role
	r.applyAssignment(st)
	r.role = roleLeader
	r.alterInFlight = nil
	r.followers = make(map[int32]*followerProgress, len(st.Replicas))
	for _, id := range st.Replicas {
		if id == r.localID {
			continue
		}
		// Followers in the ISR start as caught up now: they get a full lag
		// period to fetch before the leader may ask to drop them.
		r.followers[id] = &followerProgress{leo: -1, lastCaughtUp: r.ticks, lastFetch: r.ticks, brokerEpoch: -1}
	}
	r.hw = max(r.data.LogStartOffset(), min(r.hw, r.data.LogEndOffset()))
	r.log.Info().Str("from", prev.String()).Int32("epoch", st.LeaderEpoch).Ints32("isr", st.Isr).
		Int64("leo", r.data.LogEndOffset()).Int64("hw", r.hw).Msg("became leader")
	r.maybeAdvanceHW()
	return nil
}

// becomeFollower applies a LeaderAndIsr that makes this replica a follower
// (or leaves it without a leader when st.Leader is -1).
func (r *replica) becomeFollower(st *messages.PartitionState) {
	prev := r.role
	r.failPending(ErrNotLeader)
	r.wakeWaiters()
	r.applyAssignment(st)
	r.role = roleFollower
	r.followers = make(map[int32]*followerProgress)
	r.alterInFlight = nil
	r.needsTruncation = true
	r.log.Info().Str("from", prev.String()).Int32("epoch", st.LeaderEpoch).Int32("leader", st.Leader).Msg("became follower")
}

func (r *replica) applyAssignment(st *messages.PartitionState) {
	r.topicID = st.TopicId
	r.leaderID = st.Leader
	r.leaderEpoch = st.LeaderEpoch
	r.partitionEpoch = st.PartitionEpoch
	r.replicas = slices.Clone(st.Replicas)
	r.isr = slices.Clone(st.Isr)
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

// produce handles a ProduceRequest on the leader.
func (r *replica) produce(req *ProduceRequest) {
	res := ProduceResult{BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1}
	fail := func(err error) {
		res.Err = err
		reply(req.Reply, res)
	}
	if r.role != roleLeader {
		fail(ErrNotLeader)
		return
	}
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		fail(ErrInvalidRequiredAcks)
		return
	}
	if req.Acks == -1 && int32(len(r.isr)) < r.cfg.MinInsyncReplicas {
		fail(fmt.Errorf("%w: isr %v, min.insync.replicas %d", ErrNotEnoughReplicas, r.isr, r.cfg.MinInsyncReplicas))
		return
	}
	dup, err := r.checkProducers(req.Records)
	if err != nil {
		fail(err)
		return
	}
	res.LogStartOffset = r.data.LogStartOffset()
	if dup != nil {
		// A retry of a batch already appended: answer as the original was
		// answered, once it is committed.
		res.BaseOffset = dup.firstOffset
		r.ackWhenCommitted(req, res, dup.lastOffset)
		return
	}
	info, err := r.data.Append(req.Records, r.leaderEpoch)
	if err != nil {
		fail(err)
		return
	}
	r.recordProducers(req.Records, info.FirstOffset)
	res.BaseOffset = info.FirstOffset
	if err := r.data.MaybeFlush(); err != nil {
		r.log.Error().Err(err).Msg("flush failed")
	}
	r.maybeSync()
	r.ackWhenCommitted(req, res, info.LastOffset)
	r.maybeAdvanceHW()
	// Followers long-polling for new data learn of it now.
	r.wakeWaiters()
}

func (r *replica) ackWhenCommitted(req *ProduceRequest, res ProduceResult, lastOffset int64) {
	if req.Acks != -1 {
		reply(req.Reply, res)
		return
	}
	if lastOffset < r.hw {
		reply(req.Reply, r.committedResult(res))
		return
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = r.tickEvery
	}
	deadline := r.ticks + int64((timeout+r.tickEvery-1)/r.tickEvery)
	r.pending = append(r.pending, pendingAck{lastOffset: lastOffset, result: res, reply: req.Reply, deadline: deadline})
}

func (r *replica) committedResult(res ProduceResult) ProduceResult {
	if int32(len(r.isr)) < r.cfg.MinInsyncReplicas {
		res.Err = ErrNotEnoughReplicasAfterAppend
	}
	return res
}

// checkProducers validates every batch of records against the idempotent
// producer state. It returns the duplicate's metadata when the (single)
// batch was already appended. A batch that follows another of the same
// producer in the request is checked against that one, as Kafka checks
// each batch against the state the earlier ones left: otherwise two copies
// of one batch in a request would both pass and be appended twice.
func (r *replica) checkProducers(records []byte) (*batchMeta, error) {
	var dup *batchMeta
	var earlier map[int64]storage.BatchHeader // producer -> its previous batch in this request
	n := 0
	for b := records; len(b) > 0; n++ {
		h, err := storage.ParseBatchHeader(b)
		if err != nil {
			return nil, err // storage validates fully on Append; this is the same error
		}
		size := int(h.BatchLength) + 12
		if size > len(b) || size < 12 {
			return nil, fmt.Errorf("%w: batch length %d exceeds the %d bytes left", storage.ErrCorruptMessage, h.BatchLength, len(b))
		}
		batch := b[:size]
		b = b[size:]
		if h.Attributes&(1<<4) != 0 || h.Attributes&(1<<5) != 0 {
			return nil, ErrTransactionsUnsupported
		}
		if prev, ok := earlier[h.ProducerID]; ok {
			if err := followsInRequest(&prev, &h); err != nil {
				return nil, err
			}
		} else {
			d, err := r.producers.check(&h)
			if err != nil || d != nil {
				// Kafka validates a batch before it consults the producer
				// state: a damaged retry must not be acknowledged as the
				// stored original, nor taken for a sequence error. The
				// check costs a CRC only on this rare path; Append
				// validates every batch anyway.
				if verr := intactBatch(&h, batch); verr != nil {
					return nil, verr
				}
			}
			if err != nil {
				return nil, err
			}
			if d != nil {
				dup = d
			}
		}
		if h.ProducerID >= 0 && len(b) > 0 { // only multi-batch requests pay for the map
			if earlier == nil {
				earlier = make(map[int64]storage.BatchHeader, 1)
			}
			earlier[h.ProducerID] = h
		}
	}
	if dup != nil && n > 1 {
		// Kafka rejects a request mixing a duplicate with new batches the
		// same way: the producer never sends one.
		return nil, fmt.Errorf("%w: duplicate batch inside a multi-batch append", ErrOutOfOrderSequence)
	}
	return dup, nil
}

// intactBatch checks a batch's magic and CRC-32C (h is its parsed header).
func intactBatch(h *storage.BatchHeader, batch []byte) error {
	if h.Magic != 2 {
		return fmt.Errorf("%w: magic %d, only v2 batches are supported", storage.ErrInvalidRecord, h.Magic)
	}
	if len(batch) < storage.BatchHeaderSize || crc32.Checksum(batch[21:], castagnoli) != h.CRC {
		return fmt.Errorf("%w: CRC-32C mismatch", storage.ErrCorruptMessage)
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// followsInRequest checks batch h against prev, the same producer's
// previous batch in one request.
func followsInRequest(prev, h *storage.BatchHeader) error {
	switch {
	case h.ProducerEpoch < prev.ProducerEpoch:
		return fmt.Errorf("%w: producer %d epoch %d after epoch %d in one request", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, prev.ProducerEpoch)
	case h.ProducerEpoch > prev.ProducerEpoch && h.BaseSequence != 0:
		return fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
	case h.ProducerEpoch == prev.ProducerEpoch && !inSequence(lastSequence(prev), h.BaseSequence):
		return fmt.Errorf("%w: producer %d batch at sequence %d does not follow the one before it in the request (ending at %d)",
			ErrOutOfOrderSequence, h.ProducerID, h.BaseSequence, lastSequence(prev))
	}
	return nil
}

// recordProducers updates producer state for appended records whose first
// batch got offset first.
func (r *replica) recordProducers(records []byte, first int64) {
	off := first
	for b := records; len(b) >= 61; {
		h, err := storage.ParseBatchHeader(b)
		if err != nil {
			return
		}
		last := off + int64(h.LastOffsetDelta)
		r.producers.update(&h, last)
		off = last + 1
		b = b[int(h.BatchLength)+12:]
	}
}

// fetch handles a FetchRequest from a consumer or a follower.
func (r *replica) fetch(req *FetchRequest) {
	res := FetchResult{HighWatermark: -1, LastStable: -1, LogStartOffset: -1, LogEndOffset: -1}
	if r.role != roleLeader {
		res.Err = ErrNotLeader
		reply(req.Reply, res)
		return
	}
	if err := r.checkEpoch(req.CurrentLeaderEpoch); err != nil {
		res.Err = err
		reply(req.Reply, res)
		return
	}
	upTo := r.hw
	if req.ReplicaID >= 0 {
		if err := r.followerFetched(req); err != nil {
			res.Err = err
			reply(req.Reply, res)
			return
		}
		upTo = r.data.LogEndOffset()
	}
	res.HighWatermark, res.LastStable = r.hw, r.hw
	res.LogStartOffset, res.LogEndOffset = r.data.LogStartOffset(), r.data.LogEndOffset()
	if req.FetchOffset > r.data.LogEndOffset() || req.FetchOffset < r.data.LogStartOffset() {
		res.Err = ErrOffsetOutOfRange
		reply(req.Reply, res)
		return
	}
	if req.FetchOffset < upTo {
		region, err := r.data.Read(req.FetchOffset, req.MaxBytes, upTo, req.MinOneBatch)
		if err != nil {
			if errors.Is(err, storage.ErrOffsetOutOfRange) {
				err = ErrOffsetOutOfRange
			}
			res.Err = err
			reply(req.Reply, res)
			return
		}
		res.Records = region
	}
	if res.Records.Len() == 0 && req.Notify != nil {
		r.park(req.Notify, req.NotifyUntil)
	}
	reply(req.Reply, res)
}

// followerFetched records a follower's progress from its fetch offset.
func (r *replica) followerFetched(req *FetchRequest) error {
	f, ok := r.followers[req.ReplicaID]
	if !ok {
		return fmt.Errorf("%w: broker %d is not a replica of %s", ErrNotLeader, req.ReplicaID, r.tp)
	}
	leo := r.data.LogEndOffset()
	if req.FetchOffset > leo {
		return nil // answered with OFFSET_OUT_OF_RANGE by the caller
	}
	switch {
	case req.FetchOffset >= leo:
		f.lastCaughtUp = max(f.lastCaughtUp, r.ticks)
	case req.FetchOffset >= f.leoAtLastFetch:
		f.lastCaughtUp = max(f.lastCaughtUp, f.lastFetch)
	}
	f.leoAtLastFetch, f.lastFetch = leo, r.ticks
	f.leo = req.FetchOffset
	f.brokerEpoch = req.ReplicaEpoch
	r.maybeExpandISR(req.ReplicaID, f)
	r.maybeAdvanceHW()
	return nil
}

// maybeAdvanceHW moves the high watermark to the smallest log end offset
// over the ISR, then completes what that commits.
func (r *replica) maybeAdvanceHW() {
	if r.role != roleLeader {
		return
	}
	newHW := r.durableEnd()
	for _, id := range r.isr {
		if id == r.localID {
			continue
		}
		f, ok := r.followers[id]
		if !ok || f.leo < 0 {
			return // an ISR member we have not heard from under this epoch
		}
		newHW = min(newHW, f.leo)
	}
	if newHW <= r.hw {
		return
	}
	r.hw = newHW
	r.data.SetHighWatermark(newHW)
	r.completePending()
	r.wakeWaiters()
}

func (r *replica) completePending() {
	i := 0
	for ; i < len(r.pending) && r.pending[i].lastOffset < r.hw; i++ {
		p := &r.pending[i]
		reply(p.reply, r.committedResult(p.result))
		*p = pendingAck{}
	}
	r.pending = r.pending[i:]
	if len(r.pending) == 0 {
		r.pending = nil
	}
}

func (r *replica) failPending(err error) {
	for i := range r.pending {
		p := &r.pending[i]
		res := p.result
		res.Err = err
		reply(p.reply, res)
	}
	r.pending = nil
}

// park registers a long-poll fetch to be woken by the next change.
func (r *replica) park(notify chan<- struct{}, until time.Time) {
	if len(r.waiters) >= 64 {
		now := r.clock()
		r.waiters = slices.DeleteFunc(r.waiters, func(w waiter) bool { return now.After(w.until) })
	}
	r.waiters = append(r.waiters, waiter{notify: notify, until: until})
}

func (r *replica) wakeWaiters() {
	for _, w := range r.waiters {
		select {
		case w.notify <- struct{}{}:
		default:
		}
	}
	clear(r.waiters)
	r.waiters = r.waiters[:0]
}

// maybeExpandISR asks the controller to add a follower that has caught up
// to the high watermark (and to this leader's epoch start) to the ISR.
func (r *replica) maybeExpandISR(id int32, f *followerProgress) {
	if r.alterInFlight != nil || slices.Contains(r.isr, id) {
		return
	}
	epochStart := r.epochStartOffset()
	if f.leo < r.hw || f.leo < epochStart {
		return
	}
	newISR := append(slices.Clone(r.isr), id)
	slices.Sort(newISR)
	r.proposeISR(newISR, "expand", id)
}

// epochStartOffset is the offset at which the current leader epoch began.
func (r *replica) epochStartOffset() int64 {
	_, end := r.data.EndOffsetForEpoch(r.leaderEpoch - 1)
	if end < 0 {
		return r.data.LogStartOffset()
	}
	return end
}

func (r *replica) proposeISR(isr []int32, why string, who int32) {
	r.alterInFlight, r.alterSentAt = isr, r.ticks
	r.log.Info().Str("change", why).Int32("replica", who).Ints32("isr", r.isr).Ints32("proposed", isr).
		Int32("epoch", r.leaderEpoch).Msg("asking controller to change ISR")
	r.outbox = append(r.outbox, &messages.AlterPartitionRequest{
		BrokerId:       r.localID,
		Topic:          r.tp.Topic,
		Partition:      r.tp.Partition,
		LeaderEpoch:    r.leaderEpoch,
		NewIsr:         isr,
		PartitionEpoch: r.partitionEpoch,
	})
}

// alterPartitionDone applies the controller's answer to an ISR change.
func (r *replica) alterPartitionDone(resp *messages.AlterPartitionResponse, err error) {
	r.alterInFlight = nil
	if err != nil || resp.ErrorCode != 0 || resp.State == nil {
		r.log.Warn().AnErr("err", err).Int32("code", resp.GetErrorCode()).Msg("ISR change not committed")
		return
	}
	st := resp.State
	if st.LeaderEpoch != r.leaderEpoch || r.role != roleLeader {
		return // a LeaderAndIsr will (or did) tell us what happened
	}
	r.isr = slices.Clone(st.Isr)
	r.partitionEpoch = st.PartitionEpoch
	r.log.Info().Ints32("isr", r.isr).Int32("partition_epoch", r.partitionEpoch).Msg("ISR changed")
	r.maybeAdvanceHW()
	r.completePending() // a shrink may leave pending acks below min ISR: they fail now
}

// tick advances logical time: request timeouts, ISR shrink, flush policy.
func (r *replica) tick() {
	r.ticks++
	if len(r.pending) > 0 {
		kept := r.pending[:0]
		for _, p := range r.pending {
			if r.ticks >= p.deadline {
				res := p.result
				res.Err = ErrTimeout
				reply(p.reply, res)
				continue
			}
			kept = append(kept, p)
		}
		clear(r.pending[len(kept):])
		r.pending = kept
	}
	if r.alterInFlight != nil && r.ticks-r.alterSentAt > alterTimeoutTicks(r.tickEvery) {
		r.log.Warn().Ints32("proposed", r.alterInFlight).Msg("no answer to the ISR change; will propose again")
		r.alterInFlight = nil
	}
	if r.role == roleLeader {
		r.maybeShrinkISR()
	}
}

// alterTimeoutTicks is how long a leader waits for the controller to answer
// an ISR change before it may propose again (5 s).
func alterTimeoutTicks(tickEvery time.Duration) int64 { return max(1, int64(5*time.Second/tickEvery)) }

// maybeShrinkISR asks the controller to drop followers that have not caught
// up within replica.lag.time.max.ms.
func (r *replica) maybeShrinkISR() {
	if r.alterInFlight != nil {
		return
	}
	var out []int32
	for _, id := range r.isr {
		if id == r.localID {
			continue
		}
		f := r.followers[id]
		if f == nil || r.ticks-f.lastCaughtUp > r.lagTicks {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return
	}
	newISR := slices.DeleteFunc(slices.Clone(r.isr), func(id int32) bool { return slices.Contains(out, id) })
	r.proposeISR(newISR, "shrink", out[0])
}

// maybeSync starts a background fsync when flush.messages=1, so acks wait
// for durability without the actor blocking; fsyncs are batched over every
// append made while one runs.
func (r *replica) maybeSync() {
	if r.cfg.FlushMessages != 1 || r.syncRunning || r.syncedTo >= r.data.LogEndOffset() {
		return
	}
	upTo, sync := r.data.SyncFunc()
	r.syncRunning = true
	r.outbox = append(r.outbox, &startSync{upTo: upTo, sync: sync})
}

// syncDone records a finished background fsync.
func (r *replica) syncDone(upTo int64, err error) {
	r.syncRunning = false
	if err != nil {
		r.log.Error().Err(err).Int64("up_to", upTo).Msg("fsync failed")
		r.failPending(fmt.Errorf("%w: %v", storage.ErrStorage, err))
		return
	}
	r.data.MarkFlushed(upTo)
	r.syncedTo = max(r.syncedTo, upTo)
	r.maybeAdvanceHW()
	r.maybeSync()
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

// deleteRecords handles DeleteRecords.
func (r *replica) deleteRecords(req *DeleteRecordsRequest) DeleteRecordsResult {
	res := DeleteRecordsResult{LowWatermark: -1}
	if r.role != roleLeader {
		res.Err = ErrNotLeader
		return res
	}
	off := req.Offset
	if off == -1 {
		off = r.hw
	}
	if off < 0 || off > r.hw {
		res.Err = fmt.Errorf("%w: %d is above the high watermark %d", ErrOffsetOutOfRange, off, r.hw)
		return res
	}
	if off > r.data.LogStartOffset() {
		if err := r.data.DeleteRecordsBefore(off); err != nil {
			res.Err = err
			return res
		}
	}
	res.LowWatermark = r.data.LogStartOffset()
	return res
}

// reply answers a request without ever blocking the actor: the channel has
// room for exactly one answer.
func reply[T any](ch chan<- T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// --- follower ----------------------------------------------------------------

// followerStatus answers a fetcher's followerStateRequest.
func (r *replica) followerStatus(leaderEpoch int32) *followerState {
	st := &followerState{tp: r.tp, leaderEpoch: leaderEpoch}
	if r.role != roleFollower || r.leaderEpoch != leaderEpoch {
		return st
	}
	st.ok = true
	st.logEnd, st.logStart = r.data.LogEndOffset(), r.data.LogStartOffset()
	if r.needsTruncation {
		if e, ok := r.data.LatestEpoch(); ok {
			st.needsTruncation, st.latestEpoch = true, e
		} else {
			r.needsTruncation = false // an empty epoch cache: nothing to check
		}
	}
	return st
}

// truncateFollower applies the leader's answer to OffsetForLeaderEpoch for
// this follower's latest epoch (KIP-101/KIP-279): truncate to where the
// two logs last agree. When the leader answers with an epoch this log does
// not have, truncate to the end of the largest smaller epoch and ask again.
func (r *replica) truncateFollower(m *truncateFollower) *followerState {
	if r.role != roleFollower || r.leaderEpoch != m.leaderEpoch {
		return &followerState{tp: r.tp, leaderEpoch: m.leaderEpoch}
	}
	leo := r.data.LogEndOffset()
	a := m.answer
	var to int64
	again := false
	switch {
	case a.LeaderEpoch < 0 || a.EndOffset < 0:
		// The leader knows no epoch at or below ours: keep only what was
		// committed.
		to = min(r.hw, leo)
	default:
		fe, fend := r.data.EndOffsetForEpoch(a.LeaderEpoch)
		switch {
		case fe < 0:
			// Every epoch here is newer than the leader's answer: nothing
			// after the leader's end of that epoch can be shared.
			to = min(a.EndOffset, leo)
		case fe == a.LeaderEpoch:
			to = min(a.EndOffset, fend, leo)
		default:
			to, again = min(fend, leo), true
		}
	}
	if to < leo {
		r.log.Info().Int64("from", leo).Int64("to", to).Int32("leader_epoch", a.LeaderEpoch).Int64("leader_end", a.EndOffset).
			Msg("truncating diverged log to the leader's")
		if err := r.forgetSnapshot(); err != nil {
			r.log.Error().Err(err).Msg("removing producer snapshot before truncation")
			st := r.followerStatus(m.leaderEpoch)
			st.ok, st.err = false, err
			return st
		}
		if err := r.data.TruncateTo(to); err != nil {
			r.log.Error().Err(err).Msg("truncation failed")
			st := r.followerStatus(m.leaderEpoch)
			st.ok, st.err = false, err
			return st
		}
		r.hw = min(r.hw, r.data.LogEndOffset())
		if err := r.rebuildProducers(); err != nil {
			r.log.Error().Err(err).Msg("rebuilding producer state after truncation")
		}
	}
	r.needsTruncation = again
	return r.followerStatus(m.leaderEpoch)
}

// appendFromLeader appends what the fetcher brought and follows the
// leader's high watermark and log start.
func (r *replica) appendFromLeader(m *appendFromLeader) *followerState {
	if r.role != roleFollower || r.leaderEpoch != m.leaderEpoch {
		return &followerState{tp: r.tp, leaderEpoch: m.leaderEpoch}
	}
	if m.outOfRange {
		if m.fetchOffset < m.leaderStart {
			r.log.Info().Int64("fetch_offset", m.fetchOffset).Int64("leader_log_start", m.leaderStart).Msg("far behind the leader: starting over at its log start")
			if err := r.forgetSnapshot(); err != nil {
				r.log.Error().Err(err).Msg("removing producer snapshot before reset")
				return r.followerStatus(m.leaderEpoch)
			}
			if err := r.data.TruncateFullyAndStartAt(m.leaderStart); err != nil {
				r.log.Error().Err(err).Msg("resetting log")
			}
			r.hw = r.data.LogStartOffset()
			r.producers.reset()
		} else {
			r.needsTruncation = true
		}
		return r.followerStatus(m.leaderEpoch)
	}
	if len(m.records) > 0 && m.fetchOffset == r.data.LogEndOffset() {
		if _, err := r.data.AppendAsFollower(m.records); err != nil {
			r.log.Error().Err(err).Int64("offset", m.fetchOffset).Msg("appending replicated batches")
			return r.followerStatus(m.leaderEpoch)
		}
		r.recordReplicated(m.records)
		if err := r.data.MaybeFlush(); err != nil {
			r.log.Error().Err(err).Msg("flush failed")
		}
	}
	leo := r.data.LogEndOffset()
	if hw := min(m.leaderHW, leo); hw > r.hw {
		r.hw = hw
		r.data.SetHighWatermark(hw)
	}
	if m.leaderStart > r.data.LogStartOffset() {
		if err := r.data.DeleteRecordsBefore(min(m.leaderStart, leo)); err != nil {
			r.log.Warn().Err(err).Msg("following the leader's log start")
		}
	}
	return r.followerStatus(m.leaderEpoch)
}

// recordReplicated updates producer state from batches appended as they
// came from the leader (offsets already assigned).
func (r *replica) recordReplicated(records []byte) {
	for b := records; len(b) >= 61; {
		h, err := storage.ParseBatchHeader(b)
		if err != nil || int(h.BatchLength)+12 > len(b) {
			return
		}
		r.producers.update(&h, h.BaseOffset+int64(h.LastOffsetDelta))
		b = b[int(h.BatchLength)+12:]
	}
}
