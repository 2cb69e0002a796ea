package actors

import (
	"bytes"
	"maps"
	"slices"
	"time"

	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/messages"
)

// The controller's channels to brokers (Kafka's ControllerChannelManager).
//
// Remoting delivers at most once: a message sent while a link is down, or
// to an endpoint still reconnecting, is lost without a word. So the
// controller keeps, per live broker, the partition states it sent that the
// broker has not acknowledged (a LeaderAndIsrResponse names the state each
// answer is about) and sends them again until it has; and it numbers its
// UpdateMetadata requests, so that a broker whose answers show it missed
// one is sent the whole picture. Brokers apply both idempotently: a
// LeaderAndIsr no newer than what a partition has is ignored, an
// UpdateMetadata that does not follow the last one applied too.

// resendAfter is how long an unacknowledged request waits to be sent again.
const resendAfter = 2 * time.Second

// brokerChannel is what the controller owes one broker incarnation.
type brokerChannel struct {
	epoch int64 // the broker epoch it is for
	// pending are the partition states sent and not acknowledged, newest
	// per partition; sentAt is when they were last sent.
	pending map[TopicPartition]*messages.PartitionState
	sentAt  int64
	// mdSent is the version of the last UpdateMetadata sent to the broker
	// (they are numbered per channel), mdAcked the last it applied,
	// mdSentAt when one was last sent.
	mdSent, mdAcked int64
	mdSentAt        int64
}

// channel returns the channel to broker b, new for a new incarnation.
func (c *controller) channel(b cluster.BrokerInfo) *brokerChannel {
	ch := c.channels[b.ID]
	if ch == nil || ch.epoch != b.Epoch {
		ch = &brokerChannel{epoch: b.Epoch, pending: map[TopicPartition]*messages.PartitionState{}}
		c.channels[b.ID] = ch
	}
	return ch
}

// sendLeaderAndIsr sends partition states to a live broker, and keeps them
// until it acknowledges them.
func (c *controller) sendLeaderAndIsr(id int32, parts []*messages.PartitionState) {
	// Never for a topic being deleted: a state write that was in flight
	// when the deletion began would bring the replica back after its
	// StopReplica.
	parts = slices.DeleteFunc(slices.Clone(parts), func(p *messages.PartitionState) bool {
		t := c.view.topics[p.Topic]
		return t == nil || t.deleting
	})
	b, ok := c.view.brokers[id]
	if !ok || len(parts) == 0 {
		return
	}
	ch := c.channel(b)
	for _, p := range parts {
		tp := TopicPartition{p.Topic, p.Partition}
		if old := ch.pending[tp]; old == nil || !newer(old, p) {
			ch.pending[tp] = p
		}
	}
	ch.sentAt = c.ticks
	c.emit(toBroker{to: b, msg: c.leaderAndIsr(parts)})
}

func (c *controller) leaderAndIsr(parts []*messages.PartitionState) *messages.LeaderAndIsrRequest {
	v := c.view
	req := &messages.LeaderAndIsrRequest{ControllerId: c.cfg.brokerID, ControllerEpoch: v.epoch, Partitions: parts,
		Configs: map[string]*messages.TopicConfig{}}
	leaders := map[int32]bool{}
	for _, p := range parts {
		if t := v.topics[p.Topic]; t != nil && len(t.configs) > 0 {
			req.Configs[p.Topic] = &messages.TopicConfig{Entries: maps.Clone(t.configs)}
		}
		if lb, ok := v.brokers[p.Leader]; ok && !leaders[p.Leader] {
			leaders[p.Leader] = true
			req.Leaders = append(req.Leaders, brokerMessage(lb))
		}
	}
	return req
}

// leaderAndIsrAnswered clears the states a broker acknowledged: applied,
// already held (FENCED_LEADER_EPOCH: it has that state or a newer one), or
// refused for good (not a replica there, or its log failed).
func (c *controller) leaderAndIsrAnswered(m *messages.LeaderAndIsrResponse) {
	ch := c.channels[m.BrokerId]
	if ch == nil {
		return
	}
	if m.ErrorCode != codeNone {
		c.log.Warn().Int32("broker", m.BrokerId).Int32("code", m.ErrorCode).Msg("LeaderAndIsr refused")
		return
	}
	for _, pe := range m.Partitions {
		tp := TopicPartition{pe.Topic, pe.Partition}
		p := ch.pending[tp]
		if p == nil {
			continue
		}
		answered := &messages.PartitionState{LeaderEpoch: pe.LeaderEpoch, PartitionEpoch: pe.PartitionEpoch, Leader: pe.Leader}
		if !newer(p, answered) {
			delete(ch.pending, tp)
		}
	}
}

