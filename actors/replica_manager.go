package actors

import (
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/internal/config"
	"github.com/troupe-mq/troupe/messages"
	"github.com/troupe-mq/troupe/storage"
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

// Kafka error codes the control plane answers with.
const (
	codeNone                 = 0
	codeStaleControllerEpoch = 11
	codeFencedLeaderEpoch    = 74
	codeUnknownTopicOrPart   = 3
	codeKafkaStorageError    = 56
)

// ReplicaManagerConfig configures a broker's replica manager.
type ReplicaManagerConfig struct {
	BrokerID int32
	DataDir  string
	FS       storage.FS
	Broker   *config.Broker
	// TickEvery is the logical clock period: request timeouts and ISR lag
	// are counted in ticks of this length.
	TickEvery time.Duration
	Clock     func() time.Time
	Log       zerolog.Logger
	// AllowCrashForTests makes partition actors obey CrashForTest.
	AllowCrashForTests bool
	// DialLeader connects replica fetchers to leader brokers (cluster mode).
	DialLeader DialLeaderFunc
	// BrokerEpoch returns this broker's current epoch (its registration's
	// czxid), sent with replica fetches.
	BrokerEpoch func() int64
}

// Replicas is what the replica manager publishes for the gateway: the
// broker's metadata cache and where each local partition actor lives.
// Both are immutable snapshots replaced atomically, so the gateway's
// goroutines read them without going through the manager's mailbox.
type Replicas struct {
	metadata atomic.Pointer[Metadata]
	registry atomic.Pointer[map[TopicPartition]*actor.PID]
}

// Metadata returns the current metadata snapshot.
func (r *Replicas) Metadata() *Metadata { return r.metadata.Load() }

// Partition returns the actor of a partition replica hosted here.
func (r *Replicas) Partition(tp TopicPartition) (*actor.PID, bool) {
	m := r.registry.Load()
	if m == nil {
		return nil, false
	}
	pid, ok := (*m)[tp]
	return pid, ok
}

// NewReplicas returns an empty Replicas.
func NewReplicas() *Replicas {
	r := &Replicas{}
	r.metadata.Store(emptyMetadata())
	empty := map[TopicPartition]*actor.PID{}
	r.registry.Store(&empty)
	return r
}

// hostedPartition is the manager's record of one local replica.
type hostedPartition struct {
	pid    *actor.PID
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
	pid    *actor.PID
	leader *messages.Broker
	// parts are the partitions registered with it.
	parts map[TopicPartition]bool
}

// fetcherStarted tells the manager a fetcher (re)started and needs its
// partitions.
type fetcherStarted struct{ key string }

// TopicConfigChanged tells the replica manager a topic's overrides changed.
type TopicConfigChanged struct {
	Topic     string
	Overrides map[string]string
}

// replicaManager is the per-broker replica supervisor: it spawns a partition
// actor for every replica the controller assigns here, applies
// LeaderAndIsr / StopReplica / UpdateMetadata, routes ISR changes to the
// controller and drives the logical clock of its partitions.
//
// Supervision: partition actors are restarted on panic (one-for-one, at
// most 10 times a minute, then stopped and reported offline) because a
// partition's state is rebuilt from its log and the manager's record.
type replicaManager struct {
	cfg        ReplicaManagerConfig
	env        *replicaEnv
	pub        *Replicas
	log        zerolog.Logger
	partitions map[TopicPartition]*hostedPartition
	byPID      map[string]TopicPartition
	overrides  map[string]map[string]string // topic -> config overrides
	// controllerEpoch is the newest controller epoch seen; commands from
	// older epochs are refused.
	controllerEpoch int32
	ticks           int64
	stopTicker      chan struct{}
	// fetchers by leaderKey (leader id, address and epoch).
	fetchers map[string]*fetcherEntry
}

// NewReplicaManagerProps returns the props of the replica manager. Spawn it
// named ReplicaManagerName.
func NewReplicaManagerProps(cfg ReplicaManagerConfig, pub *Replicas) *actor.Props {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = 100 * time.Millisecond
	}
	if cfg.FS == nil {
		cfg.FS = storage.OSFS()
	}
	supervisor := actor.NewOneForOneStrategy(10, time.Minute, func(reason any) actor.Directive {
		cfg.Log.Error().Interface("reason", reason).Msg("partition actor failed; restarting it from its log")
		return actor.RestartDirective
	})
	return actor.PropsFromProducer(func() actor.Actor {
		return &replicaManager{
			cfg: cfg,
			env: &replicaEnv{brokerID: cfg.BrokerID, dataDir: cfg.DataDir, fs: cfg.FS, broker: cfg.Broker,
				tickEvery: cfg.TickEvery * partitionTickRatio, clock: cfg.Clock, log: cfg.Log, allowCrash: cfg.AllowCrashForTests},
			pub:             pub,
			log:             cfg.Log.With().Str("actor", ReplicaManagerName).Logger(),
			partitions:      make(map[TopicPartition]*hostedPartition),
			byPID:           make(map[string]TopicPartition),
			overrides:       make(map[string]map[string]string),
			controllerEpoch: -1,
			fetchers:        make(map[string]*fetcherEntry),
		}
	}, actor.WithSupervisor(supervisor))
}

