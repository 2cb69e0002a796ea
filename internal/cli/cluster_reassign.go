package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ReassignConfig describes `troupe cluster reassign`.
type ReassignConfig struct {
	// PlanFile is a reassignment in Kafka's JSON format (that of
	// kafka-reassign-partitions.sh):
	//
	//	{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2,3]}]}
	//
	// An entry may carry "log_dirs", which is checked for its length and
	// otherwise ignored (Troupe has one log directory per broker).
	PlanFile string
	// Throttle, when set, is the replication rate (bytes/s, or with a unit:
	// 50MB, 50MiB, 1.5GB/s) that the brokers taking part may spend on the
	// moves. It is set before the moves are submitted and removed when they
	// end or the command is interrupted.
	Throttle string
	// NoWait returns once the moves are submitted instead of following
	// them. It cannot be combined with Throttle, which the command removes
	// when the moves end.
	NoWait bool
	// Cancel cancels the moves of the partitions in PlanFile, or every
	// move in progress when PlanFile is empty.
	Cancel bool
}

// Throttle configs set on brokers while moves run (bytes/s).
const (
	leaderThrottleKey   = "leader.replication.throttled.rate"
	followerThrottleKey = "follower.replication.throttled.rate"
)

// move is one partition's change of replica list.
type move struct {
	part     tp
	from, to []int32
	// bytes is what the move copies, as estimated before it starts.
	bytes int64
}

// Reassign carries out (or, with Cancel, cancels) the moves of a plan file.
func Reassign(ctx context.Context, opts Options, cfg ReassignConfig, out io.Writer) error {
	if cfg.Cancel {
		if cfg.Throttle != "" || cfg.NoWait {
			return fmt.Errorf("%w: --cancel takes no --throttle or --no-wait", ErrInvalidArgument)
		}
		return cancelMoves(ctx, opts, cfg.PlanFile, out)
	}
	if cfg.PlanFile == "" {
		return fmt.Errorf("%w: no plan file (--plan FILE)", ErrInvalidArgument)
	}
	rate, err := throttleFor(cfg.Throttle, cfg.NoWait)
	if err != nil {
		return err
	}
	plan, err := readPlanFile(cfg.PlanFile)
	if err != nil {
		return err
	}
	return withClusterAdmin(opts, func(a *clusterAdmin) error {
		var topics []string
		for _, pm := range plan {
			if len(topics) == 0 || topics[len(topics)-1] != pm.part.topic {
				topics = append(topics, pm.part.topic)
			}
		}
		md, err := a.metadata(ctx, topics...)
		if err != nil {
			return err
		}
		var s kadm.TopicsSet
		for _, pm := range plan {
			td := md.Topics[pm.part.topic]
			if td.Err != nil {
				return fmt.Errorf("%w: plan: topic %q: %w", ErrInvalidArgument, pm.part.topic, td.Err)
			}
			if _, ok := td.Partitions[pm.part.partition]; !ok {
				return fmt.Errorf("%w: plan: %s: no such partition (topic %q has %d)", ErrInvalidArgument, pm.part, pm.part.topic, len(td.Partitions))
			}
			s.Add(pm.part.topic, pm.part.partition)
		}
		disks, derr := a.logDirs(ctx, s)
		if derr != nil {
			a.log.Warn().Err(derr).Msg("some brokers did not describe their log directories; byte counts may be low")
		}
		moves := make([]move, 0, len(plan))
		for _, pm := range plan {
			pd := md.Topics[pm.part.topic].Partitions[pm.part.partition]
			m := move{part: pm.part, from: slices.Clone(pd.Replicas), to: pm.replicas}
			m.bytes = partitionSize(pd, disks) * int64(len(newReplicas(m.from, m.to)))
			moves = append(moves, m)
		}
		writeMoves(out, moves)
		_, err = a.runMoves(ctx, moves, rate, cfg.NoWait, out)
		return err
	})
}

// plannedMove is one entry of a plan file.
type plannedMove struct {
	part     tp
	replicas []int32
}

// reassignmentFile is Kafka's reassignment JSON.
type reassignmentFile struct {
	Version    *int `json:"version"`
	Partitions []struct {
		Topic     string   `json:"topic"`
		Partition *int32   `json:"partition"`
		Replicas  []int32  `json:"replicas"`
		LogDirs   []string `json:"log_dirs"`
	} `json:"partitions"`
}

func readPlanFile(path string) ([]plannedMove, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: plan: %w", ErrInvalidArgument, err)
	}
	plan, err := parseReassignmentPlan(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return plan, nil
}

