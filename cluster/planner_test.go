package cluster

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The oracle below recomputes everything from the input and the moves, with
// none of the planner's code, so a planner bug cannot hide in a shared
// helper.

// planOutcome is the placement a plan leads to, as the tests see it.
type planOutcome struct {
	in       PlanInput
	final    map[string][]int32 // "topic/partition" → replicas after the plan
	eligible []int32            // sorted
	rackOf   map[int32]string
}

func pkey(topic string, partition int32) string { return fmt.Sprintf("%s/%d", topic, partition) }

// applyPlan checks the shape of pl and returns the outcome of applying it.
func applyPlan(t *testing.T, in PlanInput, pl Plan) planOutcome {
	t.Helper()
	o := planOutcome{in: in, final: map[string][]int32{}, rackOf: map[int32]string{}}
	for _, b := range in.Brokers {
		if !b.Leaving {
			o.eligible = append(o.eligible, b.ID)
			o.rackOf[b.ID] = b.Rack
		}
	}
	slices.Sort(o.eligible)
	size := map[string]int64{}
	from := map[string][]int32{}
	for _, p := range in.Partitions {
		k := pkey(p.Topic, p.Partition)
		o.final[k] = p.Replicas
		size[k] = p.Size
		from[k] = p.Replicas
	}
	var total int64
	for i, m := range pl.Moves {
		k := pkey(m.Topic, m.Partition)
		if i > 0 {
			prev := pl.Moves[i-1]
			if prev.Topic > m.Topic || (prev.Topic == m.Topic && prev.Partition >= m.Partition) {
				t.Fatalf("moves not sorted or repeated at %d: %s-%d after %s-%d", i, m.Topic, m.Partition, prev.Topic, prev.Partition)
			}
		}
		if _, ok := from[k]; !ok {
			t.Fatalf("move of unknown partition %s", k)
		}
		if !slices.Equal(m.From, from[k]) {
			t.Fatalf("move %s: From %v, input %v", k, m.From, from[k])
		}
		if slices.Equal(m.From, m.To) {
			t.Fatalf("no-op move %s", k)
		}
		var bytes int64
		for _, b := range m.To {
			if !slices.Contains(m.From, b) {
				bytes += size[k]
			}
		}
		if bytes != m.Bytes {
			t.Fatalf("move %s: Bytes %d, want %d", k, m.Bytes, bytes)
		}
		total += bytes
		o.final[k] = m.To
	}
	if total != pl.BytesMoved {
		t.Fatalf("BytesMoved %d, sum of moves %d", pl.BytesMoved, total)
	}
	if pl.BytesMoved < pl.LowerBound {
		t.Fatalf("BytesMoved %d below LowerBound %d", pl.BytesMoved, pl.LowerBound)
	}
	return o
}

// next is the input for planning again once pl is carried out: replicas as
// the plan leaves them, and disk usage changed by the bytes that came and
// went.
func (o planOutcome) next() PlanInput {
	in := o.in
	in.Partitions = slices.Clone(in.Partitions)
	delta := map[int32]int64{}
	for i, p := range in.Partitions {
		to := o.final[pkey(p.Topic, p.Partition)]
		for _, b := range distinct(to) {
			delta[b] += p.Size
		}
		for _, b := range distinct(p.Replicas) {
			delta[b] -= p.Size
		}
		in.Partitions[i].Replicas = to
	}
	in.Brokers = slices.Clone(in.Brokers)
	for i, b := range in.Brokers {
		if b.DiskUsed > 0 {
			in.Brokers[i].DiskUsed = max(1, b.DiskUsed+delta[b.ID])
		}
	}
	return in
}