// Receive handles the manager's messages.
func (m *replicaManager) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		m.stopTicker = startTicker(ctx.ActorSystem(), ctx.Self(), m.cfg.TickEvery, tick{})
	case *actor.Stopping:
		close(m.stopTicker)
	case *messages.LeaderAndIsrRequest:
		ctx.Respond(m.leaderAndIsr(ctx, msg))
	case *messages.UpdateMetadataRequest:
		m.updateMetadata(msg)
	case *messages.StopReplicaRequest:
		resp, deleting := m.stopReplica(ctx, msg)
		m.respondWhenDeleted(ctx, resp, deleting)
	case *stopReplicaDeleted:
		if msg.to != nil {
			ctx.Send(msg.to, msg.resp)
		}
	case *messages.Ping:
		ctx.Respond(&messages.Pong{BrokerId: m.cfg.BrokerID, BrokerEpoch: m.brokerEpoch()})
	case *replicaStarted:
		m.replicaStarted(ctx, msg)
	case *messages.AlterPartitionRequest:
		m.forwardAlterPartition(ctx, msg)
	case *messages.AlterPartitionResponse:
		m.routeAlterPartitionResponse(ctx, msg)
	case *TopicConfigChanged:
		m.topicConfigChanged(ctx, msg)
	case *actor.Terminated:
		if tp, ok := m.byPID[msg.Who.Id]; ok {
			delete(m.byPID, msg.Who.Id)
			if hp := m.partitions[tp]; hp != nil && hp.pid.Equal(msg.Who) {
				delete(m.partitions, tp)
				m.publishRegistry()
			}
		}
	case tick:
		m.tick(ctx)
	case *fetcherStarted:
		if fe := m.fetchers[msg.key]; fe != nil {
			m.refollowAll(ctx, msg.key, fe)
		}
	}
}

// startTicker sends msg to self every period until the returned channel
// is closed: the logical clock of an actor (STYLE: ticks, not timers, make
// protocol decisions).
func startTicker(system *actor.ActorSystem, self *actor.PID, every time.Duration, msg any) chan struct{} {
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				system.Root.Send(self, msg)
			case <-stop:
				return
			}
		}
	}()
	return stop
}

// tick fans the logical clock out to the partitions and schedules
// housekeeping (flush policy, checkpoints, retention).
func (m *replicaManager) tick(ctx actor.Context) {
	m.ticks++
	every := func(d time.Duration) bool {
		n := int64(d / m.cfg.TickEvery)
		return n <= 1 || m.ticks%n == 0
	}
	hk := every(m.cfg.Broker.FlushSchedulerInterval)
	ret := every(m.cfg.Broker.RetentionCheckInterval)
	// A checkpoint is an fsynced file per changed partition: every few
	// seconds, not every flush tick, so a busy broker does not fsync
	// thousands of files a second.
	cp := every(m.cfg.Broker.CheckpointInterval)
	var h *housekeeping
	if hk || ret || cp {
		h = &housekeeping{retention: ret, checkpoint: cp}
	}
	partitionTick := m.ticks%partitionTickRatio == 0
	for _, hp := range m.partitions {
		if !hp.started {
			continue
		}
		if partitionTick {
			ctx.Send(hp.pid, tick{})
		}
		if h != nil {
			ctx.Send(hp.pid, h)
		}
	}
	if every(time.Second) {
		for _, fe := range m.fetchers {
			ctx.Send(fe.pid, tick{})
		}
	}
}

