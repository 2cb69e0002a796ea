package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchProduceConfig describes `troupe bench produce`.
type BenchProduceConfig struct {
	Topic string
	// Records is how many records to send (> 0).
	Records int64
	// RecordSize is each value's size in bytes; values carry pseudo-random
	// bytes (so compression cannot shrink them) and no key.
	RecordSize int
	// Acks is "all", "1" or "0"; Idempotent nil means on exactly with
	// acks=all.
	Acks       string
	Idempotent *bool
	// Partitions and ReplicationFactor are used to create the topic when it
	// does not exist (-1: broker default). An existing topic is used as is.
	Partitions        int32
	ReplicationFactor int16
	// Compression is none (default), gzip, snappy, lz4 or zstd.
	Compression string
	// Linger is kgo's per-partition linger (ProducerLinger); 0 sends as
	// soon as a request can go.
	Linger time.Duration
	// MaxBufferedRecords bounds records in flight in the client; 0 means
	// kgo's default (50,000).
	MaxBufferedRecords int
	// BrokerPID, when > 0, is the broker process whose CPU time (from
	// /proc/PID/stat) is reported per record.
	BrokerPID int
	// JSON prints the summary as one JSON object instead of text.
	JSON bool
	// ProgressInterval is the period of progress lines; 0 means 1s.
	ProgressInterval time.Duration
}

// BenchConsumeConfig describes `troupe bench consume`.
type BenchConsumeConfig struct {
	Topic string
	// Records is how many records to read from the beginning of every
	// partition. 0 means all records below the high watermarks at the start.
	// More than that waits for records produced meanwhile, up to
	// Options.Timeout without progress.
	Records int64
	// BrokerPID, JSON and ProgressInterval are as in BenchProduceConfig.
	BrokerPID        int
	JSON             bool
	ProgressInterval time.Duration
}

// Latency descriptions reported in BenchResult.Latency.
const (
	LatencyProduce = "per record, from the Produce call to its acknowledgement"
	LatencyConsume = "per Fetch request, from writing the request to reading the whole response"
)

// BenchResult is the summary of one bench run. Rates use the span from the
// first record sent (or the first poll) to the last record acknowledged
// (or received). Sizes count key and value bytes; MiB is 2^20 bytes.
type BenchResult struct {
	Mode          string  `json:"mode"` // "produce" or "consume"
	Topic         string  `json:"topic"`
	Partitions    int     `json:"partitions"`
	Acks          string  `json:"acks,omitempty"`
	Idempotent    bool    `json:"idempotent,omitempty"`
	RecordSize    int     `json:"record_size,omitempty"`
	Records       int64   `json:"records"`
	Failed        int64   `json:"failed"`
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MiBPerSec     float64 `json:"mib_per_sec"`
	// Latency says what the percentiles measure.
	Latency        string  `json:"latency"`
	LatencySamples uint64  `json:"latency_samples"`
	P50Ms          float64 `json:"p50_ms"`
	P99Ms          float64 `json:"p99_ms"`
	P999Ms         float64 `json:"p999_ms"`
	// ClientCPUMicrosPerRecord is this process's user+system CPU per record.
	ClientCPUMicrosPerRecord float64 `json:"client_cpu_us_per_record"`
	// BrokerCPUMicrosPerRecord is the broker's CPU per record, when
	// BrokerPID was given (10 ms resolution over the run).
	BrokerCPUMicrosPerRecord *float64 `json:"broker_cpu_us_per_record,omitempty"`
	BrokerCPUSeconds         *float64 `json:"broker_cpu_seconds,omitempty"`
}

