package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	deletedSuffix   = ".deleted"
	tmpSuffix       = ".tmp"
)

func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

// parseSegmentName returns the base offset of "<20 digits><suffix>".
func parseSegmentName(name, suffix string) (int64, bool) {
	stem, ok := strings.CutSuffix(name, suffix)
	if !ok || len(stem) != 20 {
		return 0, false
	}
	v, err := strconv.ParseInt(stem, 10, 64)
	if err != nil || v < 0 {
		return 0, false
	}
	return v, true
}

// segment is one log file of whole batches with its two indexes. Offsets in
// a segment are contiguous: every batch starts at the previous batch's last
// offset + 1, the first at base.
//
// Not safe for concurrent use, except that bytes below size never change
// while a Region may read them (appends only add bytes past size).
type segment struct {
	base    int64
	logPath string
	log     File
	// size is the byte length of the segment's whole batches.
	// Invariant: the file holds exactly size bytes outside of an append.
	size int64
	// next is the offset after the last batch (base when empty).
	next int64
	idx  *offsetIndex
	tidx *timeIndex
	// maxTs is the largest batch max timestamp (NoTimestamp if none) and
	// maxTsOff the base offset of the first batch carrying it.
	maxTs    int64
	maxTsOff int64
	// rollTs is the max timestamp of the first batch with one, or NoTimestamp:
	// segment.ms counts from it. created (ms) is used when there is none.
	rollTs  int64
	created int64
	// bytesSinceIndex counts bytes appended since the last offset index entry.
	bytesSinceIndex int64
	// indexFull is set when an index reached its maximum: the log rolls.
	indexFull bool
	// checked is set once the index files passed a sanity check (or were
	// rebuilt) since opening. built is set when this process wrote the
	// indexes (created, rebuilt, recovered) or verified them against the
	// checksums it recorded; only then is every entry known to be true (a
	// loaded index is verified entry by entry as lookups use it).
	checked bool
	built   bool
	// dirty is set when any of the segment's files changed since its last
	// fsync.
	dirty bool
	// writeGen counts writes, so a SyncFunc snapshot can tell whether the
	// segment changed after it.
	writeGen uint64
	hdr      [scanHeaderSize]byte
	// hdrMap is a read-only mapping of the log file through which the owner
	// reads batch headers without a system call (nil when the FS cannot map
	// or the mapping budget is spent). Regions never use it: they read the
	// file. The active segment maps segment.bytes so it can grow into it.
	hdrMap      []byte
	hdrUnmap    func() error
	hdrMapTried bool
}

func newSegmentStruct(fs FS, dir string, base int64, cfg Config, nowMs int64) *segment {
	name := segmentName(base)
	return &segment{
		base:     base,
		logPath:  join(dir, name+logSuffix),
		next:     base,
		idx:      newOffsetIndex(fs, join(dir, name+indexSuffix), base, cfg.SegmentIndexBytes),
		tidx:     newTimeIndex(fs, join(dir, name+timeIndexSuffix), base, cfg.SegmentIndexBytes),
		maxTs:    NoTimestamp,
		maxTsOff: base,
		rollTs:   NoTimestamp,
		created:  nowMs,
	}
}

// setPaths names the segment's three files after its base with suffix
// appended ("" for the live names; the cleaner's ".cleaned" and ".swap").
func (s *segment) setPaths(suffix string) {
	dir := filepath.Dir(s.logPath)
	name := segmentName(s.base)
	s.logPath = join(dir, name+logSuffix+suffix)
	s.idx.path = join(dir, name+indexSuffix+suffix)
	s.tidx.path = join(dir, name+timeIndexSuffix+suffix)
}

// paths lists the segment's files: offset index, time index, log.
func (s *segment) paths() [3]string { return [3]string{s.idx.path, s.tidx.path, s.logPath} }

