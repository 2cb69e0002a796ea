package cluster

import (
	"fmt"
	"math"
	"slices"
)

// Goal names one of the planner's goals; they are numbered in priority
// order.
type Goal int

// The planner's goals (see PlanRebalance).
const (
	// GoalPlacement: distinct brokers, RF replicas on eligible brokers,
	// replicas spread over racks as evenly as the racks allow.
	GoalPlacement Goal = 1
	// GoalReplicaBalance: replicas per broker within one of even, overall
	// and per topic.
	GoalReplicaBalance Goal = 2
	// GoalLeaderBalance: preferred leaders per broker within one of even,
	// overall and per topic.
	GoalLeaderBalance Goal = 3
	// GoalLoadBalance: projected disk usage at most the threshold, bytes on
	// disk and bytes in within the tolerance of the mean.
	GoalLoadBalance Goal = 4
)

// String names the goal ("placement", "replica balance", …).
func (g Goal) String() string {
	switch g {
	case GoalPlacement:
		return "placement"
	case GoalReplicaBalance:
		return "replica balance"
	case GoalLeaderBalance:
		return "leader balance"
	case GoalLoadBalance:
		return "load balance"
	}
	return fmt.Sprintf("goal(%d)", int(g))
}

// GoalResult says whether one goal holds once the plan is carried out.
type GoalResult struct {
	Goal      Goal
	Satisfied bool
	// Reason says why not ("" when satisfied): the first offender and,
	// when the input itself rules the goal out, what does (rack sizes,
	// partition sizes, replica sets).
	Reason string
}

// BrokerLoad is one eligible broker's share once the plan is carried out.
type BrokerLoad struct {
	ID       int32
	Replicas int
	Leaders  int
	Bytes    int64   // sum of Size of its replicas
	BytesIn  float64 // sum of BytesIn of its replicas
	// DiskUsed is the projected disk usage (DiskUsed adjusted by the bytes
	// the plan adds and removes); 0 when DiskUsed is unknown.
	DiskUsed int64
}

// PlanReport describes the state a plan leads to.
type PlanReport struct {
	// Goals holds one result per goal: Goals[g-1] is goal g.
	Goals [4]GoalResult
	// Brokers are the eligible brokers, by id.
	Brokers []BrokerLoad
}

// Satisfied reports whether goal g holds after the plan.
func (r PlanReport) Satisfied(g Goal) bool {
	return g >= GoalPlacement && g <= GoalLoadBalance && r.Goals[g-1].Satisfied
}

// report evaluates the four goals on the current state.
func (s *planState) report() PlanReport {
	var r PlanReport
	for b := 0; b < s.n; b++ {
		r.Brokers = append(r.Brokers, BrokerLoad{ID: s.allIDs[b], Replicas: s.cnt[b], Leaders: s.lead[b],
			Bytes: s.disk[b], BytesIn: s.bytesIn[b], DiskUsed: s.projectedUsed(b, s.disk[b])})
	}
	r.Goals[0] = GoalResult{Goal: GoalPlacement, Reason: s.placementReason()}
	r.Goals[1] = GoalResult{Goal: GoalReplicaBalance, Reason: s.spreadReason("replicas", func(b int) int { return s.cnt[b] },
		func(t, b int) int { return int(s.cntT[s.tb(t, b)]) }, true)}
	r.Goals[2] = GoalResult{Goal: GoalLeaderBalance, Reason: s.spreadReason("leaders", func(b int) int { return s.lead[b] },
		func(t, b int) int { return int(s.leadT[s.tb(t, b)]) }, false)}
	r.Goals[3] = GoalResult{Goal: GoalLoadBalance, Reason: s.loadReason()}
	for i := range r.Goals {
		r.Goals[i].Satisfied = r.Goals[i].Reason == ""
	}
	return r
}

