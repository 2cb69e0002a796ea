package actors

import (
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/internal/config"
	"github.com/troupe-mq/troupe/messages"
)

// The controller core.
//
// Every broker runs a controller. In the standby role it waits for
// /controller to be free and tries to take it; in the active role it is the
// cluster's controller: it keeps a clusterView, decides leaders and ISRs,
// writes partition states to ZooKeeper (every write fenced by the
// controller epoch) and tells brokers what to do with LeaderAndIsr,
// UpdateMetadata and StopReplica.
//
// The core is deterministic: no clock, goroutines or network. It takes one
// input at a time (ticks, the results of its ZooKeeper calls, watches that
// fired, requests from brokers, links that went down) and returns effects:
// ZooKeeper calls to make (zkCall, each a zkJob whose run is the only code
// that touches the Store), messages to send to brokers (toBroker), answers
// (reply) and remoting links to watch (watchLink). Its shell is
// controllerActor; the simulator runs the same core against a simulated
// ZooKeeper and network.
//
// By role and concern:
//   - controller_election.go: standby, election, deposing a dead controller;
//   - controller_partitions.go: partition states, writes and their outcomes,
//     AlterPartition;
//   - controller_topics.go: new topics and partitions, configs, deletion;
//   - controller_liveness.go: brokers joining and leaving, failure detection;
//   - controller_shutdown.go: controlled shutdown, preferred elections;
//   - controller_view.go: the view of the cluster and the pure decisions;
//   - controller_zk.go: the ZooKeeper jobs.
//
// reign numbers each election attempt and active period; results and
// watches of an earlier reign are ignored.
type controller struct {
	cfg   controllerConfig
	log   zerolog.Logger
	role  ctrlRole
	reign int64
	ticks int64
	// retryElectionAt is the tick of the next election attempt after a
	// failure (0: none).
	retryElectionAt int64

	// Standby: the active controller it watches, and the one it last saw
	// die and deposed (elected after it, it treats that registration as
	// failed at once).
	watched watchedController
	deposed watchedController
	// deposing is a second opinion asked before deposing the controller
	// (nil: none asked).
	deposing *probeRound

	// Active.
	view         *clusterView
	pendingAlter map[TopicPartition]*pendingAlter
	deletions    map[string]*deletion
	shutdowns    []*pendingShutdown
	// lastConfigChange is the newest config change notification handled.
	lastConfigChange string
	// suspectInfo keeps the registration of suspected brokers (to ping them).
	suspectInfo map[int32]cluster.BrokerInfo
	// unconfirmed are brokers a newly elected controller has pinged and not
	// yet heard from; those still silent at confirmBy are probed by other
	// brokers. A controller elected because its predecessor died must not
	// trust registrations the dead broker's unexpired session still holds.
	unconfirmed map[int32]int64
	confirmBy   int64
	// probes are second opinions asked about brokers this controller
	// cannot reach, by target.
	probes map[int32]*probeRound
	// loaded: the cluster state was read; loadRetryAt: when to read again
	// after a failure.
	loaded      bool
	loadAttempt int
	loadRetryAt int64
	// watchRetryAt: watches whose re-read failed, by kind, and when to try
	// again.
	watchRetryAt map[string]int64
	// rereadAt: partitions whose read-back failed are read again at this tick.
	rereadAt int64
	// channels are what the controller owes each live broker (resent
	// until acknowledged: controller_channel.go).
	channels map[int32]*brokerChannel
	// mailbox is the version of /admin/reassign_partitions last read (-1:
	// none); mailboxDeleting: its deletion is in flight.
	mailbox         int32
	mailboxDeleting bool
	// strays are replicas a reassignment removed, still to be deleted.
	strays map[TopicPartition]*stray
	// brokerConfigs are the dynamic broker configs in ZooKeeper, by entity
	// (broker.decommissioned is read from them).
	brokerConfigs map[string]map[string]string
	// balance is the automatic balancer's state (controller_balance.go).
	balance balancer
	// loads are the brokers' latest load reports, by broker id.
	loads map[int32]*messages.BrokerLoadReport
	// moveLoad counts the data-copying moves in flight per broker during
	// one reconcile pass (nil outside one; see admitMove).
	moveLoad map[int32]int

	out []effect
}

// ctrlRole is the controller's role.
type ctrlRole uint8

const (
	roleStandby ctrlRole = iota
	roleActive
)

// controllerConfig is what the controller core needs.
type controllerConfig struct {
	brokerID int32
	broker   *config.Broker
	// tickEvery is the period of the controller's ticks.
	tickEvery time.Duration
	log       zerolog.Logger
}

// watchedController is a controller incarnation (id -1: none).
type watchedController struct {
	id    int32
	addr  string
	epoch int64
}

