package cluster

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// The rebalance planner.
//
// PlanRebalance turns a cluster's current placement into a list of replica
// list changes that reach four goals, in priority order:
//
//  1. placement rules: distinct brokers, every partition at its RF on
//     eligible brokers, replicas spread over racks as evenly as the racks
//     allow;
//  2. replicas per broker within one of even, overall and per topic;
//  3. preferred leaders per broker within one of even, overall and per
//     topic, by reordering replica lists first;
//  4. bytes on disk and bytes in per broker within a tolerance of the
//     mean, brokers above the disk usage threshold shedding first.
//
// A later goal never makes an earlier one worse: every step the planner
// takes after goal 1 holds keeps each partition valid and does not raise
// the sum of squares of the counts that goals 2 and 3 measure. A count
// vector is within one of even exactly when that sum is at its minimum, so
// "not raising it" keeps a goal that holds and never worsens one that
// cannot hold (unequal racks).
//
// The phases, one file each: placement (planner_place.go) fixes goal 1
// once; then counts (planner_counts.go), leaders (planner_leaders.go) and
// load (planner_load.go, planner_steps.go) run in a loop until a round
// changes nothing. planner_state.go holds the working state,
// planner_report.go and planner_bound.go what a Plan reports.
//
// The planner is a pure function: no IO, no clock, no goroutines, no
// randomness. Every choice is a minimum over a total order (ending in a
// broker or partition index), maps are only used for lookups, and every
// bounded search is bounded by a count of work, never by time, so the same
// input always gives the same plan. It is also a fixpoint: planning the
// state a plan produces yields no moves, because every phase acts only on a
// strict violation or a strict improvement, whether one exists does not
// depend on the input placement (see planState.stable), and the loop ends
// only when a round finds nothing.
//
// Not safe for concurrent use of one planState; the exported functions
// build their own and share nothing with their caller (the input is only
// read; the plan's slices are new).

// ErrInvalidPlanInput: a PlanInput the planner cannot interpret (a broker
// or partition listed twice, a negative size or disk figure, a load that is
// negative or not a number, a threshold or tolerance outside [0, 1]).
var ErrInvalidPlanInput = errors.New("cluster: invalid rebalance plan input")

// PlanBroker is a broker as the planner sees it.
type PlanBroker struct {
	ID int32 // broker.id
	// Rack is the broker's rack, "" for none. Either every eligible broker
	// has one or none does (else ErrIncompleteRackInfo); a leaving broker's
	// rack is ignored.
	Rack string
	// Leaving: the broker must end with no replicas (dead past its grace
	// period, or being decommissioned). It is not eligible for replicas.
	Leaving bool
	// DiskCapacity is the size in bytes of the broker's data disk; 0 =
	// unknown, and the disk usage threshold is then ignored for it.
	DiskCapacity int64
	// DiskUsed is the number of bytes used on that disk (all files, not
	// only ours); 0 = unknown, and the threshold is then ignored for it.
	DiskUsed int64
}

// PlanPartition is one partition's current placement and load.
type PlanPartition struct {
	Topic     string
	Partition int32 // partition number within the topic
	// Replicas are the current replicas, preferred leader first. They may
	// name unknown or leaving brokers, and may repeat one (the repeat is not
	// a replica).
	Replicas []int32
	// RF is the target replication factor; 0 = len(Replicas).
	RF int
	// Size is the number of bytes of one replica's log: what a move copies.
	Size int64
	// BytesIn is the produce rate into the partition in bytes/s; every
	// replica receives it.
	BytesIn float64
}

// PlanInput is everything the planner decides from.
type PlanInput struct {
	// Brokers are the brokers that may hold replicas, and those leaving.
	// A replica on a broker not listed is on an unknown broker: it counts
	// as missing and is replaced.
	Brokers []PlanBroker
	// Partitions are every partition the plan may move (in any order).
	Partitions []PlanPartition
	// DiskThreshold is the fraction of a disk's capacity above which a
	// broker sheds replicas (disk.usage.rebalance.threshold); 0 = 0.8.
	DiskThreshold float64
	// LoadTolerance is how far from the mean (as a fraction of it) a
	// broker's bytes on disk and bytes in may be; 0 = 0.10.
	LoadTolerance float64
	// LeadersOnly: only reorder replica lists (goal 3), never move data.
	// Goals 1, 2 and 4 are then only reported on.
	LeadersOnly bool
}

// Move changes one partition's replica list.
type Move struct {
	Topic     string
	Partition int32 // partition number within the topic
	// From is the partition's replica list as given; To is the new one,
	// To[0] being the new preferred leader.
	From, To []int32
	// Bytes is the number of bytes copied: Size × the number of replicas
	// in To that are not in From (0 for a pure reordering).
	Bytes int64
}

// Plan is the result of PlanRebalance.
type Plan struct {
	// Moves are sorted by topic, partition; a partition appears at most
	// once, and no move leaves its replica list as it was.
	Moves []Move
	// BytesMoved is the sum of Moves[i].Bytes.
	BytesMoved int64
	// LowerBound is a lower bound on the bytes that any plan reaching the
	// goals this plan reaches must copy; see lowerBound for how it is
	// computed. BytesMoved >= LowerBound always.
	LowerBound int64
	// Report says, per goal, whether it holds after the plan and why not.
	Report PlanReport
}

