package cli

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestHistogramBucketsCoverValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	check := func(v uint64) {
		i := histBucket(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("value %d: bucket %d out of range", v, i)
		}
		low, width := histBounds(i)
		if v < low || v-low >= width {
			t.Fatalf("value %d: bucket %d holds [%d, %d+%d)", v, i, low, low, width)
		}
		if low >= histSub && float64(width) > float64(low)/histSub {
			t.Fatalf("bucket %d: width %d too wide for low %d", i, width, low)
		}
	}
	for v := uint64(0); v < 5000; v++ {
		check(v)
	}
	for range 100000 {
		check(rng.Uint64() >> rng.UintN(64))
	}
	check(math.MaxUint64)
	// Buckets are ordered: a larger value never lands in a smaller bucket.
	prev := 0
	for v := uint64(1); v < 1<<40; v = v*9/8 + 1 {
		if b := histBucket(v); b < prev {
			t.Fatalf("bucket order broken at %d", v)
		} else {
			prev = b
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	if h.quantile(0.5) != 0 {
		t.Fatal("empty histogram has a median")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var vals []time.Duration
	for range 20000 {
		// Log-uniform between 10 µs and 1 s, like real latencies.
		d := time.Duration(math.Exp(math.Log(1e4) + rng.Float64()*math.Log(1e5)))
		vals = append(vals, d)
		h.record(d)
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := h.quantile(q)
		if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 1.0/32+1e-9 {
			t.Errorf("q%.3f: got %v, exact %v (off by %.2f%%)", q, got, exact, rel*100)
		}
	}
	if h.count() != 20000 {
		t.Fatalf("count %d", h.count())
	}
	h.record(-time.Second) // clock steps backwards count as zero
	if h.quantile(0) != 0 {
		t.Fatal("negative duration not recorded as zero")
	}
}
