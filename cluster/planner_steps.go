package cluster

import (
	"slices"
	"sort"
)

// The steps of the load phase (goal 4): where candidates come from, and
// the checks that they keep goals 1–3.

// loadStep is one step of the load phase: one move, or two (a swap).
type loadStep struct {
	moves  [2]stepMove
	k      int
	dt, dl float64
	cost   int64
	// repair: the moves alone would raise a leader sum of squares (a
	// moved leader hands its leadership to the receiving broker); the step
	// is only taken if reordering afterwards brings the sums back.
	repair bool
	// reach: after the step the episode's broker meets its goal; gain: by
	// how much the episode's penalty (psiT or psiL, summed over brokers)
	// drops.
	reach bool
	gain  float64
}

type stepMove struct{ p, pos, from, to int }

// better orders the steps of an episode for a broker: first those after
// which the broker meets its goal, the cheapest of them (then the larger
// penalty drops); else the most penalty dropped per byte copied, so an
// episode gets there with few bytes rather than with big strides. The goal
// is the threshold (psiT) in a threshold episode, else the band (psiL).
// Ties end in partition indexes: a total order, for determinism.
func (x loadStep) better(y loadStep) bool {
	if x.reach != y.reach {
		return x.reach
	}
	if !x.reach {
		ex, ey := x.gain/float64(max(x.cost, 1)), y.gain/float64(max(y.cost, 1))
		if ex != ey {
			return ex > ey
		}
	}
	if x.cost != y.cost {
		return x.cost < y.cost
	}
	if x.dt != y.dt {
		return x.dt < y.dt
	}
	if x.dl != y.dl {
		return x.dl < y.dl
	}
	for i := 0; i < min(x.k, y.k); i++ {
		if x.moves[i].p != y.moves[i].p {
			return x.moves[i].p < y.moves[i].p
		}
		if x.moves[i].to != y.moves[i].to {
			return x.moves[i].to < y.moves[i].to
		}
	}
	return x.k < y.k
}

// Search windows of a load step, per partner broker and metric (bytes,
// bytes in): the swapWindow×2 replicas nearest each ideal amount to move,
// and for swaps, each of the swapSmall lightest replicas of the receiver
// against the giver's replicas nearest it plus that amount. This keeps a
// step O(brokers × log replicas) instead of quadratic in the replicas of a
// broker, at the price of missing steps an exhaustive search would find.
const (
	swapSmall  = 16
	swapWindow = 8
	swapScan   = 64
)