func distinct(r []int32) []int32 {
	var out []int32
	for _, b := range r {
		if !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out
}

func (o planOutcome) rf(p PlanPartition) int {
	if p.RF == 0 {
		return len(p.Replicas)
	}
	return p.RF
}

// rackSizes counts eligible brokers per rack ("" = one rack of all).
func (o planOutcome) rackSizes() map[string]int {
	m := map[string]int{}
	for _, b := range o.eligible {
		m[o.rackOf[b]]++
	}
	return m
}

// goal1 returns why the outcome breaks goal 1, "" if it does not. Rack
// spread is checked by its defining property: no rack with a free broker
// holds two fewer replicas of the partition than another rack.
func (o planOutcome) goal1() string {
	sizes := o.rackSizes()
	for _, p := range o.in.Partitions {
		r := o.final[pkey(p.Topic, p.Partition)]
		if len(r) != o.rf(p) {
			return fmt.Sprintf("%s-%d has %d replicas, RF %d", p.Topic, p.Partition, len(r), o.rf(p))
		}
		per := map[string]int{}
		for i, b := range r {
			if !slices.Contains(o.eligible, b) {
				return fmt.Sprintf("%s-%d on ineligible %d", p.Topic, p.Partition, b)
			}
			if slices.Contains(r[:i], b) {
				return fmt.Sprintf("%s-%d twice on %d", p.Topic, p.Partition, b)
			}
			per[o.rackOf[b]]++
		}
		for ri, si := range sizes {
			for rj := range sizes {
				if per[ri] < si && per[ri] <= per[rj]-2 {
					return fmt.Sprintf("%s-%d: rack %q has %d, rack %q %d", p.Topic, p.Partition, ri, per[ri], rj, per[rj])
				}
			}
		}
	}
	return ""
}

// spreads returns max−min over eligible brokers of replicas and leaders,
// overall and the worst topic.
func (o planOutcome) spreads() (cnt, cntT, lead, leadT int) {
	c := map[int32]int{}
	l := map[int32]int{}
	ct := map[string]map[int32]int{}
	lt := map[string]map[int32]int{}
	for _, p := range o.in.Partitions {
		if ct[p.Topic] == nil {
			ct[p.Topic], lt[p.Topic] = map[int32]int{}, map[int32]int{}
		}
		r := o.final[pkey(p.Topic, p.Partition)]
		for i, b := range r {
			if i > 0 && slices.Contains(r[:i], b) {
				continue
			}
			c[b]++
			ct[p.Topic][b]++
		}
		if len(r) > 0 {
			l[r[0]]++
			lt[p.Topic][r[0]]++
		}
	}
	spread := func(m map[int32]int) int {
		lo, hi := math.MaxInt, 0
		for _, b := range o.eligible {
			lo, hi = min(lo, m[b]), max(hi, m[b])
		}
		return hi - lo
	}
	cnt, lead = spread(c), spread(l)
	for topic := range ct {
		cntT, leadT = max(cntT, spread(ct[topic])), max(leadT, spread(lt[topic]))
	}
	return
}

// loads returns bytes on disk and bytes in per eligible broker.
func (o planOutcome) loads() (disk map[int32]int64, in map[int32]float64) {
	disk, in = map[int32]int64{}, map[int32]float64{}
	for _, p := range o.in.Partitions {
		for _, b := range o.final[pkey(p.Topic, p.Partition)] {
			disk[b] += p.Size
			in[b] += p.BytesIn
		}
	}
	return disk, in
}

// withinTolerance reports whether every eligible broker's bytes and bytes
// in are within tol of the mean.
func (o planOutcome) withinTolerance(tol float64) bool {
	disk, in := o.loads()
	var sd, si float64
	for _, b := range o.eligible {
		sd += float64(disk[b])
		si += in[b]
	}
	md, mi := sd/float64(len(o.eligible)), si/float64(len(o.eligible))
	for _, b := range o.eligible {
		if math.Abs(float64(disk[b])-md) > tol*md+1e-9 || math.Abs(in[b]-mi) > tol*mi+1e-9 {
			return false
		}
	}
	return true
}

// belowThreshold reports whether every eligible broker with known disk
// figures ends at most at thr of its capacity, its usage changed by the
// bytes that came and went.
func (o planOutcome) belowThreshold(thr float64) bool {
	next := o.next()
	for _, b := range next.Brokers {
		if !b.Leaving && b.DiskCapacity > 0 && b.DiskUsed > 0 && float64(b.DiskUsed) > thr*float64(b.DiskCapacity) {
			return false
		}
	}
	return true
}

func mustPlan(t *testing.T, in PlanInput) (Plan, planOutcome) {
	t.Helper()
	pl, err := PlanRebalance(in)
	if err != nil {
		t.Fatal(err)
	}
	return pl, applyPlan(t, in, pl)
}

// ring places parts partitions of topic on brokers round robin (broker
// list order), rf consecutive brokers each, leaders rotating.
func ring(topic string, parts, rf int, brokers []int32, size int64) []PlanPartition {
	var out []PlanPartition
	for p := 0; p < parts; p++ {
		var r []int32
		for j := 0; j < rf; j++ {
			r = append(r, brokers[(p+j)%len(brokers)])
		}
		out = append(out, PlanPartition{Topic: topic, Partition: int32(p), Replicas: r, Size: size, BytesIn: float64(size) / 10})
	}
	return out
}

func brokersN(ids ...int32) []PlanBroker {
	var out []PlanBroker
	for _, id := range ids {
		out = append(out, PlanBroker{ID: id})
	}
	return out
}

func TestPlanRebalanceCases(t *testing.T) {
	type want struct {
		goals    [4]bool // satisfied per goal
		reason   string  // substring of some goal's reason
		moves    int     // -1 = don't check
		bytes    int64   // -1 = don't check
		atBound  bool    // BytesMoved == LowerBound
		noMoveTo []int32 // brokers that must end empty (leaving)
	}
	allGoals := [4]bool{true, true, true, true}
	cases := []struct {
		name  string
		in    PlanInput
		check func(t *testing.T, pl Plan, o planOutcome)
		want  want
	}{
		{
			// 72 replicas over 4 brokers: 18 each, 6 leaders each. Exactly
			// 18 replicas must reach broker 4 and nothing else may move.
			name: "NewBrokerJoins",
			in: PlanInput{Brokers: brokersN(1, 2, 3, 4),
				Partitions: ring("t", 24, 3, []int32{1, 2, 3}, 100)},
			want: want{goals: allGoals, moves: -1, bytes: 1800, atBound: true},
		},
		{
			name: "BrokerLeaving",
			in: PlanInput{Brokers: []PlanBroker{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4, Leaving: true}},
				Partitions: ring("t", 12, 2, []int32{1, 2, 3, 4}, 10)},
			// Broker 4 holds 6 replicas; each must be copied once.
			want: want{goals: allGoals, moves: -1, bytes: 60, atBound: true, noMoveTo: []int32{4}},
		},
		{
			// Three racks of two; a rack-unaware ring put two replicas of
			// many partitions in one rack.
			name: "Racks3x2",
			in: PlanInput{Brokers: []PlanBroker{{1, "a", false, 0, 0}, {2, "a", false, 0, 0}, {3, "b", false, 0, 0},
				{4, "b", false, 0, 0}, {5, "c", false, 0, 0}, {6, "c", false, 0, 0}},
				Partitions: ring("t", 12, 3, []int32{1, 2, 3, 4, 5, 6}, 10)},
			want: want{goals: allGoals, moves: -1, bytes: -1, atBound: true},
		},
		{
			// RF 3 over racks of 1, 2 and 3 brokers: every partition needs
			// broker 1, so it holds all 12 while even is 6.
			name: "UnequalRacks",
			in: PlanInput{Brokers: []PlanBroker{{1, "a", false, 0, 0}, {2, "b", false, 0, 0}, {3, "b", false, 0, 0},
				{4, "c", false, 0, 0}, {5, "c", false, 0, 0}, {6, "c", false, 0, 0}},
				Partitions: ring("t", 12, 3, []int32{1, 2, 3, 4, 5, 6}, 10)},
			check: func(t *testing.T, pl Plan, o planOutcome) {
				for _, b := range pl.Report.Brokers {
					if b.ID == 1 && b.Replicas != 12 {
						t.Errorf("broker 1 holds %d replicas, want all 12", b.Replicas)
					}
				}
			},
			// Broker 1's bytes are twice the mean for the same reason.
			want: want{goals: [4]bool{true, false, true, false}, reason: `3 racks for RF 3 but rack "a" has 1 broker(s)`, moves: -1, bytes: -1},
		},
		{
			// Topic "big" has partitions ten times the size of "small"'s,
			// all on brokers 1 and 2 at first, "small" on 3 and 4:
			// per-topic balance moves two of each topic per broker and
			// that alone evens the bytes (4 × 1000 + 4 × 100).
			name: "SkewedTopicLoad",
			in: PlanInput{Brokers: brokersN(1, 2, 3, 4),
				Partitions: append(ring("big", 8, 1, []int32{1, 2}, 1000), ring("small", 8, 1, []int32{3, 4}, 100)...)},
			want: want{goals: allGoals, moves: -1, bytes: 4400, atBound: true},
		},
		{
			// Sizes within one topic differ tenfold and the counts are
			// already even: only swaps can even the bytes.
			name: "SkewedSizesNeedSwaps",
			in: PlanInput{Brokers: brokersN(1, 2),
				Partitions: []PlanPartition{
					{Topic: "t", Partition: 0, Replicas: []int32{1}, Size: 1000, BytesIn: 10},
					{Topic: "t", Partition: 1, Replicas: []int32{2}, Size: 100, BytesIn: 10},
					{Topic: "t", Partition: 2, Replicas: []int32{1}, Size: 1000, BytesIn: 10},
					{Topic: "t", Partition: 3, Replicas: []int32{2}, Size: 100, BytesIn: 10},
				}},
			want: want{goals: allGoals, moves: 2, bytes: 1100},
		},
		{
			// Broker 1's disk is 90% full (threshold 80%) mostly with
			// other files; counts are even, so it swaps its largest
			// replica for a small one.
			name: "DiskAboveThresholdSheds",
			in: PlanInput{Brokers: []PlanBroker{{ID: 1, DiskCapacity: 10000, DiskUsed: 9000}, {ID: 2, DiskCapacity: 10000, DiskUsed: 3000},
				{ID: 3, DiskCapacity: 10000, DiskUsed: 3000}},
				LoadTolerance: 1, // only the threshold matters here
				Partitions: []PlanPartition{
					{Topic: "t", Partition: 0, Replicas: []int32{1, 2}, Size: 1500},
					{Topic: "t", Partition: 1, Replicas: []int32{2, 3}, Size: 100},
					{Topic: "t", Partition: 2, Replicas: []int32{3, 1}, Size: 200},
				}},
			check: func(t *testing.T, pl Plan, o planOutcome) {
				for _, b := range pl.Report.Brokers {
					if b.ID == 1 && b.DiskUsed > 8000 {
						t.Errorf("broker 1 projected %d bytes used, want <= 8000", b.DiskUsed)
					}
				}
			},
			want: want{goals: allGoals, moves: -1, bytes: 1600},
		},
		{
			// Broker 1's disk is full of other files: no placement of ours
			// gets it below the threshold, so nothing moves for it.
			name: "ThresholdOutOfReach",
			in: PlanInput{Brokers: []PlanBroker{{ID: 1, DiskCapacity: 1000, DiskUsed: 960}, {ID: 2}},
				Partitions: ring("t", 2, 1, []int32{1, 2}, 10)},
			want: want{goals: [4]bool{true, true, true, false}, reason: "other files alone use 95.0%", moves: 0, bytes: 0},
		},
		{
			name: "LeadersOnlyReorders",
			in: PlanInput{Brokers: brokersN(1, 2, 3, 4), LeadersOnly: true,
				Partitions: func() []PlanPartition {
					ps := ring("t", 8, 3, []int32{1, 2, 3, 4}, 100)
					for i := range ps { // every leader on broker 1 or 2
						r := ps[i].Replicas
						if j := slices.Index(r, 1); j > 0 {
							r[0], r[j] = r[j], r[0]
						} else if j := slices.Index(r, 2); j > 0 {
							r[0], r[j] = r[j], r[0]
						}
					}
					return ps
				}()},
			check: func(t *testing.T, pl Plan, o planOutcome) {
				for _, m := range pl.Moves {
					if !sameSet(m.From, m.To) {
						t.Errorf("LeadersOnly changed replica set of %s-%d: %v → %v", m.Topic, m.Partition, m.From, m.To)
					}
				}
			},
			want: want{goals: allGoals, moves: -1, bytes: 0},
		},
		{
			name: "AlreadyBalanced",
			in: PlanInput{Brokers: brokersN(1, 2, 3, 4),
				Partitions: ring("t", 8, 2, []int32{1, 2, 3, 4}, 100)},
			want: want{goals: allGoals, moves: 0, bytes: 0},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pl, o := mustPlan(t, tc.in)
			for g := GoalPlacement; g <= GoalLoadBalance; g++ {
				if pl.Report.Satisfied(g) != tc.want.goals[g-1] {
					t.Errorf("goal %d (%v) satisfied = %v, want %v (%s)", g, g, pl.Report.Satisfied(g), tc.want.goals[g-1], pl.Report.Goals[g-1].Reason)
				}
			}
			if tc.want.reason != "" {
				found := false
				for _, g := range pl.Report.Goals {
					found = found || strings.Contains(g.Reason, tc.want.reason)
				}
				if !found {
					t.Errorf("no reason contains %q: %+v", tc.want.reason, pl.Report.Goals)
				}
			}
			if why := o.goal1(); why != "" && !tc.in.LeadersOnly {
				t.Errorf("goal 1 broken: %s", why)
			}
			if tc.want.goals[1] {
				if c, ct, _, _ := o.spreads(); c > 1 || ct > 1 {
					t.Errorf("replica spread %d, per topic %d", c, ct)
				}
			}
			if tc.want.goals[2] {
				if _, _, l, lt := o.spreads(); l > 1 || lt > 1 {
					t.Errorf("leader spread %d, per topic %d", l, lt)
				}
			}
			if tc.want.moves >= 0 && len(pl.Moves) != tc.want.moves {
				t.Errorf("%d moves, want %d: %+v", len(pl.Moves), tc.want.moves, pl.Moves)
			}
			if tc.want.bytes >= 0 && pl.BytesMoved != tc.want.bytes {
				t.Errorf("BytesMoved %d, want %d", pl.BytesMoved, tc.want.bytes)
			}
			if tc.want.atBound && pl.BytesMoved != pl.LowerBound {
				t.Errorf("BytesMoved %d, LowerBound %d: want equal", pl.BytesMoved, pl.LowerBound)
			}
			for _, b := range tc.want.noMoveTo {
				for k, r := range o.final {
					if slices.Contains(r, b) {
						t.Errorf("%s still on broker %d", k, b)
					}
				}
			}
			if tc.check != nil {
				tc.check(t, pl, o)
			}
			// Idempotence: planning the outcome moves nothing.
			again, err := PlanRebalance(o.next())
			if err != nil {
				t.Fatal(err)
			}
			if len(again.Moves) != 0 {
				t.Errorf("second plan has %d moves: %+v", len(again.Moves), again.Moves)
			}
		})
	}
}

