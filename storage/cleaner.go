package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Log compaction (cleanup.policy=compact): the cleaner keeps the latest
// record of each key in the sealed segments below the first uncleanable
// offset, as Kafka's log cleaner does.
//
// A cleaning has three steps, so that it never blocks the log's owner:
//
//  1. PrepareClean (owner): pick the cleanable range [log start, end), end
//     being the first segment that is active, not wholly below the high
//     watermark, or younger than min.compaction.lag.ms, and snapshot its
//     segments (sealed: their bytes never change).
//  2. Cleaner.Run (any goroutine): map each key of the dirty part
//     [cleaner offset, end) to its latest offset, in a map of fixed size
//     (end comes down to where it filled); then rewrite every segment below
//     end into *.cleaned files, in groups of consecutive segments that fit one
//     segment, keeping a record when it is the latest of its key, or at or
//     past end; fsync them.
//  3. FinishClean (owner): check that the segments are unchanged, and swap
//     each group in, lowest first.
//
// Offsets stay where they were: a batch that lost some records keeps its
// base offset, last offset delta, timestamps and producer fields; a run of
// batches that lost all their records becomes one empty batch covering
// their offsets (one per run of the same leader epoch and producer, so
// producer state and leader epochs read back from the log are unchanged).
// Offsets in the log therefore stay contiguous.
//
// A tombstone (null value) is removed once it is below the cleaner offset
// at the start of a cleaning (it survived one cleaning, which removed the
// older values it shadows) and its batch is older than delete.retention.ms.
// Records without a key are removed (a compacted topic does not accept
// them; older ones came from before the policy changed), as in Kafka.
//
// The swap of a group, base B: rename B.{index,timeindex,log}.cleaned to
// *.swap and fsync the directory — the commit point, the log file's rename
// last; rename the old segments *.deleted (deleted later, as retention's
// are); rename the *.swap files to their final names. Open completes a swap
// it finds (a B.log.swap: delete the segment files it replaces, rename it)
// and deletes *.cleaned files and index *.swap files without a log *.swap,
// so a crash leaves the old segments or the new one, never a mix. Groups
// commit from the lowest up, so a tombstone is never gone while an older
// value it shadowed is still there.

const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
	// maxCleanBatch bounds one batch's decompressed records section.
	maxCleanBatch = 64 << 20
	// cleanIOBuffer is the read and write buffer (log.cleaner.io.buffer.size
	// is 512 KiB in Kafka; the same order).
	cleanIOBuffer = 1 << 20
)

// ErrCleanStale is FinishClean's answer when the log changed under the
// cleaning (retention, truncation, deletion): nothing was swapped; a later
// cleaning starts over.
var ErrCleanStale = errors.New("storage: log changed during cleaning")

// ErrCleanAborted is Run's answer when its stop channel closed.
var ErrCleanAborted = errors.New("storage: cleaning aborted")

// CleanState is how much of a compacted log awaits the cleaner.
type CleanState struct {
	// CleanBytes are the cleanable bytes already cleaned, DirtyBytes those
	// not (segment granularity: the segment holding the cleaner offset
	// counts as dirty).
	CleanBytes, DirtyBytes int64
	// Ratio is DirtyBytes / (CleanBytes + DirtyBytes), 0 for none.
	Ratio float64
	// Due: the log should be cleaned now — dirty bytes and a ratio at
	// least min.cleanable.dirty.ratio, or a dirty record older than
	// max.compaction.lag.ms.
	Due bool
	// Overdue: due because of max.compaction.lag.ms.
	Overdue bool
}

// cleanRange computes the cleanable range: segments [0, k), end the base of
// segs[k], and the first dirty offset.
func (l *Log) cleanRange(now int64) (k int, firstDirty, end int64) {
	for k < len(l.segs)-1 {
		s := l.segs[k]
		if s.next > l.hw {
			break
		}
		if !s.checked {
			if err := l.ensureChecked(s); err != nil {
				break
			}
		}
		if l.cfg.MinCompactionLagMs > 0 && s.maxTs >= 0 && now-s.maxTs < l.cfg.MinCompactionLagMs {
			break
		}
		k++
	}
	end = l.segs[k].base
	firstDirty = min(max(l.cleanerOffset, l.logStart, l.segs[0].base), end)
	return k, firstDirty, end
}