// bestLoadStep finds the best improving step involving broker a: the best
// that keeps goals 1–3 by itself (strict), and the best that needs a
// leader repair (relaxed).
func (s *planState) bestLoadStep(a int, threshold bool) (strict loadStep, okS bool, relaxed loadStep, okR bool) {
	accepted := 0
	consider := func(st loadStep) {
		if !(st.dt < -loadEps || (st.dt <= loadEps && st.dl < -loadEps)) {
			return
		}
		// No broker the step touches may end further from its goal
		// (pareto): else an episode could "succeed" by pushing a neighbour
		// out, and the next episode push it back, copying bytes for
		// nothing. A threshold episode may still push a neighbour out of
		// its band, the threshold coming first.
		after := func(x int) (float64, float64) {
			d, in := s.disk[x], s.bytesIn[x]
			for _, m := range st.moves[:st.k] {
				sz, bi := s.parts[m.p].Size, s.parts[m.p].BytesIn
				if m.from == x {
					d, in = d-sz, in-bi
				}
				if m.to == x {
					d, in = d+sz, in+bi
				}
			}
			return s.psiOf(x, d, in)
		}
		for _, m := range st.moves[:st.k] {
			for _, x := range [2]int{m.from, m.to} {
				t0, l0 := s.psiOf(x, s.disk[x], s.bytesIn[x])
				t1, l1 := after(x)
				if t1 > t0+loadEps || (!threshold && l1 > l0+loadEps) {
					return
				}
			}
		}
		accepted++
		t, l := after(a)
		if threshold {
			st.reach, st.gain = t == 0, -st.dt
		} else {
			st.reach, st.gain = l == 0, -st.dl
		}
		if st.repair {
			if !okR || st.better(relaxed) {
				relaxed, okR = st, true
			}
		} else if !okS || st.better(strict) {
			strict, okS = st, true
		}
	}
	type metric struct {
		list  [][]int32 // per broker, sorted by x
		x     func(p int32) float64
		total func(b int) float64
		mean  float64
	}
	metrics := [2]metric{
		{s.bySize, func(p int32) float64 { return float64(s.parts[p].Size) }, func(b int) float64 { return float64(s.disk[b]) }, s.meanD},
		{s.byIn, func(p int32) float64 { return s.parts[p].BytesIn }, func(b int) float64 { return s.bytesIn[b] }, s.meanN},
	}
	// near offers f the replicas of l (sorted by x) from where x reaches v
	// outwards, on each side until f accepted swapWindow of them or
	// swapScan were offered: the nearest that fit, not merely the nearest.
	near := func(l []int32, x func(int32) float64, v float64, f func(p int32) bool) {
		i := sort.Search(len(l), func(i int) bool { return x(l[i]) >= v })
		for _, step := range [2]int{1, -1} {
			j := i
			if step < 0 {
				j = i - 1
			}
			for took, seen := 0, 0; j >= 0 && j < len(l) && took < swapWindow && seen < swapScan; j, seen = j+step, seen+1 {
				if s.movable[l[j]] && f(l[j]) {
					took++
				}
			}
		}
	}
	var targets []float64
	for mi, m := range metrics {
		// Partners in order of room for what a needs; the search stops
		// partnerWindow partners after the first that offered a step.
		va := m.total(a)
		gives := threshold || (m.mean > 0 && va > (1+s.tol)*m.mean)
		if !threshold && !gives && !(m.mean > 0 && va < (1-s.tol)*m.mean) {
			continue
		}
		if threshold && mi != 0 {
			continue
		}
		partners := s.partnerOrder(a, mi, gives, threshold)
		productive := -1
		for pi, pk := range partners {
			b := pk.b
			if productive >= 0 && pi > productive+partnerWindow {
				break
			}
			before := accepted
			// Load goes from g to r, in the direction a needs: away from
			// a above the threshold or its band, towards a below its band.
			// A metric a is within its band for is left alone (other than
			// by the penalties each step is judged by). The ideal amounts:
			// even the two out, bring g down to the mean, r up to it, and
			// in a threshold episode get a below the threshold.
			g, r := a, b
			if !gives {
				g, r = b, a
			}
			vg, vr := m.total(g), m.total(r)
			targets = append(targets[:0], (vg-vr)/2, vg-m.mean, m.mean-vr)
			if threshold && mi == 0 && g == a {
				targets = append(targets, float64(s.projectedUsed(a, s.disk[a]))-s.thr*float64(s.capa[a]))
			}
			targets = slices.DeleteFunc(targets, func(v float64) bool { return v <= 0 })
			if len(targets) == 0 {
				continue
			}
			if s.cnt[g] >= s.cnt[r]+1 {
				for _, v := range targets {
					near(m.list[g], m.x, v, func(p int32) bool {
						st, ok := s.singleStep(int(p), g, r)
						if ok {
							consider(st)
						}
						return ok
					})
				}
			}
			// Swaps: r's lightest replicas for g's ones heavier by
			// about the target.
			n := 0
			for _, q := range m.list[r] {
				if n == swapSmall {
					break
				}
				if !s.movable[q] || s.has(int(q), g) {
					continue
				}
				n++
				for _, v := range targets {
					near(m.list[g], m.x, m.x(q)+v, func(p int32) bool {
						st, ok := s.swapStep(int(p), int(q), g, r)
						if ok {
							consider(st)
						}
						return ok
					})
				}
			}
			// Swaps within a topic never disturb its counts: for g's
			// replicas near each target, r's lightest replica of the
			// same topic.
			for _, v := range targets {
				near(m.list[g], m.x, v, func(p int32) bool {
					l := s.onT[s.tb(s.topic[p], r)]
					if l == nil {
						return false
					}
					best, found := loadStep{}, false
					for i, q := range *l {
						if i == swapScan {
							break
						}
						if st, ok := s.swapStep(int(p), int(q), g, r); ok && s.movable[q] && (!found || m.x(q) < m.x(int32(best.moves[1].p))) {
							best, found = st, true
						}
					}
					if found {
						consider(best)
					}
					return found
				})
			}
			if productive < 0 && accepted > before {
				productive = pi
			}
		}
	}
	return strict, okS, relaxed, okR
}

// partnerWindow is how many partners bestLoadStep searches after the first
// that offered an acceptable step. Partners come in order of room, so the
// best step is almost always among the first; the window keeps a step
// O(window) in the brokers rather than O(brokers), which with hundreds of
// brokers is the difference between seconds and minutes.
const partnerWindow = 8

// partnerOrder lists the brokers other than a in the order bestLoadStep
// tries them for metric mi (0 bytes on disk, 1 bytes in): when a gives
// (above its band, or its threshold), the least loaded first, in a
// threshold episode those furthest below their own threshold; when a
// receives, the most loaded first. Ties by index: deterministic. The
// slice is scratch, valid until the next call.
func (s *planState) partnerOrder(a, mi int, gives, threshold bool) []partnerKey {
	key := func(b int) float64 {
		switch {
		case threshold && s.capa[b] > 0 && s.used[b] > 0:
			return float64(s.projectedUsed(b, s.disk[b]))/float64(s.capa[b]) - s.thr
		case mi == 0:
			return float64(s.disk[b]) / max(s.meanD, 1)
		default:
			return s.bytesIn[b] / max(s.meanN, 1)
		}
	}
	s.partnerBuf = s.partnerBuf[:0]
	for b := 0; b < s.n; b++ {
		if b != a {
			s.partnerBuf = append(s.partnerBuf, partnerKey{b, key(b)})
		}
	}
	slices.SortFunc(s.partnerBuf, func(x, y partnerKey) int {
		if x.k != y.k {
			if (x.k < y.k) == gives {
				return -1
			}
			return 1
		}
		return x.b - y.b
	})
	return s.partnerBuf
}

