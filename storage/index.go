package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// indexFile is the on-disk part shared by the offset and the time index: a
// flat array of fixed-size big-endian entries, append-only, plus a small
// in-memory tail of entries not yet written (pend) so that the append path
// costs no extra system call per index entry. pend is written when it fills,
// when the segment is sealed, and before every sync, so an entry can only be
// missing from disk in the unflushed region, which recovery rebuilds anyway.
//
// Lookups read entries through a read-only shared mapping when the FS offers
// one (no Go heap, no system call), else with ReadAt.
//
// Not safe for concurrent use: only the log's owner touches indexes.
type indexFile struct {
	fs        FS
	path      string
	entrySize int
	// f is the open descriptor; nil until first needed (sealed segments open
	// lazily) and again once a sealed index is served by its mapping.
	f File
	// onDisk is the number of entries in the file, valid once sized.
	// Invariant: the file's size is onDisk*entrySize (never preallocated).
	onDisk int
	sized  bool
	// pend holds entries not yet written, len a multiple of entrySize. Only the
	// active segment has a non-nil pend.
	pend []byte
	// mapped is a read-only mapping of the file's first mapLen bytes (mapLen
	// may exceed the file). Entries i with (i+1)*entrySize <= mapLen && i <
	// onDisk are read from it.
	mapped []byte
	unmap  func() error
	// mapTried is set once a mapping was attempted (it is not retried).
	mapTried bool
	// sum is the CRC-32C of all entries (on disk and pending) when sumValid.
	// The checkpoint records it for the active segment at each flush, so
	// Open can tell an intact active index from a damaged one without
	// trusting its contents.
	sum      uint32
	sumValid bool
	// maxEntries bounds the index (segment.index.bytes / entrySize); the
	// segment rolls when it is reached.
	maxEntries int
	scratch    [timeEntrySize]byte
}

// pendCap is how many entries an active index buffers before writing them.
const pendCap = 64

func (x *indexFile) entries() int { return x.onDisk + len(x.pend)/x.entrySize }

// open makes x.f an open handle (creating the file if needed); the first
// time it also loads the entry count, dropping a torn entry at the end (a
// crash during an index write). Sanity checks decide whether the rest is
// trustworthy.
func (x *indexFile) open() error {
	if x.f == nil {
		f, err := x.fs.OpenReadWrite(x.path)
		if err != nil {
			return err
		}
		x.f = f
	}
	if x.sized {
		return nil
	}
	size, err := x.f.Size()
	if err != nil {
		return err
	}
	if size%int64(x.entrySize) != 0 {
		size -= size % int64(x.entrySize)
		if err := x.f.Truncate(size); err != nil {
			return err
		}
	}
	x.onDisk = int(size / int64(x.entrySize))
	x.sized = true
	x.sumValid = false
	return nil
}

// release closes the descriptor of a sealed index that a mapping serves, so a
// sealed segment costs one descriptor (its log file), as in Kafka. The active
// segment keeps its index descriptors: reopening them would allocate on the
// append path.
func (x *indexFile) release() {
	if x.f != nil && x.mapped != nil && x.pend == nil {
		_ = x.f.Close()
		x.f = nil
	}
}

// activate gives the index a pending buffer: it is now the active segment's.
func (x *indexFile) activate() {
	if x.pend == nil {
		x.pend = make([]byte, 0, pendCap*x.entrySize)
	}
}

// ensureMapped maps the file when the FS supports it. Active indexes map
// their maximum size so appended entries are visible without remapping.
func (x *indexFile) ensureMapped(active bool) {
	if x.mapped != nil || x.mapTried {
		return
	}
	if err := x.open(); err != nil {
		return // lookups will report it
	}
	x.mapTried = true
	m, ok := x.f.(mapper)
	if !ok {
		return
	}
	length := x.onDisk * x.entrySize
	if active {
		length = (x.maxEntries + 1) * x.entrySize
	}
	if length == 0 {
		x.mapTried = false // try again once there is something to map
		return
	}
	data, unmap, err := m.Map(length)
	if err != nil {
		return // fall back to ReadAt
	}
	x.mapped, x.unmap = data, unmap
	x.release()
}

