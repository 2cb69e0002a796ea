package actors

import (
	"errors"
	"slices"

	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/messages"
)

// Partition reassignment (Kafka's KIP-455), run by the controller core.
//
// A request (cluster.Reassignment, read from /admin/reassign_partitions)
// for partition p with original replicas ORS and target TRS goes through:
//
//  1. record: the topic znode is rewritten with replicas = TRS ∪ ORS
//     (target first), adding_replicas = TRS−ORS, removing_replicas =
//     ORS−TRS. This is what survives a controller failover: the next
//     controller reads the move from the topic znode and carries on.
//  2. tell: the leader epoch is bumped so that every replica (the new ones
//     among them) learns the replica set; the new replicas start fetching
//     and the leader adds them to the ISR as they catch up (AlterPartition).
//  3. complete, once TRS ⊆ ISR: one state write elects a leader from TRS if
//     the current one is leaving, and shrinks the ISR to TRS; then the topic
//     znode is rewritten with replicas = TRS and no adding/removing; then
//     the removed replicas are stopped and their logs deleted (StopReplica).
//
// A request for a partition already moving replaces the move: its
// original replicas stay what they were, so cancelling (an empty target)
// moves back to them. Replicas a new request no longer wants (added by the
// earlier one) leave the ISR first, then the topic znode is rewritten, then
// they are deleted. Only ISR members are ever elected; a replica on its
// way out is never added back to the ISR.
//
// The mailbox /admin/reassign_partitions is deleted once every request in
// it is recorded (or refused). A request read again after a failover asks
// for the move the topic znode already records, and changes nothing.

// reassignment is a partition's move in progress.
type reassignment struct {
	original []int32 // ORS: the replicas before the move
	target   []int32 // TRS
	// completing: the completion state (leader in the target, ISR within
	// it) committed in this reign; the partition's replicas are the target
	// and the topic znode is rewritten next.
	completing bool
}

// reassignStep kinds carried by the state writes of a move.
type reassignStep uint8

const (
	stepNone reassignStep = iota
	// stepTell bumps the epoch so replicas learn a changed replica set.
	stepTell
	// stepComplete elects within the target and shrinks the ISR to it.
	stepComplete
	// stepPrune takes replicas a new request no longer wants out of the ISR.
	stepPrune
)

// topicChange is one partition's part of a topic znode rewrite.
type topicChange struct {
	p        *ctrlPartition
	reassign *reassignment // the move recorded (nil: none)
	replicas []int32       // the partition's replicas once it commits
	request  *cluster.Reassignment
	complete bool
}

