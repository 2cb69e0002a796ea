package storage

import (
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"sort"
	"time"

	"github.com/rs/zerolog"
)

// Log is one partition replica's log: a run of segments holding Kafka v2
// record batches, with checkpoints and a leader epoch cache.
//
// Not safe for concurrent use: the owning partition actor serializes every
// call. Regions returned by Read may be read concurrently from any goroutine.
type Log struct {
	dir    string
	cfg    Config
	fs     FS
	logger zerolog.Logger
	clock  func() time.Time

	// segs is ordered by base offset; the last is the active segment.
	// Invariant: len(segs) >= 1 while open; segs[i].next == segs[i+1].base.
	segs []*segment
	// logStart is the first offset a reader may ask for.
	// Invariant: segs[0].base <= logStart <= LogEndOffset().
	logStart int64
	// appended counts the bytes appended since open (BytesAppended).
	appended int64
	// hw is the high watermark the owner last set (or the checkpoint held).
	// Invariant: logStart <= hw <= LogEndOffset().
	hw int64
	// recoveryPoint: every offset below it is fsynced, with its index entries.
	// Invariant: recoveryPoint <= LogEndOffset().
	recoveryPoint int64
	// flushedIndex is the active segment's index state when the recovery
	// point last reached the log end (noIndexState when unknown); the
	// checkpoint carries it so Open can trust an intact active segment.
	flushedIndex indexState
	// written is the checkpoint as last written to disk.
	written partitionCheckpoint
	epochs  epochCache
	// cleanerOffset: offsets below it were compacted (CleanerOffset).
	cleanerOffset int64
	// keys decodes produced batches of a compacted log (checkKeys).
	keys *RecordReader
	// dirDirty is set when directory entries (segment files created, renamed)
	// changed since the directory's last fsync; dirGen counts such changes.
	dirDirty bool
	dirGen   uint64
	// lastFlushMs is the clock at the last flush (for flush.ms).
	lastFlushMs int64
	// syncs are SyncFunc snapshots not yet confirmed by MarkFlushed.
	syncs []syncSnapshot
	// failed is set when a write could not be undone; appends and other
	// mutations return it (it wraps ErrStorage) until the log is reopened.
	failed error
	closed bool
	report RecoveryReport
	// saved is scratch for undoing Append's in-place header rewrites.
	saved []savedHeader
	// cursors remember where recent reads ended (offset -> position), so a
	// consumer or follower reading sequentially skips the index lookup and
	// header walk. Entries are hints: each use checks the batch header.
	cursors    [4]readCursor
	nextCursor int
	// mapped lists sealed segments holding mappings (header map, index
	// maps), least recently used first; at most maxMappedSealed, so a log
	// reading old data holds few of the process's limited mappings.
	mapped  []*segment
	deleter *deleter
}

// maxMappedSealed bounds the sealed segments a log keeps mapped.
const maxMappedSealed = 2

type readCursor struct {
	seg *segment
	off int64
	pos int64
}

type savedHeader struct {
	pos   int
	base  int64
	epoch int32
}

// syncSnapshot is what a SyncFunc covered.
type syncSnapshot struct {
	upTo int64
	// durable is upTo lowered to every truncation since the SyncFunc: the
	// bytes a finished sync made durable that are still in the log. Above
	// it, offsets may have been re-appended with other, unsynced batches.
	// Invariant: durable <= upTo.
	durable int64
	segs    []*segment
	gens    []uint64
	dirGen  uint64
	index   indexState
}

// AppendInfo describes a successful append.
type AppendInfo struct {
	FirstOffset, LastOffset int64 // inclusive
	// MaxTimestamp is the largest batch maxTimestamp (-1 if none) and
	// OffsetOfMaxTimestamp the base offset of the first batch carrying it.
	MaxTimestamp         int64
	OffsetOfMaxTimestamp int64
	NumRecords           int32
	NumBatches           int32
	Size                 int32 // bytes appended
}

// RecoveryReport says what Open found and did.
type RecoveryReport struct {
	Dir string
	// CheckpointFound is false when partition-checkpoint was missing or
	// damaged (then everything is recovered).
	CheckpointFound bool
	RecoveryPoint   int64 // from the checkpoint, -1 if none
	// SegmentsRecovered counts segments scanned batch by batch (CRC checked,
	// indexes rebuilt); BatchesRecovered the batches found valid in them.
	SegmentsRecovered int
	BatchesRecovered  int
	// IndexesRebuilt lists segment log files whose indexes were rebuilt
	// because they were missing or failed a sanity check.
	IndexesRebuilt []string
	// Truncated is set when bytes were cut off.
	Truncated *Truncation
	// DeletedSegments lists segments removed: after a truncation point, or
	// wholly below the log start offset.
	DeletedSegments []string
	// RemovedFiles lists leftovers removed: *.tmp, *.deleted, orphan indexes.
	RemovedFiles   []string
	LogStartOffset int64
	LogEndOffset   int64
}

// Truncation describes bytes recovery cut off the log.
type Truncation struct {
	Segment  string // log file path
	Position int64  // byte position of the cut
	Offset   int64  // the new log end offset
	Bytes    int64  // bytes removed from this segment (later segments are in DeletedSegments)
	Reason   string
}

// Recovery returns the report of what Open found.
func (l *Log) Recovery() RecoveryReport { return l.report }

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// LogStartOffset is the first offset readers may fetch.
func (l *Log) LogStartOffset() int64 { return l.logStart }

// LogEndOffset is the offset the next appended record gets.
func (l *Log) LogEndOffset() int64 { return l.active().next }

// RecoveryPoint is the offset below which everything is fsynced.
func (l *Log) RecoveryPoint() int64 { return l.recoveryPoint }