func sameSet(a, b []int32) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func TestPlanRebalanceErrors(t *testing.T) {
	three := brokersN(1, 2, 3)
	cases := []struct {
		name string
		in   PlanInput
		want error
	}{
		{"RFAboveBrokers", PlanInput{Brokers: three, Partitions: []PlanPartition{{Topic: "t", Replicas: []int32{1}, RF: 4}}}, ErrInvalidReplicationFactor},
		{"RFAboveEligible", PlanInput{Brokers: []PlanBroker{{ID: 1}, {ID: 2}, {ID: 3, Leaving: true}},
			Partitions: []PlanPartition{{Topic: "t", Replicas: []int32{1, 2, 3}}}}, ErrInvalidReplicationFactor},
		{"RFZeroNoReplicas", PlanInput{Brokers: three, Partitions: []PlanPartition{{Topic: "t"}}}, ErrInvalidReplicationFactor},
		{"NegativeRF", PlanInput{Brokers: three, Partitions: []PlanPartition{{Topic: "t", Replicas: []int32{1}, RF: -1}}}, ErrInvalidReplicationFactor},
		{"SomeRacks", PlanInput{Brokers: []PlanBroker{{ID: 1, Rack: "a"}, {ID: 2}}}, ErrIncompleteRackInfo},
		{"DuplicateBroker", PlanInput{Brokers: brokersN(1, 1)}, ErrInvalidPlanInput},
		{"DuplicatePartition", PlanInput{Brokers: three, Partitions: []PlanPartition{{Topic: "t", Replicas: []int32{1}}, {Topic: "t", Replicas: []int32{2}}}}, ErrInvalidPlanInput},
		{"NegativeSize", PlanInput{Brokers: three, Partitions: []PlanPartition{{Topic: "t", Replicas: []int32{1}, Size: -1}}}, ErrInvalidPlanInput},
		{"BadThreshold", PlanInput{Brokers: three, DiskThreshold: 1.5}, ErrInvalidPlanInput},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PlanRebalance(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "cluster: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
	// Nothing to plan is not an error.
	if pl, err := PlanRebalance(PlanInput{}); err != nil || len(pl.Moves) != 0 {
		t.Errorf("empty input: %+v, %v", pl, err)
	}
	// A leaving rack-less broker does not make rack info incomplete.
	_, err := PlanRebalance(PlanInput{Brokers: []PlanBroker{{ID: 1, Rack: "a"}, {ID: 2, Rack: "b"}, {ID: 3, Leaving: true}}})
	must(t, err)
}

func TestPlanRebalanceUnknownAndDuplicateReplicas(t *testing.T) {
	in := PlanInput{Brokers: brokersN(1, 2, 3),
		Partitions: []PlanPartition{
			{Topic: "t", Partition: 0, Replicas: []int32{9, 1, 1}, RF: 2, Size: 5}, // unknown 9, 1 repeated
			{Topic: "t", Partition: 1, Replicas: []int32{2, 3, 1}, RF: 2, Size: 5}, // one too many
			{Topic: "t", Partition: 2, Replicas: []int32{3}, RF: 2, Size: 5},       // one too few
		}}
	pl, o := mustPlan(t, in)
	if why := o.goal1(); why != "" {
		t.Fatal(why)
	}
	if pl.BytesMoved != 10 || pl.LowerBound != 10 {
		t.Errorf("BytesMoved %d, LowerBound %d, want 10 and 10 (one copy each for p0 and p2)", pl.BytesMoved, pl.LowerBound)
	}
}

func TestPlanRebalanceCappedRacks(t *testing.T) {
	// RF 4 over racks of 1 and 4 brokers: the small rack is full with one
	// replica, the large one takes three.
	in := PlanInput{Brokers: []PlanBroker{{1, "a", false, 0, 0}, {2, "b", false, 0, 0}, {3, "b", false, 0, 0}, {4, "b", false, 0, 0}, {5, "b", false, 0, 0}},
		Partitions: ring("t", 5, 4, []int32{2, 3, 4, 5, 1}, 1)}
	pl, o := mustPlan(t, in)
	if why := o.goal1(); why != "" {
		t.Fatal(why)
	}
	if pl.Report.Satisfied(GoalPlacement) || !strings.Contains(pl.Report.Goals[0].Reason, `rack "a" has 1 broker(s)`) {
		t.Errorf("goal 1 report %+v, want unsatisfied for the small rack", pl.Report.Goals[0])
	}
}

func TestPlanPlaceNewPartitions(t *testing.T) {
	base := PlanInput{Brokers: brokersN(1, 2, 3, 4, 5)}
	base.Partitions = ring("old", 10, 3, []int32{1, 2, 3, 4, 5}, 10)
	got, err := PlaceNewPartitions(base, "new", 0, 6, 2)
	must(t, err)
	if len(got) != 6 {
		t.Fatalf("%d partitions, want 6", len(got))
	}
	in := base
	for p := int32(0); p < 6; p++ {
		in.Partitions = append(in.Partitions, PlanPartition{Topic: "new", Partition: p, Replicas: got[p]})
	}
	o := applyPlan(t, in, Plan{})
	if why := o.goal1(); why != "" {
		t.Fatal(why)
	}
	if c, ct, l, lt := o.spreads(); c > 1 || ct > 1 || l > 1 || lt > 1 {
		t.Errorf("spreads after placing: replicas %d (topic %d), leaders %d (topic %d)", c, ct, l, lt)
	}
	// An existing partition may still name a broker that is down (9 is
	// not live): it is taken as it is, even with more replicas than there
	// are live brokers.
	withDown := base
	withDown.Partitions = append(slices.Clone(base.Partitions), PlanPartition{Topic: "old", Partition: 10, Replicas: []int32{1, 2, 3, 4, 5, 9}})
	if _, err := PlaceNewPartitions(withDown, "new", 0, 2, 3); err != nil {
		t.Errorf("existing partition on a down broker: %v", err)
	}
	// Numbering and errors.
	got, err = PlaceNewPartitions(base, "old", 10, 2, 3)
	must(t, err)
	if _, ok := got[11]; !ok || len(got) != 2 {
		t.Errorf("partitions %v, want 10 and 11", got)
	}
	_, err = PlaceNewPartitions(base, "old", 9, 2, 3)
	mustErr(t, err, ErrInvalidPartitions)
	_, err = PlaceNewPartitions(base, "x", 0, 0, 3)
	mustErr(t, err, ErrInvalidPartitions)
	_, err = PlaceNewPartitions(base, "x", 0, 1, 6)
	mustErr(t, err, ErrInvalidReplicationFactor)
}

// randomCluster draws a cluster for the property tests: 1–12 brokers (some
// leaving), racks or not (sizes unequal at random, equal when equalRacks),
// a few topics with random partition counts, RF and sizes, and current
// placements that are unbalanced, too short or too long, and partly on
// leaving or unknown brokers.
func randomCluster(rng *rand.Rand, equalRacks bool) PlanInput {
	return randomClusterSized(rng, equalRacks, 12, 5, 20)
}

// randomClusterSized is randomCluster with up to maxBrokers brokers,
// maxTopics topics and maxParts partitions per topic.
func randomClusterSized(rng *rand.Rand, equalRacks bool, maxBrokers, maxTopics, maxParts int) PlanInput {
	var in PlanInput
	nb := 1 + rng.IntN(maxBrokers)
	ids := rng.Perm(maxBrokers + 8)[:nb]
	racks := 0
	switch rng.IntN(3) {
	case 1:
		racks = 1 + rng.IntN(4)
	case 2:
		if equalRacks {
			racks = 1 + rng.IntN(4)
		}
	}
	eligible := 0
	for i, id := range ids {
		b := PlanBroker{ID: int32(id)}
		if racks > 0 {
			if equalRacks {
				b.Rack = fmt.Sprintf("r%d", i%racks)
			} else {
				b.Rack = fmt.Sprintf("r%d", rng.IntN(racks))
			}
		}
		if i > 0 && rng.IntN(7) == 0 {
			b.Leaving = true
		} else {
			eligible++
		}
		if rng.IntN(3) == 0 {
			b.DiskCapacity = 1 << 20
			b.DiskUsed = int64(rng.IntN(1 << 20))
		}
		in.Brokers = append(in.Brokers, b)
	}
	if equalRacks && racks > 0 {
		// Leaving brokers would make the eligible racks unequal: keep
		// whole racks or nothing.
		for i := range in.Brokers {
			in.Brokers[i].Leaving = false
		}
		in.Brokers = in.Brokers[:len(in.Brokers)/racks*racks]
		if len(in.Brokers) == 0 {
			in.Brokers = []PlanBroker{{ID: 1000, Rack: "r0"}}
		}
		eligible = len(in.Brokers)
	}
	all := make([]int32, 0, len(in.Brokers)+1)
	for _, b := range in.Brokers {
		all = append(all, b.ID)
	}
	all = append(all, 999) // unknown broker
	for topic := 0; topic < 1+rng.IntN(maxTopics); topic++ {
		rf := 1 + rng.IntN(min(eligible, 4))
		bigTopic := rng.IntN(4) == 0
		for p := 0; p < 1+rng.IntN(maxParts); p++ {
			n := max(0, min(len(all), rf-1+rng.IntN(3)))
			if rng.IntN(4) == 0 {
				n = min(len(all), rf)
			}
			// Distinct brokers, drawn with a bias to the first ones so
			// that placements start unbalanced.
			var reps []int32
			for len(reps) < n {
				b := all[int(float64(len(all))*math.Pow(rng.Float64(), 2))]
				if !slices.Contains(reps, b) {
					reps = append(reps, b)
				}
			}
			size := int64(rng.IntN(1000))
			if bigTopic {
				size *= 10
			}
			pp := PlanPartition{Topic: fmt.Sprintf("t%d", topic), Partition: int32(p), Replicas: reps, RF: rf, Size: size, BytesIn: float64(rng.IntN(100))}
			if len(reps) == rf && rng.IntN(2) == 0 {
				pp.RF = 0
			}
			if len(reps) == 0 {
				pp.RF = rf
			}
			in.Partitions = append(in.Partitions, pp)
		}
	}
	return in
}

// equalRacks reports whether the eligible brokers have no racks or racks of
// one size: then goals 2 and 3 are always achievable (a ring over brokers
// taken rack by rack in turn puts any RF consecutive brokers in racks as
// evenly as possible, and per-topic stretches of the ring are within one).
func (o planOutcome) equalRacks() bool {
	sizes := o.rackSizes()
	first := -1
	for _, c := range sizes {
		if first >= 0 && c != first {
			return false
		}
		first = c
	}
	return true
}

// bytesSlack is the additive slack of the bytes bound: one replica of the
// largest partition per eligible broker.
func bytesSlack(in PlanInput) int64 {
	var biggest int64
	for _, p := range in.Partitions {
		biggest = max(biggest, p.Size)
	}
	n := 0
	for _, b := range in.Brokers {
		if !b.Leaving {
			n++
		}
	}
	return int64(n) * biggest
}

// planRatioK is the k of BytesMoved <= k × LowerBound + bytesSlack.
//
// Why a small k: every copy the planner makes serves a need LowerBound
// counts. Replacing a missing replica: fixPlacement keeps every replica
// it may keep, so it copies exactly what the partition term counts. Count
// balancing: each copy lands on a broker short of its even share or leaves
// one above it, which the broker terms count at the smallest sizes; the
// planner instead picks sizes that head the broker into its disk band, and
// when the band is reached the band terms count those bytes too, to within
// the band's width (2 × tolerance of the mean) — so about 1 + 2 × 0.1. The
// load phase's moves are charged to a broker's band or threshold excess;
// a swap adds a returning replica, the lightest that fits. Left uncounted
// are the copies of goals LowerBound has no term for: data moves for
// leaders (a swap per fix), improvements of a spread that cannot reach
// within one (unequal racks), and rounding at band edges; they are a few
// replicas per broker, hence the slack of one largest replica per broker.
// That argues for k = 2 rather than proving it; over 13 × 600 random
// clusters and 5 × 40 larger ones the smallest k that worked was 1.14.
const planRatioK = 2

// planStats collects what the property tests saw.
type planStats struct {
	planned, atBound int
	worstK           float64 // smallest k that satisfied every plan
}

// checkPlanProperties plans in and checks the properties every plan has.
// It returns false when in is invalid (an RF above the eligible brokers).
func checkPlanProperties(t *testing.T, run int, in PlanInput, rng *rand.Rand, st *planStats) bool {
	t.Helper()
	pl, err := PlanRebalance(in)
	if errors.Is(err, ErrInvalidReplicationFactor) {
		return false
	}
	if err != nil {
		t.Fatalf("run %d: %v", run, err)
	}
	o := applyPlan(t, in, pl) // shape, Bytes, BytesMoved >= LowerBound
	if why := o.goal1(); why != "" {
		t.Fatalf("run %d: goal 1: %s\ninput %+v", run, why, in)
	}
	if !pl.Report.Satisfied(GoalPlacement) && !strings.Contains(pl.Report.Goals[0].Reason, "cannot differ") {
		t.Fatalf("run %d: goal 1 reported broken: %s", run, pl.Report.Goals[0].Reason)
	}
	c, ct, l, lt := o.spreads()
	if o.equalRacks() && (c > 1 || ct > 1 || l > 1 || lt > 1) {
		t.Fatalf("run %d: with equal racks, replica spread %d (per topic %d), leader spread %d (per topic %d)\ninput %+v\nreport %+v",
			run, c, ct, l, lt, in, pl.Report)
	}
	if got := pl.Report.Satisfied(GoalReplicaBalance); got != (c <= 1 && ct <= 1) {
		t.Fatalf("run %d: goal 2 reported %v with spreads %d/%d", run, got, c, ct)
	}
	if got := pl.Report.Satisfied(GoalLeaderBalance); got != (l <= 1 && lt <= 1) {
		t.Fatalf("run %d: goal 3 reported %v with spreads %d/%d", run, got, l, lt)
	}
	if got := pl.Report.Satisfied(GoalLoadBalance); got && (!o.withinTolerance(orDefault(in.LoadTolerance, 0.10)) || !o.belowThreshold(orDefault(in.DiskThreshold, 0.8))) {
		t.Fatalf("run %d: goal 4 reported satisfied, loads %v", run, pl.Report.Brokers)
	}
	slack := bytesSlack(in)
	if pl.BytesMoved > planRatioK*pl.LowerBound+slack {
		t.Errorf("run %d: BytesMoved %d > %d × LowerBound %d + %d\nreport %+v\ninput %+v", run, pl.BytesMoved, planRatioK, pl.LowerBound, slack, pl.Report, in)
	}
	if pl.LowerBound > 0 {
		st.worstK = max(st.worstK, float64(pl.BytesMoved-slack)/float64(pl.LowerBound))
	}
	if pl.BytesMoved == pl.LowerBound {
		st.atBound++
	}
	st.planned++

	// Determinism, also against the order of the input.
	shuffled := in
	shuffled.Brokers = slices.Clone(in.Brokers)
	shuffled.Partitions = slices.Clone(in.Partitions)
	rng.Shuffle(len(shuffled.Brokers), func(i, j int) { shuffled.Brokers[i], shuffled.Brokers[j] = shuffled.Brokers[j], shuffled.Brokers[i] })
	rng.Shuffle(len(shuffled.Partitions), func(i, j int) {
		shuffled.Partitions[i], shuffled.Partitions[j] = shuffled.Partitions[j], shuffled.Partitions[i]
	})
	pl2, err := PlanRebalance(shuffled)
	must(t, err)
	if !reflect.DeepEqual(pl, pl2) {
		t.Fatalf("run %d: two runs differ", run)
	}
	// Idempotence: the plan's outcome is a fixpoint.
	again, err := PlanRebalance(o.next())
	must(t, err)
	if len(again.Moves) != 0 {
		t.Fatalf("run %d: replanning moves %d partitions, e.g. %+v\ninput %+v", run, len(again.Moves), again.Moves[0], o.next())
	}
	// LeadersOnly never changes a replica set.
	lo := in
	lo.LeadersOnly = true
	plo, err := PlanRebalance(lo)
	must(t, err)
	for _, m := range plo.Moves {
		if !sameSet(m.From, m.To) || m.Bytes != 0 {
			t.Fatalf("run %d: LeadersOnly move %+v", run, m)
		}
	}
	return true
}

func orDefault(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

func TestPlanRebalanceProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var st planStats
	for i := 0; i < 600; i++ {
		checkPlanProperties(t, i, randomCluster(rng, i%2 == 0), rng, &st)
	}
	t.Logf("%d plans, %d at the lower bound; smallest k with BytesMoved <= k×LowerBound + slack: %.2f", st.planned, st.atBound, st.worstK)
}

// TestPlanRebalancePropertiesLarge runs fewer, larger clusters: up to 30
// brokers and 10 topics of up to 200 partitions.
func TestPlanRebalancePropertiesLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var st planStats
	for i := 0; i < 40; i++ {
		checkPlanProperties(t, i, randomClusterSized(rng, i%2 == 0, 30, 10, 200), rng, &st)
	}
	t.Logf("%d plans, %d at the lower bound; smallest k with BytesMoved <= k×LowerBound + slack: %.2f", st.planned, st.atBound, st.worstK)
}

func TestPlanPlaceNewPartitionsProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 300; i++ {
		in := randomCluster(rng, true)
		// Start from a planned (balanced) cluster, as a controller would.
		pl, err := PlanRebalance(in)
		if errors.Is(err, ErrInvalidReplicationFactor) {
			continue
		}
		must(t, err)
		base := applyPlan(t, in, pl).next()
		eligible := 0
		for _, b := range base.Brokers {
			if !b.Leaving {
				eligible++
			}
		}
		rf := 1 + rng.IntN(eligible)
		count := 1 + rng.IntN(30)
		topic := "t0" // existing topic (if generated) or new
		if rng.IntN(2) == 0 {
			topic = "fresh"
		}
		first := int32(0)
		for _, p := range base.Partitions {
			if p.Topic == topic {
				first = max(first, p.Partition+1)
			}
		}
		got, err := PlaceNewPartitions(base, topic, first, count, rf)
		must(t, err)
		after := base
		after.Partitions = slices.Clone(base.Partitions)
		for p := first; p < first+int32(count); p++ {
			after.Partitions = append(after.Partitions, PlanPartition{Topic: topic, Partition: p, Replicas: got[p]})
		}
		o := applyPlan(t, after, Plan{})
		if why := o.goal1(); why != "" {
			t.Fatalf("run %d: %s", i, why)
		}
		// Without racks, a topic stays within one (each new partition
		// takes the rf brokers with fewest replicas of it), and a fresh
		// topic also keeps the overall spread within one by giving its
		// extra replicas to the brokers with fewer overall. Adding to an
		// existing topic may have to choose: a broker with one more of the
		// topic but one fewer overall must get as many new replicas as one
		// with the opposite, so the overall spread may reach two. With
		// racks a partition's rack shares are forced (a rack may have to
		// take a replica on a broker with one more), so both may reach two.
		if o.equalRacks() {
			c, ct, _, _ := o.spreads()
			maxC, maxCT := 1, 1
			if topic != "fresh" {
				maxC = 2
			}
			if len(o.rackSizes()) > 1 {
				maxC, maxCT = 2, 2
			}
			if c > maxC || ct > maxCT {
				t.Fatalf("run %d: replica spread %d, per topic %d after placing %d×RF%d in %s", i, c, ct, count, rf, topic)
			}
		}
		again, err := PlaceNewPartitions(base, topic, first, count, rf)
		must(t, err)
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("run %d: not deterministic", i)
		}
	}
}

