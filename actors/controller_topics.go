package actors

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/messages"
)

// Loading the cluster, following its watches, topics and their
// partitions, configs, and topic deletion.

// clusterLoaded takes in what a new controller read, tells every live
// broker the whole picture, then fixes what needs fixing.
func (c *controller) clusterLoaded(m *clusterLoaded) {
	if m.err != nil {
		if errors.Is(m.err, cluster.ErrControllerMoved) {
			c.resignAndStandby("fenced while loading")
			return
		}
		c.log.Warn().Err(m.err).Int("attempt", m.attempt).Msg("cannot load cluster state; retrying")
		c.loadAttempt = m.attempt + 1
		c.loadRetryAt = c.ticks + c.ticksFor(time.Duration(min(c.loadAttempt, 10))*200*time.Millisecond)
		return
	}
	snap := m.snap
	v := c.view
	c.loaded = true
	v.clusterID = snap.clusterID
	for _, b := range snap.brokers {
		v.brokers[b.ID] = b
		c.watchBroker(b)
		if b.ID != c.cfg.brokerID && b.ActorAddress != "" {
			c.unconfirmed[b.ID] = b.Epoch
			c.emit(toBroker{to: b, msg: &messages.Ping{ControllerId: c.cfg.brokerID, ControllerEpoch: v.epoch}})
		}
	}
	c.confirmBy = c.ticks + c.perSecond()
	for _, lt := range snap.topics {
		c.addTopic(lt)
	}
	c.lastConfigChange = snap.lastConfigChange
	c.brokerConfigs = snap.brokerConfigs
	if c.brokerConfigs == nil {
		c.brokerConfigs = map[string]map[string]string{}
	}
	c.log.Info().Int("brokers", len(v.brokers)).Int("topics", len(v.topics)).Msg("controller loaded cluster state")

	c.sendUpdateMetadata(nil, nil, true)
	for _, id := range sortedKeys(v.brokers) {
		c.sendLeaderAndIsr(id, v.partitionsOn(id))
	}
	for _, name := range snap.deletions {
		c.startDeletion(name)
	}
	c.takeReassignments(snap.reassignments, snap.reassignVersion)
	c.takePreferred(snap.preferred, snap.preferredVersion)
	// The predecessor this broker saw die (confirmed by another broker) is
	// dead: waiting for its ping to go unanswered would only delay its
	// partitions' failover.
	if b, ok := v.brokers[c.deposed.id]; ok && b.Epoch == c.deposed.epoch && b.ID != c.cfg.brokerID {
		c.suspect(b.ID, "deposed controller, unreachable over remoting from two brokers")
	}
	c.deposed = watchedController{id: -1}
	// Every partition is looked at once: leaders that died while there was
	// no controller, partitions whose creation was interrupted.
	c.markDirty(func(*ctrlPartition) bool { return true })
	c.reconcileAll()
}

func (c *controller) addTopic(lt loadedTopic) *ctrlTopic {
	v := c.view
	t := &ctrlTopic{name: lt.info.Name, id: lt.info.ID, partitions: map[int32]*ctrlPartition{}, configs: lt.configs, zkVersion: lt.info.ZkVersion}
	unclean := c.uncleanAllowed(lt.configs)
	for p, replicas := range lt.info.Partitions {
		cp := &ctrlPartition{tp: TopicPartition{t.name, p}, replicas: slices.Clone(replicas), uncleanAllowed: unclean,
			reassign: fromRecord(replicas, lt.info.AddingReplicas[p], lt.info.RemovingReplicas[p])}
		// A move taken over from another controller is told again at a new
		// epoch: the leader may never have heard of its replica set (the
		// predecessor's bump was fenced, or lost with it), and would refuse
		// the new replicas' fetches for good.
		cp.tell = cp.reassign != nil
		if st, ok := lt.states[p]; ok {
			cp.hasState, cp.state, cp.zkVersion = true, st, lt.versions[p]
		}
		t.partitions[p] = cp
	}
	v.topics[t.name] = t
	return t
}

func (c *controller) uncleanAllowed(overrides map[string]string) bool {
	tc, _ := c.cfg.broker.ResolveTopic(overrides)
	return tc.UncleanLeaderElectionEnable
}

