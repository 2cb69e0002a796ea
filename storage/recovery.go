package storage

import (
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"sort"
	"strings"
	"time"
)

// Open opens the log in dir (one directory per partition replica), creating
// it if needed, and recovers it:
//
//   - leftovers of interrupted work (*.tmp, *.deleted, index files without a
//     log file) are removed;
//   - segments wholly below the recovery point are trusted (their indexes are
//     sanity-checked when first used and rebuilt if damaged);
//   - the segment holding the recovery point is trusted only if its indexes
//     pass a sanity check and the batches after its last index entry end
//     exactly at the recovery point with valid CRCs (a clean shutdown);
//     otherwise it and every later segment are scanned batch by batch:
//     frame, CRC-32C and offset continuity are checked, indexes are rebuilt,
//     the leader epoch cache learns the epochs seen, and the log is cut at
//     the first torn or corrupt batch (later segments are deleted).
//
// What was found is in Recovery() and logged.
func Open(dir string, cfg Config, opts Options) (log *Log, err error) {
	defer onFault(debug.SetPanicOnFault(true), func(ferr error) {
		log, err = nil, ferr
	})
	cfg = cfg.normalized()
	fs := opts.FS
	if fs == nil {
		fs = OSFS()
	}
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	l := &Log{
		dir:    dir,
		cfg:    cfg,
		fs:     fs,
		logger: opts.Logger,
		clock:  clock,
	}
	l.deleter = newDeleter(fs, cfg.FileDeleteDelay, opts.Logger)
	l.flushedIndex = noIndexState
	l.report = RecoveryReport{Dir: dir, RecoveryPoint: -1}
	if err := l.load(); err != nil {
		for _, s := range l.segs {
			s.close()
		}
		l.deleter.flushAll()
		return nil, err
	}
	l.logReport()
	l.assertInvariants("Open")
	return l, nil
}

func (l *Log) load() error {
	fs, dir := l.fs, l.dir
	if err := fs.MkdirAll(dir); err != nil {
		return storageErr("mkdir "+dir, err)
	}
	names, err := fs.List(dir)
	if err != nil {
		return storageErr("list "+dir, err)
	}
	if swapped, err := l.completeSwaps(names); err != nil {
		return err
	} else if swapped {
		if names, err = fs.List(dir); err != nil {
			return storageErr("list "+dir, err)
		}
	}
	var bases []int64
	haveLog := map[int64]bool{}
	var indexFiles []string
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, tmpSuffix), strings.HasSuffix(name, deletedSuffix):
			if err := fs.Remove(join(dir, name)); err != nil && !isNotExist(err) {
				return storageErr("remove leftover "+name, err)
			}
			l.report.RemovedFiles = append(l.report.RemovedFiles, join(dir, name))
		case strings.HasSuffix(name, logSuffix):
			if b, ok := parseSegmentName(name, logSuffix); ok {
				bases = append(bases, b)
				haveLog[b] = true
			}
		case strings.HasSuffix(name, indexSuffix), strings.HasSuffix(name, timeIndexSuffix):
			indexFiles = append(indexFiles, name)
		}
	}
	for _, name := range indexFiles {
		b, ok1 := parseSegmentName(name, indexSuffix)
		if !ok1 {
			b, ok1 = parseSegmentName(name, timeIndexSuffix)
		}
		if ok1 && !haveLog[b] {
			if err := fs.Remove(join(dir, name)); err != nil && !isNotExist(err) {
				return storageErr("remove orphan index "+name, err)
			}
			l.report.RemovedFiles = append(l.report.RemovedFiles, join(dir, name))
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })

	cp, cpFound := l.readCheckpoint()
	l.report.CheckpointFound = cpFound
	if cpFound {
		l.report.RecoveryPoint = cp.RecoveryPoint
		l.written = cp
	}
	l.readEpochs()

	now := l.nowMs()
	for _, b := range bases {
		s := newSegmentStruct(fs, dir, b, l.cfg, now)
		f, err := fs.OpenReadWrite(s.logPath)
		if err != nil {
			return storageErr("open "+s.logPath, err)
		}
		s.log = f
		size, err := f.Size()
		if err != nil {
			return storageErr("stat "+s.logPath, err)
		}
		s.size = size
		l.segs = append(l.segs, s)
	}
	for i := 0; i+1 < len(l.segs); i++ {
		l.segs[i].next = l.segs[i+1].base
	}

	if len(l.segs) > 0 {
		if err := l.recover(cp, cpFound); err != nil {
			return err
		}
	}

	// The log start from the checkpoint is authoritative: what lies below it
	// was deleted (the segment removal may not have completed).
	logStart := int64(0)
	if cpFound {
		logStart = cp.LogStartOffset
	}
	if len(l.segs) == 0 || logStart > l.LogEndOffset() {
		if len(l.segs) > 0 {
			l.report.DeletedSegments = append(l.report.DeletedSegments, segPaths(l.segs)...)
			if err := l.removeSegmentsNow(l.segs); err != nil {
				return err
			}
			l.segs = nil
		}
		s, err := createSegment(fs, dir, logStart, l.cfg, now)
		if err != nil {
			return storageErr("create segment", err)
		}
		l.segs = []*segment{s}
		l.dirDirty = true
	}
	logStart = max(logStart, l.segs[0].base)
	k := 0
	for k < len(l.segs)-1 && l.segs[k].next <= logStart {
		k++
	}
	if k > 0 {
		l.report.DeletedSegments = append(l.report.DeletedSegments, segPaths(l.segs[:k])...)
		if err := l.removeSegmentsNow(l.segs[:k]); err != nil {
			return err
		}
		l.segs = append([]*segment(nil), l.segs[k:]...)
	}
	l.active().activate()
	leo := l.LogEndOffset()
	l.logStart = logStart
	if cpFound {
		l.recoveryPoint = min(cp.RecoveryPoint, leo)
		l.hw = cp.HighWatermark
		l.cleanerOffset = min(cp.CleanerOffset, leo)
	} else {
		l.recoveryPoint = l.segs[0].base
	}
	l.SetHighWatermark(l.hw)
	// A leader's epoch assigned at the log end with nothing appended yet
	// survives (start == LEO); entries past the end do not.
	l.epochs.truncateFromEnd(leo + 1)
	l.epochs.truncateFromStart(logStart)
	l.lastFlushMs = now
	l.report.LogStartOffset, l.report.LogEndOffset = l.logStart, leo
	return nil
}

