package cluster

import (
	"slices"
	"sort"
)

// Goal 3 of the planner: preferred leaders per broker, per topic and
// overall.

// balanceLeaders is goal 3, by reordering replica lists only: per topic
// first, then overall while keeping every topic's spread. Reordering costs
// no bytes; partitions whose replica list changes anyway are reordered
// first, so a leader change rides along with a move when it can.
func (s *planState) balanceLeaders(dataMoves bool) bool {
	changed := false
	// A partition led by an ineligible broker (only left by LeadersOnly
	// plans) gets an eligible leader if it has one.
	for p := range s.parts {
		r := s.reps[p]
		if !s.movable[p] || len(r) == 0 || r[0] < s.n {
			continue
		}
		best := -1
		for i, b := range r {
			if b < s.n && (best < 0 || s.leaderBefore(s.topic[p], b, r[best])) {
				best = i
			}
		}
		if best > 0 {
			s.promote(p, best)
			changed = true
		}
	}
	for t := range s.topics {
		if s.balanceTopicLeaders(t) {
			changed = true
		}
	}
	if s.balanceOverallLeaders() {
		changed = true
	}
	// What reordering cannot fix, a data move may: a leader's replica
	// moves to a broker that leads too few (which takes over the
	// leadership), and if the replica counts need it, a follower replica
	// comes back the other way. Each such step lowers a leader sum of
	// squares and raises none of goal 2's, so this ends.
	for dataMoves && s.leaderDataStep() {
		changed = true
		for t := range s.topics {
			s.balanceTopicLeaders(t)
		}
		s.balanceOverallLeaders()
	}
	return changed
}

// inPass reports whether leader pass 0 or 1 visits p: partitions whose
// list changes anyway first, so a leader change rides along with a move
// (unless stable: then every partition in pass 0).
func (s *planState) inPass(p, pass int) bool {
	if s.stable > 0 {
		return pass == 0
	}
	return s.changed(p) == (pass == 0)
}

// leaderBefore orders candidate leaders within topic t: fewer leaders of
// the topic, then fewer overall, then index.
func (s *planState) leaderBefore(t, a, b int) bool {
	if x, y := s.leadT[s.tb(t, a)], s.leadT[s.tb(t, b)]; x != y {
		return x < y
	}
	if s.lead[a] != s.lead[b] {
		return s.lead[a] < s.lead[b]
	}
	return a < b
}

// balanceTopicLeaders brings topic t's leader counts within one where the
// replica sets allow: direct hand-overs (x leads p, y is a follower of p,
// x leads two more than y), then hand-over chains found by breadth-first
// search. With no chain from any broker to one leading two fewer, the
// counts minimise the sum of squares over all reorderings (it is a
// transportation problem and such a chain is exactly an improving path),
// so within one is reached whenever any reordering reaches it.
func (s *planState) balanceTopicLeaders(t int) bool {
	lo, hi := s.tStart[t], s.tStart[t+1]
	lt := func(b int) int32 { return s.leadT[s.tb(t, b)] }
	changed := false
	for {
		progress := false
		for pass := 0; pass < 2; pass++ {
			for p := lo; p < hi; p++ {
				r := s.reps[p]
				if !s.movable[p] || len(r) < 2 || r[0] >= s.n || !s.inPass(p, pass) {
					continue
				}
				best := -1
				for i := 1; i < len(r); i++ {
					if r[i] < s.n && lt(r[0])-lt(r[i]) >= 2 && (best < 0 || s.leaderBefore(t, r[i], r[best])) {
						best = i
					}
				}
				if best > 0 {
					s.promote(p, best)
					progress = true
				}
			}
		}
		if progress {
			changed = true
			continue
		}
		if !s.leaderChain(lo, hi, func(p, x, y int) bool { return true }, func(b int) int { return int(lt(b)) }) {
			return changed
		}
		changed = true
	}
}

