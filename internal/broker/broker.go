// Package broker assembles one Troupe broker: the metadata store (a local
// tree in embedded mode, ZooKeeper in cluster mode), the actor system with
// its replica manager and controller, and the Kafka gateway. cmd/troupe
// calls Start and Shutdown; tests start brokers in-process the same way.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/actors"
	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/gateway"
	"github.com/troupe-mq/troupe/internal/config"
	"github.com/troupe-mq/troupe/internal/logging"
	"github.com/troupe-mq/troupe/messages"
	"github.com/troupe-mq/troupe/storage"
)

// Config configures a broker.
type Config struct {
	ID int32
	// Listen is the Kafka listener address (host:port; port 0 picks one).
	Listen string
	// AdvertisedHost/Port are told to clients; derived from Listen if empty.
	AdvertisedHost string
	AdvertisedPort int32
	DataDir        string
	// ZooKeeper is "host:port[,host:port…][/chroot]"; empty runs embedded,
	// with metadata in DataDir/meta.
	ZooKeeper string
	Rack      string
	// Remote is the actor remoting listen address (cluster mode).
	Remote string
	Broker *config.Broker
	// TickEvery is the actors' logical clock period (default 100 ms).
	TickEvery time.Duration
	// FS overrides the file system of partition logs (tests).
	FS  storage.FS
	Log zerolog.Logger
	// AllowCrashForTests lets actors.CrashForTest panic partition actors.
	AllowCrashForTests bool
}

// Broker is a running broker.
type Broker struct {
	cfg      Config
	log      zerolog.Logger
	system   *actor.ActorSystem
	remote   *remoting
	conn     cluster.Conn
	store    *cluster.Store
	reg      *cluster.Registration
	replicas *actors.Replicas
	rm       *actor.PID
	ctrl     *actor.PID
	gw       *gateway.Server
	pids     *producerIDs
	served   chan error
	stopCfg  chan struct{}
	cfgDone  chan struct{}
	// static is the configuration from the file and flags; the one in use
	// (cfg.Broker at start, then what followConfigChanges applies) adds
	// the dynamic broker configs from ZooKeeper.
	static *config.Broker
	// current is the configuration in use (static + dynamic), for actors
	// that restart.
	current atomic.Pointer[config.Broker]
	lock    *os.File

	shutdownOnce sync.Once
}

