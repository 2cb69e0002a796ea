package actors

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/internal/config"
	"github.com/troupe-mq/troupe/messages"
)

// partitionTickRatio: partitions get every fifth tick of the manager.
// Their clock bounds acks=all timeouts and ISR lag (seconds), so half a
// second of resolution is plenty, and 10,000 idle partitions then cost
// 20,000 messages a second rather than 100,000.
const partitionTickRatio = 5

// ReplicaManagerName is the name the replica manager is spawned under on
// every broker, so the controller can address it as (address, name).
const ReplicaManagerName = "replica-manager"

// ControllerName is the name of the controller actor on every broker.
const ControllerName = "controller"

// logDeleteTimeout bounds the wait for partition actors to delete their
// logs; past it the partition is answered KAFKA_STORAGE_ERROR and the
// controller asks again.
const logDeleteTimeout = 30 * time.Second

// alterResendTicks: proposals still unanswered are sent again this often
// (in manager ticks), besides at once to every new controller.
const alterResendTicks = 50

// The replica host is the core of a broker's replica manager: it decides
// which partition actors run here and in which role, applies LeaderAndIsr /
// StopReplica / UpdateMetadata from the controller (refusing older
// controller epochs), registers followers with the fetcher of their leader,
// routes ISR proposals to the controller (resending them to a new one), and
// drives the logical clock of the partitions and fetchers.
//
// Deterministic like every core: inputs in, effects out (no actors, clock
// or IO). Its shell is replicaManager (replica_manager_actor.go); the
// simulator runs it as it is.
type replicaHost struct {
	cfg        replicaHostConfig
	log        zerolog.Logger
	partitions map[TopicPartition]*hostedPartition
	overrides  map[string]map[string]string // topic -> config overrides
	// controllerEpoch is the newest controller epoch seen; commands from
	// older epochs are refused.
	controllerEpoch int32
	md              *Metadata
	// mdEpoch, mdCount and mdVersion are the controller epoch, the count
	// and the update version the metadata cache is at
	// (UpdateMetadataRequest explains versions).
	mdEpoch     int32
	mdCount     int64
	mdVersion   int64
	brokerEpoch int64
	ticks       int64
	// fetchers by leaderKey (leader id, address and epoch).
	fetchers map[string]*fetcherEntry
	// alters are the ISR proposals forwarded to the controller and not yet
	// answered; alterTo names the controller they were last sent to.
	alters  map[TopicPartition]*messages.AlterPartitionRequest
	alterTo string
	// peers are the other brokers' replica managers this host watches over
	// remoting, by id, and probes the second opinions it was asked for
	// about them (controller_liveness.go explains why).
	peers  map[int32]*peerLink
	probes []*hostProbe
	// stops are StopReplica requests waiting for logs to be deleted.
	stops    map[int64]*pendingStop
	nextStop int64
	nextInc  int64
	out      []effect
}

// replicaHostConfig is what a replica host needs.
type replicaHostConfig struct {
	brokerID int32
	broker   *config.Broker
	// tickEvery is the period of the manager's ticks.
	tickEvery time.Duration
	// fetch: followers fetch from their leaders (cluster mode).
	fetch bool
	// followerThrottle is follower.replication.throttled.rate, shared by
	// this broker's fetchers (nil: none, as in the simulator).
	followerThrottle *Throttle
	log              zerolog.Logger
}

// hostedPartition is the host's record of one local replica.
type hostedPartition struct {
	// inc numbers the actor spawned for it, so a report from an actor that
	// was replaced is told apart.
	inc    int64
	state  *messages.PartitionState
	leader *messages.Broker
	// started: the actor has opened its log and been sent its state.
	started bool
	failed  bool
	// following is the fetcher this replica is registered with ("" none).
	following string
}

// fetcherEntry is a running replica fetcher for one leader broker.
type fetcherEntry struct {
	leader *messages.Broker
	// parts are the partitions registered with it.
	parts map[TopicPartition]bool
}