// Size is the total size of the segments in bytes.
func (l *Log) Size() int64 {
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// NumSegments returns how many segments the log has.
func (l *Log) NumSegments() int { return len(l.segs) }

// HighWatermark returns the last value set (or checkpointed), clamped to
// [LogStartOffset, LogEndOffset].
func (l *Log) HighWatermark() int64 { return l.hw }

// SetHighWatermark records the high watermark (the caller owns its
// semantics); it is clamped to [LogStartOffset, LogEndOffset] and persisted
// by the next Checkpoint.
func (l *Log) SetHighWatermark(hw int64) {
	l.hw = min(max(hw, l.logStart), l.LogEndOffset())
}

func (l *Log) nowMs() int64 { return l.clock().UnixMilli() }

// writable returns why mutations are refused, if they are.
func (l *Log) writable() error {
	if l.closed {
		return ErrClosed
	}
	return l.failed
}

// fail marks the log failed after a write that could not be undone.
func (l *Log) fail(op string, err error) error {
	if l.failed == nil {
		l.failed = fmt.Errorf("%w: log failed during %s, reopen to recover: %w", ErrStorage, op, err)
		l.logger.Error().Err(err).Str("dir", l.dir).Str("op", op).Msg("storage: log failed; appends refused until reopened")
	}
	return l.failed
}

// Append validates the batches in records (one or more v2 record batches, as
// a Produce request carries them) and appends them all, or none: base offsets
// are rewritten to consecutive offsets from LogEndOffset and the partition
// leader epoch to leaderEpoch (neither is covered by the CRC). On success
// records has been rewritten in place (it is what was written); on error
// records is unchanged. Control batches are refused (ErrInvalidRecord): only
// AppendFromCoordinator may write them. Append never fsyncs and does not
// allocate on the steady path. A leaderEpoch newer than the epoch cache's
// latest is recorded in it, starting at the first offset appended.
func (l *Log) Append(records []byte, leaderEpoch int32) (AppendInfo, error) {
	return l.appendAsLeader(records, leaderEpoch, false)
}

// AppendFromCoordinator is Append for the transaction coordinator: control
// batches (transaction markers) are allowed.
func (l *Log) AppendFromCoordinator(records []byte, leaderEpoch int32) (AppendInfo, error) {
	return l.appendAsLeader(records, leaderEpoch, true)
}

func (l *Log) appendAsLeader(records []byte, leaderEpoch int32, allowControl bool) (info AppendInfo, err error) {
	defer onFault(debug.SetPanicOnFault(true), func(ferr error) {
		info, err = AppendInfo{}, l.fail("append", ferr)
	})

	if err := l.writable(); err != nil {
		return AppendInfo{}, err
	}
	leo := l.LogEndOffset()
	info = AppendInfo{FirstOffset: leo, MaxTimestamp: NoTimestamp, OffsetOfMaxTimestamp: -1}
	off := leo
	for p := 0; p < len(records); {
		sum, err := validateBatch(records[p:], l.cfg.MaxMessageBytes)
		if err != nil {
			return AppendInfo{}, fmt.Errorf("batch %d at byte %d: %w", info.NumBatches, p, err)
		}
		if sum.control && !allowControl {
			return AppendInfo{}, fmt.Errorf("%w: control batches may not be produced by clients", ErrInvalidRecord)
		}
		if l.cfg.Compacts() && !sum.control {
			if err := l.checkKeys(records[p : p+sum.size]); err != nil {
				return AppendInfo{}, fmt.Errorf("batch %d at byte %d: %w", info.NumBatches, p, err)
			}
		}
		if sum.maxTimestamp > info.MaxTimestamp {
			info.MaxTimestamp, info.OffsetOfMaxTimestamp = sum.maxTimestamp, off
		}
		info.NumBatches++
		info.NumRecords += sum.numRecords
		off += int64(sum.lastDelta) + 1
		p += sum.size
	}
	if info.NumBatches == 0 {
		return AppendInfo{}, fmt.Errorf("%w: no record batches", ErrInvalidRecord)
	}
	info.LastOffset = off - 1
	info.Size = int32(len(records))
	if err := l.checkAppendSize(len(records)); err != nil {
		return AppendInfo{}, err
	}
	if err := l.prepareAppend(int64(len(records)), info.MaxTimestamp, info.LastOffset, int(info.NumBatches)); err != nil {
		return AppendInfo{}, err
	}

	// Rewrite offsets and epochs in place, remembering the originals.
	l.saved = l.saved[:0]
	off = leo
	for p := 0; p < len(records); {
		b := records[p:]
		h := parseScanHeader(b)
		l.saved = append(l.saved, savedHeader{pos: p, base: h.base, epoch: h.epoch})
		putBaseOffset(b, off)
		putLeaderEpoch(b, leaderEpoch)
		off += h.lastOff - h.base + 1
		p += int(h.size)
	}
	if err := l.write(records); err != nil {
		for _, s := range l.saved {
			putBaseOffset(records[s.pos:], s.base)
			putLeaderEpoch(records[s.pos:], s.epoch)
		}
		return AppendInfo{}, err
	}
	if leaderEpoch >= 0 {
		l.epochs.assign(leaderEpoch, leo)
	}
	return info, nil
}

// AppendAsFollower appends batches copied from the leader: offsets and
// epochs are kept. The first batch must start at LogEndOffset and each next
// one right after the previous (else ErrOffsetMismatch). Frames and CRCs are
// validated as for Append; max.message.bytes is not applied (the leader
// accepted the batch) and inner records are not walked. The leader epoch cache
// learns every new epoch seen (epoch -> its first batch's base offset).
func (l *Log) AppendAsFollower(records []byte) (info AppendInfo, err error) {
	defer onFault(debug.SetPanicOnFault(true), func(ferr error) {
		info, err = AppendInfo{}, l.fail("append", ferr)
	})

	if err := l.writable(); err != nil {
		return AppendInfo{}, err
	}
	leo := l.LogEndOffset()
	info = AppendInfo{FirstOffset: leo, MaxTimestamp: NoTimestamp, OffsetOfMaxTimestamp: -1}
	off := leo
	for p := 0; p < len(records); {
		size, err := frameBatch(records[p:])
		if err != nil {
			if len(records)-p >= BatchHeaderSize && int8(records[p+offMagic]) != 2 {
				err = fmt.Errorf("%w: magic %d, only v2 batches are supported", ErrInvalidRecord, int8(records[p+offMagic]))
			}
			return AppendInfo{}, fmt.Errorf("batch %d at byte %d: %w", info.NumBatches, p, err)
		}
		h, _ := ParseBatchHeader(records[p:])
		if h.BaseOffset != off {
			return AppendInfo{}, fmt.Errorf("%w: batch %d starts at offset %d, expected %d", ErrOffsetMismatch, info.NumBatches, h.BaseOffset, off)
		}
		if !plausibleCount(h) {
			return AppendInfo{}, fmt.Errorf("%w: %d records but last offset delta %d", ErrInvalidRecord, h.NumRecords, h.LastOffsetDelta)
		}
		if h.MaxTimestamp > info.MaxTimestamp {
			info.MaxTimestamp, info.OffsetOfMaxTimestamp = h.MaxTimestamp, off
		}
		info.NumBatches++
		info.NumRecords += h.NumRecords
		off = h.NextOffset()
		p += size
	}
	if info.NumBatches == 0 {
		return AppendInfo{}, fmt.Errorf("%w: no record batches", ErrInvalidRecord)
	}
	info.LastOffset = off - 1
	info.Size = int32(len(records))
	if err := l.checkAppendSize(len(records)); err != nil {
		return AppendInfo{}, err
	}
	if err := l.prepareAppend(int64(len(records)), info.MaxTimestamp, info.LastOffset, int(info.NumBatches)); err != nil {
		return AppendInfo{}, err
	}
	if err := l.write(records); err != nil {
		return AppendInfo{}, err
	}
	for p := 0; p < len(records); {
		h := parseScanHeader(records[p:])
		l.epochs.assign(h.epoch, h.base)
		p += int(h.size)
	}
	return info, nil
}

// checkKeys refuses a batch with a record without a key: a compacted log
// keeps records by key (Kafka: INVALID_RECORD). Compressed batches are
// decompressed to look, as Kafka's validator does.
func (l *Log) checkKeys(batch []byte) error {
	if l.keys == nil {
		l.keys = NewRecordReader(maxCleanBatch)
	}
	recs, err := l.keys.Records(batch)
	if err != nil {
		return err
	}
	for i, r := range recs {
		if r.Key == nil {
			return fmt.Errorf("%w: compacted topic cannot accept a record without a key (record %d)", ErrInvalidRecord, i)
		}
	}
	return nil
}

func (l *Log) checkAppendSize(n int) error {
	if int64(n) > l.cfg.SegmentBytes {
		return fmt.Errorf("%w: append of %d bytes exceeds segment.bytes %d", ErrMessageTooLarge, n, l.cfg.SegmentBytes)
	}
	return nil
}

// prepareAppend rolls if needed and makes room in the index buffers, so that
// the append itself can only fail in the data write.
func (l *Log) prepareAppend(size, maxTs, lastOffset int64, batches int) error {
	s := l.active()
	if l.shouldRoll(s, size, maxTs, lastOffset) {
		if err := l.roll(); err != nil {
			return err
		}
		s = l.active()
	}
	if err := s.idx.roomFor(batches); err != nil {
		return storageErr("write "+s.idx.path, err)
	}
	if err := s.tidx.roomFor(batches); err != nil {
		return storageErr("write "+s.tidx.path, err)
	}
	return nil
}

// shouldRoll is Kafka's LogSegment.shouldRoll: the segment would grow past
// segment.bytes, an index is full, the incoming batches are segment.ms newer
// than the segment's first batch (or, without timestamps, the segment is
// segment.ms old), or relative offsets would overflow 32 bits.
func (l *Log) shouldRoll(s *segment, size, maxTs, lastOffset int64) bool {
	if s.size == 0 {
		return false
	}
	if s.size+size > l.cfg.SegmentBytes || s.indexFull {
		return true
	}
	if lastOffset-s.base > math.MaxInt32 {
		return true
	}
	if s.rollTs >= 0 {
		if maxTs >= 0 && maxTs-s.rollTs > l.cfg.SegmentMs {
			return true
		}
	} else if l.nowMs()-s.created > l.cfg.SegmentMs {
		return true
	}
	return false
}

// roll seals the active segment and starts a new one at LogEndOffset.
func (l *Log) roll() error {
	old := l.active()
	if err := old.seal(); err != nil {
		old.activate()
		return storageErr("seal "+old.logPath, err)
	}
	s, err := createSegment(l.fs, l.dir, old.next, l.cfg, l.nowMs())
	if err != nil {
		old.activate()
		return storageErr("create segment", err)
	}
	l.segs = append(l.segs, s)
	l.dirDirty = true
	l.dirGen++
	l.touch(old)
	l.touch(s)
	l.logger.Debug().Str("dir", l.dir).Int64("base_offset", s.base).Msg("storage: rolled segment")
	l.assertInvariants("roll")
	return nil
}

// write appends records (validated, whole batches) to the active segment and
// indexes them. On failure nothing stays visible: the file is cut back; if
// even that fails the log is marked failed.
func (l *Log) write(records []byte) error {
	s := l.active()
	pos := s.size
	snap := *s
	idxN, tidxN := s.idx.entries(), s.tidx.entries()
	if _, err := s.log.WriteAt(records, pos); err != nil {
		werr := storageErr("write "+s.logPath, err)
		if terr := s.log.Truncate(pos); terr != nil {
			return l.fail("append rollback", errors.Join(werr, terr))
		}
		return werr
	}
	s.dirty = true
	s.writeGen++
	for p := int64(0); p < int64(len(records)); {
		h := parseScanHeader(records[p:])
		maxTs := int64(beUint64(records[p+offMaxTimestamp:]))
		if err := s.indexBatch(h.base, h.lastOff, maxTs, pos+p, h.size, l.cfg.IndexIntervalBytes); err != nil {
			// Only possible when one append carries more batches than the
			// index buffers hold. Undo everything.
			werr := storageErr("write index", err)
			terr := errors.Join(s.log.Truncate(pos), s.idx.truncateEntries(idxN), s.tidx.truncateEntries(tidxN))
			restoreSegment(s, &snap)
			if terr != nil {
				return l.fail("append rollback", errors.Join(werr, terr))
			}
			return werr
		}
		p += h.size
	}
	l.appended += int64(len(records))
	return nil
}

// BytesAppended is how many bytes were appended since the log was opened
// (as leader or follower): the owner derives a bytes-in rate from it.
func (l *Log) BytesAppended() int64 { return l.appended }

// restoreSegment puts back the summary fields of s from a snapshot.
func restoreSegment(s, snap *segment) {
	s.size, s.next = snap.size, snap.next
	s.maxTs, s.maxTsOff, s.rollTs = snap.maxTs, snap.maxTsOff, snap.rollTs
	s.bytesSinceIndex, s.indexFull = snap.bytesSinceIndex, snap.indexFull
}

// segmentFor returns the index of the segment holding offset off: the last
// one whose base is <= off.
func (l *Log) segmentFor(off int64) int {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > off })
	return max(i-1, 0)
}