// Start starts a broker and returns once it accepts Kafka connections.
// The *Broker result is unnamed on purpose: `return nil, err` must not
// clear the b that the undo closures below use.
func Start(cfg Config) (_ *Broker, err error) {
	if cfg.Broker == nil {
		cfg.Broker = config.DefaultBroker()
	}
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = 100 * time.Millisecond
	}
	if cfg.FS == nil {
		cfg.FS = storage.OSFS()
	}
	log := cfg.Log.With().Int32("broker", cfg.ID).Logger()
	b := &Broker{cfg: cfg, log: log, replicas: actors.NewReplicas(), served: make(chan error, 1),
		stopCfg: make(chan struct{}), cfgDone: make(chan struct{})}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: data dir: %w", err)
	}
	if b.lock, err = lockDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	undo = append(undo, func() { _ = b.lock.Close() })
	meta, err := loadMetaProperties(cfg.DataDir, cfg.ID)
	if err != nil {
		return nil, err
	}

	if cfg.ZooKeeper == "" {
		tree, err := cluster.NewLocalTree(filepath.Join(cfg.DataDir, "meta"), log)
		if err != nil {
			return nil, fmt.Errorf("broker: embedded metadata store: %w", err)
		}
		b.conn = tree
	} else {
		zc, err := cluster.DialZooKeeper(cfg.ZooKeeper, cfg.Broker.ZKSessionTimeout, log)
		if err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
		b.conn = zc
	}
	undo = append(undo, func() { _ = b.conn.Close() })
	b.store = cluster.NewStore(b.conn, log)
	if err := b.store.EnsureLayout(); err != nil {
		return nil, fmt.Errorf("broker: metadata layout: %w", err)
	}
	b.pids = &producerIDs{store: b.store, brokerID: cfg.ID}
	b.static = cfg.Broker
	if eff, ok := b.loadDynamicConfig(); ok {
		cfg.Broker, b.cfg.Broker = eff, eff
	}
	b.current.Store(cfg.Broker)

	b.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(logging.NewSlogHandler(log.With().Str("component", "protoactor").Logger()))
	}))
	undo = append(undo, func() { b.system.Shutdown() })
	actorAddress := ""
	if cfg.ZooKeeper != "" {
		if b.remote, err = startRemote(b.system, cfg, log); err != nil {
			return nil, err
		}
		undo = append(undo, func() { b.remote.Shutdown(false) })
		actorAddress = b.system.Address()
	}

	gwCfg := gateway.Config{Listen: cfg.Listen, AdvertisedHost: cfg.AdvertisedHost, AdvertisedPort: cfg.AdvertisedPort, DataDir: cfg.DataDir, Broker: cfg.Broker, Log: log}
	if b.gw, err = gateway.Listen(gwCfg, b); err != nil {
		return nil, err
	}
	undo = append(undo, func() { _ = b.gw.Shutdown(context.Background()) })

	rmProps := actors.NewReplicaManagerProps(actors.ReplicaManagerConfig{
		BrokerID: cfg.ID, DataDir: cfg.DataDir, FS: cfg.FS, Broker: cfg.Broker, CurrentBroker: b.current.Load, TickEvery: cfg.TickEvery, Log: log,
		AllowCrashForTests: cfg.AllowCrashForTests,
		DialLeader:         gateway.DialLeader,
	}, b.replicas)
	if b.rm, err = b.system.Root.SpawnNamed(rmProps, actors.ReplicaManagerName); err != nil {
		return nil, fmt.Errorf("broker: spawn replica manager: %w", err)
	}

	host, port := b.advertised()
	info := cluster.BrokerInfo{ID: cfg.ID, Host: host, Port: port, Rack: cfg.Rack, ActorAddress: actorAddress, DirectoryID: meta.directoryID}
	b.reg, err = b.store.RegisterBroker(info, cluster.RegistrationOptions{StaleWait: cfg.Broker.ZKSessionTimeout + 5*time.Second})
	if err != nil {
		return nil, fmt.Errorf("broker: register broker %d: %w", cfg.ID, err)
	}
	undo = append(undo, func() { _ = b.reg.Close() })
	b.system.Root.Send(b.rm, &actors.BrokerEpochChanged{Epoch: b.reg.BrokerEpoch()})
	go b.followRegistration()

	ctrlProps := actors.NewControllerProps(actors.ControllerConfig{BrokerID: cfg.ID, Store: b.store, Broker: cfg.Broker, CurrentBroker: b.current.Load,
		TickEvery: cfg.TickEvery, Log: log})
	if b.ctrl, err = b.system.Root.SpawnNamed(ctrlProps, actors.ControllerName); err != nil {
		return nil, fmt.Errorf("broker: spawn controller: %w", err)
	}
	go b.followConfigChanges()
	readyNow := make(chan struct{})
	go b.serveWhenReady(readyNow)
	select {
	case <-readyNow:
	case <-time.After(readyWait):
		b.log.Warn().Dur("waited", readyWait).Msg("no current metadata from a controller yet; clients are served once it comes")
	}
	log.Info().Str("listen", b.gw.Addr().String()).Str("data_dir", cfg.DataDir).Bool("embedded", cfg.ZooKeeper == "").
		Msg("broker started")
	return b, nil
}

// readyWait bounds how long Start waits for the broker to be ready.
const readyWait = 15 * time.Second

