package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Following moves.
//
// Every progressPoll the follower asks for the moves in progress among its
// partitions (ListPartitionReassignments), their replica lists (Metadata)
// and, for those moving, the size of their replicas (DescribeLogDirs). A
// moving partition has to copy its leader's log to each replica being
// added: total = leader size × adding replicas, copied = the sum over the
// adding replicas of their size, each capped at the leader's. A partition
// is done once no move of it is listed and Metadata shows it at its target
// replicas (in order); then copied = total. One that is not listed and not
// at its target has not started yet (the controller starts a bounded
// number of moves per broker at a time): it counts as queued, with the
// bytes estimated before the moves were submitted. One that was seen moving
// and is neither listed nor at its target on two polls in a row ended
// elsewhere (someone cancelled it or moved the partition again): it is
// done, and reported as a failure.

// progressPoll is how often the moves are looked at.
const progressPoll = time.Second

// progressLogEvery is how often a progress line is printed when the output
// is not a terminal (on a terminal the line is rewritten at every poll).
const progressLogEvery = 5 * time.Second

// tracked is a move being followed.
type tracked struct {
	move
	total, copied int64
	done          bool
	// started: the move was seen in progress. strays counts the polls in a
	// row since then that saw it neither in progress nor at its target.
	started bool
	strays  int
	// gone: the topic was deleted; ended: the move ended at these
	// replicas, not at its target.
	gone  bool
	ended []int32
}