type pendingAlter struct {
	from any
	req  *messages.AlterPartitionRequest
}

type deletion struct {
	// waiting are brokers whose StopReplica answer is outstanding.
	waiting  map[int32]bool
	sentTick int64
	writing  bool
}

type pendingShutdown struct {
	broker int32
	from   any
}

// Inputs of the controller core besides results, watches and requests.
type (
	// ctrlTick is the controller's clock.
	ctrlTick struct{}
	// linkDown: a remoting endpoint the controller watches terminated
	// (the actor at addr is unreachable from here).
	linkDown struct{ addr string }
)

// Effects of the controller core.
type (
	// zkCall runs a ZooKeeper job; its result comes back as an input, and
	// the watches it arms deliver their messages when they fire. Jobs run
	// one at a time, in order.
	zkCall struct{ job zkJob }
	// toBroker sends msg to a broker's replica manager; answers come back
	// to the controller.
	toBroker struct {
		to  cluster.BrokerInfo
		msg any
	}
	// watchLink watches the remoting endpoint of the named actor at addr;
	// linkDown reports its termination.
	watchLink struct {
		addr string
		name string
	}
)

func newController(cfg controllerConfig) *controller {
	return &controller{cfg: cfg, log: cfg.log.With().Str("actor", ControllerName).Logger(),
		watched: watchedController{id: -1}, deposed: watchedController{id: -1}}
}

func (c *controller) emit(e effect) { c.out = append(c.out, e) }

func (c *controller) zk(job zkJob) { c.emit(zkCall{job: job}) }

// perSecond is how many ticks make a second.
func (c *controller) perSecond() int64 { return max(1, int64(time.Second/c.cfg.tickEvery)) }

// ticksFor converts a duration into ticks (at least one).
func (c *controller) ticksFor(d time.Duration) int64 { return max(1, int64(d/c.cfg.tickEvery)) }

// start is the first input: the controller competes for election.
func (c *controller) start() []effect {
	c.tryElection()
	return c.drain()
}

// stop gives up control (the actor stops): pending requests are answered
// NOT_CONTROLLER.
func (c *controller) stop() []effect {
	if c.role == roleActive {
		c.resign("stopping")
	}
	return c.drain()
}

func (c *controller) drain() []effect {
	out := c.out
	c.out = nil
	return out
}

// reigned is a result or watch tagged with the reign it belongs to.
type reigned interface{ reignOf() int64 }

// step takes one input and returns the effects it causes.
func (c *controller) step(msg any, from any) []effect {
	if _, ok := msg.(ctrlTick); ok {
		c.ticks++
	}
	if r, ok := msg.(reigned); ok && r.reignOf() != c.reign {
		return nil // a result or watch of an earlier reign
	}
	if m, ok := msg.(*BrokerConfigChanged); ok {
		c.brokerConfigChanged(m)
		return c.drain()
	}
	if c.role == roleActive {
		c.stepActive(msg, from)
	} else {
		c.stepStandby(msg, from)
	}
	return c.drain()
}

// stepActive handles an input as the cluster's controller.
func (c *controller) stepActive(msg any, from any) {
	switch m := msg.(type) {
	case *clusterLoaded:
		c.clusterLoaded(m)
	case *controllerWatchFired:
		c.zk(&checkControllerJob{reign: c.reign})
	case *electionTried: // the re-check after a /controller watch
		if m.err != nil || m.holder != c.cfg.brokerID {
			c.resignAndStandby("another broker holds /controller")
			return
		}
	case *ctrlWatchFired:
		c.watchFired(m.kind, m.topic)
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
	case *statesReread:
		c.statesReread(m)
	case *topicZNodesDeleted:
		c.topicZNodesDeleted(m)
	case *configsChanged:
		c.configsChanged(m)
	case *messages.AlterPartitionRequest:
		c.alterPartition(m, from)
	case *messages.ControlledShutdownRequest:
		c.controlledShutdown(m, from)
	case *ElectLeadersRequest:
		c.electLeaders(m, from)
	case *planned:
		c.plannedResult(m)
	case *preferredLoaded:
		c.preferredLoaded(m)
	case *preferredCleared:
		c.preferredCleared(m)
	case *messages.BrokerLoadReport:
		// The planner's input (sizes, rates, disks): the latest report of
		// each registered broker incarnation, kept in memory.
		if b, ok := c.view.brokers[m.BrokerId]; ok && b.Epoch == m.BrokerEpoch {
			c.loads[m.BrokerId] = m
		}
	case *messages.StopReplicaResponse:
		c.stopReplicaAnswered(m)
		c.strayStopped(m)
	case *topicWritten:
		c.topicWritten(m)
	case *reassignmentsLoaded:
		c.reassignmentsLoaded(m)
	case *reassignmentsCleared:
		c.reassignmentsCleared(m)
	case linkDown:
		c.brokerLinkDown(m.addr)
	case *messages.Pong:
		c.pong(m)
	case *messages.ProbeResponse:
		c.probeAnswered(m)
	case *messages.LeaderAndIsrResponse:
		c.leaderAndIsrAnswered(m)
	case *messages.UpdateMetadataResponse:
		c.updateMetadataAnswered(m)
	case ctrlTick:
		c.activeTick()
	}
}