// peerLink is another broker's replica manager as this host watches it.
type peerLink struct {
	addr  string
	epoch int64
	// down: the link terminated and no Pong came from the peer since.
	// While down the peer is pinged every peerPingEvery, and watched
	// again once it answers: a link that came back must not be taken
	// for down by a probe long after (a false second opinion).
	down bool
}

// peerPingEvery is how often a peer whose link is down is pinged.
const peerPingEvery = time.Second

// hostProbe is a ProbeRequest waiting for the target's Pong.
type hostProbe struct {
	req      *messages.ProbeRequest
	from     any
	deadline int64
}

// probePingTimeout bounds a probe's ping; past it the target counts as
// unreachable (the controller waits longer for the answer: probeTicks).
const probePingTimeout = 2 * time.Second

// pendingStop is a StopReplica waiting for partition logs to be deleted.
type pendingStop struct {
	to       any
	resp     *messages.StopReplicaResponse
	waiting  map[TopicPartition]*messages.PartitionError
	deadline int64
}

// Inputs of the replica host besides the controller's requests.
type (
	// managerTick is the manager's clock; nowMs is the wall clock the shell
	// read (for producer id expiry in the partitions' housekeeping).
	managerTick struct{ nowMs int64 }
	// replicaGone: a partition actor stopped on its own (supervision gave up).
	replicaGone struct {
		tp  TopicPartition
		inc int64
	}
	// replicaStopped: a log deletion asked by a StopReplica finished.
	replicaStopped struct {
		stop int64
		tp   TopicPartition
		err  error
	}
)

// TopicConfigChanged tells the replica manager a topic's overrides changed.
type TopicConfigChanged struct {
	Topic     string
	Overrides map[string]string
}

// BrokerConfigChanged tells the replica manager and the controller the
// broker's configuration changed (dynamic broker configs in ZooKeeper).
type BrokerConfigChanged struct{ Broker *config.Broker }

// Effects of the replica host.
type (
	// spawnReplica starts the actor of a partition replica (inc names it).
	spawnReplica struct {
		tp  TopicPartition
		inc int64
		cfg config.Topic
	}
	// toReplica sends msg to the partition's actor (dropped if none runs).
	toReplica struct {
		tp  TopicPartition
		msg any
	}
	// stopReplica stops the partition's actor; with delete its log goes
	// too (also when no actor runs: the log may be on disk from before a
	// restart), and replicaStopped{stop} reports the deletion.
	stopReplica struct {
		tp     TopicPartition
		delete bool
		hosted bool
		stop   int64
	}
	// startFetcher starts the fetcher for a leader broker.
	startFetcher struct {
		key string
		cfg fetcherConfig
	}
	toFetcher struct {
		key string
		msg any
	}
	stopFetcher struct{ key string }
	// publish makes md the metadata snapshot the gateway reads.
	publish struct{ md *Metadata }
	// toController sends msg to the controller actor on broker to; the
	// answer comes back to the host.
	toController struct {
		to  *messages.Broker
		msg any
	}
	// reply answers the sender of a request.
	reply struct {
		to  any
		msg any
	}
	// toPeer sends msg to the replica manager at addr (answers come back
	// to the host).
	toPeer struct {
		addr string
		msg  any
	}
	// reportLoad sends the controller on broker to this broker's load
	// (messages.BrokerLoadReport), which the shell measures.
	reportLoad struct {
		to          *messages.Broker
		brokerEpoch int64
	}
)

// loadReportEvery is how often a broker reports its load to the controller.
const loadReportEvery = 10 * time.Second

func newReplicaHost(cfg replicaHostConfig) *replicaHost {
	return &replicaHost{
		cfg:             cfg,
		log:             cfg.log.With().Str("actor", ReplicaManagerName).Logger(),
		partitions:      make(map[TopicPartition]*hostedPartition),
		overrides:       make(map[string]map[string]string),
		controllerEpoch: -1,
		md:              emptyMetadata(),
		mdEpoch:         -1,
		brokerEpoch:     -1,
		fetchers:        make(map[string]*fetcherEntry),
		alters:          make(map[TopicPartition]*messages.AlterPartitionRequest),
		peers:           make(map[int32]*peerLink),
		stops:           make(map[int64]*pendingStop),
	}
}

