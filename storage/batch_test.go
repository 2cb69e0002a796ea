package storage

import (
	"encoding/binary"
	"testing"
)

// BenchmarkValidateBatch measures Append's CPU cost per batch: CRC-32C plus
// the walk over the records' framing.
func BenchmarkValidateBatch(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			batch := benchBatch(sz.size)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				validateBatch(batch, 2<<20)
			}
		})
	}
}

// TestVarintMatchesStdlib checks the fast varint paths against
// encoding/binary, including truncated and overlong inputs.
func TestVarintMatchesStdlib(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, 1 << 40, -(1 << 40)} {
		b := binary.AppendVarint(nil, v)
		b = append(b, 0xff, 0x01)
		got, k := readVarint(b, 0)
		want, wk := binary.Varint(b)
		if wk <= 0 {
			wk = -1
		}
		if k < 0 {
			got = want
		}
		if got != want || k != wk {
			t.Fatalf("%d: %d,%d want %d,%d", v, got, k, want, wk)
		}
	}
	for _, b := range [][]byte{nil, {0x80}, {0x81}, {0x80, 0x80}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		got, k := readVarint(b, 0)
		want, wk := binary.Varint(b)
		if wk <= 0 {
			wk = -1
		}
		if k < 0 {
			got = want
		}
		if got != want || k != wk {
			t.Fatalf("% x: %d,%d want %d,%d", b, got, k, want, wk)
		}
	}
}
