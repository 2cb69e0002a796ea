package cluster

import "slices"

// Goal 1 of the planner: placement rules.

// rackBounds are the per-rack replica counts a valid partition of one RF
// may have: lo[k] <= count in rack k <= hi[k], summing to the RF.
//
// They come from filling racks level by level: with t the largest level
// such that sum_k min(size_k, t) <= rf, every rack gets min(size_k, t) and
// the rest (at most one more each) go to racks with more than t brokers.
// With racks at least as large as their share this is "span min(RF, racks)
// racks, max−min per rack <= 1"; a rack too small for its share gets all
// its brokers and the others make up the difference (capped, reported).
type rackBounds struct {
	lo, hi []int
	capped bool // some rack is smaller than its share: max−min > 1 is forced
}

func computeRackBounds(rackSize []int, rf int) rackBounds {
	fill := func(t int) int {
		sum := 0
		for _, c := range rackSize {
			sum += min(c, t)
		}
		return sum
	}
	t := 0
	for t < rf && fill(t+1) <= rf {
		t++
	}
	extra := rf - fill(t)
	b := rackBounds{lo: make([]int, len(rackSize)), hi: make([]int, len(rackSize))}
	// The most even vector: racks of at most t brokers are full, the others
	// hold t, extra of them t+1. Its spread says whether max−min <= 1 is
	// possible at all.
	lo, hi, flex := rf, 0, 0
	for k, c := range rackSize {
		b.lo[k], b.hi[k] = min(c, t), min(c, t)
		if c > t {
			flex++
			if extra > 0 {
				b.hi[k] = t + 1
			}
		} else {
			lo, hi = min(lo, c), max(hi, c)
		}
	}
	if flex > extra {
		lo, hi = min(lo, t), max(hi, t)
	}
	if extra > 0 {
		lo, hi = min(lo, t+1), max(hi, t+1)
	}
	b.capped = hi-lo > 1
	return b
}

// fixPlacement makes every movable partition valid (goal 1) with the fewest
// copies: it keeps every replica it may keep, drops the ones it must (on an
// ineligible broker, above the RF, or above a rack's bound) from the most
// loaded brokers, and adds the missing ones on the least loaded brokers the
// rack bounds allow. Partitions are fixed in order, each seeing the counts
// the ones before it left, so replacements spread instead of piling up.
func (s *planState) fixPlacement() {
	// Drop ineligible replicas of every partition first, so that the
	// choices below see the load that is going to stay.
	for p := range s.parts {
		if !s.movable[p] {
			continue
		}
		var keep []int
		for i, b := range s.reps[p] {
			if b < s.n {
				keep = append(keep, b)
			} else {
				s.remove(p, b, i == 0)
			}
		}
		if len(keep) > 0 && keep[0] != s.reps[p][0] {
			// The leader left: its successor (the next eligible replica)
			// becomes the preferred leader, as Kafka's election would pick.
			s.addLead(p, keep[0], 1)
		}
		s.reps[p] = keep
	}
	counts := make([]int, len(s.racks))
	for p := range s.parts {
		if !s.movable[p] {
			continue
		}
		bd := s.bounds[s.rf[p]]
		clear(counts)
		for _, b := range s.reps[p] {
			counts[s.rack[b]]++
		}
		for {
			over := func() bool {
				if len(s.reps[p]) > s.rf[p] {
					return true
				}
				need := 0
				for k, c := range counts {
					if c > bd.hi[k] {
						return true
					}
					need += max(c, bd.lo[k])
				}
				return need > s.rf[p]
			}()
			if !over {
				break
			}
			// Drop from a rack above its lower bound (one must exist, see
			// rackBounds); racks above their upper bound first, then
			// followers before the leader, then the busiest broker.
			best := -1
			for i, b := range s.reps[p] {
				k := s.rack[b]
				if counts[k] <= bd.lo[k] {
					continue
				}
				if best < 0 || s.dropBefore(p, i, best, counts, bd) {
					best = i
				}
			}
			b := s.reps[p][best]
			counts[s.rack[b]]--
			s.remove(p, b, best == 0)
			s.reps[p] = slices.Delete(s.reps[p], best, best+1)
			if best == 0 && len(s.reps[p]) > 0 {
				s.addLead(p, s.reps[p][0], 1)
			}
		}
		for len(s.reps[p]) < s.rf[p] {
			slots := s.rf[p] - len(s.reps[p])
			deficit := 0
			for k, c := range counts {
				deficit += max(0, bd.lo[k]-c)
			}
			best := -1
			for b := 0; b < s.n; b++ {
				k := s.rack[b]
				if s.has(p, b) || counts[k] >= bd.hi[k] || (deficit == slots && counts[k] >= bd.lo[k]) {
					continue
				}
				if best < 0 || s.addBefore(p, b, best) {
					best = b
				}
			}
			counts[s.rack[best]]++
			s.reps[p] = append(s.reps[p], best)
			s.add(p, best, len(s.reps[p]) == 1)
		}
	}
}

// dropBefore orders the replicas fixPlacement may drop from p: i before j?
func (s *planState) dropBefore(p, i, j int, counts []int, bd rackBounds) bool {
	bi, bj := s.reps[p][i], s.reps[p][j]
	oi, oj := counts[s.rack[bi]] > bd.hi[s.rack[bi]], counts[s.rack[bj]] > bd.hi[s.rack[bj]]
	if oi != oj {
		return oi
	}
	if (i == 0) != (j == 0) {
		return j == 0
	}
	t := s.topic[p]
	if a, b := s.cntT[s.tb(t, bi)], s.cntT[s.tb(t, bj)]; a != b {
		return a > b
	}
	if s.cnt[bi] != s.cnt[bj] {
		return s.cnt[bi] > s.cnt[bj]
	}
	if s.disk[bi] != s.disk[bj] {
		return s.disk[bi] > s.disk[bj]
	}
	return bi > bj
}

// addBefore orders the brokers fixPlacement may add to p: a before b? Least
// replicas of the topic, then overall, then a broker that had the replica
// before (nothing to copy), then least goal 4 trouble where the brokers are
// heading (projDelta), then index.
func (s *planState) addBefore(p, a, b int) bool {
	t := s.topic[p]
	if x, y := s.cntT[s.tb(t, a)], s.cntT[s.tb(t, b)]; x != y {
		return x < y
	}
	if s.cnt[a] != s.cnt[b] {
		return s.cnt[a] < s.cnt[b]
	}
	if wa, wb := s.wasOn(p, a), s.wasOn(p, b); wa != wb {
		return wa
	}
	ta, la := s.projDelta(p, -1, a)
	tb, lb := s.projDelta(p, -1, b)
	if ta != tb {
		return ta < tb
	}
	if la != lb {
		return la < lb
	}
	return a < b
}
