package gateway_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/harness"
)

// TestProduceFetchEveryVersion: a record produced at each Produce version
// (3–9) is read back at each Fetch version (4–12), acks 1 and -1.
func TestProduceFetchEveryVersion(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "versions", 1, nil)
	c := b.raw(t)
	var want []string
	for v := int16(3); v <= 9; v++ {
		for _, acks := range []int16{1, -1} {
			val := fmt.Sprintf("produce-v%d-acks%d", v, acks)
			batch := harness.BuildBatch(harness.Batch{ProducerID: harness.NoProducer, ProducerEpoch: -1, BaseSequence: -1,
				Records: []harness.Record{{Key: []byte("k"), Value: []byte(val)}}})
			resp, err := c.Do(harness.ProduceRequest(v, acks, "versions", 0, batch))
			if err != nil {
				t.Fatalf("produce v%d: %v", v, err)
			}
			p := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil || p.BaseOffset != int64(len(want)) {
				t.Fatalf("produce v%d acks %d: %v at offset %d, want %d", v, acks, err, p.BaseOffset, len(want))
			}
			if v >= 5 && p.LogStartOffset != 0 {
				t.Errorf("produce v%d: log start offset %d", v, p.LogStartOffset)
			}
			want = append(want, val)
		}
	}
	for v := int16(4); v <= 12; v++ {
		req := fetchReq("versions", 0, 0, 0, 1)
		req.SetVersion(v)
		p, recs := fetch(t, c, req)
		if p.ErrorCode != 0 || p.HighWatermark != int64(len(want)) || len(recs) != len(want) {
			t.Fatalf("fetch v%d: %v, high watermark %d, %d records", v, kerr.ErrorForCode(p.ErrorCode), p.HighWatermark, len(recs))
		}
		if v >= 5 && p.LogStartOffset != 0 {
			t.Errorf("fetch v%d: log start offset %d", v, p.LogStartOffset)
		}
		for i, r := range recs {
			if string(r.Value) != want[i] || r.Offset != int64(i) {
				t.Fatalf("fetch v%d: record %d = %q at %d", v, i, r.Value, r.Offset)
			}
		}
	}
}

// TestProduceUnknownPartition: a partition that does not exist is
// UNKNOWN_TOPIC_OR_PARTITION, next to a good one in the same request.
func TestProduceUnknownPartition(t *testing.T) {
	b := startBroker(t, "auto.create.topics.enable=false")
	createTopic(t, b, "known", 1, nil)
	batch := func() []byte {
		return harness.BuildBatch(harness.Batch{ProducerID: harness.NoProducer, ProducerEpoch: -1, BaseSequence: -1,
			Records: []harness.Record{{Value: []byte("x")}}})
	}
	req := harness.ProduceRequest(9, -1, "known", 0, batch())
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = 7, batch()
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "unknown"
	rp2 := kmsg.NewProduceRequestTopicPartition()
	rp2.Records = batch()
	rt.Partitions = append(rt.Partitions, rp2)
	req.Topics = append(req.Topics, rt)
	resp := do[*kmsg.ProduceResponse](t, b, req)
	got := map[string]int16{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			got[fmt.Sprintf("%s-%d", rt.Topic, p.Partition)] = p.ErrorCode
		}
	}
	want := map[string]int16{"known-0": 0, "known-7": kerr.UnknownTopicOrPartition.Code, "unknown-0": kerr.UnknownTopicOrPartition.Code}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: error %d, want %d", k, got[k], w)
		}
	}
}

// TestProduceAcksZero: acks=0 gets no response, and the next request on
// the connection gets its own (the correlation ids stay matched).
func TestProduceAcksZero(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "fire", 1, nil)
	c := b.raw(t)
	for i := range 3 {
		batch := harness.BuildBatch(harness.Batch{ProducerID: harness.NoProducer, ProducerEpoch: -1, BaseSequence: -1,
			Records: []harness.Record{{Value: []byte(fmt.Sprintf("fire-%d", i))}}})
		if _, err := c.Send(harness.ProduceRequest(9, 0, "fire", 0, batch)); err != nil {
			t.Fatal(err)
		}
	}
	// The next request's answer is the next frame (Do checks its correlation id).
	harness.Eventually(t, 10*time.Second, func() error {
		p := listOffset(t, c, 7, "fire", 0, -1)
		if p.Offset != 3 {
			return errorf("log end %d, want 3", p.Offset)
		}
		return nil
	})
}