// follow polls the moves until each is done, writing progress to out, and
// then a summary. It returns ctx's error if ctx ends first, and gives up
// when the cluster cannot be asked for longer than the request timeout.
func (a *clusterAdmin) follow(ctx context.Context, moves []move, out io.Writer) error {
	ts := make([]*tracked, len(moves))
	for i, m := range moves {
		ts[i] = &tracked{move: m, total: m.bytes}
	}
	pr := newProgressPrinter(out)
	start := time.Now()
	base := int64(-1)
	var failingSince time.Time
	for {
		left, queued, err := a.poll(ctx, ts)
		now := time.Now()
		switch {
		case ctx.Err() != nil:
			pr.end()
			fmt.Fprintln(out, "stopped following: the moves go on in the cluster (`troupe cluster reassign --cancel` cancels them)")
			return fmt.Errorf("cli: following moves: %w", ctx.Err())
		case err != nil:
			if failingSince.IsZero() {
				failingSince = now
			}
			if now.Sub(failingSince) > a.timeout {
				pr.end()
				return fmt.Errorf("cli: following moves: %w", err)
			}
			a.log.Warn().Err(err).Msg("cannot see the moves; trying again")
		default:
			failingSince = time.Time{}
			s := progressSample{Left: left, Queued: queued, Elapsed: now.Sub(start)}
			for _, t := range ts {
				s.Copied += t.copied
				s.Total += t.total
			}
			if base < 0 {
				base = s.Copied
			}
			s.Base = base
			if left == 0 {
				pr.end()
				return writeFollowSummary(out, ts, s)
			}
			pr.show(now, s.String())
		}
		t := time.NewTimer(progressPoll)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// poll updates ts from the cluster and returns how many moves are not
// done and how many of those have not started.
func (a *clusterAdmin) poll(ctx context.Context, ts []*tracked) (left, queued int, err error) {
	var s kadm.TopicsSet
	var topics []string
	for _, t := range ts {
		if !t.done {
			s.Add(t.part.topic, t.part.partition)
			if !slices.Contains(topics, t.part.topic) {
				topics = append(topics, t.part.topic)
			}
		}
	}
	if len(s) == 0 {
		return 0, 0, nil
	}
	inFlight, err := a.listMoves(ctx, s)
	if err != nil {
		return 0, 0, err
	}
	md, err := a.metadata(ctx, topics...)
	if err != nil {
		return 0, 0, err
	}
	moving := map[tp]kadm.ListPartitionReassignmentsResponse{}
	var ms kadm.TopicsSet
	for _, m := range inFlight {
		moving[tp{m.Topic, m.Partition}] = m
		ms.Add(m.Topic, m.Partition)
	}
	var disks map[int32]*brokerDisk
	if len(ms) > 0 {
		var derr error
		// A broker that does not answer leaves its replicas' progress as
		// it was at the last poll.
		if disks, derr = a.logDirs(ctx, ms); derr != nil {
			a.log.Debug().Err(derr).Msg("log dirs incomplete")
		}
	}
	for _, t := range ts {
		if t.done {
			continue
		}
		td, ok := md.Topics[t.part.topic]
		if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			t.done, t.gone = true, true
			continue
		}
		pd, ok := td.Partitions[t.part.partition]
		if m, isMoving := moving[t.part]; isMoving {
			left++
			t.started, t.strays = true, 0
			if ok {
				t.measure(pd, m.AddingReplicas, disks)
			}
			continue
		}
		if ok && slices.Equal(pd.Replicas, t.to) {
			t.done, t.copied = true, t.total
			continue
		}
		if t.started {
			if t.strays++; t.strays >= 2 && ok {
				t.done, t.ended, t.total, t.copied = true, slices.Clone(pd.Replicas), 0, 0
				continue
			}
			left++
			continue
		}
		left++
		queued++
	}
	return left, queued, nil
}

// measure computes a moving partition's bytes from its replicas' sizes
// (see the top of the file); it keeps the last figures when the leader's
// size or an adding replica's is unknown.
func (t *tracked) measure(pd kadm.PartitionDetail, adding []int32, disks map[int32]*brokerDisk) {
	var leader int64 = -1
	if d, ok := disks[pd.Leader]; ok {
		if n, ok := d.sizes[t.part]; ok {
			leader = n
		}
	}
	if leader < 0 { // no leader, or it did not answer: the largest other replica
		for _, r := range pd.Replicas {
			if d, ok := disks[r]; ok && !slices.Contains(adding, r) {
				if n, ok := d.sizes[t.part]; ok {
					leader = max(leader, n)
				}
			}
		}
	}
	if leader < 0 {
		return
	}
	var copied int64
	for _, r := range adding {
		d, ok := disks[r]
		if !ok {
			return // it did not answer: keep what was seen before
		}
		copied += min(d.sizes[t.part], leader)
	}
	t.total = leader * int64(len(adding))
	t.copied = min(copied, t.total)
}

// progressSample is the state of the moves at one poll.
type progressSample struct {
	// Copied of Total bytes are in place, Base of them at the first poll
	// (they do not count toward the rate).
	Copied, Total, Base int64
	// Elapsed is the time since the first poll.
	Elapsed time.Duration
	// Left moves are not done, Queued of them not started.
	Left, Queued int
}

// rate is the copy rate in bytes/s since the first poll.
func (s progressSample) rate() float64 {
	if s.Elapsed <= 0 || s.Copied <= s.Base {
		return 0
	}
	return float64(s.Copied-s.Base) / s.Elapsed.Seconds()
}

// String is the progress line:
// "moved 1.5 GiB / 3.0 GiB (50%), 25.0 MiB/s, ETA 1m01s, 3 partitions left".
func (s progressSample) String() string {
	pct := int64(100)
	if s.Total > 0 {
		pct = min(100, max(0, s.Copied*100/s.Total))
	}
	rate := s.rate()
	eta := "-"
	switch {
	case s.Copied >= s.Total:
		eta = "0s"
	case rate > 0:
		eta = humanDuration(time.Duration(float64(s.Total-s.Copied) / rate * float64(time.Second)))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "moved %s / %s (%d%%), %s/s, ETA %s, %d %s left", humanBytes(s.Copied), humanBytes(s.Total), pct,
		humanBytes(int64(rate)), eta, s.Left, plural(s.Left, "partition", "partitions"))
	if s.Queued > 0 {
		fmt.Fprintf(&b, " (%d not started)", s.Queued)
	}
	return b.String()
}

// writeFollowSummary writes the lines that end a follow, and returns
// ErrMoveNotCompleted if a move ended elsewhere than at its target.
func writeFollowSummary(out io.Writer, ts []*tracked, s progressSample) error {
	n := 0
	var first error
	ended := 0
	for _, t := range ts {
		switch {
		case t.gone:
			fmt.Fprintf(out, "%s: the topic was deleted during the move\n", t.part)
		case t.ended != nil:
			ended++
			fmt.Fprintf(out, "%s: the move ended at %s, not at its target %s (cancelled, or moved again)\n", t.part, ints(t.ended), ints(t.to))
			if first == nil {
				first = fmt.Errorf("%w: %s is at %s, not %s", ErrMoveNotCompleted, t.part, ints(t.ended), ints(t.to))
			}
		default:
			n++
		}
	}
	avg := ""
	if secs := s.Elapsed.Seconds(); secs > 0 && s.Total > 0 {
		avg = fmt.Sprintf(" (%s/s)", humanBytes(int64(float64(s.Total)/secs)))
	}
	fmt.Fprintf(out, "done: %d %s at %s target replicas; moved %s in %s%s\n", n, plural(n, "partition", "partitions"),
		plural(n, "its", "their"), humanBytes(s.Total), humanDuration(s.Elapsed), avg)
	if ended > 1 {
		first = fmt.Errorf("%w (and %d more)", first, ended-1)
	}
	return first
}

// progressPrinter rewrites a progress line in place on a terminal, and
// prints one every progressLogEvery otherwise.
type progressPrinter struct {
	w    io.Writer
	tty  bool
	last time.Time
	// open: a terminal line was written and not yet ended.
	open bool
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	p := &progressPrinter{w: w}
	if f, ok := w.(*os.File); ok {
		p.tty = isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
	}
	return p
}

func (p *progressPrinter) show(now time.Time, line string) {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K"+line)
		p.open = true
		return
	}
	if !p.last.IsZero() && now.Sub(p.last) < progressLogEvery {
		return
	}
	p.last = now
	fmt.Fprintln(p.w, line)
}

// end ends the terminal line, if one is open.
func (p *progressPrinter) end() {
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}
