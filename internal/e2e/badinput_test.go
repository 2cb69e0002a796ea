package e2e

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/troupe-mq/troupe/internal/harness"
)

// badInputMaxFrame is the socket.request.max.bytes the bad-input broker runs with.
const badInputMaxFrame = 64 << 10

var roundTrips atomic.Int64

// rawRoundTrip produces one fresh record on c (acks=all) and fetches it
// back at the offset the broker acknowledged.
func rawRoundTrip(t *testing.T, c *harness.RawConn, topic string) {
	t.Helper()
	v := []byte(fmt.Sprintf("round-trip-%d", roundTrips.Add(1)))
	batch := harness.BuildBatch(harness.Batch{ProducerID: harness.NoProducer, ProducerEpoch: -1, BaseSequence: -1,
		Records: []harness.Record{{Key: []byte("k"), Value: v}}})
	resp, err := c.Do(harness.ProduceRequest(9, -1, topic, 0, batch))
	if err != nil {
		t.Fatalf("round trip: produce: %v", err)
	}
	pp := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(pp.ErrorCode); err != nil {
		t.Fatalf("round trip: produce: %v", err)
	}
	recs := rawFetch(t, c, topic, 0, pp.BaseOffset)
	if len(recs) == 0 || string(recs[0].Value) != string(v) || recs[0].Offset != pp.BaseOffset {
		t.Fatalf("round trip: fetched %d records at %d, want %q first", len(recs), pp.BaseOffset, v)
	}
}

// rawFetch fetches topic-partition from offset (Fetch v12) and decodes the
// records with franz-go's parser, which checks every CRC.
func rawFetch(t *testing.T, c *harness.RawConn, topic string, partition int32, offset int64) []*kgo.Record {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = -1, 0, 1, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = partition, offset, 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	fr := resp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(fr.ErrorCode); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	p := fr.Topics[0].Partitions[0]
	fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: topic, Partition: partition, KeepControlRecords: true, Offset: offset},
		&p, kgo.DefaultDecompressor(), nil)
	if fp.Err != nil {
		t.Fatalf("fetch %s-%d@%d: %v", topic, partition, offset, fp.Err)
	}
	return fp.Records
}

// logEnd is the partition's log end offset (ListOffsets latest; on one
// broker the high watermark is the log end).
func logEnd(t *testing.T, c *harness.RawConn, topic string, partition int32) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(7)
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = partition, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	p := resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	return p.Offset
}