func (h *replicaHost) emit(e effect) { h.out = append(h.out, e) }

// step takes one input (from: its sender, for those answered) and returns
// the effects it causes.
func (h *replicaHost) step(msg any, from any) []effect {
	switch m := msg.(type) {
	case *messages.LeaderAndIsrRequest:
		h.emit(reply{to: from, msg: h.leaderAndIsr(m)})
	case *messages.UpdateMetadataRequest:
		h.updateMetadata(m, from)
	case *messages.StopReplicaRequest:
		h.stopReplicas(m, from)
	case *replicaStopped:
		h.replicaStopped(m)
	case *messages.Ping:
		h.emit(reply{to: from, msg: &messages.Pong{BrokerId: h.cfg.brokerID, BrokerEpoch: h.brokerEpoch}})
	case *messages.ProbeRequest:
		h.probe(m, from)
	case *messages.Pong:
		h.pong(m)
	case linkDown:
		h.peerDown(m.addr)
	case *replicaStarted:
		h.replicaStarted(m)
	case *replicaGone:
		if hp := h.partitions[m.tp]; hp != nil && hp.inc == m.inc {
			h.unfollow(m.tp, hp)
			delete(h.partitions, m.tp)
		}
	case *messages.AlterPartitionRequest:
		h.alters[TopicPartition{m.Topic, m.Partition}] = m
		h.sendAlter(m)
	case *messages.AlterPartitionResponse:
		h.alterAnswered(m)
	case *TopicConfigChanged:
		h.topicConfigChanged(m)
	case *BrokerConfigChanged:
		h.brokerConfigChanged(m)
	case *brokerEpochChanged:
		h.brokerEpoch = m.epoch
		for _, key := range sortedKeys(h.fetchers) {
			h.emit(toFetcher{key: key, msg: m})
		}
	case managerTick:
		h.tick(m.nowMs)
	case *fetcherStarted:
		if fe := h.fetchers[m.key]; fe != nil {
			h.refollowAll(m.key, fe)
		}
	}
	out := h.out
	h.out = nil
	return out
}

// tick fans the logical clock out to the partitions and fetchers and
// schedules housekeeping (flush policy, checkpoints, retention).
func (h *replicaHost) tick(nowMs int64) {
	h.ticks++
	every := func(d time.Duration) bool {
		n := int64(d / h.cfg.tickEvery)
		return n <= 1 || h.ticks%n == 0
	}
	hk := every(h.cfg.broker.FlushSchedulerInterval)
	ret := every(h.cfg.broker.RetentionCheckInterval)
	// A checkpoint is an fsynced file per changed partition: every few
	// seconds, not every flush tick, so a busy broker does not fsync
	// thousands of files a second.
	cp := every(h.cfg.broker.CheckpointInterval)
	var hkMsg *housekeeping
	if hk || ret || cp {
		hkMsg = &housekeeping{retention: ret, checkpoint: cp, nowMs: nowMs}
	}
	partitionTick := h.ticks%partitionTickRatio == 0
	if partitionTick || hkMsg != nil {
		for _, tp := range sortedTPs(h.partitions) {
			if !h.partitions[tp].started {
				continue
			}
			if partitionTick {
				h.emit(toReplica{tp: tp, msg: tick{}})
			}
			if hkMsg != nil {
				h.emit(toReplica{tp: tp, msg: hkMsg})
			}
		}
	}
	for _, key := range sortedKeys(h.fetchers) {
		h.emit(toFetcher{key: key, msg: tick{}})
	}
	if every(loadReportEvery) {
		if b, ok := h.md.Controller(); ok {
			h.emit(reportLoad{to: b, brokerEpoch: h.brokerEpoch})
		}
	}
	for _, id := range sortedKeys(h.stops) {
		if ps := h.stops[id]; h.ticks >= ps.deadline {
			for _, pe := range ps.waiting {
				pe.ErrorCode = codeKafkaStorageError
			}
			delete(h.stops, id)
			h.emit(reply{to: ps.to, msg: ps.resp})
		}
	}
	if len(h.probes) > 0 {
		h.probes = slices.DeleteFunc(h.probes, func(p *hostProbe) bool {
			if h.ticks < p.deadline {
				return false
			}
			h.answerProbe(p, false)
			return true
		})
	}
	if every(peerPingEvery) {
		for _, id := range sortedKeys(h.peers) {
			if l := h.peers[id]; l.down {
				h.emit(toPeer{addr: l.addr, msg: &messages.Ping{ControllerId: -1}})
			}
		}
	}
	if len(h.alters) > 0 && h.ticks%alterResendTicks == 0 {
		for _, tp := range sortedTPs(h.alters) {
			h.sendAlter(h.alters[tp])
		}
	}
}

