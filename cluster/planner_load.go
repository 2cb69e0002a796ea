package cluster

import (
	"math"
	"slices"
)

// Goal 4 of the planner: disk usage threshold, then bytes on disk and
// bytes in within the tolerance of the mean.
//
// The goal is measured by two penalties per eligible broker:
//
//	psiT = (max(0, projected used − threshold × capacity) / capacity)²
//	psiL = (max(0, |bytes − mean| − tol × mean) / mean)²   (+ the same for bytes in)
//
// Both are exactly 0 for a broker that meets the goal, so among steps that
// reach it only the bytes they copy tell them apart.
//
// The load phase works on the broker with the largest penalty (psiT first:
// a broker above the threshold sheds before anyone is balanced), in an
// episode: steps involving that broker until it meets its goal, kept only
// if it gets there, since steps that merely bring it closer copy bytes for
// nothing reached. Within an episode a step after which the broker meets
// its goal wins, the cheapest such; otherwise the one that removes the most
// penalty per byte copied. A step is a move, or a swap of two replicas
// between two brokers, and is allowed only if
//   - it keeps goals 1–3: each partition stays valid, and none of the four
//     sums of squares (replicas and leaders, overall and per topic) rises
//     (a moved leader hands its leadership over; such a step is taken only
//     if reordering afterwards brings the leader sums back);
//   - it lowers (sum of psiT, sum of psiL), lexicographically;
//   - no broker it touches ends further from its goal (in a threshold
//     episode: from its threshold), so that episodes cannot succeed by
//     pushing a neighbour out, to be pushed back by the next.

// setLoadTargets computes the means of goal 4 from the placement the plan
// must end with: a movable partition will have RF replicas, another keeps
// its eligible ones.
func (s *planState) setLoadTargets(leadersOnly bool) {
	if s.n == 0 {
		return
	}
	var d, in float64
	total := 0
	for p := range s.parts {
		k := s.rf[p]
		if leadersOnly || !s.movable[p] {
			k = 0
			for _, b := range s.reps[p] {
				if b < s.n {
					k++
				}
			}
		}
		total += k
		d += float64(k) * float64(s.parts[p].Size)
		in += float64(k) * s.parts[p].BytesIn
	}
	s.meanD, s.meanN = d/float64(s.n), in/float64(s.n)
	if total > 0 {
		s.meanCnt = float64(total) / float64(s.n)
		s.avgSize, s.avgIn = d/float64(total), in/float64(total)
	}
}

// projectedUsed is broker b's disk usage once it holds d bytes of ours: the
// files that are not ours stay, ours change. 0 when the usage is unknown.
func (s *planState) projectedUsed(b int, d int64) int64 {
	if s.used[b] == 0 {
		return 0
	}
	return s.used[b] - s.disk0[b] + d
}

// psiOf is broker b's goal 4 penalty were it to hold d bytes and in
// bytes/s.
func (s *planState) psiOf(b int, d int64, in float64) (pt, pl float64) {
	return s.psiOfF(b, float64(d), in)
}

// psiOfF is psiOf for a load that need not be whole bytes (a projection).
func (s *planState) psiOfF(b int, d, in float64) (pt, pl float64) {
	if s.capa[b] > 0 && s.used[b] > 0 {
		c := float64(s.capa[b])
		if ex := float64(s.used[b]-s.disk0[b]) + d - s.thr*c; ex > 0 {
			pt = (ex / c) * (ex / c)
		}
	}
	return pt, s.bandPsi(d, in)
}

// bandPsi is the band part of the goal 4 penalty of a broker holding d
// bytes and in bytes/s.
func (s *planState) bandPsi(d, in float64) (pl float64) {
	if s.meanD > 0 {
		if dev := math.Abs(d-s.meanD) - s.tol*s.meanD; dev > 0 {
			pl += (dev / s.meanD) * (dev / s.meanD)
		}
	}
	if s.meanN > 0 {
		if dev := math.Abs(in-s.meanN) - s.tol*s.meanN; dev > 0 {
			pl += (dev / s.meanN) * (dev / s.meanN)
		}
	}
	return pl
}