func (r *BenchResult) finish(span time.Duration, h *histogram, cpu *cpuMeter) {
	r.Seconds = span.Seconds()
	if r.Seconds > 0 {
		r.RecordsPerSec = float64(r.Records) / r.Seconds
		r.MiBPerSec = float64(r.Bytes) / (1 << 20) / r.Seconds
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	r.LatencySamples = h.count()
	r.P50Ms, r.P99Ms, r.P999Ms = ms(h.quantile(0.50)), ms(h.quantile(0.99)), ms(h.quantile(0.999))
	if r.Records > 0 {
		r.ClientCPUMicrosPerRecord = float64(cpu.selfD.Microseconds()) / float64(r.Records)
		if cpu.brokerMeasured {
			us := float64(cpu.brokerD.Microseconds()) / float64(r.Records)
			secs := cpu.brokerD.Seconds()
			r.BrokerCPUMicrosPerRecord, r.BrokerCPUSeconds = &us, &secs
		}
	}
}

// write prints the summary as text or as one JSON line.
func (r *BenchResult) write(w io.Writer, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	fmt.Fprintf(w, "bench %s: topic %s, %d partitions", r.Mode, r.Topic, r.Partitions)
	if r.Mode == "produce" {
		fmt.Fprintf(w, ", acks=%s, idempotent=%t, %d-byte records", r.Acks, r.Idempotent, r.RecordSize)
	}
	fmt.Fprintf(w, "\nrecords %d (failed %d)  seconds %.3f  rec/s %.0f  MiB/s %.2f\n",
		r.Records, r.Failed, r.Seconds, r.RecordsPerSec, r.MiBPerSec)
	fmt.Fprintf(w, "latency p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  (%s; %d samples)\n",
		r.P50Ms, r.P99Ms, r.P999Ms, r.Latency, r.LatencySamples)
	fmt.Fprintf(w, "cpu: client %.2f µs/record", r.ClientCPUMicrosPerRecord)
	if r.BrokerCPUMicrosPerRecord != nil {
		fmt.Fprintf(w, "  broker %.2f µs/record (%.2f s)", *r.BrokerCPUMicrosPerRecord, *r.BrokerCPUSeconds)
	}
	_, err := fmt.Fprintln(w)
	return err
}

// progress prints, every interval until stopped, how many records are done
// and the rate over the last interval.
func progress(w io.Writer, mode string, interval time.Duration, total int64, done *atomic.Int64, recordBytes func(int64) int64) (stop func()) {
	if interval <= 0 {
		interval = time.Second
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		last, lastAt := int64(0), time.Now()
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				n := done.Load()
				secs := now.Sub(lastAt).Seconds()
				fmt.Fprintf(w, "bench %s: %d/%d records  %.0f rec/s  %.2f MiB/s\n", mode, n, total,
					float64(n-last)/secs, float64(recordBytes(n-last))/(1<<20)/secs)
				last, lastAt = n, now
			}
		}
	}()
	return func() { close(quit); wg.Wait() }
}

// ensureTopic creates topic with the given layout when it does not exist and
// returns its partition count. An existing topic with another partition
// count is used as is, with a note on notes.
func ensureTopic(ctx context.Context, opts Options, topic string, partitions int32, rf int16, notes io.Writer) (int, error) {
	var n int
	err := withAdmin(ctx, opts, func(ctx context.Context, adm *kadm.Client) error {
		tds, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return fmt.Errorf("cli: bench: metadata for %q: %w", topic, err)
		}
		if td, ok := tds[topic]; ok && td.Err == nil {
			n = len(td.Partitions)
			if partitions > 0 && n != int(partitions) {
				fmt.Fprintf(notes, "bench: topic %s exists with %d partitions (asked for %d); using it as is\n", topic, n, partitions)
			}
			return nil
		} else if ok && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("cli: bench: metadata for %q: %w", topic, td.Err)
		}
		resp, err := adm.CreateTopic(ctx, partitions, rf, nil, topic)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("cli: bench: create topic %q: %w%s", topic, err, detail(resp.ErrMessage))
		}
		n = int(resp.NumPartitions)
		if n <= 0 { // an older broker or a racing creator: ask again
			if tds, err = adm.ListTopics(ctx, topic); err != nil {
				return fmt.Errorf("cli: bench: metadata for %q: %w", topic, err)
			}
			n = len(tds[topic].Partitions)
		}
		return nil
	})
	return n, err
}