// entry returns entry i's bytes. The slice is only valid until the next call.
// REQUIRES: 0 <= i < entries().
func (x *indexFile) entry(i int) ([]byte, error) {
	es := x.entrySize
	if i >= x.onDisk {
		j := (i - x.onDisk) * es
		return x.pend[j : j+es], nil
	}
	if x.mapped != nil && (i+1)*es <= len(x.mapped) {
		return x.mapped[i*es : (i+1)*es], nil
	}
	if err := x.open(); err != nil {
		return nil, err
	}
	b := x.scratch[:es]
	if _, err := x.f.ReadAt(b, int64(i*es)); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// add appends an entry to the pending buffer, writing the buffer out first
// if it is full.
func (x *indexFile) add(e []byte) error {
	if len(x.pend)+len(e) > cap(x.pend) && len(x.pend) > 0 {
		if err := x.flush(); err != nil {
			return err
		}
	}
	x.pend = append(x.pend, e...)
	if x.sumValid {
		// Checksum the copy: e lives on the caller's stack, and handing it
		// to crc32 (an indirect call) would move it to the heap.
		x.sum = crc32.Update(x.sum, castagnoli, x.pend[len(x.pend)-len(e):])
	}
	return nil
}

// checksum returns the CRC-32C of all entries, computing it if needed.
func (x *indexFile) checksum() (uint32, error) {
	if x.sumValid {
		return x.sum, nil
	}
	if err := x.open(); err != nil {
		return 0, err
	}
	var sum uint32
	var buf [4096]byte
	for off := int64(0); off < int64(x.onDisk*x.entrySize); {
		n := min(int64(len(buf)), int64(x.onDisk*x.entrySize)-off)
		if x.mapped != nil && off+n <= int64(len(x.mapped)) {
			sum = crc32.Update(sum, castagnoli, x.mapped[off:off+n])
		} else {
			if _, err := x.f.ReadAt(buf[:n], off); err != nil && err != io.EOF {
				return 0, err
			}
			sum = crc32.Update(sum, castagnoli, buf[:n])
		}
		off += n
	}
	x.sum = crc32.Update(sum, castagnoli, x.pend)
	x.sumValid = true
	return x.sum, nil
}

// roomFor makes sure n more entries can be added without a write, by writing
// the pending buffer now if needed (so an append can fail before any of its
// data is written, not half-way).
func (x *indexFile) roomFor(n int) error {
	if len(x.pend)+n*x.entrySize > cap(x.pend) && len(x.pend) > 0 {
		return x.flush()
	}
	return nil
}

// flush writes pending entries to the file.
func (x *indexFile) flush() error {
	if len(x.pend) == 0 {
		return nil
	}
	if err := x.open(); err != nil {
		return err
	}
	if _, err := x.f.WriteAt(x.pend, int64(x.onDisk*x.entrySize)); err != nil {
		// Drop whatever part landed so the file stays entry-aligned and
		// matches onDisk; the entries stay pending.
		_ = x.f.Truncate(int64(x.onDisk * x.entrySize))
		return err
	}
	x.onDisk += len(x.pend) / x.entrySize
	x.pend = x.pend[:0]
	x.release()
	return nil
}

// sync writes pending entries and fsyncs the file.
func (x *indexFile) sync() error {
	if err := x.flush(); err != nil {
		return err
	}
	if !x.sized && x.f == nil {
		return nil // never opened: nothing written
	}
	if err := x.open(); err != nil {
		return err
	}
	err := x.f.Sync()
	x.release()
	return err
}

// truncateEntries keeps the first k entries.
func (x *indexFile) truncateEntries(k int) error {
	if err := x.open(); err != nil {
		return err
	}
	if k >= x.entries() {
		return nil
	}
	x.sumValid = false
	if k >= x.onDisk {
		x.pend = x.pend[:(k-x.onDisk)*x.entrySize]
		return nil
	}
	if err := x.open(); err != nil {
		return err
	}
	if x.pend != nil {
		x.pend = x.pend[:0]
	}
	if err := x.f.Truncate(int64(k * x.entrySize)); err != nil {
		return err
	}
	x.onDisk = k
	x.release()
	return nil
}

// seal writes pending entries and drops the pending buffer: the segment is
// no longer active. The mapping (sized for growth) stays valid.
func (x *indexFile) seal() error {
	if err := x.flush(); err != nil {
		return err
	}
	x.pend = nil
	x.release()
	return nil
}

// close releases the mapping and the file.
func (x *indexFile) close() error {
	var err error
	if x.unmap != nil {
		err = x.unmap()
		x.mapped, x.unmap = nil, nil
	}
	x.mapTried = false
	if x.f != nil {
		if cerr := x.f.Close(); err == nil {
			err = cerr
		}
		x.f = nil
	}
	return err
}

// offsetIndex maps offsets to byte positions: entry = relative offset
// (uint32, offset - segment base) and position (uint32), for the first
// batch after every index.interval.bytes. Entries strictly increase in both.
type offsetIndex struct {
	indexFile
	base int64
}

func newOffsetIndex(fs FS, path string, base int64, maxBytes int32) *offsetIndex {
	return &offsetIndex{
		indexFile: indexFile{fs: fs, path: path, entrySize: offsetEntrySize, maxEntries: int(maxBytes) / offsetEntrySize},
		base:      base,
	}
}

func (x *offsetIndex) at(i int) (off int64, pos int64, err error) {
	b, err := x.entry(i)
	if err != nil {
		return 0, 0, err
	}
	return x.base + int64(binary.BigEndian.Uint32(b)), int64(binary.BigEndian.Uint32(b[4:])), nil
}

func (x *offsetIndex) append(off, pos int64) error {
	var e [offsetEntrySize]byte
	binary.BigEndian.PutUint32(e[:], uint32(off-x.base))
	binary.BigEndian.PutUint32(e[4:], uint32(pos))
	return x.add(e[:])
}

// floor returns the entry with the largest offset <= target, or ok=false.
func (x *offsetIndex) floor(target int64) (i int, off, pos int64, ok bool, err error) {
	x.ensureMapped(x.pend != nil)
	lo, hi := 0, x.entries()-1
	found := -1
	for lo <= hi {
		mid := int(uint(lo+hi) >> 1)
		o, _, err := x.at(mid)
		if err != nil {
			return 0, 0, 0, false, err
		}
		if o <= target {
			found, lo = mid, mid+1
		} else {
			hi = mid - 1
		}
	}
	if found < 0 {
		return 0, 0, 0, false, nil
	}
	off, pos, err = x.at(found)
	return found, off, pos, err == nil, err
}

// floorPos returns the entry with the largest position <= p, or ok=false.
func (x *offsetIndex) floorPos(p int64) (off, pos int64, ok bool, err error) {
	x.ensureMapped(x.pend != nil)
	lo, hi := 0, x.entries()-1
	found := -1
	for lo <= hi {
		mid := int(uint(lo+hi) >> 1)
		_, q, err := x.at(mid)
		if err != nil {
			return 0, 0, false, err
		}
		if q <= p {
			found, lo = mid, mid+1
		} else {
			hi = mid - 1
		}
	}
	if found < 0 {
		return 0, 0, false, nil
	}
	off, pos, err = x.at(found)
	return off, pos, err == nil, err
}

// truncateFrom drops entries with offset >= off.
func (x *offsetIndex) truncateFrom(off int64) error {
	i, _, _, ok, err := x.floor(off - 1)
	if err != nil {
		return err
	}
	if !ok {
		return x.truncateEntries(0)
	}
	return x.truncateEntries(i + 1)
}

// check verifies the index against its segment: entries strictly increase,
// offsets lie in [base, next), positions in [0, size).
func (x *offsetIndex) check(next, size int64) error {
	prevOff, prevPos := int64(-1), int64(-1)
	for i := 0; i < x.entries(); i++ {
		o, p, err := x.at(i)
		if err != nil {
			return err
		}
		if o <= prevOff || p <= prevPos || o >= next || p >= size {
			return fmt.Errorf("%w: offset index entry %d (offset %d, position %d) out of order or bounds", ErrCorruptIndex, i, o, p)
		}
		prevOff, prevPos = o, p
	}
	return nil
}

// timeIndex maps timestamps to offsets: entry = timestamp (int64) and
// relative offset (uint32) of the batch holding the segment's largest
// timestamp so far. Appended at offset index points when the largest
// timestamp grew, and once more when the segment is sealed, so the last entry
// of a sealed segment holds its largest timestamp. Timestamps strictly
// increase, offsets do not decrease.
type timeIndex struct {
	indexFile
	base int64
}

func newTimeIndex(fs FS, path string, base int64, maxBytes int32) *timeIndex {
	return &timeIndex{
		indexFile: indexFile{fs: fs, path: path, entrySize: timeEntrySize, maxEntries: int(maxBytes) / timeEntrySize},
		base:      base,
	}
}

func (x *timeIndex) at(i int) (ts int64, off int64, err error) {
	b, err := x.entry(i)
	if err != nil {
		return 0, 0, err
	}
	return int64(binary.BigEndian.Uint64(b)), x.base + int64(binary.BigEndian.Uint32(b[8:])), nil
}

// last returns the last entry, or ok=false.
func (x *timeIndex) last() (ts, off int64, ok bool, err error) {
	n := x.entries()
	if n == 0 {
		return 0, 0, false, nil
	}
	ts, off, err = x.at(n - 1)
	return ts, off, err == nil, err
}

// maybeAppend adds (ts, off) if ts is larger than the last entry's.
func (x *timeIndex) maybeAppend(ts, off int64) error {
	if ts < 0 {
		return nil
	}
	if lts, _, ok, err := x.last(); err != nil {
		return err
	} else if ok && ts <= lts {
		return nil
	}
	var e [timeEntrySize]byte
	binary.BigEndian.PutUint64(e[:], uint64(ts))
	binary.BigEndian.PutUint32(e[8:], uint32(off-x.base))
	return x.add(e[:])
}

// lastBelow returns the entry with the largest timestamp < ts, or ok=false.
func (x *timeIndex) lastBelow(ts int64) (i int, t, off int64, ok bool, err error) {
	x.ensureMapped(x.pend != nil)
	lo, hi := 0, x.entries()-1
	found := -1
	for lo <= hi {
		mid := int(uint(lo+hi) >> 1)
		t, _, err := x.at(mid)
		if err != nil {
			return 0, 0, 0, false, err
		}
		if t < ts {
			found, lo = mid, mid+1
		} else {
			hi = mid - 1
		}
	}
	if found < 0 {
		return 0, 0, 0, false, nil
	}
	t, off, err = x.at(found)
	return found, t, off, err == nil, err
}

// truncateFrom drops entries with offset >= off.
func (x *timeIndex) truncateFrom(off int64) error {
	k := x.entries()
	for k > 0 {
		_, o, err := x.at(k - 1)
		if err != nil {
			return err
		}
		if o < off {
			break
		}
		k--
	}
	return x.truncateEntries(k)
}

// check verifies ordering and bounds.
func (x *timeIndex) check(next int64) error {
	prevTs, prevOff := int64(-1), x.base
	for i := 0; i < x.entries(); i++ {
		t, o, err := x.at(i)
		if err != nil {
			return err
		}
		if t <= prevTs || o < prevOff || o >= next {
			return fmt.Errorf("%w: time index entry %d (timestamp %d, offset %d) out of order or bounds", ErrCorruptIndex, i, t, o)
		}
		prevTs, prevOff = t, o
	}
	return nil
}