// invalidReason reports why p breaks goal 1 ("" if it does not).
func (s *planState) invalidReason(p int) string {
	r := s.reps[p]
	name := fmt.Sprintf("%s-%d", s.parts[p].Topic, s.parts[p].Partition)
	if !s.movable[p] {
		// Unchanged input: reps dropped its repeats, orig still has them.
		for i, id := range s.orig[p] {
			if slices.Contains(s.orig[p][:i], id) {
				return fmt.Sprintf("%s lists broker %d twice", name, id)
			}
		}
	}
	for i, b := range r {
		if b >= s.n {
			return fmt.Sprintf("%s has a replica on ineligible broker %d", name, s.allIDs[b])
		}
		if slices.Contains(r[:i], b) {
			return fmt.Sprintf("%s has two replicas on broker %d", name, s.allIDs[b])
		}
	}
	if len(r) != s.rf[p] {
		return fmt.Sprintf("%s has %d replicas, RF %d", name, len(r), s.rf[p])
	}
	counts := make([]int, len(s.racks))
	for _, b := range r {
		counts[s.rack[b]]++
	}
	bd := s.bounds[s.rf[p]]
	for k, c := range counts {
		if c < bd.lo[k] || c > bd.hi[k] {
			return fmt.Sprintf("%s has %d replicas in rack %q, want %d–%d", name, c, s.racks[k], bd.lo[k], bd.hi[k])
		}
	}
	return ""
}

func (s *planState) placementReason() string {
	bad, first := 0, ""
	for p := range s.parts {
		if why := s.invalidReason(p); why != "" {
			if bad == 0 {
				first = why
			}
			bad++
		}
	}
	if bad > 0 {
		r := fmt.Sprintf("%d partitions break placement rules, e.g. %s", bad, first)
		if s.leadersOnly {
			r += ": " + leadersOnlyNote
		}
		return r
	}
	// Valid, but the most even rack spread may itself be uneven.
	rfs := s.usedRFs()
	for _, rf := range rfs {
		if bd := s.bounds[rf]; bd.capped {
			k := slices.Index(s.rackLen, slices.Min(s.rackLen))
			return fmt.Sprintf("%d racks for RF %d but rack %q has %d broker(s): replicas per rack cannot differ by at most one",
				len(s.racks), rf, s.racks[k], s.rackLen[k])
		}
	}
	return ""
}

// usedRFs lists the replication factors in use, ascending.
func (s *planState) usedRFs() []int {
	var rfs []int
	for rf := range s.bounds {
		rfs = append(rfs, rf)
	}
	slices.Sort(rfs)
	return rfs
}

// spreadReason checks that count (overall) and countT (per topic) are
// within one of even over the eligible brokers, and says why not.
func (s *planState) spreadReason(what string, count func(b int) int, countT func(t, b int) int, replicas bool) string {
	if s.n == 0 {
		return ""
	}
	lo, hi := 0, 0
	for b := 1; b < s.n; b++ {
		if count(b) < count(lo) {
			lo = b
		}
		if count(b) > count(hi) {
			hi = b
		}
	}
	total := 0
	for b := 0; b < s.n; b++ {
		total += count(b)
	}
	if count(hi)-count(lo) > 1 {
		why := fmt.Sprintf("brokers %d and %d hold %d and %d %s (even: %s)", s.allIDs[hi], s.allIDs[lo], count(hi), count(lo), what, evenRange(total, s.n))
		switch {
		case replicas && s.leadersOnly:
			return why + ": " + leadersOnlyNote
		case replicas:
			if r := s.rackReason(total); r != "" {
				return why + ": " + r
			}
			return why + ": no move keeps goal 1"
		case s.leadersOnly:
			return why + ": no reordering gets closer"
		}
		return why + ": no reordering or move keeps goals 1–2"
	}
	badTopics, first := 0, ""
	for t := range s.topics {
		tlo, thi, ttotal := 0, 0, 0
		for b := 0; b < s.n; b++ {
			c := countT(t, b)
			ttotal += c
			if c < countT(t, tlo) {
				tlo = b
			}
			if c > countT(t, thi) {
				thi = b
			}
		}
		if countT(t, thi)-countT(t, tlo) > 1 {
			if badTopics == 0 {
				first = fmt.Sprintf("topic %q: brokers %d and %d hold %d and %d %s (even: %s)", s.topics[t],
					s.allIDs[thi], s.allIDs[tlo], countT(t, thi), countT(t, tlo), what, evenRange(ttotal, s.n))
			}
			badTopics++
		}
	}
	if badTopics > 0 {
		return fmt.Sprintf("%d topics off by more than one, e.g. %s", badTopics, first)
	}
	return ""
}

