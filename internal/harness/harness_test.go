package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestEventually(t *testing.T) {
	n := 0
	Eventually(t, 5*time.Second, func() error {
		n++
		if n < 3 {
			return fmt.Errorf("attempt %d", n)
		}
		return nil
	})
	if n != 3 {
		t.Fatalf("cond ran %d times, want 3", n)
	}
	err := WaitFor(30*time.Millisecond, func() error { return errors.New("never") })
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("WaitFor = %v, want ErrTimeout", err)
	}
}

func TestBuildBatchRoundTrip(t *testing.T) {
	b := BuildBatch(Batch{ProducerID: 7, ProducerEpoch: 1, BaseSequence: 5, FirstTimestamp: 1000, Records: []Record{
		{Key: []byte("k1"), Value: []byte("v1")},
		{Key: nil, Value: []byte("v2"), TimestampDelta: 3, Headers: []kmsg.Header{{Key: "h", Value: []byte("x")}}},
	}})
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	if int(rb.Length) != len(b)-12 || rb.NumRecords != 2 || rb.LastOffsetDelta != 1 || rb.MaxTimestamp != 1003 ||
		rb.ProducerID != 7 || rb.FirstSequence != 5 || rb.Magic != 2 {
		t.Fatalf("batch header %+v", rb)
	}
	// kgo's own parser validates the CRC and decodes the records.
	fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: "t", Partition: 0}, &kmsg.FetchResponseTopicPartition{RecordBatches: b, HighWatermark: 2}, kgo.DefaultDecompressor(), nil)
	if fp.Err != nil || len(fp.Records) != 2 {
		t.Fatalf("kgo parse: err %v, %d records", fp.Err, len(fp.Records))
	}
	if string(fp.Records[0].Key) != "k1" || fp.Records[1].Key != nil || string(fp.Records[1].Headers[0].Value) != "x" {
		t.Fatalf("records %+v %+v", fp.Records[0], fp.Records[1])
	}
	b[len(b)-1] ^= 1
	fp, _ = kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: "t", Partition: 0}, &kmsg.FetchResponseTopicPartition{RecordBatches: b, HighWatermark: 2}, kgo.DefaultDecompressor(), nil)
	if fp.Err == nil {
		t.Fatal("kgo accepted a batch with a bad CRC")
	}
}

// TestBrokerLifecycle drives one embedded broker through every control the
// harness offers: produce, pause/resume, kill -9, restart on the same port
// and data dir, SIGTERM with exit code 0.
func TestBrokerLifecycle(t *testing.T) {
	b := StartBroker(t, BrokerOptions{ID: 3, Overrides: map[string]string{"num.partitions": "2"}})
	if b.ID() != 3 || !b.Running() || b.PID() == 0 {
		t.Fatalf("broker id %d running %v pid %d", b.ID(), b.Running(), b.PID())
	}
	addr := b.Addr()
	cl := b.Client(t, kgo.DefaultProduceTopic("life"), kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produce := func(v string) {
		t.Helper()
		if err := cl.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
	produce("one")

	// A paused broker answers nothing; after Resume it serves again.
	b.Pause()
	raw, err := DialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	raw.Timeout = 300 * time.Millisecond
	if _, err := raw.Do(kmsg.NewPtrApiVersionsRequest()); err == nil {
		t.Fatal("a paused broker answered ApiVersions")
	}
	raw.Close()
	b.Resume()
	produce("two")

	b.Kill()
	if b.Running() {
		t.Fatal("running after Kill")
	}
	b.Restart()
	if b.Addr() != addr {
		t.Fatalf("restarted on %s, was %s", b.Addr(), addr)
	}
	produce("three")
	b.Stop()
	b.Restart()

	// Everything acknowledged before the kill and the stop is there.
	got := map[string]bool{}
	cons := b.Client(t, kgo.ConsumeTopics("life"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	Eventually(t, 30*time.Second, func() error {
		fctx, fcancel := context.WithTimeout(ctx, time.Second)
		defer fcancel()
		fs := cons.PollFetches(fctx)
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
		if len(got) < 3 {
			return fmt.Errorf("have %v", got)
		}
		return nil
	})
	if !got["one"] || !got["two"] || !got["three"] || len(got) != 3 {
		t.Fatalf("records after restarts: %v", got)
	}
	if entries, err := os.ReadDir(b.DataDir()); err != nil || len(entries) == 0 {
		t.Fatalf("data dir %s: %v, %d entries", b.DataDir(), err, len(entries))
	}
	if _, err := os.Stat(filepath.Clean(b.LogPath())); err != nil {
		t.Fatal(err)
	}
	b.Stop()
}

// TestRawConnBadFrame checks the raw connection's view of a broker that
// closes on a bad frame, and that Pipeline answers in order.
func TestRawConnBadFrame(t *testing.T) {
	b := StartBroker(t, BrokerOptions{})
	c, err := DialRaw(b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reqs := []kmsg.Request{kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrMetadataRequest(), kmsg.NewPtrApiVersionsRequest()}
	for _, r := range reqs {
		r.SetVersion(1)
	}
	resps, err := c.Pipeline(reqs...)
	if err != nil || len(resps) != 3 {
		t.Fatalf("pipeline: %v (%d responses)", err, len(resps))
	}
	if err := c.WriteRaw([]byte{0x7f, 0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	if err := c.ExpectClosed(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestRestartWaitsForBusyPort: when something else holds the broker's
// port at restart, RestartErr retries until the port is free again.
func TestRestartWaitsForBusyPort(t *testing.T) {
	b := StartBroker(t, BrokerOptions{})
	b.Kill()
	l, err := net.Listen("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.RestartErr() }()
	Eventually(t, 20*time.Second, func() error {
		if !strings.Contains(strings.ToLower(b.Log()), "address already in use") {
			return errors.New("no failed start yet")
		}
		return nil
	})
	l.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !b.Running() {
		t.Fatal("not running after RestartErr")
	}
}
