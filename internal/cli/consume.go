package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ConsumeConfig describes `troupe consume`.
type ConsumeConfig struct {
	Topic string
	// From is where each partition starts: "beginning" (the default when
	// empty), "end", an absolute offset "N" (clamped to the partition's
	// [log start, high watermark]), "-N" (N records before the high
	// watermark), or "@MS" (the first record whose timestamp is at or after
	// MS Unix milliseconds, found with ListOffsets; the high watermark when
	// there is none).
	From string
	// Partition restricts consumption to one partition when >= 0; -1 reads
	// every partition.
	Partition int32
	// Count stops after this many records when > 0.
	Count int64
	// Follow keeps waiting for new records. Without it, the run stops once
	// every partition reaches the high watermark it had at the start.
	Follow bool
	// Format is the output template (see parseFormat); empty means
	// DefaultFormat.
	Format string
}

// ConsumeResult counts what a consume run wrote.
type ConsumeResult struct {
	Records int64
}

// fromKind says how ConsumeConfig.From picks a start offset.
type fromKind int

const (
	fromBeginning fromKind = iota
	fromEnd
	fromOffset    // absolute offset n
	fromEndMinus  // high watermark - n
	fromTimestamp // first record with timestamp >= n ms
)

type fromSpec struct {
	kind fromKind
	n    int64
}

func parseFrom(s string) (fromSpec, error) {
	switch s = strings.TrimSpace(s); {
	case s == "" || s == "beginning" || s == "earliest" || s == "start":
		return fromSpec{kind: fromBeginning}, nil
	case s == "end" || s == "latest":
		return fromSpec{kind: fromEnd}, nil
	case strings.HasPrefix(s, "@"):
		ms, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil || ms < 0 {
			return fromSpec{}, fmt.Errorf("%w: --from %q: want @ followed by Unix milliseconds", ErrInvalidArgument, s)
		}
		return fromSpec{kind: fromTimestamp, n: ms}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fromSpec{}, fmt.Errorf("%w: --from %q: want beginning, end, OFFSET, -N or @TIMESTAMP_MS", ErrInvalidArgument, s)
	}
	if n < 0 {
		return fromSpec{kind: fromEndMinus, n: -n}, nil
	}
	return fromSpec{kind: fromOffset, n: n}, nil
}

// partitionRange is where one partition's consumption starts and, unless
// following, stops.
type partitionRange struct {
	start int64
	// stop is the high watermark at the start (exclusive); meaningless
	// when following.
	stop int64
}

// startOffset resolves the spec against one partition's bounds.
// REQUIRES: logStart <= hw.
func (f fromSpec) startOffset(logStart, hw, byTime int64) int64 {
	switch f.kind {
	case fromEnd:
		return hw
	case fromOffset:
		return min(max(f.n, logStart), hw)
	case fromEndMinus:
		return max(hw-f.n, logStart)
	case fromTimestamp:
		if byTime < 0 {
			return hw
		}
		return min(max(byTime, logStart), hw)
	}
	return logStart
}

// resolveRanges looks up the topic's partitions and their offsets.
func resolveRanges(ctx context.Context, opts Options, topic string, partition int32, from fromSpec) (map[int32]partitionRange, error) {
	ranges := make(map[int32]partitionRange)
	err := withAdmin(ctx, opts, func(ctx context.Context, adm *kadm.Client) error {
		tds, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return fmt.Errorf("cli: consume %q: metadata: %w", topic, err)
		}
		td, ok := tds[topic]
		if !ok {
			return fmt.Errorf("cli: consume %q: %w", topic, kerr.UnknownTopicOrPartition)
		}
		if td.Err != nil {
			return fmt.Errorf("cli: consume %q: %w", topic, td.Err)
		}
		if partition >= 0 {
			if _, ok := td.Partitions[partition]; !ok {
				return fmt.Errorf("%w: topic %q has no partition %d (it has %d)", ErrInvalidArgument, topic, partition, len(td.Partitions))
			}
		}
		starts, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			return fmt.Errorf("cli: consume %q: list start offsets: %w", topic, err)
		}
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return fmt.Errorf("cli: consume %q: list end offsets: %w", topic, err)
		}
		var byTime kadm.ListedOffsets
		if from.kind == fromTimestamp {
			if byTime, err = adm.ListOffsetsAfterMilli(ctx, from.n, topic); err != nil {
				return fmt.Errorf("cli: consume %q: list offsets after %d ms: %w", topic, from.n, err)
			}
		}
		for p := range td.Partitions {
			if partition >= 0 && p != partition {
				continue
			}
			lookup := func(lo kadm.ListedOffsets, what string) (int64, error) {
				o, ok := lo.Lookup(topic, p)
				if !ok {
					return 0, fmt.Errorf("cli: consume %q: no %s offset for partition %d", topic, what, p)
				}
				if o.Err != nil {
					return 0, fmt.Errorf("cli: consume %q: %s offset of partition %d: %w", topic, what, p, o.Err)
				}
				return o.Offset, nil
			}
			logStart, err := lookup(starts, "start")
			if err != nil {
				return err
			}
			hw, err := lookup(ends, "end")
			if err != nil {
				return err
			}
			t := int64(-1)
			if byTime != nil {
				if t, err = lookup(byTime, "timestamp"); err != nil {
					return err
				}
			}
			logStart = min(logStart, hw)
			ranges[p] = partitionRange{start: from.startOffset(logStart, hw, t), stop: hw}
		}
		return nil
	})
	return ranges, err
}