// watchFired re-reads what a watch reported changed (and watches it again).
func (c *controller) watchFired(kind, topic string) {
	if name, ok := strings.CutPrefix(kind, "topic/"); ok {
		kind, topic = "topic", name
	}
	switch kind {
	case "brokers":
		c.zk(&readBrokersJob{reign: c.reign, watch: true})
	case "topics":
		c.zk(&readTopicNamesJob{reign: c.reign})
	case "topic":
		c.zk(&readTopicsJob{reign: c.reign, names: []string{topic}})
	case "deletions":
		c.zk(&readDeletionsJob{reign: c.reign})
	case "configs":
		c.zk(&readConfigChangesJob{reign: c.reign, last: c.lastConfigChange})
	case "reassignments":
		c.zk(&readReassignmentsJob{reign: c.reign})
	case "preferred":
		c.zk(&readPreferredJob{reign: c.reign})
	}
}

func (c *controller) topicNamesLoaded(m *topicNamesLoaded) {
	if m.err != nil {
		c.retryWatch("topics", m.err)
		return
	}
	var added []string
	for _, n := range m.names {
		if _, ok := c.view.topics[n]; !ok {
			added = append(added, n)
		}
	}
	if len(added) > 0 {
		c.zk(&readTopicsJob{reign: c.reign, names: added})
	}
}

// topicsLoaded handles new topics and partitions added to known ones.
func (c *controller) topicsLoaded(m *topicsLoaded) {
	v := c.view
	for _, lt := range m.topics {
		if lt.err != nil {
			c.log.Warn().Err(lt.err).Str("topic", lt.name).Msg("cannot read topic; retrying")
			c.retryWatch("topic/"+lt.name, lt.err)
			continue
		}
		t, ok := v.topics[lt.info.Name]
		if !ok && c.deletions[lt.info.Name] != nil {
			// Marked for deletion before it was known here (created and
			// deleted between two reads): the deletion removes its znodes;
			// creating its partitions now would start replicas that no
			// StopReplica ever reaches.
			continue
		}
		if !ok {
			t = c.addTopic(lt)
			c.log.Info().Str("topic", t.name).Int("partitions", len(t.partitions)).Msg("new topic")
			for _, p := range t.partitions {
				p.dirty = true
			}
			continue
		}
		unclean := c.uncleanAllowed(lt.configs)
		t.configs = lt.configs
		c.topicReread(t, lt.info)
		for _, p := range sortedKeys(lt.info.Partitions) {
			if cp, ok := t.partitions[p]; ok {
				cp.uncleanAllowed = unclean
				continue
			}
			cp := &ctrlPartition{tp: TopicPartition{t.name, p}, replicas: slices.Clone(lt.info.Partitions[p]), uncleanAllowed: unclean, dirty: true}
			if st, ok := lt.states[p]; ok {
				cp.hasState, cp.state, cp.zkVersion = true, st, lt.versions[p]
			}
			t.partitions[p] = cp
			c.log.Info().Str("topic", t.name).Int32("partition", p).Msg("new partition")
		}
	}
	c.reconcileAll()
}

// configsChanged keeps the controller's copy of topic configs current: it
// decides unclean elections by them and sends them with LeaderAndIsr to
// brokers that start hosting a topic.
func (c *controller) configsChanged(m *configsChanged) {
	if m.err != nil {
		c.retryWatch("configs", m.err)
		return
	}
	c.lastConfigChange = m.last
	for _, e := range sortedKeys(m.brokers) {
		c.brokerConfigs[e] = m.brokers[e]
	}
	for _, topic := range sortedKeys(m.configs) {
		t := c.view.topics[topic]
		if t == nil {
			continue
		}
		cfg := m.configs[topic]
		t.configs = cfg
		unclean := c.uncleanAllowed(cfg)
		for _, p := range t.partitions {
			if unclean && !p.uncleanAllowed {
				p.dirty = true // an offline partition may now elect uncleanly
			}
			p.uncleanAllowed = unclean
		}
	}
	c.reconcileAll()
}

// brokerConfigChanged takes new dynamic broker configs: topic defaults
// (unclean.leader.election.enable) and the bound on concurrent moves.
// Standby or active, the next reign starts with them.
func (c *controller) brokerConfigChanged(m *BrokerConfigChanged) {
	c.cfg.broker = m.Broker
	if c.role != roleActive || c.view == nil {
		return
	}
	for _, name := range sortedKeys(c.view.topics) {
		t := c.view.topics[name]
		unclean := c.uncleanAllowed(t.configs)
		for _, p := range t.partitions {
			if unclean && !p.uncleanAllowed || p.requested != nil {
				p.dirty = true // may elect uncleanly now, or start its move
			}
			p.uncleanAllowed = unclean
		}
	}
	c.reconcileAll()
}

// --- topic deletion ----------------------------------------------------------

// stopReplicaResendTicks: an unanswered StopReplica is sent again after
// this long.
const stopReplicaResend = 10 * time.Second

