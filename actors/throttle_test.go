package actors

import (
	"math"
	"testing"
	"time"
)

// TestThrottleRate: over a simulated minute of greedy sending, a throttle
// passes the limit's bytes (plus one second's burst), whatever the chunk
// size; an unlimited or nil throttle never holds traffic back.
func TestThrottleRate(t *testing.T) {
	for _, chunk := range []int{1000, 64 << 10, 10 << 20} {
		now := time.Unix(0, 0)
		th := NewThrottle(1<<20, func() time.Time { return now })
		sent := 0
		for step := 0; step < 60_000; step++ { // 1 ms steps
			for !th.Exceeded() {
				th.Record(chunk)
				sent += chunk
			}
			now = now.Add(time.Millisecond)
		}
		limit := 61 << 20 // 60 s at 1 MiB/s, plus the initial second
		if sent > limit+chunk || sent < 59<<20 {
			t.Errorf("chunk %d: sent %d bytes in 60 s at 1 MiB/s", chunk, sent)
		}
		if w := th.Wait(); th.Exceeded() && w <= 0 {
			t.Errorf("chunk %d: exceeded but no wait", chunk)
		}
	}
	now := time.Unix(0, 0)
	th := NewThrottle(math.MaxInt64, func() time.Time { return now })
	th.Record(1 << 40)
	if th.Exceeded() || th.Wait() != 0 {
		t.Fatal("an unlimited throttle held traffic back")
	}
	var nilT *Throttle
	nilT.Record(5)
	if nilT.Exceeded() {
		t.Fatal("a nil throttle held traffic back")
	}
	// Lowering and raising the rate takes effect at once.
	th.SetRate(100)
	th.Record(1000)
	if !th.Exceeded() || th.Wait() < 8*time.Second {
		t.Fatalf("lowered rate: exceeded %v, wait %v", th.Exceeded(), th.Wait())
	}
	th.SetRate(math.MaxInt64)
	if th.Exceeded() {
		t.Fatal("raised rate still held traffic back")
	}
}
