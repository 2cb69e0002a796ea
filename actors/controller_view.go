package actors

import (
	"slices"
	"sort"

	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/messages"
)

// clusterView is the active controller's view of the cluster (Kafka's
// ControllerContext): live brokers, topics, assignments and every
// partition's committed state. It is built from ZooKeeper when the
// controller is elected and then kept current from the controller's own
// writes (the controller is the only writer of partition states) and from
// watches. A write whose outcome is unknown makes the partition's view
// unsure until it is read back: no decision is made from a view that may be
// older than ZooKeeper's. Plain data and pure decisions: no IO, no actors.
type clusterView struct {
	epoch          int32
	epochZkVersion int32
	clusterID      string
	brokers        map[int32]cluster.BrokerInfo
	// shuttingDown are brokers in controlled shutdown: not eligible as
	// leaders, dropped from ISRs.
	shuttingDown map[int32]bool
	// suspects are registered brokers whose remoting endpoint terminated:
	// treated as dead (by broker epoch) until they answer a Ping, register
	// anew, or their registration goes.
	suspects map[int32]int64
	topics   map[string]*ctrlTopic
}

// ctrlTopic is one topic as the controller knows it.
type ctrlTopic struct {
	name       string
	id         cluster.TopicID
	partitions map[int32]*ctrlPartition
	configs    map[string]string
	deleting   bool
	// zkVersion is the topic znode's version (for conditional rewrites).
	zkVersion int32
	// writing: a rewrite of the topic znode is in flight (changes are its
	// partitions' parts, intended what it stores); unsure: its outcome is
	// unknown and the znode is being read back.
	writing, unsure bool
	intended        *cluster.TopicInfo
	changes         []topicChange
}

// ctrlPartition is one partition: assignment and committed state.
type ctrlPartition struct {
	tp       TopicPartition
	replicas []int32
	// hasState: the state znode exists (false for a partition just added).
	hasState  bool
	state     cluster.LeaderAndIsr
	zkVersion int32
	// inFlight: a write of this partition's state is queued or running;
	// no new decision is made for it until the write's result is in.
	inFlight bool
	// unsure: a write's outcome is unknown (its answer was lost, or it
	// met another version than expected); the state is being read back.
	// intended is what that write would have stored.
	unsure   bool
	intended *stateChange
	// dirty: something changed while inFlight; decide again afterwards.
	dirty bool
	// departed: ISR members whose incarnation ended (they died, or
	// registered anew) before a decision could remove them — the
	// partition had a write in flight or unsure. A restarted broker is
	// live again by the time the partition is decided, and may have lost
	// its unsynced tail: it must not lead or stay in the ISR on the
	// strength of its predecessor's membership. Cleared by a decided
	// write; pruned of members a committed ISR no longer holds.
	departed map[int32]bool
	// uncleanAllowed mirrors the topic's unclean.leader.election.enable.
	uncleanAllowed bool
	// electPreferred and electUnclean: an ElectLeaders request asked for a
	// preferred election (once, at the next decision) or allowed an
	// unclean one (until a leader is elected). controller_elect.go.
	electPreferred, electUnclean bool
	// planned: the partition's request or move comes from the balancer,
	// not the mailbox (controller_balance.go); once it is done the
	// preferred replica is elected.
	planned bool
	// reassign is the move in progress (controller_reassign.go), requested
	// a request read and not yet recorded in the topic znode; tell: the
	// replica set changed and the replicas are yet to hear of it.
	reassign  *reassignment
	requested *cluster.Reassignment
	tell      bool
}

func (c *clusterView) live(id int32) bool {
	_, ok := c.brokers[id]
	return ok
}

// bounced reports whether a partition's leader has registered anew since
// it was elected (its broker restarted): its new process must not lead the
// old leader epoch, whose history it may not have (a power loss takes the
// unsynced tail, and appends at the same epoch would then diverge from
// what followers fetched, undetectably). It is elected again, at a new epoch.
func (c *clusterView) bounced(st cluster.LeaderAndIsr) bool {
	b, ok := c.brokers[st.Leader]
	return ok && st.LeaderBrokerEpoch != 0 && st.LeaderBrokerEpoch != b.Epoch
}

// eligible: a broker that may lead or stay in an ISR.
func (c *clusterView) eligible(id int32) bool { return c.live(id) && !c.shuttingDown[id] }

