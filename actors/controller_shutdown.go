package actors

import (
	"slices"

	"github.com/troupe-mq/troupe/messages"
)

// Controlled shutdown (Kafka's controlled.shutdown.enable) and preferred
// leader elections (auto.leader.rebalance.enable).

// controlledShutdown moves a broker's leaderships away before it exits.
// The broker is answered once no partition of it has a decision or write
// pending.
func (c *controller) controlledShutdown(req *messages.ControlledShutdownRequest, from any) {
	if !c.loaded {
		c.emit(reply{to: from, msg: &messages.ControlledShutdownResponse{ErrorCode: codeNotController}})
		return
	}
	if !c.view.live(req.BrokerId) {
		c.emit(reply{to: from, msg: &messages.ControlledShutdownResponse{ErrorCode: codeStaleBrokerEpoch}})
		return
	}
	c.log.Info().Int32("broker", req.BrokerId).Msg("controlled shutdown requested")
	c.view.shuttingDown[req.BrokerId] = true
	c.shutdowns = append(c.shutdowns, &pendingShutdown{broker: req.BrokerId, from: from})
	c.markDirty(func(p *ctrlPartition) bool { return slices.Contains(p.replicas, req.BrokerId) })
	c.reconcileAll()
}

// maybeFinishShutdowns answers controlled shutdowns whose moves are done.
func (c *controller) maybeFinishShutdowns() {
	kept := c.shutdowns[:0]
	for _, ps := range c.shutdowns {
		busy := false
		var remaining []*messages.PartitionError
		c.view.each(false, func(_ *ctrlTopic, p *ctrlPartition) {
			if !slices.Contains(p.replicas, ps.broker) {
				return
			}
			if p.inFlight || p.dirty || p.unsure {
				busy = true
			}
			if p.state.Leader == ps.broker {
				remaining = append(remaining, &messages.PartitionError{Topic: p.tp.Topic, Partition: p.tp.Partition})
			}
		})
		if busy {
			kept = append(kept, ps)
			continue
		}
		c.log.Info().Int32("broker", ps.broker).Int("still_leading", len(remaining)).Msg("controlled shutdown answered")
		c.emit(reply{to: ps.from, msg: &messages.ControlledShutdownResponse{Remaining: remaining}})
	}
	c.shutdowns = kept
}

// preferredElections moves leadership back to preferred replicas, for the
// brokers whose imbalance is above leader.imbalance.per.broker.percentage:
// of the partitions a broker is the preferred replica of, the share led by
// another broker (Kafka's auto.leader.rebalance check).
func (c *controller) preferredElections() {
	preferred, misled := map[int32]int{}, map[int32]int{}
	c.view.each(true, func(_ *ctrlTopic, p *ctrlPartition) {
		if !p.hasState || len(p.replicas) == 0 {
			return
		}
		pref := p.replicas[0]
		preferred[pref]++
		if p.state.Leader != pref {
			misled[pref]++
		}
	})
	pct := c.cfg.broker.LeaderImbalancePercent
	var updates []stateChange
	c.view.each(true, func(_ *ctrlTopic, p *ctrlPartition) {
		if p.inFlight || p.dirty || p.unsure || len(p.replicas) == 0 {
			return
		}
		pref := p.replicas[0]
		if misled[pref]*100 <= pct*preferred[pref] {
			return
		}
		if ch, ok := c.view.preferredElection(p); ok {
			p.inFlight = true
			updates = append(updates, ch)
		}
	})
	if len(updates) > 0 {
		c.writeStates(updates)
	}
}
