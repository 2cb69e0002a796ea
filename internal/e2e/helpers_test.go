package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/troupe-mq/troupe/internal/harness"
)

// testCtx is a context bounded well inside the suite's time budget.
func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// createTopic creates a topic and fails the test on any error.
func createTopic(t *testing.T, adm *kadm.Client, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

// randomRecords makes n records for topic with random keys (some nil),
// values and headers. Each value starts with its index (8 bytes) so a
// duplicate or a stray record is recognizable.
func randomRecords(rng *rand.Rand, topic string, n int) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		r := &kgo.Record{Topic: topic}
		if rng.IntN(10) != 0 {
			r.Key = randBytes(rng, 1+rng.IntN(16))
		}
		v := binary.BigEndian.AppendUint64(nil, uint64(i))
		r.Value = append(v, randBytes(rng, rng.IntN(48))...)
		for range rng.IntN(3) {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: string(randBytes(rng, 1+rng.IntN(8))), Value: randBytes(rng, rng.IntN(12))})
		}
		recs[i] = r
	}
	return recs
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

// produceAll produces recs asynchronously and waits for every ack; any
// produce error fails the test. kgo fills in each record's partition,
// offset and timestamp.
func produceAll(t *testing.T, cl *kgo.Client, recs []*kgo.Record) {
	t.Helper()
	ctx := testCtx(t, 90*time.Second)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	wg.Add(len(recs))
	for _, r := range recs {
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("record %x: %w", r.Value[:8], err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		t.Fatalf("produce: %v", first)
	}
}

// consumeN reads topic from the start until n records arrived (failing
// after timeout or on a fetch error) and returns them in arrival order.
func consumeN(t *testing.T, addr, topic string, n int, timeout time.Duration, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	all := append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)
	cl := harness.NewClient(t, []string{addr}, all...)
	return pollN(t, cl, n, timeout)
}

// pollN polls cl until it has n records.
func pollN(t *testing.T, cl *kgo.Client, n int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	ctx := testCtx(t, timeout)
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(got), n)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s-%d: %v", topic, p, err)
		})
		got = append(got, fs.Records()...)
	}
	return got
}

// byPartition groups records by partition, each group sorted by offset.
func byPartition(recs []*kgo.Record) map[int32][]*kgo.Record {
	m := map[int32][]*kgo.Record{}
	for _, r := range recs {
		m[r.Partition] = append(m[r.Partition], r)
	}
	for _, rs := range m {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Offset < rs[j].Offset })
	}
	return m
}

// checkRoundTrip checks that got holds exactly the produced records: per
// partition, offsets contiguous from 0 in the order the producer's acks
// gave them, in consumption order, with identical keys, values, headers
// and timestamps.
func checkRoundTrip(t *testing.T, produced, got []*kgo.Record) {
	t.Helper()
	if len(got) != len(produced) {
		t.Fatalf("consumed %d records, produced %d", len(got), len(produced))
	}
	want := byPartition(produced)
	// Consumption order within a partition must already be offset order.
	gotParts := map[int32][]*kgo.Record{}
	for _, r := range got {
		gotParts[r.Partition] = append(gotParts[r.Partition], r)
	}
	if len(gotParts) != len(want) {
		t.Fatalf("consumed from partitions %v, produced to %v", keys(gotParts), keys(want))
	}
	for p, ws := range want {
		gs := gotParts[p]
		if len(gs) != len(ws) {
			t.Fatalf("partition %d: consumed %d records, produced %d", p, len(gs), len(ws))
		}
		for i := range ws {
			w, g := ws[i], gs[i]
			if w.Offset != int64(i) {
				t.Fatalf("partition %d: produced offsets not contiguous: record %d acked at offset %d", p, i, w.Offset)
			}
			if g.Offset != int64(i) {
				t.Fatalf("partition %d: consumed record %d has offset %d", p, i, g.Offset)
			}
			if err := sameRecord(w, g); err != nil {
				t.Fatalf("partition %d offset %d: %v", p, i, err)
			}
		}
	}
}

func sameRecord(w, g *kgo.Record) error {
	switch {
	case !bytes.Equal(w.Key, g.Key) || (w.Key == nil) != (g.Key == nil):
		return fmt.Errorf("key %x, want %x", g.Key, w.Key)
	case !bytes.Equal(w.Value, g.Value):
		return fmt.Errorf("value %x, want %x", g.Value, w.Value)
	case !w.Timestamp.Equal(g.Timestamp):
		return fmt.Errorf("timestamp %v, want %v", g.Timestamp, w.Timestamp)
	case len(w.Headers) != len(g.Headers):
		return fmt.Errorf("%d headers, want %d", len(g.Headers), len(w.Headers))
	}
	for i := range w.Headers {
		if w.Headers[i].Key != g.Headers[i].Key || !bytes.Equal(w.Headers[i].Value, g.Headers[i].Value) {
			return fmt.Errorf("header %d = %q:%x, want %q:%x", i, g.Headers[i].Key, g.Headers[i].Value, w.Headers[i].Key, w.Headers[i].Value)
		}
	}
	return nil
}

func keys[V any](m map[int32]V) []int32 {
	ks := make([]int32, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// errorf is fmt.Errorf, for conditions polled by harness.Eventually.
func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// newRand is a deterministic random source for test data.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed*31+7)) }