// createSegment creates empty files for a new active segment.
func createSegment(fs FS, dir string, base int64, cfg Config, nowMs int64) (*segment, error) {
	s := newSegmentStruct(fs, dir, base, cfg, nowMs)
	var err error
	if s.log, err = fs.Create(s.logPath); err != nil {
		return nil, err
	}
	for _, x := range []*indexFile{&s.idx.indexFile, &s.tidx.indexFile} {
		f, cerr := fs.Create(x.path)
		if cerr != nil {
			s.close()
			return nil, cerr
		}
		x.f = f
		x.sized, x.sumValid = true, true
	}
	s.activate()
	s.checked, s.built = true, true
	s.dirty = true
	return s, nil
}

// activate prepares the segment to take appends.
func (s *segment) activate() {
	s.idx.activate()
	s.tidx.activate()
}

// mapHeaders maps the log file for header reads, length bytes (the file
// size for a sealed segment, segment.bytes for the active one).
func (s *segment) mapHeaders(length int64) {
	if s.hdrMap != nil || s.hdrMapTried || s.log == nil || length <= 0 {
		return
	}
	s.hdrMapTried = true
	m, ok := s.log.(mapper)
	if !ok {
		return
	}
	data, unmap, err := m.Map(int(length))
	if err != nil {
		return
	}
	s.hdrMap, s.hdrUnmap = data, unmap
}

// unmap releases the segment's mappings (header map and index maps) and the
// index descriptors; they are recreated on demand.
func (s *segment) unmap() error {
	var errs []error
	if s.hdrUnmap != nil {
		errs = append(errs, s.hdrUnmap())
	}
	s.hdrMap, s.hdrUnmap, s.hdrMapTried = nil, nil, false
	if s.idx.pend == nil {
		errs = append(errs, s.idx.close(), s.tidx.close())
	}
	return errors.Join(errs...)
}

// close releases all the segment's resources.
func (s *segment) close() error {
	var errs []error
	if s.hdrUnmap != nil {
		errs = append(errs, s.hdrUnmap())
		s.hdrMap, s.hdrUnmap = nil, nil
	}
	if s.log != nil {
		errs = append(errs, s.log.Close())
		s.log = nil
	}
	errs = append(errs, s.idx.close(), s.tidx.close())
	return errors.Join(errs...)
}

// readHeader reads the scan header at pos and checks it is plausible for
// this segment. The result is valid until the next call.
func (s *segment) readHeader(pos int64) (scanHeader, error) {
	if pos+scanHeaderSize > s.size {
		return scanHeader{}, s.corrupt(pos, -1, errTruncated)
	}
	if pos+scanHeaderSize <= int64(len(s.hdrMap)) {
		copy(s.hdr[:], s.hdrMap[pos:])
	} else if _, err := s.log.ReadAt(s.hdr[:], pos); err != nil && err != io.EOF {
		return scanHeader{}, storageErr("read "+s.logPath, err)
	}
	h := parseScanHeader(s.hdr[:])
	if h.magic != 2 || h.size < BatchHeaderSize || pos+h.size > s.size || h.base < s.base || h.lastOff < h.base || h.lastOff >= s.next {
		return scanHeader{}, s.corrupt(pos, h.base, fmt.Errorf("implausible batch header (magic %d, size %d, offsets %d..%d)", h.magic, h.size, h.base, h.lastOff))
	}
	return h, nil
}

func (s *segment) corrupt(pos, off int64, reason error) error {
	return &CorruptionError{Path: s.logPath, Position: pos, Offset: off, Kind: ErrCorruptMessage, Reason: reason}
}