func (h *replicaHost) checkControllerEpoch(epoch int32) bool {
	if epoch < h.controllerEpoch {
		h.log.Warn().Int32("epoch", epoch).Int32("current", h.controllerEpoch).Msg("ignoring command from a stale controller")
		return false
	}
	h.controllerEpoch = epoch
	return true
}

func (h *replicaHost) leaderAndIsr(req *messages.LeaderAndIsrRequest) *messages.LeaderAndIsrResponse {
	resp := &messages.LeaderAndIsrResponse{BrokerId: h.cfg.brokerID}
	if !h.checkControllerEpoch(req.ControllerEpoch) {
		resp.ErrorCode = codeStaleControllerEpoch
		return resp
	}
	leaders := make(map[int32]*messages.Broker, len(req.Leaders))
	for _, b := range req.Leaders {
		leaders[b.Id] = b
	}
	for _, topic := range sortedKeys(req.Configs) {
		// The config watcher's copy (TopicConfigChanged) is the newest; the
		// controller's only fills in topics this broker has not seen.
		if _, known := h.overrides[topic]; !known {
			h.overrides[topic] = req.Configs[topic].GetEntries()
		}
	}
	for _, st := range req.Partitions {
		tp := TopicPartition{st.Topic, st.Partition}
		pe := &messages.PartitionError{Topic: st.Topic, Partition: st.Partition, LeaderEpoch: st.LeaderEpoch, PartitionEpoch: st.PartitionEpoch,
			Leader: st.Leader}
		resp.Partitions = append(resp.Partitions, pe)
		if !slices.Contains(st.Replicas, h.cfg.brokerID) {
			pe.ErrorCode = codeUnknownTopicOrPart
			continue
		}
		hp := h.partitions[tp]
		if hp != nil && hp.state != nil && !newer(st, hp.state) {
			pe.ErrorCode = codeFencedLeaderEpoch
			continue
		}
		if a := h.alters[tp]; a != nil && a.LeaderEpoch < st.LeaderEpoch {
			delete(h.alters, tp) // proposed under an epoch that is over
		}
		cfg := h.topicConfig(st.Topic)
		if hp == nil {
			h.nextInc++
			hp = &hostedPartition{inc: h.nextInc}
			h.partitions[tp] = hp
			h.emit(spawnReplica{tp: tp, inc: hp.inc, cfg: cfg})
		}
		hp.state, hp.leader = st, leaders[st.Leader]
		if hp.failed {
			pe.ErrorCode = codeKafkaStorageError
		}
		if hp.started {
			h.emit(toReplica{tp: tp, msg: &applyPartitionState{state: st, cfg: cfg, leader: hp.leader}})
			h.updateFollowing(tp, hp)
		}
	}
	return resp
}

// newer reports whether a is a later LeaderAndIsr than b for a partition.
// The same state with another leader is later too: the controller shows a
// leader it holds for dead (or restarted) as -1, and shows it again once
// the broker is back, without a new epoch (messages from the controller
// arrive in order, so the later one is the current view).
func newer(a, b *messages.PartitionState) bool {
	if a.LeaderEpoch != b.LeaderEpoch {
		return a.LeaderEpoch > b.LeaderEpoch
	}
	if a.PartitionEpoch != b.PartitionEpoch {
		return a.PartitionEpoch > b.PartitionEpoch
	}
	return a.Leader != b.Leader
}

func (h *replicaHost) topicConfig(topic string) config.Topic {
	t, err := h.cfg.broker.ResolveTopic(h.overrides[topic])
	if err != nil {
		h.log.Warn().Err(err).Str("topic", topic).Msg("bad topic config; using defaults for the bad keys")
	}
	return t
}

