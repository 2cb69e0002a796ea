package storage

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestAppendAsFollower(t *testing.T) {
	leader := openT(t, NewMemFS(), "/leader", smallConfig(), nil)
	defer leader.Close()
	appendN(t, leader, 5, 2, 10, 0, 1)
	if err := leader.AssignEpoch(3, leader.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	appendN(t, leader, 5, 2, 10, 0, 3)
	data := readAll(t, leader)

	f := openT(t, NewMemFS(), "/follower", smallConfig(), nil)
	defer f.Close()
	hs := splitBatches(t, data)
	half := 0
	for _, h := range hs[:4] {
		half += int(h.Size())
	}
	// Wrong start offset.
	_, err := f.AppendAsFollower(data[hs[0].Size():half])
	mustErrIs(t, err, ErrOffsetMismatch)
	// Gap between batches in one request.
	gap := append(append([]byte(nil), data[:hs[0].Size()]...), data[hs[0].Size()+hs[1].Size():half]...)
	_, err = f.AppendAsFollower(gap)
	mustErrIs(t, err, ErrOffsetMismatch)
	// Corrupt batch.
	bad := append([]byte(nil), data[:half]...)
	bad[half-1] ^= 1
	_, err = f.AppendAsFollower(bad)
	mustErrIs(t, err, ErrCorruptMessage)
	if f.LogEndOffset() != 0 {
		t.Fatal("failed follower append left data")
	}
	info, err := f.AppendAsFollower(data[:half])
	if err != nil {
		t.Fatal(err)
	}
	if info.FirstOffset != 0 || info.LastOffset != 7 || info.NumBatches != 4 {
		t.Fatalf("info %+v", info)
	}
	if _, err := f.AppendAsFollower(data[half:]); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, f); !bytes.Equal(got, data) {
		t.Fatal("follower bytes differ from leader's")
	}
	if got, want := f.EpochEntries(), [][2]int64{{1, 0}, {3, 10}}; !equalPairs(got, want) {
		t.Fatalf("follower epochs %v, want %v", got, want)
	}
}