// stateChange is a decided write of a partition's state.
type stateChange struct {
	tp       TopicPartition
	create   bool // the state znode does not exist yet
	state    cluster.LeaderAndIsr
	expected int32 // zkVersion expected (updates only)
	why      string
	// decided: made by decide from the view, so it accounts for every
	// departed member (ctrlPartition.departed).
	decided bool
	// step: the step of a reassignment this write is.
	step reassignStep
}

// decide returns the write a partition needs, if any:
//   - no state yet: the first eligible replica in assignment order leads,
//     the eligible replicas form the ISR (epoch 0);
//   - leader gone (dead, shutting down or -1): the first eligible replica
//     that is in the ISR leads, the ISR keeps its eligible members; if none
//     is eligible, an unclean election picks the first eligible replica
//     only where the topic allows it; otherwise the partition is offline:
//     a dead leader is replaced by -1 (epoch bumped, ISR kept, as in
//     Kafka) and the first ISR member to return is elected; a leader
//     that is shutting down keeps it;
//   - leader fine, but ISR has members that are dead or shutting down:
//     they are removed (epoch bumped, as Kafka does).
func (c *clusterView) decide(p *ctrlPartition) (stateChange, bool) {
	if !p.hasState {
		var isr []int32
		for _, r := range p.replicas {
			if c.eligible(r) {
				isr = append(isr, r)
			}
		}
		leader := int32(-1)
		if len(isr) > 0 {
			leader = isr[0]
		} else {
			isr = slices.Clone(p.replicas) // all offline: record the assignment, lead when one returns
		}
		return stateChange{tp: p.tp, create: true, state: cluster.LeaderAndIsr{Leader: leader, LeaderEpoch: 0, ISR: isr}, why: "new partition"}, true
	}
	st := p.state
	// stays: an ISR member that may stay in it. One that departed does
	// not, unless no other member could lead: then, as for the last ISR
	// member returning, it is elected (the ISR never empties).
	stays := func(r int32) bool { return c.eligible(r) && !p.departed[r] }
	if !slices.ContainsFunc(st.ISR, stays) {
		stays = c.eligible
	}
	if st.Leader < 0 || !c.eligible(st.Leader) || c.bounced(st) || p.departed[st.Leader] {
		var leader int32 = -1
		for _, r := range p.replicas {
			if slices.Contains(st.ISR, r) && stays(r) {
				leader = r
				break
			}
		}
		var isr []int32
		why := "leader failed"
		if c.bounced(st) || p.departed[st.Leader] {
			why = "leader restarted"
		}
		if leader >= 0 {
			for _, r := range st.ISR {
				if stays(r) {
					isr = append(isr, r)
				}
			}
		} else if p.uncleanAllowed || p.electUnclean {
			for _, r := range p.replicas {
				if c.eligible(r) {
					leader, isr, why = r, []int32{r}, "unclean leader election"
					break
				}
			}
		}
		if leader < 0 {
			if st.Leader >= 0 && !c.live(st.Leader) {
				// Offline: record that nobody leads (epoch bumped, ISR kept
				// to know whom to wait for), as Kafka does. The ISR member
				// that returns is then elected at a new epoch that every
				// replica hears of; keeping the dead leader on record
				// instead let it take the partition back at its old epoch
				// unannounced, and replicas told "no leader" meanwhile
				// never learned to follow it.
				return stateChange{tp: p.tp, state: cluster.LeaderAndIsr{Leader: -1, LeaderEpoch: st.LeaderEpoch + 1, ISR: slices.Clone(st.ISR)},
					expected: p.zkVersion, why: "no in-sync replica left"}, true
			}
			return stateChange{}, false // offline until an ISR member returns
		}
		return stateChange{tp: p.tp, state: cluster.LeaderAndIsr{Leader: leader, LeaderEpoch: st.LeaderEpoch + 1, ISR: isr},
			expected: p.zkVersion, why: why}, true
	}
	isr := slices.DeleteFunc(slices.Clone(st.ISR), func(r int32) bool { return !stays(r) && r != st.Leader })
	if len(isr) != len(st.ISR) {
		return stateChange{tp: p.tp, state: cluster.LeaderAndIsr{Leader: st.Leader, LeaderEpoch: st.LeaderEpoch + 1, ISR: isr},
			expected: p.zkVersion, why: "replica left the isr"}, true
	}
	return stateChange{}, false
}

