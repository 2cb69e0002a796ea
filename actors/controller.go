package actors

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/internal/config"
	"github.com/troupe-mq/troupe/messages"
)

// ControllerConfig configures the controller actor of a broker.
type ControllerConfig struct {
	BrokerID int32
	Store    *cluster.Store
	Broker   *config.Broker
	// TickEvery is the controller's logical clock period.
	TickEvery time.Duration
	Log       zerolog.Logger
}

const stopReplicaResendTicksMult = 10 // resend an unanswered StopReplica after this many seconds

// controllerActor runs on every broker. In the standby behavior it waits
// for /controller to be free and tries to take it; in the active behavior
// it is the cluster's controller: it keeps the controllerContext, decides
// leaders and ISRs, writes partition states to ZooKeeper (every write
// fenced by the controller epoch) and tells brokers what to do with
// LeaderAndIsr, UpdateMetadata and StopReplica.
//
// ZooKeeper calls run on a zkWorker; watches arrive as messages. Nothing in
// Receive blocks. Supervision: the default (restart); a restarted
// controller starts as standby and competes for election again.
type controllerActor struct {
	cfg      ControllerConfig
	log      zerolog.Logger
	behavior actor.Behavior
	worker   *zkWorker
	self     *actor.PID
	system   *actor.ActorSystem

	// reign numbers each election attempt and active period; results and
	// watches from an older reign are ignored.
	reign int64
	ctx   *controllerContext
	ticks int64
	// retryAt is the tick of the next election attempt after a failure (0: none).
	retryAt int64
	stop    chan struct{}

	pendingAlter map[TopicPartition]*pendingAlter
	deletions    map[string]*deletion
	shutdowns    []*pendingShutdown
	// lastConfigChange is the newest config change notification handled.
	lastConfigChange string
	// suspectInfo keeps the registration of suspected brokers (to ping them).
	suspectInfo map[int32]cluster.BrokerInfo
	// unconfirmed are brokers a newly elected controller has pinged and not
	// yet heard from; those still silent at confirmBy are suspected dead.
	// A controller elected because its predecessor died must not trust
	// registrations the dead broker's unexpired session still holds.
	unconfirmed map[int32]int64
	confirmBy   int64
	// watchedHolder/Address/Epoch: the active controller a standby watches
	// (its broker registration's address and epoch).
	watchedHolder  int32
	watchedAddress string
	watchedEpoch   int64
	// deposedID/Epoch: the registration of the controller this broker last
	// saw die and deposed (deposedID -1: none). Elected after it, this
	// broker treats that registration as failed at once instead of
	// waiting for its ping to go unanswered.
	deposedID    int32
	deposedEpoch int64
	// actx is the actor's context, for Watch and Request outside Receive's
	// direct call chain (valid only while handling a message).
	actx actor.Context
}

type pendingAlter struct {
	sender *actor.PID
	req    *messages.AlterPartitionRequest
}

type deletion struct {
	// waiting are brokers whose StopReplica answer is outstanding.
	waiting  map[int32]bool
	sentTick int64
	writing  bool
}

type pendingShutdown struct {
	broker int32
	sender *actor.PID
}

// reigned is a message tagged with the reign it belongs to; the active
// behavior drops those of earlier reigns.
type reigned interface{ reignOf() int64 }

func (m *clusterLoaded) reignOf() int64        { return m.reign }
func (m *controllerWatchFired) reignOf() int64 { return m.reign }
func (m *ctrlWatchFired) reignOf() int64       { return m.reign }
func (m *brokersLoaded) reignOf() int64        { return m.reign }
func (m *topicNamesLoaded) reignOf() int64     { return m.reign }
func (m *topicsLoaded) reignOf() int64         { return m.reign }
func (m *deletionsLoaded) reignOf() int64      { return m.reign }
func (m *statesWritten) reignOf() int64        { return m.reign }
func (m *topicZNodesDeleted) reignOf() int64   { return m.reign }
func (m *topicsReread) reignOf() int64         { return m.reign }
func (m *configsChanged) reignOf() int64       { return m.reign }
func (m *ctrlRetryLoad) reignOf() int64        { return m.reign }
func (m *electionTried) reignOf() int64        { return m.reign }

// Messages internal to the controller.
type (
	ctrlTick      struct{}
	electionTried struct {
		reign          int64
		epoch, epochZk int32
		holder         int32
		// holderAddress/Epoch: the holder broker's remoting address and
		// registration epoch.
		holderAddress string
		holderEpoch   int64
		watch         <-chan cluster.WatchEvent
		err           error
	}
	// controllerDeposed reports the removal of a dead controller's znode.
	controllerDeposed struct {
		reign int64
		err   error
	}
	controllerWatchFired struct {
		reign int64
		ev    cluster.WatchEvent
	}
	ctrlWatchFired struct {
		reign int64
		kind  string // "brokers", "topics", "topic", "deletions"
		topic string
	}
	clusterLoaded struct {
		reign    int64
		snap     *clusterSnapshot
		err      error
		attempts int
	}
	brokersLoaded struct {
		reign   int64
		brokers []cluster.BrokerInfo
		watch   <-chan cluster.WatchEvent
		err     error
	}
	topicNamesLoaded struct {
		reign int64
		names []string
		watch <-chan cluster.WatchEvent
		err   error
	}
	topicsLoaded struct {
		reign  int64
		topics []loadedTopic
		err    error
	}
	deletionsLoaded struct {
		reign int64
		names []string
		watch <-chan cluster.WatchEvent
		err   error
	}
	statesWritten struct {
		reign   int64
		results []writeResult
	}
	topicZNodesDeleted struct {
		reign int64
		topic string
		err   error
	}
)

type writeResult struct {
	change     stateChange
	newVersion int32
	err        error
}

// loadedTopic is a topic as read from ZooKeeper.
type loadedTopic struct {
	info     cluster.TopicInfo
	configs  map[string]string
	states   map[int32]cluster.LeaderAndIsr
	versions map[int32]int32
	watch    <-chan cluster.WatchEvent
	err      error
}

// clusterSnapshot is everything a new controller reads.
type clusterSnapshot struct {
	clusterID    string
	brokers      []cluster.BrokerInfo
	brokersWatch <-chan cluster.WatchEvent
	topics       []loadedTopic
	namesWatch   <-chan cluster.WatchEvent
	deletions    []string
	delWatch     <-chan cluster.WatchEvent
	ctrlWatch    <-chan cluster.WatchEvent
	// lastConfigChange is the newest config change notification at load.
	lastConfigChange string
	configWatch      <-chan cluster.WatchEvent
}