func (m *replicaManager) checkControllerEpoch(epoch int32) bool {
	if epoch < m.controllerEpoch {
		m.log.Warn().Int32("epoch", epoch).Int32("current", m.controllerEpoch).Msg("ignoring command from a stale controller")
		return false
	}
	m.controllerEpoch = epoch
	return true
}

func (m *replicaManager) leaderAndIsr(ctx actor.Context, req *messages.LeaderAndIsrRequest) *messages.LeaderAndIsrResponse {
	resp := &messages.LeaderAndIsrResponse{BrokerId: m.cfg.BrokerID}
	if !m.checkControllerEpoch(req.ControllerEpoch) {
		resp.ErrorCode = codeStaleControllerEpoch
		return resp
	}
	leaders := make(map[int32]*messages.Broker, len(req.Leaders))
	for _, b := range req.Leaders {
		leaders[b.Id] = b
	}
	for topic, c := range req.Configs {
		// The config watcher's copy (TopicConfigChanged) is the newest; the
		// controller's only fills in topics this broker has not seen.
		if _, known := m.overrides[topic]; !known {
			m.overrides[topic] = c.GetEntries()
		}
	}
	changed := false
	for _, st := range req.Partitions {
		tp := TopicPartition{st.Topic, st.Partition}
		pe := &messages.PartitionError{Topic: st.Topic, Partition: st.Partition}
		resp.Partitions = append(resp.Partitions, pe)
		if !slices.Contains(st.Replicas, m.cfg.BrokerID) {
			pe.ErrorCode = codeUnknownTopicOrPart
			continue
		}
		hp := m.partitions[tp]
		if hp != nil && hp.state != nil && !newer(st, hp.state) {
			pe.ErrorCode = codeFencedLeaderEpoch
			continue
		}
		cfg := m.topicConfig(st.Topic)
		if hp == nil {
			pid := ctx.Spawn(actor.PropsFromProducer(newPartitionActor(tp, m.env, cfg)))
			hp = &hostedPartition{pid: pid}
			m.partitions[tp] = hp
			m.byPID[pid.Id] = tp
			changed = true
		}
		hp.state, hp.leader = st, leaders[st.Leader]
		if hp.failed {
			pe.ErrorCode = codeKafkaStorageError
		}
		if hp.started {
			ctx.Send(hp.pid, &applyPartitionState{state: st, cfg: cfg, leader: hp.leader})
			m.updateFollowing(ctx, tp, hp)
		}
	}
	if changed {
		m.publishRegistry()
	}
	return resp
}

// newer reports whether a is a later LeaderAndIsr than b for a partition.
func newer(a, b *messages.PartitionState) bool {
	if a.LeaderEpoch != b.LeaderEpoch {
		return a.LeaderEpoch > b.LeaderEpoch
	}
	return a.PartitionEpoch > b.PartitionEpoch
}

func (m *replicaManager) topicConfig(topic string) config.Topic {
	t, err := m.cfg.Broker.ResolveTopic(m.overrides[topic])
	if err != nil {
		m.log.Warn().Err(err).Str("topic", topic).Msg("bad topic config; using defaults for the bad keys")
	}
	return t
}