func (h *replicaHost) replicaStarted(msg *replicaStarted) {
	hp := h.partitions[msg.tp]
	if hp == nil || hp.inc != msg.inc {
		return
	}
	if msg.err != nil {
		hp.failed = true
		return
	}
	hp.started, hp.failed = true, false
	if hp.state != nil {
		h.emit(toReplica{tp: msg.tp, msg: &applyPartitionState{state: hp.state, cfg: h.topicConfig(msg.tp.Topic), leader: hp.leader}})
		h.updateFollowing(msg.tp, hp)
	}
}

// leaderKey names the fetcher for a leader incarnation.
func leaderKey(b *messages.Broker) string {
	return fmt.Sprintf("%d@%s:%d#%d", b.Id, b.Host, b.Port, b.Epoch)
}

// updateFollowing registers a replica with the fetcher of its leader (or
// removes it from fetching when it leads or has no leader). It is called
// after every state sent to the partition, so a restarted partition or a
// new leader epoch starts its fetch cycle again.
func (h *replicaHost) updateFollowing(tp TopicPartition, hp *hostedPartition) {
	st := hp.state
	want := ""
	if st.Leader >= 0 && st.Leader != h.cfg.brokerID && hp.leader != nil && h.cfg.fetch {
		want = leaderKey(hp.leader)
	}
	if hp.following != "" && hp.following != want {
		h.unfollow(tp, hp)
	}
	hp.following = want
	if want == "" {
		return
	}
	fe := h.fetchers[want]
	if fe == nil {
		b := h.cfg.broker
		fe = &fetcherEntry{leader: hp.leader, parts: map[TopicPartition]bool{}}
		h.fetchers[want] = fe
		h.emit(startFetcher{key: want, cfg: fetcherConfig{
			localID: h.cfg.brokerID, leader: hp.leader, maxWait: b.ReplicaFetchWaitMax, minBytes: b.ReplicaFetchMinBytes,
			maxBytes: b.ReplicaFetchRespMaxBytes, partMaxBytes: b.ReplicaFetchMaxBytes, tickEvery: h.cfg.tickEvery,
			throttle: h.cfg.followerThrottle, log: h.cfg.log,
		}})
		h.log.Info().Int32("leader", hp.leader.Id).Str("addr", fmt.Sprintf("%s:%d", hp.leader.Host, hp.leader.Port)).Msg("started replica fetcher")
	}
	fe.parts[tp] = true
	h.emit(toFetcher{key: want, msg: &followPartitions{parts: []followSpec{h.followSpecOf(tp, st)}}})
}

func (h *replicaHost) unfollow(tp TopicPartition, hp *hostedPartition) {
	key := hp.following
	hp.following = ""
	fe := h.fetchers[key]
	if fe == nil {
		return
	}
	delete(fe.parts, tp)
	if len(fe.parts) == 0 {
		delete(h.fetchers, key)
		h.emit(stopFetcher{key: key})
		return
	}
	h.emit(toFetcher{key: key, msg: &unfollowPartitions{tps: []TopicPartition{tp}}})
}

func (h *replicaHost) followSpecOf(tp TopicPartition, st *messages.PartitionState) followSpec {
	sp := followSpec{tp: tp, leaderEpoch: st.LeaderEpoch, throttled: h.followerThrottled(tp, st, h.topicConfig(tp.Topic))}
	copy(sp.topicID[:], st.TopicId)
	return sp
}

// refollowAll re-registers every partition of a restarted fetcher.
func (h *replicaHost) refollowAll(key string, fe *fetcherEntry) {
	var specs []followSpec
	for _, tp := range sortedTPs(fe.parts) {
		if hp := h.partitions[tp]; hp != nil && hp.following == key {
			specs = append(specs, h.followSpecOf(tp, hp.state))
		}
	}
	if len(specs) > 0 {
		h.emit(toFetcher{key: key, msg: &followPartitions{parts: specs}})
	}
}

