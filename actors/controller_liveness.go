package actors

import (
	"slices"
	"strconv"
	"time"

	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/messages"
)

// Liveness: brokers joining and leaving, and failure detection.
//
// ZooKeeper is the authority on broker death: a broker whose session
// expired has no registration. Waiting for that takes up to
// zookeeper.session.timeout.ms, so the controller also watches every
// broker's replica manager over remoting, where kill -9 shows within tens
// of milliseconds. A link that goes down is only the controller's own
// opinion, though, and one bad link must not evict a broker that ZooKeeper,
// clients and the other brokers reach: the controller asks up to
// probeFanout other live brokers to probe it (ProbeRequest), and treats it
// as failed only when one of them cannot reach it either. With no other
// broker to ask, the ZooKeeper session decides. A broker treated as failed
// rejoins when it answers a Ping or registers anew.

// probeFanout is how many other brokers are asked for a second opinion.
const probeFanout = 2

// probeTicks bounds the wait for second opinions (longer than a prober's
// own ping deadline, probePingTimeout).
func probeTicks(c *controller) int64 { return c.ticksFor(5 * time.Second) }

// probeRound is a second opinion asked about target.
type probeRound struct {
	target   cluster.BrokerInfo
	asked    map[int32]bool
	deadline int64
}

// watchBroker watches another broker's replica manager over remoting.
func (c *controller) watchBroker(b cluster.BrokerInfo) {
	if b.ID == c.cfg.brokerID || b.ActorAddress == "" {
		return
	}
	c.emit(watchLink{addr: b.ActorAddress, name: ReplicaManagerName})
}

// brokerLinkDown: the link to a broker's replica manager terminated.
func (c *controller) brokerLinkDown(addr string) {
	if c.view == nil {
		return
	}
	for _, id := range sortedKeys(c.view.brokers) {
		if b := c.view.brokers[id]; b.ActorAddress == addr && id != c.cfg.brokerID {
			c.askSecondOpinion(b, "unreachable over remoting from the controller")
		}
	}
}

// askSecondOpinion asks other live brokers whether they reach b.
func (c *controller) askSecondOpinion(b cluster.BrokerInfo, why string) {
	if _, busy := c.probes[b.ID]; busy {
		return
	}
	round := &probeRound{target: b, asked: map[int32]bool{}, deadline: c.ticks + probeTicks(c)}
	for _, id := range sortedKeys(c.view.brokers) {
		o := c.view.brokers[id]
		if id == c.cfg.brokerID || id == b.ID || o.ActorAddress == "" || len(round.asked) >= probeFanout {
			continue
		}
		round.asked[id] = true
		c.emit(toBroker{to: o, msg: &messages.ProbeRequest{TargetId: b.ID, TargetAddress: b.ActorAddress, TargetEpoch: b.Epoch,
			RequesterId: c.cfg.brokerID, ControllerEpoch: c.view.epoch}})
	}
	if len(round.asked) == 0 {
		c.log.Warn().Int32("broker", b.ID).Str("why", why).Msg("no other broker to confirm; its ZooKeeper session decides")
		return
	}
	c.log.Warn().Int32("broker", b.ID).Str("why", why).Msg("asking other brokers whether they reach it")
	c.probes[b.ID] = round
}

// probeAnswered: a second opinion came back.
func (c *controller) probeAnswered(m *messages.ProbeResponse) {
	round := c.probes[m.TargetId]
	if round == nil || round.target.Epoch != m.TargetEpoch || !round.asked[m.BrokerId] {
		return
	}
	if !m.Reachable {
		delete(c.probes, m.TargetId)
		if b, ok := c.view.brokers[m.TargetId]; ok && b.Epoch == m.TargetEpoch {
			c.suspect(m.TargetId, "unreachable from the controller and from broker "+strconv.Itoa(int(m.BrokerId)))
		}
		return
	}
	delete(round.asked, m.BrokerId)
	if len(round.asked) == 0 {
		delete(c.probes, m.TargetId)
		c.log.Warn().Int32("broker", m.TargetId).Msg("other brokers reach it: only the controller's link is down; it stays")
		if b, ok := c.view.brokers[m.TargetId]; ok {
			c.watchBroker(b) // a later loss of the link asks again
			// Remoting is at most once: what was sent while the link was
			// down is lost. Tell the broker the whole picture again.
			c.sendUpdateMetadataTo(b)
			c.sendLeaderAndIsr(b.ID, c.view.partitionsOn(b.ID))
		}
	}
}

