package cluster

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// The planner's working state: brokers and partitions as indexes, the
// counts every goal reads, and the mutations that keep them in step.

// planState is the planner's working copy of the cluster. Brokers are
// indexes: 0..n-1 are the eligible brokers sorted by id, n.. the leaving and
// unknown ones (they only ever appear in replica lists of LeadersOnly plans
// and of partitions that are not movable).
//
// Invariants (after newPlanState, kept by every mutation):
//   - cnt[b], lead[b], disk[b], bytesIn[b] are the totals over reps of the
//     eligible broker b; cntT/leadT the same per topic (index t*n+b);
//   - onT[t*n+b] lists exactly the partitions of topic t whose reps hold b,
//     bySize[b] and byIn[b] those whose reps hold b, each sorted as noted;
//   - once fixPlacement ran, every movable partition is valid (goal 1).
//
// Memory is O(replicas + topics × brokers): the per-topic counts are dense.
type planState struct {
	n       int
	allIDs  []int32       // broker index → id (eligible first)
	index   map[int32]int // id → broker index
	rack    []int         // eligible broker → rack index
	racks   []string      // rack names, sorted ("" alone when no racks)
	rackLen []int         // eligible brokers per rack
	bounds  map[int]rackBounds

	parts  []PlanPartition // sorted by topic, partition
	orig   [][]int32       // parts[p].Replicas as given
	rf     []int
	topic  []int // partition → topic index
	topics []string
	tStart []int // partitions of topic t: [tStart[t], tStart[t+1])
	// movable[p]: the planner may change p (all but the existing
	// partitions of PlaceNewPartitions and, in LeadersOnly, lists with a
	// repeat).
	movable []bool
	reps    [][]int // current replicas (broker indexes, repeats dropped), leader first

	cnt, lead   []int
	cntT, leadT []int32
	disk        []int64
	bytesIn     []float64
	onT         map[int]*[]int32 // by Size, then index
	bySize      [][]int32        // eligible broker → its partitions by Size, then index
	byIn        [][]int32        // the same by BytesIn, then index
	listsSorted bool             // the three are sorted (not during newPlanState)
	partnerBuf  []partnerKey     // scratch of partnerOrder
	loadEvals   int              // load steps evaluated, up to maxEvals
	maxEvals    int              // maxLoadEvals (lower in tests)
	loadCapped  bool             // the load phase stopped at maxLoadEvals
	countKeys   []countKey       // scratch of countStep
	countOrder  []int            // scratch of countStep

	// Goal 4 inputs.
	used, capa, disk0 []int64 // DiskUsed, DiskCapacity, and our bytes on it at the start
	thr, tol          float64
	meanD, meanN      float64 // bytes and bytes in per eligible broker once planned
	meanCnt           float64 // replicas per eligible broker once planned
	avgSize, avgIn    float64 // bytes and bytes in of the average replica

	leadersOnly bool

	// ver[b] changes whenever a partition with a replica on eligible
	// broker b changes its replicas (which may change what can move off
	// or onto b); gen whenever any partition does. They let searches that
	// failed be skipped until something they looked at changed.
	ver     []uint32
	gen     uint64
	noMove  map[pairKey][2]uint32 // failed bestMove → ver of src, dst then (per topic loop)
	noChain map[int]uint64        // topic (or -1) → gen when chains failed

	// rackFlex[x][y]: some partition could move a replica from rack x to
	// rack y within its bounds (always for x == y).
	rackFlex [][]bool

	// journals is a stack of undo logs: each open one receives the replica
	// list of every partition before its first change since it was opened
	// (see begin and end).
	journals []map[int][]int

	// stable > 0 while a decision is taken whose outcome (not only its
	// choice among equals) depends on the path taken: a tentative episode,
	// a leader repair, a two-move chain. Such decisions must not look at
	// the input placement (what a move costs, which partitions changed),
	// or planning a plan's result could find what the plan did not, and
	// the planner would not be a fixpoint. moveCost then charges Size for
	// every move, and leader passes visit partitions in index order.
	stable int
}

