package actors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/troupe-mq/troupe/storage"
)

// Idempotent producer state, kept per partition (Kafka's
// ProducerStateManager, reduced to what an idempotent, non-transactional
// producer needs).
//
// For each producer id the partition remembers the producer's epoch and the
// metadata of its last five batches. A retried batch that matches one of
// them is a duplicate: it is not appended again and the producer is told the
// offsets of the original. A batch whose first sequence does not follow the
// last one is out of order. The state is rebuilt from the log's batch
// headers when a replica starts, so it survives restarts and moves with
// leadership (followers replay the same headers as they append).

// maxBatchesPerProducer is how many batches' metadata a partition keeps per
// producer; it matches the producer's max in-flight requests (5), so any
// retry of an unacknowledged batch is recognised.
const maxBatchesPerProducer = 5

// batchMeta is what a partition remembers of one appended batch.
type batchMeta struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	maxTimestamp            int64
}

// producerEntry is the state of one producer id.
//
// Invariant: batches are in append order, len(batches) <= maxBatchesPerProducer.
type producerEntry struct {
	epoch         int16
	batches       []batchMeta
	lastTimestamp int64 // max timestamp of the last batch, for expiry
}

// producerStates maps producer id to its state. Owned by one replica.
type producerStates struct {
	m map[int64]*producerEntry
}

func newProducerStates() *producerStates { return &producerStates{m: make(map[int64]*producerEntry)} }

// check decides what to do with a batch from an idempotent producer before
// it is appended. It returns dup != nil when the batch duplicates one
// already appended (do not append; answer with dup's offsets), or an error
// (ErrOutOfOrderSequence, ErrInvalidProducerEpoch, ErrUnknownProducerID).
// Batches without a producer id always pass.
func (s *producerStates) check(h *storage.BatchHeader) (dup *batchMeta, err error) {
	if h.ProducerID < 0 {
		return nil, nil
	}
	e := s.m[h.ProducerID]
	firstSeq := h.BaseSequence
	lastSeq := lastSequence(h)
	if e == nil {
		if firstSeq != 0 {
			return nil, fmt.Errorf("%w: producer %d has no state here and sent sequence %d", ErrUnknownProducerID, h.ProducerID, firstSeq)
		}
		return nil, nil
	}
	switch {
	case h.ProducerEpoch < e.epoch:
		return nil, fmt.Errorf("%w: producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	case h.ProducerEpoch > e.epoch:
		if firstSeq != 0 {
			return nil, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, firstSeq)
		}
		return nil, nil
	}
	for i := range e.batches {
		b := &e.batches[i]
		if b.firstSeq == firstSeq && b.lastSeq == lastSeq {
			return b, nil
		}
	}
	last := int32(-1)
	if n := len(e.batches); n > 0 {
		last = e.batches[n-1].lastSeq
	}
	if !inSequence(last, firstSeq) {
		return nil, fmt.Errorf("%w: producer %d epoch %d expected sequence %d, got %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, nextSequence(last), firstSeq)
	}
	return nil, nil
}

// update records an appended batch. lastOffset is the offset of its last
// record. It is also used when replaying the log on start-up and on
// followers, where no check precedes it: a new epoch resets the entry.
func (s *producerStates) update(h *storage.BatchHeader, lastOffset int64) {
	if h.ProducerID < 0 {
		return
	}
	e := s.m[h.ProducerID]
	if e == nil {
		e = &producerEntry{epoch: h.ProducerEpoch}
		s.m[h.ProducerID] = e
	}
	if h.ProducerEpoch != e.epoch {
		e.epoch = h.ProducerEpoch
		e.batches = e.batches[:0]
	}
	meta := batchMeta{
		firstSeq:     h.BaseSequence,
		lastSeq:      lastSequence(h),
		firstOffset:  lastOffset - int64(h.LastOffsetDelta),
		lastOffset:   lastOffset,
		maxTimestamp: h.MaxTimestamp,
	}
	if len(e.batches) == maxBatchesPerProducer {
		copy(e.batches, e.batches[1:])
		e.batches = e.batches[:maxBatchesPerProducer-1]
	}
	e.batches = append(e.batches, meta)
	e.lastTimestamp = h.MaxTimestamp
}

// expire forgets producers whose last batch is older than cutoff (ms), as
// Kafka does after producer.id.expiration.ms, so the map stays bounded by
// the producers active within that window.
func (s *producerStates) expire(cutoff int64) int {
	n := 0
	for id, e := range s.m {
		if e.lastTimestamp < cutoff {
			delete(s.m, id)
			n++
		}
	}
	return n
}

// reset forgets everything (before a rebuild from the log).
func (s *producerStates) reset() { clear(s.m) }

func lastSequence(h *storage.BatchHeader) int32 {
	// Sequences wrap at MaxInt32 back to 0, as in Kafka.
	return int32((int64(h.BaseSequence) + int64(h.LastOffsetDelta)) % (1 << 31))
}

func nextSequence(last int32) int32 {
	if last == 1<<31-1 {
		return 0
	}
	return last + 1
}

func inSequence(last, next int32) bool { return next == nextSequence(last) }

// producerSnapshotName is the partition's producer state snapshot, kept
// beside its log (storage auxiliary file).
const producerSnapshotName = "producer-state.snapshot"

// Snapshot format, big endian, all fields fixed size:
//
//	magic "TPS1" | coveredTo int64 | count uint32 |
//	count × { producerID int64 | epoch int16 | lastTimestamp int64 | n uint8 |
//	          n × { firstSeq int32 | lastSeq int32 | firstOffset int64 | lastOffset int64 | maxTimestamp int64 } } |
//	crc32c(everything before) uint32
//
// coveredTo is the log end offset the state reflects: batches at or after
// it are replayed from the log on load.
const snapshotMagic = "TPS1"

var snapshotCRC = crc32.MakeTable(crc32.Castagnoli)

// encodeSnapshot serializes the state as of log end offset coveredTo.
func (s *producerStates) encodeSnapshot(coveredTo int64) []byte {
	b := make([]byte, 0, 16+len(s.m)*(19+maxBatchesPerProducer*32)+4)
	b = append(b, snapshotMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(coveredTo))
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.m)))
	for id, e := range s.m {
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastTimestamp))
		b = append(b, byte(len(e.batches)))
		for _, m := range e.batches {
			b = binary.BigEndian.AppendUint32(b, uint32(m.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.firstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.lastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.maxTimestamp))
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, snapshotCRC))
}