// balanceOverallLeaders brings the overall leader counts within one where
// possible without raising any topic's sum of squares: each hand-over x → y
// in topic t needs x to lead at least as many of t as y plus one. Along a
// chain of distinct brokers the true change of a topic's sum of squares is
// at most the sum of the single hand-overs' changes, so the chain is safe.
func (s *planState) balanceOverallLeaders() bool {
	ok := func(p, x, y int) bool {
		t := s.topic[p]
		return s.leadT[s.tb(t, x)] >= s.leadT[s.tb(t, y)]+1
	}
	changed := false
	for {
		progress := false
		for pass := 0; pass < 2; pass++ {
			for p := range s.parts {
				r := s.reps[p]
				if !s.movable[p] || len(r) < 2 || r[0] >= s.n || !s.inPass(p, pass) {
					continue
				}
				best := -1
				for i := 1; i < len(r); i++ {
					y := r[i]
					if y < s.n && s.lead[r[0]]-s.lead[y] >= 2 && ok(p, r[0], y) && (best < 0 || s.lead[y] < s.lead[r[best]] || (s.lead[y] == s.lead[r[best]] && y < r[best])) {
						best = i
					}
				}
				if best > 0 {
					s.promote(p, best)
					progress = true
				}
			}
		}
		if progress {
			changed = true
			continue
		}
		if !s.leaderChain(0, len(s.parts), ok, func(b int) int { return s.lead[b] }) && !s.leaderSegments() {
			return changed
		}
		changed = true
	}
}

// leaderChain looks, among partitions [lo, hi), for a chain of hand-overs
// (each allowed by ok) from a broker x to a broker y with count(y) <=
// count(x)−2, tried from the highest count down, and applies the first it
// finds. Intermediate brokers keep their count.
func (s *planState) leaderChain(lo, hi int, ok func(p, x, y int) bool, count func(int) int) bool {
	ledBy := make([][]int32, s.n)
	for p := lo; p < hi; p++ {
		if r := s.reps[p]; s.movable[p] && len(r) > 1 && r[0] < s.n {
			ledBy[r[0]] = append(ledBy[r[0]], int32(p))
		}
	}
	order := make([]int, s.n)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(i, j int) bool {
		if a, b := count(order[i]), count(order[j]); a != b {
			return a > b
		}
		return order[i] < order[j]
	})
	if s.n == 0 {
		return false
	}
	minCount := count(order[s.n-1])
	via := make([]int32, s.n) // partition handed over to reach the broker
	from := make([]int, s.n)
	for _, src := range order {
		if count(src)-minCount < 2 {
			return false
		}
		for i := range from {
			from[i] = -2
		}
		from[src] = -1
		queue := []int{src}
		target := -1
		for len(queue) > 0 {
			x := queue[0]
			queue = queue[1:]
			for _, p32 := range ledBy[x] {
				p := int(p32)
				for _, y := range s.reps[p][1:] {
					if y >= s.n || from[y] != -2 || !ok(p, x, y) {
						continue
					}
					from[y], via[y] = x, p32
					queue = append(queue, y)
					if count(y) <= count(src)-2 && (target < 0 || count(y) < count(target) || (count(y) == count(target) && y < target)) {
						target = y
					}
				}
			}
		}
		if target < 0 {
			continue
		}
		for y := target; y != src; y = from[y] {
			p := int(via[y])
			s.promote(p, slices.Index(s.reps[p], y))
		}
		return true
	}
	return false
}