func (m *replicaManager) replicaStarted(ctx actor.Context, msg *replicaStarted) {
	hp := m.partitions[msg.tp]
	if hp == nil || !hp.pid.Equal(msg.pid) {
		return
	}
	if msg.err != nil {
		hp.failed = true
		return
	}
	hp.started, hp.failed = true, false
	if hp.state != nil {
		ctx.Send(hp.pid, &applyPartitionState{state: hp.state, cfg: m.topicConfig(msg.tp.Topic), leader: hp.leader})
		m.updateFollowing(ctx, msg.tp, hp)
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
func (m *replicaManager) updateFollowing(ctx actor.Context, tp TopicPartition, hp *hostedPartition) {
	st := hp.state
	want := ""
	if st.Leader >= 0 && st.Leader != m.cfg.BrokerID && hp.leader != nil && m.cfg.DialLeader != nil {
		want = leaderKey(hp.leader)
	}
	if hp.following != "" && hp.following != want {
		m.unfollow(ctx, hp.following, tp)
	}
	hp.following = want
	if want == "" {
		return
	}
	fe := m.fetchers[want]
	if fe == nil {
		key := want
		props := newFetcherProps(fetcherConfig{
			localID: m.cfg.BrokerID, localEpoch: m.brokerEpoch, leader: hp.leader, dial: m.cfg.DialLeader,
			maxWait: m.cfg.Broker.ReplicaFetchWaitMax, minBytes: m.cfg.Broker.ReplicaFetchMinBytes,
			maxBytes: m.cfg.Broker.ReplicaFetchRespMaxBytes, partMaxBytes: m.cfg.Broker.ReplicaFetchMaxBytes,
			log: m.cfg.Log, onStart: func(c actor.Context) { c.Send(c.Parent(), &fetcherStarted{key: key}) },
		})
		fe = &fetcherEntry{pid: ctx.Spawn(props), leader: hp.leader, parts: map[TopicPartition]bool{}}
		m.fetchers[want] = fe
		m.log.Info().Int32("leader", hp.leader.Id).Str("addr", fmt.Sprintf("%s:%d", hp.leader.Host, hp.leader.Port)).Msg("started replica fetcher")
	}
	fe.parts[tp] = true
	ctx.Send(fe.pid, &followPartitions{parts: []followSpec{{tp: tp, pid: hp.pid, leaderEpoch: st.LeaderEpoch}}})
}

func (m *replicaManager) brokerEpoch() int64 {
	if m.cfg.BrokerEpoch == nil {
		return -1
	}
	return m.cfg.BrokerEpoch()
}

func (m *replicaManager) unfollow(ctx actor.Context, key string, tp TopicPartition) {
	fe := m.fetchers[key]
	if fe == nil {
		return
	}
	delete(fe.parts, tp)
	if len(fe.parts) == 0 {
		ctx.Stop(fe.pid)
		delete(m.fetchers, key)
		return
	}
	ctx.Send(fe.pid, &unfollowPartitions{tps: []TopicPartition{tp}})
}

// refollowAll re-registers every partition of a restarted fetcher.
func (m *replicaManager) refollowAll(ctx actor.Context, key string, fe *fetcherEntry) {
	var specs []followSpec
	for tp := range fe.parts {
		if hp := m.partitions[tp]; hp != nil && hp.following == key {
			specs = append(specs, followSpec{tp: tp, pid: hp.pid, leaderEpoch: hp.state.LeaderEpoch})
		}
	}
	if len(specs) > 0 {
		ctx.Send(fe.pid, &followPartitions{parts: specs})
	}
}

func (m *replicaManager) updateMetadata(req *messages.UpdateMetadataRequest) {
	if !m.checkControllerEpoch(req.ControllerEpoch) {
		return
	}
	old := m.pub.metadata.Load()
	m.pub.metadata.Store(old.apply(req))
	close(old.changed)
}

func (m *replicaManager) stopReplica(ctx actor.Context, req *messages.StopReplicaRequest) (*messages.StopReplicaResponse, []pendingLogDelete) {
	resp := &messages.StopReplicaResponse{BrokerId: m.cfg.BrokerID}
	if !m.checkControllerEpoch(req.ControllerEpoch) {
		resp.ErrorCode = codeStaleControllerEpoch
		return resp, nil
	}
	var deleting []pendingLogDelete
	for _, p := range req.Partitions {
		tp := TopicPartition{p.Topic, p.Partition}
		hp := m.partitions[tp]
		pe := &messages.PartitionError{Topic: p.Topic, Partition: p.Partition}
		resp.Partitions = append(resp.Partitions, pe)
		if hp == nil {
			if req.Delete {
				// The log may be on disk from before a restart.
				if err := m.cfg.FS.RemoveAll(m.env.partitionDir(tp)); err != nil {
					pe.ErrorCode = codeKafkaStorageError
				}
			}
			continue
		}
		if p.LeaderEpoch >= 0 && hp.state != nil && p.LeaderEpoch < hp.state.LeaderEpoch {
			pe.ErrorCode = codeFencedLeaderEpoch
			continue
		}
		if hp.following != "" {
			m.unfollow(ctx, hp.following, tp)
		}
		stop := &stopPartition{delete: req.Delete}
		if req.Delete {
			done := make(chan error, 1)
			stop.done = done
			deleting = append(deleting, pendingLogDelete{pe: pe, done: done})
		}
		ctx.Send(hp.pid, stop)
		delete(m.partitions, tp)
		delete(m.byPID, hp.pid.Id)
	}
	if req.Delete {
		for _, p := range req.Partitions {
			if !m.hostsTopic(p.Topic) {
				delete(m.overrides, p.Topic)
			}
		}
	}
	m.publishRegistry()
	return resp, deleting
}

// pendingLogDelete is a partition whose actor was asked to delete its log.
type pendingLogDelete struct {
	pe   *messages.PartitionError
	done <-chan error
}

// stopReplicaDeleted carries a StopReplica answer that waited for logs
// to be deleted back to the manager, which sends it.
type stopReplicaDeleted struct {
	to   *actor.PID
	resp *messages.StopReplicaResponse
}

// logDeleteTimeout bounds the wait for partition actors to delete their
// logs; past it the partition is answered KAFKA_STORAGE_ERROR and the
// controller asks again.
const logDeleteTimeout = 30 * time.Second

// respondWhenDeleted answers a StopReplica once the partition actors it
// asked to delete their logs have done so. The controller finishes a topic
// deletion (removes the topic's znodes) when every replica has answered:
// answering before the files are gone would let a crash in between leave
// them on disk, for a later topic of the same name to open as its own. The
// actors delete on their own mailboxes; a goroutine waits for them, never
// this actor, and hands the answer back as a message.
func (m *replicaManager) respondWhenDeleted(ctx actor.Context, resp *messages.StopReplicaResponse, deleting []pendingLogDelete) {
	if len(deleting) == 0 {
		ctx.Respond(resp)
		return
	}
	to, self, system := ctx.Sender(), ctx.Self(), ctx.ActorSystem()
	go func() {
		deadline := time.NewTimer(logDeleteTimeout)
		defer deadline.Stop()
		expired := false
		for _, d := range deleting {
			if expired {
				d.pe.ErrorCode = codeKafkaStorageError
				continue
			}
			select {
			case err := <-d.done:
				if err != nil {
					d.pe.ErrorCode = codeKafkaStorageError
				}
			case <-deadline.C:
				expired = true
				d.pe.ErrorCode = codeKafkaStorageError
			}
		}
		system.Root.Send(self, &stopReplicaDeleted{to: to, resp: resp})
	}()
}

func (m *replicaManager) hostsTopic(topic string) bool {
	for tp := range m.partitions {
		if tp.Topic == topic {
			return true
		}
	}
	return false
}

func (m *replicaManager) forwardAlterPartition(ctx actor.Context, req *messages.AlterPartitionRequest) {
	md := m.pub.metadata.Load()
	b, ok := md.Brokers[md.ControllerID]
	if !ok {
		m.routeAlterPartitionResponse(ctx, &messages.AlterPartitionResponse{ErrorCode: 41 /* NOT_CONTROLLER */, Topic: req.Topic, Partition: req.Partition})
		return
	}
	addr := b.ActorAddress
	if addr == "" {
		addr = ctx.ActorSystem().Address()
	}
	ctx.Request(actor.NewPID(addr, ControllerName), req)
}

func (m *replicaManager) routeAlterPartitionResponse(ctx actor.Context, resp *messages.AlterPartitionResponse) {
	tp := TopicPartition{resp.Topic, resp.Partition}
	hp := m.partitions[tp]
	if hp == nil {
		return
	}
	if resp.ErrorCode == codeNone && resp.State != nil {
		hp.state = resp.State
	}
	ctx.Send(hp.pid, &alterPartitionResult{resp: resp})
}

func (m *replicaManager) topicConfigChanged(ctx actor.Context, msg *TopicConfigChanged) {
	m.overrides[msg.Topic] = maps.Clone(msg.Overrides)
	cfg := m.topicConfig(msg.Topic)
	for tp, hp := range m.partitions {
		if tp.Topic == msg.Topic {
			ctx.Send(hp.pid, &updateTopicConfig{cfg: cfg})
		}
	}
}

func (m *replicaManager) publishRegistry() {
	reg := make(map[TopicPartition]*actor.PID, len(m.partitions))
	for tp, hp := range m.partitions {
		reg[tp] = hp.pid
	}
	m.pub.registry.Store(&reg)
}

func (e *replicaEnv) partitionDir(tp TopicPartition) string {
	return partitionDir(e.dataDir, tp)
}
