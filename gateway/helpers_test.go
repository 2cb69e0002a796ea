package gateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/broker"
	"github.com/troupe-mq/troupe/internal/config"
	"github.com/troupe-mq/troupe/internal/harness"
)

// testBroker is an in-process broker with its data directory.
type testBroker struct {
	*broker.Broker
	dataDir string
	addr    string
}

// startBroker starts an in-process embedded broker with the given broker
// settings (Kafka names), shut down at cleanup.
func startBroker(t *testing.T, settings ...string) *testBroker {
	t.Helper()
	bcfg, err := config.LoadBroker("", settings)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b, err := broker.Start(broker.Config{ID: 1, Listen: "127.0.0.1:0", DataDir: dir, Broker: bcfg,
		TickEvery: 20 * time.Millisecond,
		Log:       zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	// Start returns once the listener is up; the controller publishes the
	// broker in its metadata a moment later, as a Kafka broker's metadata
	// cache fills after it starts listening.
	harness.Eventually(t, 10*time.Second, func() error {
		if md := b.Replicas().Metadata(); md.ControllerID != 1 || len(md.Brokers) != 1 {
			return fmt.Errorf("metadata: controller %d, %d brokers", md.ControllerID, len(md.Brokers))
		}
		return nil
	})
	return &testBroker{Broker: b, dataDir: dir, addr: b.Addr().String()}
}

func (b *testBroker) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return harness.NewClient(t, []string{b.addr}, opts...)
}

func (b *testBroker) admin(t *testing.T) *kadm.Client {
	t.Helper()
	return harness.NewAdmin(t, []string{b.addr})
}

// raw opens a raw wire connection, closed at cleanup.
func (b *testBroker) raw(t *testing.T) *harness.RawConn {
	t.Helper()
	c, err := harness.DialRaw(b.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// createTopic creates a topic with kadm and fails the test on an error.
func createTopic(t *testing.T, b *testBroker, name string, partitions int32, configs map[string]*string) kadm.CreateTopicResponse {
	t.Helper()
	resp, err := b.admin(t).CreateTopic(ctxFor(t, 20*time.Second), partitions, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	return resp
}

// do sends req over a fresh raw connection at the version set on it and
// returns the response.
func do[R kmsg.Response](t *testing.T, b *testBroker, req kmsg.Request) R {
	t.Helper()
	resp, err := b.raw(t).Do(req)
	if err != nil {
		t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp.(R)
}

// produce writes values to topic-partition with acks=all over raw and
// returns the base offset.
func produce(t *testing.T, c *harness.RawConn, topic string, partition int32, values ...string) (int64, error) {
	t.Helper()
	var rs []harness.Record
	for _, v := range values {
		rs = append(rs, harness.Record{Value: []byte(v)})
	}
	batch := harness.BuildBatch(harness.Batch{ProducerID: harness.NoProducer, ProducerEpoch: -1, BaseSequence: -1, Records: rs})
	resp, err := c.Do(harness.ProduceRequest(9, -1, topic, partition, batch))
	if err != nil {
		t.Fatal(err)
	}
	p := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	return p.BaseOffset, kerr.ErrorForCode(p.ErrorCode)
}

// mustProduce is produce failing the test on an error.
func mustProduce(t *testing.T, c *harness.RawConn, topic string, partition int32, values ...string) int64 {
	t.Helper()
	off, err := produce(t, c, topic, partition, values...)
	if err != nil {
		t.Fatalf("produce to %s-%d: %v", topic, partition, err)
	}
	return off
}

// fetchReq builds a Fetch v12 request for one partition.
func fetchReq(topic string, partition int32, offset int64, maxWait, minBytes int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = -1, maxWait, minBytes, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = partition, offset, 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// fetch fetches one partition and returns its answer and decoded records.
func fetch(t *testing.T, c *harness.RawConn, req *kmsg.FetchRequest) (kmsg.FetchResponseTopicPartition, []*kgo.Record) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	fr := resp.(*kmsg.FetchResponse)
	if fr.ErrorCode != 0 {
		t.Fatalf("fetch: %v", kerr.ErrorForCode(fr.ErrorCode))
	}
	p := fr.Topics[0].Partitions[0]
	fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: req.Topics[0].Topic, Partition: p.Partition,
		Offset: req.Topics[0].Partitions[0].FetchOffset}, &p, kgo.DefaultDecompressor(), nil)
	if p.ErrorCode == 0 && fp.Err != nil {
		t.Fatalf("fetch: decoding records: %v", fp.Err)
	}
	return p, fp.Records
}

// listOffset asks for one partition's offset at ts (-1, -2, -3 or a time).
func listOffset(t *testing.T, c *harness.RawConn, version int16, topic string, partition int32, ts int64) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(version)
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.MaxNumOffsets = partition, ts, 1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	return resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// eventually is harness.Eventually.
func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	harness.Eventually(t, timeout, cond)
}
