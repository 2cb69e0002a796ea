package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRecordsCodecsAgainstFranzGo: batches compressed by franz-go's
// compressor decode, and a rebuilt subset decompresses with franz-go's
// decompressor to exactly the kept records, for every codec.
func TestRecordsCodecsAgainstFranzGo(t *testing.T) {
	var recs []kv
	for i := 0; i < 50; i++ {
		var v []byte
		if i%5 != 0 {
			v = bytes.Repeat(fmt.Appendf(nil, "value-%d;", i), 20)
		}
		recs = append(recs, kv{fmt.Appendf(nil, "key-%d", i), v})
	}
	plain := keyedBatch(t, recs, 1000, 0, -1, 0)
	raw := plain[BatchHeaderSize:]
	dec := kgo.DefaultDecompressor()
	for _, c := range []struct {
		codec int16
		kc    kgo.CompressionCodec
		kt    int8
	}{{1, kgo.GzipCompression(), 1}, {2, kgo.SnappyCompression(), 2}, {3, kgo.Lz4Compression(), 3}, {4, kgo.ZstdCompression(), 4}} {
		comp, err := kgo.DefaultCompressor(c.kc)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		body, _ := comp.Compress(&buf, raw)
		b := append(append([]byte(nil), plain[:BatchHeaderSize]...), body...)
		putAttrs(b, c.codec)
		rr := NewRecordReader(1 << 20)
		got, err := rr.Records(b)
		if err != nil || len(got) != len(recs) {
			t.Fatalf("codec %d: %d records, %v", c.codec, len(got), err)
		}
		for i, r := range got {
			if !bytes.Equal(r.Key, recs[i].key) || !bytes.Equal(r.Value, recs[i].val) || (r.Value == nil) != (recs[i].val == nil) || r.OffsetDelta != int32(i) {
				t.Fatalf("codec %d record %d: %q=%q delta %d", c.codec, i, r.Key, r.Value, r.OffsetDelta)
			}
		}
		kept := []Record{got[3], got[17], got[49]}
		out, err := NewRecordWriter().Rebuild(nil, b, kept)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := ParseBatchHeader(out)
		if h.NumRecords != 3 || h.LastOffsetDelta != 49 || h.Compression() != int8(c.codec) || h.Size() != int64(len(out)) ||
			h.CRC != crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)) {
			t.Fatalf("codec %d: rebuilt header %+v", c.codec, h)
		}
		plainOut, err := dec.Decompress(out[BatchHeaderSize:], kgo.CompressionCodecType(c.kt))
		if err != nil {
			t.Fatalf("codec %d: franz-go cannot decompress the rebuilt batch: %v", c.codec, err)
		}
		want := append(append(append([]byte(nil), got[3].Raw...), got[17].Raw...), got[49].Raw...)
		if !bytes.Equal(plainOut, want) {
			t.Fatalf("codec %d: rebuilt records differ", c.codec)
		}
	}
}

// putAttrs sets a test batch's attributes and its length to len(b), and
// recomputes the CRC.
func putAttrs(b []byte, codec int16) {
	b[offAttributes], b[offAttributes+1] = byte(codec>>8), byte(codec)
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-batchLogOverhead))
	recrc(b)
}

// TestRecordsXerialSnappy: Java clients' framing decodes and is kept.
func TestRecordsXerialSnappy(t *testing.T) {
	plain := keyedBatch(t, []kv{{[]byte("a"), []byte("1")}, {[]byte("b"), []byte("2")}}, 5, 0, -1, 0)
	raw := plain[BatchHeaderSize:]
	x := append([]byte(nil), xerialMagic...)
	x = append(x, 0, 0, 0, 1, 0, 0, 0, 1)
	for _, part := range [][]byte{raw[:5], raw[5:]} {
		blk := snappyBlock(part)
		x = append(x, byte(len(blk)>>24), byte(len(blk)>>16), byte(len(blk)>>8), byte(len(blk)))
		x = append(x, blk...)
	}
	b := append(append([]byte(nil), plain[:BatchHeaderSize]...), x...)
	putAttrs(b, 2)
	recs, err := NewRecordReader(1 << 20).Records(b)
	if err != nil || len(recs) != 2 || string(recs[1].Value) != "2" {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	out, err := NewRecordWriter().Rebuild(nil, b, recs[1:])
	if err != nil || !bytes.HasPrefix(out[BatchHeaderSize:], xerialMagic) {
		t.Fatalf("rebuilt not xerial: %v", err)
	}
	again, err := NewRecordReader(1 << 20).Records(out)
	if err != nil || len(again) != 1 || string(again[0].Key) != "b" {
		t.Fatalf("re-read: %d, %v", len(again), err)
	}
}

// TestRecordsBadInput: bombs beyond the bound, malformed records, wrong
// counts and unknown codecs are errors, never panics.
func TestRecordsBadInput(t *testing.T) {
	big := keyedBatch(t, []kv{{[]byte("k"), make([]byte, 100<<10)}}, 1, 0, -1, 0)
	for codec := int16(1); codec <= 4; codec++ {
		b := keyedBatch(t, []kv{{[]byte("k"), make([]byte, 100<<10)}}, 1, codec, -1, 0)
		if len(b) >= len(big) {
			t.Fatalf("codec %d did not compress", codec)
		}
		if _, err := NewRecordReader(10 << 10).Records(b); !errors.Is(err, ErrCorruptMessage) {
			t.Fatalf("codec %d: over the bound: %v", codec, err)
		}
	}
	good := keyedBatch(t, []kv{{[]byte("k"), []byte("v")}}, 1, 0, -1, 0)
	for name, mut := range map[string]func(b []byte) []byte{
		"count":     func(b []byte) []byte { b[offNumRecords+3] = 2; return b },
		"truncated": func(b []byte) []byte { b = b[:len(b)-2]; b[offBatchLength+3] -= 2; return b },
		"codec":     func(b []byte) []byte { b[offAttributes+1] = 6; return b },
		"varint":    func(b []byte) []byte { b[BatchHeaderSize] = 0xff; return b },
		"garbage":   func(b []byte) []byte { b[offAttributes+1] = 4; return b },
	} {
		b := mut(append([]byte(nil), good...))
		if _, err := NewRecordReader(1 << 20).Records(b); err == nil {
			t.Fatalf("%s: accepted", name)
		}
	}
}

func FuzzRecords(f *testing.F) {
	good := keyedBatch(f, []kv{{[]byte("k"), []byte("v")}, {nil, nil}}, 1, 0, -1, 0)
	f.Add(good[BatchHeaderSize:], int16(0), int32(2))
	f.Fuzz(func(t *testing.T, body []byte, codec int16, n int32) {
		b := append(append([]byte(nil), good[:BatchHeaderSize]...), body...)
		putAttrs(b, codec&7)
		b[offNumRecords], b[offNumRecords+1], b[offNumRecords+2], b[offNumRecords+3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		b[offBatchLength], b[offBatchLength+1], b[offBatchLength+2], b[offBatchLength+3] = byte((len(b)-12)>>24), byte((len(b)-12)>>16), byte((len(b)-12)>>8), byte(len(b)-12)
		_, _ = NewRecordReader(1 << 16).Records(b)
	})
}

func snappyBlock(b []byte) []byte { return s2EncodeSnappy(b) }