// Consume writes records of cfg.Topic to out, formatted by cfg.Format,
// through a bufio.Writer that is flushed after every poll. It stops when
// ctx is canceled (returning nil when following: that is how a follow ends),
// after cfg.Count records, or, when not following, once every partition has
// reached the high watermark it had at the start. A bounded run that
// receives nothing for Options.Timeout fails with ErrNoProgress.
func Consume(ctx context.Context, opts Options, cfg ConsumeConfig, out io.Writer) (ConsumeResult, error) {
	var res ConsumeResult
	if cfg.Topic == "" {
		return res, fmt.Errorf("%w: empty topic name", ErrInvalidArgument)
	}
	from, err := parseFrom(cfg.From)
	if err != nil {
		return res, err
	}
	tmpl := cfg.Format
	if tmpl == "" {
		tmpl = DefaultFormat
	}
	format, err := parseFormat(tmpl)
	if err != nil {
		return res, err
	}
	ranges, err := resolveRanges(ctx, opts, cfg.Topic, cfg.Partition, from)
	if err != nil {
		return res, err
	}

	// pending holds the partitions still to read; a bounded run drops a
	// partition once it reaches its stop offset.
	pending := make(map[int32]kgo.Offset)
	for p, r := range ranges {
		if cfg.Follow || r.start < r.stop {
			pending[p] = kgo.NewOffset().At(r.start)
		}
	}
	if len(pending) == 0 {
		return res, nil
	}
	cl, err := opts.newClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: pending}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return res, err
	}
	defer cl.Close()

	w := bufio.NewWriterSize(out, 256<<10)
	for {
		fetches := poll(ctx, cl, cfg.Follow, opts.timeout())
		if ctx.Err() != nil {
			// An interrupted follow is how a follow normally ends; an
			// interrupted bounded run did not finish.
			if cfg.Follow {
				return res, flushed(w, nil)
			}
			return res, flushed(w, ctx.Err())
		}
		var done []int32
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			_, open := pending[fp.Partition]
			for _, r := range fp.Records {
				if !open || (cfg.Count > 0 && res.Records >= cfg.Count) {
					break
				}
				if !cfg.Follow && r.Offset >= ranges[r.Partition].stop {
					break // arrived after we started; not ours to print
				}
				format.write(w, r)
				res.Records++
				if !cfg.Follow && r.Offset >= ranges[r.Partition].stop-1 {
					open = false
					delete(pending, r.Partition)
					done = append(done, r.Partition)
				}
			}
		})
		if err := w.Flush(); err != nil {
			return res, fmt.Errorf("cli: consume: writing output: %w", err)
		}
		if (cfg.Count > 0 && res.Records >= cfg.Count) || (!cfg.Follow && len(pending) == 0) {
			return res, nil
		}
		if len(done) > 0 {
			cl.PauseFetchPartitions(map[string][]int32{cfg.Topic: done})
		}
		if err := fetchErr(opts, fetches); err != nil {
			if errors.Is(err, context.DeadlineExceeded) && fetches.NumRecords() == 0 {
				return res, fmt.Errorf("%w: consume %q: nothing received for %v with %d partitions still short of their end (partitions %v)",
					ErrNoProgress, cfg.Topic, opts.timeout(), len(pending), sortedPartitions(pending))
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				return res, err
			}
		}
	}
}

// poll waits for the next fetches; a bounded run waits at most timeout.
func poll(ctx context.Context, cl *kgo.Client, follow bool, timeout time.Duration) kgo.Fetches {
	if follow {
		return cl.PollFetches(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return cl.PollFetches(ctx)
}

// fetchErr returns the first error in fetches that should end a run: a
// poll deadline, or a non-retriable broker or client error. Retriable Kafka
// errors are logged and left to kgo, which keeps retrying them.
func fetchErr(opts Options, fetches kgo.Fetches) error {
	var first error
	fetches.EachError(func(t string, p int32, err error) {
		switch {
		case first != nil:
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
			first = err
		case kerr.IsRetriable(err):
			opts.Logger.Warn().Str("topic", t).Int32("partition", p).Err(err).Msg("fetch error, retrying")
		default:
			first = fmt.Errorf("cli: fetch %s[%d]: %w", t, p, err)
		}
	})
	return first
}

func flushed(w *bufio.Writer, err error) error {
	if ferr := w.Flush(); ferr != nil && err == nil {
		return fmt.Errorf("cli: consume: writing output: %w", ferr)
	}
	return err
}

func sortedPartitions[V any](m map[int32]V) []int32 {
	ps := make([]int32, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}
