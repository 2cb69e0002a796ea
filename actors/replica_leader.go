package actors

import (
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"

	"github.com/troupe-mq/troupe/messages"
	"github.com/troupe-mq/troupe/storage"
)

// The leader role of the replica core: produce, serving fetches, the high
// watermark, and the ISR changes it proposes to the controller.

// becomeLeader applies a LeaderAndIsr that makes this replica the leader.
func (r *replica) becomeLeader(st *messages.PartitionState) error {
	if err := r.data.AssignEpoch(st.LeaderEpoch, r.data.LogEndOffset()); err != nil {
		return fmt.Errorf("assign leader epoch %d: %w", st.LeaderEpoch, err)
	}
	prev := r.role
	sameEpoch := prev == roleLeader && st.LeaderEpoch == r.leaderEpoch
	r.applyAssignment(st)
	r.role = roleLeader
	if !sameEpoch {
		// A new epoch: every follower starts over, and whatever was
		// proposed under the old one is moot.
		r.alter, r.refused = nil, ""
		r.epochStart = r.data.LogEndOffset()
		followers := make(map[int32]*followerProgress, len(st.Replicas))
		for _, id := range st.Replicas {
			if id == r.localID {
				continue
			}
			// Followers in the ISR start as caught up now: they get a full
			// lag period to fetch before the leader may ask to drop them.
			// A follower keeps the broker epoch it was last seen with, so a
			// previous incarnation's fetch is still told apart.
			f := &followerProgress{leo: -1, lastCaughtUp: r.ticks, lastFetch: r.ticks, brokerEpoch: -1}
			if old := r.followers[id]; old != nil {
				f.brokerEpoch = old.brokerEpoch
			}
			followers[id] = f
		}
		r.followers = followers
		r.hw = max(r.data.LogStartOffset(), min(r.hw, r.data.LogEndOffset()))
		r.log.Info().Str("from", prev.String()).Int32("epoch", st.LeaderEpoch).Ints32("isr", st.Isr).
			Int64("leo", r.data.LogEndOffset()).Int64("hw", r.hw).Msg("became leader")
	} else {
		// The same epoch with a newer partition epoch (an ISR change the
		// controller made, e.g. a broker it found dead): followers keep
		// their progress. A proposal made in an older partition epoch is
		// settled: the controller commits one only over the version it was
		// made in, so the new state either holds it or it never will.
		for _, id := range st.Replicas {
			if id != r.localID && r.followers[id] == nil {
				r.followers[id] = &followerProgress{leo: -1, lastCaughtUp: r.ticks, lastFetch: r.ticks, brokerEpoch: -1}
			}
		}
		if r.alter != nil && r.partitionEpoch > r.alter.base {
			r.alter = nil
		}
	}
	r.maybeSync()
	r.maybeAdvanceHW()
	r.completePending() // an ISR that shrank may leave acks below min ISR: they fail now
	return nil
}

// hwPublished reports whether the high watermark has reached this
// leader's epoch start, so consumers may see it (KIP-207).
func (r *replica) hwPublished() bool { return r.hw >= r.epochStart }

// maximalISR is the committed ISR plus the members a pending change adds
// (Kafka's maximal ISR, KIP-497): the high watermark and acks=all count
// every replica that may be in the ISR once the change commits, so a
// replica added by an expansion in flight has every acknowledged record
// before it can be elected.
func (r *replica) maximalISR() []int32 {
	if r.alter == nil {
		return r.isr
	}
	m := slices.Clone(r.isr)
	for _, id := range r.alter.isr {
		if !slices.Contains(m, id) {
			m = append(m, id)
		}
	}
	return m
}