// CleanState reports the log's dirty ratio; the zero value when the log is
// not compacted.
func (l *Log) CleanState() CleanState {
	if l.closed || l.failed != nil || !l.cfg.Compacts() {
		return CleanState{}
	}
	now := l.nowMs()
	k, firstDirty, _ := l.cleanRange(now)
	var st CleanState
	oldest := int64(-1)
	for _, s := range l.segs[:k] {
		if s.next <= firstDirty {
			st.CleanBytes += s.size
			continue
		}
		st.DirtyBytes += s.size
		if oldest < 0 {
			oldest = s.rollTs
			if oldest < 0 {
				oldest = s.created
			}
		}
	}
	if st.DirtyBytes == 0 {
		return st
	}
	st.Ratio = float64(st.DirtyBytes) / float64(st.CleanBytes+st.DirtyBytes)
	st.Overdue = l.cfg.MaxCompactionLagMs < math.MaxInt64 && now-oldest > l.cfg.MaxCompactionLagMs
	st.Due = st.Overdue || st.Ratio >= l.cfg.MinCleanableDirtyRatio
	return st
}

// CleanTask is one cleaning of one log: prepared by the log's owner, run by
// a Cleaner on any goroutine, finished (or aborted) by the owner.
type CleanTask struct {
	log  *Log
	fs   FS
	dir  string
	cfg  Config
	now  int64
	segs []*segment // the log's segments [0, k) when prepared
	// sizes, ends and files of segs as prepared (sealed: they do not
	// change; the owner may close the files, which fails the run).
	sizes      []int64
	nexts      []int64
	files      []File
	firstDirty int64
	end        int64
	ran        bool
	groups     []cleanedGroup
	// Stats is what Run did.
	Stats CleanStats
}

// cleanedGroup is one output segment: it replaces segs[from:to].
type cleanedGroup struct {
	from, to int
	seg      *segment // paths end in .cleaned until the swap
}

// CleanStats describes a cleaning.
type CleanStats struct {
	// FirstDirty and End: the range mapped ([FirstDirty, End), End lowered
	// when the offset map filled: MapFull).
	FirstDirty, End int64
	MapFull         bool
	// Keys mapped; records read and kept below End; tombstones removed.
	Keys, RecordsRead, RecordsKept, TombstonesRemoved int64
	// Bytes read (both passes) and written; segments in and out.
	BytesRead, BytesWritten int64
	SegmentsIn, SegmentsOut int
	Duration                time.Duration
}

// PrepareClean snapshots the cleanable range for a Cleaner, or returns nil
// when there is nothing dirty to clean (or the log is not compacted).
func (l *Log) PrepareClean() (*CleanTask, error) {
	if err := l.writable(); err != nil {
		return nil, err
	}
	if !l.cfg.Compacts() {
		return nil, nil
	}
	now := l.nowMs()
	k, firstDirty, end := l.cleanRange(now)
	if k == 0 || firstDirty >= end {
		return nil, nil
	}
	t := &CleanTask{log: l, fs: l.fs, dir: l.dir, cfg: l.cfg, now: now, firstDirty: firstDirty, end: end}
	for _, s := range l.segs[:k] {
		t.segs = append(t.segs, s)
		t.sizes = append(t.sizes, s.size)
		t.nexts = append(t.nexts, s.next)
		t.files = append(t.files, s.log)
	}
	return t, nil
}

// CleanerConfig configures a Cleaner (Kafka's log.cleaner.* broker
// settings).
type CleanerConfig struct {
	// DedupeBufferBytes (log.cleaner.dedupe.buffer.size): the offset map's
	// memory. Default 128 MiB.
	DedupeBufferBytes int64
	// IOBytesPerSecond (log.cleaner.io.max.bytes.per.second): read plus
	// write rate; 0 is unlimited.
	IOBytesPerSecond float64
	// Sleep waits for the I/O limit; nil is time.Sleep (tests pass a fake).
	Sleep func(time.Duration)
	// Now is the clock for the limit; nil is time.Now.
	Now func() time.Time
}

