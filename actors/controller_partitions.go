package actors

import (
	"maps"
	"slices"
	"time"

	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/messages"
)

// Partition states: deciding them, writing them, and what a write's
// outcome means.
//
// A write is Multi(check controller epoch, set state at the version read).
// Its answer is one of:
//   - committed: the view takes the new state and version, the replicas
//     are told (LeaderAndIsr), an AlterPartition that asked is answered;
//   - fenced: a newer controller exists, this one resigns;
//   - conflict (another version than expected, or a state node that
//     exists already) or unknown (the connection dropped: the write may
//     have committed with its answer lost): the view may be older than
//     ZooKeeper's. The partition becomes unsure and is read back; no
//     decision is made for it meanwhile. A node that holds what the write
//     meant to store counts as committed (Kafka's conditional update
//     re-reads on BADVERSION the same way); anything else is taken as the
//     partition's current state and decided again from.

// markDirty flags partitions to be decided again.
func (c *controller) markDirty(match func(*ctrlPartition) bool) {
	for _, t := range c.view.topics {
		for _, p := range t.partitions {
			if match(p) {
				p.dirty = true
			}
		}
	}
}

// reconcileAll decides every dirty partition that has no write in flight
// and submits the resulting writes.
func (c *controller) reconcileAll() {
	if c.view == nil || !c.loaded {
		return
	}
	creates := map[string][]stateChange{}
	var updates []stateChange
	topicChanges := map[string][]topicChange{}
	c.moveLoad = nil
	defer func() { c.moveLoad = nil }()
	c.view.each(true, func(t *ctrlTopic, p *ctrlPartition) {
		if !p.dirty || p.inFlight || p.unsure {
			return
		}
		p.dirty = false
		ch, ok := c.view.decide(p)
		p.electUnclean = false // one attempt, as Kafka's ElectLeaders makes
		if ok {
			ch.decided = true
		} else if pc, elect := c.requestedElection(p); elect {
			ch = pc
		} else if t.writing || t.unsure {
			if p.moving() {
				p.dirty = true // after the topic's rewrite
			}
			return
		} else if sc, tc := c.nextReassignStep(p); sc != nil {
			ch = *sc
		} else {
			if tc != nil {
				topicChanges[t.name] = append(topicChanges[t.name], *tc)
			}
			return
		}
		p.inFlight = true
		if ch.create {
			creates[t.name] = append(creates[t.name], ch)
		} else {
			updates = append(updates, ch)
		}
	})
	for _, name := range sortedKeys(creates) {
		c.writeStates(creates[name])
	}
	for _, name := range sortedKeys(topicChanges) {
		c.writeTopic(c.view.topics[name], topicChanges[name])
	}
	if len(updates) > 0 {
		c.writeStates(updates)
	}
	c.maybeFinishShutdowns()
}

// writeStates submits state writes; creates must all be of one topic. Each
// state records the broker epoch of the leader it was elected with
// (clusterView.bounced): a new election takes the leader's current one, a
// change under the same leader epoch (an ISR change) keeps it — stamping
// the current one there would pass a restarted leader off as the
// incarnation that was elected.
func (c *controller) writeStates(changes []stateChange) {
	for i := range changes {
		ch := &changes[i]
		if _, p := c.view.partition(ch.tp); p != nil && p.hasState && !ch.create &&
			p.state.Leader == ch.state.Leader && p.state.LeaderEpoch == ch.state.LeaderEpoch {
			ch.state.LeaderBrokerEpoch = p.state.LeaderBrokerEpoch
			continue
		}
		ch.state.LeaderBrokerEpoch = 0
		if b, ok := c.view.brokers[ch.state.Leader]; ok {
			ch.state.LeaderBrokerEpoch = b.Epoch
		}
	}
	for _, ch := range changes {
		c.log.Info().Str("topic", ch.tp.Topic).Int32("partition", ch.tp.Partition).Str("why", ch.why).
			Int32("leader", ch.state.Leader).Int32("leader_epoch", ch.state.LeaderEpoch).Ints32("isr", ch.state.ISR).Msg("partition state change")
	}
	c.zk(&writeStatesJob{reign: c.reign, epoch: c.view.epoch, epochZk: c.view.epochZkVersion, changes: slices.Clone(changes)})
}

