package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/troupe-mq/troupe/cluster"
)

// Broker configs the planner input reads.
const (
	decommissionedKey = "broker.decommissioned"
	diskThresholdKey  = "disk.usage.rebalance.threshold"
)

// RebalanceConfig describes `troupe cluster rebalance`.
type RebalanceConfig struct {
	// DryRun prints the plan and stops.
	DryRun bool
	// Throttle and NoWait are as in ReassignConfig.
	Throttle string
	NoWait   bool
}

// DecommissionConfig describes `troupe cluster decommission`.
type DecommissionConfig struct {
	Broker int32
	// Throttle and NoWait are as in ReassignConfig.
	Throttle string
	NoWait   bool
	// Cancel deletes broker.decommissioned from the broker instead, so
	// that it may receive replicas again. Moves already made stay.
	Cancel bool
}

// Rebalance plans moves that reach the planner's goals (cluster.
// PlanRebalance) from the cluster's current placement, prints the plan and,
// unless DryRun, carries it out and follows it; then it elects the
// preferred leader of every moved partition. It refuses to plan while
// partitions are moving (ErrMovesInProgress), except for a dry run.
func Rebalance(ctx context.Context, opts Options, cfg RebalanceConfig, out io.Writer) error {
	rate, err := throttleFor(cfg.Throttle, cfg.NoWait)
	if err != nil {
		return err
	}
	return withClusterAdmin(opts, func(a *clusterAdmin) error {
		inFlight, err := a.listMoves(ctx, nil)
		if err != nil {
			return err
		}
		if len(inFlight) > 0 {
			if !cfg.DryRun {
				return movesInProgress(inFlight)
			}
			fmt.Fprintf(out, "note: %d %s in progress; this plan counts their replica lists as they are now\n",
				len(inFlight), plural(len(inFlight), "move", "moves"))
		}
		in, err := a.planInput(ctx, -1)
		if err != nil {
			return err
		}
		plan, err := cluster.PlanRebalance(in)
		if err != nil {
			return fmt.Errorf("cli: plan rebalance: %w", err)
		}
		writePlan(out, plan)
		if cfg.DryRun || len(plan.Moves) == 0 {
			return nil
		}
		return a.carryOut(ctx, plan, rate, cfg.NoWait, out)
	})
}

// Decommission empties a broker: it plans with the broker leaving, sets
// broker.decommissioned on it (so that the controller places nothing
// there), submits the plan's moves and, unless NoWait, follows them until
// Metadata shows the broker in no replica list. The config is set only once
// a plan exists, so a plan that cannot be made (too few brokers left for a
// replication factor) changes nothing. With Cancel it deletes the config.
func Decommission(ctx context.Context, opts Options, cfg DecommissionConfig, out io.Writer) error {
	if cfg.Broker < 0 {
		return fmt.Errorf("%w: broker id %d", ErrInvalidArgument, cfg.Broker)
	}
	if cfg.Cancel {
		if cfg.Throttle != "" || cfg.NoWait {
			return fmt.Errorf("%w: --cancel takes no --throttle or --no-wait", ErrInvalidArgument)
		}
		return withClusterAdmin(opts, func(a *clusterAdmin) error {
			err := a.alterBrokers(ctx, []int32{cfg.Broker}, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: decommissionedKey}})
			if err != nil {
				return fmt.Errorf("cli: decommission --cancel: %w", err)
			}
			_, err = fmt.Fprintf(out, "broker %d: %s removed; it may receive replicas again\n", cfg.Broker, decommissionedKey)
			return err
		})
	}
	rate, err := throttleFor(cfg.Throttle, cfg.NoWait)
	if err != nil {
		return err
	}
	return withClusterAdmin(opts, func(a *clusterAdmin) error {
		md, err := a.metadata(ctx)
		if err != nil {
			return err
		}
		if !slices.Contains(md.Brokers.NodeIDs(), cfg.Broker) {
			return fmt.Errorf("%w: broker %d is not registered (registered: %s)", ErrInvalidArgument, cfg.Broker, brokerList(md.Brokers.NodeIDs()))
		}
		marked := false
		mark := func() error {
			if marked {
				return nil
			}
			v := "true"
			if err := a.alterBrokers(ctx, []int32{cfg.Broker}, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: decommissionedKey, Value: &v}}); err != nil {
				return fmt.Errorf("cli: decommission broker %d: %w", cfg.Broker, err)
			}
			marked = true
			_, err := fmt.Fprintf(out, "broker %d: %s=true; no replica is placed there any more\n", cfg.Broker, decommissionedKey)
			return err
		}
		// A controller rebalancing by itself (auto.rebalance.enable) may
		// start moves off the broker once it is marked, and a move may
		// still put a replica there; each round plans again from what is
		// left, once the cluster is quiet.
		for round := 1; ; round++ {
			if err := a.waitQuiet(ctx, out); err != nil {
				return err
			}
			in, err := a.planInput(ctx, cfg.Broker)
			if err != nil {
				return err
			}
			held := 0
			for _, p := range in.Partitions {
				if slices.Contains(p.Replicas, cfg.Broker) {
					held++
				}
			}
			if held == 0 {
				if err := mark(); err != nil {
					return err
				}
				_, err := fmt.Fprintf(out, "broker %d holds no replicas: it can be shut down\n", cfg.Broker)
				return err
			}
			if round > decommissionRounds {
				return fmt.Errorf("%w: broker %d holds %d after %d rounds of moves", ErrDecommissionIncomplete, cfg.Broker, held, decommissionRounds)
			}
			plan, err := cluster.PlanRebalance(in)
			if err != nil {
				return fmt.Errorf("cli: plan decommission of broker %d: %w", cfg.Broker, err)
			}
			if err := mark(); err != nil {
				return err
			}
			writePlan(out, plan)
			if len(plan.Moves) == 0 {
				continue
			}
			if err := a.carryOut(ctx, plan, rate, cfg.NoWait, out); err != nil {
				return err
			}
			if cfg.NoWait {
				return nil
			}
		}
	})
}

