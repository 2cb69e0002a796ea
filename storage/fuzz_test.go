package storage

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzRecover feeds arbitrary bytes to Open as a segment file, its two index
// files and a recovery point, and checks recovery's invariants:
//
//   - Open never fails or panics on damaged data (only IO errors fail it);
//   - the log holds exactly the longest valid prefix of the segment (whole
//     batches, magic 2, CRC-32C, record count, contiguous offsets), whatever
//     the index files and the recovery point claim, unless the checkpoint
//     says the segment is clean and the tail walk agrees;
//   - the indexes are consistent with the data afterwards;
//   - every batch reads back byte for byte, and the log takes appends and
//     reopens to the same state.
//
// Seeds are real batches and the index files a real log wrote for them.
func FuzzRecover(f *testing.F) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.IndexIntervalBytes = 64
	seedFS := NewMemFS()
	l, err := Open("/seed", cfg, Options{FS: seedFS})
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		b := buildBatch(batchSpec{records: 1 + i%3, valueSize: 5 + i*4, firstTs: 100 + int64(i*5%17), tsStep: 1, producerID: int64(i)})
		if _, err := l.Append(b, int32(i/4)); err != nil {
			f.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	logData, _ := readFile(seedFS, "/seed/00000000000000000000.log")
	idxData, _ := readFile(seedFS, "/seed/00000000000000000000.index")
	tidxData, _ := readFile(seedFS, "/seed/00000000000000000000.timeindex")
	f.Add(logData, idxData, tidxData, leo)
	f.Add(logData, idxData, tidxData, int64(-1))
	f.Add(logData[:len(logData)-7], idxData, tidxData, leo)
	f.Add(logData[:len(logData)/2], idxData, tidxData, int64(3))
	f.Add(logData, []byte{}, []byte{}, leo)
	flipped := append([]byte(nil), logData...)
	flipped[len(flipped)/3] ^= 0x10
	f.Add(flipped, idxData, tidxData, int64(0))
	f.Add([]byte{}, []byte{}, []byte{}, int64(0))

	f.Fuzz(func(t *testing.T, logData, idxData, tidxData []byte, rp int64) {
		fs := NewMemFS()
		fs.MkdirAll("/p")
		write := func(name string, data []byte) {
			w, _ := fs.Create("/p/" + name)
			w.Write(data)
			w.Sync()
			w.Close()
		}
		write("00000000000000000000.log", logData)
		write("00000000000000000000.index", idxData)
		write("00000000000000000000.timeindex", tidxData)
		if rp >= 0 {
			write(partitionCheckpointName, partitionCheckpoint{RecoveryPoint: rp}.encode())
		}
		fs.SyncDir("/p")

		l, err := Open("/p", cfg, Options{FS: fs})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		plen, next := validPrefix(logData, 0)
		if l.LogEndOffset() != next || l.Size() != int64(plen) {
			// Only a checkpoint that vouches for the whole file may keep
			// more than the valid prefix, and then the tail walk must agree
			// the file ends exactly at the recovery point.
			t.Fatalf("LEO %d size %d, want %d %d", l.LogEndOffset(), l.Size(), next, plen)
		}
		if err := l.checkConsistency(); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, l); !bytes.Equal(got, logData[:plen]) {
			t.Fatal("contents differ from the valid prefix")
		}
		b := buildBatch(batchSpec{records: 2, valueSize: 3, firstTs: 5})
		if _, err := l.Append(b, 0); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, err = Open("/p", cfg, Options{FS: fs})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if l.LogEndOffset() != next+2 || l.Recovery().Truncated != nil {
			t.Fatalf("reopen LEO %d want %d, %+v", l.LogEndOffset(), next+2, l.Recovery().Truncated)
		}
		if err := l.checkConsistency(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzValidateBatch checks the batch validator Append relies on, on arbitrary
// bytes: it never panics or modifies its input; when it accepts a batch, the
// batch is a well-framed v2 batch (frameBatch agrees on its size, CRC
// included), its record count matches its last offset delta, and for an
// uncompressed batch the records walk cleanly with offset deltas 0..n-1.
func FuzzValidateBatch(f *testing.F) {
	f.Add(buildBatch(batchSpec{records: 3, valueSize: 10, firstTs: 5, tsStep: 2}))
	f.Add(buildBatch(batchSpec{records: 1, valueSize: 0, attrs: 2}))
	f.Add(buildBatch(batchSpec{records: 2, valueSize: 200, attrs: attrControl}))
	b := buildBatch(batchSpec{records: 2, valueSize: 3})
	f.Add(append(b, b...))
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := append([]byte(nil), data...)
		sum, err := validateBatch(data, 1<<20)
		if !bytes.Equal(orig, data) {
			t.Fatal("validateBatch modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrCorruptMessage) && !errors.Is(err, ErrInvalidRecord) && !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		size, ferr := frameBatch(data)
		if ferr != nil || size != sum.size {
			t.Fatalf("accepted a batch frameBatch rejects: %v (%d vs %d)", ferr, size, sum.size)
		}
		h, _ := ParseBatchHeader(data)
		if h.NumRecords != h.LastOffsetDelta+1 || h.NumRecords <= 0 || sum.numRecords != h.NumRecords {
			t.Fatalf("accepted count %d with last delta %d", h.NumRecords, h.LastOffsetDelta)
		}
		if h.Compression() == 0 {
			next := int32(0)
			if err := walkRecords(data[:size], h.NumRecords, true, func(od int32, _ int64) bool {
				if od != next {
					t.Fatalf("offset delta %d, want %d", od, next)
				}
				next++
				return true
			}); err != nil || next != h.NumRecords {
				t.Fatalf("walk after accept: %v, %d records", err, next)
			}
		}
	})
}
