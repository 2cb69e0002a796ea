package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func TestBenchProduceThenConsume(t *testing.T) {
	opts := newCluster(t, 1)
	ctx := testCtx(t)
	var out, progress syncBuffer
	res, err := BenchProduce(ctx, opts, BenchProduceConfig{
		Topic: "bench", Records: 3000, RecordSize: 100, Acks: "all", Partitions: 6, ReplicationFactor: -1,
		Linger: time.Millisecond, JSON: true, BrokerPID: os.Getpid(), // kfake runs in this process
		ProgressInterval: 10 * time.Millisecond,
	}, &out, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 3000 || res.Failed != 0 || res.Bytes != 300000 || res.Partitions != 6 || !res.Idempotent || res.Acks != "all" {
		t.Fatalf("produce summary %+v", res)
	}
	if res.LatencySamples != 3000 || res.P50Ms <= 0 || res.P50Ms > res.P99Ms || res.P99Ms > res.P999Ms || res.Seconds <= 0 || res.RecordsPerSec <= 0 {
		t.Fatalf("produce latency/rate %+v", res)
	}
	if res.BrokerCPUMicrosPerRecord == nil {
		t.Fatal("broker cpu not reported with a pid")
	}
	var parsed BenchResult
	if err := json.Unmarshal([]byte(out.String()), &parsed); err != nil || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("--json printed %q: %v", out.String(), err)
	}
	if parsed.Records != 3000 || parsed.Mode != "produce" || parsed.Latency != LatencyProduce {
		t.Fatalf("parsed %+v", parsed)
	}

	// The topic was created with six partitions and holds every record.
	n := 0
	if _, err := Consume(ctx, opts, ConsumeConfig{Topic: "bench", Partition: -1, Format: `%v`}, countWriter(&n)); err != nil {
		t.Fatal(err)
	}
	if n != 300000 {
		t.Fatalf("topic holds %d value bytes, want 300000", n)
	}

	var text bytes.Buffer
	cres, err := BenchConsume(ctx, opts, BenchConsumeConfig{Topic: "bench"}, &text, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cres.Records != 3000 || cres.Bytes != 300000 || cres.Partitions != 6 || cres.LatencySamples == 0 || cres.Latency != LatencyConsume {
		t.Fatalf("consume summary %+v", cres)
	}
	for _, want := range []string{"bench consume: topic bench, 6 partitions", "records 3000 (failed 0)", "latency p50 ", "p99.9 ", "cpu: client "} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text summary lacks %q:\n%s", want, text.String())
		}
	}

	// A partial read stops at the count; asking for more than exists waits
	// for the timeout and says so.
	if cres, err = BenchConsume(ctx, opts, BenchConsumeConfig{Topic: "bench", Records: 1000}, io.Discard, io.Discard); err != nil || cres.Records != 1000 {
		t.Fatalf("bench consume 1000: %+v %v", cres, err)
	}
	short := opts
	short.Timeout = 500 * time.Millisecond
	if cres, err = BenchConsume(ctx, short, BenchConsumeConfig{Topic: "bench", Records: 3001}, io.Discard, io.Discard); !errors.Is(err, ErrNoProgress) || cres.Records != 3000 {
		t.Fatalf("bench consume past the end: %+v %v", cres, err)
	}

	// Running produce again reuses the topic and notes a partition mismatch.
	var notes syncBuffer
	if _, err := BenchProduce(ctx, opts, BenchProduceConfig{Topic: "bench", Records: 10, RecordSize: 1, Partitions: 3}, io.Discard, &notes); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notes.String(), "exists with 6 partitions") {
		t.Fatalf("no mismatch note: %q", notes.String())
	}
	if _, err := BenchProduce(ctx, opts, BenchProduceConfig{Topic: "bench", Records: 10, Acks: "1", Idempotent: ptr(true)}, io.Discard, io.Discard); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("idempotent acks=1: %v", err)
	}
}

func TestBenchProgressLines(t *testing.T) {
	opts := newCluster(t, 1)
	var progress syncBuffer
	// 20,000 acknowledged records take far longer than the 1 ms interval.
	if _, err := BenchProduce(testCtx(t), opts, BenchProduceConfig{Topic: "p", Records: 20000, RecordSize: 10, Partitions: 2, ProgressInterval: time.Millisecond}, io.Discard, &progress); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	if lines[0] == "" {
		t.Fatal("no progress line")
	}
	for _, l := range lines {
		if !(strings.HasPrefix(l, "bench produce: ") && strings.Contains(l, "/20000 records") && strings.HasSuffix(l, "MiB/s")) {
			t.Fatalf("progress line %q", l)
		}
	}
}

func TestProcessCPU(t *testing.T) {
	d, err := processCPU(os.Getpid())
	if err != nil || d < 0 {
		t.Fatalf("processCPU(self) = %v, %v", d, err)
	}
	if _, err := processCPU(1 << 30); err == nil {
		t.Fatal("no error for a missing process")
	}
}

type countingWriter struct{ n *int }

func (c countingWriter) Write(p []byte) (int, error) { *c.n += len(p); return len(p), nil }

func countWriter(n *int) io.Writer { return countingWriter{n} }