// decommissionRounds bounds the plan-and-move rounds of a decommission.
const decommissionRounds = 3

func movesInProgress(inFlight []kadm.ListPartitionReassignmentsResponse) error {
	m := inFlight[0]
	return fmt.Errorf("%w: %d (%s first); wait for them (`troupe cluster status`) or cancel them (`troupe cluster reassign --cancel`)",
		ErrMovesInProgress, len(inFlight), tp{m.Topic, m.Partition})
}

// carryOut submits a plan's moves, follows them unless noWait, and then
// elects the moved partitions' preferred leaders.
func (a *clusterAdmin) carryOut(ctx context.Context, plan cluster.Plan, rate int64, noWait bool, out io.Writer) error {
	moves := make([]move, len(plan.Moves))
	for i, m := range plan.Moves {
		moves[i] = move{part: tp{m.Topic, m.Partition}, from: m.From, to: m.To, bytes: m.Bytes}
	}
	accepted, err := a.runMoves(ctx, moves, rate, noWait, out)
	if noWait || len(accepted) == 0 || ctx.Err() != nil {
		return err
	}
	// A move changes the preferred leader (the first replica) but not the
	// leader: elect it, so that leaders are balanced as the plan says.
	var s kadm.TopicsSet
	for _, m := range accepted {
		s.Add(m.part.topic, m.part.partition)
	}
	results, eerr := a.electLeaders(ctx, false, s)
	if eerr != nil {
		fmt.Fprintf(out, "preferred leaders not elected: %v\n", eerr)
		return err
	}
	var elected, notNeeded, failed int
	for _, r := range results {
		switch {
		case r.err == nil:
			elected++
		case errors.Is(r.err, kerr.ElectionNotNeeded):
			notNeeded++
		default:
			failed++
			a.log.Warn().Str("partition", r.part.String()).Err(r.err).Msg("preferred leader not elected")
		}
	}
	fmt.Fprintf(out, "preferred leaders: %d elected, %d leading already, %d not elected\n", elected, notNeeded, failed)
	return err
}