// highWatermark is the commit rule: the smallest log end over the maximal
// ISR, the leader's own counted as durableEnd. ok is false while a member
// has not fetched under this leader epoch (its progress is unknown).
func highWatermark(leaderEnd int64, maximalISR []int32, localID int32, followers map[int32]*followerProgress) (hw int64, ok bool) {
	hw = leaderEnd
	for _, id := range maximalISR {
		if id == localID {
			continue
		}
		f, known := followers[id]
		if !known || f.leo < 0 {
			return 0, false
		}
		hw = min(hw, f.leo)
	}
	return hw, true
}

// durableEnd is the local log end as the high watermark may count it: with
// flush.messages=1 only what is fsynced (the recovery point, which a
// truncation lowers with the log end).
func (r *replica) durableEnd() int64 {
	if r.cfg.FlushMessages == 1 {
		return min(r.data.RecoveryPoint(), r.data.LogEndOffset())
	}
	return r.data.LogEndOffset()
}

// maybeAdvanceHW moves the high watermark up to the commit rule's value,
// then completes what that commits.
func (r *replica) maybeAdvanceHW() {
	if r.role != roleLeader {
		return
	}
	newHW, ok := highWatermark(r.durableEnd(), r.maximalISR(), r.localID, r.followers)
	if !ok || newHW <= r.hw {
		return
	}
	r.hw = newHW
	r.data.SetHighWatermark(newHW)
	r.completePending()
	r.wakeWaiters()
}

// produce handles a ProduceRequest on the leader.
func (r *replica) produce(req *ProduceRequest) {
	res := ProduceResult{BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1}
	fail := func(err error) {
		res.Err = err
		answerWith(r, req.Reply, res)
	}
	if r.role != roleLeader {
		fail(ErrNotLeader)
		return
	}
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		fail(ErrInvalidRequiredAcks)
		return
	}
	// Kafka checks the committed ISR before appending, and the maximal ISR
	// when the batch commits (committedResult).
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
	if r.cfg.FlushMessages != 1 {
		if err := r.data.MaybeFlush(); err != nil {
			r.log.Error().Err(err).Msg("flush failed")
		}
	}
	r.maybeSync()
	r.ackWhenCommitted(req, res, info.LastOffset)
	r.maybeAdvanceHW()
	// Followers long-polling for new data learn of it now.
	r.wakeWaiters()
}