// leaderSegments is the general form of the overall chain, tried when the
// simple one finds nothing: a chain of segments, each a hand-over chain
// within one topic from x to y where x leads at least one more of the
// topic than y (so the topic's sum of squares does not rise, whatever the
// brokers in between), joined at brokers that gain in one topic what they
// lose in the next. Found by breadth-first search over brokers, each
// expanded by a search within every topic it leads in; the result is
// checked (segments may share partitions) and undone if it does not
// lower the overall sum of squares while keeping every topic's.
func (s *planState) leaderSegments() bool {
	if s.n < 3 {
		return false
	}
	before := s.leaderSquares()
	order := make([]int, s.n)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(i, j int) bool {
		if a, b := s.lead[order[i]], s.lead[order[j]]; a != b {
			return a > b
		}
		return order[i] < order[j]
	})
	minLead := s.lead[order[s.n-1]]
	// ledBy[t*n+x]: movable partitions of topic t led by x.
	ledBy := map[int][]int32{}
	for p := range s.parts {
		if r := s.reps[p]; s.movable[p] && len(r) > 1 && r[0] < s.n {
			k := s.tb(s.topic[p], r[0])
			ledBy[k] = append(ledBy[k], int32(p))
		}
	}
	// hop: hand partition p's leadership to broker to.
	type hop struct {
		p  int32
		to int
	}
	innerVia := make([]int32, s.n) // inner search: partition that reached a broker
	innerPrev := make([]int, s.n)  // and the broker that led it
	seen := make([]int, s.n)       // stamp of the inner search that reached a broker
	stamp := 0
	// The search is O(brokers × replicas) per source; work bounds it (a
	// fixed amount, so the outcome is still a function of the state).
	work := 0
	for p := range s.parts {
		work += 8 * len(s.reps[p])
	}
	for _, src := range order {
		if s.lead[src]-minLead < 2 || work < 0 {
			return false
		}
		// outer[y]: the segment (a list of hand-overs, in apply order)
		// that reaches y, and the broker it starts from.
		outer := make([][]hop, s.n)
		outerFrom := make([]int, s.n)
		for i := range outerFrom {
			outerFrom[i] = -2
		}
		outerFrom[src] = -1
		queue := []int{src}
		target := -1
		for len(queue) > 0 && target < 0 {
			x := queue[0]
			queue = queue[1:]
			for t := range s.topics {
				if len(ledBy[s.tb(t, x)]) == 0 {
					continue
				}
				stamp++
				seen[x] = stamp
				inner := []int{x}
				for len(inner) > 0 {
					z := inner[0]
					inner = inner[1:]
					for _, p32 := range ledBy[s.tb(t, z)] {
						work -= len(s.reps[p32])
						for _, y := range s.reps[p32][1:] {
							if y >= s.n || seen[y] == stamp {
								continue
							}
							seen[y] = stamp
							innerVia[y], innerPrev[y] = p32, z
							inner = append(inner, y)
							if outerFrom[y] != -2 || s.leadT[s.tb(t, x)] < s.leadT[s.tb(t, y)]+1 {
								continue
							}
							var seg []hop
							for w := y; w != x; w = innerPrev[w] {
								seg = append(seg, hop{innerVia[w], w})
							}
							outer[y], outerFrom[y] = seg, x
							queue = append(queue, y)
							if s.lead[y] <= s.lead[src]-2 && target < 0 {
								target = y
							}
						}
					}
				}
			}
		}
		if target < 0 {
			continue
		}
		// Apply the segments from the target back; the sums are checked
		// after, as segments found separately may overlap.
		s.begin()
		ok := true
		for y := target; y != src && ok; y = outerFrom[y] {
			for _, h := range outer[y] {
				p := int(h.p)
				i := slices.Index(s.reps[p], h.to)
				if i <= 0 {
					ok = false // an earlier segment already changed p
					break
				}
				s.promote(p, i)
			}
		}
		after := s.leaderSquares()
		j := s.journals[len(s.journals)-1]
		ok = ok && after < before && s.topicLeadersNotWorse(j)
		s.end(ok)
		if ok {
			return true
		}
	}
	return false
}

