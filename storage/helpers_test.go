package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// batchSpec describes a v2 record batch for tests.
type batchSpec struct {
	base          int64
	epoch         int32
	records       int
	valueSize     int
	firstTs       int64 // record i has timestamp firstTs + i*tsStep
	tsStep        int64
	attrs         int16
	producerID    int64
	producerEpoch int16
	baseSeq       int32
	fill          byte
}

// buildBatch encodes a Kafka v2 record batch the way clients do.
func buildBatch(sp batchSpec) []byte {
	if sp.records == 0 {
		sp.records = 1
	}
	if sp.producerID == 0 {
		sp.producerID = -1
	}
	var recs []byte
	maxTs := sp.firstTs
	for i := 0; i < sp.records; i++ {
		ts := int64(i) * sp.tsStep
		maxTs = max(maxTs, sp.firstTs+ts)
		var body []byte
		body = append(body, 0) // attributes
		body = binary.AppendVarint(body, ts)
		body = binary.AppendVarint(body, int64(i))
		key := fmt.Appendf(nil, "k%d", i)
		body = binary.AppendVarint(body, int64(len(key)))
		body = append(body, key...)
		body = binary.AppendVarint(body, int64(sp.valueSize))
		body = append(body, bytes.Repeat([]byte{sp.fill + byte(i)}, sp.valueSize)...)
		body = binary.AppendVarint(body, 0) // headers
		recs = binary.AppendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	return frame(sp, recs, int32(sp.records-1), maxTs)
}

// frame wraps encoded records in a v2 header and computes the CRC.
func frame(sp batchSpec, recs []byte, lastDelta int32, maxTs int64) []byte {
	b := make([]byte, BatchHeaderSize, BatchHeaderSize+len(recs))
	binary.BigEndian.PutUint64(b[0:], uint64(sp.base))
	binary.BigEndian.PutUint32(b[8:], uint32(BatchHeaderSize-12+len(recs)))
	binary.BigEndian.PutUint32(b[12:], uint32(sp.epoch))
	b[16] = 2
	binary.BigEndian.PutUint16(b[21:], uint16(sp.attrs))
	binary.BigEndian.PutUint32(b[23:], uint32(lastDelta))
	binary.BigEndian.PutUint64(b[27:], uint64(sp.firstTs))
	binary.BigEndian.PutUint64(b[35:], uint64(maxTs))
	binary.BigEndian.PutUint64(b[43:], uint64(sp.producerID))
	binary.BigEndian.PutUint16(b[51:], uint16(sp.producerEpoch))
	binary.BigEndian.PutUint32(b[53:], uint32(sp.baseSeq))
	binary.BigEndian.PutUint32(b[57:], uint32(sp.records))
	b = append(b, recs...)
	recrc(b)
	return b
}

// recrc recomputes a batch's CRC after a test edits it.
func recrc(b []byte) {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
}

// batchOfSize builds a one-record batch of exactly size bytes (size >= 80).
func batchOfSize(size int, ts int64) []byte {
	overhead := len(buildBatch(batchSpec{valueSize: 0, firstTs: ts}))
	// value length varint grows with the value; adjust until exact.
	v := size - overhead
	for {
		b := buildBatch(batchSpec{valueSize: v, firstTs: ts})
		switch {
		case len(b) == size:
			return b
		case len(b) > size:
			v--
		default:
			v++
		}
	}
}

// testClock is a settable clock.
type testClock struct{ now time.Time }

func (c *testClock) Now() time.Time          { return c.now }
func (c *testClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func newClock() *testClock { return &testClock{now: time.UnixMilli(1_700_000_000_000)} }

// testLogger writes zerolog output to the test log.
func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.ConsoleWriter{Out: testWriter{t}, NoColor: true}).Level(zerolog.InfoLevel)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// smallConfig is a config with tiny segments and indexes so tests roll.
func smallConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 4096
	c.IndexIntervalBytes = 256
	c.SegmentIndexBytes = 1024
	c.FileDeleteDelay = 0
	return c
}

func openT(t testing.TB, fs FS, dir string, cfg Config, clock *testClock) *Log {
	t.Helper()
	opts := Options{FS: fs, Logger: testLogger(t)}
	if clock != nil {
		opts.Clock = clock.Now
	}
	l, err := Open(dir, cfg, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return l
}

// appendN appends n batches of `records` records each and returns the
// batches as written (with assigned offsets).
func appendN(t testing.TB, l *Log, n, records, valueSize int, ts int64, epoch int32) [][]byte {
	t.Helper()
	var out [][]byte
	for i := 0; i < n; i++ {
		b := buildBatch(batchSpec{records: records, valueSize: valueSize, firstTs: ts + int64(i), tsStep: 0, fill: byte(i)})
		info, err := l.Append(b, epoch)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if info.NumBatches != 1 || info.NumRecords != int32(records) {
			t.Fatalf("append %d: info %+v", i, info)
		}
		out = append(out, b)
	}
	return out
}

// readAll reads every batch from the log start to the end through Read and
// returns the concatenated bytes.
func readAll(t testing.TB, l *Log) []byte {
	t.Helper()
	var out []byte
	off := l.LogStartOffset()
	for off < l.LogEndOffset() {
		r, err := l.Read(off, 1<<20, l.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if r.Len() == 0 {
			t.Fatalf("read at %d: empty region before log end %d", off, l.LogEndOffset())
		}
		out, err = r.AppendTo(out)
		if err != nil {
			t.Fatalf("region at %d: %v", off, err)
		}
		off = r.NextOffset()
	}
	return out
}

// splitBatches splits concatenated batches.
func splitBatches(t testing.TB, b []byte) []BatchHeader {
	t.Helper()
	var hs []BatchHeader
	for len(b) > 0 {
		n, err := frameBatch(b)
		if err != nil {
			t.Fatalf("splitBatches: %v", err)
		}
		h, _ := ParseBatchHeader(b)
		hs = append(hs, h)
		b = b[n:]
	}
	return hs
}

func mustErrIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
