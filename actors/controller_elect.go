package actors

import (
	"errors"
	"slices"

	"github.com/troupe-mq/troupe/cluster"
)

// Leader elections on request: Kafka's ElectLeaders (API 43, KIP-460) and
// the legacy /admin/preferred_replica_election znode (its partitions are
// flagged for preferred elections as ElectLeaders would, then the znode is
// deleted, fenced by the controller epoch; Kafka deletes it once the
// elections are done, so a failover in between repeats them there and
// drops them here).
//
// A request names partitions (nil: every partition) and the kind:
//   - preferred: make the first replica of the assignment leader, when it
//     is alive and in the ISR and is not leading already;
//   - unclean: elect a leader for a partition that has none, from the ISR
//     if a member is alive, else from any live replica (the one case in
//     which Troupe may lose acknowledged records, and only because the
//     operator asked, as in Kafka).
//
// The controller answers each partition at once with whether an election
// is under way (codeNone) or why not (ELECTION_NOT_NEEDED,
// PREFERRED_LEADER_NOT_AVAILABLE, ELIGIBLE_LEADERS_NOT_AVAILABLE,
// UNKNOWN_TOPIC_OR_PARTITION), and flags the partition; the election
// itself is a state write decided in reconcileAll like every other, so
// it never races a write in flight or a move. The gateway waits for the
// metadata to show the leader.

// Kafka error codes of ElectLeaders.
const (
	codePreferredLeaderNotAvailable = 80
	codeEligibleLeadersNotAvailable = 83
	codeElectionNotNeeded           = 84
)

// ElectLeadersRequest asks the controller for leader elections. Reply
// receives the answer (the controller's actor sends it without blocking).
type ElectLeadersRequest struct {
	// Partitions to elect for; nil means every partition.
	Partitions []TopicPartition
	Unclean    bool
	Reply      chan<- *ElectLeadersAnswer
}

// ElectLeadersAnswer is the controller's answer: a top-level code
// (NOT_CONTROLLER) or one code per partition.
type ElectLeadersAnswer struct {
	ErrorCode  int16
	Partitions map[TopicPartition]int16
}

// electLeaders flags the partitions asked for and answers.
func (c *controller) electLeaders(m *ElectLeadersRequest, from any) {
	ans := &ElectLeadersAnswer{Partitions: map[TopicPartition]int16{}}
	tps := m.Partitions
	if tps == nil {
		c.view.each(true, func(_ *ctrlTopic, p *ctrlPartition) { tps = append(tps, p.tp) })
	}
	for _, tp := range tps {
		t, p := c.view.partition(tp)
		var code int16
		switch {
		case p == nil || t.deleting:
			code = codeUnknownTopicOrPart
		case m.Unclean:
			code = c.flagUnclean(p)
		default:
			code = c.flagPreferred(p)
		}
		ans.Partitions[tp] = code
	}
	c.emit(reply{to: from, msg: ans})
	c.reconcileAll()
}

func (c *controller) flagPreferred(p *ctrlPartition) int16 {
	v := c.view
	if !p.hasState || len(p.replicas) == 0 {
		return codePreferredLeaderNotAvailable
	}
	pref := p.replicas[0]
	switch {
	case p.state.Leader == pref && v.live(pref):
		return codeElectionNotNeeded
	case !v.eligible(pref) || p.departed[pref] || !slices.Contains(p.state.ISR, pref):
		return codePreferredLeaderNotAvailable
	}
	p.electPreferred, p.dirty = true, true
	return codeNone
}

func (c *controller) flagUnclean(p *ctrlPartition) int16 {
	v := c.view
	if p.hasState && p.state.Leader >= 0 && v.live(p.state.Leader) && !v.bounced(p.state) {
		return codeElectionNotNeeded
	}
	if !slices.ContainsFunc(p.replicas, v.eligible) {
		return codeEligibleLeadersNotAvailable
	}
	p.electUnclean, p.dirty = true, true
	return codeNone
}

// requestedElection is the preferred election an ElectLeaders request
// flagged, if it can happen now (the flag is spent either way).
func (c *controller) requestedElection(p *ctrlPartition) (stateChange, bool) {
	if !p.electPreferred {
		return stateChange{}, false
	}
	p.electPreferred = false
	ch, ok := c.view.preferredElection(p)
	if ok {
		ch.why = "preferred replica election (requested)"
	}
	return ch, ok
}

// takePreferred flags the partitions /admin/preferred_replica_election
// names and deletes the request.
func (c *controller) takePreferred(ps []cluster.PartitionRef, version int32) {
	if version < 0 {
		return
	}
	for _, ref := range ps {
		if t, p := c.view.partition(TopicPartition{ref.Topic, ref.Partition}); p != nil && !t.deleting {
			c.flagPreferred(p)
		}
	}
	c.zk(&deletePreferredJob{reign: c.reign, epochZk: c.view.epochZkVersion, version: version})
	c.reconcileAll()
}

func (c *controller) preferredLoaded(m *preferredLoaded) {
	if m.err != nil {
		c.retryWatch("preferred", m.err)
		return
	}
	c.takePreferred(m.partitions, m.version)
}

func (c *controller) preferredCleared(m *preferredCleared) {
	switch {
	case m.err == nil || errors.Is(m.err, cluster.ErrNoNode) || errors.Is(m.err, cluster.ErrBadVersion):
		// Gone, or rewritten since (its watch reads the new request).
	case errors.Is(m.err, cluster.ErrControllerMoved):
		c.resignAndStandby("fenced while clearing preferred election requests")
	default:
		c.log.Warn().Err(m.err).Msg("cannot clear preferred election requests; reading them again")
		c.retryWatch("preferred", m.err)
	}
}
