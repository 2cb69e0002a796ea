package actors

import (
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/messages"
)

// fetchedTPs returns the partitions a sendFetch among effects asks for
// (nil: no fetch sent).
func fetchedTPs(effects []effect) []TopicPartition {
	for _, e := range effects {
		if f, ok := e.(sendFetch); ok {
			var tps []TopicPartition
			for _, p := range f.req.Partitions {
				tps = append(tps, p.TP)
			}
			return tps
		}
	}
	return nil
}

// TestFetcherThrottle: a throttled partition that is behind the leader is
// left out of fetches while the follower throttle is exhausted and fetched
// again once it refills; an unthrottled partition on the same fetcher is
// fetched throughout, and a throttled one that caught up is not held back.
func TestFetcherThrottle(t *testing.T) {
	now := time.Unix(0, 0)
	th := NewThrottle(1000, func() time.Time { return now })
	f := newFetcher(fetcherConfig{localID: 2, leader: &messages.Broker{Id: 1}, maxWait: 500 * time.Millisecond,
		minBytes: 1, maxBytes: 1 << 20, partMaxBytes: 1 << 20, tickEvery: 100 * time.Millisecond, throttle: th, log: zerolog.Nop()}, 1)
	moved, steady := TopicPartition{"t", 0}, TopicPartition{"t", 1}
	f.step(&followPartitions{parts: []followSpec{{tp: moved, leaderEpoch: 1, throttled: true}, {tp: steady, leaderEpoch: 1}}})
	f.step(&followerState{tp: steady, leaderEpoch: 1, ok: true, logEnd: 0})
	f.step(&followerState{tp: moved, leaderEpoch: 1, ok: true, logEnd: 0})
	out := f.step(&fetcherConnected{})
	if got := fetchedTPs(out); !slices.Equal(got, []TopicPartition{moved, steady}) {
		t.Fatalf("first fetch asks for %v", got)
	}
	// The leader is far ahead: 1500 bytes come back for the moved
	// partition, more than the throttle's second at 1000 B/s.
	f.step(&fetcherFetched{sent: map[TopicPartition]int64{moved: 0, steady: 0}, parts: []FetchedPartition{
		{TP: moved, HighWatermark: 10_000, Records: make([]byte, 1500)},
		{TP: steady, HighWatermark: 5, Records: make([]byte, 100)},
	}})
	f.step(&followerState{tp: steady, leaderEpoch: 1, ok: true, logEnd: 5})
	out = f.step(&followerState{tp: moved, leaderEpoch: 1, ok: true, logEnd: 15})
	if got := fetchedTPs(out); !slices.Equal(got, []TopicPartition{steady}) {
		t.Fatalf("with the throttle exhausted the fetch asks for %v, want only %v", got, steady)
	}
	// Each answer for the steady partition starts the next fetch at once;
	// the moved one stays out of them until the throttle refills.
	for range 3 {
		if got := fetchedTPs(f.step(&fetcherFetched{sent: map[TopicPartition]int64{steady: 5}})); !slices.Equal(got, []TopicPartition{steady}) {
			t.Fatalf("while the throttle is in debt the fetch asks for %v", got)
		}
		f.step(tick{})
	}
	now = now.Add(time.Second) // 1000 B earned: the debt of 500 is paid
	if got := fetchedTPs(f.step(&fetcherFetched{sent: map[TopicPartition]int64{steady: 5}})); !slices.Contains(got, moved) {
		t.Fatalf("after the throttle refilled the fetch asks for %v", got)
	}
	// Caught up (at the leader's high watermark): not throttled, even in debt.
	th.Record(5000)
	f.inFlight = false
	f.parts[moved].hw, f.parts[moved].offset = 15, 15
	if got := fetchedTPs(f.step(tick{})); !slices.Contains(got, moved) {
		t.Fatalf("a caught-up throttled partition was held back: %v", got)
	}
}