// Defaults for the zero values of PlanInput's fractions.
const (
	defaultDiskThreshold = 0.8
	defaultLoadTolerance = 0.10
)

// maxPlanRounds bounds the loop over the phases. Each round either changes
// nothing (and the loop ends) or strictly lowers the lexicographic potential
// (goal 2 squares, goal 3 squares, goal 4 penalty), so the bound only guards
// against a bug; in the tests every plan needs one round that changes and
// one that confirms.
const maxPlanRounds = 8

// PlanRebalance computes moves that reach the goals described at the top
// of this file, moving as few bytes as it can: it only touches a replica
// that a goal requires to move, prefers reordering to copying and small
// partitions to large ones. The plan's Report says which goals hold
// afterwards and why the others cannot, LowerBound what any plan reaching
// as much must copy. Errors: ErrInvalidPlanInput,
// ErrIncompleteRackInfo, ErrInvalidReplicationFactor (an RF below 1, or
// above the number of eligible brokers; a LeadersOnly plan accepts the
// latter and reports goal 1 as broken, since reordering is still useful
// while a broker is away).
func PlanRebalance(in PlanInput) (Plan, error) {
	s, err := newPlanState(in, nil)
	if err != nil {
		return Plan{}, err
	}
	if !in.LeadersOnly {
		s.fixPlacement()
	}
	s.optimize(!in.LeadersOnly, !in.LeadersOnly)
	return s.result(), nil
}

// PlaceNewPartitions places count new partitions (numbered from first) of
// topic with rf replicas so that, after adding them, goals 1–3 hold as well
// as possible given the existing partitions in in (for CreatePartitions,
// and CreateTopics without an explicit assignment). Existing partitions are
// never moved: only the new ones are placed and ordered, so an existing
// imbalance is reduced rather than repaired. The result maps partition →
// replicas, preferred leader first.
//
// Errors: those of PlanRebalance, ErrInvalidPartitions (count < 1, first <
// 0, or a new partition that already exists), ErrInvalidReplicationFactor
// (rf < 1 or above the number of eligible brokers).
func PlaceNewPartitions(in PlanInput, topic string, first int32, count, rf int) (map[int32][]int32, error) {
	if count <= 0 || first < 0 || int64(first)+int64(count) > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %d partitions from %d", ErrInvalidPartitions, count, first)
	}
	if rf <= 0 {
		return nil, fmt.Errorf("%w: %d (must be > 0)", ErrInvalidReplicationFactor, rf)
	}
	for _, p := range in.Partitions {
		if p.Topic == topic && p.Partition >= first && int64(p.Partition) < int64(first)+int64(count) {
			return nil, fmt.Errorf("%w: %s-%d already exists", ErrInvalidPartitions, topic, p.Partition)
		}
	}
	parts := make([]PlanPartition, 0, len(in.Partitions)+count)
	parts = append(parts, in.Partitions...)
	for i := 0; i < count; i++ {
		parts = append(parts, PlanPartition{Topic: topic, Partition: first + int32(i), RF: rf})
	}
	in.Partitions = parts
	last := int64(first) + int64(count) // exclusive
	isNew := func(p PlanPartition) bool {
		return p.Topic == topic && p.Partition >= first && int64(p.Partition) < last
	}
	s, err := newPlanState(in, isNew)
	if err != nil {
		return nil, err
	}
	s.fixPlacement()
	// Only counts and leaders: the new partitions carry no data yet, so
	// goal 4 has nothing to work with beyond the tie-breaks placement uses.
	s.optimize(true, false)
	out := make(map[int32][]int32, count)
	for p := range s.parts {
		if s.movable[p] {
			out[s.parts[p].Partition] = s.replicaIDs(p)
		}
	}
	return out, nil
}

// optimize runs the goal 2–4 phases until none changes anything.
func (s *planState) optimize(dataMoves, load bool) {
	for round := 0; round < maxPlanRounds; round++ {
		changed := false
		if dataMoves && s.balanceCounts() {
			changed = true
		}
		if s.balanceLeaders(dataMoves) {
			changed = true
		}
		if load && s.balanceLoad() {
			changed = true
		}
		if !changed {
			return
		}
	}
}

// result turns the state into a Plan.
func (s *planState) result() Plan {
	var pl Plan
	for p := range s.parts {
		if !s.movable[p] || !s.changed(p) {
			continue
		}
		m := Move{Topic: s.parts[p].Topic, Partition: s.parts[p].Partition, From: slices.Clone(s.orig[p]), To: s.replicaIDs(p)}
		for _, id := range m.To {
			if !slices.Contains(m.From, id) {
				m.Bytes += s.parts[p].Size
			}
		}
		pl.BytesMoved += m.Bytes
		pl.Moves = append(pl.Moves, m)
	}
	pl.Report = s.report()
	if !s.leadersOnly {
		pl.LowerBound = s.lowerBound()
	}
	return pl
}
