package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ProduceConfig describes `troupe produce`.
type ProduceConfig struct {
	Topic string
	// KeySeparator, when not empty, splits each line at its first
	// occurrence into key and value. A line without it has a null key and
	// the whole line as value.
	KeySeparator string
	// Partition sends every record to this partition when >= 0; -1 leaves
	// the choice to kgo's default partitioner (sticky for null keys, murmur2
	// hashing for keys, as Kafka's Java client does).
	Partition int32
	// Acks is "all" (or "-1"), "1" or "0".
	Acks string
	// Idempotent nil means on exactly when Acks is all; true with weaker
	// acks is an error.
	Idempotent *bool
	// Compression is none (default), gzip, snappy, lz4 or zstd.
	Compression string
	// MaxBufferedRecords and MaxBufferedBytes bound what is read from the
	// input but not yet acknowledged; reading blocks when either is reached.
	// Zero means 10,000 records and 64 MiB.
	MaxBufferedRecords int
	MaxBufferedBytes   int
}

// ProduceResult counts the outcome of a produce run.
type ProduceResult struct {
	// Produced is the number of acknowledged records (with acks=0: written
	// to the connection).
	Produced int64
	// Failed is the number of records that were read but not acknowledged.
	Failed int64
	// FirstErr is the first record error, if any.
	FirstErr error
}

// Produce sends each line of in (without its trailing "\n") as one record to
// cfg.Topic and reports the outcome on report. Records go out asynchronously
// with bounded buffering and are flushed at the end. After the first failed
// record it stops reading, waits for what is in flight, and returns an error
// wrapping ErrProduceFailed and that first record error.
//
// An input ending without a newline still produces its last line; an empty
// line produces an empty value.
func Produce(ctx context.Context, opts Options, cfg ProduceConfig, in io.Reader, report io.Writer) (ProduceResult, error) {
	if cfg.Topic == "" {
		return ProduceResult{}, fmt.Errorf("%w: empty topic name", ErrInvalidArgument)
	}
	popts, err := producerOpts(cfg.Acks, cfg.Idempotent, cfg.Compression)
	if err != nil {
		return ProduceResult{}, err
	}
	maxRecs, maxBytes := cfg.MaxBufferedRecords, cfg.MaxBufferedBytes
	if maxRecs <= 0 {
		maxRecs = 10_000
	}
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	popts = append(popts,
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.MaxBufferedRecords(maxRecs),
		kgo.MaxBufferedBytes(maxBytes),
		kgo.RecordDeliveryTimeout(opts.timeout()),
	)
	if cfg.Partition >= 0 {
		popts = append(popts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl, err := opts.newClient(popts...)
	if err != nil {
		return ProduceResult{}, err
	}
	defer cl.Close()

	var (
		produced, failed atomic.Int64
		stop             atomic.Bool // set on the first failure: read no more input
		mu               sync.Mutex
		firstErr         error // guarded by mu
	)
	// kgo calls promises serially from one goroutine; the atomics are for
	// the reading goroutine that checks stop.
	promise := func(_ *kgo.Record, err error) {
		if err == nil {
			produced.Add(1)
			return
		}
		failed.Add(1)
		stop.Store(true)
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}

	lr := newLineReader(in, lineReaderBuf)
	var readErr error
	sep := []byte(cfg.KeySeparator)
	for !stop.Load() && ctx.Err() == nil {
		line, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = fmt.Errorf("cli: produce: reading input: %w", err)
			break
		}
		r := &kgo.Record{Value: line, Partition: cfg.Partition}
		if len(sep) > 0 {
			if i := bytes.Index(line, sep); i >= 0 {
				r.Key, r.Value = line[:i:i], line[i+len(sep):]
			}
		}
		cl.Produce(ctx, r, promise)
	}
	// Flush waits for every buffered record; records failed by a canceled
	// ctx come back through the promise, so the counts stay exact.
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.timeout()+opts.timeout()/2)
	defer cancel()
	if err := cl.Flush(flushCtx); err != nil && readErr == nil {
		readErr = fmt.Errorf("cli: produce: flush: %w", err)
	}

	mu.Lock()
	res := ProduceResult{Produced: produced.Load(), Failed: failed.Load(), FirstErr: firstErr}
	mu.Unlock()
	switch {
	case res.Failed > 0:
		fmt.Fprintf(report, "produced %d records to %s; %d failed; first error: %v\n", res.Produced, cfg.Topic, res.Failed, res.FirstErr)
		return res, fmt.Errorf("%w: %d of %d: %w", ErrProduceFailed, res.Failed, res.Failed+res.Produced, res.FirstErr)
	case readErr != nil:
		fmt.Fprintf(report, "produced %d records to %s before: %v\n", res.Produced, cfg.Topic, readErr)
		return res, readErr
	case ctx.Err() != nil:
		fmt.Fprintf(report, "produced %d records to %s before being interrupted\n", res.Produced, cfg.Topic)
		return res, ctx.Err()
	}
	fmt.Fprintf(report, "produced %d records to %s\n", res.Produced, cfg.Topic)
	return res, nil
}

// lineReader splits its input at '\n' and copies each line into a shared
// slab, so that 100k short lines cost a few allocations instead of 100k.
// Lines handed out stay valid forever (slabs are never reused; the GC frees
// one when every record pointing into it is gone).
type lineReader struct {
	br   *bufio.Reader
	slab []byte // unused tail of the current slab
	long []byte // accumulates a line longer than br's buffer
}

const (
	lineReaderBuf = 1 << 20
	slabSize      = 256 << 10
)

func newLineReader(r io.Reader, bufSize int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, bufSize)}
}

// next returns the next line without its '\n', or io.EOF after the last one.
func (l *lineReader) next() ([]byte, error) {
	l.long = l.long[:0]
	for {
		chunk, err := l.br.ReadSlice('\n')
		switch {
		case err == nil:
			if len(l.long) > 0 {
				l.long = append(l.long, chunk[:len(chunk)-1]...)
				return l.copy(l.long), nil
			}
			return l.copy(chunk[:len(chunk)-1]), nil
		case errors.Is(err, bufio.ErrBufferFull):
			l.long = append(l.long, chunk...)
		case err == io.EOF:
			l.long = append(l.long, chunk...)
			if len(l.long) == 0 {
				return nil, io.EOF
			}
			return l.copy(l.long), nil
		default:
			return nil, err
		}
	}
}

// copy moves b into the slab (or its own allocation when large) and returns
// a slice with capacity capped so that appends cannot spill into a neighbour.
func (l *lineReader) copy(b []byte) []byte {
	n := len(b)
	switch {
	case n == 0:
		return []byte{} // an empty line is an empty value, not a null one
	case n > slabSize/8:
		return bytes.Clone(b)
	case n > len(l.slab):
		l.slab = make([]byte, slabSize)
	}
	out := l.slab[:n:n]
	copy(out, b)
	l.slab = l.slab[n:]
	return out
}