func dial(t *testing.T, addr string) *harness.RawConn {
	t.Helper()
	c, err := harness.DialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// header encodes a request header (v1: key, version, correlation id,
// client id) followed by body, with the frame size prefix.
func header(key, version int16, body ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, 7)
	b = binary.BigEndian.AppendUint16(b, 3)
	b = append(b, "bad"...)
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// TestBadInputClosesConnection: frames the broker cannot serve close the
// connection that sent them, and only that one: a fresh connection (and
// one opened before, left idle) still round-trip.
func TestBadInputClosesConnection(t *testing.T) {
	b := harness.StartBroker(t, harness.BrokerOptions{Overrides: map[string]string{
		"socket.request.max.bytes": fmt.Sprint(badInputMaxFrame)}})
	createTopic(t, b.Admin(t), "bad", 1, nil)
	bystander := dial(t, b.Addr()) // an innocent connection open throughout
	rawRoundTrip(t, bystander, "bad")

	truncatedProduce := func() []byte {
		f := harness.Frame(harness.ProduceRequest(9, -1, "bad", 0, harness.BuildBatch(harness.Batch{
			ProducerID: harness.NoProducer, ProducerEpoch: -1, BaseSequence: -1, Records: []harness.Record{{Value: []byte("x")}}})), 1)
		f = f[:len(f)-20]
		binary.BigEndian.PutUint32(f, uint32(len(f)-4))
		return f
	}
	cases := []struct {
		name  string
		frame []byte
	}{
		{"frame over socket.request.max.bytes", binary.BigEndian.AppendUint32(nil, badInputMaxFrame+1)},
		{"frame of 2 GiB", binary.BigEndian.AppendUint32(nil, math.MaxInt32)},
		{"negative frame size", binary.BigEndian.AppendUint32(nil, 0xffffffff)},
		{"frame shorter than a request header", []byte{0, 0, 0, 3, 0, 18, 0}},
		{"unknown api key", header(999, 0)},
		{"api key Kafka has but Troupe does not serve (Heartbeat)", header(12, 0, make([]byte, 20)...)},
		{"negative api key", header(-1, 0)},
		{"produce above the supported versions", header(0, 99)},
		{"produce below version 3 (message sets)", header(0, 2, make([]byte, 16)...)},
		{"client id longer than the frame", []byte{0, 0, 0, 12, 0, 18, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 'a', 'b'}},
		{"metadata with an array count past the frame", header(3, 1, 0x00, 0x0f, 0x42, 0x40)},
		{"create topics with a garbage body", header(19, 4, 0xff, 0xff, 0xff, 0x00, 0x01)},
		{"produce v9 cut short", truncatedProduce()},
		{"flexible request missing its header tags", func() []byte {
			f := harness.Frame(func() kmsg.Request { r := kmsg.NewPtrMetadataRequest(); r.SetVersion(9); return r }(), 1)
			// Drop the tag byte that follows the client id.
			i := 4 + 2 + 2 + 4 + 2 + len(harness.RawClientID)
			f = append(f[:i:i], f[i+1:]...)
			binary.BigEndian.PutUint32(f, uint32(len(f)-4))
			return f
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := dial(t, b.Addr())
			rawRoundTrip(t, conn, "bad") // the connection works before the bad frame
			if err := conn.WriteRaw(c.frame); err != nil {
				t.Fatal(err)
			}
			// Frames that announce more bytes than they carry: the broker
			// closes at once (size check) or waits for the rest; send filler
			// (not enough to complete a valid frame) then half-close.
			if err := conn.ExpectClosed(2 * time.Second); err != nil {
				t.Fatalf("after %x: %v", c.frame[:min(len(c.frame), 24)], err)
			}
			rawRoundTrip(t, dial(t, b.Addr()), "bad")
			rawRoundTrip(t, bystander, "bad")
		})
	}

	// A half-sent frame holds up nobody else.
	t.Run("half-sent frame", func(t *testing.T) {
		slow := dial(t, b.Addr())
		if err := slow.WriteRaw(append(binary.BigEndian.AppendUint32(nil, badInputMaxFrame-100), 0, 3, 0, 1)); err != nil {
			t.Fatal(err)
		}
		rawRoundTrip(t, dial(t, b.Addr()), "bad")
		rawRoundTrip(t, bystander, "bad")
	})

	// A real client still works after all of it.
	cl := b.Client(t)
	ctx := testCtx(t, 30*time.Second)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "bad", Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestBadInputAnswered: bad input the protocol has an answer for gets it,
// nothing is appended, and the same connection (and a new one) keeps
// working.
func TestBadInputAnswered(t *testing.T) {
	b := harness.StartBroker(t, harness.BrokerOptions{})
	adm := b.Admin(t)
	createTopic(t, adm, "bad", 1, nil)
	createTopic(t, adm, "small", 1, map[string]*string{"max.message.bytes": kmsg.StringPtr("1024")})
	conn := dial(t, b.Addr())

	t.Run("ApiVersions above our range", func(t *testing.T) {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(3)
		frame := conn.Frame(req, 77)
		binary.BigEndian.PutUint16(frame[6:], 99) // version 99 (header v2 + a v3 body: unreadable at v99)
		if err := conn.WriteRaw(frame); err != nil {
			t.Fatal(err)
		}
		body, err := conn.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		// v0 format: correlation id, error code, [api key, min, max]; no
		// tag byte after the correlation id, no throttle time.
		if len(body) < 10 || binary.BigEndian.Uint32(body) != 77 {
			t.Fatalf("response %x", body)
		}
		if code := int16(binary.BigEndian.Uint16(body[4:])); code != kerr.UnsupportedVersion.Code {
			t.Fatalf("error code %d (response %x), want UNSUPPORTED_VERSION 35 right after the correlation id", code, body[:min(len(body), 16)])
		}
		n := int(binary.BigEndian.Uint32(body[6:]))
		if len(body) != 10+6*n {
			t.Fatalf("%d api keys need %d bytes, response has %d: not the v0 format", n, 10+6*n, len(body))
		}
		v0 := kmsg.NewPtrApiVersionsRequest()
		resp, err := harness.ParseResponse(v0, 77, body)
		if err != nil {
			t.Fatal(err)
		}
		checkAtLeastKafka28(t, resp.(*kmsg.ApiVersionsResponse))
		// The client retries at a version we speak, on the same connection.
		req.SetVersion(3)
		resp, err = conn.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if code := resp.(*kmsg.ApiVersionsResponse).ErrorCode; code != 0 {
			t.Fatalf("ApiVersions v3: error %d", code)
		}
		rawRoundTrip(t, conn, "bad")
		rawRoundTrip(t, dial(t, b.Addr()), "bad")
	})

	batch := func(recs int, valueSize int) []byte {
		var rs []harness.Record
		for i := range recs {
			rs = append(rs, harness.Record{Value: []byte(strings.Repeat(string(rune('a'+i%26)), valueSize))})
		}
		return harness.BuildBatch(harness.Batch{ProducerID: harness.NoProducer, ProducerEpoch: -1, BaseSequence: -1, Records: rs})
	}
	badCRC := batch(3, 10)
	badCRC[len(badCRC)-2] ^= 0x40 // a flipped bit in the last record
	magic := func(m int8) []byte {
		b := batch(2, 10)
		b[16] = byte(m)
		harness.FixCRC(b)
		return b
	}
	lengthPastEnd := batch(2, 10)
	binary.BigEndian.PutUint32(lengthPastEnd[8:], uint32(len(lengthPastEnd)+100))
	notABatch := []byte(strings.Repeat("garbage!", 10))

	cases := []struct {
		name    string
		topic   string
		acks    int16
		records []byte
		want    *kerr.Error
		wantAny bool // any error will do (Kafka itself varies)
	}{
		{"bad CRC", "bad", -1, badCRC, kerr.CorruptMessage, false},
		{"bad CRC, acks=1", "bad", 1, badCRC, kerr.CorruptMessage, false},
		{"batch over max.message.bytes", "small", -1, batch(4, 400), kerr.MessageTooLarge, false},
		{"acks=2", "bad", 2, batch(1, 10), kerr.InvalidRequiredAcks, false},
		{"acks=-2", "bad", -2, batch(1, 10), kerr.InvalidRequiredAcks, false},
		{"magic 1", "bad", -1, magic(1), nil, true},
		{"magic 0", "bad", -1, magic(0), nil, true},
		{"magic 3", "bad", -1, magic(3), nil, true},
		{"batch length past the records", "bad", -1, lengthPastEnd, kerr.CorruptMessage, false},
		{"bytes that are no batch", "bad", -1, notABatch, nil, true},
		{"valid batch followed by garbage", "bad", -1, append(batch(1, 10), 1, 2, 3), nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := logEnd(t, conn, c.topic, 0)
			resp, err := conn.Do(harness.ProduceRequest(9, c.acks, c.topic, 0, c.records))
			if err != nil {
				t.Fatal(err)
			}
			p := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
			got := kerr.ErrorForCode(p.ErrorCode)
			switch {
			case c.wantAny && got == nil:
				t.Fatalf("accepted at offset %d", p.BaseOffset)
			case !c.wantAny && got != c.want:
				t.Fatalf("error %v, want %v", got, c.want)
			}
			t.Logf("answered %v", got)
			if after := logEnd(t, conn, c.topic, 0); after != before {
				t.Fatalf("log end moved from %d to %d: something was appended", before, after)
			}
			rawRoundTrip(t, conn, "bad")
			rawRoundTrip(t, dial(t, b.Addr()), "bad")
		})
	}

	t.Run("idempotent producer", func(t *testing.T) {
		init := kmsg.NewPtrInitProducerIDRequest()
		init.SetVersion(4)
		resp, err := conn.Do(init)
		if err != nil {
			t.Fatal(err)
		}
		ip := resp.(*kmsg.InitProducerIDResponse)
		if err := kerr.ErrorForCode(ip.ErrorCode); err != nil || ip.ProducerID < 0 {
			t.Fatalf("InitProducerId: %v, id %d", err, ip.ProducerID)
		}
		idem := func(seq int32, n int) []byte {
			var rs []harness.Record
			for i := range n {
				rs = append(rs, harness.Record{Value: []byte(fmt.Sprintf("seq-%d", int(seq)+i))})
			}
			return harness.BuildBatch(harness.Batch{ProducerID: ip.ProducerID, ProducerEpoch: ip.ProducerEpoch, BaseSequence: seq, Records: rs})
		}
		produce := func(records []byte) kmsg.ProduceResponseTopicPartition {
			t.Helper()
			resp, err := conn.Do(harness.ProduceRequest(9, -1, "bad", 0, records))
			if err != nil {
				t.Fatal(err)
			}
			return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		}
		first := produce(idem(0, 5))
		if err := kerr.ErrorForCode(first.ErrorCode); err != nil {
			t.Fatalf("sequence 0: %v", err)
		}
		second := produce(idem(5, 3))
		if err := kerr.ErrorForCode(second.ErrorCode); err != nil || second.BaseOffset != first.BaseOffset+5 {
			t.Fatalf("sequence 5: %v at %d", err, second.BaseOffset)
		}
		end := logEnd(t, conn, "bad", 0)

		// A retry of either batch is answered with its original offset
		// and not appended again.
		for _, retry := range []struct {
			seq  int32
			n    int
			base int64
		}{{0, 5, first.BaseOffset}, {5, 3, second.BaseOffset}} {
			dup := produce(idem(retry.seq, retry.n))
			if err := kerr.ErrorForCode(dup.ErrorCode); err != nil || dup.BaseOffset != retry.base {
				t.Fatalf("retry of sequence %d: %v at offset %d, want offset %d", retry.seq, err, dup.BaseOffset, retry.base)
			}
		}
		// A retry damaged in transit is CORRUPT_MESSAGE, not a duplicate.
		damaged := idem(5, 3)
		damaged[len(damaged)-1] ^= 0x20
		if got := kerr.ErrorForCode(produce(damaged).ErrorCode); got != kerr.CorruptMessage {
			t.Fatalf("damaged retry of sequence 5: %v, want CORRUPT_MESSAGE", got)
		}
		// A gap in the sequence is refused.
		gap := produce(idem(10, 1))
		if got := kerr.ErrorForCode(gap.ErrorCode); got != kerr.OutOfOrderSequenceNumber {
			t.Fatalf("sequence 10 after 7: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", got)
		}
		if after := logEnd(t, conn, "bad", 0); after != end {
			t.Fatalf("log end moved from %d to %d after a retry and a gap", end, after)
		}
		// The next sequence still goes in.
		next := produce(idem(8, 1))
		if err := kerr.ErrorForCode(next.ErrorCode); err != nil || next.BaseOffset != end {
			t.Fatalf("sequence 8: %v at %d, want %d", err, next.BaseOffset, end)
		}
		recs := rawFetch(t, conn, "bad", 0, first.BaseOffset)
		var vals []string
		for _, r := range recs {
			vals = append(vals, string(r.Value))
		}
		want := "seq-0 seq-1 seq-2 seq-3 seq-4 seq-5 seq-6 seq-7 seq-8"
		if got := strings.Join(vals, " "); got != want {
			t.Fatalf("log holds %q, want %q", got, want)
		}
		rawRoundTrip(t, conn, "bad")
		rawRoundTrip(t, dial(t, b.Addr()), "bad")
	})
}

// checkAtLeastKafka28 checks that every API Kafka 2.8 serves that Troupe
// implements is offered over at least Kafka 2.8's version range.
func checkAtLeastKafka28(t *testing.T, resp *kmsg.ApiVersionsResponse) {
	t.Helper()
	ours := map[int16]kmsg.ApiVersionsResponseApiKey{}
	for _, k := range resp.ApiKeys {
		ours[k.ApiKey] = k
	}
	v28 := kversion.V2_8_0()
	for _, key := range []int16{0, 1, 2, 3, 18, 19, 20, 21, 22, 23, 32, 33, 37, 44, 60} {
		k, ok := ours[key]
		if !ok {
			t.Errorf("%s (key %d) not offered", kmsg.NameForKey(key), key)
			continue
		}
		max28, ok := v28.LookupMaxKeyVersion(key)
		if !ok {
			continue // not in Kafka 2.8 (DescribeCluster is 2.8's too, but be lenient)
		}
		min28 := int16(0)
		if key == 0 {
			min28 = 3 // issue 3: Produce from v3 (record batch v2 only)
		}
		if key == 1 {
			min28 = 4 // issue 3: Fetch from v4
		}
		if k.MinVersion > min28 || k.MaxVersion < max28 {
			t.Errorf("%s: we offer [%d, %d], Kafka 2.8 has up to %d", kmsg.NameForKey(key), k.MinVersion, k.MaxVersion, max28)
		}
	}
}

// TestHalfSentFramesDoNotStarve: connections that announce the largest
// frame allowed and then stall (slowloris) must not take the broker-wide
// request budget (queued.max.request.bytes) from everyone else: budget is
// reserved as a frame's bytes arrive, not when its size is announced.
func TestHalfSentFramesDoNotStarve(t *testing.T) {
	const budget = 1 << 20 // the smallest queued.max.request.bytes; frames up to ~512 KiB
	b := harness.StartBroker(t, harness.BrokerOptions{Overrides: map[string]string{"queued.max.request.bytes": fmt.Sprint(budget)}})
	createTopic(t, b.Admin(t), "slow", 1, nil)
	bystander := dial(t, b.Addr())
	rawRoundTrip(t, bystander, "slow")
	maxFrame := (budget - 1024) / 2
	for range 4 {
		slow := dial(t, b.Addr())
		if err := slow.WriteRaw(append(binary.BigEndian.AppendUint32(nil, uint32(maxFrame)), 0, 0, 0, 9)); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		rawRoundTrip(t, dial(t, b.Addr()), "slow")
		rawRoundTrip(t, bystander, "slow")
	}
	// A real client with a large record still gets through.
	cl := b.Client(t)
	big := make([]byte, 200<<10)
	if err := cl.ProduceSync(testCtx(t, 30*time.Second), &kgo.Record{Topic: "slow", Value: big}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