// ensureChecked sanity-checks a segment's indexes the first time they are
// used, rebuilding them if they fail, and loads its tail summary.
func (l *Log) ensureChecked(s *segment) error {
	l.touch(s)
	if s.checked {
		return nil
	}
	if err := s.checkIndexes(s == l.active()); err != nil {
		l.logger.Warn().Err(err).Str("segment", s.logPath).Msg("storage: index failed sanity check; rebuilding")
		if rerr := l.rebuild(s); rerr != nil {
			return rerr
		}
	}
	next := s.next
	if pos, err := s.loadTail(l.cfg.IndexIntervalBytes); err != nil {
		// Below the recovery point: the disk damaged data we had synced.
		// Report it on reads rather than cut sealed data.
		l.logger.Error().Err(err).Str("segment", s.logPath).Int64("position", pos).Msg("storage: corrupt batch in flushed segment")
		s.next = next
		return err
	}
	if s != l.active() {
		if s.next != next {
			l.logger.Error().Str("segment", s.logPath).Int64("next_offset", s.next).Int64("expected", next).Msg("storage: segment ends at an unexpected offset")
			s.next = next
		}
		// A sealed segment's time index ends with its largest timestamp; put
		// it back if the file lost it (a torn or truncated index).
		if ts, _, ok, err := s.tidx.last(); err == nil && s.maxTs >= 0 && (!ok || ts < s.maxTs) {
			if err := s.seal(); err != nil {
				return storageErr("repair "+s.tidx.path, err)
			}
		}
	}
	s.checked = true
	return nil
}

