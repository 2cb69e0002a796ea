package gateway_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/harness"
)

func deleteRecords(t *testing.T, b *testBroker, version int16, topic string, partition int32, offset int64) kmsg.DeleteRecordsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.SetVersion(version)
	req.TimeoutMillis = 5000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return do[*kmsg.DeleteRecordsResponse](t, b, req).Topics[0].Partitions[0]
}

// TestDeleteRecords: the low watermark moves up (never down), ListOffsets
// earliest follows it, a fetch below it is OFFSET_OUT_OF_RANGE, one at it
// returns the first kept record; beyond the high watermark is refused;
// -1 means the high watermark.
func TestDeleteRecords(t *testing.T) {
	b := startBroker(t, "auto.create.topics.enable=false")
	createTopic(t, b, "dr", 1, map[string]*string{"segment.bytes": kmsg.StringPtr("1024")}) // several segments
	c := b.raw(t)
	for i := range 40 {
		mustProduce(t, c, "dr", 0, fmt.Sprintf("record-%02d-%s", i, string(make([]byte, 60))))
	}
	for _, step := range []struct {
		version int16
		offset  int64
		low     int64
		err     *kerr.Error
	}{
		{0, 5, 5, nil},
		{1, 3, 5, nil}, // never backwards
		{2, 17, 17, nil},
		{2, 41, -1, kerr.OffsetOutOfRange},
		{2, -7, -1, kerr.OffsetOutOfRange},
	} {
		p := deleteRecords(t, b, step.version, "dr", 0, step.offset)
		want := int16(0)
		if step.err != nil {
			want = step.err.Code
		}
		if p.ErrorCode != want || (want == 0 && p.LowWatermark != step.low) {
			t.Fatalf("delete before %d (v%d): %v, low watermark %d; want %v, %d", step.offset, step.version,
				kerr.ErrorForCode(p.ErrorCode), p.LowWatermark, step.err, step.low)
		}
	}
	if p := listOffset(t, c, 7, "dr", 0, -2); p.Offset != 17 {
		t.Fatalf("earliest offset %d after deleting before 17", p.Offset)
	}
	if p, _ := fetch(t, c, fetchReq("dr", 0, 16, 0, 1)); p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LogStartOffset != 17 {
		t.Fatalf("fetch below the low watermark: %v (log start %d)", kerr.ErrorForCode(p.ErrorCode), p.LogStartOffset)
	}
	p, recs := fetch(t, c, fetchReq("dr", 0, 17, 0, 1))
	if p.ErrorCode != 0 || len(recs) == 0 || recs[0].Offset != 17 || string(recs[0].Value[:9]) != "record-17" {
		t.Fatalf("fetch at the low watermark: %v, %d records", kerr.ErrorForCode(p.ErrorCode), len(recs))
	}
	if p := deleteRecords(t, b, 2, "dr", 0, -1); p.ErrorCode != 0 || p.LowWatermark != 40 {
		t.Fatalf("delete up to the high watermark: %v, low %d", kerr.ErrorForCode(p.ErrorCode), p.LowWatermark)
	}
	if off := mustProduce(t, c, "dr", 0, "after"); off != 40 {
		t.Fatalf("produce after deleting everything: offset %d", off)
	}
	if p := deleteRecords(t, b, 2, "nope", 0, 1); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %v", kerr.ErrorForCode(p.ErrorCode))
	}
}

// TestListOffsets: earliest, latest, max timestamp and by time at every
// version; v0 answers old-style offsets.
func TestListOffsets(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "lo", 1, nil)
	c := b.raw(t)
	base := time.Now().Add(-time.Hour).UnixMilli()
	for i := range int64(5) {
		batch := harness.BuildBatch(harness.Batch{ProducerID: harness.NoProducer, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: base + i*100,
			Records: []harness.Record{{Value: []byte("a")}, {Value: []byte("b"), TimestampDelta: 50}}})
		resp, err := c.Do(harness.ProduceRequest(9, -1, "lo", 0, batch))
		if err != nil || resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("produce: %v", err)
		}
	}
	// offsets: batch i holds 2i (at base+100i) and 2i+1 (at base+100i+50)
	for v := int16(0); v <= 7; v++ {
		cases := []struct {
			ts, off int64
		}{{-1, 10}, {-2, 0}, {base, 0}, {base + 120, 3}, {base + 150, 3}, {base + 151, 4}, {base + 10_000, -1}}
		if v >= 7 {
			cases = append(cases, struct{ ts, off int64 }{-3, 9})
		}
		for _, cs := range cases {
			p := listOffset(t, c, v, "lo", 0, cs.ts)
			if p.ErrorCode != 0 {
				t.Fatalf("v%d ts %d: %v", v, cs.ts, kerr.ErrorForCode(p.ErrorCode))
			}
			got := p.Offset
			if v == 0 {
				got = -1
				if len(p.OldStyleOffsets) > 0 {
					got = p.OldStyleOffsets[0]
				}
			}
			if got != cs.off {
				t.Errorf("v%d ts %d: offset %d, want %d", v, cs.ts, got, cs.off)
			}
		}
	}
	if p := listOffset(t, c, 7, "missing", 0, -1); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown topic: %v", kerr.ErrorForCode(p.ErrorCode))
	}
}