// NewControllerProps returns the controller actor's props; spawn it named
// ControllerName.
func NewControllerProps(cfg ControllerConfig) *actor.Props {
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = 100 * time.Millisecond
	}
	return actor.PropsFromProducer(func() actor.Actor {
		c := &controllerActor{cfg: cfg, log: cfg.Log.With().Str("actor", ControllerName).Logger(), watchedHolder: -1, deposedID: -1}
		c.behavior.Become(c.standby)
		return c
	})
}

// Receive handles lifecycle, then delegates to the behavior.
func (c *controllerActor) Receive(ctx actor.Context) {
	c.actx = ctx
	switch ctx.Message().(type) {
	case *actor.Started:
		c.self, c.system = ctx.Self(), ctx.ActorSystem()
		c.worker = newZKWorker(c.cfg.Store, c.system, c.self)
		c.stop = startTicker(c.system, c.self, c.cfg.TickEvery, ctrlTick{})
		c.tryElection()
		return
	case *actor.Stopping, *actor.Restarting:
		if c.ctx != nil {
			c.resign("stopping")
		}
		close(c.stop)
		c.worker.stop()
		return
	case ctrlTick:
		c.ticks++
	}
	c.behavior.Receive(ctx)
}

// --- standby -----------------------------------------------------------------

func (c *controllerActor) tryElection() {
	c.reign++
	reign, id := c.reign, c.cfg.BrokerID
	c.worker.submit(func(s *cluster.Store) any {
		epoch, zkv, err := s.TryBecomeController(id)
		res := &electionTried{reign: reign, epoch: epoch, epochZk: zkv, holder: -1, err: err}
		if err != nil {
			// Someone else (or nobody, after an error) holds /controller:
			// watch it and try again when it goes away.
			holder, ch, werr := s.ControllerW()
			res.holder, res.watch = holder, ch
			if werr != nil && !errors.Is(err, cluster.ErrControllerExists) {
				res.err = fmt.Errorf("%w (and watching /controller: %v)", err, werr)
			}
			if holder >= 0 && holder != id {
				if b, berr := s.Broker(holder); berr == nil {
					res.holderAddress, res.holderEpoch = b.ActorAddress, b.Epoch
				}
			}
			return res
		}
		_, ch, _ := s.ControllerW()
		res.holder, res.watch = id, ch
		return res
	})
}

func (c *controllerActor) standby(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *electionTried:
		if m.reign != c.reign {
			return
		}
		if m.err == nil {
			c.becomeActive(m)
			return
		}
		if !errors.Is(m.err, cluster.ErrControllerExists) {
			c.log.Warn().Err(m.err).Msg("controller election failed; retrying")
		}
		c.watchController(m.watch)
		if m.watch == nil {
			c.retryLater()
		}
		c.watchActiveController(ctx, m.holder, m.holderAddress, m.holderEpoch)
	case *controllerWatchFired:
		if m.reign == c.reign {
			c.tryElection()
		}
	case *actor.Terminated:
		// The active controller's broker is unreachable (kill -9 resets its
		// connections at once). Rather than wait for its ZooKeeper session
		// to expire, remove its /controller znode and hold an election. If
		// it is in fact alive, the new controller epoch fences every write
		// it still makes, and its own /controller watch makes it resign.
		if c.watchedHolder >= 0 && m.Who != nil && m.Who.Address == c.watchedAddress {
			holder := c.watchedHolder
			c.deposedID, c.deposedEpoch = holder, c.watchedEpoch
			c.watchedHolder, c.watchedAddress = -1, ""
			c.log.Warn().Int32("controller", holder).Msg("active controller unreachable; deposing it")
			reign := c.reign
			c.worker.submit(func(s *cluster.Store) any {
				return &controllerDeposed{reign: reign, err: s.DeposeController(holder)}
			})
		}
	case *controllerDeposed:
		if m.reign != c.reign {
			return
		}
		if m.err != nil {
			c.log.Warn().Err(m.err).Msg("deposing the unreachable controller failed")
		}
		c.tryElection()
	case *messages.AlterPartitionRequest:
		ctx.Respond(&messages.AlterPartitionResponse{ErrorCode: codeNotController, Topic: m.Topic, Partition: m.Partition})
	case *messages.ControlledShutdownRequest:
		ctx.Respond(&messages.ControlledShutdownResponse{ErrorCode: codeNotController})
	case ctrlTick:
		if c.retryAt > 0 && c.ticks >= c.retryAt {
			c.retryAt = 0
			c.tryElection()
		}
	}
}

// watchActiveController watches the holder of /controller over remoting
// (standby only), to notice its death before its session expires.
func (c *controllerActor) watchActiveController(ctx actor.Context, holder int32, addr string, epoch int64) {
	if holder < 0 || holder == c.cfg.BrokerID || addr == "" || (holder == c.watchedHolder && addr == c.watchedAddress) {
		return
	}
	c.watchedHolder, c.watchedAddress, c.watchedEpoch = holder, addr, epoch
	ctx.Watch(actor.NewPID(addr, ControllerName))
}

func (c *controllerActor) watchController(ch <-chan cluster.WatchEvent) {
	reign := c.reign
	forwardWatch(c.system, c.self, ch, func(ev cluster.WatchEvent) any { return &controllerWatchFired{reign: reign, ev: ev} })
}

func (c *controllerActor) retryLater() {
	c.retryAt = c.ticks + max(1, int64(time.Second/c.cfg.TickEvery))
}

// --- active ------------------------------------------------------------------

func (c *controllerActor) becomeActive(m *electionTried) {
	c.ctx = &controllerContext{epoch: m.epoch, epochZkVersion: m.epochZk, brokers: map[int32]cluster.BrokerInfo{},
		shuttingDown: map[int32]bool{}, suspects: map[int32]int64{}, topics: map[string]*ctrlTopic{}}
	c.pendingAlter = map[TopicPartition]*pendingAlter{}
	c.suspectInfo = map[int32]cluster.BrokerInfo{}
	c.unconfirmed = map[int32]int64{}
	c.deletions = map[string]*deletion{}
	c.shutdowns = nil
	c.behavior.Become(c.active)
	c.log.Info().Int32("epoch", m.epoch).Msg("became controller")
	c.watchController(m.watch)
	c.loadCluster(0)
}

