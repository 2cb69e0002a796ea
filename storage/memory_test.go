package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// idleHeapPerLog opens n copies of a small closed log from disk and returns
// the Go heap each open, idle log keeps (after a GC), having read from each
// once so its indexes are in use.
func idleHeapPerLog(tb testing.TB, n int) uint64 {
	tb.Helper()
	root := tb.TempDir()
	cfg := DefaultConfig()
	cfg.IndexIntervalBytes = 512
	// One real log, then copies of its files: Open is what is measured.
	src := filepath.Join(root, "src")
	l, err := Open(src, cfg, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if _, err := l.Append(buildBatch(batchSpec{records: 4, valueSize: 100, firstTs: int64(1000 + i)}), 1); err != nil {
			tb.Fatal(err)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	names, err := os.ReadDir(src)
	if err != nil {
		tb.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range names {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		files[e.Name()] = b
	}
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = filepath.Join(root, fmt.Sprintf("topic-%d", i))
		if err := os.Mkdir(dirs[i], 0o755); err != nil {
			tb.Fatal(err)
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dirs[i], name), b, 0o644); err != nil {
				tb.Fatal(err)
			}
		}
	}

	logs := make([]*Log, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i, d := range dirs {
		if logs[i], err = Open(d, cfg, Options{}); err != nil {
			tb.Fatal(err)
		}
		if logs[i].Recovery().SegmentsRecovered != 0 {
			tb.Fatal("expected a clean open")
		}
		if _, err := logs[i].Read(100, 1<<20, logs[i].LogEndOffset(), true); err != nil {
			tb.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (after.HeapAlloc - min(before.HeapAlloc, after.HeapAlloc)) / uint64(n)
	for _, l := range logs {
		if err := l.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	return per
}

// TestIdlePartitionHeap is the memory budget: an open, idle partition log
// costs well under 64 KiB of Go heap, so 10,000 partitions fit comfortably.
// (Index files are mapped or read on demand, not loaded.)
func TestIdlePartitionHeap(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 300
	}
	per := idleHeapPerLog(t, n)
	t.Logf("Go heap per open idle partition: %d bytes (%d logs)", per, n)
	if per >= 64<<10 {
		t.Fatalf("idle partition costs %d bytes of heap, budget 64 KiB", per)
	}
}

// BenchmarkIdlePartitionHeap reports the heap per open log for 5,000 logs
// (run with -benchtime=1x).
func BenchmarkIdlePartitionHeap(b *testing.B) {
	for i := 0; i < b.N; i++ {
		per := idleHeapPerLog(b, 5000)
		b.ReportMetric(float64(per), "heapB/partition")
	}
}