// errBadSnapshot: a snapshot that does not decode (it is then ignored and
// the state rebuilt from the log).
var errBadSnapshot = errors.New("actors: producer state snapshot does not decode")

// decodeSnapshot replaces the state with a snapshot's and returns the
// offset it covers.
func (s *producerStates) decodeSnapshot(b []byte) (int64, error) {
	if len(b) < 20 || string(b[:4]) != snapshotMagic {
		return 0, errBadSnapshot
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, snapshotCRC) != sum {
		return 0, errBadSnapshot
	}
	coveredTo := int64(binary.BigEndian.Uint64(body[4:]))
	count := binary.BigEndian.Uint32(body[12:])
	r := body[16:]
	m := make(map[int64]*producerEntry, min(int(count), len(r)/19))
	for range count {
		if len(r) < 19 {
			return 0, errBadSnapshot
		}
		id := int64(binary.BigEndian.Uint64(r))
		e := &producerEntry{epoch: int16(binary.BigEndian.Uint16(r[8:])), lastTimestamp: int64(binary.BigEndian.Uint64(r[10:]))}
		n := int(r[18])
		r = r[19:]
		if n > maxBatchesPerProducer || len(r) < n*32 {
			return 0, errBadSnapshot
		}
		for range n {
			e.batches = append(e.batches, batchMeta{
				firstSeq:     int32(binary.BigEndian.Uint32(r)),
				lastSeq:      int32(binary.BigEndian.Uint32(r[4:])),
				firstOffset:  int64(binary.BigEndian.Uint64(r[8:])),
				lastOffset:   int64(binary.BigEndian.Uint64(r[16:])),
				maxTimestamp: int64(binary.BigEndian.Uint64(r[24:])),
			})
			r = r[32:]
		}
		m[id] = e
	}
	if len(r) != 0 {
		return 0, errBadSnapshot
	}
	s.m = m
	return coveredTo, nil
}