// TestFetchLongPoll: a fetch waiting on an empty partition returns as soon
// as a record arrives; one whose min_bytes is never met returns after
// max_wait_ms with no records.
func TestFetchLongPoll(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "poll", 1, nil)

	t.Run("wakes on produce", func(t *testing.T) {
		c := b.raw(t)
		start := time.Now()
		corr, err := c.Send(fetchReq("poll", 0, 0, 5000, 1))
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan error, 1)
		go func() {
			resp, err := c.Receive(fetchReq("poll", 0, 0, 5000, 1), corr)
			if err == nil {
				p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
				if len(p.RecordBatches) == 0 {
					err = errorf("long poll answered without records after %v", time.Since(start))
				}
			}
			got <- err
		}()
		// The fetch is parked: nothing arrives before we produce.
		select {
		case err := <-got:
			t.Fatalf("fetch answered before any produce: %v", err)
		case <-time.After(300 * time.Millisecond): // how long we let the fetch prove it waits
		}
		produced := time.Now()
		mustProduce(t, b.raw(t), "poll", 0, "wake up")
		if err := <-got; err != nil {
			t.Fatal(err)
		}
		if d := time.Since(produced); d > time.Second {
			t.Fatalf("fetch returned %v after the produce (max wait was 5 s)", d)
		}
	})

	t.Run("min bytes not met", func(t *testing.T) {
		c := b.raw(t)
		end := listOffset(t, c, 7, "poll", 0, -1).Offset
		start := time.Now()
		p, recs := fetch(t, c, fetchReq("poll", 0, end, 500, 1))
		d := time.Since(start)
		if p.ErrorCode != 0 || len(recs) != 0 {
			t.Fatalf("%v, %d records", kerr.ErrorForCode(p.ErrorCode), len(recs))
		}
		if d < 450*time.Millisecond || d > 3*time.Second {
			t.Fatalf("returned after %v, max wait was 500 ms", d)
		}
	})

	t.Run("min bytes above what there is", func(t *testing.T) {
		c := b.raw(t)
		start := time.Now()
		p, recs := fetch(t, c, fetchReq("poll", 0, 0, 400, 1<<20))
		d := time.Since(start)
		if p.ErrorCode != 0 || len(recs) == 0 {
			t.Fatalf("%v, %d records: what there is comes back at max wait", kerr.ErrorForCode(p.ErrorCode), len(recs))
		}
		if d < 350*time.Millisecond || d > 3*time.Second {
			t.Fatalf("returned after %v, max wait was 400 ms", d)
		}
	})

	t.Run("offset out of range", func(t *testing.T) {
		c := b.raw(t)
		p, _ := fetch(t, c, fetchReq("poll", 0, 1000, 0, 1))
		if p.ErrorCode != kerr.OffsetOutOfRange.Code {
			t.Fatalf("fetch at 1000: %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(p.ErrorCode))
		}
	})
}

// TestPipelinedProduce: produce requests written back to back on one
// connection are applied and answered in request order.
func TestPipelinedProduce(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "pipe", 2, nil)
	c := b.raw(t)
	const n = 50
	var reqs []kmsg.Request
	for i := range n {
		batch := harness.BuildBatch(harness.Batch{ProducerID: harness.NoProducer, ProducerEpoch: -1, BaseSequence: -1,
			Records: []harness.Record{{Value: []byte(fmt.Sprintf("pipe-%d", i))}, {Value: []byte("second")}}})
		if i%10 == 9 {
			reqs = append(reqs, kmsg.NewPtrApiVersionsRequest()) // other requests in between
		}
		reqs = append(reqs, harness.ProduceRequest(int16(3+i%7), -1, "pipe", int32(i%2), batch))
	}
	resps, err := c.Pipeline(reqs...)
	if err != nil {
		t.Fatal(err)
	}
	next := map[int32]int64{}
	for i, resp := range resps {
		pr, ok := resp.(*kmsg.ProduceResponse)
		if !ok {
			continue
		}
		p := pr.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil || p.BaseOffset != next[p.Partition] {
			t.Fatalf("response %d: partition %d: %v at %d, want %d", i, p.Partition, err, p.BaseOffset, next[p.Partition])
		}
		next[p.Partition] += 2
	}
	_, recs := fetch(t, c, fetchReq("pipe", 0, 0, 0, 1))
	for i := 0; i < len(recs); i += 2 {
		if want := fmt.Sprintf("pipe-%d", i); string(recs[i].Value) != want {
			t.Fatalf("partition 0 offset %d: %q, want %q", i, recs[i].Value, want)
		}
	}
}

// TestFetchSizeLimits: partition_max_bytes and max_bytes bound what a
// fetch returns in whole batches, except that the first batch of the
// first non-empty partition always comes back whole (KIP-74).
func TestFetchSizeLimits(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "limits", 2, nil)
	c := b.raw(t)
	value := string(make([]byte, 1000))
	for p := int32(0); p < 2; p++ {
		for range 10 {
			mustProduce(t, c, "limits", p, value) // one batch of ~1070 bytes each
		}
	}
	both := func(maxBytes, partMax int32) []int {
		req := fetchReq("limits", 0, 0, 0, 1)
		req.MaxBytes = maxBytes
		req.Topics[0].Partitions[0].PartitionMaxBytes = partMax
		rp := req.Topics[0].Partitions[0]
		rp.Partition = 1
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var sizes []int
		for _, p := range resp.(*kmsg.FetchResponse).Topics[0].Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("partition %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
			}
			sizes = append(sizes, len(p.RecordBatches))
		}
		return sizes
	}
	for _, c := range []struct {
		name              string
		maxBytes, partMax int32
		check             func(sizes []int) bool
	}{
		{"partition limit below one batch: one whole batch from the first", 1 << 20, 10,
			func(s []int) bool { return s[0] > 1000 && s[0] < 1200 && s[1] == 0 }},
		{"partition limit of two batches", 1 << 20, 2500, func(s []int) bool { return s[0] > 2000 && s[0] <= 2500 && s[1] > 2000 && s[1] <= 2500 }},
		{"response limit below one batch: one whole batch", 10, 1 << 20, func(s []int) bool { return s[0] > 1000 && s[0] < 1200 && s[1] == 0 }},
		{"response limit of three batches", 3300, 1 << 20, func(s []int) bool { return s[0]+s[1] <= 3300 && s[0] > 2000 }},
	} {
		if sizes := both(c.maxBytes, c.partMax); !c.check(sizes) {
			t.Errorf("%s (max_bytes %d, partition_max_bytes %d): partitions returned %v bytes", c.name, c.maxBytes, c.partMax, sizes)
		}
	}
}
