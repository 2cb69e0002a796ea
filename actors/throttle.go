package actors

import (
	"math"
	"sync"
	"time"
)

// Throttle bounds the bytes per second of replication traffic for
// throttled replicas (Kafka's leader.replication.throttled.rate and
// follower.replication.throttled.rate). It is a token bucket that may go
// into debt: traffic is allowed while the bucket is not empty, and what
// was sent is charged afterwards (a fetch's size is only known once it
// has been read). Over any long period the rate stays at most the limit
// plus one second's burst. A Throttle is shared by the gateway's fetch
// handlers (leader side) or a broker's fetchers (follower side) and is
// safe for concurrent use.
type Throttle struct {
	now func() time.Time
	mu  struct {
		sync.Mutex
		rate   int64   // bytes/s; math.MaxInt64 or <= 0: unlimited
		tokens float64 // may be negative (debt)
		last   time.Time
	}
}

// NewThrottle returns a throttle at rate bytes/s (math.MaxInt64:
// unlimited). now is the clock (time.Now outside tests).
func NewThrottle(rate int64, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	t := &Throttle{now: now}
	t.SetRate(rate)
	return t
}

func unlimited(rate int64) bool { return rate <= 0 || rate == math.MaxInt64 }

// SetRate changes the limit (a dynamic config change). The bucket starts
// full at the new rate, so a raised limit takes effect at once.
func (t *Throttle) SetRate(rate int64) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.rate == rate {
		return
	}
	t.mu.rate, t.mu.last = rate, t.now()
	t.mu.tokens = float64(rate)
}

// refill adds the tokens earned since the last call, up to one second's
// worth. REQUIRES: t.mu held.
func (t *Throttle) refill() {
	now := t.now()
	if d := now.Sub(t.mu.last); d > 0 {
		t.mu.tokens = math.Min(float64(t.mu.rate), t.mu.tokens+d.Seconds()*float64(t.mu.rate))
		t.mu.last = now
	}
}

// Exceeded reports whether throttled traffic must wait now. A nil
// Throttle never is.
func (t *Throttle) Exceeded() bool {
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if unlimited(t.mu.rate) {
		return false
	}
	t.refill()
	return t.mu.tokens <= 0
}

// Record charges n bytes of throttled traffic.
func (t *Throttle) Record(n int) {
	if t == nil || n <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if unlimited(t.mu.rate) {
		return
	}
	t.refill()
	t.mu.tokens -= float64(n)
}

// Wait is how long until throttled traffic may flow again (0: now).
func (t *Throttle) Wait() time.Duration {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if unlimited(t.mu.rate) {
		return 0
	}
	t.refill()
	if t.mu.tokens > 0 {
		return 0
	}
	return time.Duration((-t.mu.tokens + 1) / float64(t.mu.rate) * float64(time.Second))
}