func (c *controller) deletionsLoaded(m *deletionsLoaded) {
	if m.err != nil {
		c.retryWatch("deletions", m.err)
		return
	}
	for _, n := range m.names {
		c.startDeletion(n)
	}
}

func (c *controller) startDeletion(name string) {
	if _, ok := c.deletions[name]; ok {
		return
	}
	t := c.view.topics[name]
	if t == nil {
		// Marked but unknown (its znodes went before the marker): finish.
		c.deletions[name] = &deletion{waiting: map[int32]bool{}}
		c.maybeFinishDeletion(name)
		return
	}
	t.deleting = true
	c.log.Info().Str("topic", name).Msg("deleting topic")
	d := &deletion{waiting: map[int32]bool{}}
	for _, p := range t.partitions {
		for _, id := range p.allReplicas() {
			d.waiting[id] = true
		}
		if s := c.strays[p.tp]; s != nil {
			for id := range s.brokers {
				d.waiting[id] = true // its StopReplica now comes with the deletion's
			}
		}
	}
	c.deletions[name] = d
	c.sendStopReplicas(name)
	c.maybeFinishDeletion(name)
}

// sendStopReplicas asks every live broker still holding replicas of a
// topic being deleted to delete them. Brokers that are down get it when
// they return (the deletion waits for them, as in Kafka).
func (c *controller) sendStopReplicas(name string) {
	d := c.deletions[name]
	t := c.view.topics[name]
	if d == nil || t == nil {
		return
	}
	d.sentTick = c.ticks
	for _, id := range sortedKeys(d.waiting) {
		b, ok := c.view.brokers[id]
		if !ok {
			continue
		}
		req := &messages.StopReplicaRequest{ControllerId: c.cfg.brokerID, ControllerEpoch: c.view.epoch, Delete: true}
		for _, p := range t.sortedPartitions() {
			if slices.Contains(p.allReplicas(), id) || c.strays[p.tp] != nil && c.strays[p.tp].brokers[id] {
				req.Partitions = append(req.Partitions, &messages.StopPartition{Topic: name, Partition: p.tp.Partition, LeaderEpoch: -2})
			}
		}
		c.emit(toBroker{to: b, msg: req})
	}
}

func (c *controller) stopReplicaAnswered(m *messages.StopReplicaResponse) {
	for _, name := range sortedKeys(c.deletions) {
		d := c.deletions[name]
		if !d.waiting[m.BrokerId] {
			continue
		}
		ok := m.ErrorCode == codeNone
		answered := false
		for _, pe := range m.Partitions {
			if pe.Topic != name {
				continue
			}
			answered = true
			if pe.ErrorCode != codeNone && pe.ErrorCode != codeUnknownTopicOrPart {
				ok = false
			}
		}
		if ok && answered {
			delete(d.waiting, m.BrokerId)
			c.maybeFinishDeletion(name)
		}
	}
}

func (c *controller) maybeFinishDeletion(name string) {
	d := c.deletions[name]
	if d == nil || len(d.waiting) > 0 || d.writing {
		return
	}
	d.writing = true
	c.zk(&deleteTopicJob{reign: c.reign, epochZk: c.view.epochZkVersion, topic: name})
}

func (c *controller) topicZNodesDeleted(m *topicZNodesDeleted) {
	if m.err != nil {
		if errors.Is(m.err, cluster.ErrControllerMoved) {
			c.resignAndStandby("fenced while deleting a topic")
			return
		}
		// Also when the answer was lost: the job deletes whichever znodes
		// still exist, so trying again is safe.
		c.log.Warn().Err(m.err).Str("topic", m.topic).Msg("cannot delete topic znodes; will retry")
		if d := c.deletions[m.topic]; d != nil {
			d.writing = false
		}
		return
	}
	delete(c.deletions, m.topic)
	delete(c.view.topics, m.topic)
	c.log.Info().Str("topic", m.topic).Msg("topic deleted")
	c.sendUpdateMetadata(nil, []string{m.topic}, false)
}

// deletionTick resends unanswered StopReplicas and retries finishing.
func (c *controller) deletionTick() {
	for _, name := range sortedKeys(c.deletions) {
		d := c.deletions[name]
		if len(d.waiting) > 0 && c.ticks-d.sentTick > c.ticksFor(stopReplicaResend) {
			c.sendStopReplicas(name)
		} else if len(d.waiting) == 0 && !d.writing {
			c.maybeFinishDeletion(name)
		}
	}
}

func (c *controller) topicHasReplicaOn(name string, id int32) bool {
	t := c.view.topics[name]
	if t == nil {
		return false
	}
	for _, p := range t.partitions {
		if slices.Contains(p.allReplicas(), id) {
			return true
		}
	}
	return false
}