// ready reports whether the broker may answer clients: it is registered,
// and its metadata, from a controller, lists it at its current broker
// epoch. Until then it knows neither the cluster nor its own partitions'
// leaders, and would answer Metadata with partitions that have none
// (KRaft brokers wait for the metadata to catch up the same way).
func (b *Broker) ready() bool {
	md := b.replicas.Metadata()
	me, ok := md.Brokers[b.cfg.ID]
	return ok && md.ControllerID >= 0 && b.reg != nil && me.Epoch == b.reg.BrokerEpoch()
}

// awaitingElection reports whether a partition this broker is an in-sync
// replica of has no leader: the controller elects one as soon as it has
// seen the broker back (a restarted leader is elected again at a new
// epoch), usually within milliseconds of listing it. Serving before then
// would answer the first clients LEADER_NOT_AVAILABLE for a partition
// about to have a leader.
func (b *Broker) awaitingElection() bool {
	for _, t := range b.replicas.Metadata().Topics {
		for _, p := range t.Partitions {
			if p != nil && p.Leader < 0 && slices.Contains(p.Isr, b.cfg.ID) {
				return true
			}
		}
	}
	return false
}

// electionWait bounds how long a ready broker waits for those elections: a
// partition may stay offline (the controller cannot write, say), and the
// rest must be served regardless.
const electionWait = 5 * time.Second

// serveWhenReady starts accepting clients once the broker is ready and the
// elections it awaits are done or electionWait passed (closing ready then).
// The listener is bound from the start (its address is in the
// registration), so a client that connects early waits in the backlog
// rather than being answered wrongly.
func (b *Broker) serveWhenReady(ready chan<- struct{}) {
	tick := time.NewTicker(100 * time.Millisecond) // a re-registration changes the epoch, not the metadata
	defer tick.Stop()
	var listedAt time.Time
	for {
		if b.ready() {
			if listedAt.IsZero() {
				listedAt = time.Now()
			}
			if !b.awaitingElection() || time.Since(listedAt) >= electionWait {
				break
			}
		}
		select {
		case <-b.replicas.Metadata().Changed():
		case <-tick.C:
		case <-b.stopCfg:
			b.served <- nil
			return
		}
	}
	close(ready)
	b.served <- b.gw.Serve()
}

func (b *Broker) advertised() (string, int32) {
	host, port := b.cfg.AdvertisedHost, b.cfg.AdvertisedPort
	addr := b.gw.Addr()
	if host == "" {
		host = addr.IP.String()
		if addr.IP.IsUnspecified() {
			if h, err := os.Hostname(); err == nil {
				host = h
			}
		}
	}
	if port == 0 {
		port = int32(addr.Port)
	}
	return host, port
}

// Addr is the Kafka listener address.
func (b *Broker) Addr() *net.TCPAddr { return b.gw.Addr() }

// Served yields the gateway's Serve result once it stops accepting (nil after Shutdown).
func (b *Broker) Served() <-chan error { return b.served }

// BrokerID implements gateway.Backend.
func (b *Broker) BrokerID() int32 { return b.cfg.ID }

// Replicas implements gateway.Backend.
func (b *Broker) Replicas() *actors.Replicas { return b.replicas }

// Send implements gateway.Backend.
func (b *Broker) Send(pid *actor.PID, msg any) { b.system.Root.Send(pid, msg) }

// Controller implements gateway.Backend.
func (b *Broker) Controller() *actor.PID { return b.ctrl }

// Admin implements gateway.Backend.
func (b *Broker) Admin() gateway.Admin { return b.store }

// ProducerIDs implements gateway.Backend.
func (b *Broker) ProducerIDs() gateway.ProducerIDAllocator { return b.pids }