func (h *replicaHost) updateMetadata(req *messages.UpdateMetadataRequest, from any) {
	resp := &messages.UpdateMetadataResponse{BrokerId: h.cfg.brokerID}
	defer func() {
		resp.ControllerEpoch, resp.BrokerEpoch, resp.Version = h.mdEpoch, h.mdCount, h.mdVersion
		h.emit(reply{to: from, msg: resp})
	}()
	if !h.checkControllerEpoch(req.ControllerEpoch) {
		resp.ErrorCode = codeStaleControllerEpoch
		return
	}
	// An incremental update applies only right after the one before it; a
	// gap means one was lost, and the answer (the last version applied)
	// makes the controller send the whole picture.
	if !req.Full && (req.ControllerEpoch != h.mdEpoch || req.BrokerEpoch != h.mdCount || req.Version != h.mdVersion+1) {
		return
	}
	h.mdEpoch, h.mdCount, h.mdVersion = req.ControllerEpoch, req.BrokerEpoch, req.Version
	h.md = h.md.apply(req)
	h.emit(publish{md: h.md})
	h.dropRemoved(req.Partitions)
	h.watchPeers()
	// Proposals waiting for a controller, or sent to one that is gone, go
	// to the new one now rather than after a timeout.
	if key := h.controllerKey(); key != "" && key != h.alterTo {
		for _, tp := range sortedTPs(h.alters) {
			h.sendAlter(h.alters[tp])
		}
	}
}

// dropRemoved stops and deletes the replicas a reassignment moved off this
// broker, as the metadata tells: the partition (same topic id), at its
// leader epoch or a newer one, no longer lists this broker. The controller
// also sends them a StopReplica, but forgets it if it fails over before
// the broker answers; the full UpdateMetadata a new controller sends every
// broker catches those (KRaft brokers find their stray replicas the same
// way).
func (h *replicaHost) dropRemoved(parts []*messages.PartitionState) {
	for _, ps := range parts {
		tp := TopicPartition{ps.Topic, ps.Partition}
		hp := h.partitions[tp]
		if hp == nil || hp.state == nil || !bytes.Equal(hp.state.TopicId, ps.TopicId) || ps.LeaderEpoch < hp.state.LeaderEpoch ||
			slices.Contains(ps.Replicas, h.cfg.brokerID) || slices.Contains(ps.AddingReplicas, h.cfg.brokerID) {
			continue
		}
		h.log.Info().Str("topic", tp.Topic).Int32("partition", tp.Partition).Ints32("replicas", ps.Replicas).
			Msg("replica moved off this broker; deleting it")
		h.unfollow(tp, hp)
		delete(h.partitions, tp)
		delete(h.alters, tp)
		h.emit(stopReplica{tp: tp, delete: true, hosted: true})
	}
}

// controllerKey names the controller the metadata points at ("" none).
func (h *replicaHost) controllerKey() string {
	b, ok := h.md.Controller()
	if !ok {
		return ""
	}
	return fmt.Sprintf("%d#%d#%d", b.Id, b.Epoch, h.md.ControllerEpoch)
}

// sendAlter forwards an ISR proposal to the controller the metadata names;
// without one it waits for the next UpdateMetadata.
func (h *replicaHost) sendAlter(req *messages.AlterPartitionRequest) {
	b, ok := h.md.Controller()
	if !ok {
		return
	}
	h.alterTo = h.controllerKey()
	h.emit(toController{to: b, msg: req})
}

func (h *replicaHost) alterAnswered(resp *messages.AlterPartitionResponse) {
	tp := TopicPartition{resp.Topic, resp.Partition}
	switch resp.ErrorCode {
	case codeNotController:
		return // kept: it goes to the next controller the metadata names
	case codeOperationNotAttempted:
		// The controller is writing this partition, maybe this very
		// proposal: kept, and sent again until it is answered for good.
		h.emit(toReplica{tp: tp, msg: &alterPartitionResult{resp: resp}})
		return
	}
	delete(h.alters, tp)
	hp := h.partitions[tp]
	if hp == nil {
		return
	}
	// Only a newer state replaces the one on record: a late answer (to an
	// earlier proposal, or from a deposed controller) must not roll it
	// back, or a restarted partition actor would be given the old state.
	if resp.ErrorCode == codeNone && resp.State != nil && (hp.state == nil || newer(resp.State, hp.state)) {
		hp.state = resp.State
	}
	h.emit(toReplica{tp: tp, msg: &alterPartitionResult{resp: resp}})
}

