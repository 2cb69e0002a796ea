package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// validPrefix is the test's own oracle for "the longest valid prefix" of a
// segment file: whole v2 batches with magic 2, a CRC-32C that matches,
// records count = lastOffsetDelta+1, and base offsets that continue from
// base. It returns the prefix length and the offset after it.
func validPrefix(data []byte, base int64) (int, int64) {
	tab := crc32.MakeTable(crc32.Castagnoli)
	pos, next := 0, base
	for len(data)-pos >= 61 {
		b := data[pos:]
		size := int(int32(binary.BigEndian.Uint32(b[8:]))) + 12
		if b[16] != 2 || size < 61 || size > len(b) {
			break
		}
		if binary.BigEndian.Uint32(b[17:]) != crc32.Checksum(b[21:size], tab) {
			break
		}
		delta := int32(binary.BigEndian.Uint32(b[23:]))
		count := int32(binary.BigEndian.Uint32(b[57:]))
		if int64(binary.BigEndian.Uint64(b)) != next || delta < 0 || count != delta+1 {
			break
		}
		next += int64(delta) + 1
		pos += size
	}
	return pos, next
}

// crashFixture is a log with flushed segments and an unflushed tail in its
// active segment, on a MemFS.
type crashFixture struct {
	fs         *MemFS
	cfg        Config
	batches    [][]byte // every batch as written, in order
	activePath string
	activeBase int64
	syncedSize int64 // active segment bytes covered by the last flush
	fullSize   int64
	flushedOff int64
}