func (r *replica) ackWhenCommitted(req *ProduceRequest, res ProduceResult, lastOffset int64) {
	if req.Acks != -1 {
		answerWith(r, req.Reply, res)
		return
	}
	if lastOffset < r.hw {
		answerWith(r, req.Reply, r.committedResult(res))
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
	if int32(len(r.maximalISR())) < r.cfg.MinInsyncReplicas {
		res.Err = ErrNotEnoughReplicasAfterAppend
	}
	return res
}

func (r *replica) completePending() {
	i := 0
	for ; i < len(r.pending) && r.pending[i].lastOffset < r.hw; i++ {
		p := &r.pending[i]
		answerWith(r, p.reply, r.committedResult(p.result))
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
		answerWith(r, p.reply, res)
	}
	r.pending = nil
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
	err := eachBatch(records, func(h *storage.BatchHeader, batch []byte, more bool) error {
		n++
		if h.Attributes&(1<<4) != 0 || h.Attributes&(1<<5) != 0 {
			return ErrTransactionsUnsupported
		}
		if prev, ok := earlier[h.ProducerID]; ok {
			if err := followsInRequest(&prev, h); err != nil {
				return err
			}
		} else {
			d, err := r.producers.check(h)
			if err != nil || d != nil {
				// Kafka validates a batch before it consults the producer
				// state: a damaged retry must not be acknowledged as the
				// stored original, nor taken for a sequence error. The
				// check costs a CRC only on this rare path; Append
				// validates every batch anyway.
				if verr := intactBatch(h, batch); verr != nil {
					return verr
				}
			}
			if err != nil {
				return err
			}
			if d != nil {
				dup = d
			}
		}
		if h.ProducerID >= 0 && more { // only multi-batch requests pay for the map
			if earlier == nil {
				earlier = make(map[int64]storage.BatchHeader, 1)
			}
			earlier[h.ProducerID] = *h
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if dup != nil && n > 1 {
		// Kafka rejects a request mixing a duplicate with new batches the
		// same way: the producer never sends one.
		return nil, fmt.Errorf("%w: duplicate batch inside a multi-batch append", ErrOutOfOrderSequence)
	}
	return dup, nil
}

// eachBatch calls fn for every batch in records (more: another follows),
// checking that each one's length fits in what is left. It stops at the
// first error: a header that does not parse, a length out of bounds, or
// fn's own.
func eachBatch(records []byte, fn func(h *storage.BatchHeader, batch []byte, more bool) error) error {
	for b := records; len(b) > 0; {
		h, err := storage.ParseBatchHeader(b)
		if err != nil {
			return err // storage validates fully on Append; this is the same error
		}
		size := int(h.BatchLength) + 12
		if size > len(b) || size < storage.BatchHeaderSize {
			return fmt.Errorf("%w: batch length %d exceeds the %d bytes left", storage.ErrCorruptMessage, h.BatchLength, len(b))
		}
		if err := fn(&h, b[:size], size < len(b)); err != nil {
			return err
		}
		b = b[size:]
	}
	return nil
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
	case h.ProducerEpoch > prev.ProducerEpoch:
		if h.BaseSequence != 0 {
			return fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
	case !inSequence(lastSequence(prev), h.BaseSequence):
		return fmt.Errorf("%w: producer %d batch at sequence %d after one ending at %d in one request",
			ErrOutOfOrderSequence, h.ProducerID, h.BaseSequence, lastSequence(prev))
	}
	return nil
}

// recordProducers updates producer state for appended records whose first
// batch got offset first.
func (r *replica) recordProducers(records []byte, first int64) {
	off := first
	_ = eachBatch(records, func(h *storage.BatchHeader, _ []byte, _ bool) error {
		last := off + int64(h.LastOffsetDelta)
		r.producers.update(h, last)
		off = last + 1
		return nil
	})
}

// fetch handles a FetchRequest from a consumer or a follower.
func (r *replica) fetch(req *FetchRequest) {
	res := FetchResult{HighWatermark: -1, LastStable: -1, LogStartOffset: -1, LogEndOffset: -1}
	fail := func(err error) {
		res.Err = err
		answerWith(r, req.Reply, res)
	}
	if r.role != roleLeader {
		fail(ErrNotLeader)
		return
	}
	if err := r.checkEpoch(req.CurrentLeaderEpoch); err != nil {
		fail(err)
		return
	}
	upTo := r.hw
	if req.ReplicaID >= 0 {
		if err := r.followerFetched(req); err != nil {
			fail(err)
			return
		}
		upTo = r.data.LogEndOffset()
		res.Throttled = r.leaderThrottled(req.ReplicaID)
	} else if !r.hwPublished() {
		// Retriable (clients back off and fetch again): the high
		// watermark catches up within a follower fetch or two.
		fail(ErrOffsetNotAvailable)
		return
	}
	res.HighWatermark, res.LastStable = r.hw, r.hw
	res.LogStartOffset, res.LogEndOffset = r.data.LogStartOffset(), r.data.LogEndOffset()
	if req.FetchOffset > r.data.LogEndOffset() || req.FetchOffset < r.data.LogStartOffset() {
		fail(ErrOffsetOutOfRange)
		return
	}
	if req.FetchOffset < upTo {
		region, err := r.data.Read(req.FetchOffset, req.MaxBytes, upTo, req.MinOneBatch)
		if err != nil {
			if errors.Is(err, storage.ErrOffsetOutOfRange) {
				err = ErrOffsetOutOfRange
			}
			fail(err)
			return
		}
		res.Records = region
	}
	if res.Records.Len() == 0 && req.Notify != nil {
		r.park(req.Notify)
	}
	answerWith(r, req.Reply, res)
}

// followerFetched records a follower's progress from its fetch offset.
func (r *replica) followerFetched(req *FetchRequest) error {
	f, ok := r.followers[req.ReplicaID]
	if !ok {
		return fmt.Errorf("%w: broker %d is not a replica of %s", ErrNotLeader, req.ReplicaID, r.tp)
	}
	if req.ReplicaEpoch >= 0 && req.ReplicaEpoch < f.brokerEpoch {
		// A fetch from an earlier incarnation of the broker (delayed on
		// the network): its offset says nothing of the restarted replica
		// (KIP-903; Kafka refuses it the same way).
		return fmt.Errorf("%w: fetch from broker %d at broker epoch %d, which fetched at %d", ErrNotLeader, req.ReplicaID, req.ReplicaEpoch, f.brokerEpoch)
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
	f.brokerEpoch = max(f.brokerEpoch, req.ReplicaEpoch)
	r.maybeExpandISR(req.ReplicaID, f)
	r.maybeAdvanceHW()
	return nil
}

// park registers a long-poll fetch to be woken by the next change. Waiters
// parked long ago are dropped when many pile up: the gateway wakes on its
// own deadline anyway, so a dropped one only misses an early wake-up.
func (r *replica) park(notify chan<- struct{}) {
	if len(r.waiters) >= 64 {
		r.waiters = slices.DeleteFunc(r.waiters, func(w waiter) bool { return r.ticks-w.parkedAt > waiterTicks })
	}
	r.waiters = append(r.waiters, waiter{notify: notify, parkedAt: r.ticks})
}

// waiterTicks is how long a parked fetch is certainly still waiting:
// longer than any fetch's max_wait_ms the gateway accepts, in ticks.
const waiterTicks = 120

func (r *replica) wakeWaiters() {
	if len(r.waiters) == 0 {
		return
	}
	w := wake{notify: make([]chan<- struct{}, len(r.waiters))}
	for i := range r.waiters {
		w.notify[i] = r.waiters[i].notify
	}
	r.emit(w)
	clear(r.waiters)
	r.waiters = r.waiters[:0]
}

// leaderTick: ISR shrink. A proposal without an answer is not given up
// here: the controller may still commit it (its answer lost, or its write's
// outcome unknown), so its members stay in the maximal ISR until an answer
// or a newer state says otherwise; the replica manager resends it to the
// controller until it is answered.
func (r *replica) leaderTick() {
	r.maybeShrinkISR()
}

// refusedRetryTicks is how long a refused proposal waits before it is made
// again unchanged. A refusal for a transient reason (a write in flight at
// the controller: OPERATION_NOT_ATTEMPTED) does not count: the next fetch
// proposes again.
const refusedRetryTicks = 20

// maybeExpandISR asks the controller to add a follower that has caught up
// to the high watermark and to this leader's epoch start (Kafka's rule).
func (r *replica) maybeExpandISR(id int32, f *followerProgress) {
	if r.alter != nil || slices.Contains(r.isr, id) {
		return
	}
	if f.leo < r.hw || f.leo < r.epochStart {
		return
	}
	newISR := append(slices.Clone(r.isr), id)
	slices.Sort(newISR)
	r.proposeISR(newISR, "expand", id)
}

// maybeShrinkISR asks the controller to drop followers that have not caught
// up within replica.lag.time.max.ms.
func (r *replica) maybeShrinkISR() {
	if r.alter != nil {
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

// proposalKey names a proposal with the state it is made in: the leader
// and partition epochs, the committed ISR, the proposed ISR and the broker
// epochs it claims for it. A refused proposal is not repeated while its key
// is unchanged.
func (r *replica) proposalKey(isr []int32, epochs []int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d/%v->", r.leaderEpoch, r.partitionEpoch, r.isr)
	for i, id := range isr {
		b.WriteString(strconv.Itoa(int(id)) + "@" + strconv.FormatInt(epochs[i], 10) + ",")
	}
	return b.String()
}

func (r *replica) proposeISR(isr []int32, why string, who int32) {
	members := make([]*messages.BrokerState, len(isr))
	epochs := make([]int64, len(isr))
	for i, id := range isr {
		// The leader's own epoch stays -1: the controller checks the epochs
		// of the members a change adds, and the leader is never one.
		epochs[i] = -1
		if f := r.followers[id]; f != nil {
			epochs[i] = f.brokerEpoch
		}
		members[i] = &messages.BrokerState{BrokerId: id, BrokerEpoch: epochs[i]}
	}
	key := r.proposalKey(isr, epochs)
	if key == r.refused && r.ticks-r.refusedAt < refusedRetryTicks {
		return // refused in this very state: propose once per state
	}
	r.alter = &alterState{isr: isr, key: key, base: r.partitionEpoch}
	r.log.Info().Str("change", why).Int32("replica", who).Ints32("isr", r.isr).Ints32("proposed", isr).
		Int32("epoch", r.leaderEpoch).Msg("asking controller to change ISR")
	r.emit(proposeISR{req: &messages.AlterPartitionRequest{
		BrokerId:         r.localID,
		Topic:            r.tp.Topic,
		Partition:        r.tp.Partition,
		LeaderEpoch:      r.leaderEpoch,
		NewIsrWithEpochs: members,
		PartitionEpoch:   r.partitionEpoch,
	}})
	// A proposal may raise the maximal ISR (an expansion): nothing to do
	// for the high watermark, which can only wait longer.
}

// alterPartitionDone applies the controller's answer to an ISR change. An
// answer is applied only if it carries a newer state of this leader epoch:
// a late answer to an older proposal, or one from a deposed controller,
// must not roll the partition back.
func (r *replica) alterPartitionDone(resp *messages.AlterPartitionResponse, err error) {
	if r.role != roleLeader {
		return
	}
	if err != nil || resp.ErrorCode != codeNone || resp.State == nil {
		if r.alter == nil {
			return
		}
		code := resp.GetErrorCode()
		if err != nil || code == codeOperationNotAttempted {
			// Not an answer to the proposal: the controller is busy with a
			// write of this partition — maybe this very proposal, which may
			// yet commit. It stays pending (and in the maximal ISR): the
			// replica manager sends it again until it is answered.
			return
		}
		r.log.Warn().Int32("code", code).Ints32("proposed", r.alter.isr).Msg("ISR change refused")
		r.refused, r.refusedAt = r.alter.key, r.ticks
		r.alter = nil
		return
	}
	st := resp.State
	if st.LeaderEpoch != r.leaderEpoch || st.PartitionEpoch <= r.partitionEpoch {
		return // late, or a LeaderAndIsr will (or did) tell us what happened
	}
	r.alter = nil
	r.isr = slices.Clone(st.Isr)
	r.partitionEpoch = st.PartitionEpoch
	r.log.Info().Ints32("isr", r.isr).Int32("partition_epoch", r.partitionEpoch).Msg("ISR changed")
	r.maybeAdvanceHW()
	r.completePending() // a shrink may leave pending acks below min ISR: they fail now
}

// maybeSync starts a background fsync when flush.messages=1, so acks wait
// for durability without the actor blocking; fsyncs are batched over every
// append made while one runs.
func (r *replica) maybeSync() {
	if r.cfg.FlushMessages != 1 || r.syncRunning || r.data.RecoveryPoint() >= r.data.LogEndOffset() {
		return
	}
	upTo, sync := r.data.SyncFunc()
	r.syncRunning = true
	r.emit(&startSync{upTo: upTo, sync: sync})
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
	r.maybeAdvanceHW()
	r.maybeSync()
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

// sameMembers reports whether two ISRs hold the same brokers.
func sameMembers(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for _, id := range a {
		if !slices.Contains(b, id) {
			return false
		}
	}
	return true
}