// rebuild recreates a segment's indexes.
func (l *Log) rebuild(s *segment) error {
	active := s == l.active()
	if err := s.rebuildIndexes(l.cfg.IndexIntervalBytes); err != nil {
		return storageErr("rebuild index "+s.logPath, err)
	}
	if !active {
		if err := s.seal(); err != nil {
			return storageErr("rebuild index "+s.logPath, err)
		}
	}
	l.report.IndexesRebuilt = append(l.report.IndexesRebuilt, s.logPath)
	return nil
}

// locate finds the batch holding off in s, rebuilding a damaged index once.
func (l *Log) locate(s *segment, off int64) (int64, scanHeader, error) {
	if err := l.ensureChecked(s); err != nil {
		return 0, scanHeader{}, err
	}
	pos, h, err := s.locate(off)
	if errors.Is(err, ErrCorruptIndex) {
		l.logger.Warn().Str("segment", s.logPath).Int64("offset", off).Msg("storage: index entry does not match the log; rebuilding")
		if rerr := l.rebuild(s); rerr != nil {
			return 0, scanHeader{}, rerr
		}
		pos, h, err = s.locate(off)
	}
	return pos, h, err
}

// Read returns whole batches starting with the one that holds from, up to
// maxBytes in total, never including a batch whose last offset is >=
// maxOffset (the caller passes the high watermark; it is capped at
// LogEndOffset). If the first batch alone exceeds maxBytes it is returned
// when minOneBatch is true (KIP-74), else the region is empty. A region never
// spans segments: the caller fetches again from NextOffset for more. from ==
// LogEndOffset (or >= maxOffset) gives an empty region; from outside
// [LogStartOffset, LogEndOffset] gives ErrOffsetOutOfRange.
func (l *Log) Read(from int64, maxBytes int32, maxOffset int64, minOneBatch bool) (r Region, err error) {
	defer onFault(debug.SetPanicOnFault(true), func(ferr error) {
		r, err = Region{}, ferr
	})

	if l.closed {
		return Region{}, ErrClosed
	}
	leo := l.LogEndOffset()
	if from < l.logStart || from > leo {
		return Region{}, fmt.Errorf("%w: offset %d not in [%d, %d]", ErrOffsetOutOfRange, from, l.logStart, leo)
	}
	maxOffset = min(maxOffset, leo)
	if from >= maxOffset {
		return emptyRegion(from), nil
	}
	i := l.segmentFor(from)
	for i < len(l.segs)-1 && from >= l.segs[i].next {
		i++
	}
	s := l.segs[i]
	l.touch(s)
	pos, h, ok := l.cursorAt(s, from)
	if !ok {
		var err error
		if pos, h, err = l.locate(s, from); err != nil {
			return Region{}, err
		}
	}
	if h.lastOff >= maxOffset {
		return emptyRegion(from), nil
	}
	if h.size > int64(maxBytes) {
		if !minOneBatch {
			return emptyRegion(from), nil
		}
		return Region{f: s.log, pos: pos, n: h.size, first: h.base, next: h.lastOff + 1}, nil
	}
	end, next, err := s.boundary(pos, h.size, h.lastOff+1, pos+int64(maxBytes), maxOffset)
	if errors.Is(err, ErrCorruptIndex) {
		if rerr := l.rebuild(s); rerr != nil {
			return Region{}, rerr
		}
		end, next, err = s.boundary(pos, h.size, h.lastOff+1, pos+int64(maxBytes), maxOffset)
	}
	if err != nil {
		return Region{}, err
	}
	if end < s.size {
		l.cursors[l.nextCursor] = readCursor{seg: s, off: next, pos: end}
		l.nextCursor = (l.nextCursor + 1) % len(l.cursors)
	}
	return Region{f: s.log, pos: pos, n: end - pos, first: h.base, next: next}, nil
}

// cursorAt returns the batch starting at offset from in s if a recent read
// ended there.
func (l *Log) cursorAt(s *segment, from int64) (int64, scanHeader, bool) {
	for _, c := range l.cursors {
		if c.seg == s && c.off == from && c.pos < s.size {
			h, err := s.readHeader(c.pos)
			if err == nil && h.base == from {
				return c.pos, h, true
			}
		}
	}
	return 0, scanHeader{}, false
}

func (l *Log) clearCursors() { l.cursors = [len(l.cursors)]readCursor{} }

// ScanBatches calls fn with the header of every batch in [from,
// LogEndOffset), in order, starting with the batch holding from (from below
// the log start starts at the log start). Only headers are read. It stops at
// the first error fn returns, and returns it.
func (l *Log) ScanBatches(from int64, fn func(h BatchHeader) error) (err error) {
	defer onFault(debug.SetPanicOnFault(true), func(ferr error) {
		err = ferr
	})

	if l.closed {
		return ErrClosed
	}
	from = max(from, l.logStart)
	if from >= l.LogEndOffset() {
		return nil
	}
	for i := l.segmentFor(from); i < len(l.segs); i++ {
		s := l.segs[i]
		if s.size == 0 || from >= s.next {
			continue
		}
		pos := int64(0)
		if from > s.base {
			p, _, err := l.locate(s, from)
			if err != nil {
				return err
			}
			pos = p
		}
		for pos < s.size {
			h, err := s.readFullHeader(pos, s.size)
			if err != nil {
				return err
			}
			if err := fn(h); err != nil {
				return err
			}
			pos += h.Size()
		}
	}
	return nil
}