// Shutdown stops the broker: it stops accepting clients, answers what it
// has read, stops its partitions (flushing and checkpointing their logs)
// and leaves the cluster.
func (b *Broker) Shutdown(ctx context.Context) error {
	var err error
	b.shutdownOnce.Do(func() {
		b.log.Info().Msg("broker shutting down")
		if b.remote != nil && b.cfg.Broker.ControlledShutdown {
			b.controlledShutdown(ctx)
		}
		if gerr := b.gw.Shutdown(ctx); gerr != nil {
			err = errors.Join(err, fmt.Errorf("broker: gateway: %w", gerr))
		}
		close(b.stopCfg)
		_ = b.system.Root.PoisonFuture(b.ctrl).Wait()
		if perr := b.system.Root.PoisonFuture(b.rm).Wait(); perr != nil {
			err = errors.Join(err, fmt.Errorf("broker: stopping replicas: %w", perr))
		}
		if rerr := b.reg.Close(); rerr != nil {
			b.log.Warn().Err(rerr).Msg("deregistering")
		}
		<-b.cfgDone
		if b.remote != nil {
			b.remote.Shutdown(true)
		}
		b.system.Shutdown()
		if cerr := b.conn.Close(); cerr != nil {
			b.log.Warn().Err(cerr).Msg("closing metadata store")
		}
		_ = b.lock.Close()
		b.log.Info().Msg("broker stopped")
	})
	return err
}

func (b *Broker) brokerEpoch() int64 {
	if b.reg == nil {
		return -1
	}
	return b.reg.BrokerEpoch()
}

// controlledShutdown asks the controller to move this broker's leaderships
// elsewhere before it stops serving, so producers see at most a retry
// (Kafka's controlled.shutdown.enable).
func (b *Broker) controlledShutdown(ctx context.Context) {
	for try := 0; try <= b.cfg.Broker.ControlledShutdownTries; try++ {
		if try > 0 {
			select {
			case <-time.After(min(b.cfg.Broker.ControlledShutdownWait, time.Second)):
			case <-ctx.Done():
				return
			}
		}
		ctrl, ok := b.replicas.Metadata().Controller()
		if !ok {
			continue
		}
		req := &messages.ControlledShutdownRequest{BrokerId: b.cfg.ID, BrokerEpoch: b.brokerEpoch()}
		// Moving many leaderships takes a while, but a dead controller must
		// not hold the shutdown past the caller's deadline.
		wait := 15 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl))
		}
		if wait <= 0 {
			return
		}
		res, err := b.system.Root.RequestFuture(actors.BrokerActor(b.system, ctrl.ActorAddress, actors.ControllerName), req, wait).Result()
		if err != nil {
			b.log.Warn().Err(err).Int("try", try).Msg("controlled shutdown: no answer from the controller")
			continue
		}
		resp, ok := res.(*messages.ControlledShutdownResponse)
		if !ok || resp.ErrorCode != 0 {
			b.log.Warn().Interface("answer", res).Int("try", try).Msg("controlled shutdown refused")
			continue
		}
		if len(resp.Remaining) > 0 {
			b.log.Warn().Int("still_leading", len(resp.Remaining)).Msg("controlled shutdown: some partitions have no other in-sync replica")
		} else {
			b.log.Info().Msg("controlled shutdown: leaderships moved")
		}
		return
	}
}

// followRegistration logs what happens to the broker's registration (lost
// with an expired session, renewed under a new one, or refused because
// another live process now holds the id). The Registration keeps trying
// by itself; reading its events also keeps their queue from growing.
func (b *Broker) followRegistration() {
	for ev := range b.reg.Events() {
		switch ev.Type {
		case cluster.RegistrationRegistered:
			b.log.Info().Int64("session", ev.SessionID).Msg("registered in ZooKeeper")
			b.system.Root.Send(b.rm, &actors.BrokerEpochChanged{Epoch: ev.BrokerEpoch})
		case cluster.RegistrationLost:
			b.log.Warn().Int64("session", ev.SessionID).Msg("registration lost (ZooKeeper session expired); re-registering")
		case cluster.RegistrationFailed:
			b.log.Error().Err(ev.Err).Msg("cannot re-register: another live broker holds this id; this broker is out of the cluster until it goes")
		}
	}
}