// indexBatch adds index entries for a batch appended at pos: an offset entry
// when more than interval bytes passed since the last one, with a time entry
// if the largest timestamp grew. Called for appends and for index rebuilds,
// so both produce the same entries.
func (s *segment) indexBatch(base, lastOff, maxTs, pos, size int64, interval int32) error {
	if maxTs > s.maxTs {
		s.maxTs, s.maxTsOff = maxTs, base
	}
	if s.rollTs == NoTimestamp && maxTs >= 0 {
		s.rollTs = maxTs
	}
	if s.bytesSinceIndex > int64(interval) {
		if s.idx.entries() >= s.idx.maxEntries || s.tidx.entries() >= s.tidx.maxEntries {
			s.indexFull = true
		} else {
			if err := s.idx.append(base, pos); err != nil {
				return err
			}
			if err := s.tidx.maybeAppend(s.maxTs, s.maxTsOff); err != nil {
				return err
			}
			s.bytesSinceIndex = 0
			if s.idx.entries() >= s.idx.maxEntries || s.tidx.entries() >= s.tidx.maxEntries {
				s.indexFull = true
			}
		}
	}
	s.bytesSinceIndex += size
	s.next = lastOff + 1
	s.size = pos + size
	return nil
}

// resetIndexState clears what indexBatch accumulates.
func (s *segment) resetIndexState() {
	s.maxTs, s.maxTsOff, s.rollTs = NoTimestamp, s.base, NoTimestamp
	s.bytesSinceIndex = 0
	s.indexFull = false
	s.next, s.size = s.base, 0
}

// seal finishes the active segment: pending index entries are written and
// the time index gets a final entry holding the largest timestamp.
func (s *segment) seal() error {
	if err := s.tidx.maybeAppend(s.maxTs, s.maxTsOff); err != nil {
		return err
	}
	if err := s.idx.seal(); err != nil {
		return err
	}
	s.dirty = true
	return s.tidx.seal()
}

// sync writes pending index entries and fsyncs the segment's files.
func (s *segment) sync() error {
	if err := s.idx.sync(); err != nil {
		return err
	}
	if err := s.tidx.sync(); err != nil {
		return err
	}
	return s.log.Sync()
}

// locate returns the position and header of the batch containing target.
// REQUIRES: base <= target < next.
func (s *segment) locate(target int64) (int64, scanHeader, error) {
	pos := int64(0)
	if _, off, p, ok, err := s.idx.floor(target); err != nil {
		return 0, scanHeader{}, storageErr("read "+s.idx.path, err)
	} else if ok {
		// Verify the entry before trusting it: a damaged index must not make
		// us serve from the middle of a batch.
		h, err := s.readHeader(p)
		if err != nil || h.base != off {
			return 0, scanHeader{}, errIndexMismatch
		}
		pos = p
	}
	for pos < s.size {
		h, err := s.readHeader(pos)
		if err != nil {
			return 0, scanHeader{}, err
		}
		if h.lastOff >= target {
			return pos, h, nil
		}
		pos += h.size
	}
	return 0, scanHeader{}, s.corrupt(pos, target, fmt.Errorf("offset %d not found before end of segment", target))
}

var errIndexMismatch = fmt.Errorf("%w: entry does not point at a batch with its offset", ErrCorruptIndex)

// boundary returns the end of the longest run of whole batches starting at
// start (where a batch of firstSize bytes begins) that ends at or before
// limit and holds no offset >= maxOffset, and the offset that follows it.
// The first batch is always included.
func (s *segment) boundary(start, firstSize, firstNext, limit, maxOffset int64) (int64, int64, error) {
	end, next := start+firstSize, firstNext
	if limit > s.size {
		limit = s.size
	}
	if end >= limit {
		return end, next, nil
	}
	if maxOffset < s.next {
		// The batch containing maxOffset and everything after it is excluded.
		p, h, err := s.locate(maxOffset)
		if err != nil {
			return 0, 0, err
		}
		if p <= end {
			return end, next, nil
		}
		if p <= limit {
			return p, h.base, nil
		}
	} else if limit == s.size {
		return s.size, s.next, nil
	}
	// Jump close to limit with the index (entries sit at batch starts), then
	// walk headers.
	if off, p, ok, err := s.idx.floorPos(limit); err != nil {
		return 0, 0, storageErr("read "+s.idx.path, err)
	} else if ok && p > end {
		h, err := s.readHeader(p)
		if err != nil || h.base != off {
			return 0, 0, errIndexMismatch
		}
		end, next = p, off
	}
	for end < limit {
		h, err := s.readHeader(end)
		if err != nil {
			return 0, 0, err
		}
		if end+h.size > limit || h.lastOff >= maxOffset {
			return end, h.base, nil
		}
		end += h.size
		next = h.lastOff + 1
	}
	return end, next, nil
}

