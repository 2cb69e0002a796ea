package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fsCase runs a test on both the OS filesystem and MemFS.
func forEachFS(t *testing.T, fn func(t *testing.T, fs FS, dir string)) {
	t.Run("os", func(t *testing.T) { fn(t, OSFS(), filepath.Join(t.TempDir(), "topic-0")) })
	t.Run("mem", func(t *testing.T) { fn(t, NewMemFS(), "/data/topic-0") })
}

func TestAppendReadRoundTrip(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs FS, dir string) {
		l := openT(t, fs, dir, smallConfig(), nil)
		var want []byte
		for i := 0; i < 60; i++ {
			b := buildBatch(batchSpec{records: 1 + i%4, valueSize: 10 + i*3, firstTs: 1000 + int64(i), tsStep: 1, fill: byte(i)})
			info, err := l.Append(b, 3)
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != int32(len(b)) || info.LastOffset-info.FirstOffset+1 != int64(info.NumRecords) {
				t.Fatalf("info %+v", info)
			}
			h, _ := ParseBatchHeader(b)
			if h.BaseOffset != info.FirstOffset || h.PartitionLeaderEpoch != 3 {
				t.Fatalf("header not rewritten in place: %+v", h)
			}
			want = append(want, b...)
		}
		if l.NumSegments() < 3 {
			t.Fatalf("expected rolls, have %d segments", l.NumSegments())
		}
		if got := readAll(t, l); !bytes.Equal(got, want) {
			t.Fatalf("read back %d bytes, want %d", len(got), len(want))
		}
		if l.Size() != int64(len(want)) {
			t.Fatalf("Size %d, want %d", l.Size(), len(want))
		}
		// Every offset starts a read at the batch holding it.
		for _, h := range splitBatches(t, want) {
			for off := h.BaseOffset; off <= h.LastOffset(); off++ {
				r, err := l.Read(off, 1, l.LogEndOffset(), true)
				if err != nil {
					t.Fatal(err)
				}
				if r.FirstOffset() != h.BaseOffset || r.NextOffset() != h.NextOffset() || int64(r.Len()) != h.Size() {
					t.Fatalf("read %d: region first %d next %d len %d, batch %d..%d", off, r.FirstOffset(), r.NextOffset(), r.Len(), h.BaseOffset, h.LastOffset())
				}
			}
		}
		leo := l.LogEndOffset()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = openT(t, fs, dir, smallConfig(), nil)
		defer l.Close()
		if l.LogEndOffset() != leo {
			t.Fatalf("LEO after reopen %d, want %d", l.LogEndOffset(), leo)
		}
		if rep := l.Recovery(); rep.SegmentsRecovered != 0 || rep.Truncated != nil {
			t.Fatalf("clean reopen recovered: %+v", rep)
		}
		if got := readAll(t, l); !bytes.Equal(got, want) {
			t.Fatal("contents differ after reopen")
		}
		if err := l.checkConsistency(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAppendMultipleBatchesAtOnce(t *testing.T) {
	l := openT(t, NewMemFS(), "/p", smallConfig(), nil)
	defer l.Close()
	var req []byte
	for i := 0; i < 3; i++ {
		req = append(req, buildBatch(batchSpec{records: 2, valueSize: 5, firstTs: int64(10 - i)})...)
	}
	info, err := l.Append(req, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := AppendInfo{FirstOffset: 0, LastOffset: 5, MaxTimestamp: 10, OffsetOfMaxTimestamp: 0, NumRecords: 6, NumBatches: 3, Size: int32(len(req))}
	if info != want {
		t.Fatalf("info %+v, want %+v", info, want)
	}
	hs := splitBatches(t, readAll(t, l))
	for i, h := range hs {
		if h.BaseOffset != int64(2*i) {
			t.Fatalf("batch %d base %d", i, h.BaseOffset)
		}
	}
}

func TestAppendValidation(t *testing.T) {
	good := func() []byte { return buildBatch(batchSpec{records: 3, valueSize: 20, firstTs: 5}) }
	cases := []struct {
		name  string
		input func() []byte
		want  error
	}{
		{"bad crc", func() []byte { b := good(); b[len(b)-1] ^= 1; return b }, ErrCorruptMessage},
		{"crc field flipped", func() []byte { b := good(); b[offCRC] ^= 0x80; return b }, ErrCorruptMessage},
		{"truncated batch", func() []byte { b := good(); return b[:len(b)-5] }, ErrCorruptMessage},
		{"short header", func() []byte { return good()[:40] }, ErrCorruptMessage},
		{"length too small", func() []byte {
			b := good()
			binary.BigEndian.PutUint32(b[offBatchLength:], 10)
			return b
		}, ErrCorruptMessage},
		{"trailing garbage", func() []byte { return append(good(), 1, 2, 3) }, ErrCorruptMessage},
		{"magic 1", func() []byte { b := good(); b[offMagic] = 1; return b }, ErrInvalidRecord},
		{"count mismatch", func() []byte {
			b := good()
			binary.BigEndian.PutUint32(b[offNumRecords:], 4)
			recrc(b)
			return b
		}, ErrInvalidRecord},
		{"zero records", func() []byte {
			b := frame(batchSpec{records: 0}, nil, -1, 0)
			binary.BigEndian.PutUint32(b[offNumRecords:], 0)
			recrc(b)
			return b
		}, ErrInvalidRecord},
		{"inner record framing", func() []byte {
			b := good()
			b[BatchHeaderSize] ^= 0x04 // first record's length varint
			recrc(b)
			return b
		}, ErrInvalidRecord},
		{"unknown codec", func() []byte {
			b := good()
			binary.BigEndian.PutUint16(b[offAttributes:], 6)
			recrc(b)
			return b
		}, ErrInvalidRecord},
		{"control batch from client", func() []byte {
			b := good()
			binary.BigEndian.PutUint16(b[offAttributes:], attrControl)
			recrc(b)
			return b
		}, ErrInvalidRecord},
		{"empty request", func() []byte { return nil }, ErrInvalidRecord},
		{"too large", func() []byte { return buildBatch(batchSpec{valueSize: 2000}) }, ErrMessageTooLarge},
		{"second batch bad", func() []byte {
			b2 := good()
			b2[70] ^= 0xff
			return append(good(), b2...)
		}, ErrCorruptMessage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := smallConfig()
			cfg.MaxMessageBytes = 1500
			l := openT(t, NewMemFS(), "/p", cfg, nil)
			defer l.Close()
			appendN(t, l, 2, 1, 10, 0, 0)
			leo, size := l.LogEndOffset(), l.Size()
			in := tc.input()
			orig := append([]byte(nil), in...)
			_, err := l.Append(in, 7)
			mustErrIs(t, err, tc.want)
			if !bytes.Equal(in, orig) {
				t.Fatal("Append modified its input on error")
			}
			if l.LogEndOffset() != leo || l.Size() != size {
				t.Fatalf("log changed: LEO %d size %d", l.LogEndOffset(), l.Size())
			}
			// The log still works.
			appendN(t, l, 1, 1, 10, 0, 0)
		})
	}
}

func TestAppendFromCoordinatorAllowsControl(t *testing.T) {
	l := openT(t, NewMemFS(), "/p", smallConfig(), nil)
	defer l.Close()
	b := buildBatch(batchSpec{records: 1, valueSize: 4, attrs: attrControl | attrTransactional, producerID: 9})
	if _, err := l.AppendFromCoordinator(b, 1); err != nil {
		t.Fatal(err)
	}
	h, _ := ParseBatchHeader(b)
	if !h.IsControl() || !h.IsTransactional() || h.ProducerID != 9 {
		t.Fatalf("header %+v", h)
	}
}

func TestParseBatchHeader(t *testing.T) {
	b := buildBatch(batchSpec{base: 42, epoch: 5, records: 3, valueSize: 1, firstTs: 100, tsStep: 10,
		attrs: 3 | attrTransactional, producerID: 77, producerEpoch: 2, baseSeq: 9})
	h, err := ParseBatchHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	want := BatchHeader{BaseOffset: 42, BatchLength: int32(len(b) - 12), PartitionLeaderEpoch: 5, Magic: 2,
		CRC: binary.BigEndian.Uint32(b[17:]), Attributes: 3 | attrTransactional, LastOffsetDelta: 2, FirstTimestamp: 100,
		MaxTimestamp: 120, ProducerID: 77, ProducerEpoch: 2, BaseSequence: 9, NumRecords: 3}
	if h != want {
		t.Fatalf("got %+v\nwant %+v", h, want)
	}
	if h.Compression() != 3 || !h.IsTransactional() || h.IsControl() || h.Size() != int64(len(b)) || h.NextOffset() != 45 {
		t.Fatal("helpers wrong")
	}
	if _, err := ParseBatchHeader(b[:60]); !errors.Is(err, ErrCorruptMessage) {
		t.Fatalf("short header: %v", err)
	}
}

func TestReadBounds(t *testing.T) {
	l := openT(t, NewMemFS(), "/p", smallConfig(), nil)
	defer l.Close()
	// 10 batches of 2 records, 100 bytes-ish each: offsets 0..19.
	bs := appendN(t, l, 10, 2, 20, 0, 0)
	sz := int32(len(bs[0]))
	cases := []struct {
		name       string
		from       int64
		maxBytes   int32
		maxOffset  int64
		minOne     bool
		wantErr    error
		wantFirst  int64
		wantNext   int64
		wantRegion int // batches
	}{
		{"whole batch from its base", 0, sz, 20, false, nil, 0, 2, 1},
		{"from mid batch", 1, sz, 20, false, nil, 0, 2, 1},
		{"two batches", 2, 2 * sz, 20, false, nil, 2, 6, 2},
		{"max bytes not multiple", 2, 2*sz + sz/2, 20, false, nil, 2, 6, 2},
		{"bounded by max offset", 0, 10 * sz, 6, false, nil, 0, 6, 3},
		{"max offset inside batch excludes it", 0, 10 * sz, 5, false, nil, 0, 4, 2},
		{"max offset above LEO is capped", 18, 10 * sz, 100, false, nil, 18, 20, 1},
		{"too small without minOne", 0, sz - 1, 20, false, nil, -1, 0, 0},
		{"too small with minOne", 0, sz - 1, 20, true, nil, 0, 2, 1},
		{"at LEO", 20, sz, 20, false, nil, -1, 20, 0},
		{"at max offset", 6, sz, 6, false, nil, -1, 6, 0},
		{"above LEO", 21, sz, 30, false, ErrOffsetOutOfRange, 0, 0, 0},
		{"negative", -1, sz, 30, false, ErrOffsetOutOfRange, 0, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := l.Read(tc.from, tc.maxBytes, tc.maxOffset, tc.minOne)
			if tc.wantErr != nil {
				mustErrIs(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.FirstOffset() != tc.wantFirst || r.NextOffset() != tc.wantNext || r.Len() != tc.wantRegion*int(sz) {
				t.Fatalf("region first %d next %d len %d; want %d %d %d", r.FirstOffset(), r.NextOffset(), r.Len(), tc.wantFirst, tc.wantNext, tc.wantRegion*int(sz))
			}
			got, err := r.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantRegion > 0 && !bytes.Equal(got, bytes.Join(bs[tc.wantFirst/2:tc.wantFirst/2+int64(tc.wantRegion)], nil)) {
				t.Fatal("region bytes differ")
			}
		})
	}
}

func TestReadNeverSpansSegments(t *testing.T) {
	l := openT(t, NewMemFS(), "/p", smallConfig(), nil)
	defer l.Close()
	appendN(t, l, 100, 1, 50, 0, 0)
	off := int64(0)
	reads := 0
	for off < l.LogEndOffset() {
		r, err := l.Read(off, math.MaxInt32, l.LogEndOffset(), false)
		if err != nil {
			t.Fatal(err)
		}
		seg := l.segs[l.segmentFor(off)]
		if r.NextOffset() > seg.next {
			t.Fatalf("region crosses segment end %d", seg.next)
		}
		off = r.NextOffset()
		reads++
	}
	if reads != l.NumSegments() {
		t.Fatalf("%d reads for %d segments", reads, l.NumSegments())
	}
}

func TestRegionReadAtAndOSFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	l := openT(t, OSFS(), dir, smallConfig(), nil)
	defer l.Close()
	bs := appendN(t, l, 3, 1, 30, 0, 0)
	r, err := l.Read(0, 1<<20, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Join(bs, nil)
	p := make([]byte, 10)
	if n, err := r.ReadAt(p, 5); n != 10 || err != nil || !bytes.Equal(p, want[5:15]) {
		t.Fatalf("ReadAt: %d %v", n, err)
	}
	if n, err := r.ReadAt(make([]byte, 100), int64(len(want)-4)); n != 4 || err == nil {
		t.Fatalf("ReadAt at end: %d %v", n, err)
	}
	f, pos, ok := r.OSFile()
	if !ok || pos != 0 {
		t.Fatalf("OSFile: %v %d", ok, pos)
	}
	got := make([]byte, len(want))
	if _, err := f.ReadAt(got, pos); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("os file read: %v", err)
	}
	// Appending more does not disturb the region.
	appendN(t, l, 3, 1, 30, 0, 0)
	got2, err := r.AppendTo(nil)
	if err != nil || !bytes.Equal(got2, want) {
		t.Fatal("region changed after append")
	}
	mr, _ := openT(t, NewMemFS(), "/m", smallConfig(), nil).Read(0, 10, 0, false)
	if _, _, ok := mr.OSFile(); ok {
		t.Fatal("MemFS region offers an OS file")
	}
}

func TestRegionConcurrentReadersDuringAppends(t *testing.T) {
	l := openT(t, OSFS(), filepath.Join(t.TempDir(), "p"), smallConfig(), nil)
	defer l.Close()
	appendN(t, l, 5, 1, 100, 0, 0)
	r, err := l.Read(0, 1<<20, l.LogEndOffset(), false)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := r.AppendTo(nil)
	done := make(chan error)
	go func() {
		for i := 0; i < 200; i++ {
			got, err := r.AppendTo(nil)
			if err != nil || !bytes.Equal(got, want) {
				done <- fmt.Errorf("reader saw different bytes: %v", err)
				return
			}
		}
		done <- nil
	}()
	appendN(t, l, 100, 1, 100, 0, 0)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestOpenCreatesDirAndEmptyLog(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs FS, dir string) {
		l := openT(t, fs, dir, DefaultConfig(), nil)
		defer l.Close()
		if l.LogStartOffset() != 0 || l.LogEndOffset() != 0 || l.Size() != 0 || l.HighWatermark() != 0 {
			t.Fatal("new log not empty")
		}
		r, err := l.Read(0, 100, 0, true)
		if err != nil || r.Len() != 0 || r.FirstOffset() != -1 || r.NextOffset() != 0 {
			t.Fatalf("read empty: %+v %v", r, err)
		}
		if _, err := fs.Stat(filepath.Join(dir, "00000000000000000000.log")); err != nil {
			t.Fatal(err)
		}
	})
}

func TestClosedLog(t *testing.T) {
	l := openT(t, NewMemFS(), "/p", smallConfig(), nil)
	appendN(t, l, 1, 1, 1, 0, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal("second close:", err)
	}
	_, err := l.Append(buildBatch(batchSpec{}), 0)
	mustErrIs(t, err, ErrClosed)
	_, err = l.Read(0, 10, 1, true)
	mustErrIs(t, err, ErrClosed)
	mustErrIs(t, l.Flush(), ErrClosed)
}

func TestHighWatermarkAndCheckpointPersist(t *testing.T) {
	fs := NewMemFS()
	l := openT(t, fs, "/p", smallConfig(), nil)
	appendN(t, l, 10, 1, 10, 0, 0)
	l.SetHighWatermark(100)
	if l.HighWatermark() != 10 {
		t.Fatalf("HW not clamped to LEO: %d", l.HighWatermark())
	}
	l.SetHighWatermark(7)
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	// Crash without closing: the checkpoint survives, the recovery point is 0
	// (nothing flushed), and the unflushed tail is gone (never synced).
	c := fs.CrashClone()
	l.Close()
	l2 := openT(t, c, "/p", smallConfig(), nil)
	defer l2.Close()
	if l2.LogEndOffset() != 0 || l2.HighWatermark() != 0 {
		t.Fatalf("after crash LEO %d HW %d", l2.LogEndOffset(), l2.HighWatermark())
	}
	l3 := openT(t, fs, "/p", smallConfig(), nil)
	defer l3.Close()
	if l3.HighWatermark() != 7 || l3.LogEndOffset() != 10 {
		t.Fatalf("reopen HW %d LEO %d", l3.HighWatermark(), l3.LogEndOffset())
	}
}

func TestOpenRemovesLeftovers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	l := openT(t, OSFS(), dir, smallConfig(), nil)
	appendN(t, l, 3, 1, 1, 0, 0)
	l.Close()
	for _, n := range []string{"partition-checkpoint.tmp", "00000000000000000005.log.deleted", "00000000000000000099.index", "00000000000000000099.timeindex"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l = openT(t, OSFS(), dir, smallConfig(), nil)
	defer l.Close()
	if got := len(l.Recovery().RemovedFiles); got != 4 {
		t.Fatalf("removed %v", l.Recovery().RemovedFiles)
	}
	if l.LogEndOffset() != 3 {
		t.Fatal("data lost")
	}
}

// TestMappedReadFaultBecomesError cuts a segment file behind the log's back,
// so reading a batch header through the mapping faults (as an I/O error
// would): Read must return ErrStorage, not crash the process.
func TestMappedReadFaultBecomesError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	l := openT(t, OSFS(), dir, cfg, nil)
	defer l.Close()
	appendN(t, l, 40, 1, 1000, 0, 0)
	if _, err := l.Read(0, 100, 40, true); err != nil {
		t.Fatal(err)
	}
	if l.active().hdrMap == nil {
		t.Fatal("segment not mapped; the OS FS should map")
	}
	if err := os.Truncate(filepath.Join(dir, "00000000000000000000.log"), 0); err != nil {
		t.Fatal(err)
	}
	_, err := l.Read(35, 100, 40, true)
	mustErrIs(t, err, ErrStorage)
	if !strings.Contains(err.Error(), "memory fault") {
		t.Fatalf("expected a recovered fault, got %v", err)
	}
}
