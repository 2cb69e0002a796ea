package actors

import (
	"errors"

	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/messages"
)

// The standby role: election through /controller, and deposing a dead
// controller before its session expires — but only on a second opinion.
//
// A standby watches the active controller's broker over remoting: kill -9
// resets its connections, and waiting for its ZooKeeper session to expire
// (up to zookeeper.session.timeout.ms) would leave the cluster without a
// controller that long. A link that goes down is not proof, though: one
// bad link between this broker and the controller would depose a healthy
// controller, and two standbys on either side of it would take control
// from each other back and forth. So the standby asks another live broker
// to probe the controller's broker (ProbeRequest) and deposes it only if
// that broker cannot reach it either; with no other broker to ask, the
// ZooKeeper session decides.

// tryElection starts an election attempt.
func (c *controller) tryElection() {
	c.reign++
	c.zk(&electJob{reign: c.reign, id: c.cfg.brokerID})
}

// resignAndStandby gives up control and competes again: the attempt finds
// the new holder and watches /controller for its departure.
func (c *controller) resignAndStandby(why string) {
	c.resign(why)
	c.tryElection()
}

func (c *controller) stepStandby(msg any, from any) {
	switch m := msg.(type) {
	case *electionTried:
		if m.err == nil {
			c.becomeActive(m)
			return
		}
		c.afterElectionFailed(m)
	case *controllerWatchFired:
		c.tryElection()
	case linkDown:
		if c.watched.id >= 0 && m.addr == c.watched.addr {
			c.controllerLinkDown()
		}
	case *brokersLoaded:
		c.askToProbeController(m)
	case *messages.ProbeResponse:
		c.controllerProbed(m)
	case *controllerDeposed:
		if m.err != nil {
			c.log.Warn().Err(m.err).Msg("deposing the unreachable controller failed")
		}
		c.tryElection()
	case *messages.AlterPartitionRequest:
		c.emit(reply{to: from, msg: &messages.AlterPartitionResponse{ErrorCode: codeNotController, Topic: m.Topic, Partition: m.Partition}})
	case *messages.ControlledShutdownRequest:
		c.emit(reply{to: from, msg: &messages.ControlledShutdownResponse{ErrorCode: codeNotController}})
	case *ElectLeadersRequest:
		c.emit(reply{to: from, msg: &ElectLeadersAnswer{ErrorCode: codeNotController}})
	case ctrlTick:
		if c.retryElectionAt > 0 && c.ticks >= c.retryElectionAt {
			c.retryElectionAt = 0
			c.tryElection()
		}
		if c.deposing != nil && c.ticks >= c.deposing.deadline {
			c.log.Info().Int32("controller", c.deposing.target.ID).Msg("no second opinion on the unreachable controller; its ZooKeeper session decides")
			c.deposing = nil
		}
	}
}

// afterElectionFailed handles a lost election: watch the holder, and try
// again when /controller changes (or after a second when no watch could be
// set).
func (c *controller) afterElectionFailed(m *electionTried) {
	if !errors.Is(m.err, cluster.ErrControllerExists) {
		c.log.Warn().Err(m.err).Msg("controller election failed; retrying")
	}
	if !m.watching {
		c.retryElectionAt = c.ticks + c.perSecond()
	}
	if m.holder < 0 || m.holder == c.cfg.brokerID || m.holderAddress == "" {
		return
	}
	if m.holder == c.watched.id && m.holderAddress == c.watched.addr && m.holderEpoch == c.watched.epoch {
		return
	}
	c.watched = watchedController{id: m.holder, addr: m.holderAddress, epoch: m.holderEpoch}
	c.emit(watchLink{addr: m.holderAddress, name: ReplicaManagerName})
}

// controllerLinkDown: the active controller's broker is unreachable from
// here. Find a broker to ask for a second opinion.
func (c *controller) controllerLinkDown() {
	if c.deposing != nil {
		return
	}
	c.log.Warn().Int32("controller", c.watched.id).Msg("active controller unreachable from here; asking another broker")
	c.deposing = &probeRound{target: cluster.BrokerInfo{ID: c.watched.id, ActorAddress: c.watched.addr, Epoch: c.watched.epoch},
		deadline: c.ticks + probeTicks(c)}
	c.zk(&readBrokersJob{reign: c.reign})
}

// askToProbeController sends the probe to other live brokers.
func (c *controller) askToProbeController(m *brokersLoaded) {
	d := c.deposing
	if d == nil || d.asked != nil {
		return
	}
	if m.err != nil {
		c.deposing = nil
		return
	}
	d.asked = map[int32]bool{}
	for _, b := range m.brokers {
		if b.ID == c.cfg.brokerID || b.ID == d.target.ID || b.ActorAddress == "" || len(d.asked) >= probeFanout {
			continue
		}
		d.asked[b.ID] = true
		c.emit(toBroker{to: b, msg: &messages.ProbeRequest{TargetId: d.target.ID, TargetAddress: d.target.ActorAddress,
			TargetEpoch: d.target.Epoch, RequesterId: c.cfg.brokerID}})
	}
	if len(d.asked) == 0 {
		c.log.Info().Int32("controller", d.target.ID).Msg("no other broker to confirm the controller is unreachable; its ZooKeeper session decides")
		c.deposing = nil
	}
}

// controllerProbed: a second opinion on the controller came back.
func (c *controller) controllerProbed(m *messages.ProbeResponse) {
	d := c.deposing
	if d == nil || m.TargetId != d.target.ID || m.TargetEpoch != d.target.Epoch || !d.asked[m.BrokerId] {
		return
	}
	if m.Reachable {
		delete(d.asked, m.BrokerId)
		if len(d.asked) == 0 {
			c.log.Warn().Int32("controller", d.target.ID).Msg("other brokers reach the controller: only our link to it is down; not deposing it")
			c.deposing = nil
			// Watch again: when the link comes back and goes down again,
			// ask again.
			c.emit(watchLink{addr: d.target.ActorAddress, name: ReplicaManagerName})
		}
		return
	}
	// Confirmed: another broker cannot reach it either. Remove its
	// /controller and hold an election. If it is in fact alive, the new
	// controller epoch fences every write it still makes, and its own
	// /controller watch makes it resign.
	holder := d.target
	c.deposing = nil
	c.deposed = watchedController{id: holder.ID, addr: holder.ActorAddress, epoch: holder.Epoch}
	c.watched = watchedController{id: -1}
	c.log.Warn().Int32("controller", holder.ID).Int32("confirmed_by", m.BrokerId).Msg("active controller unreachable; deposing it")
	c.zk(&deposeJob{reign: c.reign, holder: holder.ID})
}
