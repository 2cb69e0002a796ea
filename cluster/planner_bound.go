package cluster

import (
	"math"
	"slices"
	"sort"
)

// lowerBound is a lower bound on the bytes any plan must copy to reach
// what this plan reaches. Goal 1 always counts; of goals 2 and 4 it counts
// the parts that hold at the end, taken one by one: the overall replica
// spread, each topic's spread, and per broker its disk band, its bytes-in
// band and its disk usage at most the threshold. It is the larger of two
// counts of the same bytes:
//
//   - By partition. A partition keeps at most keep(p) of its replicas: the
//     distinct ones on eligible brokers that fit the rack bounds (per rack
//     at most its upper bound, and at most RF − sum of lower bounds racks
//     above their lower bound). It copies at least (RF − keep(p)) × Size.
//     A broker that must lose replicas (more than an even spread allows,
//     per topic or overall; above its disk or bytes-in band; its disk above
//     the threshold) loses replicas, and a lost replica of a partition with
//     none to spare must be copied elsewhere, on top of the above. Per such
//     broker add the least bytes such replicas can carry, after dropping
//     those that go for free: the sizes of its smallest replicas in excess,
//     the disk excess itself, or for bytes in the fractional knapsack (its
//     replicas with the most bytes in per byte first).
//   - By broker. A copy lands on exactly one broker, and only a partition
//     the broker did not hold can land on it. With the overall spread
//     within one, broker b ends with at least floor(T/n) replicas, and
//     with topic t's spread within one, at least floor(T_t/n) of t, but it
//     keeps at most the replicas it has now; the missing ones cost at
//     least the sizes of that many of the smallest partitions it lacks
//     (summed over topics, or overall: the larger). In its disk band it
//     receives at least the bytes it lacks of (1 − tolerance) × mean; in
//     its bytes-in band, at least the fractional knapsack of the bytes in
//     it lacks. Sum over brokers.
//
// Both are valid whatever the plan, so is their maximum.
func (s *planState) lowerBound() int64 {
	n := s.n
	if n == 0 {
		return 0
	}
	// What holds at the end, part by part.
	spread := func(c func(b int) int) bool {
		lo, hi := c(0), c(0)
		for b := 1; b < n; b++ {
			lo, hi = min(lo, c(b)), max(hi, c(b))
		}
		return hi-lo <= 1
	}
	overallEven := spread(func(b int) int { return s.cnt[b] })
	topicEven := make([]bool, len(s.topics))
	for t := range s.topics {
		topicEven[t] = spread(func(b int) int { return int(s.cntT[s.tb(t, b)]) })
	}
	inBandD, inBandN := make([]bool, n), make([]bool, n)
	for b := 0; b < n; b++ {
		inBandD[b] = s.meanD > 0 && math.Abs(float64(s.disk[b])-s.meanD) <= s.tol*s.meanD
		inBandN[b] = s.meanN > 0 && math.Abs(s.bytesIn[b]-s.meanN) <= s.tol*s.meanN
	}

	// The input's distinct replicas on eligible brokers.
	orig := make([][]int, len(s.parts))
	onOrig := make([][]int, n)
	c0 := make([]int, n)
	c0T := make([]int32, len(s.topics)*n)
	in0 := make([]float64, n)
	rackCnt := make([]int, len(s.racks))
	var byPartition int64
	spare := make([]bool, len(s.parts)) // a replica may be dropped for free
	for p := range s.parts {
		for _, id := range s.orig[p] {
			if b := s.index[id]; b < n && !slices.Contains(orig[p], b) {
				orig[p] = append(orig[p], b)
				onOrig[b] = append(onOrig[b], p)
				c0[b]++
				c0T[s.tb(s.topic[p], b)]++
				in0[b] += s.parts[p].BytesIn
			}
		}
		clear(rackCnt)
		for _, b := range orig[p] {
			rackCnt[s.rack[b]]++
		}
		bd := s.bounds[s.rf[p]]
		base, flex, sumLo := 0, 0, 0
		for k, c := range rackCnt {
			base += min(c, bd.lo[k])
			sumLo += bd.lo[k]
			if min(c, bd.hi[k]) > bd.lo[k] {
				flex++
			}
		}
		keep := base + min(flex, s.rf[p]-sumLo)
		byPartition += int64(s.rf[p]-keep) * s.parts[p].Size
		spare[p] = len(orig[p]) > keep
	}
	// Partitions by bytes in per byte, most first: the order of the
	// fractional knapsacks.
	byDensity := make([]int, 0, len(s.parts))
	for p := range s.parts {
		if s.parts[p].BytesIn > 0 {
			byDensity = append(byDensity, p)
		}
	}
	density := func(p int) float64 {
		if s.parts[p].Size == 0 {
			return math.Inf(1)
		}
		return s.parts[p].BytesIn / float64(s.parts[p].Size)
	}
	sort.SliceStable(byDensity, func(i, j int) bool { return density(byDensity[i]) > density(byDensity[j]) })
	// knapsack is the least number of bytes, fractions allowed, that
	// partitions accepted by use carry need bytes/s in.
	knapsack := func(need float64, use func(p int) bool) int64 {
		var bytes float64
		for _, p := range byDensity {
			if need <= 0 {
				break
			}
			if !use(p) {
				continue
			}
			in := s.parts[p].BytesIn
			f := min(1, need/in)
			bytes += f * float64(s.parts[p].Size)
			need -= in
		}
		if need > 0 {
			return 0 // cannot be met at all; this plan did not meet it either
		}
		return int64(math.Floor(bytes * (1 - 1e-9)))
	}

	// Partitions by size, ascending, overall and per topic.
	bySize := make([]int, len(s.parts))
	for i := range bySize {
		bySize[i] = i
	}
	sort.SliceStable(bySize, func(i, j int) bool { return s.parts[bySize[i]].Size < s.parts[bySize[j]].Size })
	topicBySize := make([][]int, len(s.topics))
	for _, p := range bySize {
		topicBySize[s.topic[p]] = append(topicBySize[s.topic[p]], p)
	}
	total := 0
	totalT := make([]int, len(s.topics))
	for p := range s.parts {
		total += s.rf[p]
		totalT[s.topic[p]] += s.rf[p]
	}
	// held sums the k smallest of list that b holds and that could not be
	// dropped for free.
	held := func(list []int, b, k int) int64 {
		var sum int64
		for _, p := range list {
			if k == 0 {
				break
			}
			if !spare[p] && slices.Contains(orig[p], b) {
				sum += s.parts[p].Size
				k--
			}
		}
		return sum
	}

	for b := 0; b < n; b++ {
		var free int64
		var freeIn float64
		for _, p := range onOrig[b] {
			if spare[p] {
				free += s.parts[p].Size
				freeIn += s.parts[p].BytesIn
			}
		}
		var out int64
		shed := 0.0
		if inBandD[b] {
			shed = float64(s.disk0[b]) - (1+s.tol)*s.meanD
		}
		if limit := s.thr * float64(s.capa[b]); s.capa[b] > 0 && s.used[b] > 0 && float64(s.projectedUsed(b, s.disk[b])) <= limit {
			shed = max(shed, float64(s.used[b])-limit)
		}
		if x := shed - float64(free); x > 0 {
			out = int64(math.Floor(x))
		}
		if inBandN[b] {
			if need := in0[b] - (1+s.tol)*s.meanN - freeIn; need > 0 {
				out = max(out, knapsack(need, func(p int) bool { return !spare[p] && slices.Contains(orig[p], b) }))
			}
		}
		// Above the most replicas an even spread allows (per topic, or
		// overall), beyond those it may drop for free.
		spareT := map[int]int{}
		spareN := 0
		for _, p := range onOrig[b] {
			if spare[p] {
				spareT[s.topic[p]]++
				spareN++
			}
		}
		var perTopic int64
		for t := range s.topics {
			ceil := (totalT[t] + n - 1) / n
			if e := int(c0T[s.tb(t, b)]) - ceil - spareT[t]; e > 0 && topicEven[t] {
				perTopic += held(topicBySize[t], b, e)
			}
		}
		out = max(out, perTopic)
		if e := c0[b] - (total+n-1)/n - spareN; e > 0 && overallEven {
			out = max(out, held(bySize, b, e))
		}
		byPartition += out
	}

	smallest := func(list []int, b, k int) int64 {
		var sum int64
		for _, p := range list {
			if k == 0 {
				break
			}
			if !slices.Contains(orig[p], b) {
				sum += s.parts[p].Size
				k--
			}
		}
		return sum
	}
	var byBroker int64
	for b := 0; b < n; b++ {
		var in int64
		for t := range s.topics {
			if d := totalT[t]/n - int(c0T[s.tb(t, b)]); d > 0 && topicEven[t] {
				in += smallest(topicBySize[t], b, d)
			}
		}
		if d := total/n - c0[b]; d > 0 && overallEven {
			in = max(in, smallest(bySize, b, d))
		}
		if inBandD[b] {
			if need := (1-s.tol)*s.meanD - float64(s.disk0[b]); need > 0 {
				in = max(in, int64(math.Floor(need)))
			}
		}
		if inBandN[b] {
			if need := (1-s.tol)*s.meanN - in0[b]; need > 0 {
				in = max(in, knapsack(need, func(p int) bool { return !slices.Contains(orig[p], b) }))
			}
		}
		byBroker += in
	}
	return max(byPartition, byBroker)
}