// union returns a followed by the members of b not in a.
func union(a, b []int32) []int32 {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// minus returns the members of a not in b.
func minus(a, b []int32) []int32 {
	var out []int32
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func subset(a, b []int32) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// record is how a partition reads in its topic znode: replicas, adding,
// removing.
func (p *ctrlPartition) record() (replicas, adding, removing []int32) {
	return recordOf(p.reassign, p.replicas)
}

func recordOf(r *reassignment, replicas []int32) (rs, adding, removing []int32) {
	if r == nil {
		return replicas, nil, nil
	}
	return union(r.target, r.original), minus(r.target, r.original), minus(r.original, r.target)
}

// fromRecord is the move a topic znode records for a partition (nil: none).
func fromRecord(replicas, adding, removing []int32) *reassignment {
	if len(adding) == 0 && len(removing) == 0 {
		return nil
	}
	return &reassignment{original: minus(replicas, adding), target: minus(replicas, removing)}
}

// moving reports whether p has a move step that may be due: a request to
// record, a move under way, or a replica set to tell.
func (p *ctrlPartition) moving() bool { return p.requested != nil || p.reassign != nil || p.tell }

// allReplicas is every broker that may hold a replica of p: its replicas,
// and while it moves, the original and target ones.
func (p *ctrlPartition) allReplicas() []int32 {
	if p.reassign == nil {
		return p.replicas
	}
	return union(p.replicas, union(p.reassign.target, p.reassign.original))
}

// requestedReplicas is what a pending request makes the partition's
// replica set, and its move (nil: none); ok is false when the request
// changes nothing.
func (p *ctrlPartition) requestedReplicas() (replicas []int32, r *reassignment, ok bool) {
	req := p.requested
	ors := p.replicas
	if p.reassign != nil {
		ors = p.reassign.original
	}
	target := req.Replicas
	if req.Cancel() {
		if p.reassign == nil {
			return nil, nil, false
		}
		target = ors
	}
	if p.reassign != nil && slices.Equal(target, p.reassign.target) {
		return nil, nil, false // the move under way
	}
	if p.reassign == nil && slices.Equal(target, p.replicas) {
		return nil, nil, false
	}
	if sameMembers(target, ors) {
		return slices.Clone(target), nil, true // a new order only: no data moves
	}
	r = &reassignment{original: slices.Clone(ors), target: slices.Clone(target)}
	return union(target, ors), r, true
}

// leaving reports whether replica id is on its way out of p: a pending
// request no longer wants it, or the move is ready to complete without it.
// Such a replica is never added to the ISR.
func (p *ctrlPartition) leaving(id int32) bool {
	if p.requested != nil {
		if rs, _, ok := p.requestedReplicas(); ok && !slices.Contains(rs, id) {
			return true
		}
	}
	r := p.reassign
	return r != nil && !slices.Contains(r.target, id) && p.hasState && subset(r.target, p.state.ISR)
}

// nextReassignStep returns what a partition's move needs next: a state
// write, a topic znode change, or nothing (waiting, or no move).
func (c *controller) nextReassignStep(p *ctrlPartition) (*stateChange, *topicChange) {
	v := c.view
	st := p.state
	stays := func(r int32) bool { return v.eligible(r) && !p.departed[r] }
	// electWithin keeps the leader if it may stay, else elects the first
	// member of order in isr that may.
	electWithin := func(order, isr []int32) int32 {
		if slices.Contains(order, st.Leader) && stays(st.Leader) && !v.bounced(st) {
			return st.Leader
		}
		for _, r := range order {
			if slices.Contains(isr, r) && stays(r) {
				return r
			}
		}
		return -1
	}
	if p.requested != nil {
		rs, r, ok := p.requestedReplicas()
		if !ok {
			c.log.Info().Str("topic", p.tp.Topic).Int32("partition", p.tp.Partition).Ints32("replicas", p.requested.Replicas).
				Msg("reassignment request changes nothing")
			p.requested = nil
			c.maybeClearMailbox()
			return nil, nil
		}
		unwanted := minus(p.replicas, rs)
		if p.hasState && (slices.Contains(unwanted, st.Leader) || slices.ContainsFunc(st.ISR, func(x int32) bool { return slices.Contains(unwanted, x) })) {
			isr := minus(st.ISR, unwanted)
			leader := electWithin(rs, isr)
			if leader < 0 {
				return nil, nil // no wanted replica in sync to lead: wait for one
			}
			return &stateChange{tp: p.tp, state: cluster.LeaderAndIsr{Leader: leader, LeaderEpoch: st.LeaderEpoch + 1, ISR: isr},
				expected: p.zkVersion, why: "reassignment: unwanted replicas leave the isr", step: stepPrune}, nil
		}
		if r != nil && p.reassign == nil && !c.admitMove(r) {
			return nil, nil // waits for a slot (num.concurrent.partition.movements.per.broker)
		}
		return nil, &topicChange{p: p, reassign: r, replicas: rs, request: p.requested}
	}
	// tell bumps the epoch so the replicas learn a changed replica set
	// (nothing to tell while nobody leads: the election will).
	tell := func() (*stateChange, *topicChange) {
		if !p.tell || !p.hasState || st.Leader < 0 {
			p.tell = false
			return nil, nil
		}
		return &stateChange{tp: p.tp, state: cluster.LeaderAndIsr{Leader: st.Leader, LeaderEpoch: st.LeaderEpoch + 1, ISR: slices.Clone(st.ISR)},
			expected: p.zkVersion, why: "replica set changed", step: stepTell}, nil
	}
	r := p.reassign
	if r == nil || !p.hasState || !subset(r.target, st.ISR) {
		return tell() // no move, or waiting for the target to join the ISR
	}
	leader := electWithin(r.target, st.ISR)
	if !r.completing || leader != st.Leader || !subset(st.ISR, r.target) {
		if leader < 0 {
			return nil, nil
		}
		isr := slices.DeleteFunc(slices.Clone(st.ISR), func(x int32) bool { return !slices.Contains(r.target, x) })
		return &stateChange{tp: p.tp, state: cluster.LeaderAndIsr{Leader: leader, LeaderEpoch: st.LeaderEpoch + 1, ISR: isr},
			expected: p.zkVersion, why: "reassignment: completing", step: stepComplete}, nil
	}
	return nil, &topicChange{p: p, replicas: slices.Clone(r.target), complete: true}
}

// movers are the brokers a move copies data to or drops it from.
func movers(r *reassignment) []int32 {
	return union(minus(r.target, r.original), minus(r.original, r.target))
}

// admitMove decides whether a requested move that copies data may start
// now: every broker it adds or removes a replica on is in fewer than
// num.concurrent.partition.movements.per.broker moves (Cruise Control's
// bound; Kafka starts every move at once). A move that waits stays
// requested, in the mailbox, and is decided again when a move ends or the
// bound changes. The moves in flight are counted once per reconcile pass
// (c.moveLoad), including those whose topic rewrite is in flight. Moves
// that only reorder replicas, cancel, or replace a move under way are not
// bounded: they never add a copy.
func (c *controller) admitMove(r *reassignment) bool {
	if c.moveLoad == nil {
		c.moveLoad = map[int32]int{}
		count := func(r *reassignment) {
			for _, id := range movers(r) {
				c.moveLoad[id]++
			}
		}
		c.view.each(false, func(t *ctrlTopic, p *ctrlPartition) {
			if p.reassign != nil {
				count(p.reassign)
			}
		})
		for _, name := range sortedKeys(c.view.topics) {
			for _, ch := range c.view.topics[name].changes {
				if ch.reassign != nil && ch.p.reassign == nil {
					count(ch.reassign)
				}
			}
		}
	}
	bound := max(1, c.cfg.broker.MaxMovesPerBroker)
	ids := movers(r)
	for _, id := range ids {
		if c.moveLoad[id] >= bound {
			return false
		}
	}
	for _, id := range ids {
		c.moveLoad[id]++
	}
	return true
}

// stepCommitted updates a partition's move after a state write of it
// committed (before its state is sent).
func (c *controller) stepCommitted(p *ctrlPartition, step reassignStep) {
	switch step {
	case stepTell:
		p.tell = false
	case stepComplete:
		p.tell = false
		if p.reassign != nil {
			p.reassign.completing = true
			p.replicas = slices.Clone(p.reassign.target)
		}
	}
}

// writeTopic rewrites a topic znode with the changes of its partitions.
func (c *controller) writeTopic(t *ctrlTopic, changes []topicChange) {
	info := cluster.TopicInfo{Name: t.name, ID: t.id, Partitions: map[int32][]int32{}, AddingReplicas: map[int32][]int32{},
		RemovingReplicas: map[int32][]int32{}, ZkVersion: t.zkVersion}
	byPart := map[int32]*topicChange{}
	for i := range changes {
		byPart[changes[i].p.tp.Partition] = &changes[i]
	}
	for _, n := range sortedKeys(t.partitions) { // sorted: the log lines are part of a deterministic run
		p := t.partitions[n]
		rs, add, rem := p.record()
		if ch := byPart[n]; ch != nil {
			rs, add, rem = recordOf(ch.reassign, ch.replicas)
			c.log.Info().Str("topic", t.name).Int32("partition", n).Ints32("replicas", rs).Ints32("adding", add).
				Ints32("removing", rem).Bool("complete", ch.complete).Msg("reassignment: recording the replica set")
		}
		info.Partitions[n] = slices.Clone(rs)
		if len(add) > 0 || len(rem) > 0 {
			info.AddingReplicas[n], info.RemovingReplicas[n] = slices.Clone(add), slices.Clone(rem)
		}
	}
	t.writing = true
	t.intended = &info
	t.changes = changes
	c.zk(&writeTopicJob{reign: c.reign, epochZk: c.view.epochZkVersion, info: info})
}

// topicWritten applies the outcome of a topic znode rewrite.
func (c *controller) topicWritten(m *topicWritten) {
	t := c.view.topics[m.topic]
	if t == nil {
		return
	}
	t.writing = false
	switch classifyWrite(m.err) {
	case writeFenced:
		c.resignAndStandby("fenced while writing a topic")
		return
	case writeCommitted:
		t.zkVersion = m.version
		c.topicCommitted(t)
	default:
		c.log.Warn().Err(m.err).Str("topic", t.name).Msg("topic znode write not confirmed; reading it back")
		t.unsure = true
		c.zk(&readTopicsJob{reign: c.reign, names: []string{t.name}})
	}
	c.reconcileAll()
}

// topicCommitted applies a topic rewrite known to be in ZooKeeper.
func (c *controller) topicCommitted(t *ctrlTopic) {
	var told []*messages.PartitionState
	ended := false // a move ended (completed or cancelled): waiting ones may start
	for _, ch := range t.changes {
		p := ch.p
		if t.partitions[p.tp.Partition] != p {
			continue
		}
		old, held := p.replicas, p.allReplicas()
		if p.reassign != nil && ch.reassign == nil {
			ended = true
		}
		p.reassign, p.replicas = ch.reassign, slices.Clone(ch.replicas)
		if ch.request != nil && p.requested == ch.request {
			p.requested = nil
		}
		if !slices.Equal(old, p.replicas) {
			p.tell = true
		}
		c.addStrays(p, minus(held, p.allReplicas()))
		if ch.complete {
			c.log.Info().Str("topic", t.name).Int32("partition", p.tp.Partition).Ints32("replicas", p.replicas).Msg("reassignment complete")
		}
		if p.planned && p.requested == nil && p.reassign == nil {
			// A balancer's move is done (or was a new order only): leaders
			// follow the replicas.
			p.planned, p.electPreferred = false, true
		}
		p.dirty = true
		if p.hasState {
			told = append(told, c.view.partitionState(t, p))
		}
	}
	t.changes, t.intended, t.unsure = nil, nil, false
	if len(told) > 0 {
		c.sendUpdateMetadata(told, nil, false)
	}
	if ended {
		c.markDirty(func(p *ctrlPartition) bool { return p.requested != nil })
	}
	c.maybeClearMailbox()
}

// topicReread reconciles a known topic with what its znode holds: a rewrite
// whose outcome was unknown is committed if the znode holds it; any other
// difference is taken as the truth (someone else wrote it).
func (c *controller) topicReread(t *ctrlTopic, info cluster.TopicInfo) {
	if t.writing {
		return // the write's own result decides
	}
	if t.unsure && t.intended != nil && sameAssignment(*t.intended, info) {
		c.log.Info().Str("topic", t.name).Msg("topic znode write had committed (its answer was lost)")
		t.zkVersion = info.ZkVersion
		c.topicCommitted(t)
		return
	}
	t.zkVersion = info.ZkVersion
	t.unsure, t.intended, t.changes = false, nil, nil
	for _, n := range sortedKeys(t.partitions) {
		p := t.partitions[n]
		rs, ok := info.Partitions[n]
		if !ok {
			continue
		}
		if p.moving() {
			p.dirty = true // a rewrite that did not happen is decided again
		}
		vrs, vadd, vrem := p.record()
		if slices.Equal(rs, vrs) && slices.Equal(info.AddingReplicas[n], vadd) && slices.Equal(info.RemovingReplicas[n], vrem) {
			continue
		}
		c.log.Info().Str("topic", t.name).Int32("partition", n).Ints32("replicas", rs).Msg("topic znode holds another replica set; taking it")
		old := p.replicas
		p.reassign, p.replicas = fromRecord(rs, info.AddingReplicas[n], info.RemovingReplicas[n]), slices.Clone(rs)
		if !slices.Equal(old, p.replicas) {
			p.tell = true
		}
		p.dirty = true
	}
}

func sameAssignment(a, b cluster.TopicInfo) bool {
	if len(a.Partitions) != len(b.Partitions) {
		return false
	}
	for n, rs := range a.Partitions {
		if !slices.Equal(rs, b.Partitions[n]) || !slices.Equal(a.AddingReplicas[n], b.AddingReplicas[n]) ||
			!slices.Equal(a.RemovingReplicas[n], b.RemovingReplicas[n]) {
			return false
		}
	}
	return true
}

// --- the request mailbox ------------------------------------------------------

// reassignmentsLoaded takes the requests of /admin/reassign_partitions.
func (c *controller) reassignmentsLoaded(m *reassignmentsLoaded) {
	if m.err != nil {
		c.retryWatch("reassignments", m.err)
		return
	}
	c.takeReassignments(m.requests, m.version)
	c.reconcileAll()
}

func (c *controller) takeReassignments(rs []cluster.Reassignment, version int32) {
	c.mailbox = version
	for i := range rs {
		r := rs[i]
		t, p := c.view.partition(TopicPartition{r.Topic, r.Partition})
		if p == nil || t.deleting {
			c.log.Warn().Str("topic", r.Topic).Int32("partition", r.Partition).Msg("reassignment of an unknown partition ignored")
			continue
		}
		if err := validTarget(r.Replicas); err != nil {
			c.log.Warn().Err(err).Str("topic", r.Topic).Int32("partition", r.Partition).Msg("reassignment ignored")
			continue
		}
		p.requested = &r
		p.planned = false // an operator's request replaces the balancer's
		p.dirty = true
	}
	c.maybeClearMailbox()
}

var errBadTarget = errors.New("replicas must be distinct broker ids")

func validTarget(rs []int32) error {
	for i, b := range rs {
		if b < 0 || slices.Contains(rs[:i], b) {
			return errBadTarget
		}
	}
	return nil
}

// maybeClearMailbox deletes /admin/reassign_partitions once every request
// read from it is recorded or refused.
func (c *controller) maybeClearMailbox() {
	if c.mailbox < 0 || c.mailboxDeleting || !c.loaded {
		return
	}
	pending := false
	c.view.each(true, func(_ *ctrlTopic, p *ctrlPartition) { pending = pending || p.requested != nil && !p.planned })
	if pending {
		return
	}
	c.mailboxDeleting = true
	c.zk(&deleteReassignmentsJob{reign: c.reign, epochZk: c.view.epochZkVersion, version: c.mailbox})
}

func (c *controller) reassignmentsCleared(m *reassignmentsCleared) {
	c.mailboxDeleting = false
	switch {
	case m.err == nil || errors.Is(m.err, cluster.ErrNoNode):
		c.mailbox = -1
	case errors.Is(m.err, cluster.ErrControllerMoved):
		c.resignAndStandby("fenced while clearing reassignment requests")
	case errors.Is(m.err, cluster.ErrBadVersion):
		// Requests were added: the watch reads them.
	default:
		c.log.Warn().Err(m.err).Msg("cannot clear reassignment requests; will retry")
	}
}

// --- replicas removed by a move ------------------------------------------------

// stray is a replica a move removed, to be stopped and deleted.
type stray struct {
	brokers  map[int32]bool
	sentTick int64
}

func (c *controller) addStrays(p *ctrlPartition, ids []int32) {
	if len(ids) == 0 {
		return
	}
	s := c.strays[p.tp]
	if s == nil {
		s = &stray{brokers: map[int32]bool{}}
		c.strays[p.tp] = s
	}
	for _, id := range ids {
		if !slices.Contains(p.replicas, id) {
			s.brokers[id] = true
		}
	}
	c.sendStrayStops(p.tp)
}

// sendStrayStops asks the live brokers holding removed replicas of tp to
// delete them; the ones that are down are asked when they return.
func (c *controller) sendStrayStops(tp TopicPartition) {
	s := c.strays[tp]
	t, p := c.view.partition(tp)
	if s == nil || p == nil {
		delete(c.strays, tp) // the topic is gone: its deletion stopped them
		return
	}
	if t.deleting {
		return // the deletion's StopReplicas cover them
	}
	s.sentTick = c.ticks
	for _, id := range sortedKeys(s.brokers) {
		if slices.Contains(p.replicas, id) {
			delete(s.brokers, id) // moved back
			continue
		}
		b, ok := c.view.brokers[id]
		if !ok {
			continue
		}
		if ch := c.channels[id]; ch != nil {
			delete(ch.pending, tp) // never resend it a state that would bring the replica back
		}
		c.emit(toBroker{to: b, msg: &messages.StopReplicaRequest{ControllerId: c.cfg.brokerID, ControllerEpoch: c.view.epoch, Delete: true,
			Partitions: []*messages.StopPartition{{Topic: tp.Topic, Partition: tp.Partition, LeaderEpoch: p.state.LeaderEpoch}}}})
	}
	if len(s.brokers) == 0 {
		delete(c.strays, tp)
	}
}

// strayStopped clears the removed replicas a broker deleted.
func (c *controller) strayStopped(m *messages.StopReplicaResponse) {
	if m.ErrorCode != codeNone {
		return
	}
	for _, pe := range m.Partitions {
		tp := TopicPartition{pe.Topic, pe.Partition}
		s := c.strays[tp]
		if s == nil || (pe.ErrorCode != codeNone && pe.ErrorCode != codeUnknownTopicOrPart) {
			continue
		}
		delete(s.brokers, m.BrokerId)
		if len(s.brokers) == 0 {
			delete(c.strays, tp)
		}
	}
}

// strayTick resends unanswered StopReplicas of removed replicas.
func (c *controller) strayTick() {
	for _, tp := range sortedTPs(c.strays) {
		if c.ticks-c.strays[tp].sentTick > c.ticksFor(stopReplicaResend) {
			c.sendStrayStops(tp)
		}
	}
}