// producerIDs hands out producer ids from blocks reserved in the store.
type producerIDs struct {
	store    *cluster.Store
	brokerID int32
	mu       sync.Mutex
	next     int64
	end      int64 // inclusive; next > end means no block
	hasBlock bool
}

// producerIDBlockSize is how many ids a broker reserves at a time (Kafka's 1000).
const producerIDBlockSize = 1000

// NextProducerID implements gateway.ProducerIDAllocator.
func (p *producerIDs) NextProducerID() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.hasBlock || p.next > p.end {
		start, end, err := p.store.AllocateProducerIDBlock(p.brokerID, producerIDBlockSize)
		if err != nil {
			return -1, err
		}
		p.next, p.end, p.hasBlock = start, end, true
	}
	id := p.next
	p.next++
	return id, nil
}

// followConfigChanges turns config change notifications into messages:
// topic configs to the replica manager, dynamic broker configs (this
// broker's and the cluster default) to the gateway, the replica manager
// and the controller.
func (b *Broker) followConfigChanges() {
	defer close(b.cfgDone)
	last := ""
	first := true
	applied := b.cfg.Broker
	for {
		changes, seen, ch, err := b.store.ConfigChangesSince(last, true)
		if err != nil {
			b.log.Warn().Err(err).Msg("reading config changes")
			select {
			case <-time.After(time.Second):
				continue
			case <-b.stopCfg:
				return
			}
		}
		prev := last
		last = seen
		if !first { // configs that exist at start arrive with LeaderAndIsr
			for topic, cfg := range changes.Topics {
				b.system.Root.Send(b.rm, &actors.TopicConfigChanged{Topic: topic, Overrides: cfg})
			}
		}
		_, mine := changes.Brokers[strconv.Itoa(int(b.cfg.ID))]
		_, dflt := changes.Brokers[cluster.DefaultBrokerEntity]
		// The first pass reads the broker configs again: a change made
		// between Start's read and the watch is not missed.
		if first || mine || dflt {
			eff, ok := b.loadDynamicConfig()
			if !ok {
				// Read them again: moving on would leave the change
				// unapplied until another one came.
				last = prev
				select {
				case <-time.After(time.Second):
					continue
				case <-b.stopCfg:
					return
				}
			}
			if !sameDynamic(eff, applied) {
				applied = eff
				b.current.Store(eff)
				def, own := eff.DynamicSettings()
				b.log.Info().Interface("cluster_default", def).Interface("broker", own).Msg("dynamic broker configs changed")
				b.gw.SetBrokerConfig(eff)
				b.system.Root.Send(b.rm, &actors.BrokerConfigChanged{Broker: eff})
				b.system.Root.Send(b.ctrl, &actors.BrokerConfigChanged{Broker: eff})
			}
		}
		first = false
		select {
		case <-ch:
		case <-b.stopCfg:
			return
		}
	}
}

// loadDynamicConfig reads the dynamic broker configs (the cluster default
// and this broker's) and applies them to the static configuration. ok is
// false when they could not be read (the caller keeps what it has).
func (b *Broker) loadDynamicConfig() (*config.Broker, bool) {
	def, err := b.store.BrokerConfig(cluster.DefaultBrokerEntity)
	if err != nil {
		b.log.Warn().Err(err).Msg("reading the cluster-wide dynamic broker configs")
		return nil, false
	}
	own, err := b.store.BrokerConfig(strconv.Itoa(int(b.cfg.ID)))
	if err != nil {
		b.log.Warn().Err(err).Msg("reading this broker's dynamic configs")
		return nil, false
	}
	eff, err := b.static.WithDynamic(def, own)
	if err != nil {
		b.log.Warn().Err(err).Msg("ignoring invalid dynamic broker configs")
	}
	return eff, true
}

func sameDynamic(a, b *config.Broker) bool {
	ad, ao := a.DynamicSettings()
	bd, bo := b.DynamicSettings()
	return maps.Equal(ad, bd) && maps.Equal(ao, bo)
}