// rebuildIndexes recreates both index files by walking the segment's batch
// headers. It trusts the headers (their CRCs were checked by recovery, or the
// data lies below the recovery point).
func (s *segment) rebuildIndexes(interval int32) error {
	for _, x := range []*indexFile{&s.idx.indexFile, &s.tidx.indexFile} {
		if err := x.open(); err != nil {
			return err
		}
		if err := x.truncateEntries(0); err != nil {
			return err
		}
		x.activate()
	}
	size := s.size
	next := s.next
	s.resetIndexState()
	// Let readHeader accept every batch while walking.
	s.size, s.next = size, next
	var pos int64
	for pos < size {
		h, err := s.readFullHeader(pos, size)
		if err != nil {
			return err
		}
		s.size, s.next = size, next
		if err := s.indexBatch(h.BaseOffset, h.LastOffset(), h.MaxTimestamp, pos, h.Size(), interval); err != nil {
			return err
		}
		pos += h.Size()
	}
	s.size, s.next = size, next
	s.checked, s.built = true, true
	s.dirty = true
	return nil
}

// readFullHeader reads the whole 61-byte header at pos.
func (s *segment) readFullHeader(pos, size int64) (BatchHeader, error) {
	var b [BatchHeaderSize]byte
	if pos+BatchHeaderSize > size {
		return BatchHeader{}, s.corrupt(pos, -1, errTruncated)
	}
	if _, err := s.log.ReadAt(b[:], pos); err != nil && err != io.EOF {
		return BatchHeader{}, storageErr("read "+s.logPath, err)
	}
	h, _ := ParseBatchHeader(b[:])
	if h.Magic != 2 || h.Size() < BatchHeaderSize || pos+h.Size() > size || h.LastOffsetDelta < 0 {
		return BatchHeader{}, s.corrupt(pos, h.BaseOffset, fmt.Errorf("implausible batch header"))
	}
	return h, nil
}

// checkIndexes sanity-checks both indexes against the segment, verifying the
// batch each offset entry points at (cheap with a mapping: one header read per
// entry is only done for the last entry; the rest are checked for order and
// bounds, and every entry is verified again when a lookup uses it).
func (s *segment) checkIndexes(active bool) error {
	if err := s.idx.open(); err != nil {
		return err
	}
	if err := s.tidx.open(); err != nil {
		return err
	}
	s.idx.ensureMapped(active)
	s.tidx.ensureMapped(active)
	if !active && s.size > 0 && s.tidx.entries() == 0 {
		// Sealing always leaves a time entry (unless no batch has a
		// timestamp): the index files are missing or were emptied.
		return fmt.Errorf("%w: empty time index for a sealed segment", ErrCorruptIndex)
	}
	if s.idx.entries() > s.idx.maxEntries+1 || s.tidx.entries() > s.tidx.maxEntries+1 {
		return fmt.Errorf("%w: index larger than segment.index.bytes", ErrCorruptIndex)
	}
	if err := s.idx.check(s.next, s.size); err != nil {
		return err
	}
	if err := s.tidx.check(s.next); err != nil {
		return err
	}
	if n := s.idx.entries(); n > 0 {
		off, p, err := s.idx.at(n - 1)
		if err != nil {
			return err
		}
		if h, err := s.readHeader(p); err != nil || h.base != off {
			return errIndexMismatch
		}
	}
	return nil
}