// resign gives up control (another controller was elected, or ours lost
// its session) and goes back to standby.
func (c *controllerActor) resign(why string) {
	c.log.Warn().Str("why", why).Int32("epoch", c.ctx.epoch).Msg("resigning as controller")
	for _, pa := range c.pendingAlter {
		c.system.Root.Send(pa.sender, &messages.AlterPartitionResponse{ErrorCode: codeNotController, Topic: pa.req.Topic, Partition: pa.req.Partition})
	}
	for _, ps := range c.shutdowns {
		c.system.Root.Send(ps.sender, &messages.ControlledShutdownResponse{ErrorCode: codeNotController})
	}
	c.ctx, c.pendingAlter, c.deletions, c.shutdowns = nil, nil, nil, nil
	c.behavior.Become(c.standby)
}

func (c *controllerActor) loadCluster(attempts int) {
	reign := c.reign
	c.worker.submit(func(s *cluster.Store) any {
		snap, err := loadSnapshot(s)
		return &clusterLoaded{reign: reign, snap: snap, err: err, attempts: attempts}
	})
}

// loadSnapshot reads what a new controller needs, arming its watches.
func loadSnapshot(s *cluster.Store) (*clusterSnapshot, error) {
	snap := &clusterSnapshot{}
	var err error
	if snap.clusterID, err = s.ClusterID(); err != nil {
		return nil, err
	}
	if snap.brokers, snap.brokersWatch, err = readBrokersW(s); err != nil {
		return nil, err
	}
	names, nw, err := s.TopicNamesW()
	if err != nil {
		return nil, err
	}
	snap.namesWatch = nw
	snap.topics = readTopics(s, names)
	for _, t := range snap.topics {
		if t.err != nil {
			return nil, t.err
		}
	}
	if snap.deletions, snap.delWatch, err = s.TopicsMarkedForDeletionW(); err != nil {
		return nil, err
	}
	changes, cw, err := s.ConfigChangesW()
	if err != nil {
		return nil, err
	}
	snap.configWatch = cw
	if len(changes) > 0 {
		snap.lastConfigChange = changes[len(changes)-1]
	}
	return snap, nil
}

// configsChanged carries topic configs changed since the controller last
// looked (their change notifications).
type configsChanged struct {
	reign   int64
	last    string
	configs map[string]map[string]string
	watch   <-chan cluster.WatchEvent
	err     error
}

// readConfigChanges reads the notifications after last and the configs of
// the topics they name.
func readConfigChanges(s *cluster.Store, last string) (*configsChanged, error) {
	names, ch, err := s.ConfigChangesW()
	if err != nil {
		return nil, err
	}
	res := &configsChanged{last: last, configs: map[string]map[string]string{}, watch: ch}
	for _, n := range names {
		if n <= last {
			continue
		}
		res.last = n
		entity, err := s.ConfigChange(n)
		if errors.Is(err, cluster.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, err
		}
		topic, ok := strings.CutPrefix(entity, "topics/")
		if !ok {
			continue
		}
		cfg, err := s.TopicConfig(topic)
		if err != nil {
			continue // deleted since
		}
		res.configs[topic] = cfg
	}
	return res, nil
}

func readBrokersW(s *cluster.Store) ([]cluster.BrokerInfo, <-chan cluster.WatchEvent, error) {
	ids, ch, err := s.BrokerIDsW()
	if err != nil {
		return nil, nil, err
	}
	out := make([]cluster.BrokerInfo, 0, len(ids))
	for _, id := range ids {
		b, err := s.Broker(id)
		if errors.Is(err, cluster.ErrNoNode) {
			continue // left since the listing; the watch has fired
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, b)
	}
	return out, ch, nil
}

func readTopics(s *cluster.Store, names []string) []loadedTopic {
	out := make([]loadedTopic, 0, len(names))
	for _, n := range names {
		lt := loadedTopic{}
		lt.info, lt.watch, lt.err = s.TopicW(n)
		if errors.Is(lt.err, cluster.ErrUnknownTopic) {
			continue // deleted since the listing
		}
		if lt.err == nil {
			lt.configs, lt.err = s.TopicConfig(n)
		}
		if lt.err == nil {
			lt.states, lt.versions, lt.err = s.PartitionStates(n)
		}
		out = append(out, lt)
	}
	return out
}

func (c *controllerActor) active(ctx actor.Context) {
	if r, ok := ctx.Message().(reigned); ok && r.reignOf() != c.reign {
		return // a result or watch of an earlier reign
	}
	switch m := ctx.Message().(type) {
	case *clusterLoaded:
		c.clusterLoaded(m)
	case *controllerWatchFired:
		c.checkStillController()
	case *electionTried: // the re-check after a /controller watch
		if m.err != nil || m.holder != c.cfg.BrokerID {
			c.resign("another broker holds /controller")
			c.watchController(m.watch)
			if m.watch == nil {
				c.retryLater()
			}
			return
		}
		c.watchController(m.watch)
	case *ctrlWatchFired:
		c.watchFired(m)
	case *brokersLoaded:
		c.brokersLoaded(m)
	case *topicNamesLoaded:
		c.topicNamesLoaded(m)
	case *topicsLoaded:
		c.topicsLoaded(m)
	case *deletionsLoaded:
		c.deletionsLoaded(m)
	case *statesWritten:
		c.statesWritten(m)
	case *topicZNodesDeleted:
		c.topicZNodesDeleted(m)
	case *topicsReread:
		c.applyReread(m)
	case *configsChanged:
		c.configsChanged(m)
	case *ctrlRetryLoad:
		c.loadCluster(m.attempts)
	case *messages.AlterPartitionRequest:
		c.alterPartition(ctx, m)
	case *messages.ControlledShutdownRequest:
		c.controlledShutdown(ctx, m)
	case *messages.StopReplicaResponse:
		c.stopReplicaAnswered(m)
	case *actor.Terminated:
		c.brokerTerminated(m)
	case *messages.Pong:
		c.pong(m)
	case *messages.LeaderAndIsrResponse:
		if m.ErrorCode != codeNone {
			c.log.Warn().Int32("broker", m.BrokerId).Int32("code", m.ErrorCode).Msg("LeaderAndIsr refused")
		}
	case ctrlTick:
		c.tick()
	}
}

// checkStillController re-reads /controller after its watch fired.
func (c *controllerActor) checkStillController() {
	reign := c.reign
	c.worker.submit(func(s *cluster.Store) any {
		holder, ch, err := s.ControllerW()
		return &electionTried{reign: reign, holder: holder, watch: ch, err: err, epoch: -1}
	})
}