// stopReplicas handles a StopReplica. With delete, it answers once the
// partition actors it asked to delete their logs have done so (or
// logDeleteTimeout passed): the controller finishes a topic deletion
// (removes the topic's znodes) when every replica has answered, and
// answering before the files are gone would let a crash in between leave
// them on disk, for a later topic of the same name to open as its own.
func (h *replicaHost) stopReplicas(req *messages.StopReplicaRequest, from any) {
	resp := &messages.StopReplicaResponse{BrokerId: h.cfg.brokerID}
	if !h.checkControllerEpoch(req.ControllerEpoch) {
		resp.ErrorCode = codeStaleControllerEpoch
		h.emit(reply{to: from, msg: resp})
		return
	}
	h.nextStop++
	ps := &pendingStop{to: from, resp: resp, waiting: map[TopicPartition]*messages.PartitionError{},
		deadline: h.ticks + max(1, int64(logDeleteTimeout/h.cfg.tickEvery))}
	for _, p := range req.Partitions {
		tp := TopicPartition{p.Topic, p.Partition}
		hp := h.partitions[tp]
		pe := &messages.PartitionError{Topic: p.Topic, Partition: p.Partition}
		resp.Partitions = append(resp.Partitions, pe)
		if hp != nil && p.LeaderEpoch >= 0 && hp.state != nil && p.LeaderEpoch < hp.state.LeaderEpoch {
			pe.ErrorCode = codeFencedLeaderEpoch
			continue
		}
		if hp == nil && !req.Delete {
			continue
		}
		if hp != nil {
			h.unfollow(tp, hp)
			delete(h.partitions, tp)
			delete(h.alters, tp)
		}
		h.emit(stopReplica{tp: tp, delete: req.Delete, hosted: hp != nil, stop: h.nextStop})
		if req.Delete {
			ps.waiting[tp] = pe
		}
	}
	if req.Delete {
		for _, p := range req.Partitions {
			if !h.hostsTopic(p.Topic) {
				delete(h.overrides, p.Topic)
			}
		}
	}
	if len(ps.waiting) == 0 {
		h.emit(reply{to: from, msg: resp})
		return
	}
	h.stops[h.nextStop] = ps
}

func (h *replicaHost) replicaStopped(m *replicaStopped) {
	ps := h.stops[m.stop]
	if ps == nil {
		return
	}
	pe := ps.waiting[m.tp]
	if pe == nil {
		return
	}
	if m.err != nil {
		pe.ErrorCode = codeKafkaStorageError
	}
	delete(ps.waiting, m.tp)
	if len(ps.waiting) == 0 {
		delete(h.stops, m.stop)
		h.emit(reply{to: ps.to, msg: ps.resp})
	}
}

func (h *replicaHost) hostsTopic(topic string) bool {
	for tp := range h.partitions {
		if tp.Topic == topic {
			return true
		}
	}
	return false
}

func (h *replicaHost) topicConfigChanged(msg *TopicConfigChanged) {
	h.overrides[msg.Topic] = maps.Clone(msg.Overrides)
	h.applyTopicConfig(msg.Topic)
}

// applyTopicConfig sends a topic's effective config to its local replicas
// and tells the fetchers which of them are throttled now.
func (h *replicaHost) applyTopicConfig(topic string) {
	cfg := h.topicConfig(topic)
	for _, tp := range sortedTPs(h.partitions) {
		if tp.Topic != topic {
			continue
		}
		h.emit(toReplica{tp: tp, msg: &updateTopicConfig{cfg: cfg}})
		if hp := h.partitions[tp]; hp.following != "" && hp.state != nil {
			h.emit(toFetcher{key: hp.following, msg: &throttlePartition{tp: tp, throttled: h.followerThrottled(tp, hp.state, cfg)}})
		}
	}
}

