package actors

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/internal/config"
	"github.com/troupe-mq/troupe/messages"
	"github.com/troupe-mq/troupe/storage"
)

// ReplicaManagerConfig configures a broker's replica manager.
type ReplicaManagerConfig struct {
	BrokerID int32
	DataDir  string
	FS       storage.FS
	Broker   *config.Broker
	// CurrentBroker, when set, gives the configuration in use now (with
	// the dynamic broker configs applied since Start): a restarted manager
	// starts from it rather than from Broker.
	CurrentBroker func() *config.Broker
	// TickEvery is the logical clock period: request timeouts and ISR lag
	// are counted in ticks of this length.
	TickEvery time.Duration
	Clock     func() time.Time
	Log       zerolog.Logger
	// AllowCrashForTests makes partition actors obey CrashForTest.
	AllowCrashForTests bool
	// DialLeader connects replica fetchers to leader brokers (cluster mode).
	DialLeader DialLeaderFunc
}

// BrokerEpochChanged tells the replica manager this broker's epoch (the
// czxid of its registration, KIP-380), whenever it registers: followers
// send it with every replica fetch, and it answers the controller's pings.
type BrokerEpochChanged struct{ Epoch int64 }

// Replicas is what the replica manager publishes for the gateway: the
// broker's metadata cache and where each local partition actor lives.
// Both are immutable snapshots replaced atomically, so the gateway's
// goroutines read them without going through the manager's mailbox.
type Replicas struct {
	metadata atomic.Pointer[Metadata]
	registry atomic.Pointer[map[TopicPartition]*actor.PID]
	stats    statsRegistry
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

// publishMetadata replaces the snapshot and wakes whoever waits on the old
// one's Changed.
func (r *Replicas) publishMetadata(md *Metadata) {
	old := r.metadata.Swap(md)
	if old != nil && old != md {
		close(old.changed)
	}
}

// replicaManager is the shell of the per-broker replica host
// (replica_manager.go): it spawns and supervises the partition actors and
// fetchers the host asks for, keeps their PIDs, publishes the registry and
// metadata for the gateway, and carries out the rest of the host's effects.
//
// Supervision: partition actors are restarted on panic (one-for-one, at
// most 10 times a minute, then stopped and reported offline) because a
// partition's state is rebuilt from its log and the host's record.
type replicaManager struct {
	cfg        ReplicaManagerConfig
	env        *replicaEnv
	pub        *Replicas
	core       *replicaHost
	stopTicker chan struct{}
	// partitions and fetchers the host asked for, by name; byPID maps a
	// partition actor back to its partition and incarnation.
	partitions map[TopicPartition]*actor.PID
	byPID      map[string]replicaGone
	fetchers   map[string]*actor.PID
	// lastLoad and lastLoadAt are the appended bytes per replica at the
	// last load report, to derive rates.
	lastLoad   map[TopicPartition]int64
	lastLoadAt time.Time
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
		cfg := cfg
		if cfg.CurrentBroker != nil {
			cfg.Broker = cfg.CurrentBroker()
		}
		return &replicaManager{
			cfg: cfg,
			env: &replicaEnv{brokerID: cfg.BrokerID, dataDir: cfg.DataDir, fs: cfg.FS, broker: cfg.Broker, stats: &pub.stats,
				tickEvery: cfg.TickEvery * partitionTickRatio, clock: cfg.Clock, log: cfg.Log, allowCrash: cfg.AllowCrashForTests},
			pub: pub,
			core: newReplicaHost(replicaHostConfig{brokerID: cfg.BrokerID, broker: cfg.Broker, tickEvery: cfg.TickEvery,
				fetch: cfg.DialLeader != nil, followerThrottle: NewThrottle(cfg.Broker.FollowerThrottleRate, cfg.Clock), log: cfg.Log}),
			partitions: make(map[TopicPartition]*actor.PID),
			byPID:      make(map[string]replicaGone),
			fetchers:   make(map[string]*actor.PID),
		}
	}, actor.WithSupervisor(supervisor))
}

// managerTickMsg is the ticker's message; the shell adds the wall clock.
type managerTickMsg struct{}

// Receive feeds the host and carries out its effects.
func (m *replicaManager) Receive(ctx actor.Context) {
	var in any = ctx.Message()
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		m.stopTicker = startTicker(ctx.ActorSystem(), ctx.Self(), m.cfg.TickEvery, managerTickMsg{})
		return
	case *actor.Stopping:
		close(m.stopTicker)
		return
	case *actor.Terminated:
		if msg.Who.Address != ctx.Self().Address {
			in = linkDown{addr: msg.Who.Address} // a peer broker's replica manager
			break
		}
		gone, ok := m.byPID[msg.Who.Id]
		if !ok {
			return
		}
		delete(m.byPID, msg.Who.Id)
		if pid := m.partitions[gone.tp]; pid != nil && pid.Equal(msg.Who) {
			delete(m.partitions, gone.tp)
			m.publishRegistry()
		}
		in = &gone
	case *BrokerEpochChanged:
		in = &brokerEpochChanged{epoch: msg.Epoch}
	case managerTickMsg:
		in = managerTick{nowMs: m.cfg.Clock().UnixMilli()}
	case actor.SystemMessage, actor.AutoReceiveMessage:
		return
	}
	m.carryOut(ctx, m.core.step(in, ctx.Sender()))
}