// parseReassignmentPlan decodes and checks a plan file, returning its
// entries sorted by partition. Every error wraps ErrInvalidArgument and
// names the entry (its index in "partitions" and its partition).
func parseReassignmentPlan(b []byte) ([]plannedMove, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: plan: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f reassignmentFile
	if err := dec.Decode(&f); err != nil {
		return nil, bad("not a reassignment JSON document: %v", err)
	}
	if dec.More() {
		return nil, bad("data after the JSON document")
	}
	switch {
	case f.Version == nil:
		return nil, bad(`no "version" (want 1)`)
	case *f.Version != 1:
		return nil, bad("version %d is not supported (want 1)", *f.Version)
	case len(f.Partitions) == 0:
		return nil, bad("no partitions listed")
	}
	seen := map[tp]int{}
	plan := make([]plannedMove, 0, len(f.Partitions))
	for i, e := range f.Partitions {
		if e.Topic == "" {
			return nil, bad("partitions[%d]: no topic", i)
		}
		if e.Partition == nil {
			return nil, bad("partitions[%d] (topic %s): no partition", i, e.Topic)
		}
		p := tp{e.Topic, *e.Partition}
		if p.partition < 0 {
			return nil, bad("partitions[%d]: negative partition %d", i, p.partition)
		}
		if j, dup := seen[p]; dup {
			return nil, bad("partitions[%d]: %s is listed twice (also partitions[%d])", i, p, j)
		}
		seen[p] = i
		if len(e.Replicas) == 0 {
			return nil, bad("partitions[%d] (%s): no replicas", i, p)
		}
		for k, r := range e.Replicas {
			if r < 0 {
				return nil, bad("partitions[%d] (%s): negative broker id %d", i, p, r)
			}
			if slices.Contains(e.Replicas[:k], r) {
				return nil, bad("partitions[%d] (%s): broker %d is listed twice in replicas", i, p, r)
			}
		}
		if len(e.LogDirs) > 0 && len(e.LogDirs) != len(e.Replicas) {
			return nil, bad("partitions[%d] (%s): %d log_dirs for %d replicas", i, p, len(e.LogDirs), len(e.Replicas))
		}
		plan = append(plan, plannedMove{part: p, replicas: slices.Clone(e.Replicas)})
	}
	slices.SortFunc(plan, func(x, y plannedMove) int { return compareTP(x.part, y.part) })
	return plan, nil
}

// parseThrottle reads a rate in bytes/s: a number, optionally with a unit
// (B, KB, MB, GB, TB in powers of 1000; KiB, MiB, GiB, TiB in powers of
// 1024; K, M, G, T as KB, MB, GB, TB) and "/s". "" is 0: no throttle.
func parseThrottle(s string) (int64, error) {
	orig := s
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" {
		return 0, nil
	}
	s = strings.TrimSpace(strings.TrimSuffix(s, "/s"))
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 {
		return 0, fmt.Errorf("%w: throttle %q: want bytes/s, such as 50000000, 50MB or 50MiB", ErrInvalidArgument, orig)
	}
	rate := math.Round(v * mult)
	if rate < 1 || rate > math.MaxInt64/2 {
		return 0, fmt.Errorf("%w: throttle %q: out of range (at least 1 byte/s)", ErrInvalidArgument, orig)
	}
	return int64(rate), nil
}

// throttleFor parses a --throttle that goes with --no-wait or not.
func throttleFor(s string, noWait bool) (int64, error) {
	rate, err := parseThrottle(s)
	if err != nil {
		return 0, err
	}
	if rate > 0 && noWait {
		// The throttle is removed when the moves end, which a command that
		// does not wait for them cannot see; left behind, it would slow
		// every later move.
		return 0, fmt.Errorf("%w: --throttle needs the command to wait for the moves (it removes the throttle after them); drop --no-wait", ErrInvalidArgument)
	}
	return rate, nil
}

// partitionSize is the size of p's log: its leader's replica, or the
// largest replica when the leader's is unknown.
func partitionSize(p kadm.PartitionDetail, disks map[int32]*brokerDisk) int64 {
	part := tp{p.Topic, p.Partition}
	if d, ok := disks[p.Leader]; ok {
		if n, ok := d.sizes[part]; ok {
			return n
		}
	}
	var n int64
	for _, r := range p.Replicas {
		if d, ok := disks[r]; ok {
			n = max(n, d.sizes[part])
		}
	}
	return n
}

// newReplicas are the brokers of to that are not in from.
func newReplicas(from, to []int32) []int32 {
	var out []int32
	for _, b := range to {
		if !slices.Contains(from, b) {
			out = append(out, b)
		}
	}
	return out
}