func evenRange(total, n int) string {
	if total%n == 0 {
		return fmt.Sprint(total / n)
	}
	return fmt.Sprintf("%d–%d", total/n, total/n+1)
}

// rackReason explains an overall replica imbalance the racks force: a rack
// that every partition needs but whose brokers are too few to stay at the
// even share, or a rack too large to be filled to it.
func (s *planState) rackReason(total int) string {
	if len(s.racks) < 2 {
		return ""
	}
	minK := make([]int, len(s.racks))
	maxK := make([]int, len(s.racks))
	perRF := map[int]int{}
	for p := range s.parts {
		bd := s.bounds[s.rf[p]]
		perRF[s.rf[p]]++
		for k := range s.racks {
			minK[k] += bd.lo[k]
			maxK[k] += bd.hi[k]
		}
	}
	rf, most := 0, -1
	for _, r := range s.usedRFs() {
		if perRF[r] > most {
			rf, most = r, perRF[r]
		}
	}
	ceil, floor := (total+s.n-1)/s.n, total/s.n
	for k := range s.racks {
		if minK[k] > ceil*s.rackLen[k] {
			return fmt.Sprintf("%d racks for RF %d but rack %q has %d broker(s): it must hold at least %d replicas, %d per broker",
				len(s.racks), rf, s.racks[k], s.rackLen[k], minK[k], (minK[k]+s.rackLen[k]-1)/s.rackLen[k])
		}
		if maxK[k] < floor*s.rackLen[k] {
			return fmt.Sprintf("%d racks for RF %d but rack %q has %d brokers: it can hold at most %d replicas, %d per broker",
				len(s.racks), rf, s.racks[k], s.rackLen[k], maxK[k], maxK[k]/s.rackLen[k])
		}
	}
	return "racks of unequal size"
}

// leadersOnlyNote explains a goal a LeadersOnly plan does not work on.
const leadersOnlyNote = "a LeadersOnly plan moves no data"

// loadReason checks goal 4 and says why it fails.
func (s *planState) loadReason() string {
	why := func(r string) string { return r }
	if s.loadCapped {
		why = func(string) string {
			return fmt.Sprintf("the search stopped at its bound of %d candidate steps", s.maxEvals)
		}
	}
	if s.leadersOnly {
		why = func(string) string { return leadersOnlyNote }
	}
	for b := 0; b < s.n; b++ {
		if s.capa[b] > 0 && s.used[b] > 0 {
			u := s.projectedUsed(b, s.disk[b])
			if float64(u) > s.thr*float64(s.capa[b]) {
				because := why("no steps that keep goals 1–3 get it below")
				if others := s.used[b] - s.disk0[b]; float64(others) > s.thr*float64(s.capa[b]) {
					because = fmt.Sprintf("other files alone use %.1f%%", 100*float64(others)/float64(s.capa[b]))
				}
				return fmt.Sprintf("broker %d: projected disk usage %.1f%% above threshold %.0f%%: %s",
					s.allIDs[b], 100*float64(u)/float64(s.capa[b]), 100*s.thr, because)
			}
		}
	}
	for b := 0; b < s.n; b++ {
		if s.meanD > 0 && math.Abs(float64(s.disk[b])-s.meanD) > s.tol*s.meanD {
			return fmt.Sprintf("broker %d holds %d bytes, mean %.0f ± %.3g%%: %s",
				s.allIDs[b], s.disk[b], s.meanD, 100*s.tol, why("partition sizes allow no step that keeps goals 1–3 and gets it there"))
		}
	}
	for b := 0; b < s.n; b++ {
		if s.meanN > 0 && math.Abs(s.bytesIn[b]-s.meanN) > s.tol*s.meanN {
			return fmt.Sprintf("broker %d receives %.1f bytes/s, mean %.1f ± %.3g%%: %s",
				s.allIDs[b], s.bytesIn[b], s.meanN, 100*s.tol, why("partition loads allow no step that keeps goals 1–3 and gets it there"))
		}
	}
	return ""
}