// Cleaner runs CleanTasks one at a time with its own offset map and
// buffers. Not safe for concurrent use.
type Cleaner struct {
	m       *offsetMap
	rr      *RecordReader
	rw      *RecordWriter
	out     []byte
	scratch []byte
	lim     ioLimiter
}

// NewCleaner allocates a cleaner (its offset map at once: the memory bound
// is paid up front, not discovered under load).
func NewCleaner(cfg CleanerConfig) *Cleaner {
	if cfg.DedupeBufferBytes <= 0 {
		cfg.DedupeBufferBytes = 128 << 20
	}
	c := &Cleaner{
		m:  newOffsetMap(cfg.DedupeBufferBytes),
		rr: NewRecordReader(maxCleanBatch),
		rw: NewRecordWriter(),
	}
	c.lim = ioLimiter{rate: cfg.IOBytesPerSecond, sleep: cfg.Sleep, now: cfg.Now}
	if c.lim.sleep == nil {
		c.lim.sleep = time.Sleep
	}
	if c.lim.now == nil {
		c.lim.now = time.Now
	}
	return c
}

// ioLimiter is a token bucket over bytes, with a one-second burst.
type ioLimiter struct {
	rate   float64
	tokens float64
	last   time.Time
	sleep  func(time.Duration)
	now    func() time.Time
}

func (b *ioLimiter) take(n int) {
	if b.rate <= 0 || n <= 0 {
		return
	}
	now := b.now()
	if !b.last.IsZero() {
		b.tokens = min(b.tokens+now.Sub(b.last).Seconds()*b.rate, b.rate)
	} else {
		b.tokens = b.rate
	}
	b.last = now
	b.tokens -= float64(n)
	if b.tokens < 0 {
		b.sleep(time.Duration(-b.tokens / b.rate * float64(time.Second)))
	}
}

// Run cleans t: the offset map, then the *.cleaned files, fsynced. It
// returns ErrCleanAborted when stop closes; on any error the files it wrote
// are removed and t can only be dropped.
func (c *Cleaner) Run(t *CleanTask, stop <-chan struct{}) (err error) {
	if t.ran {
		return fmt.Errorf("storage: clean task of %s run twice", t.dir)
	}
	t.ran = true
	start := time.Now()
	defer func() {
		t.Stats.Duration = time.Since(start)
		if err != nil {
			t.Abort()
			err = fmt.Errorf("clean %s: %w", t.dir, err)
		}
	}()
	c.m.reset()
	if err := c.buildMap(t, stop); err != nil {
		return err
	}
	return c.writeGroups(t, stop)
}

// batchScanner walks the batches of one segment file through a buffer.
type batchScanner struct {
	f          File
	size       int64
	pos        int64 // file position of buf[0]
	buf        []byte
	lo, hi     int // unread window of buf
	lim        *ioLimiter
	read       *int64
	stop       <-chan struct{}
	checkEvery int
}

// next returns the next batch and its file position, or io.EOF.
func (sc *batchScanner) next() ([]byte, int64, error) {
	if sc.checkEvery++; sc.checkEvery&255 == 1 {
		select {
		case <-sc.stop:
			return nil, 0, ErrCleanAborted
		default:
		}
	}
	at := sc.pos + int64(sc.lo)
	if at >= sc.size {
		return nil, 0, io.EOF
	}
	if err := sc.fill(BatchHeaderSize); err != nil {
		return nil, 0, err
	}
	n, err := frameBatch(sc.buf[sc.lo:sc.hi])
	if errors.Is(err, errTruncated) {
		size := int64(int32(binary.BigEndian.Uint32(sc.buf[sc.lo+offBatchLength:]))) + batchLogOverhead
		if size > int64(maxSegmentBytes) || at+size > sc.size {
			return nil, 0, fmt.Errorf("%w: batch at %d of %d bytes overruns the segment", ErrCorruptMessage, at, size)
		}
		if err := sc.fill(int(size)); err != nil {
			return nil, 0, err
		}
		n, err = frameBatch(sc.buf[sc.lo:sc.hi])
	}
	if err != nil {
		return nil, 0, fmt.Errorf("batch at position %d: %w", at, err)
	}
	b := sc.buf[sc.lo : sc.lo+n]
	sc.lo += n
	return b, at, nil
}

