package cluster

import (
	"slices"
)

// Goal 2 of the planner: replicas per broker, per topic and overall.

// balanceCounts is goal 2: per topic first, then overall while keeping
// every topic's spread. Reports whether it changed anything.
func (s *planState) balanceCounts() bool {
	changed := false
	for t := range s.topics {
		if !slices.Contains(s.movable[s.tStart[t]:s.tStart[t+1]], true) {
			continue // PlaceNewPartitions: only the new topic can change
		}
		s.noMove = map[pairKey][2]uint32{}
		for s.countStep(t) {
			changed = true
		}
	}
	s.noMove = map[pairKey][2]uint32{}
	for s.countStep(-1) {
		changed = true
	}
	return changed
}

// countStep makes one move that lowers the spread of replicas of topic t
// (t < 0: of all replicas, without raising any topic's sum of squares),
// trying the fullest broker against the emptiest first. It returns false
// when no move or two-move chain helps.
//
// Why this reaches within one when racks allow it: if broker a holds at
// least two more replicas of t than b, a holds a partition of t that b does
// not, and moving it lowers the sum of squares. Overall, if a holds at least
// two more replicas than b and every topic is within one, some topic has
// one more on a than on b, and moving one of those keeps that topic within
// one. Racks can block the direct move; then a chain through a third broker
// (a → c in a's rack, c → b) is tried.
func (s *planState) countStep(t int) bool {
	c := func(b int) int {
		if t < 0 {
			return s.cnt[b]
		}
		return int(s.cntT[s.tb(t, b)])
	}
	// Brokers by count (topic t's, or overall), then overall count,
	// largest first; ties by index. Keys are computed once: this runs once
	// per step, over every broker.
	keys := s.countKeys[:0]
	for b := 0; b < s.n; b++ {
		keys = append(keys, countKey{c(b), s.cnt[b], b})
	}
	slices.SortFunc(keys, func(x, y countKey) int {
		if x.c != y.c {
			return y.c - x.c
		}
		if x.all != y.all {
			return y.all - x.all
		}
		return x.b - y.b
	})
	s.countKeys = keys
	order := s.countOrder[:0]
	for _, k := range keys {
		order = append(order, k.b)
	}
	s.countOrder = order
	if s.n == 0 || c(order[0])-c(order[s.n-1]) < 2 {
		return false
	}
	// try is bestMove, remembering failures until src or dst changes.
	try := func(src, dst int) (replicaMove, bool) {
		k := pairKey{t, src, dst}
		if v, ok := s.noMove[k]; ok && v == [2]uint32{s.ver[src], s.ver[dst]} {
			return replicaMove{}, false
		}
		m, ok := s.bestMove(t, src, dst)
		if !ok {
			s.noMove[k] = [2]uint32{s.ver[src], s.ver[dst]}
		}
		return m, ok
	}
	for _, src := range order {
		for j := s.n - 1; j >= 0; j-- {
			dst := order[j]
			if c(src)-c(dst) < 2 {
				break
			}
			if !s.rackFlex[s.rack[src]][s.rack[dst]] {
				continue
			}
			if m, ok := try(src, dst); ok {
				s.move(m.p, m.pos, dst)
				return true
			}
		}
	}
	// Chains: src → mid → dst, mid's count unchanged. The search is
	// cubic in brokers, so it is skipped while nothing changed since it
	// last failed, and bounded by chainBudget tries (a fixed number: the
	// outcome is still a function of the state).
	if g, ok := s.noChain[t]; ok && g == s.gen {
		return false
	}
	s.stable++
	defer func() { s.stable-- }()
	budget := chainBudget
	for _, src := range order {
		for j := s.n - 1; j >= 0 && budget > 0; j-- {
			dst := order[j]
			if c(src)-c(dst) < 2 {
				break
			}
			for _, mid := range order {
				if mid == src || mid == dst || !s.rackFlex[s.rack[src]][s.rack[mid]] || !s.rackFlex[s.rack[mid]][s.rack[dst]] {
					continue
				}
				if budget--; budget < 0 {
					break
				}
				m1, ok := try(src, mid)
				if !ok {
					continue
				}
				s.move(m1.p, m1.pos, mid)
				if m2, ok := s.bestMove(t, mid, dst); ok && m2.p != m1.p {
					s.move(m2.p, m2.pos, dst)
					return true
				}
				s.move(m1.p, m1.pos, src)
			}
		}
	}
	s.noChain[t] = s.gen
	return false
}

// chainBudget bounds the two-move chains one countStep tries.
const chainBudget = 4096

// pairKey names a countStep search: topic (or -1) and the two brokers.
type pairKey struct{ t, src, dst int }

// replicaMove is a candidate: partition p's replica at position pos.
type replicaMove struct {
	p, pos int
	psiT   float64
	psiL   float64
	cost   int64
}

// better orders candidate moves: least goal 4 threshold penalty, then least
// goal 4 balance penalty, then fewest bytes, then partition index.
func (m replicaMove) better(o replicaMove) bool {
	if m.psiT != o.psiT {
		return m.psiT < o.psiT
	}
	if m.psiL != o.psiL {
		return m.psiL < o.psiL
	}
	if m.cost != o.cost {
		return m.cost < o.cost
	}
	return m.p < o.p
}

// moveSample is how many of a long candidate list bestMove looks at from
// the small end, and again spread over all sizes.
const moveSample = 32

// bestMove picks the best movable partition whose replica on src can move
// to dst keeping goal 1: of topic t, or (t < 0) of any topic where src holds
// more replicas than dst, so the topic's sum of squares does not rise.
func (s *planState) bestMove(t, src, dst int) (replicaMove, bool) {
	var best replicaMove
	found := false
	eval := func(p int) {
		if !s.movable[p] || s.has(p, dst) || !s.rackOK(p, src, dst) {
			return
		}
		m := replicaMove{p: p, pos: slices.Index(s.reps[p], src), cost: s.moveCost(p, src, dst)}
		m.psiT, m.psiL = s.projDelta(p, src, dst)
		if !found || m.better(best) {
			best, found = m, true
		}
	}
	try := func(tt int) {
		l := s.onT[s.tb(tt, src)]
		if l == nil {
			return
		}
		if len(*l) <= 2*moveSample {
			for _, p := range *l {
				eval(int(p))
			}
			return
		}
		// A long list (a topic with many partitions per broker) is sorted
		// by size: its smallest replicas (the cheapest) and a sample of
		// every size stand for it; a full scan only if none of them fits.
		for i := 0; i < moveSample; i++ {
			eval(int((*l)[i]))
		}
		stride := (len(*l) - moveSample) / moveSample
		for i := moveSample; i < len(*l); i += stride {
			eval(int((*l)[i]))
		}
		if !found {
			for _, p := range *l {
				eval(int(p))
			}
		}
	}
	if t >= 0 {
		try(t)
		return best, found
	}
	for tt := range s.topics {
		if s.cntT[s.tb(tt, src)] > s.cntT[s.tb(tt, dst)] {
			try(tt)
		}
	}
	return best, found
}

// countKey is a broker's place in countStep's order.
type countKey struct{ c, all, b int }
