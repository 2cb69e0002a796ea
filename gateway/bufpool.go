package gateway

import (
	"math/bits"
	"sync"
)

// Request frames are read into pooled buffers: a fresh buffer per frame
// cost the broker a page-zeroing pass over every produced byte (11% of
// its CPU on 1 KiB produce) plus GC work. A buffer goes back to the pool
// only when nothing can still refer to it: after its response is written,
// and never when a partition actor might still hold its records (a
// produce answered by timeout).

// Size classes are powers of two from 4 KiB to 128 MiB.
const (
	minPoolShift = 12
	maxPoolShift = 27
)

var bufPools [maxPoolShift - minPoolShift + 1]sync.Pool

func poolClass(n int) int {
	if n <= 1<<minPoolShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minPoolShift
}

// getBuf returns a buffer of length n (contents undefined).
func getBuf(n int) []byte {
	c := poolClass(n)
	if c >= len(bufPools) {
		return make([]byte, n)
	}
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<(c+minPoolShift))
}

// putBuf returns a buffer from getBuf to its pool. REQUIRES: nothing
// refers to b any more.
func putBuf(b []byte) {
	c := poolClass(cap(b))
	if c >= len(bufPools) || cap(b) != 1<<(c+minPoolShift) {
		return
	}
	b = b[:0]
	bufPools[c].Put(&b)
}