func equalPairs(a, b [][2]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEpochCache(t *testing.T) {
	type step struct {
		epoch int32
		start int64
	}
	cases := []struct {
		name  string
		steps []step
		want  [][2]int64
	}{
		{"append", []step{{1, 0}, {2, 5}, {4, 9}}, [][2]int64{{1, 0}, {2, 5}, {4, 9}}},
		{"same epoch idempotent", []step{{1, 0}, {1, 0}, {1, 3}}, [][2]int64{{1, 0}}},
		{"same epoch earlier start", []step{{1, 0}, {2, 5}, {2, 4}}, [][2]int64{{1, 0}, {2, 4}}},
		{"older epoch ignored", []step{{1, 0}, {3, 5}, {2, 7}}, [][2]int64{{1, 0}, {3, 5}}},
		{"newer epoch at lower start drops later", []step{{1, 0}, {2, 5}, {3, 5}}, [][2]int64{{1, 0}, {3, 5}}},
		{"negative ignored", []step{{-1, 0}, {1, -1}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c epochCache
			for _, s := range tc.steps {
				c.assign(s.epoch, s.start)
			}
			var got [][2]int64
			for _, e := range c.entries {
				got = append(got, [2]int64{int64(e.Epoch), e.Start})
			}
			if !equalPairs(got, tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}
}

func TestEndOffsetForEpoch(t *testing.T) {
	c := epochCache{entries: []epochEntry{{2, 10}, {4, 20}, {7, 35}}}
	const leo = 50
	cases := []struct {
		epoch     int32
		wantEpoch int32
		wantEnd   int64
	}{
		{-1, -1, -1},
		{0, 0, 10}, // below the earliest: the start of the first known epoch
		{1, 1, 10},
		{2, 2, 20},
		{3, 2, 20},
		{4, 4, 35},
		{6, 4, 35},
		{7, 7, leo}, // latest: log end
		{8, -1, -1}, // above the latest: undefined
	}
	for _, tc := range cases {
		e, off := c.endOffsetFor(tc.epoch, leo)
		if e != tc.wantEpoch || off != tc.wantEnd {
			t.Errorf("endOffsetFor(%d) = (%d, %d), want (%d, %d)", tc.epoch, e, off, tc.wantEpoch, tc.wantEnd)
		}
	}
	var empty epochCache
	if e, off := empty.endOffsetFor(3, leo); e != -1 || off != -1 {
		t.Errorf("empty cache: (%d, %d)", e, off)
	}
}

func TestEpochCheckpointRoundTrip(t *testing.T) {
	c := epochCache{entries: []epochEntry{{0, 0}, {5, 100}, {6, 1 << 40}}}
	got, err := decodeEpochCheckpoint(c.encode())
	if err != nil || len(got) != 3 || got[2] != c.entries[2] {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", "1\n0\n", "0\n2\n1 5\n", "0\n2\n3 5\n2 9\n", "0\n1\n1 5\nextra\n", "0\n1\nx y\n"} {
		if _, err := decodeEpochCheckpoint([]byte(bad)); err == nil {
			t.Errorf("decoded %q", bad)
		}
	}
}

func TestEpochsPersistAndTruncate(t *testing.T) {
	fs := NewMemFS()
	l := openT(t, fs, "/p", smallConfig(), nil)
	appendN(t, l, 3, 1, 5, 0, 1)
	appendN(t, l, 3, 1, 5, 0, 2)
	if err := l.AssignEpoch(5, l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if e, ok := l.LatestEpoch(); !ok || e != 5 {
		t.Fatal("latest epoch")
	}
	if e, off := l.EndOffsetForEpoch(2); e != 2 || off != 6 {
		t.Fatalf("EndOffsetForEpoch(2) = %d %d", e, off)
	}
	l.Close()
	l = openT(t, fs, "/p", smallConfig(), nil)
	if got := l.EpochEntries(); !equalPairs(got, [][2]int64{{1, 0}, {2, 3}, {5, 6}}) {
		t.Fatalf("after reopen %v", got)
	}
	if err := l.TruncateTo(4); err != nil {
		t.Fatal(err)
	}
	if got := l.EpochEntries(); !equalPairs(got, [][2]int64{{1, 0}, {2, 3}}) {
		t.Fatalf("after truncate %v", got)
	}
	l.Close()
	l = openT(t, fs, "/p", smallConfig(), nil)
	defer l.Close()
	if got := l.EpochEntries(); !equalPairs(got, [][2]int64{{1, 0}, {2, 3}}) {
		t.Fatalf("after truncate+reopen %v", got)
	}
}

func TestTruncateTo(t *testing.T) {
	cases := []struct {
		name    string
		to      int64
		wantLEO int64
	}{
		{"noop at LEO", 200, 200},
		{"noop above LEO", 300, 200},
		{"batch boundary", 100, 100},
		{"inside batch", 101, 100},
		{"segment base", 0, 0},
		{"last batch", 198, 198},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachFS(t, func(t *testing.T, fs FS, dir string) {
				l := openT(t, fs, dir, smallConfig(), nil)
				bs := appendN(t, l, 100, 2, 40, 1000, 0)
				l.SetHighWatermark(150)
				if err := l.Flush(); err != nil {
					t.Fatal(err)
				}
				if err := l.TruncateTo(tc.to); err != nil {
					t.Fatal(err)
				}
				if l.LogEndOffset() != tc.wantLEO {
					t.Fatalf("LEO %d want %d", l.LogEndOffset(), tc.wantLEO)
				}
				if l.HighWatermark() != min(150, tc.wantLEO) || l.RecoveryPoint() > tc.wantLEO {
					t.Fatalf("HW %d RP %d", l.HighWatermark(), l.RecoveryPoint())
				}
				want := bytes.Join(bs[:tc.wantLEO/2], nil)
				if got := readAll(t, l); !bytes.Equal(got, want) {
					t.Fatal("contents after truncate")
				}
				if err := l.checkConsistency(); err != nil {
					t.Fatal(err)
				}
				// Appending continues at the new end, and a reopen agrees.
				more := appendN(t, l, 30, 2, 40, 5000, 0)
				want = append(want, bytes.Join(more, nil)...)
				if err := l.checkConsistency(); err != nil {
					t.Fatal(err)
				}
				l.Close()
				l = openT(t, fs, dir, smallConfig(), nil)
				defer l.Close()
				if got := readAll(t, l); !bytes.Equal(got, want) {
					t.Fatal("contents after reopen")
				}
				if err := l.checkConsistency(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestTruncateFullyAndStartAt(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs FS, dir string) {
		l := openT(t, fs, dir, smallConfig(), nil)
		appendN(t, l, 50, 1, 40, 0, 1)
		r, _ := l.Read(0, 1000, 50, true) // a Region held across the deletion
		if err := l.TruncateFullyAndStartAt(1000); err != nil {
			t.Fatal(err)
		}
		if l.LogStartOffset() != 1000 || l.LogEndOffset() != 1000 || l.HighWatermark() != 1000 || l.NumSegments() != 1 {
			t.Fatalf("start %d end %d hw %d segs %d", l.LogStartOffset(), l.LogEndOffset(), l.HighWatermark(), l.NumSegments())
		}
		if _, ok := l.LatestEpoch(); ok {
			t.Fatal("epoch cache not cleared")
		}
		_, err := l.Read(0, 100, 2000, true)
		mustErrIs(t, err, ErrOffsetOutOfRange)
		_ = r
		b := buildBatch(batchSpec{base: 1000, records: 2, valueSize: 5, epoch: 4})
		if _, err := l.AppendAsFollower(b); err != nil {
			t.Fatal(err)
		}
		l.Close()
		l = openT(t, fs, dir, smallConfig(), nil)
		defer l.Close()
		if l.LogStartOffset() != 1000 || l.LogEndOffset() != 1002 {
			t.Fatalf("reopen start %d end %d", l.LogStartOffset(), l.LogEndOffset())
		}
		names, _ := fs.List(dir)
		for _, n := range names {
			if filepath.Ext(n) == ".log" && n != "00000000000000001000.log" {
				t.Fatalf("old segment %s left behind (%v)", n, names)
			}
		}
		// Truncating below the log start also empties the log.
		if err := l.TruncateTo(500); err != nil {
			t.Fatal(err)
		}
		if l.LogStartOffset() != 500 || l.LogEndOffset() != 500 {
			t.Fatalf("start %d end %d", l.LogStartOffset(), l.LogEndOffset())
		}
	})
}

func TestDeleteRecordsBefore(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs FS, dir string) {
		l := openT(t, fs, dir, smallConfig(), nil)
		bs := appendN(t, l, 100, 1, 40, 0, 0)
		l.SetHighWatermark(100)
		segs := l.NumSegments()
		mustErrIs(t, l.DeleteRecordsBefore(101), ErrOffsetOutOfRange)
		if err := l.DeleteRecordsBefore(50); err != nil {
			t.Fatal(err)
		}
		if l.LogStartOffset() != 50 || l.NumSegments() >= segs || l.segs[0].base > 50 || l.segs[0].next <= 50 {
			t.Fatalf("start %d segs %d first %d..%d", l.LogStartOffset(), l.NumSegments(), l.segs[0].base, l.segs[0].next)
		}
		_, err := l.Read(49, 100, 100, true)
		mustErrIs(t, err, ErrOffsetOutOfRange)
		if got := readAll(t, l); !bytes.Equal(got, bytes.Join(bs[50:], nil)) {
			t.Fatal("contents")
		}
		if err := l.DeleteRecordsBefore(10); err != nil { // no-op
			t.Fatal(err)
		}
		// Crash right after: the log start is durable.
		var c FS = fs
		if m, ok := fs.(*MemFS); ok {
			c = m.CrashClone()
		}
		l.Close()
		l = openT(t, c, dir, smallConfig(), nil)
		defer l.Close()
		if l.LogStartOffset() != 50 {
			t.Fatalf("log start after reopen %d", l.LogStartOffset())
		}
		if err := l.DeleteRecordsBefore(l.LogEndOffset()); err != nil {
			t.Fatal(err)
		}
		if r, err := l.Read(l.LogEndOffset(), 100, l.LogEndOffset(), true); err != nil || r.Len() != 0 {
			t.Fatal("read at end")
		}
	})
}

func TestRetention(t *testing.T) {
	t.Run("bytes", func(t *testing.T) {
		cfg := smallConfig()
		cfg.RetentionBytes = 3 * 4096
		cfg.RetentionMs = -1
		l := openT(t, NewMemFS(), "/p", cfg, nil)
		defer l.Close()
		appendN(t, l, 200, 1, 100, 0, 0)
		n, err := l.ApplyRetention()
		if err != nil || n != 0 {
			t.Fatalf("deleted %d above the high watermark (%v)", n, err)
		}
		l.SetHighWatermark(l.LogEndOffset())
		before := l.NumSegments()
		n, err = l.ApplyRetention()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 || l.NumSegments() != before-n || l.Size()-l.segs[0].size >= cfg.RetentionBytes || l.Size()+4096 < cfg.RetentionBytes {
			t.Fatalf("deleted %d, size %d", n, l.Size())
		}
		if l.LogStartOffset() != l.segs[0].base {
			t.Fatal("log start not moved")
		}
	})
	t.Run("time", func(t *testing.T) {
		cfg := smallConfig()
		cfg.RetentionMs = 60_000
		clock := newClock()
		now := clock.now.UnixMilli()
		l := openT(t, NewMemFS(), "/p", cfg, clock)
		defer l.Close()
		appendN(t, l, 60, 1, 100, now-120_000, 0) // old
		old := l.LogEndOffset()
		appendN(t, l, 60, 1, 100, now, 0) // fresh
		l.SetHighWatermark(l.LogEndOffset())
		n, err := l.ApplyRetention()
		if err != nil || n == 0 {
			t.Fatalf("%d %v", n, err)
		}
		if l.LogStartOffset() > old || l.segs[0].maxTs < now-60_000 {
			t.Fatalf("log start %d (old data ends at %d)", l.LogStartOffset(), old)
		}
		// Everything expires: the active segment is rolled and deleted too.
		clock.Advance(time.Hour)
		if _, err := l.ApplyRetention(); err != nil {
			t.Fatal(err)
		}
		if l.Size() != 0 || l.LogStartOffset() != l.LogEndOffset() || l.NumSegments() != 1 {
			t.Fatalf("size %d start %d end %d", l.Size(), l.LogStartOffset(), l.LogEndOffset())
		}
		appendN(t, l, 1, 1, 1, now, 0)
	})
}

func TestSegmentRollByTime(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.SegmentMs = 1000
	l := openT(t, NewMemFS(), "/p", cfg, nil)
	defer l.Close()
	appendN(t, l, 1, 1, 1, 10_000, 0)
	appendN(t, l, 1, 1, 1, 10_900, 0)
	if l.NumSegments() != 1 {
		t.Fatal("rolled early")
	}
	appendN(t, l, 1, 1, 1, 11_001, 0)
	if l.NumSegments() != 2 {
		t.Fatal("did not roll on segment.ms")
	}
}

func TestSegmentRollWhenIndexFull(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.IndexIntervalBytes = 1
	cfg.SegmentIndexBytes = 48 // 6 offset entries, 4 time entries
	l := openT(t, NewMemFS(), "/p", cfg, nil)
	defer l.Close()
	for i := 0; i < 30; i++ {
		appendN(t, l, 1, 1, 1, int64(i), 0)
	}
	if l.NumSegments() < 5 {
		t.Fatalf("%d segments", l.NumSegments())
	}
	if err := l.checkConsistency(); err != nil {
		t.Fatal(err)
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	l := openT(t, NewMemFS(), "/p", smallConfig(), nil)
	defer l.Close()
	// Batches of 4 records, timestamps 1000, 1010, ... rising by 10 per
	// record; batch i starts at 1000 + 40*i.
	for i := 0; i < 100; i++ {
		b := buildBatch(batchSpec{records: 4, valueSize: 30, firstTs: 1000 + int64(40*i), tsStep: 10})
		if _, err := l.Append(b, 0); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		ts, wantOff, wantTs int64
	}{
		{0, 0, 1000},
		{1000, 0, 1000},
		{1001, 1, 1010},
		{1035, 4, 1040},
		{2505, 151, 2510},
		{4990, 399, 4990},
		{4991, -1, -1},
	}
	for _, tc := range cases {
		off, ts, err := l.OffsetForTimestamp(tc.ts)
		if err != nil || off != tc.wantOff || ts != tc.wantTs {
			t.Errorf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", tc.ts, off, ts, err, tc.wantOff, tc.wantTs)
		}
	}
	if off, ts := l.MaxTimestampOffset(); off != 399 || ts != 4990 {
		t.Errorf("MaxTimestampOffset = %d, %d", off, ts)
	}
	// After deleting records, answers never go below the log start.
	l.SetHighWatermark(l.LogEndOffset())
	if err := l.DeleteRecordsBefore(50); err != nil {
		t.Fatal(err)
	}
	if off, _, _ := l.OffsetForTimestamp(0); off != 50 {
		t.Errorf("after DeleteRecords: %d", off)
	}
}

func TestOffsetForTimestampNonMonotonic(t *testing.T) {
	l := openT(t, NewMemFS(), "/p", smallConfig(), nil)
	defer l.Close()
	tss := []int64{500, 100, 900, 300, 900, 1200, 50}
	for _, ts := range tss {
		if _, err := l.Append(buildBatch(batchSpec{records: 1, valueSize: 200, firstTs: ts}), 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, target := range []int64{0, 100, 501, 900, 901, 1200, 1201} {
		want := int64(-1)
		for i, ts := range tss {
			if ts >= target {
				want = int64(i)
				break
			}
		}
		got, _, err := l.OffsetForTimestamp(target)
		if err != nil || got != want {
			t.Errorf("target %d: got %d want %d (%v)", target, got, want, err)
		}
	}
	if off, ts := l.MaxTimestampOffset(); off != 5 || ts != 1200 {
		t.Errorf("max %d %d", off, ts)
	}
}

func TestScanBatches(t *testing.T) {
	l := openT(t, NewMemFS(), "/p", smallConfig(), nil)
	defer l.Close()
	for i := 0; i < 50; i++ {
		b := buildBatch(batchSpec{records: 3, valueSize: 50, producerID: int64(i), baseSeq: int32(i * 3)})
		if _, err := l.Append(b, 0); err != nil {
			t.Fatal(err)
		}
	}
	var got []int64
	if err := l.ScanBatches(31, func(h BatchHeader) error { got = append(got, h.ProducerID); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 40 || got[0] != 10 || got[39] != 49 {
		t.Fatalf("scanned %v", got)
	}
	stop := errors.New("stop")
	n := 0
	if err := l.ScanBatches(0, func(BatchHeader) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("early stop: %v %d", err, n)
	}
}

func TestFlushPolicy(t *testing.T) {
	cfg := smallConfig()
	cfg.FlushMessages = 5
	clock := newClock()
	fs := NewMemFS()
	l := openT(t, fs, "/p", cfg, clock)
	defer l.Close()
	appendN(t, l, 4, 1, 1, 0, 0)
	if err := l.MaybeFlush(); err != nil || l.RecoveryPoint() != 0 {
		t.Fatalf("flushed early: %d %v", l.RecoveryPoint(), err)
	}
	appendN(t, l, 1, 1, 1, 0, 0)
	if err := l.MaybeFlush(); err != nil || l.RecoveryPoint() != 5 {
		t.Fatalf("flush.messages: rp %d %v", l.RecoveryPoint(), err)
	}
	// The flushed data survives a crash.
	if c := fs.CrashClone(); true {
		l2 := openT(t, c, "/p", cfg, clock)
		if l2.LogEndOffset() != 5 {
			t.Fatalf("after crash LEO %d", l2.LogEndOffset())
		}
		l2.Close()
	}
	cfg.FlushMessages = 0
	cfg.FlushMs = 1000
	l.cfg.FlushMessages, l.cfg.FlushMs = 1<<62, 1000
	appendN(t, l, 1, 1, 1, 0, 0)
	if err := l.MaybeFlush(); err != nil || l.RecoveryPoint() != 5 {
		t.Fatal("flush.ms flushed early")
	}
	clock.Advance(2 * time.Second)
	if err := l.MaybeFlush(); err != nil || l.RecoveryPoint() != 6 {
		t.Fatal("flush.ms did not flush")
	}
}

func TestSyncFuncGroupCommit(t *testing.T) {
	fs := NewMemFS()
	l := openT(t, fs, "/p", smallConfig(), nil)
	defer l.Close()
	appendN(t, l, 30, 1, 100, 0, 0) // several segments
	upTo, sync := l.SyncFunc()
	if upTo != 30 {
		t.Fatalf("upTo %d", upTo)
	}
	// The owner goes on appending and rolling while the sync runs.
	done := make(chan error, 1)
	go func() { done <- sync() }()
	appendN(t, l, 30, 1, 100, 0, 0)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l.MarkFlushed(upTo)
	if l.RecoveryPoint() != 30 {
		t.Fatalf("rp %d", l.RecoveryPoint())
	}
	// What the sync covered survives a crash (the directory included).
	c := fs.CrashClone()
	l2 := openT(t, c, "/p", smallConfig(), nil)
	defer l2.Close()
	if l2.LogEndOffset() < 30 {
		t.Fatalf("after crash LEO %d, want >= 30", l2.LogEndOffset())
	}
	if err := l2.checkConsistency(); err != nil {
		t.Fatal(err)
	}
}

func TestDeletedSegmentStaysReadableForDelay(t *testing.T) {
	cfg := smallConfig()
	cfg.FileDeleteDelay = 200 * time.Millisecond
	dir := filepath.Join(t.TempDir(), "p")
	l := openT(t, OSFS(), dir, cfg, nil)
	defer l.Close()
	appendN(t, l, 100, 1, 100, 0, 0)
	r, err := l.Read(0, 1<<20, 100, true)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := r.AppendTo(nil)
	l.SetHighWatermark(100)
	if err := l.DeleteRecordsBefore(90); err != nil {
		t.Fatal(err)
	}
	deleted := filepath.Join(dir, "00000000000000000000.log.deleted")
	if _, err := OSFS().Stat(deleted); err != nil {
		t.Fatalf("deleted segment not renamed: %v", err)
	}
	got, err := r.AppendTo(nil)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("region unreadable right after deletion: %v", err)
	}
	waitFor(t, "deleted file removal", func() bool {
		_, err := OSFS().Stat(deleted)
		return isNotExist(err)
	})
	if _, err := r.AppendTo(nil); err == nil {
		t.Fatal("region still readable after the delete delay")
	}
}

func TestDelete(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs FS, dir string) {
		l := openT(t, fs, dir, smallConfig(), nil)
		appendN(t, l, 10, 1, 100, 0, 0)
		if err := l.Delete(); err != nil {
			t.Fatal(err)
		}
		if _, err := fs.Stat(filepath.Join(dir, "00000000000000000000.log")); !isNotExist(err) {
			t.Fatalf("files remain: %v", err)
		}
		_, err := l.Append(buildBatch(batchSpec{}), 0)
		mustErrIs(t, err, ErrClosed)
	})
}

// TestTruncateToLogEndTrimsEpochs: truncating to the log end cuts nothing
// but drops epochs that start there. A replica that led an epoch without
// appending holds one; a leader that never had that epoch answers the
// follower with an older one, and if the entry stayed the follower would
// ask about it again and again and never fetch.
func TestTruncateToLogEndTrimsEpochs(t *testing.T) {
	fs := NewMemFS()
	l := openT(t, fs, "/p", smallConfig(), nil)
	appendN(t, l, 3, 1, 10, 0, 2)
	if err := l.AssignEpoch(5, l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if e, _ := l.LatestEpoch(); e != 5 {
		t.Fatalf("latest epoch %d, want 5", e)
	}
	if err := l.TruncateTo(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if e, _ := l.LatestEpoch(); e != 2 || l.LogEndOffset() != 3 {
		t.Fatalf("after truncating to the log end: latest epoch %d, log end %d; want 2, 3", e, l.LogEndOffset())
	}
	// The trimmed cache is what a restart finds.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openT(t, fs.CrashClone(), "/p", smallConfig(), nil)
	defer l.Close()
	if e, _ := l.LatestEpoch(); e != 2 {
		t.Fatalf("after reopening: latest epoch %d, want 2", e)
	}
}

// TestMarkFlushedAfterTruncation: a sync that began before a truncation
// does not count the offsets re-appended after it as durable.
func TestMarkFlushedAfterTruncation(t *testing.T) {
	l := openT(t, NewMemFS(), "/p", smallConfig(), nil)
	defer l.Close()
	appendN(t, l, 10, 1, 10, 0, 0)
	upTo, sync := l.SyncFunc()
	if err := l.TruncateTo(4); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 8, 1, 10, 0, 1) // log end 12: offsets 4..11 unsynced
	if err := sync(); err != nil {
		t.Fatal(err)
	}
	l.MarkFlushed(upTo)
	if rp := l.RecoveryPoint(); rp > 4 {
		t.Fatalf("recovery point %d after a sync up to %d that a truncation to 4 overtook", rp, upTo)
	}
}