// fill makes at least need bytes available at buf[lo:] (less only at the
// end of the segment).
func (sc *batchScanner) fill(need int) error {
	if sc.hi-sc.lo >= need {
		return nil
	}
	// Move the unread part to the front, grow if a batch is larger than
	// the buffer, and read.
	sc.pos += int64(sc.lo)
	copy(sc.buf, sc.buf[sc.lo:sc.hi])
	sc.hi -= sc.lo
	sc.lo = 0
	if need > len(sc.buf) {
		nb := make([]byte, need)
		copy(nb, sc.buf[:sc.hi])
		sc.buf = nb
	}
	want := min(int64(len(sc.buf)-sc.hi), sc.size-sc.pos-int64(sc.hi))
	if want <= 0 {
		return nil
	}
	m, err := sc.f.ReadAt(sc.buf[sc.hi:sc.hi+int(want)], sc.pos+int64(sc.hi))
	if err != nil && !(err == io.EOF && int64(m) == want) {
		return storageErr("read segment", err)
	}
	sc.hi += m
	*sc.read += int64(m)
	sc.lim.take(m)
	return nil
}

func (c *Cleaner) scanner(t *CleanTask, i int, stop <-chan struct{}) *batchScanner {
	if c.scratch == nil {
		c.scratch = make([]byte, cleanIOBuffer)
	}
	return &batchScanner{f: t.files[i], size: t.sizes[i], buf: c.scratch, lim: &c.lim, read: &t.Stats.BytesRead, stop: stop}
}

// buildMap maps every key in [firstDirty, end) to its latest offset,
// lowering end to the first batch whose keys did not all fit.
func (c *Cleaner) buildMap(t *CleanTask, stop <-chan struct{}) error {
	t.Stats.FirstDirty, t.Stats.End = t.firstDirty, t.end
	for i, s := range t.segs {
		if s.base >= t.end {
			break
		}
		if i+1 < len(t.segs) && t.segs[i+1].base <= t.firstDirty {
			continue // wholly clean
		}
		sc := c.scanner(t, i, stop)
		for {
			b, _, err := sc.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			h, _ := ParseBatchHeader(b)
			if h.NextOffset() <= t.firstDirty {
				continue
			}
			if h.BaseOffset >= t.end {
				break
			}
			recs, err := c.rr.Records(b)
			if err != nil {
				return fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
			}
			fits := true
			for _, r := range recs {
				if r.Key == nil {
					continue
				}
				if !c.m.put(r.Key, h.BaseOffset+int64(r.OffsetDelta)) {
					fits = false
					break
				}
			}
			if !fits {
				// Records from this batch on stay as they are.
				t.end, t.Stats.End, t.Stats.MapFull = h.BaseOffset, h.BaseOffset, true
				if t.end <= t.firstDirty {
					return fmt.Errorf("storage: log.cleaner.dedupe.buffer.size holds %d keys, fewer than the batch at offset %d has", c.m.limit, h.BaseOffset)
				}
				t.Stats.Keys = int64(c.m.used)
				return nil
			}
		}
	}
	t.Stats.Keys = int64(c.m.used)
	return nil
}

// writeGroups writes the cleaned segments.
func (c *Cleaner) writeGroups(t *CleanTask, stop <-chan struct{}) error {
	maxEntries := int64(t.cfg.SegmentIndexBytes / offsetEntrySize)
	n := 0
	for n < len(t.segs) && t.segs[n].base < t.end {
		n++
	}
	t.Stats.SegmentsIn = n
	for from := 0; from < n; {
		to := from + 1
		size := t.sizes[from]
		entries := t.sizes[from]/int64(t.cfg.IndexIntervalBytes) + 1
		for to < n {
			sz := t.sizes[to]
			e := sz/int64(t.cfg.IndexIntervalBytes) + 1
			if size+sz > t.cfg.SegmentBytes || entries+e > maxEntries || t.nexts[to]-1-t.segs[from].base > math.MaxInt32 {
				break
			}
			size, entries = size+sz, entries+e
			to++
		}
		if err := c.writeGroup(t, from, to, stop); err != nil {
			return err
		}
		from = to
	}
	t.Stats.SegmentsOut = len(t.groups)
	return nil
}