// brokerConfigChanged applies new dynamic broker configs: the follower
// throttle's rate, and topic defaults (log.retention.ms, …) to every
// local replica.
func (h *replicaHost) brokerConfigChanged(m *BrokerConfigChanged) {
	h.cfg.broker = m.Broker
	h.cfg.followerThrottle.SetRate(m.Broker.FollowerThrottleRate)
	topics := map[string]bool{}
	for tp := range h.partitions {
		topics[tp.Topic] = true
	}
	for _, t := range sortedKeys(topics) {
		h.applyTopicConfig(t)
	}
}

// followerThrottled reports whether this broker's replica of tp fetches
// under the follower throttle: a move is adding it, or the topic's
// follower.replication.throttled.replicas names it (the fetcher applies
// the throttle only while the replica is behind).
func (h *replicaHost) followerThrottled(tp TopicPartition, st *messages.PartitionState, cfg config.Topic) bool {
	return slices.Contains(st.AddingReplicas, h.cfg.brokerID) || cfg.FollowerThrottled.Has(tp.Partition, h.cfg.brokerID)
}

// --- second opinions ------------------------------------------------------------

// watchPeers watches the replica manager of every other live broker the
// metadata lists (again after it re-registered), so that this host knows
// at once when one becomes unreachable from here.
func (h *replicaHost) watchPeers() {
	for _, id := range sortedKeys(h.md.Brokers) {
		b := h.md.Brokers[id]
		if id == h.cfg.brokerID || b.ActorAddress == "" {
			continue
		}
		if p := h.peers[id]; p != nil && p.addr == b.ActorAddress && p.epoch == b.Epoch {
			continue
		}
		h.peers[id] = &peerLink{addr: b.ActorAddress, epoch: b.Epoch}
		h.emit(watchLink{addr: b.ActorAddress, name: ReplicaManagerName})
	}
}

// probe answers whether this broker reaches the target: at once when its
// link is known down, else by a ping answered within probePingTimeout.
func (h *replicaHost) probe(req *messages.ProbeRequest, from any) {
	p := &hostProbe{req: req, from: from, deadline: h.ticks + max(1, int64(probePingTimeout/h.cfg.tickEvery))}
	if l := h.peers[req.TargetId]; l != nil && l.down && l.addr == req.TargetAddress {
		h.answerProbe(p, false)
	} else {
		h.probes = append(h.probes, p)
	}
	// Ping in any case: a Pong also tells that a link known down is back.
	h.emit(toPeer{addr: req.TargetAddress, msg: &messages.Ping{ControllerId: -1}})
}

func (h *replicaHost) answerProbe(p *hostProbe, reachable bool) {
	h.emit(reply{to: p.from, msg: &messages.ProbeResponse{BrokerId: h.cfg.brokerID, TargetId: p.req.TargetId,
		TargetEpoch: p.req.TargetEpoch, Reachable: reachable}})
}

// pong: a peer answered this host's ping.
func (h *replicaHost) pong(m *messages.Pong) {
	if l := h.peers[m.BrokerId]; l != nil && l.epoch == m.BrokerEpoch && l.down {
		// Back: watched again, since the watch that saw it go ended.
		l.down = false
		h.emit(watchLink{addr: l.addr, name: ReplicaManagerName})
	}
	h.probes = slices.DeleteFunc(h.probes, func(p *hostProbe) bool {
		if p.req.TargetId != m.BrokerId {
			return false
		}
		// A newer epoch: the incarnation asked about is gone. An older one
		// is the same process, not yet told that its registration (made
		// through a reply it lost) succeeded.
		h.answerProbe(p, m.BrokerEpoch <= p.req.TargetEpoch)
		return true
	})
}

// peerDown: the link to the replica manager at addr terminated.
func (h *replicaHost) peerDown(addr string) {
	for _, id := range sortedKeys(h.peers) {
		if l := h.peers[id]; l.addr == addr {
			l.down = true
		}
	}
	h.probes = slices.DeleteFunc(h.probes, func(p *hostProbe) bool {
		if p.req.TargetAddress != addr {
			return false
		}
		h.answerProbe(p, false)
		return true
	})
}