func (c *controllerActor) clusterLoaded(m *clusterLoaded) {
	if m.err != nil {
		if errors.Is(m.err, cluster.ErrControllerMoved) {
			c.resign("fenced while loading")
			return
		}
		c.log.Warn().Err(m.err).Int("attempt", m.attempts).Msg("cannot load cluster state; retrying")
		reign, attempts := c.reign, m.attempts+1
		time.AfterFunc(time.Duration(min(attempts, 10))*200*time.Millisecond, func() {
			c.system.Root.Send(c.self, &ctrlRetryLoad{reign: reign, attempts: attempts})
		})
		return
	}
	snap := m.snap
	cc := c.ctx
	cc.clusterID = snap.clusterID
	for _, b := range snap.brokers {
		cc.brokers[b.ID] = b
		c.watchBroker(b)
		if b.ID != c.cfg.BrokerID && b.ActorAddress != "" {
			c.unconfirmed[b.ID] = b.Epoch
			c.actx.Request(c.brokerPID(b), &messages.Ping{ControllerId: c.cfg.BrokerID, ControllerEpoch: cc.epoch})
		}
	}
	c.confirmBy = c.ticks + max(1, int64(time.Second/c.cfg.TickEvery))
	for _, lt := range snap.topics {
		c.addTopic(lt)
	}
	c.armWatch("brokers", "", snap.brokersWatch)
	c.armWatch("topics", "", snap.namesWatch)
	c.armWatch("deletions", "", snap.delWatch)
	c.lastConfigChange = snap.lastConfigChange
	c.armWatch("configs", "", snap.configWatch)
	c.log.Info().Int("brokers", len(cc.brokers)).Int("topics", len(cc.topics)).Msg("controller loaded cluster state")

	// Tell every live broker the whole picture, then fix what needs fixing.
	c.sendUpdateMetadata(nil, nil, true)
	for id := range cc.brokers {
		c.sendLeaderAndIsr(id, c.partitionsOn(id))
	}
	for _, name := range snap.deletions {
		c.startDeletion(name)
	}
	// The predecessor this broker saw die is dead: waiting for its ping to
	// go unanswered (confirmBy) would only delay its partitions' failover.
	if b, ok := cc.brokers[c.deposedID]; ok && b.Epoch == c.deposedEpoch && b.ID != c.cfg.BrokerID {
		c.suspect(b.ID, "deposed controller, unreachable over remoting")
	}
	c.deposedID = -1
	// Every partition is looked at once: leaders that died while there was
	// no controller, partitions whose creation was interrupted.
	c.markDirty(func(*ctrlPartition) bool { return true })
	c.reconcileAll()
}

type ctrlRetryLoad struct {
	reign    int64
	attempts int
}

func (c *controllerActor) armWatch(kind, topic string, ch <-chan cluster.WatchEvent) {
	reign := c.reign
	forwardWatch(c.system, c.self, ch, func(cluster.WatchEvent) any { return &ctrlWatchFired{reign: reign, kind: kind, topic: topic} })
}

func (c *controllerActor) addTopic(lt loadedTopic) *ctrlTopic {
	cc := c.ctx
	t := &ctrlTopic{name: lt.info.Name, id: lt.info.ID, partitions: map[int32]*ctrlPartition{}, configs: lt.configs}
	unclean := c.uncleanAllowed(lt.configs)
	for p, replicas := range lt.info.Partitions {
		cp := &ctrlPartition{tp: TopicPartition{t.name, p}, replicas: slices.Clone(replicas), uncleanAllowed: unclean}
		if st, ok := lt.states[p]; ok {
			cp.hasState, cp.state, cp.zkVersion = true, st, lt.versions[p]
		}
		t.partitions[p] = cp
	}
	cc.topics[t.name] = t
	c.armWatch("topic", t.name, lt.watch)
	return t
}

func (c *controllerActor) uncleanAllowed(overrides map[string]string) bool {
	tc, _ := c.cfg.Broker.ResolveTopic(overrides)
	return tc.UncleanLeaderElectionEnable
}

// watchFired re-reads what a watch reported changed.
func (c *controllerActor) watchFired(m *ctrlWatchFired) {
	reign := c.reign
	switch m.kind {
	case "brokers":
		c.worker.submit(func(s *cluster.Store) any {
			bs, ch, err := readBrokersW(s)
			return &brokersLoaded{reign: reign, brokers: bs, watch: ch, err: err}
		})
	case "topics":
		c.worker.submit(func(s *cluster.Store) any {
			names, ch, err := s.TopicNamesW()
			return &topicNamesLoaded{reign: reign, names: names, watch: ch, err: err}
		})
	case "topic":
		name := m.topic
		c.worker.submit(func(s *cluster.Store) any {
			return &topicsLoaded{reign: reign, topics: readTopics(s, []string{name})}
		})
	case "deletions":
		c.worker.submit(func(s *cluster.Store) any {
			names, ch, err := s.TopicsMarkedForDeletionW()
			return &deletionsLoaded{reign: reign, names: names, watch: ch, err: err}
		})
	case "configs":
		last := c.lastConfigChange
		c.worker.submit(func(s *cluster.Store) any {
			res, err := readConfigChanges(s, last)
			if err != nil {
				return &configsChanged{reign: reign, err: err}
			}
			res.reign = reign
			return res
		})
	}
}

func (c *controllerActor) retryWatch(kind string, err error) {
	c.log.Warn().Err(err).Str("watch", kind).Msg("controller watch read failed; retrying")
	reign := c.reign
	time.AfterFunc(500*time.Millisecond, func() { c.system.Root.Send(c.self, &ctrlWatchFired{reign: reign, kind: kind}) })
}