type partnerKey struct {
	b int
	k float64
}

// singleStep evaluates moving p's replica from src to dst as a load step.
func (s *planState) singleStep(p, src, dst int) (loadStep, bool) {
	s.loadEvals++
	if s.has(p, dst) || !s.rackOK(p, src, dst) {
		return loadStep{}, false
	}
	pos := slices.Index(s.reps[p], src)
	lead := 0
	if pos == 0 {
		lead = 1
	}
	t := s.topic[p]
	counts, leaders := s.squaresOK([]sqDelta{{src, t, -1, -lead}, {dst, t, 1, lead}})
	if !counts {
		return loadStep{}, false
	}
	st := loadStep{k: 1, cost: s.moveCost(p, src, dst), repair: !leaders}
	st.moves[0] = stepMove{p, pos, src, dst}
	st.dt, st.dl = s.psiDelta(p, src, dst)
	return st, true
}

// swapStep evaluates moving p from a to b and q from b to a.
func (s *planState) swapStep(p, q, a, b int) (loadStep, bool) {
	s.loadEvals++
	if p == q || s.has(p, b) || s.has(q, a) || !s.rackOK(p, a, b) || !s.rackOK(q, b, a) {
		return loadStep{}, false
	}
	pp, pq := slices.Index(s.reps[p], a), slices.Index(s.reps[q], b)
	lp, lq := 0, 0
	if pp == 0 {
		lp = 1
	}
	if pq == 0 {
		lq = 1
	}
	tp, tq := s.topic[p], s.topic[q]
	counts, leaders := s.squaresOK([]sqDelta{{a, tp, -1, -lp}, {b, tp, 1, lp}, {b, tq, -1, -lq}, {a, tq, 1, lq}})
	if !counts {
		return loadStep{}, false
	}
	st := loadStep{k: 2, cost: s.moveCost(p, a, b) + s.moveCost(q, b, a), repair: !leaders}
	st.moves[0] = stepMove{p, pp, a, b}
	st.moves[1] = stepMove{q, pq, b, a}
	// Penalties of a and b after both moves.
	dd := s.parts[q].Size - s.parts[p].Size
	di := s.parts[q].BytesIn - s.parts[p].BytesIn
	ta0, la0 := s.psiOf(a, s.disk[a], s.bytesIn[a])
	tb0, lb0 := s.psiOf(b, s.disk[b], s.bytesIn[b])
	ta1, la1 := s.psiOf(a, s.disk[a]+dd, s.bytesIn[a]+di)
	tb1, lb1 := s.psiOf(b, s.disk[b]-dd, s.bytesIn[b]-di)
	st.dt = ta1 + tb1 - ta0 - tb0
	st.dl = la1 + lb1 - la0 - lb0
	return st, true
}

// sqDelta is a change of broker b's replica (dc) and leader (dl) counts in
// topic t.
type sqDelta struct{ b, t, dc, dl int }

// squaresOK reports whether applying ds raises neither sum of squares of
// goal 2 (replicas overall and per topic), and neither of goal 3 (leaders).
// A sum of squares at its minimum means within one of even; not raising it
// keeps that, and never worsens a goal that cannot be met.
func (s *planState) squaresOK(ds []sqDelta) (counts, leaders bool) {
	c, ct, l, lt := s.squaresDelta(ds)
	return c <= 0 && ct <= 0, l <= 0 && lt <= 0
}

// squaresDelta returns how applying ds changes the sums of squares of
// replica counts (overall, per topic) and leader counts (overall, per
// topic).
func (s *planState) squaresDelta(ds []sqDelta) (c, ct, l, lt int) {
	// Aggregate per broker and per (broker, topic) first: a broker may
	// appear twice. Steps have at most four entries; fixed arrays keep
	// this off the heap, as it runs for every candidate step.
	var perB, perBT [4]sqDelta
	nb, nbt := 0, 0
	for _, d := range ds {
		i := 0
		for i < nb && perB[i].b != d.b {
			i++
		}
		if i == nb {
			perB[i], nb = sqDelta{b: d.b}, nb+1
		}
		perB[i].dc += d.dc
		perB[i].dl += d.dl
		j := 0
		for j < nbt && (perBT[j].b != d.b || perBT[j].t != d.t) {
			j++
		}
		if j == nbt {
			perBT[j], nbt = sqDelta{b: d.b, t: d.t}, nbt+1
		}
		perBT[j].dc += d.dc
		perBT[j].dl += d.dl
	}
	for _, d := range perB[:nb] {
		c += 2*s.cnt[d.b]*d.dc + d.dc*d.dc
		l += 2*s.lead[d.b]*d.dl + d.dl*d.dl
	}
	for _, d := range perBT[:nbt] {
		k := s.tb(d.t, d.b)
		ct += 2*int(s.cntT[k])*d.dc + d.dc*d.dc
		lt += 2*int(s.leadT[k])*d.dl + d.dl*d.dl
	}
	return c, ct, l, lt
}