func (m *replicaManager) carryOut(ctx actor.Context, effects []effect) {
	registryChanged := false
	for _, e := range effects {
		switch e := e.(type) {
		case spawnReplica:
			pid := ctx.Spawn(actor.PropsFromProducer(newPartitionActor(e.tp, e.inc, m.env, e.cfg)))
			m.partitions[e.tp] = pid
			m.byPID[pid.Id] = replicaGone{tp: e.tp, inc: e.inc}
			registryChanged = true
		case toReplica:
			if pid := m.partitions[e.tp]; pid != nil {
				ctx.Send(pid, e.msg)
			}
		case stopReplica:
			m.stopReplica(ctx, e)
			registryChanged = registryChanged || e.hosted
		case startFetcher:
			m.fetchers[e.key] = ctx.Spawn(newFetcherProps(e.cfg, e.key, m.cfg.DialLeader, m.core.brokerEpoch, m.pub))
		case toFetcher:
			if pid := m.fetchers[e.key]; pid != nil {
				ctx.Send(pid, e.msg)
			}
		case stopFetcher:
			if pid := m.fetchers[e.key]; pid != nil {
				ctx.Stop(pid)
				delete(m.fetchers, e.key)
			}
		case publish:
			m.pub.publishMetadata(e.md)
		case toController:
			ctx.Request(brokerActor(ctx, e.to.ActorAddress, ControllerName), e.msg)
		case reply:
			if to, ok := e.to.(*actor.PID); ok && to != nil {
				ctx.Send(to, e.msg)
			}
		case toPeer:
			ctx.RequestWithCustomSender(brokerActor(ctx, e.addr, ReplicaManagerName), e.msg, ctx.Self())
		case reportLoad:
			ctx.Send(brokerActor(ctx, e.to.ActorAddress, ControllerName), m.loadReport(e.brokerEpoch))
		case watchLink:
			ctx.Watch(brokerActor(ctx, e.addr, e.name))
		default:
			panic(fmt.Sprintf("actors: unknown replica manager effect %T", e))
		}
	}
	if registryChanged {
		m.publishRegistry()
	}
}

// stopReplica stops a partition actor; a deletion is waited for on a
// goroutine (never this actor), which reports replicaStopped.
func (m *replicaManager) stopReplica(ctx actor.Context, e stopReplica) {
	pid := m.partitions[e.tp]
	if e.hosted && pid != nil {
		delete(m.partitions, e.tp)
		delete(m.byPID, pid.Id)
	}
	if !e.delete {
		if pid != nil {
			ctx.Send(pid, &stopPartition{})
		}
		return
	}
	self, system := ctx.Self(), ctx.ActorSystem()
	if pid == nil {
		// No actor: the log may be on disk from before a restart.
		dir := partitionDir(m.cfg.DataDir, e.tp)
		fs := m.cfg.FS
		go func() {
			system.Root.Send(self, &replicaStopped{stop: e.stop, tp: e.tp, err: fs.RemoveAll(dir)})
		}()
		return
	}
	done := make(chan error, 1)
	ctx.Send(pid, &stopPartition{delete: true, done: done})
	go func() {
		// The host answers on its own after logDeleteTimeout; this only
		// has to carry the result if it comes.
		select {
		case err := <-done:
			system.Root.Send(self, &replicaStopped{stop: e.stop, tp: e.tp, err: err})
		case <-time.After(logDeleteTimeout + time.Second):
		}
	}()
}

func (m *replicaManager) publishRegistry() {
	reg := make(map[TopicPartition]*actor.PID, len(m.partitions))
	for tp, pid := range m.partitions {
		reg[tp] = pid
	}
	m.pub.registry.Store(&reg)
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

// loadReport measures this broker's load for the controller: each local
// replica's size and bytes appended per second since the last report, and
// the data directory's disk.
func (m *replicaManager) loadReport(brokerEpoch int64) *messages.BrokerLoadReport {
	now := m.cfg.Clock()
	rep := &messages.BrokerLoadReport{BrokerId: m.cfg.BrokerID, BrokerEpoch: brokerEpoch}
	rep.DiskTotalBytes, rep.DiskUsedBytes = DiskUsage(m.cfg.DataDir)
	stats := m.pub.Stats()
	prev := m.lastLoad
	m.lastLoad = make(map[TopicPartition]int64, len(stats))
	secs := now.Sub(m.lastLoadAt).Seconds()
	for _, tp := range sortedTPs(stats) {
		st := stats[tp]
		appended := st.Appended()
		m.lastLoad[tp] = appended
		rl := &messages.ReplicaLoad{Topic: tp.Topic, Partition: tp.Partition, SizeBytes: st.Size()}
		if before, ok := prev[tp]; ok && secs > 0 && appended >= before {
			rl.BytesInPerSec = float64(appended-before) / secs
		}
		rep.Replicas = append(rep.Replicas, rl)
	}
	m.lastLoadAt = now
	return rep
}