// newPlanState validates in and builds the state. isMovable selects the
// partitions the planner may change (nil: all).
func newPlanState(in PlanInput, isMovable func(PlanPartition) bool) (*planState, error) {
	s := &planState{index: map[int32]int{}, bounds: map[int]rackBounds{}}
	s.thr, s.tol = in.DiskThreshold, in.LoadTolerance
	s.maxEvals = maxLoadEvals
	s.leadersOnly = in.LeadersOnly
	if s.thr == 0 {
		s.thr = defaultDiskThreshold
	}
	if s.tol == 0 {
		s.tol = defaultLoadTolerance
	}
	if !(s.thr >= 0 && s.thr <= 1) || !(s.tol >= 0 && s.tol <= 1) { // also NaN
		return nil, fmt.Errorf("%w: disk threshold %v, load tolerance %v", ErrInvalidPlanInput, in.DiskThreshold, in.LoadTolerance)
	}

	brokers := slices.Clone(in.Brokers)
	sort.Slice(brokers, func(i, j int) bool { return brokers[i].ID < brokers[j].ID })
	withRack := 0
	for i, b := range brokers {
		if i > 0 && brokers[i-1].ID == b.ID {
			return nil, fmt.Errorf("%w: broker %d listed twice", ErrInvalidPlanInput, b.ID)
		}
		if b.DiskCapacity < 0 || b.DiskUsed < 0 {
			return nil, fmt.Errorf("%w: broker %d has negative disk figures", ErrInvalidPlanInput, b.ID)
		}
		if !b.Leaving {
			s.index[b.ID] = s.n
			s.allIDs = append(s.allIDs, b.ID)
			s.used = append(s.used, b.DiskUsed)
			s.capa = append(s.capa, b.DiskCapacity)
			s.n++
			if b.Rack != "" {
				withRack++
			}
		}
	}
	if withRack != 0 && withRack != s.n {
		return nil, fmt.Errorf("%w: %d of %d eligible brokers have a rack", ErrIncompleteRackInfo, withRack, s.n)
	}
	rackIdx := map[string]int{}
	if withRack == 0 {
		s.racks = []string{""}
	} else {
		for _, b := range brokers {
			if _, ok := rackIdx[b.Rack]; !ok && !b.Leaving {
				rackIdx[b.Rack] = 0
				s.racks = append(s.racks, b.Rack)
			}
		}
		sort.Strings(s.racks)
		for i, r := range s.racks {
			rackIdx[r] = i
		}
	}
	s.rackLen = make([]int, len(s.racks))
	s.rack = make([]int, s.n)
	for i, b := range brokers {
		if j, ok := s.index[b.ID]; ok {
			s.rack[j] = rackIdx[brokers[i].Rack]
			s.rackLen[s.rack[j]]++
		}
	}

	// Ineligible ids get indexes after the eligible ones: leaving brokers
	// by id, then unknown ids by id, so numbering is deterministic.
	var others []int32
	for _, b := range brokers {
		if b.Leaving {
			others = append(others, b.ID)
		}
	}
	var unknown []int32
	seen := map[int32]bool{}
	for _, b := range brokers {
		seen[b.ID] = true
	}
	for _, p := range in.Partitions {
		for _, id := range p.Replicas {
			if !seen[id] {
				seen[id] = true
				unknown = append(unknown, id)
			}
		}
	}
	slices.Sort(unknown)
	for _, id := range append(others, unknown...) {
		s.index[id] = len(s.allIDs)
		s.allIDs = append(s.allIDs, id)
	}

	s.parts = slices.Clone(in.Partitions)
	sort.Slice(s.parts, func(i, j int) bool {
		a, b := s.parts[i], s.parts[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	np := len(s.parts)
	s.orig = make([][]int32, np)
	s.rf = make([]int, np)
	s.topic = make([]int, np)
	s.movable = make([]bool, np)
	s.reps = make([][]int, np)
	for i := range s.parts {
		p := &s.parts[i]
		if i > 0 && s.parts[i-1].Topic == p.Topic && s.parts[i-1].Partition == p.Partition {
			return nil, fmt.Errorf("%w: partition %s-%d listed twice", ErrInvalidPlanInput, p.Topic, p.Partition)
		}
		if p.Size < 0 || !(p.BytesIn >= 0) || math.IsInf(p.BytesIn, 1) {
			return nil, fmt.Errorf("%w: partition %s-%d has a negative size or an invalid load %v", ErrInvalidPlanInput, p.Topic, p.Partition, p.BytesIn)
		}
		// Rates are rounded to 1/64 byte/s. Sums of such numbers are exact
		// in float64 (up to 2^47 bytes/s in all), so a broker's bytes in
		// does not depend on the order replicas came and went: planning a
		// plan's outcome sees exactly the loads the plan ended with.
		p.BytesIn = math.Round(p.BytesIn*inQuantum) / inQuantum
		rf := p.RF
		if rf == 0 {
			// A broker listed twice is one replica.
			distinct := map[int32]bool{}
			for _, r := range p.Replicas {
				distinct[r] = true
			}
			rf = len(distinct)
		}
		s.movable[i] = isMovable == nil || isMovable(*p)
		// Only a partition the planner places must have a placeable RF:
		// PlaceNewPartitions takes the existing ones as they are (one may
		// have a replica on a broker that is down), and a LeadersOnly plan
		// only reorders.
		if rf < 0 || (rf == 0 && s.movable[i]) {
			return nil, fmt.Errorf("%w: partition %s-%d: %d (must be > 0)", ErrInvalidReplicationFactor, p.Topic, p.Partition, rf)
		}
		if s.movable[i] && rf > s.n && !in.LeadersOnly {
			return nil, fmt.Errorf("%w: partition %s-%d: %d larger than %d eligible brokers", ErrInvalidReplicationFactor, p.Topic, p.Partition, rf, s.n)
		}
		if i == 0 || s.parts[i-1].Topic != p.Topic {
			s.topics = append(s.topics, p.Topic)
			s.tStart = append(s.tStart, i)
		}
		s.topic[i] = len(s.topics) - 1
		s.rf[i] = rf
		s.orig[i] = p.Replicas
	}
	s.tStart = append(s.tStart, np)
	for i := range s.parts {
		if _, ok := s.bounds[s.rf[i]]; !ok {
			s.bounds[s.rf[i]] = computeRackBounds(s.rackLen, s.rf[i])
		}
	}

	nt := len(s.topics)
	s.cnt, s.lead = make([]int, s.n), make([]int, s.n)
	s.cntT, s.leadT = make([]int32, nt*s.n), make([]int32, nt*s.n)
	s.disk, s.disk0, s.bytesIn = make([]int64, s.n), make([]int64, s.n), make([]float64, s.n)
	s.onT = make(map[int]*[]int32)
	s.bySize, s.byIn = make([][]int32, s.n), make([][]int32, s.n)
	for p := range s.parts {
		// A repeated broker is not a second replica: keep its first place.
		var reps []int
		for _, id := range s.orig[p] {
			b := s.index[id]
			if !slices.Contains(reps, b) {
				reps = append(reps, b)
			}
		}
		s.reps[p] = reps
		if in.LeadersOnly && len(reps) != len(s.orig[p]) {
			// Reordering cannot drop the repeat; leave the list alone.
			s.movable[p] = false
		}
		for i, b := range reps {
			s.add(p, b, i == 0)
			if b < s.n {
				s.disk0[b] += s.parts[p].Size
			}
		}
	}
	s.sortLists()
	s.setLoadTargets(in.LeadersOnly)
	s.ver = make([]uint32, s.n)
	s.noChain = map[int]uint64{}
	nr := len(s.racks)
	s.rackFlex = make([][]bool, nr)
	for x := range s.rackFlex {
		s.rackFlex[x] = make([]bool, nr)
		s.rackFlex[x][x] = true
		for y := range s.rackFlex[x] {
			for _, bd := range s.bounds {
				s.rackFlex[x][y] = s.rackFlex[x][y] || (bd.hi[x] > bd.lo[x] && bd.hi[y] > bd.lo[y])
			}
		}
	}
	return s, nil
}

// inQuantum is the inverse of the step BytesIn is rounded to.
const inQuantum = 64

// key of the (topic, broker) tables.
func (s *planState) tb(t, b int) int { return t*s.n + b }

// add counts replica b of partition p (as leader when leader).
func (s *planState) add(p, b int, leader bool) {
	if b >= s.n {
		return
	}
	t := s.topic[p]
	s.cnt[b]++
	s.cntT[s.tb(t, b)]++
	s.disk[b] += s.parts[p].Size
	s.bytesIn[b] += s.parts[p].BytesIn
	l := s.onT[s.tb(t, b)]
	if l == nil {
		l = new([]int32)
		s.onT[s.tb(t, b)] = l
	}
	if s.listsSorted {
		*l = insertSorted(*l, int32(p), s.sizeLess)
		s.bySize[b] = insertSorted(s.bySize[b], int32(p), s.sizeLess)
		s.byIn[b] = insertSorted(s.byIn[b], int32(p), s.inLess)
	} else {
		*l = append(*l, int32(p))
		s.bySize[b] = append(s.bySize[b], int32(p))
		s.byIn[b] = append(s.byIn[b], int32(p))
	}
	if leader {
		s.lead[b]++
		s.leadT[s.tb(t, b)]++
	}
}

// remove undoes add.
func (s *planState) remove(p, b int, leader bool) {
	if b >= s.n {
		return
	}
	t := s.topic[p]
	s.cnt[b]--
	s.cntT[s.tb(t, b)]--
	s.disk[b] -= s.parts[p].Size
	s.bytesIn[b] -= s.parts[p].BytesIn
	l := s.onT[s.tb(t, b)]
	*l = deleteSorted(*l, int32(p), s.sizeLess)
	s.bySize[b] = deleteSorted(s.bySize[b], int32(p), s.sizeLess)
	s.byIn[b] = deleteSorted(s.byIn[b], int32(p), s.inLess)
	if leader {
		s.lead[b]--
		s.leadT[s.tb(t, b)]--
	}
}

// move replaces the replica at position pos of partition p by broker to
// (to takes over the position, so moving the leader makes to the leader).
func (s *planState) move(p, pos, to int) {
	s.record(p)
	s.touch(p)
	s.remove(p, s.reps[p][pos], pos == 0)
	s.reps[p][pos] = to
	s.add(p, to, pos == 0)
	s.touch(p)
}

// touch bumps the versions of p's current replicas and the generation.
func (s *planState) touch(p int) {
	s.gen++
	for _, b := range s.reps[p] {
		if b < s.n {
			s.ver[b]++
		}
	}
}

// promote makes the replica at position pos the preferred leader by
// swapping it with the current one.
func (s *planState) promote(p, pos int) {
	s.record(p)
	r := s.reps[p]
	s.addLead(p, r[0], -1)
	s.addLead(p, r[pos], 1)
	r[0], r[pos] = r[pos], r[0]
}

// addLead adds d to eligible broker b's leader counts for partition p.
func (s *planState) addLead(p, b, d int) {
	if b < s.n {
		s.lead[b] += d
		s.leadT[s.tb(s.topic[p], b)] += int32(d)
	}
}

// record saves p's replica list in every open journal that lacks it.
func (s *planState) record(p int) {
	for _, j := range s.journals {
		if _, ok := j[p]; !ok {
			j[p] = slices.Clone(s.reps[p])
		}
	}
}

// begin opens a journal: changes from now on can be undone by end(false).
func (s *planState) begin() { s.journals = append(s.journals, map[int][]int{}) }

// end closes the innermost journal, undoing its changes unless keep, and
// returns it (partition → replica list when it was opened).
func (s *planState) end(keep bool) map[int][]int {
	j := s.journals[len(s.journals)-1]
	s.journals = s.journals[:len(s.journals)-1]
	if keep {
		return j
	}
	ps := make([]int, 0, len(j))
	for p := range j {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	for _, p := range ps {
		s.record(p) // an outer journal must see the state being replaced
		s.touch(p)
		for i, b := range s.reps[p] {
			s.remove(p, b, i == 0)
		}
		s.reps[p] = j[p]
		for i, b := range s.reps[p] {
			s.add(p, b, i == 0)
		}
		s.touch(p)
	}
	return j
}

// has reports whether broker b holds a replica of p.
func (s *planState) has(p, b int) bool { return slices.Contains(s.reps[p], b) }

// wasOn reports whether broker b was a replica of p in the input: moving a
// replica onto such a broker copies nothing.
func (s *planState) wasOn(p, b int) bool { return slices.Contains(s.orig[p], s.allIDs[b]) }

// moveCost is the change in bytes copied when p's replica moves from src
// to dst: copying onto a broker that never had it costs Size, and moving
// away a replica this plan added gives its copy back.
func (s *planState) moveCost(p, src, dst int) int64 {
	if s.stable > 0 {
		return s.parts[p].Size
	}
	var c int64
	if !s.wasOn(p, dst) {
		c += s.parts[p].Size
	}
	if !s.wasOn(p, src) {
		c -= s.parts[p].Size
	}
	return c
}

// changed reports whether p's replica list differs from the input.
func (s *planState) changed(p int) bool {
	r, o := s.reps[p], s.orig[p]
	if len(r) != len(o) {
		return true
	}
	for i, b := range r {
		if s.allIDs[b] != o[i] {
			return true
		}
	}
	return false
}

// rackOK reports whether moving one of p's replicas from broker src to dst
// keeps p's per-rack counts within bounds (p is valid before the move).
func (s *planState) rackOK(p, src, dst int) bool {
	rs, rd := s.rack[src], s.rack[dst]
	if rs == rd {
		return true
	}
	cs, cd := 0, 0
	for _, b := range s.reps[p] {
		switch s.rack[b] {
		case rs:
			cs++
		case rd:
			cd++
		}
	}
	bd := s.bounds[s.rf[p]]
	return cs-1 >= bd.lo[rs] && cd+1 <= bd.hi[rd]
}

// replicaIDs returns p's current replicas as broker ids.
func (s *planState) replicaIDs(p int) []int32 {
	out := make([]int32, len(s.reps[p]))
	for i, b := range s.reps[p] {
		out[i] = s.allIDs[b]
	}
	return out
}

// sortLists sorts the partition lists once they are built; from then on
// add and remove keep them sorted.
func (s *planState) sortLists() {
	for _, l := range s.onT {
		slices.SortFunc(*l, s.sizeCmp)
	}
	for b := 0; b < s.n; b++ {
		slices.SortFunc(s.bySize[b], s.sizeCmp)
		slices.SortFunc(s.byIn[b], func(x, y int32) int {
			if s.inLess(x, y) {
				return -1
			}
			if s.inLess(y, x) {
				return 1
			}
			return 0
		})
	}
	s.listsSorted = true
}

// sizeLess orders partitions by Size, then index.
func (s *planState) sizeLess(x, y int32) bool {
	if a, b := s.parts[x].Size, s.parts[y].Size; a != b {
		return a < b
	}
	return x < y
}

func (s *planState) sizeCmp(x, y int32) int {
	if s.sizeLess(x, y) {
		return -1
	}
	if s.sizeLess(y, x) {
		return 1
	}
	return 0
}

// inLess orders partitions by BytesIn, then index.
func (s *planState) inLess(x, y int32) bool {
	if a, b := s.parts[x].BytesIn, s.parts[y].BytesIn; a != b {
		return a < b
	}
	return x < y
}

// insertSorted inserts p into l, sorted by less.
func insertSorted(l []int32, p int32, less func(x, y int32) bool) []int32 {
	i := sort.Search(len(l), func(i int) bool { return !less(l[i], p) })
	l = append(l, 0)
	copy(l[i+1:], l[i:])
	l[i] = p
	return l
}

// deleteSorted removes p from l, sorted by less.
func deleteSorted(l []int32, p int32, less func(x, y int32) bool) []int32 {
	i := sort.Search(len(l), func(i int) bool { return !less(l[i], p) })
	if i == len(l) || l[i] != p {
		panic("cluster: planner list lost a partition") // invariant of add/remove
	}
	return append(l[:i], l[i+1:]...)
}
