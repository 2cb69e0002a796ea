package e2e

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/harness"
)

// Layout of the timestamp test's partitions: tsBatches batches of
// tsPerBatch records; record j of batch i has timestamp
// base + i*1000 + j*10 and offset i*tsPerBatch + j.
const (
	tsBatches  = 10
	tsPerBatch = 10
)

func tsOf(base int64, off int64) int64 {
	return base + (off/tsPerBatch)*1000 + (off%tsPerBatch)*10
}

// writeTimestampedLog produces the layout above to topic-partition with
// raw batches, so the batch boundaries and timestamps are exactly known.
func writeTimestampedLog(t *testing.T, addr, topic string, partition int32, base int64) {
	t.Helper()
	c, err := harness.DialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range int64(tsBatches) {
		var recs []harness.Record
		for j := range int64(tsPerBatch) {
			off := i*tsPerBatch + j
			recs = append(recs, harness.Record{Value: []byte(fmt.Sprintf("p%d-o%d", partition, off)), TimestampDelta: j * 10})
		}
		batch := harness.BuildBatch(harness.Batch{ProducerID: harness.NoProducer, ProducerEpoch: -1, BaseSequence: -1,
			FirstTimestamp: base + i*1000, Records: recs})
		resp, err := c.Do(harness.ProduceRequest(7, -1, topic, partition, batch))
		if err != nil {
			t.Fatal(err)
		}
		p := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil || p.BaseOffset != i*tsPerBatch {
			t.Fatalf("produce batch %d: %v, base offset %d", i, err, p.BaseOffset)
		}
	}
}

// TestReadFromOffsetAndTimestamp: ListOffsets by time (-1, -2, -3 and
// timestamps inside, between and past batches), then franz-go and kcat
// consumers starting at an offset and at a timestamp.
func TestReadFromOffsetAndTimestamp(t *testing.T) {
	b := harness.StartBroker(t, harness.BrokerOptions{})
	createTopic(t, b.Admin(t), "ts", 2, nil)
	base := time.Now().Add(-time.Hour).UnixMilli()
	bases := map[int32]int64{0: base, 1: base + 500_000} // partition 1 is later: lookups are per partition
	for p, pb := range bases {
		writeTimestampedLog(t, b.Addr(), "ts", p, pb)
	}
	const n = tsBatches * tsPerBatch

	cl := b.Client(t)
	ctx := testCtx(t, 60*time.Second)
	listOffsets := func(partition int32, ts int64) (int64, int64) {
		t.Helper()
		req := kmsg.NewPtrListOffsetsRequest()
		req.SetVersion(7)
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "ts"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = partition, ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		got := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(got.ErrorCode); err != nil {
			t.Fatalf("ListOffsets %d@%d: %v", partition, ts, err)
		}
		return got.Offset, got.Timestamp
	}
	for p, pb := range bases {
		cases := []struct {
			name     string
			ts       int64
			off, rts int64
		}{
			{"latest", -1, n, -1},
			{"earliest", -2, 0, -1},
			{"max timestamp", -3, n - 1, tsOf(pb, n-1)},
			{"before everything", pb - 5000, 0, pb},
			{"exactly the first record", pb, 0, pb},
			{"a batch's first record", pb + 3000, 30, pb + 3000},
			{"inside a batch", pb + 3055, 36, pb + 3060},
			{"between batches", pb + 4500, 50, pb + 5000},
			{"the last record", tsOf(pb, n-1), n - 1, tsOf(pb, n-1)},
			{"after everything", tsOf(pb, n-1) + 1, -1, -1},
		}
		for _, c := range cases {
			off, rts := listOffsets(p, c.ts)
			if off != c.off || (c.ts != -1 && c.ts != -2 && rts != c.rts) {
				t.Errorf("partition %d, %s (%d): offset %d timestamp %d, want %d and %d", p, c.name, c.ts, off, rts, c.off, c.rts)
			}
		}
	}

	// franz-go consumers: from an offset, and from a timestamp.
	firstFrom := func(o kgo.Offset) *kgo.Record {
		t.Helper()
		c := b.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"ts": {0: o}}))
		return pollN(t, c, 1, 30*time.Second)[0]
	}
	if r := firstFrom(kgo.NewOffset().At(42)); r.Offset != 42 || string(r.Value) != "p0-o42" {
		t.Errorf("franz-go from offset 42: first record %d %q", r.Offset, r.Value)
	}
	if r := firstFrom(kgo.NewOffset().AfterMilli(base + 3055)); r.Offset != 36 || r.Timestamp.UnixMilli() != base+3060 {
		t.Errorf("franz-go after %d: first record %d at %d", base+3055, r.Offset, r.Timestamp.UnixMilli())
	}
	// ConsumeResetOffset applies the same start to every partition of a topic.
	c := b.Client(t, kgo.ConsumeTopics("ts"), kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(bases[1]+7000)))
	recs := pollN(t, c, n-70, 30*time.Second)
	parts := byPartition(recs)
	if len(parts[0]) != 0 || len(parts[1]) != n-70 || parts[1][0].Offset != 70 {
		t.Errorf("after partition 1's 70th record: read %d from partition 0, %d from partition 1 (first %d)",
			len(parts[0]), len(parts[1]), parts[1][0].Offset)
	}

	// kcat: -o <offset> and -o s@<timestamp>.
	got := kcatConsume(t, b.Addr(), "ts", "-p", "0", "-o", "42")
	if len(got) != n-42 || got[0].offset != 42 || string(got[0].value) != "p0-o42" {
		t.Errorf("kcat -o 42: %d records, first %+v", len(got), got[0])
	}
	got = kcatConsume(t, b.Addr(), "ts", "-p", "1", "-o", "s@"+strconv.FormatInt(bases[1]+3055, 10))
	if len(got) != n-36 || got[0].offset != 36 || string(got[0].value) != "p1-o36" {
		t.Errorf("kcat -o s@%d: %d records, first %+v", bases[1]+3055, len(got), got[0])
	}
	got = kcatConsume(t, b.Addr(), "ts", "-o", "s@"+strconv.FormatInt(bases[1]+3055, 10))
	if parts := map[int32]int{}; true {
		for _, r := range got {
			parts[r.partition]++
		}
		if parts[0] != 0 || parts[1] != n-36 {
			t.Errorf("kcat -o s@ over both partitions: per-partition counts %v, want only %d from partition 1", parts, n-36)
		}
	}
}