// leaderDataStep makes the cheapest move or swap that lowers the leader
// imbalance of a topic (or else the overall one) without raising any
// replica sum of squares or topic leader sum of squares. It reports
// whether it found one.
func (s *planState) leaderDataStep() bool {
	type pair struct{ a, b, t int }
	pairsOf := func(t int, count func(b int) int) []pair {
		var pairs []pair
		for a := 0; a < s.n; a++ {
			for b := 0; b < s.n; b++ {
				if count(a)-count(b) >= 2 {
					pairs = append(pairs, pair{a, b, t})
				}
			}
		}
		return pairs
	}
	type cand struct {
		p, q   int // q < 0: single move
		cost   int64
		dt, dl float64
	}
	// Fewest bytes, then the goal 4 penalties, then indexes.
	less := func(x, y cand) bool {
		switch {
		case x.cost != y.cost:
			return x.cost < y.cost
		case x.dt != y.dt:
			return x.dt < y.dt
		case x.dl != y.dl:
			return x.dl < y.dl
		case x.p != y.p:
			return x.p < y.p
		}
		return x.q < y.q
	}
	// try looks for the best step for the first pair that has one and
	// applies it.
	try := func(pairs []pair) bool {
		for _, pr := range pairs {
			a, b := pr.a, pr.b
			var best cand
			found := false
			topics := []int{pr.t}
			if pr.t < 0 {
				topics = topics[:0]
				for t := range s.topics {
					if s.leadT[s.tb(t, a)] >= s.leadT[s.tb(t, b)]+1 {
						topics = append(topics, t)
					}
				}
			}
			for _, t := range topics {
				la, lb := s.onT[s.tb(t, a)], s.onT[s.tb(t, b)]
				if la == nil {
					continue
				}
				single := [2]sqDelta{{a, t, -1, -1}, {b, t, 1, 1}}
				swap := [4]sqDelta{single[0], single[1], {b, t, -1, 0}, {a, t, 1, 0}}
				singleOK, swapOK := s.leaderStepOK(single[:]), s.leaderStepOK(swap[:])
				for _, p32 := range *la {
					p := int(p32)
					if !s.movable[p] || s.reps[p][0] != a || s.has(p, b) || !s.rackOK(p, a, b) {
						continue
					}
					dt, dl := s.psiDelta(p, a, b)
					if singleOK {
						if c := (cand{p, -1, s.moveCost(p, a, b), dt, dl}); !found || less(c, best) {
							best, found = c, true
						}
					}
					if !swapOK || lb == nil {
						continue
					}
					// The lightest follower replica of the topic on b that
					// can go back to a (the list is sorted by size).
					for _, q32 := range *lb {
						q := int(q32)
						if q == p || !s.movable[q] || s.reps[q][0] == b || s.has(q, a) || !s.rackOK(q, b, a) {
							continue
						}
						dt2, dl2 := s.psiDelta(q, b, a)
						if c := (cand{p, q, s.moveCost(p, a, b) + s.moveCost(q, b, a), dt + dt2, dl + dl2}); !found || less(c, best) {
							best, found = c, true
						}
						break
					}
				}
			}
			if found {
				s.move(best.p, 0, b)
				if best.q >= 0 {
					s.move(best.q, slices.Index(s.reps[best.q], b), a)
				}
				return true
			}
		}
		return false
	}
	for t := range s.topics {
		if try(pairsOf(t, func(b int) int { return int(s.leadT[s.tb(t, b)]) })) {
			return true
		}
	}
	return try(pairsOf(-1, func(b int) int { return s.lead[b] }))
}

// leaderStepOK: ds raises no replica sum of squares nor the per-topic
// leader one, and lowers a leader one.
func (s *planState) leaderStepOK(ds []sqDelta) bool {
	c, ct, l, lt := s.squaresDelta(ds)
	return c <= 0 && ct <= 0 && lt <= 0 && (lt < 0 || l < 0)
}

// leaderSquares returns the sum of squares of the overall leader counts.
func (s *planState) leaderSquares() (overall int64) {
	for _, c := range s.lead {
		overall += int64(c) * int64(c)
	}
	return overall
}

// topicLeadersNotWorse checks each topic touched by the journal on its own:
// the total over topics not rising is not enough, as one topic could pay
// for another.
func (s *planState) topicLeadersNotWorse(journal map[int][]int) bool {
	topics := map[int]bool{}
	for p := range journal {
		topics[s.topic[p]] = true
	}
	for t := range topics {
		var now, was int64
		old := make([]int32, s.n)
		copy(old, s.leadT[t*s.n:(t+1)*s.n])
		// Recompute the topic's counts as they were from the journal.
		for p, reps := range journal {
			if s.topic[p] != t {
				continue
			}
			if b := s.reps[p][0]; b < s.n {
				old[b]--
			}
			if b := reps[0]; b < s.n {
				old[b]++
			}
		}
		for b := 0; b < s.n; b++ {
			c := int64(s.leadT[s.tb(t, b)])
			now += c * c
			was += int64(old[b]) * int64(old[b])
		}
		if now > was {
			return false
		}
	}
	return true
}