// psiDelta is the change of the penalties when p's replica moves from src
// to dst (src < 0: added; dst < 0: dropped).
func (s *planState) psiDelta(p, src, dst int) (dt, dl float64) {
	size, in := s.parts[p].Size, s.parts[p].BytesIn
	for _, e := range [2]struct {
		b    int
		sign int64
	}{{src, -1}, {dst, 1}} {
		if e.b < 0 {
			continue
		}
		t0, l0 := s.psiOf(e.b, s.disk[e.b], s.bytesIn[e.b])
		t1, l1 := s.psiOf(e.b, s.disk[e.b]+e.sign*size, s.bytesIn[e.b]+float64(e.sign)*in)
		dt += t1 - t0
		dl += l1 - l0
	}
	return dt, dl
}

// projDelta is psiDelta judged on where the brokers are heading rather than
// where they are: a broker with fewer replicas than the mean will receive
// about the difference, each of the average size (and bytes in), one with
// more will lose it. Placement and count balancing use it, so that a new
// broker receiving thousands of replicas does not fill up on the first
// large ones and end far above its band, nor on the smallest ones and end
// far below: it takes the cheapest that keep it headed into its band.
func (s *planState) projDelta(p, src, dst int) (dt, dl float64) {
	size, in := float64(s.parts[p].Size), s.parts[p].BytesIn
	proj := func(b int, d, in float64, c int) (float64, float64) {
		rest := s.meanCnt - float64(c)
		return s.psiOfF(b, d+rest*s.avgSize, in+rest*s.avgIn)
	}
	for _, e := range [2]struct {
		b    int
		sign float64
	}{{src, -1}, {dst, 1}} {
		if e.b < 0 {
			continue
		}
		d0, in0, c0 := float64(s.disk[e.b]), s.bytesIn[e.b], s.cnt[e.b]
		t0, l0 := proj(e.b, d0, in0, c0)
		t1, l1 := proj(e.b, d0+e.sign*size, in0+e.sign*in, c0+int(e.sign))
		dt += t1 - t0
		dl += l1 - l0
	}
	return dt, dl
}

// loadEps absorbs float rounding: a step must lower a penalty by more than
// this to count as an improvement, so two steps can never undo each other.
const loadEps = 1e-12

// episodeSteps bounds the steps spent bringing broker a to its goal; an
// episode that needs more is given up (and undone). Shedding for the
// threshold may need a step per replica the broker holds.
func (s *planState) episodeSteps(a int) int { return 16 + s.cnt[a] }

// balanceLoad is the load phase; it reports whether it changed anything.
//
// The broker with the largest penalty is handled in an episode: steps
// involving it until it meets the goal (below the threshold if it was
// above, else inside its band), kept only if it gets there. Steps that
// would only make it less far off copy bytes without reaching anything,
// so they are undone and the broker is reported instead.
//
// A tight tolerance is approached in stages (see loadStages), each of
// which keeps what its episodes reached: a band the sizes make
// unreachable then still leaves the brokers within the coarser ones,
// instead of every episode being undone.
func (s *planState) balanceLoad() bool {
	if s.n < 2 {
		return false
	}
	tol := s.tol
	defer func() { s.tol = tol }()
	changed := false
	for _, t := range loadStages(tol) {
		s.tol = t
		if s.balanceLoadAt() {
			changed = true
		}
	}
	return changed
}

// loadStages lists the tolerances the load phase works through for a
// target tolerance: coarser ones first, each a quarter of the one before,
// from below loadCoarsest down to the target.
func loadStages(tol float64) []float64 {
	stages := []float64{tol}
	for t := tol * 4; t < loadCoarsest && tol > 0; t *= 4 {
		stages = append(stages, t)
	}
	slices.Reverse(stages)
	return stages
}