// statesWritten applies the outcomes of writes (see the top of the file).
func (c *controller) statesWritten(m *statesWritten) {
	v := c.view
	var committed []*stateCommit
	var reread []TopicPartition
	for _, r := range m.results {
		t, p := v.partition(r.change.tp)
		if p == nil {
			continue
		}
		p.inFlight = false
		switch r.outcome {
		case writeFenced:
			c.resignAndStandby("fenced: a newer controller exists")
			return
		case writeCommitted:
			committed = append(committed, &stateCommit{t: t, p: p, change: r.change, version: r.newVersion})
		default:
			c.log.Warn().Err(r.err).Str("topic", r.change.tp.Topic).Int32("partition", r.change.tp.Partition).
				Str("outcome", r.outcome.String()).Msg("partition state write not confirmed; reading it back")
			ch := r.change
			p.unsure, p.intended = true, &ch
			reread = append(reread, r.change.tp)
		}
	}
	c.applyCommits(committed)
	if len(reread) > 0 {
		c.zk(&readStatesJob{reign: c.reign, tps: reread})
	}
	c.reconcileAll()
}

// stateCommit is a state known to be in ZooKeeper.
type stateCommit struct {
	t       *ctrlTopic
	p       *ctrlPartition
	change  stateChange
	version int32
	// broadcast: tell every live replica (the state was read back, and who
	// has heard of it is not known), even for an AlterPartition.
	broadcast bool
}

// applyCommits takes committed states into the view and tells the brokers.
func (c *controller) applyCommits(commits []*stateCommit) {
	if len(commits) == 0 {
		return
	}
	v := c.view
	byBroker := map[int32][]*messages.PartitionState{}
	var changed []*messages.PartitionState
	for _, cm := range commits {
		p := cm.p
		p.hasState, p.state, p.zkVersion = true, cm.change.state, cm.version
		p.unsure, p.intended = false, nil
		if p.state.Leader >= 0 {
			p.electUnclean = false
		}
		c.stepCommitted(p, cm.change.step)
		if p.moving() {
			p.dirty = true // the move's next step may be due
		}
		if cm.change.decided {
			p.departed = nil
		}
		maps.DeleteFunc(p.departed, func(id int32, _ bool) bool { return !slices.Contains(p.state.ISR, id) })
		ps := v.partitionState(cm.t, p)
		ps.IsNew = cm.change.create
		changed = append(changed, ps)
		if c.pendingAlter[p.tp] != nil {
			c.answerAlter(p.tp, codeNone, ps)
			if !cm.broadcast {
				continue // the leader learns from the answer; followers need nothing
			}
		}
		for _, id := range p.replicas {
			if v.live(id) {
				byBroker[id] = append(byBroker[id], ps)
			}
		}
	}
	for _, id := range sortedKeys(byBroker) {
		c.sendLeaderAndIsr(id, byBroker[id])
	}
	c.sendUpdateMetadata(changed, nil, false)
}

// broadcastState sends a partition's current state to its live replicas.
func (c *controller) broadcastState(t *ctrlTopic, p *ctrlPartition) {
	ps := c.view.partitionState(t, p)
	for _, id := range p.replicas {
		if c.view.live(id) {
			c.sendLeaderAndIsr(id, []*messages.PartitionState{ps})
		}
	}
}

// rereadUnsure reads back every partition whose state is unsure.
func (c *controller) rereadUnsure() {
	var tps []TopicPartition
	c.view.each(false, func(_ *ctrlTopic, p *ctrlPartition) {
		if p.unsure {
			tps = append(tps, p.tp)
		}
	})
	if len(tps) > 0 {
		c.zk(&readStatesJob{reign: c.reign, tps: tps})
	}
}