// TestPlanRebalancePropertiesTight runs clusters of up to 60 brokers (more
// than the load search's partner window) at tolerances below the default,
// which the load phase approaches in stages.
func TestPlanRebalancePropertiesTight(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var st planStats
	met := 0
	for i := 0; i < 60; i++ {
		in := randomClusterSized(rng, i%2 == 0, 60, 6, 60)
		in.LoadTolerance = []float64{0.005, 0.02, 0.05}[i%3]
		if checkPlanProperties(t, i, in, rng, &st) {
			if pl, _ := PlanRebalance(in); pl.Report.Satisfied(GoalLoadBalance) {
				met++
			}
		}
	}
	t.Logf("%d plans (goal 4 met in %d), %d at the lower bound; smallest k with BytesMoved <= k×LowerBound + slack: %.2f",
		st.planned, met, st.atBound, st.worstK)
}

// TestLoadStages: coarse tolerances first, each a quarter of the one
// before, down to the target; one stage at the default and above.
func TestLoadStages(t *testing.T) {
	for _, c := range []struct {
		tol  float64
		want []float64
	}{
		{0.10, []float64{0.10}},
		{0.5, []float64{0.5}},
		{0.03, []float64{0.03}},
		{0.01, []float64{0.04, 0.01}},
		{0.001, []float64{0.064, 0.016, 0.004, 0.001}},
	} {
		got := loadStages(c.tol)
		if len(got) != len(c.want) {
			t.Fatalf("loadStages(%g) = %v, want %v", c.tol, got, c.want)
		}
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-12 {
				t.Fatalf("loadStages(%g) = %v, want %v", c.tol, got, c.want)
			}
		}
	}
}

// TestPlanLoadSearchBound: a load phase that runs out of its bound keeps
// goals 1–3, stops (the bound is checked between steps, so by less than
// the bound again), and says why goal 4 is not met.
func TestPlanLoadSearchBound(t *testing.T) {
	in := wideCluster(3, 100, 30)
	in.LoadTolerance = 0.001
	s, err := newPlanState(in, nil)
	must(t, err)
	s.maxEvals = 200000
	s.fixPlacement()
	s.optimize(true, true)
	pl := s.result()
	if !s.loadCapped || s.loadEvals < s.maxEvals || s.loadEvals > 2*s.maxEvals {
		t.Fatalf("evaluated %d steps (capped %v), bound %d", s.loadEvals, s.loadCapped, s.maxEvals)
	}
	for g := GoalPlacement; g <= GoalLeaderBalance; g++ {
		if !pl.Report.Satisfied(g) {
			t.Fatalf("goal %d not met: %s", g, pl.Report.Goals[g-1].Reason)
		}
	}
	if r := pl.Report.Goals[GoalLoadBalance-1].Reason; !strings.Contains(r, "search stopped at its bound of 200000") {
		t.Fatalf("goal 4 reason %q", r)
	}
}
