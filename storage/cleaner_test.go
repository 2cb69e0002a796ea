package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// kv is one record of a test batch; a nil val is a tombstone, a nil key a
// record without a key.
type kv struct{ key, val []byte }

// keyedBatch encodes records as one uncompressed batch with timestamp ts,
// then, when codec is not 0, rewrites it compressed by the RecordWriter.
func keyedBatch(t testing.TB, recs []kv, ts int64, codec int16, pid int64, seq int32) []byte {
	t.Helper()
	var body []byte
	for i, r := range recs {
		var rec []byte
		rec = append(rec, 0)
		rec = binary.AppendVarint(rec, 0)
		rec = binary.AppendVarint(rec, int64(i))
		for _, f := range [][]byte{r.key, r.val} {
			if f == nil {
				rec = binary.AppendVarint(rec, -1)
			} else {
				rec = binary.AppendVarint(rec, int64(len(f)))
				rec = append(rec, f...)
			}
		}
		rec = binary.AppendVarint(rec, 0)
		body = binary.AppendVarint(body, int64(len(rec)))
		body = append(body, rec...)
	}
	sp := batchSpec{firstTs: ts, producerID: pid, baseSeq: seq}
	if pid < 0 {
		sp.producerID = -1
	}
	b := frame(sp, body, int32(len(recs)-1), ts)
	binary.BigEndian.PutUint32(b[offNumRecords:], uint32(len(recs)))
	recrc(b)
	if codec == 0 {
		return b
	}
	got, err := cleanTestReader.Records(b)
	if err != nil {
		t.Fatal(err)
	}
	orig := append([]byte(nil), b...)
	binary.BigEndian.PutUint16(orig[offAttributes:], uint16(codec))
	out, err := cleanTestWriter.Rebuild(nil, orig, got)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Shared by keyedBatch (tests in this package do not run in parallel):
// a zstd encoder per batch would dominate the tests' time.
var (
	cleanTestReader = NewRecordReader(1 << 20)
	cleanTestWriter = NewRecordWriter()
)

func compactConfig() Config {
	c := smallConfig()
	c.CleanupPolicy = "compact"
	c.MinCleanableDirtyRatio = 0
	c.DeleteRetentionMs = 1000
	return c
}

// cleanOnce prepares, runs and finishes one cleaning; it returns the task
// (nil when there was nothing to clean).
func cleanOnce(t testing.TB, l *Log, c *Cleaner) *CleanTask {
	t.Helper()
	task, err := l.PrepareClean()
	if err != nil {
		t.Fatalf("PrepareClean: %v", err)
	}
	if task == nil {
		return nil
	}
	if err := c.Run(task, nil); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := l.FinishClean(task); err != nil {
		t.Fatalf("FinishClean: %v", err)
	}
	return task
}

// readRecords reads the whole log and returns its records by offset,
// checking that batches are contiguous from the log start.
func readRecords(t testing.TB, l *Log) (offs []int64, recs []kv) {
	t.Helper()
	all := readAll(t, l)
	rr := NewRecordReader(1 << 20)
	next := l.LogStartOffset()
	if len(all) > 0 {
		h, _ := ParseBatchHeader(all)
		next = h.BaseOffset
	}
	for len(all) > 0 {
		n, err := frameBatch(all)
		if err != nil {
			t.Fatalf("frame: %v", err)
		}
		h, _ := ParseBatchHeader(all)
		if h.BaseOffset != next {
			t.Fatalf("batch at %d, expected %d (not contiguous)", h.BaseOffset, next)
		}
		if !plausibleCount(h) {
			t.Fatalf("batch at %d: %d records, last delta %d", h.BaseOffset, h.NumRecords, h.LastOffsetDelta)
		}
		rs, err := rr.Records(all[:n])
		if err != nil {
			t.Fatalf("records at %d: %v", h.BaseOffset, err)
		}
		prev := int64(-1)
		for _, r := range rs {
			off := h.BaseOffset + int64(r.OffsetDelta)
			if off <= prev || off > h.LastOffset() {
				t.Fatalf("record offset %d out of order in batch %d..%d", off, h.BaseOffset, h.LastOffset())
			}
			prev = off
			offs = append(offs, off)
			recs = append(recs, kv{clone(r.Key), clone(r.Value)})
		}
		next = h.NextOffset()
		all = all[n:]
	}
	if next != l.LogEndOffset() {
		t.Fatalf("batches end at %d, log end %d", next, l.LogEndOffset())
	}
	return offs, recs
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// TestCleanerModel writes random keyed records and tombstones, cleans at
// random points (reopening the log now and then), and checks what a reader
// sees against a model: every record read is the one written at its
// offset, every key's latest write is there (a tombstone may be gone once
// delete.retention.ms passed), nothing else of a key older than its latest
// write survives below the cleaner offset, and a cleaning keeps offsets.
func TestCleanerModel(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { cleanerModel(t, seed) })
	}
}

func cleanerModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	fs := NewMemFS()
	clock := newClock()
	cfg := compactConfig()
	l := openT(t, fs, "/p", cfg, clock)
	defer func() { l.Close() }()
	c := NewCleaner(CleanerConfig{DedupeBufferBytes: int64(24 * (16 + rng.IntN(200)))})
	written := map[int64]kv{}       // offset → record
	latest := map[string]int64{}    // key → offset of its latest write
	deletedAt := map[string]int64{} // key → timestamp of its latest write, when a tombstone
	keys := 5 + rng.IntN(60)
	cleanings := 0
	for step := 0; step < 400; step++ {
		switch r := rng.IntN(20); {
		case r < 15:
			n := 1 + rng.IntN(4)
			var recs []kv
			for i := 0; i < n; i++ {
				k := []byte(fmt.Sprintf("key-%d", rng.IntN(keys)))
				var v []byte
				if rng.IntN(6) != 0 {
					v = fmt.Appendf(nil, "v%d-%d-%s", step, i, strings.Repeat("x", rng.IntN(40)))
				}
				recs = append(recs, kv{k, v})
			}
			codec := int16(0)
			if rng.IntN(3) == 0 {
				codec = int16(1 + rng.IntN(4))
			}
			info, err := l.Append(keyedBatch(t, recs, clock.Now().UnixMilli(), codec, -1, 0), 0)
			if err != nil {
				t.Fatalf("step %d: append: %v", step, err)
			}
			for i, r := range recs {
				off := info.FirstOffset + int64(i)
				written[off] = r
				latest[string(r.key)] = off
				if r.val == nil {
					deletedAt[string(r.key)] = clock.Now().UnixMilli()
				} else {
					delete(deletedAt, string(r.key))
				}
			}
			l.SetHighWatermark(l.LogEndOffset())
		case r < 18:
			before, _ := readRecords(t, l)
			if task := cleanOnce(t, l, c); task != nil {
				cleanings++
				after, _ := readRecords(t, l)
				if len(after) > len(before) {
					t.Fatalf("step %d: cleaning grew the log from %d to %d records", step, len(before), len(after))
				}
			}
		case r < 19:
			clock.Advance(time.Duration(rng.IntN(1500)) * time.Millisecond)
		default:
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openT(t, fs, "/p", cfg, clock)
		}
		if step%25 == 0 || step == 399 {
			checkCleanerModel(t, step, l, written, latest, deletedAt, clock.Now().UnixMilli(), cfg.DeleteRetentionMs)
		}
	}
	if cleanings == 0 {
		t.Fatal("no cleaning ran")
	}
}