// statesReread resolves unsure partitions from what ZooKeeper holds.
func (c *controller) statesReread(m *statesReread) {
	v := c.view
	var commits []*stateCommit
	failed := false
	for _, r := range m.results {
		t, p := v.partition(r.tp)
		if p == nil || !p.unsure {
			continue
		}
		if r.err != nil {
			failed = true // ZooKeeper still unreachable: read again later
			continue
		}
		want := p.intended
		switch {
		case !r.exists && want != nil && want.create:
			// The create did not happen: decide (and create) again.
			p.unsure, p.intended, p.dirty = false, nil, true
		case !r.exists:
			// The state node is gone (the topic is being deleted): the
			// topic watch tells the rest.
			p.unsure, p.intended = false, nil
		case want != nil && sameState(r.state, want.state, v.epoch):
			c.log.Info().Str("topic", r.tp.Topic).Int32("partition", r.tp.Partition).Int32("version", r.version).
				Msg("partition state write had committed (its answer was lost)")
			commits = append(commits, &stateCommit{t: t, p: p, change: *want, version: r.version, broadcast: true})
		case want != nil && !want.create && r.version == want.expected:
			// The node is at the version the write expected: the write did
			// not happen, and the view is current. An ISR change is written
			// again; anything else is decided again.
			p.unsure, p.intended = false, nil
			// A replica that joined meanwhile was not told the partition
			// (partitionsOn leaves unsure ones out): tell every live one.
			c.broadcastState(t, p)
			if pa := c.pendingAlter[p.tp]; pa != nil {
				// Checked again: its leader may have restarted, or a
				// member it adds died, while the outcome was unknown.
				if code := c.checkAlter(t, p, pa.req); code != codeNone {
					c.answerAlter(p.tp, code, nil)
					p.dirty = true
				} else {
					p.inFlight = true
					c.writeStates([]stateChange{*want})
				}
			} else {
				p.dirty = true
			}
		default:
			// ZooKeeper holds another state: take it as current. An
			// AlterPartition waiting on this write is refused with the
			// state as it is; the leader proposes again from there.
			c.log.Info().Str("topic", r.tp.Topic).Int32("partition", r.tp.Partition).Int32("version", r.version).
				Int32("leader", r.state.Leader).Int32("leader_epoch", r.state.LeaderEpoch).Ints32("isr", r.state.ISR).
				Msg("partition state write had not committed; taking the stored state")
			p.hasState, p.state, p.zkVersion = true, r.state, r.version
			p.unsure, p.intended, p.dirty = false, nil, true
			ps := v.partitionState(t, p)
			if c.pendingAlter[p.tp] != nil {
				c.answerAlter(p.tp, codeInvalidUpdateVersion, ps)
			}
			commits = append(commits, &stateCommit{t: t, p: p, change: stateChange{tp: p.tp, state: r.state}, version: r.version, broadcast: true})
		}
	}
	c.applyCommits(commits)
	if failed && c.rereadAt == 0 {
		c.rereadAt = c.ticks + c.ticksFor(500*time.Millisecond)
	}
	c.reconcileAll()
}

// sameState reports whether a stored state is the one a write of this
// controller meant to store.
func sameState(stored, intended cluster.LeaderAndIsr, controllerEpoch int32) bool {
	return stored.Leader == intended.Leader && stored.LeaderEpoch == intended.LeaderEpoch &&
		slices.Equal(stored.ISR, intended.ISR) && stored.ControllerEpoch == controllerEpoch
}