// becomeActive starts a reign as the cluster's controller.
func (c *controller) becomeActive(m *electionTried) {
	c.view = &clusterView{epoch: m.epoch, epochZkVersion: m.epochZk, brokers: map[int32]cluster.BrokerInfo{},
		shuttingDown: map[int32]bool{}, suspects: map[int32]int64{}, topics: map[string]*ctrlTopic{}}
	c.pendingAlter = map[TopicPartition]*pendingAlter{}
	c.suspectInfo = map[int32]cluster.BrokerInfo{}
	c.unconfirmed = map[int32]int64{}
	c.probes = map[int32]*probeRound{}
	c.deletions = map[string]*deletion{}
	c.watchRetryAt = map[string]int64{}
	c.channels = map[int32]*brokerChannel{}
	c.strays = map[TopicPartition]*stray{}
	c.loads = map[int32]*messages.BrokerLoadReport{}
	c.brokerConfigs = map[string]map[string]string{}
	c.balance = newBalancer()
	c.mailbox, c.mailboxDeleting = -1, false
	c.shutdowns = nil
	c.loaded, c.loadAttempt, c.loadRetryAt, c.rereadAt = false, 0, 0, 0
	c.role = roleActive
	c.watched = watchedController{id: -1}
	c.deposing = nil
	c.log.Info().Int32("epoch", m.epoch).Msg("became controller")
	c.zk(&loadClusterJob{reign: c.reign})
}

// resign gives up control (another controller was elected, or ours lost
// its session) and goes back to standby.
func (c *controller) resign(why string) {
	c.log.Warn().Str("why", why).Int32("epoch", c.view.epoch).Msg("resigning as controller")
	for _, tp := range sortedTPs(c.pendingAlter) {
		pa := c.pendingAlter[tp]
		c.emit(reply{to: pa.from, msg: &messages.AlterPartitionResponse{ErrorCode: codeNotController, Topic: tp.Topic, Partition: tp.Partition}})
	}
	for _, ps := range c.shutdowns {
		c.emit(reply{to: ps.from, msg: &messages.ControlledShutdownResponse{ErrorCode: codeNotController}})
	}
	c.view, c.pendingAlter, c.deletions, c.shutdowns, c.probes, c.channels = nil, nil, nil, nil, nil, nil
	c.role = roleStandby
	c.reign++ // whatever the active reign still has in flight is moot
}

// activeTick: retries, liveness, deletions and preferred elections.
func (c *controller) activeTick() {
	if !c.loaded {
		if c.loadRetryAt > 0 && c.ticks >= c.loadRetryAt {
			c.loadRetryAt = 0
			c.zk(&loadClusterJob{reign: c.reign, attempt: c.loadAttempt})
		}
		return
	}
	for _, kind := range sortedKeys(c.watchRetryAt) {
		if at := c.watchRetryAt[kind]; c.ticks >= at {
			delete(c.watchRetryAt, kind)
			c.watchFired(kind, "")
		}
	}
	if c.rereadAt > 0 && c.ticks >= c.rereadAt {
		c.rereadAt = 0
		c.rereadUnsure()
	}
	perSecond := c.perSecond()
	if c.ticks%perSecond == 0 {
		// Partitions left dirty by a failed write (ZooKeeper unreachable)
		// are decided again, and so are requested moves waiting for a
		// slot: whatever freed one (a move ended, a topic was deleted, a
		// broker left), they start within a second.
		c.markDirty(func(p *ctrlPartition) bool { return p.requested != nil })
		c.reconcileAll()
		c.maybeClearMailbox()
	}
	c.livenessTick()
	c.strayTick()
	c.channelTick()
	c.deletionTick()
	if c.ticks%perSecond == 0 {
		c.balanceTick()
	}
	if c.cfg.broker.AutoLeaderRebalance && c.ticks%c.ticksFor(c.cfg.broker.LeaderImbalanceInterval) == 0 {
		c.preferredElections()
	}
}

// brokerPIDName is the actor a controller addresses on a broker.
func (c *controller) String() string {
	return fmt.Sprintf("controller(broker=%d, role=%d, reign=%d)", c.cfg.brokerID, c.role, c.reign)
}