// updateMetadataAnswered records how far a broker's metadata is current.
func (c *controller) updateMetadataAnswered(m *messages.UpdateMetadataResponse) {
	ch := c.channels[m.BrokerId]
	if ch == nil || m.ControllerEpoch != c.view.epoch || m.BrokerEpoch != ch.epoch {
		return // an answer about another count
	}
	ch.mdAcked = max(ch.mdAcked, m.Version)
}

// channelTick resends what brokers have not acknowledged.
func (c *controller) channelTick() {
	wait := c.ticksFor(resendAfter)
	for _, id := range sortedKeys(c.channels) {
		ch := c.channels[id]
		b, live := c.view.brokers[id]
		if !live || b.Epoch != ch.epoch {
			delete(c.channels, id)
			continue
		}
		if len(ch.pending) > 0 && c.ticks-ch.sentAt >= wait {
			parts := make([]*messages.PartitionState, 0, len(ch.pending))
			for _, tp := range sortedTPs(ch.pending) {
				// A partition deleted since (or being deleted, or of a topic
				// deleted and created again) is not sent again: it would bring
				// the old replica back.
				// Nor to a broker a reassignment removed the replica from.
				if t, p := c.view.partition(tp); p == nil || t.deleting || !bytes.Equal(ch.pending[tp].TopicId, t.id[:]) || !slices.Contains(p.replicas, id) {
					delete(ch.pending, tp)
					continue
				}
				parts = append(parts, ch.pending[tp])
			}
			ch.sentAt = c.ticks
			if len(parts) > 0 {
				c.emit(toBroker{to: b, msg: c.leaderAndIsr(parts)})
			}
		}
		if ch.mdAcked < ch.mdSent && c.ticks-ch.mdSentAt >= wait {
			c.sendUpdateMetadataTo(b)
		}
	}
}

// sendUpdateMetadata sends the live brokers and the given partitions (all
// of them when full) to every live broker. Each broker's updates are
// numbered on its own channel.
func (c *controller) sendUpdateMetadata(parts []*messages.PartitionState, deleted []string, full bool) {
	req := c.updateMetadata(parts, deleted, full)
	for _, id := range sortedKeys(c.view.brokers) {
		b := c.view.brokers[id]
		ch := c.channel(b)
		if ch.mdSent == 0 && !full {
			// The broker has had nothing on this channel yet: an increment
			// would not apply.
			c.sendUpdateMetadataTo(b)
			continue
		}
		ch.mdSent++
		ch.mdSentAt = c.ticks
		// A copy per broker, its version set; the parts are shared, read only.
		c.emit(toBroker{to: b, msg: &messages.UpdateMetadataRequest{ControllerId: req.ControllerId, ControllerEpoch: req.ControllerEpoch,
			Full: req.Full, Brokers: req.Brokers, Partitions: req.Partitions, DeletedTopics: req.DeletedTopics, ClusterId: req.ClusterId,
			Version: ch.mdSent, BrokerEpoch: ch.epoch}})
	}
}

// sendUpdateMetadataTo sends one broker the whole picture.
func (c *controller) sendUpdateMetadataTo(b cluster.BrokerInfo) {
	req := c.updateMetadata(nil, nil, true)
	ch := c.channel(b)
	ch.mdSent++
	ch.mdSentAt, req.Version, req.BrokerEpoch = c.ticks, ch.mdSent, ch.epoch
	c.emit(toBroker{to: b, msg: req})
}

// updateMetadata builds an UpdateMetadata (its version is set per broker).
func (c *controller) updateMetadata(parts []*messages.PartitionState, deleted []string, full bool) *messages.UpdateMetadataRequest {
	v := c.view
	req := &messages.UpdateMetadataRequest{ControllerId: c.cfg.brokerID, ControllerEpoch: v.epoch, Full: full,
		Brokers: v.brokerMessages(), Partitions: parts, DeletedTopics: deleted, ClusterId: v.clusterID}
	if full {
		req.Partitions = v.allPartitionStates()
	}
	return req
}
