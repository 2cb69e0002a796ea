package cli

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram is a fixed-size log-linear latency histogram in nanoseconds.
//
// Values below 16 ns get a bucket each; above that, each power of two is
// split into 16 equal sub-buckets, so a bucket spans at most 1/16 of its
// lower bound. Quantiles report a bucket's midpoint, which is within 1/32
// (about 3%) of every value the bucket holds. 976 buckets cover all of
// uint64.
//
// Concurrency: record may be called from any goroutine (the counters are
// atomic); quantile reads a snapshot that may miss concurrent records.
type histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
}

const (
	histSubBits = 4
	histSub     = 1 << histSubBits
	histBuckets = (64-histSubBits)*histSub + histSub
)

// histBucket maps a value to its bucket index.
func histBucket(v uint64) int {
	if v < histSub {
		return int(v)
	}
	// shift drops all but the leading one and histSubBits bits below it.
	shift := bits.Len64(v) - histSubBits - 1
	return (shift+1)*histSub + int((v>>shift)&(histSub-1))
}

// histBounds returns the smallest value of bucket i and its width.
func histBounds(i int) (low, width uint64) {
	if i < histSub {
		return uint64(i), 1
	}
	shift := uint(i/histSub - 1)
	return uint64(histSub+i%histSub) << shift, 1 << shift
}

func (h *histogram) record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[histBucket(v)].Add(1)
	h.total.Add(1)
}

// count returns how many values were recorded.
func (h *histogram) count() uint64 { return h.total.Load() }

// quantile returns the value below which a fraction q (0 < q <= 1) of the
// recorded values lie, as the midpoint of that value's bucket; 0 when empty.
func (h *histogram) quantile(q float64) time.Duration {
	var snap [histBuckets]uint64
	var n uint64
	for i := range h.counts {
		snap[i] = h.counts[i].Load()
		n += snap[i]
	}
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for i, c := range snap {
		seen += c
		if seen >= rank {
			low, width := histBounds(i)
			return time.Duration(low + (width-1)/2)
		}
	}
	panic("cli: histogram rank beyond its total") // unreachable: rank <= n
}