func segPaths(segs []*segment) []string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = s.logPath
	}
	return out
}

// removeSegmentsNow deletes segment files during Open (no Region can exist).
func (l *Log) removeSegmentsNow(segs []*segment) error {
	for _, s := range segs {
		s.close()
		for _, p := range []string{s.logPath, s.idx.path, s.tidx.path} {
			if err := l.fs.Remove(p); err != nil && !isNotExist(err) {
				return storageErr("remove "+p, err)
			}
		}
	}
	l.dirDirty = true
	return nil
}

func (l *Log) readCheckpoint() (partitionCheckpoint, bool) {
	data, err := readFile(l.fs, join(l.dir, partitionCheckpointName))
	if err != nil {
		if !isNotExist(err) {
			l.logger.Warn().Err(err).Str("dir", l.dir).Msg("storage: cannot read partition checkpoint; recovering the whole log")
		}
		return partitionCheckpoint{}, false
	}
	cp, err := decodePartitionCheckpoint(data)
	if err != nil {
		l.logger.Warn().Err(err).Str("dir", l.dir).Msg("storage: damaged partition checkpoint; recovering the whole log")
		return partitionCheckpoint{}, false
	}
	return cp, true
}

func (l *Log) readEpochs() {
	data, err := readFile(l.fs, join(l.dir, epochCheckpointName))
	if err != nil {
		if !isNotExist(err) {
			l.logger.Warn().Err(err).Str("dir", l.dir).Msg("storage: cannot read leader epoch checkpoint")
		}
		return
	}
	entries, err := decodeEpochCheckpoint(data)
	if err != nil {
		// The cache is relearned from batches only past the recovery point;
		// an empty cache makes OffsetForLeaderEpoch answer UNDEFINED, which
		// makes followers fall back to the high watermark: safe.
		l.logger.Warn().Err(err).Str("dir", l.dir).Msg("storage: damaged leader epoch checkpoint; starting with an empty cache")
		l.epochs.dirty = true
		return
	}
	l.epochs.entries = entries
}