// brokersLoaded handles broker joins and departures.
func (c *controllerActor) brokersLoaded(m *brokersLoaded) {
	if m.err != nil {
		c.retryWatch("brokers", m.err)
		return
	}
	cc := c.ctx
	c.armWatch("brokers", "", m.watch)
	now := map[int32]cluster.BrokerInfo{}
	for _, b := range m.brokers {
		if epoch, suspect := cc.suspects[b.ID]; suspect {
			if epoch == b.Epoch {
				continue // still presumed dead: its session has not expired yet
			}
			delete(cc.suspects, b.ID) // a new incarnation registered
		}
		now[b.ID] = b
	}
	for id, epoch := range cc.suspects {
		if !slices.ContainsFunc(m.brokers, func(b cluster.BrokerInfo) bool { return b.ID == id && b.Epoch == epoch }) {
			delete(cc.suspects, id) // its registration is gone
		}
	}
	var joined, left []int32
	for id, old := range cc.brokers {
		nb, ok := now[id]
		if !ok || nb.Epoch != old.Epoch {
			left = append(left, id) // gone, or bounced (a new incarnation)
		}
	}
	for id, nb := range now {
		old, ok := cc.brokers[id]
		if !ok || nb.Epoch != old.Epoch {
			joined = append(joined, id)
		}
	}
	if len(joined) == 0 && len(left) == 0 {
		return
	}
	slices.Sort(joined)
	slices.Sort(left)
	c.log.Info().Ints32("joined", joined).Ints32("left", left).Msg("brokers changed")
	for _, id := range left {
		delete(cc.brokers, id)
		delete(cc.shuttingDown, id)
	}
	// A bounced broker is first treated as failed: its leaderships move.
	c.markDirty(func(p *ctrlPartition) bool {
		return slices.ContainsFunc(left, func(id int32) bool { return slices.Contains(p.replicas, id) })
	})
	c.reconcileAll()
	for _, id := range joined {
		cc.brokers[id] = now[id]
		c.watchBroker(now[id])
	}
	c.sendUpdateMetadata(nil, nil, true)
	for _, id := range joined {
		c.sendLeaderAndIsr(id, c.partitionsOn(id))
		for name, d := range c.deletions {
			if d.waiting[id] || c.topicHasReplicaOn(name, id) {
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

func (c *controllerActor) topicHasReplicaOn(name string, id int32) bool {
	t := c.ctx.topics[name]
	if t == nil {
		return false
	}
	for _, p := range t.partitions {
		if slices.Contains(p.replicas, id) {
			return true
		}
	}
	return false
}

func (c *controllerActor) topicNamesLoaded(m *topicNamesLoaded) {
	if m.err != nil {
		c.retryWatch("topics", m.err)
		return
	}
	c.armWatch("topics", "", m.watch)
	var added []string
	for _, n := range m.names {
		if _, ok := c.ctx.topics[n]; !ok {
			added = append(added, n)
		}
	}
	if len(added) == 0 {
		return
	}
	reign := c.reign
	c.worker.submit(func(s *cluster.Store) any {
		return &topicsLoaded{reign: reign, topics: readTopics(s, added)}
	})
}

// topicsLoaded handles new topics and partitions added to known ones.
func (c *controllerActor) topicsLoaded(m *topicsLoaded) {
	for _, lt := range m.topics {
		if lt.err != nil {
			c.log.Warn().Err(lt.err).Str("topic", lt.info.Name).Msg("cannot read topic")
			continue
		}
		t, ok := c.ctx.topics[lt.info.Name]
		if !ok {
			t = c.addTopic(lt)
			c.log.Info().Str("topic", t.name).Int("partitions", len(t.partitions)).Msg("new topic")
			for _, p := range t.partitions {
				p.dirty = true
			}
			continue
		}
		c.armWatch("topic", t.name, lt.watch)
		unclean := c.uncleanAllowed(lt.configs)
		t.configs = lt.configs
		for p, replicas := range lt.info.Partitions {
			if cp, ok := t.partitions[p]; ok {
				cp.uncleanAllowed = unclean
				continue
			}
			cp := &ctrlPartition{tp: TopicPartition{t.name, p}, replicas: slices.Clone(replicas), uncleanAllowed: unclean, dirty: true}
			if st, ok := lt.states[p]; ok {
				cp.hasState, cp.state, cp.zkVersion = true, st, lt.versions[p]
			}
			t.partitions[p] = cp
			c.log.Info().Str("topic", t.name).Int32("partition", p).Msg("new partition")
		}
	}
	c.reconcileAll()
}

func (c *controllerActor) markDirty(match func(*ctrlPartition) bool) {
	for _, t := range c.ctx.topics {
		for _, p := range t.partitions {
			if match(p) {
				p.dirty = true
			}
		}
	}
}

// reconcileAll decides every dirty partition that has no write in flight
// and submits the resulting writes.
func (c *controllerActor) reconcileAll() {
	var creates = map[string][]stateChange{}
	var updates []stateChange
	for _, t := range c.ctx.topics {
		if t.deleting {
			continue
		}
		for _, p := range t.partitions {
			if !p.dirty || p.inFlight {
				continue
			}
			p.dirty = false
			ch, ok := c.ctx.decide(p)
			if !ok {
				continue
			}
			p.inFlight = true
			if ch.create {
				creates[t.name] = append(creates[t.name], ch)
			} else {
				updates = append(updates, ch)
			}
		}
	}
	for _, chs := range creates {
		c.writeStates(chs)
	}
	if len(updates) > 0 {
		c.writeStates(updates)
	}
	c.maybeFinishShutdowns()
}

// writeStates submits state writes; creates must all be of one topic.
func (c *controllerActor) writeStates(changes []stateChange) {
	reign, epoch, zkv := c.reign, c.ctx.epoch, c.ctx.epochZkVersion
	for _, ch := range changes {
		c.log.Info().Str("topic", ch.tp.Topic).Int32("partition", ch.tp.Partition).Str("why", ch.why).
			Int32("leader", ch.state.Leader).Int32("leader_epoch", ch.state.LeaderEpoch).Ints32("isr", ch.state.ISR).Msg("partition state change")
	}
	changes = slices.Clone(changes)
	c.worker.submit(func(s *cluster.Store) any {
		res := make([]writeResult, 0, len(changes))
		if len(changes) > 0 && changes[0].create {
			states := make(map[int32]cluster.LeaderAndIsr, len(changes))
			for _, ch := range changes {
				states[ch.tp.Partition] = ch.state
			}
			failed, err := s.CreatePartitionStates(epoch, zkv, changes[0].tp.Topic, states)
			for _, ch := range changes {
				e := err
				if e == nil {
					e = failed[ch.tp.Partition]
				}
				res = append(res, writeResult{change: ch, newVersion: 0, err: e})
			}
			return &statesWritten{reign: reign, results: res}
		}
		for _, ch := range changes {
			v, err := s.UpdatePartitionState(epoch, zkv, ch.tp.Topic, ch.tp.Partition, ch.state, ch.expected)
			res = append(res, writeResult{change: ch, newVersion: v, err: err})
			if errors.Is(err, cluster.ErrControllerMoved) {
				for _, rest := range changes[len(res):] {
					res = append(res, writeResult{change: rest, err: err})
				}
				break
			}
		}
		return &statesWritten{reign: reign, results: res}
	})
}

// statesWritten applies committed writes, tells the brokers, and answers
// the AlterPartition / ControlledShutdown requests they settle.
func (c *controllerActor) statesWritten(m *statesWritten) {
	cc := c.ctx
	byBroker := map[int32][]*messages.PartitionState{}
	var changed []*messages.PartitionState
	var reread []string
	for _, r := range m.results {
		t, p := cc.partition(r.change.tp)
		if p == nil {
			continue
		}
		p.inFlight = false
		pa := c.pendingAlter[r.change.tp]
		if r.err != nil {
			if errors.Is(r.err, cluster.ErrControllerMoved) {
				c.resign("fenced: a newer controller exists")
				return
			}
			c.log.Warn().Err(r.err).Str("topic", r.change.tp.Topic).Int32("partition", r.change.tp.Partition).Msg("partition state write failed; re-reading")
			reread = append(reread, r.change.tp.Topic)
			p.dirty = true // decided again once re-read (or on a later tick)
			if pa != nil {
				c.answerAlter(r.change.tp, codeInvalidUpdateVersion, nil)
			}
			continue
		}
		p.hasState, p.state, p.zkVersion = true, r.change.state, r.newVersion
		ps := cc.partitionState(t, p)
		ps.IsNew = r.change.create
		changed = append(changed, ps)
		if pa != nil {
			c.answerAlter(r.change.tp, codeNone, ps)
			continue // the leader learns from the answer; followers need nothing
		}
		for _, id := range p.replicas {
			if cc.live(id) {
				byBroker[id] = append(byBroker[id], ps)
			}
		}
	}
	for id, parts := range byBroker {
		c.sendLeaderAndIsr(id, parts)
	}
	if len(changed) > 0 {
		c.sendUpdateMetadata(changed, nil, false)
	}
	if len(reread) > 0 {
		slices.Sort(reread)
		reread = slices.Compact(reread)
		reign := c.reign
		c.worker.submit(func(s *cluster.Store) any { return &topicsReread{reign: reign, topics: readTopics(s, reread)} })
	}
	c.reconcileAll()
}

// topicsReread refreshes partition states after a failed write.
type topicsReread struct {
	reign  int64
	topics []loadedTopic
}

func (c *controllerActor) applyReread(m *topicsReread) {
	for _, lt := range m.topics {
		t := c.ctx.topics[lt.info.Name]
		if t == nil || lt.err != nil {
			continue
		}
		for p, cp := range t.partitions {
			if st, ok := lt.states[p]; ok && !cp.inFlight {
				cp.hasState, cp.state, cp.zkVersion, cp.dirty = true, st, lt.versions[p], true
			}
		}
	}
	c.reconcileAll()
}

// alterPartition handles a leader's ISR change (Kafka's AlterPartition).
func (c *controllerActor) alterPartition(ctx actor.Context, req *messages.AlterPartitionRequest) {
	tp := TopicPartition{req.Topic, req.Partition}
	answer := func(code int32) {
		ctx.Respond(&messages.AlterPartitionResponse{ErrorCode: code, Topic: req.Topic, Partition: req.Partition})
	}
	if c.ctx == nil {
		answer(codeNotController)
		return
	}
	t, p := c.ctx.partition(tp)
	switch {
	case p == nil || t.deleting:
		answer(codeUnknownTopicOrPart)
		return
	case p.inFlight || c.pendingAlter[tp] != nil:
		answer(codeOperationNotAttempted)
		return
	case p.state.Leader != req.BrokerId || p.state.LeaderEpoch != req.LeaderEpoch:
		answer(codeFencedLeaderEpoch)
		return
	case p.zkVersion != req.PartitionEpoch:
		answer(codeInvalidUpdateVersion)
		return
	}
	for _, id := range req.NewIsr() {
		if !slices.Contains(p.replicas, id) || (!slices.Contains(p.state.ISR, id) && !c.ctx.eligible(id)) {
			answer(codeIneligibleReplica)
			return
		}
	}
	if !slices.Contains(req.NewIsr(), req.BrokerId) {
		answer(codeIneligibleReplica)
		return
	}
	p.inFlight = true
	c.pendingAlter[tp] = &pendingAlter{sender: ctx.Sender(), req: req}
	c.writeStates([]stateChange{{tp: tp, state: cluster.LeaderAndIsr{Leader: p.state.Leader, LeaderEpoch: p.state.LeaderEpoch, ISR: req.NewIsr()},
		expected: p.zkVersion, why: "isr change requested by leader"}})
}

func (c *controllerActor) answerAlter(tp TopicPartition, code int32, st *messages.PartitionState) {
	pa := c.pendingAlter[tp]
	delete(c.pendingAlter, tp)
	if pa.sender != nil {
		c.system.Root.Send(pa.sender, &messages.AlterPartitionResponse{ErrorCode: code, State: st, Topic: tp.Topic, Partition: tp.Partition})
	}
}

// controlledShutdown moves a broker's leaderships away before it exits.
func (c *controllerActor) controlledShutdown(ctx actor.Context, req *messages.ControlledShutdownRequest) {
	if !c.ctx.live(req.BrokerId) {
		ctx.Respond(&messages.ControlledShutdownResponse{ErrorCode: codeStaleBrokerEpoch})
		return
	}
	c.log.Info().Int32("broker", req.BrokerId).Msg("controlled shutdown requested")
	c.ctx.shuttingDown[req.BrokerId] = true
	c.shutdowns = append(c.shutdowns, &pendingShutdown{broker: req.BrokerId, sender: ctx.Sender()})
	c.markDirty(func(p *ctrlPartition) bool { return slices.Contains(p.replicas, req.BrokerId) })
	c.reconcileAll()
}

// maybeFinishShutdowns answers controlled shutdowns whose moves are done.
func (c *controllerActor) maybeFinishShutdowns() {
	kept := c.shutdowns[:0]
	for _, ps := range c.shutdowns {
		busy := false
		var remaining []*messages.PartitionError
		for _, t := range c.ctx.topics {
			for _, p := range t.partitions {
				if !slices.Contains(p.replicas, ps.broker) {
					continue
				}
				if p.inFlight || p.dirty {
					busy = true
				}
				if p.state.Leader == ps.broker {
					remaining = append(remaining, &messages.PartitionError{Topic: p.tp.Topic, Partition: p.tp.Partition})
				}
			}
		}
		if busy {
			kept = append(kept, ps)
			continue
		}
		c.log.Info().Int32("broker", ps.broker).Int("still_leading", len(remaining)).Msg("controlled shutdown answered")
		if ps.sender != nil {
			c.system.Root.Send(ps.sender, &messages.ControlledShutdownResponse{Remaining: remaining})
		}
	}
	c.shutdowns = kept
}

// configsChanged keeps the controller's copy of topic configs current: it
// decides unclean elections by them and sends them with LeaderAndIsr to
// brokers that start hosting a topic.
func (c *controllerActor) configsChanged(m *configsChanged) {
	if m.err != nil {
		c.retryWatch("configs", m.err)
		return
	}
	c.lastConfigChange = m.last
	c.armWatch("configs", "", m.watch)
	for topic, cfg := range m.configs {
		t := c.ctx.topics[topic]
		if t == nil {
			continue
		}
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

// --- topic deletion ----------------------------------------------------------

func (c *controllerActor) deletionsLoaded(m *deletionsLoaded) {
	if m.err != nil {
		c.retryWatch("deletions", m.err)
		return
	}
	c.armWatch("deletions", "", m.watch)
	for _, n := range m.names {
		c.startDeletion(n)
	}
}

func (c *controllerActor) startDeletion(name string) {
	if _, ok := c.deletions[name]; ok {
		return
	}
	t := c.ctx.topics[name]
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
		for _, id := range p.replicas {
			d.waiting[id] = true
		}
	}
	c.deletions[name] = d
	c.sendStopReplicas(name)
	c.maybeFinishDeletion(name)
}

// sendStopReplicas asks every live broker still holding replicas of a
// topic being deleted to delete them. Brokers that are down get it when
// they return (the deletion waits for them, as in Kafka).
func (c *controllerActor) sendStopReplicas(name string) {
	d := c.deletions[name]
	t := c.ctx.topics[name]
	if d == nil || t == nil {
		return
	}
	d.sentTick = c.ticks
	for id := range d.waiting {
		b, ok := c.ctx.brokers[id]
		if !ok {
			continue
		}
		req := &messages.StopReplicaRequest{ControllerId: c.cfg.BrokerID, ControllerEpoch: c.ctx.epoch, Delete: true}
		for _, p := range t.sortedPartitions() {
			if slices.Contains(p.replicas, id) {
				req.Partitions = append(req.Partitions, &messages.StopPartition{Topic: name, Partition: p.tp.Partition, LeaderEpoch: -2})
			}
		}
		c.system.Root.RequestWithCustomSender(c.brokerPID(b), req, c.self)
	}
}

func (c *controllerActor) stopReplicaAnswered(m *messages.StopReplicaResponse) {
	if c.ctx == nil {
		return
	}
	for name, d := range c.deletions {
		if !d.waiting[m.BrokerId] {
			continue
		}
		ok := m.ErrorCode == codeNone
		for _, pe := range m.Partitions {
			if pe.Topic == name && pe.ErrorCode != codeNone && pe.ErrorCode != codeUnknownTopicOrPart {
				ok = false
			}
		}
		if ok && answersTopic(m, name) {
			delete(d.waiting, m.BrokerId)
			c.maybeFinishDeletion(name)
		}
	}
}

func answersTopic(m *messages.StopReplicaResponse, name string) bool {
	for _, pe := range m.Partitions {
		if pe.Topic == name {
			return true
		}
	}
	return false
}

func (c *controllerActor) maybeFinishDeletion(name string) {
	d := c.deletions[name]
	if d == nil || len(d.waiting) > 0 || d.writing {
		return
	}
	d.writing = true
	reign, zkv := c.reign, c.ctx.epochZkVersion
	c.worker.submit(func(s *cluster.Store) any {
		return &topicZNodesDeleted{reign: reign, topic: name, err: s.DeleteTopicZNodes(zkv, name)}
	})
}

func (c *controllerActor) topicZNodesDeleted(m *topicZNodesDeleted) {
	if m.err != nil {
		if errors.Is(m.err, cluster.ErrControllerMoved) {
			c.resign("fenced while deleting a topic")
			return
		}
		c.log.Warn().Err(m.err).Str("topic", m.topic).Msg("cannot delete topic znodes; will retry")
		if d := c.deletions[m.topic]; d != nil {
			d.writing = false
		}
		return
	}
	delete(c.deletions, m.topic)
	delete(c.ctx.topics, m.topic)
	c.log.Info().Str("topic", m.topic).Msg("topic deleted")
	c.sendUpdateMetadata(nil, []string{m.topic}, false)
}

// --- ticks -------------------------------------------------------------------

func (c *controllerActor) tick() {
	if c.ctx == nil {
		return
	}
	perSecond := max(1, int64(time.Second/c.cfg.TickEvery))
	if c.ticks%perSecond == 0 {
		// Partitions left dirty by a failed write (ZooKeeper unreachable)
		// are decided again.
		c.reconcileAll()
	}
	if len(c.ctx.suspects) > 0 && c.ticks%(2*perSecond) == 0 {
		c.pingSuspects()
	}
	if len(c.unconfirmed) > 0 && c.ticks >= c.confirmBy {
		for id, epoch := range c.unconfirmed {
			if b, ok := c.ctx.brokers[id]; ok && b.Epoch == epoch {
				c.suspect(id, "no answer to the new controller's ping")
			}
		}
		clear(c.unconfirmed)
	}
	for name, d := range c.deletions {
		if len(d.waiting) > 0 && c.ticks-d.sentTick > stopReplicaResendTicksMult*perSecond {
			c.sendStopReplicas(name)
		} else if len(d.waiting) == 0 && !d.writing {
			c.maybeFinishDeletion(name)
		}
	}
	if c.cfg.Broker.AutoLeaderRebalance {
		every := max(1, int64(c.cfg.Broker.LeaderImbalanceInterval/c.cfg.TickEvery))
		if c.ticks%every == 0 {
			c.preferredElections()
		}
	}
}

// preferredElections moves leadership back to preferred replicas (Kafka's
// auto.leader.rebalance.enable).
func (c *controllerActor) preferredElections() {
	var updates []stateChange
	for _, t := range c.ctx.topics {
		if t.deleting {
			continue
		}
		for _, p := range t.partitions {
			if p.inFlight || p.dirty {
				continue
			}
			if ch, ok := c.ctx.preferredElection(p); ok {
				p.inFlight = true
				updates = append(updates, ch)
			}
		}
	}
	if len(updates) > 0 {
		c.writeStates(updates)
	}
}

// --- fast failure detection ---------------------------------------------------

// watchBroker watches another broker's replica manager over remoting, so
// that its death (kill -9: a TCP reset; a partition: gRPC keepalive) is
// known in tens of milliseconds rather than at ZooKeeper session expiry.
func (c *controllerActor) watchBroker(b cluster.BrokerInfo) {
	if b.ID == c.cfg.BrokerID || b.ActorAddress == "" {
		return
	}
	c.actx.Watch(c.brokerPID(b))
}

// brokerTerminated treats a broker whose endpoint terminated as dead: its
// leaderships move at once. This is safe for fencing: a broker that is in
// fact alive keeps its old leader epoch, which the new leader's epoch
// supersedes, and its ISR changes are refused; it rejoins when it answers
// a Ping or registers again.
func (c *controllerActor) brokerTerminated(m *actor.Terminated) {
	cc := c.ctx
	if cc == nil || m.Who == nil {
		return
	}
	for id, b := range cc.brokers {
		if b.ActorAddress != "" && b.ActorAddress == m.Who.Address && id != c.cfg.BrokerID {
			c.suspect(id, "unreachable over remoting")
		}
	}
}

// suspect treats a registered broker as failed until it proves otherwise.
func (c *controllerActor) suspect(id int32, why string) {
	cc := c.ctx
	b, ok := cc.brokers[id]
	if !ok {
		return
	}
	c.log.Warn().Int32("broker", id).Str("address", b.ActorAddress).Str("why", why).Msg("treating broker as failed")
	cc.suspects[id] = b.Epoch
	delete(cc.brokers, id)
	delete(cc.shuttingDown, id)
	delete(c.unconfirmed, id)
	c.suspectInfo[id] = b
	c.markDirty(func(p *ctrlPartition) bool { return slices.Contains(p.replicas, id) })
	c.reconcileAll()
	c.sendUpdateMetadata(nil, nil, true)
}

// pingSuspects asks suspected brokers whether they are alive after all.
func (c *controllerActor) pingSuspects() {
	for id := range c.ctx.suspects {
		if b, ok := c.suspectInfo[id]; ok {
			c.actx.Request(c.brokerPID(b), &messages.Ping{ControllerId: c.cfg.BrokerID, ControllerEpoch: c.ctx.epoch})
		}
	}
}

func (c *controllerActor) pong(m *messages.Pong) {
	cc := c.ctx
	if cc == nil {
		return
	}
	if epoch, ok := c.unconfirmed[m.BrokerId]; ok && epoch == m.BrokerEpoch {
		delete(c.unconfirmed, m.BrokerId)
		return
	}
	epoch, suspect := cc.suspects[m.BrokerId]
	b, known := c.suspectInfo[m.BrokerId]
	if !suspect || !known || epoch != m.BrokerEpoch {
		return
	}
	c.log.Info().Int32("broker", m.BrokerId).Msg("suspected broker answered; it rejoins")
	delete(cc.suspects, m.BrokerId)
	delete(c.suspectInfo, m.BrokerId)
	cc.brokers[m.BrokerId] = b
	c.watchBroker(b)
	c.sendUpdateMetadata(nil, nil, true)
	c.sendLeaderAndIsr(m.BrokerId, c.partitionsOn(m.BrokerId))
	c.markDirty(func(p *ctrlPartition) bool { return slices.Contains(p.replicas, m.BrokerId) })
	c.reconcileAll()
}

// --- sending to brokers ------------------------------------------------------

func (c *controllerActor) brokerPID(b cluster.BrokerInfo) *actor.PID {
	addr := b.ActorAddress
	if addr == "" {
		addr = c.system.Address()
	}
	return actor.NewPID(addr, ReplicaManagerName)
}

// partitionsOn lists the states of every partition with a replica on broker id.
func (c *controllerActor) partitionsOn(id int32) []*messages.PartitionState {
	var out []*messages.PartitionState
	for _, t := range c.ctx.topics {
		if t.deleting {
			continue
		}
		for _, p := range t.partitions {
			// A partition with a write in flight is sent too, in its
			// committed state. Skipping it left a broker that joined during
			// an ISR change (AlterPartition) without the partition for good:
			// that commit is answered to the leader only. A leader change
			// in flight reaches every live replica when it commits, after
			// this (remoting keeps the order).
			if p.hasState && slices.Contains(p.replicas, id) {
				out = append(out, c.ctx.partitionState(t, p))
			}
		}
	}
	return out
}

func (c *controllerActor) sendLeaderAndIsr(id int32, parts []*messages.PartitionState) {
	b, ok := c.ctx.brokers[id]
	if !ok || len(parts) == 0 {
		return
	}
	req := &messages.LeaderAndIsrRequest{ControllerId: c.cfg.BrokerID, ControllerEpoch: c.ctx.epoch, Partitions: parts,
		Configs: map[string]*messages.TopicConfig{}}
	leaders := map[int32]bool{}
	for _, p := range parts {
		if t := c.ctx.topics[p.Topic]; t != nil && len(t.configs) > 0 {
			req.Configs[p.Topic] = &messages.TopicConfig{Entries: maps.Clone(t.configs)}
		}
		if lb, ok := c.ctx.brokers[p.Leader]; ok && !leaders[p.Leader] {
			leaders[p.Leader] = true
			req.Leaders = append(req.Leaders, brokerMessage(lb))
		}
	}
	c.system.Root.RequestWithCustomSender(c.brokerPID(b), req, c.self)
}

// sendUpdateMetadata sends the live brokers and the given partitions (all
// of them when full) to every live broker.
func (c *controllerActor) sendUpdateMetadata(parts []*messages.PartitionState, deleted []string, full bool) {
	req := &messages.UpdateMetadataRequest{ControllerId: c.cfg.BrokerID, ControllerEpoch: c.ctx.epoch, Full: full,
		Brokers: c.ctx.brokerMessages(), Partitions: parts, DeletedTopics: deleted, ClusterId: c.ctx.clusterID}
	if full {
		req.Partitions = nil
		for _, t := range c.ctx.topics {
			if t.deleting {
				continue
			}
			for _, p := range t.sortedPartitions() {
				if p.hasState {
					req.Partitions = append(req.Partitions, c.ctx.partitionState(t, p))
				}
			}
		}
	}
	for _, b := range c.ctx.brokers {
		c.system.Root.Send(c.brokerPID(b), req)
	}
}