// writeMoves writes one line per move: partition, from → to, bytes.
func writeMoves(out io.Writer, moves []move) {
	if len(moves) == 0 {
		return
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tFROM\t\tTO\tBYTES")
	for _, m := range moves {
		fmt.Fprintf(tw, "%s\t%s\t→\t%s\t%s\n", m.part, ints(m.from), ints(m.to), humanBytes(m.bytes))
	}
	tw.Flush()
}

// runMoves submits moves and, unless noWait, follows them to their end.
// With rate > 0 it first throttles replication on every broker the moves
// involve and removes the throttle afterwards, even when ctx is canceled.
// It returns the moves the cluster accepted; the error is ErrMoveRejected
// if it refused some (the others are still followed), or what ended the
// following.
func (a *clusterAdmin) runMoves(ctx context.Context, moves []move, rate int64, noWait bool, out io.Writer) (accepted []move, err error) {
	if len(moves) == 0 {
		return nil, nil
	}
	if rate > 0 {
		var brokers []int32
		for _, m := range moves {
			brokers = append(brokers, m.from...)
			brokers = append(brokers, m.to...)
		}
		brokers = slices.Compact(slices.Sorted(slices.Values(brokers)))
		// A broker that is gone cannot take a config (and throttles
		// nothing); moving replicas off a dead broker must still work.
		live, err := a.registered(ctx)
		if err != nil {
			return nil, err
		}
		brokers = slices.DeleteFunc(brokers, func(b int32) bool { return !slices.Contains(live, b) })
		if err := a.setThrottle(ctx, brokers, rate); err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "throttle %s/s set on brokers %s\n", humanBytes(rate), brokerList(brokers))
		defer func() {
			// The command's context may be canceled (Ctrl-C): the throttle
			// must be removed all the same.
			cctx, cancel := context.WithTimeout(context.Background(), a.timeout)
			defer cancel()
			if cerr := a.clearThrottle(cctx, brokers); cerr != nil {
				fmt.Fprintf(out, "could not remove the throttle: %v\n", cerr)
				err = errors.Join(err, cerr)
				return
			}
			fmt.Fprintf(out, "throttle removed from brokers %s\n", brokerList(brokers))
		}()
	}
	accepted, rejected := a.submitMoves(ctx, moves, out)
	if len(accepted) == 0 {
		return nil, rejected
	}
	fmt.Fprintf(out, "submitted %d of %d %s\n", len(accepted), len(moves), plural(len(moves), "move", "moves"))
	if noWait {
		fmt.Fprintln(out, "not waiting for them: `troupe cluster status` lists the moves in progress")
		return accepted, rejected
	}
	if err := a.follow(ctx, accepted, out); err != nil {
		return accepted, errors.Join(rejected, err)
	}
	return accepted, rejected
}

// submitMoves sends the moves with AlterPartitionReassignments and writes
// a line per refused one. It returns the accepted moves, and an
// ErrMoveRejected error naming the first refusal if there was any (or the
// request's error when nothing could be submitted).
func (a *clusterAdmin) submitMoves(ctx context.Context, moves []move, out io.Writer) ([]move, error) {
	var req kadm.AlterPartitionAssignmentsReq
	for _, m := range moves {
		req.Assign(m.part.topic, m.part.partition, slices.Clone(m.to))
	}
	rctx, cancel := a.bound(ctx)
	resps, err := a.adm.AlterPartitionAssignments(rctx, req)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("cli: alter partition reassignments: %w", err)
	}
	var accepted []move
	var first error
	refused := 0
	for _, m := range moves {
		r, ok := resps[m.part.topic][m.part.partition]
		rerr := r.Err
		if !ok {
			rerr = errNoAnswer
		}
		if rerr == nil {
			accepted = append(accepted, m)
			continue
		}
		refused++
		fmt.Fprintf(out, "%s: rejected: %v%s\n", m.part, rerr, detail(r.ErrMessage))
		if first == nil {
			first = fmt.Errorf("%w: %s: %w%s", ErrMoveRejected, m.part, rerr, detail(r.ErrMessage))
		}
	}
	if refused > 1 {
		first = fmt.Errorf("%w (and %d more)", first, refused-1)
	}
	return accepted, first
}

// registered returns the ids of the registered brokers.
func (a *clusterAdmin) registered(ctx context.Context) ([]int32, error) {
	ctx, cancel := a.bound(ctx)
	defer cancel()
	md, err := a.adm.BrokerMetadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("cli: metadata: %w", err)
	}
	return md.Brokers.NodeIDs(), nil
}

// setThrottle sets both replication throttles to rate on brokers. On a
// partial failure it removes what it set.
func (a *clusterAdmin) setThrottle(ctx context.Context, brokers []int32, rate int64) error {
	v := strconv.FormatInt(rate, 10)
	err := a.alterBrokers(ctx, brokers, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: leaderThrottleKey, Value: &v},
		{Op: kadm.SetConfig, Name: followerThrottleKey, Value: &v},
	})
	if err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), a.timeout)
		defer cancel()
		_ = a.clearThrottle(cctx, brokers)
		return fmt.Errorf("cli: set replication throttle: %w", err)
	}
	return nil
}