// BenchProduce sends cfg.Records records of cfg.RecordSize bytes as fast as
// the client allows, printing progress lines to progressOut and the summary
// to out. It returns the summary, and an error wrapping ErrProduceFailed if
// any record failed (after printing the summary).
func BenchProduce(ctx context.Context, opts Options, cfg BenchProduceConfig, out, progressOut io.Writer) (BenchResult, error) {
	if cfg.Topic == "" || cfg.Records <= 0 || cfg.RecordSize < 0 {
		return BenchResult{}, fmt.Errorf("%w: bench produce needs a topic, records > 0 and size >= 0", ErrInvalidArgument)
	}
	popts, err := producerOpts(cfg.Acks, cfg.Idempotent, cfg.Compression)
	if err != nil {
		return BenchResult{}, err
	}
	acks, _ := parseAcks(cfg.Acks)
	idem := acks == kgo.AllISRAcks()
	if cfg.Idempotent != nil {
		idem = *cfg.Idempotent
	}
	nparts, err := ensureTopic(ctx, opts, cfg.Topic, cfg.Partitions, cfg.ReplicationFactor, progressOut)
	if err != nil {
		return BenchResult{}, err
	}
	popts = append(popts,
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.ProducerLinger(cfg.Linger),
		kgo.RecordDeliveryTimeout(opts.timeout()),
	)
	if cfg.MaxBufferedRecords > 0 {
		popts = append(popts, kgo.MaxBufferedRecords(cfg.MaxBufferedRecords))
	}
	cl, err := opts.newClient(popts...)
	if err != nil {
		return BenchResult{}, err
	}
	defer cl.Close()

	// One shared value: kgo never writes to a record's value, and building
	// a fresh one per record would put the client's cost into the numbers.
	value := make([]byte, cfg.RecordSize)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range value {
		value[i] = byte(rng.Uint32())
	}

	var (
		lat      histogram
		acked    atomic.Int64
		failed   atomic.Int64
		stop     atomic.Bool
		mu       sync.Mutex
		firstErr error // guarded by mu
		lastAck  atomic.Int64
	)
	// The send time travels in the record's own timestamp, so one promise
	// serves every record (no closure per record).
	promise := func(r *kgo.Record, err error) {
		now := time.Now()
		if err != nil {
			failed.Add(1)
			stop.Store(true)
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
			return
		}
		lat.record(now.Sub(r.Timestamp))
		lastAck.Store(now.UnixNano())
		acked.Add(1)
	}

	cpu, err := startCPU(cfg.BrokerPID)
	if err != nil {
		return BenchResult{}, err
	}
	stopProgress := progress(progressOut, "produce", cfg.ProgressInterval, cfg.Records, &acked,
		func(n int64) int64 { return n * int64(cfg.RecordSize) })
	start := time.Now()
	// Records are allocated in slabs; a slab is freed by the GC once all
	// its records are acknowledged and dropped by kgo.
	const slab = 1024
	var recs []kgo.Record
	var sent int64
	for ; sent < cfg.Records && !stop.Load() && ctx.Err() == nil; sent++ {
		if len(recs) == 0 {
			recs = make([]kgo.Record, min(slab, cfg.Records-sent))
		}
		r := &recs[0]
		recs = recs[1:]
		r.Value = value
		r.Timestamp = time.Now()
		cl.Produce(ctx, r, promise)
	}
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*opts.timeout())
	flushErr := cl.Flush(flushCtx)
	cancel()
	stopProgress()
	end := time.Now()
	if la := lastAck.Load(); la > 0 {
		end = time.Unix(0, la)
	}
	if err := cpu.stop(); err != nil {
		return BenchResult{}, err
	}

	res := BenchResult{
		Mode: "produce", Topic: cfg.Topic, Partitions: nparts, Acks: acksName(acks), Idempotent: idem,
		RecordSize: cfg.RecordSize, Records: acked.Load(), Failed: sent - acked.Load(),
		Bytes: acked.Load() * int64(cfg.RecordSize), Latency: LatencyProduce,
	}
	res.finish(end.Sub(start), &lat, cpu)
	if err := res.write(out, cfg.JSON); err != nil {
		return res, err
	}
	mu.Lock()
	defer mu.Unlock()
	switch {
	case firstErr != nil:
		return res, fmt.Errorf("%w: bench: %d of %d: %w", ErrProduceFailed, res.Failed, sent, firstErr)
	case flushErr != nil:
		return res, fmt.Errorf("%w: bench: flush: %w", ErrProduceFailed, flushErr)
	case ctx.Err() != nil:
		return res, ctx.Err()
	}
	return res, nil
}