// loadTail recomputes next, maxTs, rollTs and bytesSinceIndex for a segment
// whose indexes are trusted, by walking batches from the last offset index
// entry to the end of the file, validating each batch's CRC. It returns the
// position of the first bad batch (== size when all are good) and the reason.
func (s *segment) loadTail(interval int32) (int64, error) {
	start := int64(0)
	s.maxTs, s.maxTsOff, s.rollTs = NoTimestamp, s.base, NoTimestamp
	s.next = s.base
	if n := s.idx.entries(); n > 0 {
		off, p, err := s.idx.at(n - 1)
		if err != nil {
			return 0, err
		}
		start, s.next = p, off
	}
	if ts, off, ok, err := s.tidx.last(); err != nil {
		return 0, err
	} else if ok {
		s.maxTs, s.maxTsOff = ts, off
	}
	// rollTs: the first batch's timestamp.
	if s.size >= BatchHeaderSize {
		if h, err := s.readFullHeader(0, s.size); err == nil {
			if h.MaxTimestamp >= 0 {
				s.rollTs = h.MaxTimestamp
			}
		}
	}
	s.bytesSinceIndex = 0
	buf := make([]byte, 0, 64<<10)
	pos := start
	for pos < s.size {
		h, err := s.readFullHeader(pos, s.size)
		if err != nil {
			return pos, err
		}
		if h.BaseOffset != s.next && !(pos == 0 && h.BaseOffset == s.base) {
			return pos, s.corrupt(pos, h.BaseOffset, fmt.Errorf("batch base offset %d, expected %d", h.BaseOffset, s.next))
		}
		if int64(cap(buf)) < h.Size() {
			buf = make([]byte, h.Size())
		}
		b := buf[:h.Size()]
		if _, err := s.log.ReadAt(b, pos); err != nil && err != io.EOF {
			return pos, storageErr("read "+s.logPath, err)
		}
		if _, err := frameBatch(b); err != nil {
			return pos, s.corrupt(pos, h.BaseOffset, err)
		}
		if h.MaxTimestamp > s.maxTs {
			s.maxTs, s.maxTsOff = h.MaxTimestamp, h.BaseOffset
		}
		if pos > start || s.idx.entries() == 0 {
			s.bytesSinceIndex += h.Size()
		} else {
			s.bytesSinceIndex = h.Size()
		}
		s.next = h.LastOffset() + 1
		pos += h.Size()
	}
	return pos, nil
}

// truncateTo cuts the segment at byte position pos (a batch boundary, at
// which the batch starting at offset nextOff begins, or the end) and fixes
// the indexes and the in-memory summary.
func (s *segment) truncateTo(pos int64, nextOff int64, interval int32) error {
	if err := s.log.Truncate(pos); err != nil {
		return err
	}
	s.size, s.next = pos, nextOff
	if err := s.idx.truncateFrom(nextOff); err != nil {
		return err
	}
	if err := s.tidx.truncateFrom(nextOff); err != nil {
		return err
	}
	s.dirty = true
	if _, err := s.loadTail(interval); err != nil {
		return err
	}
	return nil
}

// readBatch reads the whole batch at pos into a new slice.
func (s *segment) readBatch(pos, size int64) ([]byte, error) {
	b := make([]byte, size)
	if _, err := s.log.ReadAt(b, pos); err != nil && err != io.EOF {
		return nil, storageErr("read "+s.logPath, err)
	}
	return b, nil
}

// putUint helpers used by Append to rewrite headers in place.
func putBaseOffset(b []byte, off int64) { binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off)) }
func putLeaderEpoch(b []byte, e int32)  { binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(e)) }

// indexState identifies a segment's index files: how many entries each had
// and their checksums. The checkpoint stores the active segment's state as of
// the last flush.
type indexState struct {
	Base        int64 // segment base offset; -1: none recorded
	IdxEntries  int64
	IdxSum      uint32
	TidxEntries int64
	TidxSum     uint32
}

var noIndexState = indexState{Base: -1}

// indexState returns the segment's current index state.
func (s *segment) indexState() (indexState, error) {
	a, err := s.idx.checksum()
	if err != nil {
		return noIndexState, err
	}
	b, err := s.tidx.checksum()
	if err != nil {
		return noIndexState, err
	}
	return indexState{Base: s.base, IdxEntries: int64(s.idx.entries()), IdxSum: a,
		TidxEntries: int64(s.tidx.entries()), TidxSum: b}, nil
}