// recover decides which segments to trust and scans the others.
func (l *Log) recover(cp partitionCheckpoint, cpFound bool) error {
	n := len(l.segs)
	from := 0
	if cpFound {
		from = l.segmentFor(cp.RecoveryPoint)
		if from == n-1 && l.cleanTail(l.segs[from], cp) {
			from = n
			l.flushedIndex = cp.ActiveIndex
		}
	}
	var buf []byte
	for i := from; i < n; i++ {
		s := l.segs[i]
		if i > 0 && s.base != l.segs[i-1].next {
			// A gap or an overlap between segments: keep the prefix.
			l.report.Truncated = &Truncation{Segment: s.logPath, Offset: l.segs[i-1].next,
				Reason: fmt.Sprintf("segment base %d does not follow offset %d", s.base, l.segs[i-1].next)}
			return l.dropFrom(i)
		}
		var stop int64
		var reason *CorruptionError
		var err error
		buf, stop, reason, err = l.recoverSegment(s, buf)
		if err != nil {
			return err
		}
		l.report.SegmentsRecovered++
		if i < n-1 && reason == nil {
			if err := s.seal(); err != nil {
				return storageErr("write index "+s.logPath, err)
			}
		}
		if reason != nil {
			fileSize, _ := s.log.Size()
			l.report.Truncated = &Truncation{Segment: s.logPath, Position: stop, Offset: s.next,
				Bytes: fileSize - stop, Reason: reason.Error()}
			if err := s.log.Truncate(stop); err != nil {
				return storageErr("truncate "+s.logPath, err)
			}
			s.dirty = true
			return l.dropFrom(i + 1)
		}
	}
	return nil
}

// dropFrom deletes segments i.. (after a truncation point).
func (l *Log) dropFrom(i int) error {
	if i >= len(l.segs) {
		return nil
	}
	l.report.DeletedSegments = append(l.report.DeletedSegments, segPaths(l.segs[i:])...)
	if err := l.removeSegmentsNow(l.segs[i:]); err != nil {
		return err
	}
	l.segs = l.segs[:i]
	if len(l.segs) > 0 {
		// The new last segment becomes active again; its indexes were just
		// rebuilt or are checked lazily.
		l.segs[len(l.segs)-1].activate()
	}
	return nil
}

// cleanTail reports whether the last segment can be trusted without a full
// scan: its index files are exactly those of the last flush (entry counts and
// CRC-32C recorded in the checkpoint), pass the sanity check, and walking
// (CRC-checked) from the last offset index entry ends exactly at the file end
// at the recovery point. This is what a clean shutdown leaves.
func (l *Log) cleanTail(s *segment, cp partitionCheckpoint) bool {
	rp := cp.RecoveryPoint
	st, err := s.indexState()
	if err != nil || st != cp.ActiveIndex {
		l.logger.Debug().Str("segment", s.logPath).Msg("storage: active segment index differs from the last flush; scanning")
		return false
	}
	s.next = math.MaxInt64 // unknown until the tail walk
	if err := s.checkIndexes(true); err != nil {
		l.logger.Debug().Err(err).Str("segment", s.logPath).Msg("storage: active segment index not trusted; scanning")
		s.next = s.base
		return false
	}
	pos, err := s.loadTail(l.cfg.IndexIntervalBytes)
	if err != nil || pos != s.size || s.next != rp {
		s.next = s.base
		return false
	}
	s.checked, s.built = true, true
	return true
}