// livenessTick pings suspects, starts second opinions on brokers a new
// controller did not hear from, and drops rounds nobody answered.
func (c *controller) livenessTick() {
	if len(c.view.suspects) > 0 && c.ticks%(2*c.perSecond()) == 0 {
		for _, id := range sortedKeys(c.view.suspects) {
			if b, ok := c.suspectInfo[id]; ok {
				c.emit(toBroker{to: b, msg: &messages.Ping{ControllerId: c.cfg.brokerID, ControllerEpoch: c.view.epoch}})
			}
		}
	}
	if len(c.unconfirmed) > 0 && c.ticks >= c.confirmBy {
		for _, id := range sortedKeys(c.unconfirmed) {
			if b, ok := c.view.brokers[id]; ok && b.Epoch == c.unconfirmed[id] {
				c.askSecondOpinion(b, "no answer to the new controller's ping")
			}
		}
		clear(c.unconfirmed)
	}
	for _, id := range sortedKeys(c.probes) {
		if c.ticks >= c.probes[id].deadline {
			c.log.Info().Int32("broker", id).Msg("no second opinion came; its ZooKeeper session decides")
			delete(c.probes, id)
		}
	}
}

// suspect treats a registered broker as failed until it proves otherwise.
func (c *controller) suspect(id int32, why string) {
	v := c.view
	b, ok := v.brokers[id]
	if !ok {
		return
	}
	c.log.Warn().Int32("broker", id).Str("address", b.ActorAddress).Str("why", why).Msg("treating broker as failed")
	v.suspects[id] = b.Epoch
	delete(v.brokers, id)
	delete(v.shuttingDown, id)
	delete(c.unconfirmed, id)
	delete(c.probes, id)
	c.suspectInfo[id] = b
	c.markDirty(func(p *ctrlPartition) bool { return slices.Contains(p.replicas, id) })
	c.reconcileAll()
	c.sendUpdateMetadata(nil, nil, true)
}

func (c *controller) pong(m *messages.Pong) {
	v := c.view
	// A Pong of an older broker epoch than registered comes from the same
	// process, not yet told that its registration (made through a reply it
	// lost) succeeded; a newer one from a process that replaced it.
	if epoch, ok := c.unconfirmed[m.BrokerId]; ok && m.BrokerEpoch <= epoch {
		delete(c.unconfirmed, m.BrokerId)
		return
	}
	epoch, suspect := v.suspects[m.BrokerId]
	b, known := c.suspectInfo[m.BrokerId]
	if !suspect || !known || m.BrokerEpoch > epoch {
		return
	}
	c.log.Info().Int32("broker", m.BrokerId).Msg("suspected broker answered; it rejoins")
	delete(v.suspects, m.BrokerId)
	delete(c.suspectInfo, m.BrokerId)
	v.brokers[m.BrokerId] = b
	c.watchBroker(b)
	c.sendUpdateMetadata(nil, nil, true)
	c.sendLeaderAndIsr(m.BrokerId, c.view.partitionsOn(m.BrokerId))
	// Followers were told these partitions had no leader while it was
	// held for dead: tell them it leads (if no election moved them since).
	c.broadcastLedBy(m.BrokerId)
	c.markDirty(func(p *ctrlPartition) bool { return slices.Contains(p.replicas, m.BrokerId) })
	c.reconcileAll()
}