func checkCleanerModel(t *testing.T, step int, l *Log, written map[int64]kv, latest map[string]int64, deletedAt map[string]int64, now, retention int64) {
	t.Helper()
	offs, recs := readRecords(t, l)
	seen := map[string]bool{}
	below := map[string]int64{} // key → a record below the cleaner offset
	for i, off := range offs {
		w, ok := written[off]
		if !ok || string(w.key) != string(recs[i].key) || string(w.val) != string(recs[i].val) || (w.val == nil) != (recs[i].val == nil) {
			t.Fatalf("step %d: offset %d holds %q=%q, written %q=%q (%v)", step, off, recs[i].key, recs[i].val, w.key, w.val, ok)
		}
		k := string(w.key)
		if off < l.CleanerOffset() {
			if prev, ok := below[k]; ok {
				t.Fatalf("step %d: key %q at offsets %d and %d, both below the cleaner offset %d", step, k, prev, off, l.CleanerOffset())
			}
			below[k] = off
		}
		if off == latest[k] {
			seen[k] = true
		}
	}
	for k, off := range latest {
		if seen[k] {
			continue
		}
		ts, tomb := deletedAt[k]
		if !tomb || now-ts <= retention {
			t.Fatalf("step %d: key %q: latest write at %d is missing (tombstone %v)", step, k, off, tomb)
		}
	}
}