// TruncateTo removes every batch holding an offset >= offset (a follower
// diverged from its leader). The cut lands on a batch boundary, so the new
// LogEndOffset may be below offset when offset is inside a batch. Indexes,
// the epoch cache, the high watermark and the recovery point follow; the
// change is fsynced and checkpointed before returning. offset >=
// LogEndOffset is a no-op; offset below the log start empties the log
// (TruncateFullyAndStartAt).
func (l *Log) TruncateTo(offset int64) (err error) {
	defer onFault(debug.SetPanicOnFault(true), func(ferr error) {
		err = l.fail("truncate", ferr)
	})

	if err := l.writable(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("%w: truncate to negative offset %d", ErrOffsetOutOfRange, offset)
	}
	if offset >= l.LogEndOffset() {
		// Nothing to cut, but an epoch that starts at the log end has no
		// batch in this log: a replica that led briefly without appending
		// holds such an entry, and its leader may not know the epoch.
		// Keeping it makes the follower ask for that epoch again forever
		// (Kafka's truncateTo trims the cache in this case too).
		l.epochs.truncateFromEnd(l.LogEndOffset())
		if l.epochs.dirty {
			return l.writeEpochs()
		}
		return nil
	}
	if offset < l.logStart {
		return l.TruncateFullyAndStartAt(offset)
	}
	i := l.segmentFor(offset)
	s := l.segs[i]
	if err := l.ensureChecked(s); err != nil {
		return err
	}
	if err := l.removeSegments(l.segs[i+1:], "truncate"); err != nil {
		return l.fail("truncate", err)
	}
	l.segs = l.segs[:i+1]
	l.clearCursors()
	if offset < s.next {
		pos, h, err := l.locate(s, offset)
		if err != nil {
			return l.fail("truncate", err)
		}
		if err := s.truncateTo(pos, h.base, l.cfg.IndexIntervalBytes); err != nil {
			return l.fail("truncate", err)
		}
	}
	s.activate()
	l.forget(s)
	leo := s.next
	l.epochs.truncateFromEnd(leo)
	l.hw = min(l.hw, leo)
	l.recoveryPoint = min(l.recoveryPoint, leo)
	l.clampSyncs(leo)
	l.flushedIndex = noIndexState
	if err := s.log.Sync(); err != nil {
		return l.fail("truncate", err)
	}
	if err := l.Checkpoint(); err != nil {
		return l.fail("truncate", err)
	}
	l.logger.Info().Str("dir", l.dir).Int64("offset", offset).Int64("log_end_offset", leo).Msg("storage: truncated log")
	l.assertInvariants("TruncateTo")
	return nil
}

// TruncateFullyAndStartAt empties the log and restarts it at offset (a
// follower too far behind its leader's log start). The epoch cache is
// cleared; log start, high watermark and recovery point become offset.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	if err := l.writable(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("%w: start at negative offset %d", ErrOffsetOutOfRange, offset)
	}
	old := l.segs
	// Create the new segment first; if one with that base exists (offset is
	// the base of an existing segment) it is removed along with the others
	// before being recreated.
	for _, s := range old {
		if s.base == offset {
			if err := l.removeSegments([]*segment{s}, "truncate fully"); err != nil {
				return l.fail("truncate fully", err)
			}
		}
	}
	ns, err := createSegment(l.fs, l.dir, offset, l.cfg, l.nowMs())
	if err != nil {
		return l.fail("truncate fully", err)
	}
	var rest []*segment
	for _, s := range old {
		if s.base != offset {
			rest = append(rest, s)
		}
	}
	l.segs = []*segment{ns}
	l.clearCursors()
	l.dirDirty = true
	l.dirGen++
	l.logStart, l.hw, l.recoveryPoint = offset, offset, offset
	l.clampSyncs(offset)
	l.flushedIndex = indexState{Base: offset}
	l.epochs.clear()
	if err := l.removeSegments(rest, "truncate fully"); err != nil {
		return l.fail("truncate fully", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail("truncate fully", err)
	}
	l.dirDirty = false
	if err := l.Checkpoint(); err != nil {
		return l.fail("truncate fully", err)
	}
	l.logger.Info().Str("dir", l.dir).Int64("offset", offset).Msg("storage: log emptied and restarted")
	l.assertInvariants("TruncateFullyAndStartAt")
	return nil
}

// removeSegments takes segments out of service: their index files are
// removed at once (only the owner reads indexes), their log files renamed
// *.deleted; all descriptors are closed, and the log file removed, after
// file.delete.delay.ms, so Regions and SyncFuncs holding them keep working.
func (l *Log) removeSegments(segs []*segment, why string) error {
	var errs []error
	for _, s := range segs {
		files := []File{s.log, s.idx.f, s.tidx.f}
		var paths []string
		dpath := s.logPath + deletedSuffix
		if err := l.fs.Rename(s.logPath, dpath); err != nil {
			errs = append(errs, err)
			paths = append(paths, s.logPath)
		} else {
			paths = append(paths, dpath)
		}
		s.log, s.idx.f, s.tidx.f = nil, nil, nil
		if s.hdrUnmap != nil {
			if err := s.hdrUnmap(); err != nil {
				errs = append(errs, err)
			}
			s.hdrMap, s.hdrUnmap = nil, nil
		}
		l.forget(s)
		for _, x := range []*indexFile{&s.idx.indexFile, &s.tidx.indexFile} {
			if err := x.close(); err != nil {
				errs = append(errs, err)
			}
			if err := l.fs.Remove(x.path); err != nil && !isNotExist(err) {
				errs = append(errs, err)
			}
		}
		l.deleter.schedule(files, paths)
		l.dirDirty = true
		l.dirGen++
		l.logger.Debug().Str("segment", s.logPath).Str("why", why).Msg("storage: segment deleted")
	}
	return errors.Join(errs...)
}

