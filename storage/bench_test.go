package storage

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Benchmarks compare the log with the same bytes through a plain os.File.
// Page-cache writes on this kind of machine are throttled once a few GB of
// dirty pages pile up (see NOTES.md), so both sides bound what they leave
// behind: roll to a fresh file every benchRollBytes and delete the old one.
// Compare medians of interleaved runs (baseline, candidate, baseline, ...),
// renaming each pair to one name so benchstat compares them:
//
//	go test -c -o /tmp/st.test ./storage
//	for i in 1 2 3 4 5 6 7 8; do for b in RawWrite Append RawRead Read; do
//	  /tmp/st.test -test.run='^$' -test.bench="^Benchmark$b\$" -test.benchmem >> /tmp/bench.txt
//	done; done
//	grep -E '^Benchmark(RawWrite|RawRead)/' /tmp/bench.txt | sed 's/RawWrite/Write/;s/RawRead/Read/' > /tmp/raw.txt
//	grep -E '^Benchmark(Append|Read)/' /tmp/bench.txt | sed 's/Append/Write/' > /tmp/log.txt
//	go run golang.org/x/perf/cmd/benchstat@latest /tmp/raw.txt /tmp/log.txt

const (
	benchRollBytes = 256 << 20
	benchReadBytes = 128 << 20
)

var benchSizes = []struct {
	name string
	size int
}{
	{"1KiB", 1 << 10},
	{"16KiB", 16 << 10},
	{"1MiB", 1 << 20},
}

// benchBatch builds a batch of exactly size bytes made of ~1 KiB records
// (how producers batch), with a valid CRC.
func benchBatch(size int) []byte {
	records := max(1, size/1024)
	per := size / records
	// Shrink the value until the batch fits, then pad the last record.
	for v := per - 30; v > 0; v-- {
		b := buildBatch(batchSpec{records: records, valueSize: v, firstTs: 1})
		if len(b) <= size {
			// Grow the first record's key to hit the size exactly is
			// fiddly; a batch a few bytes short of size is fine, but
			// SetBytes uses the real length.
			return b
		}
	}
	return batchOfSize(size, 1)
}

func BenchmarkAppend(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			batch := benchBatch(sz.size)
			cfg := DefaultConfig()
			cfg.SegmentBytes = benchRollBytes
			cfg.RetentionBytes = 1
			cfg.RetentionMs = -1
			cfg.MaxMessageBytes = 2 << 20
			cfg.FileDeleteDelay = 0
			l, err := Open(filepath.Join(b.TempDir(), "bench-0"), cfg, Options{})
			if err != nil {
				b.Fatal(err)
			}
			// Close fsyncs; that is not what is measured (the raw side never
			// fsyncs either), so stop the timer first.
			defer func() { b.StopTimer(); l.Close() }()
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := l.Append(batch, 1); err != nil {
					b.Fatal(err)
				}
				if l.NumSegments() > 1 {
					// Same as the raw baseline: drop the full file.
					l.SetHighWatermark(l.LogEndOffset())
					if _, err := l.ApplyRetention(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func BenchmarkRawWrite(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			batch := benchBatch(sz.size)
			dir := b.TempDir()
			n := 0
			open := func() *os.File {
				f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%d.log", n)), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
				if err != nil {
					b.Fatal(err)
				}
				return f
			}
			f := open()
			var pos int64
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if pos+int64(len(batch)) > benchRollBytes {
					f.Close()
					os.Remove(f.Name())
					n++
					f, pos = open(), 0
				}
				if _, err := f.WriteAt(batch, pos); err != nil {
					b.Fatal(err)
				}
				pos += int64(len(batch))
			}
			b.StopTimer()
			f.Close()
		})
	}
}

// readLog writes benchReadBytes of batches of the given size.
func readLog(b *testing.B, batch []byte) *Log {
	cfg := DefaultConfig()
	cfg.MaxMessageBytes = 2 << 20
	l, err := Open(filepath.Join(b.TempDir(), "bench-0"), cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for l.Size()+int64(len(batch)) <= benchReadBytes {
		if _, err := l.Append(batch, 1); err != nil {
			b.Fatal(err)
		}
	}
	return l
}

func BenchmarkRead(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			batch := benchBatch(sz.size)
			l := readLog(b, batch)
			defer func() { b.StopTimer(); l.Close() }()
			buf := make([]byte, len(batch))
			leo := l.LogEndOffset()
			var off int64
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// A consumer fetching one batch at a time, sequentially.
				r, err := l.Read(off, int32(len(batch)), leo, true)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.ReadAt(buf, 0); err != nil && err != io.EOF {
					b.Fatal(err)
				}
				off = r.NextOffset()
				if off >= leo {
					off = 0
				}
			}
		})
	}
}

func BenchmarkRawRead(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			batch := benchBatch(sz.size)
			f, err := os.Create(filepath.Join(b.TempDir(), "raw.log"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var size int64
			for size+int64(len(batch)) <= benchReadBytes {
				if _, err := f.WriteAt(batch, size); err != nil {
					b.Fatal(err)
				}
				size += int64(len(batch))
			}
			buf := make([]byte, len(batch))
			var pos int64
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := f.ReadAt(buf, pos); err != nil {
					b.Fatal(err)
				}
				pos += int64(len(batch))
				if pos >= size {
					pos = 0
				}
			}
		})
	}
}