// TestCleanerShrinks: many updates of few keys shrink to about one record
// per key, in few batches, with offsets and the log end unchanged.
func TestCleanerShrinks(t *testing.T) {
	clock := newClock()
	l := openT(t, NewMemFS(), "/p", compactConfig(), clock)
	defer l.Close()
	for i := 0; i < 2000; i++ {
		k := fmt.Appendf(nil, "k%d", i%20)
		if _, err := l.Append(keyedBatch(t, []kv{{k, fmt.Appendf(nil, "v%d", i)}}, clock.Now().UnixMilli(), 0, -1, 0), 0); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	sizeBefore, leo := l.Size(), l.LogEndOffset()
	task := cleanOnce(t, l, NewCleaner(CleanerConfig{DedupeBufferBytes: 1 << 20}))
	if task == nil {
		t.Fatal("nothing to clean")
	}
	offs, recs := readRecords(t, l)
	active := l.segs[len(l.segs)-1].base
	cleaned := 0
	for i, off := range offs {
		if off < active {
			cleaned++
			if want := fmt.Sprintf("v%d", off); string(recs[i].val) != want {
				t.Fatalf("offset %d value %q, want %q", off, recs[i].val, want)
			}
		}
	}
	if cleaned > 20 {
		t.Fatalf("%d records left below the active segment, want at most 20 (one per key)", cleaned)
	}
	if l.LogEndOffset() != leo || l.Size() >= sizeBefore/4 {
		t.Fatalf("log end %d (was %d), size %d (was %d)", l.LogEndOffset(), leo, l.Size(), sizeBefore)
	}
	t.Logf("stats %+v; size %d -> %d", task.Stats, sizeBefore, l.Size())
	// The next cleaning groups the small cleaned segments (Kafka groups by
	// the segments' sizes before cleaning).
	segsBefore := l.NumSegments()
	for i := 0; i < 60; i++ {
		if _, err := l.Append(keyedBatch(t, []kv{{fmt.Appendf(nil, "k%d", i%20), []byte("again")}}, clock.Now().UnixMilli(), 0, -1, 0), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.roll(); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	task = cleanOnce(t, l, NewCleaner(CleanerConfig{DedupeBufferBytes: 1 << 20}))
	if task == nil || task.Stats.SegmentsOut >= task.Stats.SegmentsIn || l.NumSegments() >= segsBefore {
		t.Fatalf("second cleaning: %+v, segments %d -> %d", task, segsBefore, l.NumSegments())
	}
}

// TestCleanerKeepsProducerRuns: batches of one idempotent producer that
// lose every record become one empty batch carrying the producer's last
// sequence; another producer's run is not merged into it.
func TestCleanerKeepsProducerRuns(t *testing.T) {
	clock := newClock()
	l := openT(t, NewMemFS(), "/p", compactConfig(), clock)
	defer l.Close()
	for i := 0; i < 40; i++ {
		pid := int64(7)
		if i >= 30 {
			pid = 8
		}
		seq := int32(i)
		if pid == 8 {
			seq = int32(i - 30)
		}
		if _, err := l.Append(keyedBatch(t, []kv{{[]byte("same"), fmt.Appendf(nil, "v%d", i)}}, clock.Now().UnixMilli(), 0, pid, seq), 0); err != nil {
			t.Fatal(err)
		}
	}
	// A final write in the active segment supersedes all of them.
	for l.NumSegments() < 2 || l.active().size == 0 {
		if _, err := l.Append(keyedBatch(t, []kv{{[]byte("pad"), make([]byte, 500)}}, clock.Now().UnixMilli(), 0, -1, 0), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.roll(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(keyedBatch(t, []kv{{[]byte("same"), []byte("last")}}, clock.Now().UnixMilli(), 0, -1, 0), 0); err != nil {
		t.Fatal(err)
	}
	// The active segment is never cleaned (nor mapped): seal this one.
	if err := l.roll(); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	cleanOnce(t, l, NewCleaner(CleanerConfig{DedupeBufferBytes: 1 << 20}))
	hs := splitBatches(t, readAll(t, l))
	var empties []BatchHeader
	for _, h := range hs {
		if h.NumRecords == 0 {
			empties = append(empties, h)
		}
	}
	if len(empties) < 2 || empties[0].ProducerID != 7 || empties[0].BaseOffset != 0 || empties[0].LastOffset() != 29 || empties[0].BaseSequence != 0 ||
		empties[1].ProducerID != 8 || empties[1].BaseOffset != 30 || empties[1].LastOffset() != 39 {
		t.Fatalf("empty batches %+v", empties)
	}
}

// TestCleanerRespectsBounds: nothing at or above the high watermark, in the
// active segment, or younger than min.compaction.lag.ms is cleaned; the
// dirty ratio gates CleanState.Due; max.compaction.lag.ms forces it.
func TestCleanerRespectsBounds(t *testing.T) {
	clock := newClock()
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0.99
	cfg.MinCompactionLagMs = 10_000
	cfg.MaxCompactionLagMs = 60_000
	l := openT(t, NewMemFS(), "/p", cfg, clock)
	defer l.Close()
	for i := 0; i < 300; i++ {
		if _, err := l.Append(keyedBatch(t, []kv{{[]byte("k"), fmt.Appendf(nil, "v%d", i)}}, clock.Now().UnixMilli(), 0, -1, 0), 0); err != nil {
			t.Fatal(err)
		}
	}
	if task, _ := l.PrepareClean(); task != nil {
		t.Fatal("cleanable with the high watermark at 0")
	}
	l.SetHighWatermark(l.LogEndOffset())
	if task, _ := l.PrepareClean(); task != nil {
		t.Fatal("cleanable before min.compaction.lag.ms")
	}
	clock.Advance(11 * time.Second)
	st := l.CleanState()
	if st.DirtyBytes == 0 || st.Ratio != 1 || !st.Due || st.Overdue {
		t.Fatalf("state %+v", st)
	}
	cleanOnce(t, l, NewCleaner(CleanerConfig{DedupeBufferBytes: 1 << 16}))
	if st := l.CleanState(); st.DirtyBytes != 0 || st.Due {
		t.Fatalf("after cleaning: %+v", st)
	}
	// New dirty data: below the ratio, until max.compaction.lag.ms.
	for i := 0; i < 100; i++ {
		if _, err := l.Append(keyedBatch(t, []kv{{[]byte("k"), fmt.Appendf(nil, "w%d", i)}}, clock.Now().UnixMilli(), 0, -1, 0), 0); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	clock.Advance(11 * time.Second)
	if st := l.CleanState(); st.DirtyBytes == 0 || st.Due {
		t.Fatalf("below the dirty ratio: %+v", st)
	}
	clock.Advance(61 * time.Second)
	if st := l.CleanState(); !st.Due || !st.Overdue {
		t.Fatalf("past max.compaction.lag.ms: %+v", st)
	}
}

// TestCompactedTopicRejectsKeylessRecords: Kafka's INVALID_RECORD, also
// inside compressed batches; the log is unchanged.
func TestCompactedTopicRejectsKeylessRecords(t *testing.T) {
	l := openT(t, NewMemFS(), "/p", compactConfig(), nil)
	defer l.Close()
	for _, codec := range []int16{0, 1, 2, 3, 4} {
		b := keyedBatch(t, []kv{{[]byte("a"), []byte("1")}, {nil, []byte("2")}}, 1, codec, -1, 0)
		_, err := l.Append(b, 0)
		mustErrIs(t, err, ErrInvalidRecord)
		if l.LogEndOffset() != 0 {
			t.Fatalf("codec %d: log end %d", codec, l.LogEndOffset())
		}
	}
	if _, err := l.Append(keyedBatch(t, []kv{{[]byte("a"), nil}}, 1, 3, -1, 0), 0); err != nil {
		t.Fatalf("keyed tombstone: %v", err)
	}
}

// TestCleanerStaleAndAbort: a log that changed under a cleaning swaps
// nothing and leaves no files; a stopped run leaves no files.
func TestCleanerStaleAndAbort(t *testing.T) {
	fs := NewMemFS()
	clock := newClock()
	cfg := compactConfig()
	cfg.CleanupPolicy = "compact,delete"
	cfg.RetentionMs = 1000
	l := openT(t, fs, "/p", cfg, clock)
	defer l.Close()
	for i := 0; i < 200; i++ {
		if _, err := l.Append(keyedBatch(t, []kv{{fmt.Appendf(nil, "k%d", i%5), []byte("v")}}, clock.Now().UnixMilli(), 0, -1, 0), 0); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	c := NewCleaner(CleanerConfig{DedupeBufferBytes: 1 << 16})
	task, err := l.PrepareClean()
	if err != nil || task == nil {
		t.Fatalf("prepare: %v %v", task, err)
	}
	if err := c.Run(task, nil); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second)
	if n, err := l.ApplyRetention(); err != nil || n == 0 {
		t.Fatalf("retention: %d %v", n, err)
	}
	mustErrIs(t, l.FinishClean(task), ErrCleanStale)
	noCleanerFiles(t, fs, "/p")

	stop := make(chan struct{})
	close(stop)
	for i := 0; i < 200; i++ {
		if _, err := l.Append(keyedBatch(t, []kv{{fmt.Appendf(nil, "k%d", i%5), []byte("v")}}, clock.Now().UnixMilli(), 0, -1, 0), 0); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	task, _ = l.PrepareClean()
	if task == nil {
		t.Fatal("nothing to clean")
	}
	if err := c.Run(task, stop); !errors.Is(err, ErrCleanAborted) {
		t.Fatalf("run with stop closed: %v", err)
	}
	noCleanerFiles(t, fs, "/p")
}

func noCleanerFiles(t *testing.T, fs FS, dir string) {
	t.Helper()
	names, err := fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasSuffix(n, cleanedSuffix) || strings.HasSuffix(n, swapSuffix) {
			t.Fatalf("leftover %s", n)
		}
	}
}

// stepFS is a MemFS that takes a crash clone just before its n-th
// mutating operation (create, rename, remove, sync of a file or a
// directory, write).
type stepFS struct {
	*MemFS
	ops, at int
	clone   *MemFS
}

func (s *stepFS) step() {
	s.ops++
	if s.ops == s.at {
		s.clone = s.MemFS.CrashClone()
	}
}

func (s *stepFS) Create(n string) (File, error) {
	s.step()
	f, err := s.MemFS.Create(n)
	if err != nil {
		return nil, err
	}
	return &stepFile{f, s}, nil
}

func (s *stepFS) OpenReadWrite(n string) (File, error) {
	f, err := s.MemFS.OpenReadWrite(n)
	if err != nil {
		return nil, err
	}
	return &stepFile{f, s}, nil
}
func (s *stepFS) Rename(o, n string) error { s.step(); return s.MemFS.Rename(o, n) }
func (s *stepFS) Remove(n string) error    { s.step(); return s.MemFS.Remove(n) }
func (s *stepFS) SyncDir(d string) error   { s.step(); return s.MemFS.SyncDir(d) }

type stepFile struct {
	File
	s *stepFS
}

func (f *stepFile) Sync() error { f.s.step(); return f.File.Sync() }
func (f *stepFile) WriteAt(p []byte, off int64) (int, error) {
	f.s.step()
	return f.File.WriteAt(p, off)
}
func (f *stepFile) Write(p []byte) (int, error) { f.s.step(); return f.File.Write(p) }

// TestCleanerCrashAtEveryStep crashes a cleaning (run and swap) before
// each of its filesystem operations in turn and reopens the log from what
// survived: each cleaned range holds exactly its old batches or exactly
// its new ones, and the records read are the model's.
func TestCleanerCrashAtEveryStep(t *testing.T) {
	// The same batches for every run (compressing them once keeps the
	// test quick under the race detector).
	var batches [][]byte
	for i := 0; i < 120; i++ {
		v := fmt.Appendf(nil, "v%d", i)
		if i%7 == 0 {
			v = nil
		}
		batches = append(batches, keyedBatch(t, []kv{{fmt.Appendf(nil, "k%d", i%13), v}}, newClock().Now().UnixMilli(), int16(i%5), -1, 0))
	}
	build := func(fs FS, clock *testClock) *Log {
		l := openT(t, fs, "/p", compactConfig(), clock)
		for _, b := range batches {
			if _, err := l.Append(append([]byte(nil), b...), 0); err != nil {
				t.Fatal(err)
			}
		}
		l.SetHighWatermark(l.LogEndOffset())
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := l.Checkpoint(); err != nil {
			t.Fatal(err)
		}
		return l
	}
	// A dry run: the bytes before and after, the groups, the op count.
	clock := newClock()
	dry := &stepFS{MemFS: NewMemFS()}
	l := build(dry, clock)
	oldBytes := readAll(t, l)
	start := dry.ops
	task := cleanOnce(t, l, NewCleaner(CleanerConfig{DedupeBufferBytes: 1 << 16}))
	total := dry.ops - start
	newBytes := readAll(t, l)
	l.Close()
	if task == nil || total < 8 || bytes.Equal(oldBytes, newBytes) {
		t.Fatalf("dry run: task %v, %d operations", task, total)
	}
	split := func(b []byte) map[int64][]byte { // batches by base offset
		m := map[int64][]byte{}
		for len(b) > 0 {
			n, _ := frameBatch(b)
			h, _ := ParseBatchHeader(b)
			m[h.BaseOffset] = b[:n]
			b = b[n:]
		}
		return m
	}
	oldM, newM := split(oldBytes), split(newBytes)
	c := NewCleaner(CleanerConfig{DedupeBufferBytes: 1 << 16})
	for at := 1; at <= total; at++ {
		clock := newClock()
		fs := &stepFS{MemFS: NewMemFS()}
		l := build(fs, clock)
		fs.at = fs.ops + at
		if task, _ := l.PrepareClean(); task != nil {
			if err := c.Run(task, nil); err == nil {
				_ = l.FinishClean(task)
			}
		}
		l.Close()
		if fs.clone == nil {
			t.Fatalf("step %d of %d: no crash taken", at, total)
		}
		r := openT(t, fs.clone, "/p", compactConfig(), clock)
		got := split(readAll(t, r))
		noCleanerFiles(t, fs.clone, "/p")
		// Every batch read is an old or a new one at its offset; ranges
		// that mix are caught by the contiguity check of readRecords.
		for off, b := range got {
			if !bytes.Equal(b, oldM[off]) && !bytes.Equal(b, newM[off]) {
				t.Fatalf("crash before operation %d of %d: batch at %d is neither the old nor the new one", at, total, off)
			}
		}
		readRecords(t, r)
		r.Close()
	}
	t.Logf("crashed at each of %d operations", total)
}