// DeleteRecordsBefore moves the log start up to offset (DeleteRecords; the
// caller checks offset <= high watermark) and deletes segments wholly below
// it. The new log start is checkpointed before returning.
func (l *Log) DeleteRecordsBefore(offset int64) (err error) {
	defer onFault(debug.SetPanicOnFault(true), func(ferr error) {
		err = l.fail("delete records", ferr)
	})

	if err := l.writable(); err != nil {
		return err
	}
	if offset > l.LogEndOffset() || offset < 0 {
		return fmt.Errorf("%w: delete records before %d, log end offset %d", ErrOffsetOutOfRange, offset, l.LogEndOffset())
	}
	if offset <= l.logStart {
		return nil
	}
	l.logStart = offset
	l.hw = max(l.hw, offset)
	l.epochs.truncateFromStart(offset)
	k := 0
	for k < len(l.segs)-1 && l.segs[k].next <= offset {
		k++
	}
	dead := append([]*segment(nil), l.segs[:k]...)
	l.segs = append(l.segs[:0:0], l.segs[k:]...)
	if err := l.Checkpoint(); err != nil {
		return storageErr("checkpoint", err)
	}
	if err := l.removeSegments(dead, "delete records"); err != nil {
		// The checkpoint already moved the log start; leftovers are removed
		// on the next open.
		l.logger.Warn().Err(err).Str("dir", l.dir).Msg("storage: removing segments below the log start failed")
	}
	l.assertInvariants("DeleteRecordsBefore")
	return nil
}

// ApplyRetention deletes the oldest segments while retention.ms or
// retention.bytes says so, whole segments only and only below the high
// watermark. Like Kafka, when the active segment itself is due it is rolled
// first so it can go, leaving an empty log whose start is the end offset.
func (l *Log) ApplyRetention() (deleted int, err error) {
	defer onFault(debug.SetPanicOnFault(true), func(ferr error) {
		err = l.fail("retention", ferr)
	})

	if err := l.writable(); err != nil {
		return 0, err
	}
	if !l.cfg.Deletes() {
		return 0, nil
	}
	now := l.nowMs()
	excess := int64(-1)
	if l.cfg.RetentionBytes >= 0 {
		excess = l.Size() - l.cfg.RetentionBytes
	}
	for {
		s := l.segs[0]
		last := len(l.segs) == 1
		if s.size == 0 || s.next > l.hw {
			break
		}
		if err := l.ensureChecked(s); err != nil {
			return deleted, err
		}
		byTime := false
		if l.cfg.RetentionMs >= 0 {
			ts := s.maxTs
			if ts < 0 {
				ts = s.created
			}
			byTime = now-ts > l.cfg.RetentionMs
		}
		bySize := excess >= 0 && excess-s.size >= 0
		if !byTime && !bySize {
			break
		}
		if last {
			if err := l.roll(); err != nil {
				return deleted, err
			}
		}
		if bySize {
			excess -= s.size
		}
		l.segs = append(l.segs[:0:0], l.segs[1:]...)
		l.logStart = max(l.logStart, l.segs[0].base)
		l.hw = max(l.hw, l.logStart)
		l.epochs.truncateFromStart(l.logStart)
		// No checkpoint here: the new log start is the first remaining
		// segment's base, which Open derives from the files anyway. (An
		// fsync here would also stall behind the writeback of a whole
		// segment on ext4.) The next Checkpoint records it.
		if err := l.removeSegments([]*segment{s}, "retention"); err != nil {
			l.logger.Warn().Err(err).Str("segment", s.logPath).Msg("storage: removing expired segment failed")
		}
		deleted++
		l.logger.Info().Str("segment", s.logPath).Bool("by_time", byTime).Bool("by_size", bySize).Msg("storage: retention deleted segment")
	}
	return deleted, nil
}

// OffsetForTimestamp answers ListOffsets for a timestamp: the first offset
// whose record timestamp is >= ts, and that record's timestamp. It picks the
// first segment whose largest timestamp is >= ts, starts from the time
// index, scans batch headers, then walks the records of the batch found.
// Compressed and log-append-time batches are answered at batch granularity
// (their base offset and max timestamp). Returns (-1, -1) when no record is
// that new (the caller answers LogEndOffset).
func (l *Log) OffsetForTimestamp(ts int64) (off int64, rts int64, err error) {
	defer onFault(debug.SetPanicOnFault(true), func(ferr error) {
		off, rts, err = -1, -1, ferr
	})

	if l.closed {
		return -1, -1, ErrClosed
	}
	for i := l.segmentFor(l.logStart); i < len(l.segs); i++ {
		s := l.segs[i]
		if s.size == 0 {
			continue
		}
		if err := l.ensureChecked(s); err != nil {
			return -1, -1, err
		}
		if s.maxTs < ts {
			continue
		}
		o, t, found, err := l.searchTimestamp(s, ts)
		if err != nil {
			return -1, -1, err
		}
		if found {
			return max(o, l.logStart), t, nil
		}
	}
	return -1, -1, nil
}

func (l *Log) searchTimestamp(s *segment, ts int64) (int64, int64, bool, error) {
	pos := int64(0)
	if _, t, off, ok, err := s.tidx.lastBelow(ts); err != nil {
		return 0, 0, false, storageErr("read "+s.tidx.path, err)
	} else if ok {
		p, h, err := l.locate(s, off)
		if err != nil {
			return 0, 0, false, err
		}
		full, err := s.readFullHeader(p, s.size)
		if err != nil || h.base != off || full.MaxTimestamp != t {
			// The time index lies; rebuild it and scan from the start.
			l.logger.Warn().Str("segment", s.logPath).Msg("storage: time index entry does not match the log; rebuilding")
			if rerr := l.rebuild(s); rerr != nil {
				return 0, 0, false, rerr
			}
		} else {
			pos = p
		}
	}
	for pos < s.size {
		h, err := s.readFullHeader(pos, s.size)
		if err != nil {
			return 0, 0, false, err
		}
		if h.MaxTimestamp >= ts && h.LastOffset() >= l.logStart {
			b, err := s.readBatch(pos, h.Size())
			if err != nil {
				return 0, 0, false, err
			}
			off, rts, ok := findRecordAtOrAfterTimestamp(b, ts)
			if ok {
				return off, rts, true, nil
			}
		}
		pos += h.Size()
	}
	return 0, 0, false, nil
}