// TestOffsetForLeaderEpoch: the end offset of the current epoch is the log
// end; an epoch newer than the leader's is UNDEFINED or refused; a stale
// current_leader_epoch is FENCED_LEADER_EPOCH and a future one
// UNKNOWN_LEADER_EPOCH.
func TestOffsetForLeaderEpoch(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "ofle", 1, nil)
	c := b.raw(t)
	mustProduce(t, c, "ofle", 0, "a", "b", "c")
	ask := func(version int16, epoch, current int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.SetVersion(version)
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "ofle"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.CurrentLeaderEpoch = 0, epoch, current
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return do[*kmsg.OffsetForLeaderEpochResponse](t, b, req).Topics[0].Partitions[0]
	}
	for v := int16(0); v <= 4; v++ {
		p := ask(v, 0, -1)
		if p.ErrorCode != 0 || p.EndOffset != 3 || (v >= 1 && p.LeaderEpoch != 0) {
			t.Errorf("v%d epoch 0: %v, epoch %d end %d; want 0 and 3", v, kerr.ErrorForCode(p.ErrorCode), p.LeaderEpoch, p.EndOffset)
		}
	}
	if p := ask(4, 0, 0); p.ErrorCode != 0 || p.EndOffset != 3 {
		t.Errorf("current epoch 0: %v end %d", kerr.ErrorForCode(p.ErrorCode), p.EndOffset)
	}
	if p := ask(4, 7, -1); p.ErrorCode != 0 || p.LeaderEpoch != -1 || p.EndOffset != -1 {
		t.Errorf("epoch 7 (newer than any): %v, epoch %d end %d; want UNDEFINED (-1, -1)", kerr.ErrorForCode(p.ErrorCode), p.LeaderEpoch, p.EndOffset)
	}
	if p := ask(4, 0, 5); p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Errorf("current epoch 5 (future): %v, want UNKNOWN_LEADER_EPOCH", kerr.ErrorForCode(p.ErrorCode))
	}
}

// TestFencedFetchEpoch: a fetch naming a leader epoch other than the
// partition's is refused (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH).
func TestFencedFetchEpoch(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "fenced", 1, nil)
	c := b.raw(t)
	mustProduce(t, c, "fenced", 0, "x")
	req := fetchReq("fenced", 0, 0, 0, 1)
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = 3
	if p, _ := fetch(t, c, req); p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Errorf("fetch with a future epoch: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = 0
	if p, recs := fetch(t, c, req); p.ErrorCode != 0 || len(recs) != 1 {
		t.Errorf("fetch with the current epoch: %v, %d records", kerr.ErrorForCode(p.ErrorCode), len(recs))
	}
}

// TestInitProducerID: fresh ids at every version; a transactional id is
// refused (no transaction coordinator).
func TestInitProducerID(t *testing.T) {
	b := startBroker(t)
	seen := map[int64]bool{}
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.SetVersion(v)
		req.TransactionTimeoutMillis = 60000
		if v >= 3 {
			req.ProducerID, req.ProducerEpoch = -1, -1
		}
		resp := do[*kmsg.InitProducerIDResponse](t, b, req)
		if resp.ErrorCode != 0 || resp.ProducerID < 0 || resp.ProducerEpoch != 0 || seen[resp.ProducerID] {
			t.Fatalf("v%d: %v id %d epoch %d (seen: %v)", v, kerr.ErrorForCode(resp.ErrorCode), resp.ProducerID, resp.ProducerEpoch, seen)
		}
		seen[resp.ProducerID] = true
	}
	req := kmsg.NewPtrInitProducerIDRequest()
	req.SetVersion(4)
	req.TransactionalID = kmsg.StringPtr("tx")
	if resp := do[*kmsg.InitProducerIDResponse](t, b, req); resp.ErrorCode == 0 {
		t.Fatalf("transactional InitProducerId accepted: id %d", resp.ProducerID)
	}
}

// TestDescribeCluster: this broker, the cluster id, the controller.
func TestDescribeCluster(t *testing.T) {
	b := startBroker(t)
	for v := int16(0); v <= 1; v++ {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.SetVersion(v)
		req.EndpointType = 1
		resp := do[*kmsg.DescribeClusterResponse](t, b, req)
		if resp.ErrorCode != 0 || resp.ClusterID == "" || resp.ControllerID != 1 || len(resp.Brokers) != 1 ||
			resp.Brokers[0].NodeID != 1 || resp.Brokers[0].Port != int32(b.Addr().Port) {
			t.Fatalf("v%d: %+v", v, resp)
		}
	}
	req := kmsg.NewPtrDescribeClusterRequest()
	req.SetVersion(1)
	req.EndpointType = 2
	if resp := do[*kmsg.DescribeClusterResponse](t, b, req); resp.ErrorCode != kerr.UnsupportedEndpointType.Code {
		t.Fatalf("controller endpoints: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.SetVersion(12)
	md := do[*kmsg.MetadataResponse](t, b, mreq)
	if md.ClusterID == nil || *md.ClusterID != do[*kmsg.DescribeClusterResponse](t, b, kmsg.NewPtrDescribeClusterRequest()).ClusterID {
		t.Fatal("Metadata and DescribeCluster disagree on the cluster id")
	}
}