// brokersLoaded handles broker joins and departures.
func (c *controller) brokersLoaded(m *brokersLoaded) {
	if m.err != nil {
		c.retryWatch("brokers", m.err)
		return
	}
	v := c.view
	now := map[int32]cluster.BrokerInfo{}
	for _, b := range m.brokers {
		if epoch, suspect := v.suspects[b.ID]; suspect {
			if epoch == b.Epoch {
				continue // still presumed dead: its session has not expired yet
			}
			delete(v.suspects, b.ID) // a new incarnation registered
		}
		now[b.ID] = b
	}
	for _, id := range sortedKeys(v.suspects) {
		epoch := v.suspects[id]
		if !slices.ContainsFunc(m.brokers, func(b cluster.BrokerInfo) bool { return b.ID == id && b.Epoch == epoch }) {
			delete(v.suspects, id) // its registration is gone
		}
	}
	var joined, left []int32
	for _, id := range sortedKeys(v.brokers) {
		nb, ok := now[id]
		if !ok || nb.Epoch != v.brokers[id].Epoch {
			left = append(left, id) // gone, or bounced (a new incarnation)
		}
	}
	for _, id := range sortedKeys(now) {
		old, ok := v.brokers[id]
		if !ok || now[id].Epoch != old.Epoch {
			joined = append(joined, id)
		}
	}
	if len(joined) == 0 && len(left) == 0 {
		return
	}
	c.log.Info().Ints32("joined", joined).Ints32("left", left).Msg("brokers changed")
	for _, id := range left {
		delete(v.brokers, id)
		delete(v.shuttingDown, id)
		delete(c.probes, id)
	}
	// A bounced broker is first treated as failed: its leaderships move,
	// and it leaves the ISRs. Where the partition cannot be decided now (a
	// write in flight or unsure), it is remembered as departed, for the
	// decision made once the broker may be back.
	c.markDirty(func(p *ctrlPartition) bool {
		return slices.ContainsFunc(left, func(id int32) bool { return slices.Contains(p.replicas, id) })
	})
	c.view.each(false, func(_ *ctrlTopic, p *ctrlPartition) {
		for _, id := range left {
			if p.hasState && slices.Contains(p.state.ISR, id) {
				if p.departed == nil {
					p.departed = map[int32]bool{}
				}
				p.departed[id] = true
			}
		}
	})
	c.reconcileAll()
	for _, id := range joined {
		v.brokers[id] = now[id]
		c.watchBroker(now[id])
	}
	c.sendUpdateMetadata(nil, nil, true)
	for _, id := range joined {
		c.sendLeaderAndIsr(id, v.partitionsOn(id))
		for _, name := range sortedKeys(c.deletions) {
			if d := c.deletions[name]; d.waiting[id] || c.topicHasReplicaOn(name, id) {
				c.sendStopReplicas(name)
			}
		}
	}
	// Partitions that were offline may have a leader again.
	c.markDirty(func(p *ctrlPartition) bool {
		return slices.ContainsFunc(joined, func(id int32) bool { return slices.Contains(p.replicas, id) })
	})
	c.reconcileAll()
}

// retryWatch re-reads what a watch covers after a failed read, a second
// from now.
func (c *controller) retryWatch(kind string, err error) {
	c.log.Warn().Err(err).Str("watch", kind).Msg("controller watch read failed; retrying")
	if _, ok := c.watchRetryAt[kind]; !ok {
		c.watchRetryAt[kind] = c.ticks + c.ticksFor(500*time.Millisecond)
	}
}

// broadcastLedBy sends the partitions broker id leads to their other live
// replicas.
func (c *controller) broadcastLedBy(id int32) {
	c.view.each(true, func(t *ctrlTopic, p *ctrlPartition) {
		if p.hasState && !p.unsure && p.state.Leader == id {
			ps := c.view.partitionState(t, p)
			for _, r := range p.replicas {
				if r != id && c.view.live(r) {
					c.sendLeaderAndIsr(r, []*messages.PartitionState{ps})
				}
			}
		}
	})
}