// fetchLatency records the round trip of every successful Fetch request
// (write of the request to read of the response) through kgo's hook.
type fetchLatency struct{ h *histogram }

func (f fetchLatency) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if key == 1 && e2e.Err() == nil {
		f.h.record(e2e.DurationE2E())
	}
}

// BenchConsume reads cfg.Records records from the beginning of every
// partition of cfg.Topic, printing progress to progressOut and the summary
// to out. Its latency is the Fetch request round trip (see LatencyConsume).
func BenchConsume(ctx context.Context, opts Options, cfg BenchConsumeConfig, out, progressOut io.Writer) (BenchResult, error) {
	if cfg.Topic == "" || cfg.Records < 0 {
		return BenchResult{}, fmt.Errorf("%w: bench consume needs a topic and records >= 0", ErrInvalidArgument)
	}
	ranges, err := resolveRanges(ctx, opts, cfg.Topic, -1, fromSpec{kind: fromBeginning})
	if err != nil {
		return BenchResult{}, err
	}
	target := cfg.Records
	if target == 0 {
		for _, r := range ranges {
			target += r.stop - r.start
		}
		if target == 0 {
			return BenchResult{}, fmt.Errorf("%w: bench consume: topic %q is empty", ErrInvalidArgument, cfg.Topic)
		}
	}
	offsets := make(map[int32]kgo.Offset, len(ranges))
	for p, r := range ranges {
		offsets[p] = kgo.NewOffset().At(r.start)
	}
	var lat histogram
	cl, err := opts.newClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: offsets}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.WithHooks(fetchLatency{&lat}),
	)
	if err != nil {
		return BenchResult{}, err
	}
	defer cl.Close()

	cpu, err := startCPU(cfg.BrokerPID)
	if err != nil {
		return BenchResult{}, err
	}
	var got atomic.Int64
	var bytes atomic.Int64 // read by the progress goroutine
	stopProgress := progress(progressOut, "consume", cfg.ProgressInterval, target, &got, func(n int64) int64 {
		if g := got.Load(); g > 0 {
			return n * (bytes.Load() / g) // interval bytes from the running mean size
		}
		return 0
	})
	start := time.Now()
	var runErr error
	for got.Load() < target && runErr == nil {
		fetches := poll(ctx, cl, false, opts.timeout())
		if ctx.Err() != nil {
			runErr = ctx.Err()
			break
		}
		n, b := got.Load(), int64(0)
		fetches.EachRecord(func(r *kgo.Record) {
			if n < target {
				n++
				b += int64(len(r.Key) + len(r.Value))
			}
		})
		bytes.Add(b)
		got.Store(n)
		if err := fetchErr(opts, fetches); err != nil {
			if errors.Is(err, context.DeadlineExceeded) && fetches.NumRecords() == 0 {
				runErr = fmt.Errorf("%w: bench consume %q: %d of %d records after waiting %v", ErrNoProgress, cfg.Topic, n, target, opts.timeout())
			} else if !errors.Is(err, context.DeadlineExceeded) {
				runErr = err
			}
		}
	}
	end := time.Now()
	stopProgress()
	if err := cpu.stop(); err != nil {
		return BenchResult{}, err
	}
	res := BenchResult{
		Mode: "consume", Topic: cfg.Topic, Partitions: len(ranges),
		Records: got.Load(), Bytes: bytes.Load(), Latency: LatencyConsume,
	}
	res.finish(end.Sub(start), &lat, cpu)
	if err := res.write(out, cfg.JSON); err != nil {
		return res, err
	}
	return res, runErr
}