// clearThrottle deletes both replication throttles on brokers.
func (a *clusterAdmin) clearThrottle(ctx context.Context, brokers []int32) error {
	err := a.alterBrokers(ctx, brokers, []kadm.AlterConfig{
		{Op: kadm.DeleteConfig, Name: leaderThrottleKey},
		{Op: kadm.DeleteConfig, Name: followerThrottleKey},
	})
	if err != nil {
		return fmt.Errorf("cli: remove replication throttle: %w", err)
	}
	return nil
}

// alterBrokers applies alters to each broker's dynamic configs
// (IncrementalAlterConfigs on BROKER resources) and returns the first
// failure.
func (a *clusterAdmin) alterBrokers(ctx context.Context, brokers []int32, alters []kadm.AlterConfig) error {
	ctx, cancel := a.bound(ctx)
	defer cancel()
	resps, err := a.adm.AlterBrokerConfigs(ctx, alters, brokers...)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, b := range brokers {
		name := strconv.Itoa(int(b))
		r, ok := findAlterResponse(resps, name)
		switch {
		case !ok && err == nil:
			errs = append(errs, fmt.Errorf("broker %d: %w", b, errNoAnswer))
		case ok && r.Err != nil:
			errs = append(errs, fmt.Errorf("broker %d: %w%s", b, r.Err, detail(r.ErrMessage)))
		}
	}
	return errors.Join(errs...)
}

func findAlterResponse(rs kadm.AlterConfigsResponses, name string) (kadm.AlterConfigsResponse, bool) {
	for _, r := range rs {
		if r.Name == name {
			return r, true
		}
	}
	return kadm.AlterConfigsResponse{}, false
}

// cancelMoves cancels the moves in progress of the plan file's partitions,
// or all of them when planFile is "".
func cancelMoves(ctx context.Context, opts Options, planFile string, out io.Writer) error {
	var s kadm.TopicsSet // nil: all
	if planFile != "" {
		plan, err := readPlanFile(planFile)
		if err != nil {
			return err
		}
		for _, pm := range plan {
			s.Add(pm.part.topic, pm.part.partition)
		}
	}
	return withClusterAdmin(opts, func(a *clusterAdmin) error {
		inFlight, err := a.listMoves(ctx, s)
		if err != nil {
			return err
		}
		if len(inFlight) == 0 {
			_, err := fmt.Fprintln(out, "no moves in progress: nothing to cancel")
			return err
		}
		var req kadm.AlterPartitionAssignmentsReq
		for _, m := range inFlight {
			req.CancelAssign(m.Topic, m.Partition)
		}
		rctx, cancel := a.bound(ctx)
		resps, err := a.adm.AlterPartitionAssignments(rctx, req)
		cancel()
		if err != nil {
			return fmt.Errorf("cli: cancel partition reassignments: %w", err)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		cancelled := 0
		var first error
		for _, m := range inFlight {
			p := tp{m.Topic, m.Partition}
			r, ok := resps[m.Topic][m.Partition]
			rerr := r.Err
			if !ok {
				rerr = errNoAnswer
			}
			switch {
			case rerr == nil:
				cancelled++
				fmt.Fprintf(tw, "%s\tcancelled\treplicas %s\tadding %s\tremoving %s\n", p, ints(m.Replicas), ints(m.AddingReplicas), ints(m.RemovingReplicas))
			case errors.Is(rerr, kerr.NoReassignmentInProgress):
				fmt.Fprintf(tw, "%s\tfinished before it could be cancelled\n", p)
			default:
				fmt.Fprintf(tw, "%s\tnot cancelled: %v%s\n", p, rerr, detail(r.ErrMessage))
				if first == nil {
					first = fmt.Errorf("cli: cancel move of %s: %w%s", p, rerr, detail(r.ErrMessage))
				}
			}
		}
		tw.Flush()
		fmt.Fprintf(out, "cancelled %d %s\n", cancelled, plural(cancelled, "move", "moves"))
		return first
	})
}

// waitQuiet polls until no partition is moving, bounded by ctx, saying
// on out that it waits if it does.
func (a *clusterAdmin) waitQuiet(ctx context.Context, out io.Writer) error {
	for said := false; ; said = true {
		moves, err := a.listMoves(ctx, nil)
		if err != nil {
			return err
		}
		if len(moves) == 0 {
			return nil
		}
		if !said {
			fmt.Fprintf(out, "waiting for the %d %s in progress to end first\n", len(moves), plural(len(moves), "move", "moves"))
		}
		t := time.NewTimer(progressPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