func newCrashFixture(t *testing.T) *crashFixture {
	t.Helper()
	fx := &crashFixture{fs: NewMemFS(), cfg: smallConfig()}
	l := openT(t, fx.fs, "/p", fx.cfg, nil)
	defer l.Close()
	rng := rand.New(rand.NewSource(1))
	add := func(n int) {
		for i := 0; i < n; i++ {
			b := buildBatch(batchSpec{records: 1 + rng.Intn(3), valueSize: 20 + rng.Intn(120), firstTs: 1000 + int64(len(fx.batches))*10, tsStep: 3, fill: byte(i)})
			if _, err := l.Append(b, int32(1+len(fx.batches)/20)); err != nil {
				t.Fatal(err)
			}
			fx.batches = append(fx.batches, b)
		}
	}
	add(60)
	segsBefore := l.NumSegments()
	add(4)
	if l.NumSegments() != segsBefore {
		t.Fatal("fixture: tail must start in the active segment")
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	fx.flushedOff = l.LogEndOffset()
	fx.activePath, fx.activeBase = l.active().logPath, l.active().base
	fx.syncedSize = l.active().size
	add(3)
	if l.NumSegments() != segsBefore {
		t.Fatal("fixture: unflushed tail rolled")
	}
	fx.fullSize = l.active().size
	// Write the buffered index entries of the tail to the files (unsynced),
	// so a crash image may hold index entries for data that is cut.
	l.SyncFunc()
	// Crash: the fixture's fs is never closed cleanly; CrashCloneWith makes
	// the images.
	fx.fs = fx.fs.CrashCloneWith(func(_ string, _, cur []byte) []byte { return cur })
	return fx
}

// image returns a crash image where the active segment holds activeData and
// the active segment's index files are chosen by idxMode.
func (fx *crashFixture) image(activeData []byte, idxMode string, dropCheckpoint bool) *MemFS {
	return fx.fs.CrashCloneWith(func(path string, _, cur []byte) []byte {
		switch {
		case path == fx.activePath:
			return activeData
		case dropCheckpoint && strings.HasSuffix(path, partitionCheckpointName):
			return []byte("garbage")
		case strings.HasPrefix(path, strings.TrimSuffix(fx.activePath, logSuffix)):
			switch idxMode {
			case "empty":
				return nil
			case "garbage":
				return append(append([]byte(nil), cur...), bytes.Repeat([]byte{0xab}, 20)...)
			case "torn":
				if len(cur) > 3 {
					return cur[:len(cur)-3]
				}
			}
		}
		return cur
	})
}

// expectPrefix reopens img and checks it holds exactly every earlier segment
// plus the valid prefix of activeData, with consistent indexes, and that it
// matches, file for file, a log built by appending the same batches afresh.
func (fx *crashFixture) expectPrefix(t *testing.T, img *MemFS, activeData []byte) {
	t.Helper()
	plen, next := validPrefix(activeData, fx.activeBase)
	l, err := Open("/p", fx.cfg, Options{FS: img})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer l.Close()
	if l.LogEndOffset() != next {
		t.Fatalf("LEO %d, want %d (prefix %d bytes of %d)", l.LogEndOffset(), next, plen, len(activeData))
	}
	if l.active().size != int64(plen) {
		t.Fatalf("active size %d, want %d", l.active().size, plen)
	}
	if err := l.checkConsistency(); err != nil {
		t.Fatal(err)
	}
	if rep := l.Recovery(); plen < len(activeData) && rep.Truncated == nil {
		t.Fatal("truncation not reported")
	}
	got := readAll(t, l)
	var want []byte
	for _, b := range fx.batches {
		if len(want) >= len(got) {
			break
		}
		want = append(want, b...)
	}
	// Bytes below the active segment come from the batches; the active
	// segment's prefix comes from the image (a flipped epoch is valid).
	wantAll := append(want[:len(got)-plen:len(got)-plen], activeData[:plen]...)
	if !bytes.Equal(got, wantAll) {
		t.Fatalf("contents differ from the longest valid prefix")
	}
	// Appends continue cleanly.
	b := buildBatch(batchSpec{records: 2, valueSize: 7, firstTs: 99999})
	if _, err := l.Append(b, 50); err != nil {
		t.Fatal(err)
	}
	if err := l.checkConsistency(); err != nil {
		t.Fatal(err)
	}
}

func TestCrashTornTailAtEveryByte(t *testing.T) {
	fx := newCrashFixture(t)
	full, _ := readFile(fx.fs, fx.activePath)
	modes := []string{"current", "empty", "garbage", "torn"}
	for c := fx.syncedSize; c <= fx.fullSize; c++ {
		mode := modes[int(c)%len(modes)]
		t.Run(fmt.Sprintf("cut=%d/idx=%s", c, mode), func(t *testing.T) {
			data := full[:c]
			fx.expectPrefix(t, fx.image(data, mode, false), data)
		})
	}
}

func TestCrashTornTailMatchesFreshLog(t *testing.T) {
	fx := newCrashFixture(t)
	full, _ := readFile(fx.fs, fx.activePath)
	for _, c := range []int64{fx.syncedSize, fx.syncedSize + 1, (fx.syncedSize + fx.fullSize) / 2, fx.fullSize - 1, fx.fullSize} {
		img := fx.image(full[:c], "current", false)
		l, err := Open("/p", fx.cfg, Options{FS: img})
		if err != nil {
			t.Fatal(err)
		}
		n := l.LogEndOffset()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		// Build the same prefix by appending.
		fresh := NewMemFS()
		f := openT(t, fresh, "/p", fx.cfg, nil)
		for _, b := range fx.batches {
			if f.LogEndOffset() >= n {
				break
			}
			cp := append([]byte(nil), b...)
			h, _ := ParseBatchHeader(cp)
			if _, err := f.Append(cp, h.PartitionLeaderEpoch); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if f.LogEndOffset() != n {
			t.Fatalf("fresh LEO %d, recovered %d", f.LogEndOffset(), n)
		}
		names, _ := fresh.List("/p")
		for _, name := range names {
			if !strings.HasSuffix(name, logSuffix) && !strings.HasSuffix(name, indexSuffix) && !strings.HasSuffix(name, timeIndexSuffix) {
				continue
			}
			a, err1 := readFile(fresh, filepath.Join("/p", name))
			b, err2 := readFile(img, filepath.Join("/p", name))
			if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
				t.Fatalf("cut %d: %s differs from a freshly built log (%v %v, %d vs %d bytes)", c, name, err1, err2, len(a), len(b))
			}
		}
	}
}

func TestCrashBitFlips(t *testing.T) {
	fx := newCrashFixture(t)
	full, _ := readFile(fx.fs, fx.activePath)
	// With the checkpoint: flips in the unflushed tail.
	for i := fx.syncedSize; i < fx.fullSize; i++ {
		data := append([]byte(nil), full...)
		data[i] ^= 1 << (i % 8)
		t.Run(fmt.Sprintf("tail/byte=%d", i), func(t *testing.T) {
			fx.expectPrefix(t, fx.image(data, "current", false), data)
		})
	}
	// Without a usable checkpoint everything is recovered: flips anywhere in
	// the active segment (every 3rd byte, to keep the test quick).
	for i := int64(0); i < fx.fullSize; i += 3 {
		data := append([]byte(nil), full...)
		data[i] ^= 1 << (i % 8)
		t.Run(fmt.Sprintf("nocheckpoint/byte=%d", i), func(t *testing.T) {
			fx.expectPrefix(t, fx.image(data, "current", true), data)
		})
	}
}

// TestCrashMemFSSemantics checks what the crash model keeps: unsynced data
// and unsynced directory entries are lost.
func TestCrashMemFSSemantics(t *testing.T) {
	fs := NewMemFS()
	fs.MkdirAll("/d")
	f, _ := fs.Create("/d/a")
	f.Write([]byte("hello"))
	f.Sync()
	c := fs.CrashClone()
	if _, err := c.Stat("/d/a"); !isNotExist(err) {
		t.Fatal("file survived without a directory sync")
	}
	fs.SyncDir("/d")
	f.Write([]byte(" world"))
	c = fs.CrashClone()
	if b, _ := readFile(c, "/d/a"); string(b) != "hello" {
		t.Fatalf("got %q", b)
	}
	fs.Rename("/d/a", "/d/b")
	c = fs.CrashClone()
	if _, err := c.Stat("/d/a"); err != nil {
		t.Fatal("unsynced rename became durable")
	}
	fs.SyncDir("/d")
	c = fs.CrashClone()
	if _, err := c.Stat("/d/b"); err != nil {
		t.Fatal("synced rename lost")
	}
}

// TestCrashDuringRoll crashes right after a roll that was never flushed: the
// new segment's directory entry may be lost, and the old segment's tail too.
func TestCrashDuringRoll(t *testing.T) {
	fs := NewMemFS()
	cfg := smallConfig()
	l := openT(t, fs, "/p", cfg, nil)
	appendN(t, l, 10, 1, 100, 0, 0)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	flushed := l.LogEndOffset()
	segs := l.NumSegments()
	for l.NumSegments() < segs+2 {
		appendN(t, l, 1, 1, 100, 0, 0)
	}
	for _, keep := range []bool{false, true} {
		img := fs.CrashCloneWith(func(_ string, synced, cur []byte) []byte {
			if keep {
				return cur
			}
			return synced
		})
		l2 := openT(t, img, "/p", cfg, nil)
		if l2.LogEndOffset() < flushed {
			t.Fatalf("lost flushed data: LEO %d < %d", l2.LogEndOffset(), flushed)
		}
		if err := l2.checkConsistency(); err != nil {
			t.Fatal(err)
		}
		l2.Close()
	}
	l.Close()
}

// TestDamagedIndexes damages index files after a clean shutdown and checks
// that every read and timestamp lookup still answers as before and that the
// indexes end up consistent.
func TestDamagedIndexes(t *testing.T) {
	cfg := smallConfig()
	base := NewMemFS()
	l := openT(t, base, "/p", cfg, nil)
	for i := 0; i < 80; i++ {
		b := buildBatch(batchSpec{records: 1 + i%3, valueSize: 30 + (i*37)%150, firstTs: 1000 + int64(i*7%50) + int64(i*10), tsStep: 2})
		if _, err := l.Append(b, 1); err != nil {
			t.Fatal(err)
		}
	}
	type answer struct{ first, next, ts int64 }
	leo := l.LogEndOffset()
	expect := map[int64]answer{}
	for off := int64(0); off < leo; off++ {
		r, err := l.Read(off, 1, leo, true)
		if err != nil {
			t.Fatal(err)
		}
		expect[off] = answer{r.FirstOffset(), r.NextOffset(), 0}
	}
	tsAnswers := map[int64]answer{}
	for ts := int64(990); ts < 2000; ts += 3 {
		o, rts, err := l.OffsetForTimestamp(ts)
		if err != nil {
			t.Fatal(err)
		}
		tsAnswers[ts] = answer{o, 0, rts}
	}
	maxOff, maxTs := l.MaxTimestampOffset()
	var segNames []string
	for _, s := range l.segs {
		segNames = append(segNames, strings.TrimSuffix(s.logPath, logSuffix))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	damages := map[string]func(cur []byte, i int) []byte{
		"missing":    func([]byte, int) []byte { return nil },
		"torn-entry": func(cur []byte, _ int) []byte { return cur[:max(len(cur)-5, 0)] },
		"garbage": func(cur []byte, i int) []byte {
			g := make([]byte, len(cur)+24)
			rand.New(rand.NewSource(int64(i))).Read(g)
			return g
		},
		"zeroed":    func(cur []byte, _ int) []byte { return make([]byte, len(cur)) },
		"duplicate": func(cur []byte, _ int) []byte { return append(append([]byte(nil), cur...), cur...) },
		"bitflip": func(cur []byte, i int) []byte {
			c := append([]byte(nil), cur...)
			if len(c) > 0 {
				j := (i * 7) % len(c)
				c[j] ^= 1 << (i % 8)
			}
			return c
		},
	}
	for dname, damage := range damages {
		for si, seg := range segNames {
			for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
				for variant := 0; variant < 3; variant++ {
					name := fmt.Sprintf("%s/seg%d%s/%d", dname, si, suffix, variant)
					t.Run(name, func(t *testing.T) {
						target := seg + suffix
						img := base.CrashCloneWith(func(path string, synced, cur []byte) []byte {
							if path == target {
								return damage(cur, variant*31+si)
							}
							return cur
						})
						if dname == "missing" {
							img.Remove(target)
							img.SyncDir("/p")
						}
						l := openT(t, img, "/p", cfg, nil)
						defer l.Close()
						if l.LogEndOffset() != leo {
							t.Fatalf("LEO %d want %d", l.LogEndOffset(), leo)
						}
						for off := int64(0); off < leo; off++ {
							r, err := l.Read(off, 1, leo, true)
							if err != nil {
								t.Fatalf("read %d: %v", off, err)
							}
							if w := expect[off]; r.FirstOffset() != w.first || r.NextOffset() != w.next {
								t.Fatalf("read %d: got %d..%d want %d..%d", off, r.FirstOffset(), r.NextOffset(), w.first, w.next)
							}
						}
						for ts, w := range tsAnswers {
							o, rts, err := l.OffsetForTimestamp(ts)
							if err != nil || o != w.first || rts != w.ts {
								t.Fatalf("OffsetForTimestamp(%d) = %d,%d,%v want %d,%d", ts, o, rts, err, w.first, w.ts)
							}
						}
						if o, ts := l.MaxTimestampOffset(); o != maxOff || ts != maxTs {
							t.Fatalf("MaxTimestampOffset %d %d", o, ts)
						}
						if err := l.checkConsistency(); err != nil {
							t.Fatal(err)
						}
					})
				}
			}
		}
	}
}

// TestRecoveryIsLogged checks the structured log line Open writes when it
// cuts a torn tail.
func TestRecoveryIsLogged(t *testing.T) {
	fx := newCrashFixture(t)
	full, _ := readFile(fx.fs, fx.activePath)
	img := fx.image(full[:fx.fullSize-10], "current", false)
	var buf bytes.Buffer
	l, err := Open("/p", fx.cfg, Options{FS: img, Logger: zerolog.New(&buf)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rep := l.Recovery()
	if rep.Truncated == nil || rep.Truncated.Bytes <= 0 || rep.SegmentsRecovered != 1 || !rep.CheckpointFound {
		t.Fatalf("report %+v", rep)
	}
	line := buf.String()
	for _, want := range []string{`"level":"warn"`, `"truncated_bytes":`, `"truncated_offset":`, `"truncated_reason":"storage: corrupt message`, `"dir":"/p"`} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %s: %s", want, line)
		}
	}
}