// preferredElection returns the change that makes the preferred replica
// (first in the assignment) leader, if it is eligible, in the ISR and not
// leading already.
func (c *clusterView) preferredElection(p *ctrlPartition) (stateChange, bool) {
	if !p.hasState || len(p.replicas) == 0 {
		return stateChange{}, false
	}
	pref := p.replicas[0]
	st := p.state
	if st.Leader == pref || !c.eligible(pref) || p.departed[pref] || !slices.Contains(st.ISR, pref) || st.Leader < 0 {
		return stateChange{}, false
	}
	return stateChange{tp: p.tp, state: cluster.LeaderAndIsr{Leader: pref, LeaderEpoch: st.LeaderEpoch + 1, ISR: slices.Clone(st.ISR)},
		expected: p.zkVersion, why: "preferred replica election"}, true
}

// partitionState renders a partition for LeaderAndIsr / UpdateMetadata.
// A leader that is not alive is reported as -1.
func (c *clusterView) partitionState(t *ctrlTopic, p *ctrlPartition) *messages.PartitionState {
	leader := p.state.Leader
	if !c.live(leader) || c.bounced(p.state) {
		leader = -1
	}
	var offline []int32
	for _, r := range p.replicas {
		if !c.live(r) {
			offline = append(offline, r)
		}
	}
	_, adding, removing := p.record()
	return &messages.PartitionState{
		AddingReplicas:   slices.Clone(adding),
		RemovingReplicas: slices.Clone(removing),
		Topic:            p.tp.Topic,
		TopicId:          t.id[:],
		Partition:        p.tp.Partition,
		Leader:           leader,
		LeaderEpoch:      p.state.LeaderEpoch,
		Isr:              slices.Clone(p.state.ISR),
		PartitionEpoch:   p.zkVersion,
		Replicas:         slices.Clone(p.replicas),
		OfflineReplicas:  offline,
	}
}

// brokerMessages lists the live brokers for UpdateMetadata.
func (c *clusterView) brokerMessages() []*messages.Broker {
	ids := make([]int32, 0, len(c.brokers))
	for id := range c.brokers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	out := make([]*messages.Broker, 0, len(ids))
	for _, id := range ids {
		out = append(out, brokerMessage(c.brokers[id]))
	}
	return out
}

func brokerMessage(b cluster.BrokerInfo) *messages.Broker {
	return &messages.Broker{Id: b.ID, Host: b.Host, Port: b.Port, Rack: b.Rack, ActorAddress: b.ActorAddress, Epoch: b.Epoch}
}

// partition looks a partition up.
func (c *clusterView) partition(tp TopicPartition) (*ctrlTopic, *ctrlPartition) {
	t := c.topics[tp.Topic]
	if t == nil {
		return nil, nil
	}
	return t, t.partitions[tp.Partition]
}

// sortedPartitions returns a topic's partitions by number.
func (t *ctrlTopic) sortedPartitions() []*ctrlPartition {
	out := make([]*ctrlPartition, 0, len(t.partitions))
	for _, p := range t.partitions {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].tp.Partition < out[j].tp.Partition })
	return out
}

// each calls fn for every partition, by topic then partition number; with
// live, the partitions of topics being deleted are left out.
func (c *clusterView) each(live bool, fn func(t *ctrlTopic, p *ctrlPartition)) {
	for _, name := range sortedKeys(c.topics) {
		t := c.topics[name]
		if live && t.deleting {
			continue
		}
		for _, p := range t.sortedPartitions() {
			fn(t, p)
		}
	}
}

// partitionsOn lists the states of every partition with a replica on
// broker id. A partition with a write in flight is listed in its committed
// state: skipping it left a broker that joined during an ISR change
// (AlterPartition) without the partition for good, since that commit is
// answered to the leader only; a leader change in flight reaches every
// live replica when it commits, after this (remoting keeps the order). An
// unsure partition is left out: its state is being read back, and every
// live replica is told the outcome.
func (c *clusterView) partitionsOn(id int32) []*messages.PartitionState {
	var out []*messages.PartitionState
	c.each(true, func(t *ctrlTopic, p *ctrlPartition) {
		if p.hasState && !p.unsure && slices.Contains(p.replicas, id) {
			out = append(out, c.partitionState(t, p))
		}
	})
	return out
}

// allPartitionStates lists every partition with a state, for a full
// UpdateMetadata.
func (c *clusterView) allPartitionStates() []*messages.PartitionState {
	var out []*messages.PartitionState
	c.each(true, func(t *ctrlTopic, p *ctrlPartition) {
		if p.hasState {
			out = append(out, c.partitionState(t, p))
		}
	})
	return out
}