// alterPartition handles a leader's ISR change (Kafka's AlterPartition).
// It is idempotent: asking for the ISR the partition already has (a retry
// of a change whose answer was lost) is answered with the current state.
func (c *controller) alterPartition(req *messages.AlterPartitionRequest, from any) {
	tp := TopicPartition{req.Topic, req.Partition}
	answer := func(code int32, st *messages.PartitionState) {
		c.emit(reply{to: from, msg: &messages.AlterPartitionResponse{ErrorCode: code, State: st, Topic: req.Topic, Partition: req.Partition}})
	}
	if !c.loaded {
		answer(codeNotController, nil)
		return
	}
	v := c.view
	t, p := v.partition(tp)
	newISR := req.NewIsr()
	switch {
	case p == nil || t.deleting || !p.hasState:
		answer(codeUnknownTopicOrPart, nil)
		return
	case p.state.Leader != req.BrokerId || p.state.LeaderEpoch != req.LeaderEpoch || v.bounced(p.state):
		answer(codeFencedLeaderEpoch, nil)
		return
	case !p.inFlight && !p.unsure && sameMembers(newISR, p.state.ISR):
		answer(codeNone, v.partitionState(t, p))
		return
	case c.pendingAlter[tp] != nil && sameAlter(c.pendingAlter[tp].req, req):
		// The leader sent its proposal again while it is being written
		// (it resends until answered): the answer goes to the latest
		// sender. Refusing it would make the leader forget a proposal
		// that is about to commit.
		c.pendingAlter[tp].from = from
		return
	case p.inFlight || p.unsure || c.pendingAlter[tp] != nil:
		answer(codeOperationNotAttempted, nil)
		return
	}
	if code := c.checkAlter(t, p, req); code != codeNone {
		answer(code, nil)
		return
	}
	p.inFlight = true
	c.pendingAlter[tp] = &pendingAlter{from: from, req: req}
	c.writeStates([]stateChange{{tp: tp, state: cluster.LeaderAndIsr{Leader: p.state.Leader, LeaderEpoch: p.state.LeaderEpoch, ISR: slices.Clone(newISR)},
		expected: p.zkVersion, why: "isr change requested by leader"}})
}

// checkAlter validates an ISR change against the partition's state: its
// sender leads the current epoch (and is the incarnation elected), it is
// made over the current version, and the members it adds are live, not
// shutting down, and the incarnations that fetched (KIP-903: a fetch of a
// previous incarnation must not bring a restarted broker back).
func (c *controller) checkAlter(t *ctrlTopic, p *ctrlPartition, req *messages.AlterPartitionRequest) int32 {
	v := c.view
	switch {
	case t.deleting || !p.hasState:
		return codeUnknownTopicOrPart
	case p.state.Leader != req.BrokerId || p.state.LeaderEpoch != req.LeaderEpoch || v.bounced(p.state):
		return codeFencedLeaderEpoch
	case p.zkVersion != req.PartitionEpoch:
		return codeInvalidUpdateVersion
	case !slices.Contains(req.NewIsr(), req.BrokerId):
		return codeIneligibleReplica
	}
	for _, m := range req.NewIsrWithEpochs {
		id := m.BrokerId
		if !slices.Contains(p.replicas, id) {
			return codeIneligibleReplica
		}
		if slices.Contains(p.state.ISR, id) {
			continue
		}
		b, live := v.brokers[id]
		if !live || v.shuttingDown[id] || m.BrokerEpoch != b.Epoch || p.leaving(id) {
			return codeIneligibleReplica
		}
	}
	return codeNone
}

// sameAlter reports whether two AlterPartition requests propose the same
// change: same leader, epochs, and members with their broker epochs.
func sameAlter(a, b *messages.AlterPartitionRequest) bool {
	if a.BrokerId != b.BrokerId || a.BrokerEpoch != b.BrokerEpoch || a.LeaderEpoch != b.LeaderEpoch || a.PartitionEpoch != b.PartitionEpoch ||
		len(a.NewIsrWithEpochs) != len(b.NewIsrWithEpochs) {
		return false
	}
	for i, m := range a.NewIsrWithEpochs {
		o := b.NewIsrWithEpochs[i]
		if m.BrokerId != o.BrokerId || m.BrokerEpoch != o.BrokerEpoch {
			return false
		}
	}
	return true
}

func (c *controller) answerAlter(tp TopicPartition, code int32, st *messages.PartitionState) {
	pa := c.pendingAlter[tp]
	delete(c.pendingAlter, tp)
	if pa != nil {
		c.emit(reply{to: pa.from, msg: &messages.AlterPartitionResponse{ErrorCode: code, State: st, Topic: tp.Topic, Partition: tp.Partition}})
	}
}