// loadCoarsest bounds the coarsest stage of loadStages (the default
// tolerance: at it and above there is a single stage).
const loadCoarsest = defaultLoadTolerance

// balanceLoadAt is the load phase at the current tolerance.
func (s *planState) balanceLoadAt() bool {
	changed, progress := false, false
	stuck := make([]bool, s.n)
	for budget := 4*len(s.parts) + 64; budget > 0 && s.loadEvals < s.maxEvals; budget-- {
		a := -1
		var at, al float64
		for b := 0; b < s.n; b++ {
			if stuck[b] {
				continue
			}
			t, l := s.psiOf(b, s.disk[b], s.bytesIn[b])
			if t == 0 && l == 0 {
				continue
			}
			if a < 0 || t > at || (t == at && l > al) {
				a, at, al = b, t, l
			}
		}
		if a < 0 {
			// Every broker off its goal failed since the last clear. If
			// an episode succeeded since, the loads it changed may let a
			// stuck one through now: try them all again, once per
			// success-bearing round (not after every success, which with
			// many brokers that cannot reach their band repeats the
			// failures once per success).
			if !progress {
				break
			}
			progress = false
			clear(stuck)
			continue
		}
		if at > 0 && float64(s.used[a]-s.disk0[a]) > s.thr*float64(s.capa[a]) {
			// Other files alone fill the disk past the threshold: no
			// placement of ours gets it below.
			stuck[a] = true
			continue
		}
		off := func() bool {
			t, l := s.psiOf(a, s.disk[a], s.bytesIn[a])
			if at > 0 {
				return t > 0
			}
			return l > 0
		}
		s.begin()
		s.stable++
		for i, limit := 0, s.episodeSteps(a); i < limit && off() && s.loadEvals < s.maxEvals; i++ {
			if !s.loadStepFor(a, at > 0) {
				break
			}
			budget--
		}
		s.stable--
		reached := !off()
		if j := s.end(reached); reached && len(j) > 0 {
			changed, progress = true, true
		} else {
			stuck[a] = true
		}
	}
	if s.loadEvals >= s.maxEvals {
		s.loadCapped = true
	}
	return changed
}

// loadStepFor takes the best improving step involving broker a, if any
// (threshold: a threshold episode).
func (s *planState) loadStepFor(a int, threshold bool) bool {
	strict, okS, relaxed, okR := s.bestLoadStep(a, threshold)
	if okR && (!okS || relaxed.better(strict)) && s.tryWithLeaderRepair(relaxed) {
		return true
	}
	if !okS {
		return false
	}
	for _, m := range strict.moves[:strict.k] {
		s.move(m.p, m.pos, m.to)
	}
	return true
}

// tryWithLeaderRepair applies st, then rebalances leaders by reordering;
// it keeps the result if no leader sum of squares (overall or of any topic)
// ended higher than before st, and otherwise undoes everything.
func (s *planState) tryWithLeaderRepair(st loadStep) bool {
	before := s.leaderSquares()
	s.stable++
	defer func() { s.stable-- }()
	s.begin()
	for _, m := range st.moves[:st.k] {
		s.move(m.p, m.pos, m.to)
	}
	// Only the topics the step touched can have lost their leader
	// balance; the overall balance is repaired across all.
	for i, m := range st.moves[:st.k] {
		if t := s.topic[m.p]; i == 0 || t != s.topic[st.moves[0].p] {
			s.balanceTopicLeaders(t)
		}
	}
	s.balanceOverallLeaders()
	after := s.leaderSquares()
	j := s.journals[len(s.journals)-1]
	keep := after <= before && s.topicLeadersNotWorse(j)
	s.end(keep)
	return keep
}

// maxLoadEvals bounds the candidate steps the load phase evaluates over a
// whole plan (under 100 ns each: seconds of one core). Past it the plan
// keeps what it reached and reports goal 4 as not met for that reason, so
// that a goal the sizes make unreachable on hundreds of brokers cannot
// keep the controller's planner busy for minutes.
const maxLoadEvals = 100_000_000