// recoverSegment scans s from its start, checking each batch's frame, CRC
// and offset continuity, and rebuilds its indexes. It stops at the first bad
// batch and returns its position and why (reason nil: the whole file is
// good). buf is a reusable read buffer.
func (l *Log) recoverSegment(s *segment, buf []byte) (_ []byte, stop int64, reason *CorruptionError, err error) {
	for _, x := range []*indexFile{&s.idx.indexFile, &s.tidx.indexFile} {
		if err := x.open(); err != nil {
			return buf, 0, nil, storageErr("open "+x.path, err)
		}
		if err := x.truncateEntries(0); err != nil {
			return buf, 0, nil, storageErr("truncate "+x.path, err)
		}
		x.activate()
	}
	fileSize, err := s.log.Size()
	if err != nil {
		return buf, 0, nil, storageErr("stat "+s.logPath, err)
	}
	s.resetIndexState()
	s.checked, s.built, s.dirty = true, true, true
	if cap(buf) == 0 {
		buf = make([]byte, 1<<20)
	}
	buf = buf[:cap(buf)]
	// buf holds file bytes [bufAt, bufAt+bufLen).
	bufAt, bufLen := int64(0), int64(0)
	ensure := func(pos, n int64) ([]byte, error) {
		if pos >= bufAt && pos+n <= bufAt+bufLen {
			return buf[pos-bufAt : pos-bufAt+n], nil
		}
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:cap(buf)]
		want := min(int64(len(buf)), fileSize-pos)
		got, err := s.log.ReadAt(buf[:want], pos)
		if err != nil && err != io.EOF {
			return nil, err
		}
		bufAt, bufLen = pos, int64(got)
		if int64(got) < n {
			return nil, io.ErrUnexpectedEOF
		}
		return buf[:n], nil
	}
	pos := int64(0)
	batches := 0
	var why error
	for pos < fileSize {
		if fileSize-pos < BatchHeaderSize {
			why = fmt.Errorf("torn batch header: %d bytes left", fileSize-pos)
			break
		}
		hb, err := ensure(pos, BatchHeaderSize)
		if err != nil {
			return buf, 0, nil, storageErr("read "+s.logPath, err)
		}
		h, _ := ParseBatchHeader(hb)
		if h.Magic != 2 {
			why = fmt.Errorf("bad magic %d", h.Magic)
			break
		}
		if h.Size() < BatchHeaderSize {
			why = fmt.Errorf("bad batch length %d", h.BatchLength)
			break
		}
		if pos+h.Size() > fileSize {
			why = fmt.Errorf("torn batch: %d of %d bytes present", fileSize-pos, h.Size())
			break
		}
		if h.BaseOffset != s.next {
			why = fmt.Errorf("batch base offset %d, expected %d", h.BaseOffset, s.next)
			break
		}
		b, err := ensure(pos, h.Size())
		if err != nil {
			return buf, 0, nil, storageErr("read "+s.logPath, err)
		}
		if _, ferr := frameBatch(b); ferr != nil {
			why = ferr
			break
		}
		if !plausibleCount(h) {
			why = fmt.Errorf("%d records but last offset delta %d", h.NumRecords, h.LastOffsetDelta)
			break
		}
		if h.LastOffset()-s.base > math.MaxInt32 {
			why = fmt.Errorf("offset %d too far from segment base", h.LastOffset())
			break
		}
		l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset)
		if err := s.indexBatch(h.BaseOffset, h.LastOffset(), h.MaxTimestamp, pos, h.Size(), l.cfg.IndexIntervalBytes); err != nil {
			return buf, 0, nil, storageErr("write index "+s.logPath, err)
		}
		pos += h.Size()
		batches++
	}
	l.report.BatchesRecovered += batches
	if why != nil {
		return buf, pos, &CorruptionError{Path: s.logPath, Position: pos, Offset: s.next, Kind: ErrCorruptMessage, Reason: why}, nil
	}
	return buf, pos, nil, nil
}

func (l *Log) logReport() {
	r := &l.report
	ev := l.logger.Debug()
	if r.Truncated != nil {
		ev = l.logger.Warn()
	} else if len(r.IndexesRebuilt) > 0 || len(r.DeletedSegments) > 0 || r.SegmentsRecovered > 0 {
		ev = l.logger.Info()
	}
	ev = ev.Str("dir", r.Dir).Bool("checkpoint_found", r.CheckpointFound).Int64("recovery_point", r.RecoveryPoint).
		Int("segments_recovered", r.SegmentsRecovered).Int("batches_recovered", r.BatchesRecovered).
		Int64("log_start_offset", r.LogStartOffset).Int64("log_end_offset", r.LogEndOffset)
	if r.Truncated != nil {
		ev = ev.Str("truncated_segment", r.Truncated.Segment).Int64("truncated_position", r.Truncated.Position).
			Int64("truncated_offset", r.Truncated.Offset).Int64("truncated_bytes", r.Truncated.Bytes).
			Str("truncated_reason", r.Truncated.Reason)
	}
	if len(r.IndexesRebuilt) > 0 {
		ev = ev.Strs("indexes_rebuilt", r.IndexesRebuilt)
	}
	if len(r.DeletedSegments) > 0 {
		ev = ev.Strs("deleted_segments", r.DeletedSegments)
	}
	if len(r.RemovedFiles) > 0 {
		ev = ev.Strs("removed_files", r.RemovedFiles)
	}
	ev.Msg("storage: log opened")
}