// MaxTimestampOffset answers ListOffsets with timestamp -3 (KIP-734): the
// offset and timestamp of the record with the largest timestamp (the first
// such). (-1, -1) if the log has no timestamps. Compressed batches answer
// with their base offset.
func (l *Log) MaxTimestampOffset() (off int64, ts int64) {
	defer onFault(debug.SetPanicOnFault(true), func(_ error) {
		off, ts = -1, -1
	})

	var best *segment
	for _, s := range l.segs {
		if s.size == 0 {
			continue
		}
		if err := l.ensureChecked(s); err != nil {
			continue
		}
		if s.maxTs >= 0 && (best == nil || s.maxTs > best.maxTs) {
			best = s
		}
	}
	if best == nil {
		return -1, -1
	}
	pos, h, err := l.locate(best, best.maxTsOff)
	if err != nil {
		return best.maxTsOff, best.maxTs
	}
	b, err := best.readBatch(pos, h.size)
	if err != nil {
		return best.maxTsOff, best.maxTs
	}
	return findMaxTimestampRecord(b), best.maxTs
}

// AssignEpoch records that leader epoch epoch starts at startOffset (a new
// leader calls it with its log end offset). Older epochs are ignored; the
// epoch checkpoint is written (fsynced) when the cache changes.
func (l *Log) AssignEpoch(epoch int32, startOffset int64) error {
	if err := l.writable(); err != nil {
		return err
	}
	if !l.epochs.assign(epoch, startOffset) {
		return nil
	}
	return l.writeEpochs()
}

// LatestEpoch returns the newest epoch in the leader epoch cache.
func (l *Log) LatestEpoch() (int32, bool) {
	e, ok := l.epochs.latest()
	return e.Epoch, ok
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch (KIP-101/279), as Kafka's
// LeaderEpochFileCache.endOffsetFor: for the latest epoch, (epoch,
// LogEndOffset); for an older one, the largest cached epoch <= epoch and the
// start offset of the next higher cached epoch; for an epoch below every
// cached one, (epoch, start offset of the first cached epoch); for an epoch
// above the latest, a negative epoch, or an empty cache, (-1, -1), which is
// UNDEFINED_EPOCH / UNDEFINED_EPOCH_OFFSET.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	return l.epochs.endOffsetFor(epoch, l.LogEndOffset())
}

// EpochEntries returns a copy of the leader epoch cache as (epoch, start
// offset) pairs, oldest first.
func (l *Log) EpochEntries() [][2]int64 {
	out := make([][2]int64, len(l.epochs.entries))
	for i, e := range l.epochs.entries {
		out[i] = [2]int64{int64(e.Epoch), e.Start}
	}
	return out
}

func (l *Log) writeEpochs() error {
	if err := writeFileAtomic(l.fs, l.dir, epochCheckpointName, l.epochs.encode()); err != nil {
		return storageErr("write "+epochCheckpointName, err)
	}
	l.epochs.dirty = false
	return nil
}

// MaybeFlush flushes when flush.messages or flush.ms say so. Call it after
// appends and on ticks.
func (l *Log) MaybeFlush() error {
	if err := l.writable(); err != nil {
		return err
	}
	unflushed := l.LogEndOffset() - l.recoveryPoint
	if unflushed <= 0 {
		return nil
	}
	if unflushed >= l.cfg.FlushMessages || l.nowMs()-l.lastFlushMs >= l.cfg.FlushMs {
		return l.Flush()
	}
	return nil
}

// Flush fsyncs everything written (segment files, indexes, the directory),
// advances the recovery point to LogEndOffset and writes the checkpoints. A
// failed fsync marks the log failed: the page cache may have dropped the
// data, so only a reopen (recovering from the old recovery point) is safe.
func (l *Log) Flush() (err error) {
	defer onFault(debug.SetPanicOnFault(true), func(ferr error) {
		err = l.fail("flush", ferr)
	})

	if err := l.writable(); err != nil {
		return err
	}
	leo := l.LogEndOffset()
	for _, s := range l.segs {
		if !s.dirty && s.next <= l.recoveryPoint {
			continue
		}
		if err := s.sync(); err != nil {
			return l.fail("flush", storageErr("sync "+s.logPath, err))
		}
		s.dirty = false
	}
	if l.dirDirty {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.fail("flush", storageErr("sync dir", err))
		}
		l.dirDirty = false
	}
	l.syncs = l.syncs[:0]
	l.recoveryPoint = max(l.recoveryPoint, leo)
	if st, err := l.active().indexState(); err == nil {
		l.flushedIndex = st
	} else {
		l.flushedIndex = noIndexState
	}
	l.lastFlushMs = l.nowMs()
	return l.Checkpoint()
}

// SyncFunc supports "fsync before acknowledging" without blocking the owner:
// it writes out buffered index entries, then returns upTo (everything below
// it is covered) and a function, safe to run on another goroutine, that
// fsyncs those bytes. It holds its own file references, so concurrent
// appends and rolls do not disturb it (a segment deleted meanwhile keeps its
// files open for file.delete.delay.ms). When it succeeds the owner calls
// MarkFlushed(upTo). Batch acknowledgements: one SyncFunc covers every
// append before it.
func (l *Log) SyncFunc() (upTo int64, sync func() error) {
	defer onFault(debug.SetPanicOnFault(true), func(ferr error) {
		e := l.fail("sync", ferr)
		upTo, sync = l.recoveryPoint, func() error { return e }
	})
	if err := l.writable(); err != nil {
		return l.recoveryPoint, func() error { return err }
	}
	upTo = l.LogEndOffset()
	snap := syncSnapshot{upTo: upTo, durable: upTo, dirGen: l.dirGen}
	var files []File
	// Index files are synced by path: the owner may close a sealed index's
	// descriptor (it is served by its mapping) while the sync runs.
	var paths []string
	for _, s := range l.segs {
		if !s.dirty && s.next <= l.recoveryPoint {
			continue
		}
		if err := s.idx.flush(); err != nil {
			e := storageErr("write "+s.idx.path, err)
			return l.recoveryPoint, func() error { return e }
		}
		if err := s.tidx.flush(); err != nil {
			e := storageErr("write "+s.tidx.path, err)
			return l.recoveryPoint, func() error { return e }
		}
		files = append(files, s.log)
		paths = append(paths, s.idx.path, s.tidx.path)
		snap.segs = append(snap.segs, s)
		snap.gens = append(snap.gens, s.writeGen)
	}
	dirSync := l.dirDirty
	snap.index = noIndexState
	if st, err := l.active().indexState(); err == nil {
		snap.index = st
	}
	l.syncs = append(l.syncs, snap)
	fs, dir := l.fs, l.dir
	return upTo, func() error {
		for _, f := range files {
			if err := f.Sync(); err != nil {
				return storageErr("sync", err)
			}
		}
		for _, p := range paths {
			f, err := fs.Open(p)
			if isNotExist(err) {
				continue // the segment was deleted meanwhile
			}
			if err != nil {
				return storageErr("sync", err)
			}
			err = f.Sync()
			f.Close()
			if err != nil {
				return storageErr("sync", err)
			}
		}
		if dirSync {
			if err := fs.SyncDir(dir); err != nil {
				return storageErr("sync dir", err)
			}
		}
		return nil
	}
}