// planInput gathers the planner's view of the cluster: the registered
// brokers with their racks (Metadata), which of them are leaving
// (broker.decommissioned, and leaving when >= 0), their disks
// (DescribeLogDirs: capacity = TotalBytes, used = TotalBytes -
// UsableBytes), and each partition's replicas (Metadata) and size (its
// leader's replica, or its largest). Clients cannot see produce rates, so
// BytesIn is 0. A broker that does not describe its log directories gets
// unknown disk figures; one whose configs cannot be read fails the whole,
// since planning without knowing it is leaving could move replicas onto it.
func (a *clusterAdmin) planInput(ctx context.Context, leaving int32) (cluster.PlanInput, error) {
	var in cluster.PlanInput
	md, err := a.metadata(ctx)
	if err != nil {
		return in, err
	}
	ids := md.Brokers.NodeIDs()
	configs := map[int32]map[string]string{}
	if len(ids) > 0 {
		rctx, cancel := a.bound(ctx)
		rcs, err := a.adm.DescribeBrokerConfigs(rctx, ids...)
		cancel()
		if err != nil {
			return in, fmt.Errorf("cli: describe broker configs: %w", err)
		}
		for _, id := range ids {
			rc, err := rcs.On(strconv.Itoa(int(id)), nil)
			if err == nil {
				err = rc.Err
			}
			if err != nil {
				return in, fmt.Errorf("cli: describe broker %d configs: %w%s", id, err, detail(rc.ErrMessage))
			}
			kv := map[string]string{}
			for _, c := range rc.Configs {
				kv[c.Key] = c.MaybeValue()
			}
			configs[id] = kv
		}
	}
	disks, derr := a.logDirs(ctx, nil)
	if derr != nil {
		a.log.Warn().Err(derr).Msg("some brokers did not describe their log directories; their disks count as unknown")
	}
	for _, b := range md.Brokers {
		pb := cluster.PlanBroker{ID: b.NodeID, Leaving: b.NodeID == leaving || configs[b.NodeID][decommissionedKey] == "true"}
		if b.Rack != nil {
			pb.Rack = *b.Rack
		}
		if d, ok := disks[b.NodeID]; ok && d.total > 0 && d.usable >= 0 {
			pb.DiskCapacity, pb.DiskUsed = d.total, d.total-d.usable
		}
		in.Brokers = append(in.Brokers, pb)
	}
	// The threshold is a cluster-wide setting in practice; the
	// controller's value wins, any broker's will do.
	for _, id := range append([]int32{md.Controller}, ids...) {
		if v, ok := configs[id][diskThresholdKey]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 && f <= 1 {
				in.DiskThreshold = f
			}
			break
		}
	}
	for _, p := range partitionsOf(md) {
		in.Partitions = append(in.Partitions, cluster.PlanPartition{Topic: p.Topic, Partition: p.Partition,
			Replicas: slices.Clone(p.Replicas), Size: partitionSize(p, disks)})
	}
	return in, nil
}

// writePlan writes a plan: its moves, totals, and the goal report.
func writePlan(out io.Writer, plan cluster.Plan) {
	moves := make([]move, len(plan.Moves))
	for i, m := range plan.Moves {
		moves[i] = move{part: tp{m.Topic, m.Partition}, from: m.From, to: m.To, bytes: m.Bytes}
	}
	if len(moves) == 0 {
		fmt.Fprintln(out, "no moves: the placement reaches every goal it can")
	}
	writeMoves(out, moves)
	fmt.Fprintf(out, "moves %d, bytes to copy %s, lower bound %s\n", len(plan.Moves), humanBytes(plan.BytesMoved), humanBytes(plan.LowerBound))
	writeReport(out, plan.Report)
}

// writeReport writes the planner's report on the goals and brokers after
// the plan.
func writeReport(out io.Writer, r cluster.PlanReport) {
	if s, ok := any(r).(fmt.Stringer); ok {
		fmt.Fprintln(out, s.String())
		return
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "goals after the plan:")
	for _, g := range r.Goals {
		state := "holds"
		if !g.Satisfied {
			state = "not met: " + g.Reason
		}
		fmt.Fprintf(tw, "  %d %s\t%s\n", int(g.Goal), g.Goal, state)
	}
	if len(r.Brokers) > 0 {
		fmt.Fprintln(tw, "brokers after the plan:")
		fmt.Fprintln(tw, "  BROKER\tREPLICAS\tLEADERS\tDATA\tDISK USED")
		for _, b := range r.Brokers {
			used := "-"
			if b.DiskUsed > 0 {
				used = humanBytes(b.DiskUsed)
			}
			fmt.Fprintf(tw, "  %d\t%d\t%d\t%s\t%s\n", b.ID, b.Replicas, b.Leaders, humanBytes(b.Bytes), used)
		}
	}
	tw.Flush()
}