// writeGroup writes the cleaned copy of segs[from:to] as one segment and
// adds it to t.groups (at once, so that Abort finds its files).
func (c *Cleaner) writeGroup(t *CleanTask, from, to int, stop <-chan struct{}) (err error) {
	old := t.segs[from]
	ns := newSegmentStruct(t.fs, t.dir, old.base, t.cfg, t.now)
	ns.created = old.created
	ns.setPaths(cleanedSuffix)
	t.groups = append(t.groups, cleanedGroup{from: from, to: to, seg: ns})
	if ns.log, err = t.fs.Create(ns.logPath); err != nil {
		return storageErr("create "+ns.logPath, err)
	}

	var wpos int64
	c.out = c.out[:0]
	flush := func() error {
		if len(c.out) == 0 {
			return nil
		}
		if _, err := ns.log.WriteAt(c.out, wpos); err != nil {
			return storageErr("write "+ns.logPath, err)
		}
		c.lim.take(len(c.out))
		wpos += int64(len(c.out))
		t.Stats.BytesWritten += int64(len(c.out))
		c.out = c.out[:0]
		return nil
	}
	var pend BatchHeader
	havePend := false
	endPend := func() {
		if havePend {
			c.out = c.rw.Empty(c.out, pend)
			havePend = false
		}
	}
	var kept []Record
	for i := from; i < to; i++ {
		sc := c.scanner(t, i, stop)
		for {
			b, _, err := sc.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			h, _ := ParseBatchHeader(b)
			if h.BaseOffset >= t.end {
				// Beyond the map: kept as it is.
				endPend()
				c.out = append(c.out, b...)
			} else {
				recs, err := c.rr.Records(b)
				if err != nil {
					return fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
				}
				kept = kept[:0]
				for _, r := range recs {
					if c.keep(t, h, r, t.segs[i]) {
						kept = append(kept, r)
					}
				}
				t.Stats.RecordsRead += int64(len(recs))
				t.Stats.RecordsKept += int64(len(kept))
				switch {
				case len(kept) == len(recs) && len(recs) > 0:
					endPend()
					c.out = append(c.out, b...)
				case len(kept) > 0:
					endPend()
					if c.out, err = c.rw.Rebuild(c.out, b, kept); err != nil {
						return fmt.Errorf("rebuild batch at offset %d: %w", h.BaseOffset, err)
					}
				case havePend && mergeEmpty(pend, h):
					pend.LastOffsetDelta = int32(h.LastOffset() - pend.BaseOffset)
					pend.MaxTimestamp = max(pend.MaxTimestamp, h.MaxTimestamp)
				default:
					endPend()
					pend, havePend = h, true
				}
			}
			if len(c.out) >= cleanIOBuffer {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	endPend()
	if err := flush(); err != nil {
		return err
	}
	if err := ns.log.Sync(); err != nil {
		return storageErr("sync "+ns.logPath, err)
	}
	ns.size, ns.next = wpos, t.nexts[to-1]
	if err := ns.rebuildIndexes(t.cfg.IndexIntervalBytes); err != nil {
		return storageErr("index "+ns.logPath, err)
	}
	if err := ns.seal(); err != nil {
		return storageErr("index "+ns.logPath, err)
	}
	if err := ns.sync(); err != nil {
		return storageErr("sync "+ns.logPath, err)
	}
	for _, x := range []*indexFile{&ns.idx.indexFile, &ns.tidx.indexFile} {
		if err := x.close(); err != nil {
			return storageErr("close "+x.path, err)
		}
	}
	ns.dirty = false
	return nil
}

// keep decides whether record r of batch h (in segment s) survives.
func (c *Cleaner) keep(t *CleanTask, h BatchHeader, r Record, s *segment) bool {
	off := h.BaseOffset + int64(r.OffsetDelta)
	if off >= t.end {
		return true
	}
	if r.Key == nil {
		return false
	}
	if latest, ok := c.m.get(r.Key); ok && latest > off {
		return false
	}
	if r.Value == nil && off < t.firstDirty {
		ts := h.MaxTimestamp
		if ts < 0 {
			ts = s.created
		}
		if t.now-ts > t.cfg.DeleteRetentionMs {
			t.Stats.TombstonesRemoved++
			return false
		}
	}
	return true
}

// mergeEmpty reports whether batch h, which lost all its records, can join
// the empty batch p that ends right before it: same leader epoch, producer,
// timestamp type and, for an idempotent producer, the next sequence; the
// offsets still within one batch's 32-bit range.
func mergeEmpty(p, h BatchHeader) bool {
	if p.PartitionLeaderEpoch != h.PartitionLeaderEpoch || p.ProducerID != h.ProducerID ||
		p.ProducerEpoch != h.ProducerEpoch || p.IsLogAppendTime() != h.IsLogAppendTime() {
		return false
	}
	if h.ProducerID >= 0 && int64(h.BaseSequence) != int64(p.BaseSequence)+int64(p.LastOffsetDelta)+1 {
		return false
	}
	return p.NextOffset() == h.BaseOffset && h.LastOffset()-p.BaseOffset <= math.MaxInt32
}

// Abort removes what a cleaning wrote. Safe to call more than once.
func (t *CleanTask) Abort() {
	for _, g := range t.groups {
		ns := g.seg
		if ns.log != nil {
			_ = ns.log.Close()
			ns.log = nil
		}
		for _, x := range []*indexFile{&ns.idx.indexFile, &ns.tidx.indexFile} {
			_ = x.close()
		}
		for _, p := range []string{ns.logPath, ns.idx.path, ns.tidx.path} {
			if strings.HasSuffix(p, cleanedSuffix) {
				_ = t.fs.Remove(p)
			}
		}
	}
	t.groups = nil
}

// FinishClean swaps the cleaned segments in. ErrCleanStale (nothing
// changed) when the log's segments changed since PrepareClean. A failure
// after a group's commit point marks the log failed; Open completes the
// swap. Groups already swapped stay (a later cleaning starts from the old
// cleaner offset, which is safe: cleaning is idempotent).
func (l *Log) FinishClean(t *CleanTask) (err error) {
	if t.log != l || !t.ran {
		return fmt.Errorf("storage: FinishClean of a task not run for %s", l.dir)
	}
	if err := l.writable(); err != nil {
		t.Abort()
		return err
	}
	for i, s := range t.segs {
		if i >= len(l.segs)-1 || l.segs[i] != s || s.size != t.sizes[i] || s.log != t.files[i] || s.next != t.nexts[i] {
			t.Abort()
			return ErrCleanStale
		}
	}
	segs := append([]*segment(nil), l.segs...)
	install := func() {
		kept := segs[:0:0]
		for _, s := range segs {
			if s != nil {
				kept = append(kept, s)
			}
		}
		l.segs = kept
		l.clearCursors()
		l.dirGen++
	}
	for len(t.groups) > 0 {
		g := t.groups[0]
		ns := g.seg
		cleaned := ns.paths()
		ns.setPaths(swapSuffix)
		swap := ns.paths()
		ns.setPaths("")
		final := ns.paths()
		for i := range cleaned { // indexes first, the log file last: the commit
			if err := l.fs.Rename(cleaned[i], swap[i]); err != nil {
				ns.setPaths(cleanedSuffix)
				for _, p := range swap[:i] {
					_ = l.fs.Remove(p)
				}
				t.Abort()
				install()
				return storageErr("clean swap "+swap[i], err)
			}
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			install()
			return l.fail("clean swap", storageErr("sync dir", err))
		}
		// Committed: from here Open would finish the swap.
		t.groups = t.groups[1:]
		if err := l.removeSegments(append([]*segment(nil), segs[g.from:g.to]...), "cleaned"); err != nil {
			l.logger.Warn().Err(err).Str("dir", l.dir).Msg("storage: removing cleaned-over segments failed")
		}
		for i := range swap {
			if err := l.fs.Rename(swap[i], final[i]); err != nil {
				install()
				return l.fail("clean swap", storageErr("rename "+swap[i], err))
			}
		}
		segs[g.from] = ns
		for i := g.from + 1; i < g.to; i++ {
			segs[i] = nil
		}
	}
	install()
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail("clean swap", storageErr("sync dir", err))
	}
	l.cleanerOffset = t.end
	l.assertInvariants("FinishClean")
	return l.Checkpoint()
}

// CleanerOffset is the offset below which the log was compacted.
func (l *Log) CleanerOffset() int64 { return l.cleanerOffset }

// completeSwaps runs at Open before segments are listed: it finishes every
// committed swap (a *.log.swap file) and removes what uncommitted cleanings
// left (*.cleaned files, index *.swap files without a log *.swap).
func (l *Log) completeSwaps(names []string) (done bool, err error) {
	fs, dir := l.fs, l.dir
	has := map[string]bool{}
	for _, n := range names {
		has[n] = true
	}
	var swaps []int64
	for _, n := range names {
		if b, ok := parseSegmentName(strings.TrimSuffix(n, swapSuffix), logSuffix); ok && strings.HasSuffix(n, logSuffix+swapSuffix) {
			swaps = append(swaps, b)
		}
	}
	for _, b := range swaps {
		name := segmentName(b)
		path := join(dir, name+logSuffix+swapSuffix)
		next, err := segmentEnd(fs, path, b)
		if err != nil {
			return false, err
		}
		if next == b {
			// Nothing in it: not a committed swap of ours.
			if err := fs.Remove(path); err != nil {
				return false, storageErr("remove "+path, err)
			}
			continue
		}
		for _, n := range names {
			for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				if x, ok := parseSegmentName(n, suf); ok && x >= b && x < next {
					if err := fs.Remove(join(dir, n)); err != nil && !isNotExist(err) {
						return false, storageErr("remove "+n, err)
					}
					l.report.RemovedFiles = append(l.report.RemovedFiles, join(dir, n))
				}
			}
		}
		for _, suf := range []string{indexSuffix, timeIndexSuffix, logSuffix} {
			if has[name+suf+swapSuffix] {
				if err := fs.Rename(join(dir, name+suf+swapSuffix), join(dir, name+suf)); err != nil {
					return false, storageErr("complete swap "+name, err)
				}
			}
		}
		l.logger.Info().Str("dir", dir).Int64("base_offset", b).Int64("next_offset", next).Msg("storage: completed an interrupted compaction swap")
		done = true
	}
	for _, n := range names {
		if strings.HasSuffix(n, cleanedSuffix) || (strings.HasSuffix(n, swapSuffix) && !strings.HasSuffix(n, logSuffix+swapSuffix)) {
			b, ok := parseSegmentName(strings.TrimSuffix(strings.TrimSuffix(n, cleanedSuffix), swapSuffix), indexSuffix)
			if !ok {
				b, ok = parseSegmentName(strings.TrimSuffix(strings.TrimSuffix(n, cleanedSuffix), swapSuffix), timeIndexSuffix)
			}
			if ok && strings.HasSuffix(n, swapSuffix) && has[segmentName(b)+logSuffix+swapSuffix] {
				continue // renamed above
			}
			if err := fs.Remove(join(dir, n)); err != nil && !isNotExist(err) {
				return false, storageErr("remove leftover "+n, err)
			}
			l.report.RemovedFiles = append(l.report.RemovedFiles, join(dir, n))
			done = true
		}
	}
	if done {
		if err := fs.SyncDir(dir); err != nil {
			return false, storageErr("sync dir", err)
		}
	}
	return done, nil
}

// segmentEnd walks the batch headers of a segment file and returns the
// offset after its last whole batch.
func segmentEnd(fs FS, path string, base int64) (int64, error) {
	f, err := fs.Open(path)
	if err != nil {
		return 0, storageErr("open "+path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return 0, storageErr("stat "+path, err)
	}
	next := base
	var hdr [scanHeaderSize]byte
	for pos := int64(0); pos+BatchHeaderSize <= size; {
		if _, err := f.ReadAt(hdr[:], pos); err != nil && err != io.EOF {
			return 0, storageErr("read "+path, err)
		}
		h := parseScanHeader(hdr[:])
		if h.size < BatchHeaderSize || pos+h.size > size || h.lastOff < h.base {
			break
		}
		next = h.lastOff + 1
		pos += h.size
	}
	return next, nil
}