// MarkFlushed records that a SyncFunc covering everything below upTo
// succeeded: the recovery point advances (persisted by the next Checkpoint).
// A truncation since the SyncFunc limits the advance to the truncation
// point: offsets above it may hold batches appended after the sync began.
func (l *Log) MarkFlushed(upTo int64) {
	if l.closed {
		return
	}
	for _, sn := range l.syncs {
		if sn.upTo <= upTo {
			if reach := min(sn.durable, l.LogEndOffset()); reach > l.recoveryPoint {
				l.recoveryPoint = reach
			}
		}
	}
	keep := l.syncs[:0]
	for _, sn := range l.syncs {
		if sn.upTo > upTo {
			keep = append(keep, sn)
			continue
		}
		for i, s := range sn.segs {
			if s.writeGen == sn.gens[i] {
				s.dirty = false
			}
		}
		if sn.dirGen == l.dirGen {
			l.dirDirty = false
		}
		if sn.durable == sn.upTo && sn.upTo == l.recoveryPoint {
			l.flushedIndex = sn.index
		}
	}
	l.syncs = keep
}

// clampSyncs lowers what the SyncFuncs in flight will make durable to end,
// the log end after a truncation.
func (l *Log) clampSyncs(end int64) {
	for i := range l.syncs {
		l.syncs[i].durable = min(l.syncs[i].durable, end)
	}
}

// Checkpoint writes the checkpoints that changed: the leader epoch cache
// first (the recovery point must never claim offsets whose epochs are not
// recorded), then recovery point, high watermark and log start. Each file is
// replaced atomically (temp file, fsync, rename, fsync of the directory).
// Call it periodically (Kafka: every few seconds) and after SetHighWatermark
// when the high watermark must survive a restart.
func (l *Log) Checkpoint() error {
	if l.closed {
		return ErrClosed
	}
	if l.epochs.dirty {
		if err := l.writeEpochs(); err != nil {
			return err
		}
	}
	cp := partitionCheckpoint{RecoveryPoint: l.recoveryPoint, HighWatermark: l.hw, LogStartOffset: l.logStart, ActiveIndex: l.flushedIndex, CleanerOffset: l.cleanerOffset}
	if cp == l.written {
		return nil
	}
	if err := writeFileAtomic(l.fs, l.dir, partitionCheckpointName, cp.encode()); err != nil {
		return storageErr("write "+partitionCheckpointName, err)
	}
	l.written = cp
	return nil
}

// Close flushes, checkpoints and closes the log. Pending segment deletions
// complete now, so Regions from this log become unreadable.
func (l *Log) Close() error {
	if l.closed {
		return nil
	}
	var errs []error
	if l.failed == nil {
		errs = append(errs, l.Flush())
	}
	l.closed = true
	for _, s := range l.segs {
		errs = append(errs, s.close())
	}
	l.deleter.flushAll()
	return errors.Join(errs...)
}

// Delete closes the log and removes its directory (topic deletion,
// StopReplica with delete).
func (l *Log) Delete() error {
	if !l.closed {
		l.failed = nil // no point flushing data about to be deleted, but close cleanly
		l.closed = true
		for _, s := range l.segs {
			_ = s.close()
		}
		l.deleter.flushAll()
	}
	if err := l.fs.RemoveAll(l.dir); err != nil {
		return storageErr("remove "+l.dir, err)
	}
	return nil
}

func beUint64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// touch is called before the owner reads a segment's headers or indexes: it
// maps the segment if possible and keeps the LRU of mapped sealed segments.
func (l *Log) touch(s *segment) {
	if s == l.active() {
		s.mapHeaders(l.cfg.SegmentBytes)
		return
	}
	s.mapHeaders(s.size)
	for i, m := range l.mapped {
		if m == s {
			copy(l.mapped[i:], l.mapped[i+1:])
			l.mapped[len(l.mapped)-1] = s
			return
		}
	}
	l.mapped = append(l.mapped, s)
	if len(l.mapped) > maxMappedSealed {
		old := l.mapped[0]
		l.mapped = append(l.mapped[:0], l.mapped[1:]...)
		if err := old.unmap(); err != nil {
			l.logger.Warn().Err(err).Str("segment", old.logPath).Msg("storage: unmapping segment failed")
		}
	}
}

// forget drops segments from the mapped LRU (they were removed or became
// active).
func (l *Log) forget(segs ...*segment) {
	keep := l.mapped[:0]
	for _, m := range l.mapped {
		drop := false
		for _, s := range segs {
			if m == s {
				drop = true
			}
		}
		if !drop {
			keep = append(keep, m)
		}
	}
	l.mapped = keep
}

// faultError turns a memory fault recovered while reading a mapped file (an
// I/O error surfaces as SIGBUS under mmap; debug.SetPanicOnFault makes it a
// panic) into an ErrStorage error. Any other panic is a bug and is re-raised.
// onFault ends a method that reads or writes through a file mapping. It
// restores the goroutine's panic-on-fault setting and, if a mapped page
// faulted (an I/O error under the mapping, a file truncated behind it),
// hands handle the fault as an ErrStorage error; any other panic goes on.
// Use: defer onFault(debug.SetPanicOnFault(true), func(err error) {…}).
func onFault(old bool, handle func(error)) {
	debug.SetPanicOnFault(old)
	if p := recover(); p != nil {
		handle(faultError(p))
	}
}

func faultError(r any) error {
	if _, ok := r.(interface{ Addr() uintptr }); ok {
		return fmt.Errorf("%w: memory fault reading a mapped file: %v", ErrStorage, r)
	}
	panic(r)
}
