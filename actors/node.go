package actors

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/internal/config"
	"github.com/troupe-mq/troupe/messages"
	"github.com/troupe-mq/troupe/storage"
)

// Node is one broker's control plane as its deterministic cores — the
// replica host, the partition replicas and fetchers it runs, and the
// controller — wired to a NodeEnv instead of actors, goroutines and
// sockets. It is the shell the simulator (internal/sim) runs: the same
// cores the actors run, every message between them handed to the
// environment, which decides when (and whether) it is delivered.
//
// A Node is one process incarnation of a broker: a crash is modelled by
// dropping it and building a new one over the same filesystem.
//
// Not safe for concurrent use.
type Node struct {
	cfg        NodeConfig
	env        NodeEnv
	host       *replicaHost
	replicas   map[TopicPartition]*nodeReplica
	fetchers   map[string]*nodeFetcher
	ctrl       *controller
	md         *Metadata
	registered int64
	// suspected is what observeSuspects last saw.
	suspected map[int32]int64
}

// NodeConfig configures a Node.
type NodeConfig struct {
	ID      int32
	DataDir string
	FS      storage.FS
	Broker  *config.Broker
	// TickEvery is the period of the host's and controller's ticks
	// (partitions tick every partitionTickRatio of them).
	TickEvery time.Duration
	// Clock is what storage reads for segment times (the simulated clock).
	Clock func() time.Time
	Log   zerolog.Logger
	// Observer, if set, is told the controller's liveness decisions, for
	// the simulator's checks.
	Observer NodeObserver
}

// NodeObserver is told what a node's controller decides about liveness.
type NodeObserver interface {
	// Suspected: the active controller now treats broker id as failed
	// (before its registration went).
	Suspected(id int32)
	// Deposing: the standby controller removes /controller of broker id.
	Deposing(id int32)
}

type nodeReplica struct {
	core *replica // nil: the log failed to open
	inc  int64
}

type nodeFetcher struct {
	core   *fetcher
	leader *messages.Broker
	// sent is the offsets of the fetch in flight (one at a time).
	sent map[TopicPartition]int64
}

// AddrKind is the kind of actor an Addr names.
type AddrKind uint8

// The actors of a node, and the simulator's clients.
const (
	AddrHost AddrKind = iota + 1
	AddrPartition
	AddrFetcher
	AddrController
	AddrClient
)

func (k AddrKind) String() string {
	switch k {
	case AddrHost:
		return "host"
	case AddrPartition:
		return "partition"
	case AddrFetcher:
		return "fetcher"
	case AddrController:
		return "controller"
	case AddrClient:
		return "client"
	}
	return "?"
}

// Addr names an actor: the broker it runs on, its kind, and which one
// (the partition, or the fetcher's leader key, or a client's name).
type Addr struct {
	Broker int32
	Kind   AddrKind
	TP     TopicPartition
	Key    string
}

func (a Addr) String() string {
	switch a.Kind {
	case AddrPartition:
		return fmt.Sprintf("b%d/%s", a.Broker, a.TP)
	case AddrFetcher:
		return fmt.Sprintf("b%d/fetcher(%s)", a.Broker, a.Key)
	case AddrClient:
		return "client/" + a.Key
	}
	return fmt.Sprintf("b%d/%s", a.Broker, a.Kind)
}

// NodeEnv is what a Node needs from its environment. Every call asks for
// something to happen later: the environment delivers the outcome by
// calling the Node back (Deliver, ZKDone, FetchDone, …) when it chooses.
type NodeEnv interface {
	// Send hands msg from one actor to another (on this broker or another).
	Send(from, to Addr, msg any)
	// ZK runs a controller's ZooKeeper job (Run), in order per broker.
	ZK(from Addr, job ZKJob)
	// Watch watches the actor at addr over remoting: LinkDown reports its
	// loss.
	Watch(from Addr, addr string)
	// Dial, Fetch and Epochs are a fetcher's calls on its connection to
	// leader; CloseConn drops the connection (a call in flight fails).
	Dial(from Addr, leader *messages.Broker)
	Fetch(from Addr, leader *messages.Broker, req *ReplicaFetch)
	Epochs(from Addr, leader *messages.Broker, qs []EpochQuery)
	CloseConn(from Addr)
	// Sync runs a partition's background fsync (SyncDone reports it).
	Sync(from Addr, upTo int64, sync func() error)
}

// ZKJob is a controller's ZooKeeper call, for an environment to run.
type ZKJob struct{ job zkJob }

// ZKWatch is a watch a job armed: Fired goes to the controller (Deliver)
// when Ch yields.
type ZKWatch struct {
	Ch    <-chan cluster.WatchEvent
	Fired any
}

// Run executes the job against s and returns its result (to Deliver to the
// controller) and the watches it armed.
func (j ZKJob) Run(s *cluster.Store) (any, []ZKWatch) {
	res, arms := j.job.run(s)
	out := make([]ZKWatch, len(arms))
	for i, a := range arms {
		out[i] = ZKWatch{Ch: a.ch, Fired: a.fired}
	}
	return res, out
}

// String names the job for traces.
func (j ZKJob) String() string { return strings.TrimPrefix(fmt.Sprintf("%T", j.job), "*actors.") }

// ActorAddress is the remoting address the simulator gives broker id.
func ActorAddress(id int32) string { return "sim-broker-" + strconv.Itoa(int(id)) }

// brokerOfAddress is the broker a simulated remoting address names.
func brokerOfAddress(addr string) int32 {
	id, err := strconv.Atoi(strings.TrimPrefix(addr, "sim-broker-"))
	if err != nil {
		return -1
	}
	return int32(id)
}

// NewNode builds a broker's cores; Start starts its controller.
func NewNode(cfg NodeConfig, env NodeEnv) *Node {
	return &Node{cfg: cfg, env: env,
		host:     newReplicaHost(replicaHostConfig{brokerID: cfg.ID, broker: cfg.Broker, tickEvery: cfg.TickEvery, fetch: true, log: cfg.Log}),
		ctrl:     newController(controllerConfig{brokerID: cfg.ID, broker: cfg.Broker, tickEvery: cfg.TickEvery, log: cfg.Log}),
		replicas: map[TopicPartition]*nodeReplica{}, fetchers: map[string]*nodeFetcher{}, md: emptyMetadata()}
}

// Start starts the controller (it competes for election).
func (n *Node) Start() { n.controllerEffects(n.ctrl.start()) }

// Stop is a clean shutdown: the controller resigns and every log is closed.
func (n *Node) Stop() {
	n.controllerEffects(n.ctrl.stop())
	for _, tp := range sortedTPs(n.replicas) {
		if r := n.replicas[tp]; r.core != nil {
			n.replicaEffects(tp, r.core.close(ErrStopped))
			_ = closeReplicaLog(r.core, n.cfg.Log)
		}
	}
	n.replicas = map[TopicPartition]*nodeReplica{}
}

func (n *Node) addr(kind AddrKind) Addr { return Addr{Broker: n.cfg.ID, Kind: kind} }

// Registered tells the node its broker epoch (its registration's czxid).
func (n *Node) Registered(epoch int64) {
	n.registered = epoch
	n.Deliver(n.addr(AddrHost), &brokerEpochChanged{epoch: epoch}, Addr{})
}

// Tick is one tick of the host and of the controller; nowMs is the wall
// clock the host passes to housekeeping.
func (n *Node) Tick(nowMs int64) {
	n.Deliver(n.addr(AddrHost), managerTick{nowMs: nowMs}, Addr{})
	n.Deliver(n.addr(AddrController), ctrlTick{}, Addr{})
}

// Deliver steps the actor at to with msg (sent by from) and carries out
// its effects. A message for an actor that no longer runs is dropped, but
// a request is refused the way the broker refuses it.
func (n *Node) Deliver(to Addr, msg any, from Addr) {
	switch to.Kind {
	case AddrHost:
		n.hostEffects(n.host.step(msg, from))
	case AddrController:
		n.controllerEffects(n.ctrl.step(msg, from))
	case AddrPartition:
		r := n.replicas[to.TP]
		if r == nil || r.core == nil {
			refuseRequest(msg, ErrNotLeader)
			return
		}
		n.replicaEffects(to.TP, r.core.step(msg, from))
	case AddrFetcher:
		f := n.fetchers[to.Key]
		if f == nil {
			return
		}
		if m, ok := msg.(*fetcherFetched); ok {
			m.sent, f.sent = f.sent, nil
		}
		n.fetcherEffects(to.Key, f.core.step(msg))
	}
}

// Results of the environment's calls.

// ZKDone delivers a ZooKeeper job's result to the controller.
func (n *Node) ZKDone(result any) { n.Deliver(n.addr(AddrController), result, Addr{}) }

// LinkDown reports that the remoting link from an actor of this node to
// addr went down.
func (n *Node) LinkDown(watcher Addr, addr string) { n.Deliver(watcher, linkDown{addr: addr}, Addr{}) }

// Connected reports a fetcher's dial.
func (n *Node) Connected(fetcher Addr, err error) {
	n.Deliver(fetcher, &fetcherConnected{err: err}, Addr{})
}

// FetchDone reports a fetcher's fetch.
func (n *Node) FetchDone(fetcher Addr, parts []FetchedPartition, err error) {
	n.Deliver(fetcher, &fetcherFetched{parts: parts, err: err}, Addr{})
}

// EpochsDone reports a fetcher's OffsetForLeaderEpoch.
func (n *Node) EpochsDone(fetcher Addr, answers []EpochAnswer, err error) {
	n.Deliver(fetcher, &fetcherEpochs{answers: answers, err: err}, Addr{})
}

// SyncDone reports a partition's background fsync.
func (n *Node) SyncDone(partition Addr, upTo int64, err error) {
	n.Deliver(partition, &syncDone{upTo: upTo, err: err}, Addr{})
}

// ControlledShutdown is the message a broker sends its controller before
// it stops (the answer comes back to from).
func ControlledShutdown(id int32, epoch int64) any {
	return &messages.ControlledShutdownRequest{BrokerId: id, BrokerEpoch: epoch}
}

// --- effects --------------------------------------------------------------------

func (n *Node) hostEffects(effects []effect) {
	self := n.addr(AddrHost)
	for _, e := range effects {
		switch e := e.(type) {
		case spawnReplica:
			n.spawn(e)
		case toReplica:
			n.env.Send(self, Addr{Broker: n.cfg.ID, Kind: AddrPartition, TP: e.tp}, e.msg)
		case stopReplica:
			n.stopReplica(e)
		case startFetcher:
			n.fetchers[e.key] = &nodeFetcher{core: newFetcher(e.cfg, n.host.brokerEpoch), leader: e.cfg.leader}
			n.env.Send(Addr{Broker: n.cfg.ID, Kind: AddrFetcher, Key: e.key}, self, &fetcherStarted{key: e.key})
		case toFetcher:
			n.env.Send(self, Addr{Broker: n.cfg.ID, Kind: AddrFetcher, Key: e.key}, e.msg)
		case stopFetcher:
			if f := n.fetchers[e.key]; f != nil {
				delete(n.fetchers, e.key)
				if len(f.core.stop()) > 0 {
					n.env.CloseConn(Addr{Broker: n.cfg.ID, Kind: AddrFetcher, Key: e.key})
				}
			}
		case publish:
			n.md = e.md
		case toController:
			n.env.Send(self, Addr{Broker: e.to.Id, Kind: AddrController}, e.msg)
		case reply:
			n.env.Send(self, e.to.(Addr), e.msg)
		case toPeer:
			n.env.Send(self, Addr{Broker: brokerOfAddress(e.addr), Kind: AddrHost}, e.msg)
		case reportLoad:
			// The simulator models no disk usage or traffic rates; its
			// controller plans by replica counts alone.
		case watchLink:
			n.env.Watch(self, e.addr)
		default:
			panic(fmt.Sprintf("actors: unknown replica host effect %T", e))
		}
	}
}

// spawn opens a partition's log, as the partition actor does when it
// starts, and tells the host (through the environment: a message).
func (n *Node) spawn(e spawnReplica) {
	log := n.cfg.Log.With().Str("topic", e.tp.Topic).Int32("partition", e.tp.Partition).Logger()
	env := &replicaEnv{brokerID: n.cfg.ID, dataDir: n.cfg.DataDir, fs: n.cfg.FS, broker: n.cfg.Broker,
		tickEvery: n.cfg.TickEvery * partitionTickRatio, clock: n.cfg.Clock, log: log}
	core := openReplica(e.tp, env, e.cfg, log)
	n.replicas[e.tp] = &nodeReplica{core: core, inc: e.inc}
	var err error
	if core == nil {
		err = ErrReplicaNotAvailable
	}
	n.env.Send(Addr{Broker: n.cfg.ID, Kind: AddrPartition, TP: e.tp}, n.addr(AddrHost), &replicaStarted{tp: e.tp, inc: e.inc, err: err})
}

func (n *Node) stopReplica(e stopReplica) {
	r := n.replicas[e.tp]
	delete(n.replicas, e.tp)
	var err error
	if r != nil && r.core != nil {
		n.replicaEffects(e.tp, r.core.close(ErrStopped))
		if e.delete {
			err = r.core.data.Delete()
		} else {
			err = closeReplicaLog(r.core, n.cfg.Log)
		}
	} else if e.delete {
		err = n.cfg.FS.RemoveAll(partitionDir(n.cfg.DataDir, e.tp))
	}
	if e.delete {
		n.env.Send(Addr{Broker: n.cfg.ID, Kind: AddrPartition, TP: e.tp}, n.addr(AddrHost), &replicaStopped{stop: e.stop, tp: e.tp, err: err})
	}
}

func (n *Node) replicaEffects(tp TopicPartition, effects []effect) {
	self := Addr{Broker: n.cfg.ID, Kind: AddrPartition, TP: tp}
	for _, e := range effects {
		switch e := e.(type) {
		case answer:
			e.deliver()
		case reply:
			if to, ok := e.to.(Addr); ok {
				n.env.Send(self, to, e.msg)
			}
		case wake:
			wakeAll(e.notify)
		case proposeISR:
			n.env.Send(self, n.addr(AddrHost), e.req)
		case *startSync:
			n.env.Sync(self, e.upTo, e.sync)
		default:
			panic(fmt.Sprintf("actors: unknown replica effect %T", e))
		}
	}
}

func (n *Node) fetcherEffects(key string, effects []effect) {
	self := Addr{Broker: n.cfg.ID, Kind: AddrFetcher, Key: key}
	f := n.fetchers[key]
	for _, e := range effects {
		switch e := e.(type) {
		case ask:
			n.env.Send(self, Addr{Broker: n.cfg.ID, Kind: AddrPartition, TP: e.tp}, e.msg)
		case dialLeader:
			n.env.Dial(self, f.leader)
		case sendFetch:
			f.sent = e.sent
			n.env.Fetch(self, f.leader, e.req)
		case sendEpochs:
			n.env.Epochs(self, f.leader, e.qs)
		case closeConn:
			n.env.CloseConn(self)
		default:
			panic(fmt.Sprintf("actors: unknown fetcher effect %T", e))
		}
	}
}

func (n *Node) controllerEffects(effects []effect) {
	self := n.addr(AddrController)
	n.observeSuspects()
	for _, e := range effects {
		switch e := e.(type) {
		case zkCall:
			if d, ok := e.job.(*deposeJob); ok && n.cfg.Observer != nil {
				n.cfg.Observer.Deposing(d.holder)
			}
			n.env.ZK(self, ZKJob{job: e.job})
		case planCall:
			n.env.ZK(self, ZKJob{job: e.job}) // scheduled like a ZooKeeper job; it does not touch the store
		case toBroker:
			n.env.Send(self, Addr{Broker: e.to.ID, Kind: AddrHost}, e.msg)
		case watchLink:
			n.env.Watch(self, e.addr)
		case reply:
			if to, ok := e.to.(Addr); ok {
				n.env.Send(self, to, e.msg)
			}
		default:
			panic(fmt.Sprintf("actors: unknown controller effect %T", e))
		}
	}
}

// observeSuspects tells the observer of brokers the controller newly holds
// for failed.
func (n *Node) observeSuspects() {
	if n.cfg.Observer == nil {
		return
	}
	var now map[int32]int64
	if n.ctrl.role == roleActive && n.ctrl.view != nil {
		now = n.ctrl.view.suspects
	}
	for _, id := range sortedKeys(now) {
		if _, ok := n.suspected[id]; !ok {
			n.cfg.Observer.Suspected(id)
		}
	}
	n.suspected = maps.Clone(now)
}

// --- what the simulator reads ------------------------------------------------------

// Metadata is the broker's metadata cache as its host last published it.
func (n *Node) Metadata() *Metadata { return n.md }

// Hosts reports whether a replica of tp runs here (with its log open).
func (n *Node) Hosts(tp TopicPartition) bool {
	r := n.replicas[tp]
	return r != nil && r.core != nil
}

// ReplicaState is what a replica reports of itself, for the simulator's
// checker.
type ReplicaState struct {
	Leader         bool
	LeaderEpoch    int32
	ISR            []int32
	HighWatermark  int64
	LogStartOffset int64
	LogEndOffset   int64
}

// Replica returns a replica's state (false when none runs here).
func (n *Node) Replica(tp TopicPartition) (ReplicaState, bool) {
	r := n.replicas[tp]
	if r == nil || r.core == nil {
		return ReplicaState{}, false
	}
	c := r.core
	return ReplicaState{Leader: c.role == roleLeader, LeaderEpoch: c.leaderEpoch, ISR: append([]int32(nil), c.isr...),
		HighWatermark: c.hw, LogStartOffset: c.data.LogStartOffset(), LogEndOffset: c.data.LogEndOffset()}, true
}

// ReadLog returns a replica's batches from offset from up to the log end,
// as stored.
func (n *Node) ReadLog(tp TopicPartition, from int64) ([]byte, error) {
	r := n.replicas[tp]
	if r == nil || r.core == nil {
		return nil, fmt.Errorf("actors: no replica of %s on broker %d", tp, n.cfg.ID)
	}
	d := r.core.data
	var out []byte
	for off := max(from, d.LogStartOffset()); off < d.LogEndOffset(); {
		reg, err := d.Read(off, 1<<20, d.LogEndOffset(), true)
		if err != nil {
			return nil, err
		}
		if reg.Len() == 0 {
			break
		}
		if out, err = reg.AppendTo(out); err != nil {
			return nil, err
		}
		off = reg.NextOffset()
	}
	return out, nil
}

// IsController reports whether this broker's controller is active.
func (n *Node) IsController() bool { return n.ctrl.role == roleActive && n.ctrl.loaded }

// Partitions lists the partitions with a replica here.
func (n *Node) Partitions() []TopicPartition { return sortedTPs(n.replicas) }

// Debug describes the node's cores for a simulator's trace.
func (n *Node) Debug() string {
	var b strings.Builder
	fmt.Fprintf(&b, "broker %d: epoch %d, controller role %d loaded %v", n.cfg.ID, n.host.brokerEpoch, n.ctrl.role, n.ctrl.loaded)
	for _, tp := range sortedTPs(n.replicas) {
		r := n.replicas[tp]
		if r.core == nil {
			fmt.Fprintf(&b, "\n  %s: log not open", tp)
			continue
		}
		c := r.core
		fmt.Fprintf(&b, "\n  %s: %s epoch %d leader %d isr %v hw %d leo %d", tp, c.role, c.leaderEpoch, c.leaderID, c.isr, c.hw, c.data.LogEndOffset())
		if c.role == roleLeader {
			fmt.Fprintf(&b, " maximal %v pending %d", c.maximalISR(), len(c.pending))
			if c.alter != nil {
				fmt.Fprintf(&b, " proposing %v over partition epoch %d", c.alter.isr, c.alter.base)
			}
			for _, id := range sortedKeys(c.followers) {
				f := c.followers[id]
				fmt.Fprintf(&b, " [f%d leo %d caught-up %d epoch %d]", id, f.leo, f.lastCaughtUp, f.brokerEpoch)
			}
		}
	}
	for _, key := range sortedKeys(n.fetchers) {
		f := n.fetchers[key].core
		fmt.Fprintf(&b, "\n  fetcher %s: connected %v dialing %v in flight %v retry at %d (now %d)", key, f.connected, f.dialing, f.inFlight, f.retryAt, f.ticks)
		for _, tp := range sortedTPs(f.parts) {
			st := f.parts[tp]
			fmt.Fprintf(&b, " [%s e%d phase %d off %d busy %v]", tp, st.leaderEpoch, st.phase, st.offset, st.busy)
		}
	}
	if n.ctrl.channels != nil {
		for _, id := range sortedKeys(n.ctrl.channels) {
			ch := n.ctrl.channels[id]
			fmt.Fprintf(&b, "\n  channel to %d (epoch %d): %d states pending since %d, metadata sent v%d at %d acked v%d (tick %d)",
				id, ch.epoch, len(ch.pending), ch.sentAt, ch.mdSent, ch.mdSentAt, ch.mdAcked, n.ctrl.ticks)
		}
	}
	fmt.Fprintf(&b, "\n  metadata c%d v%d controller %d brokers %v:", n.host.mdEpoch, n.host.mdVersion, n.md.ControllerID, sortedKeys(n.md.Brokers))
	for _, name := range sortedKeys(n.md.Topics) {
		for _, p := range n.md.Topics[name].Partitions {
			if p != nil {
				fmt.Fprintf(&b, " %s-%d:L%d/e%d", name, p.Partition, p.Leader, p.LeaderEpoch)
			}
		}
	}
	for _, tp := range sortedTPs(n.host.alters) {
		a := n.host.alters[tp]
		fmt.Fprintf(&b, "\n  alter pending %s e%d v%d %v (sent to %s)", tp, a.LeaderEpoch, a.PartitionEpoch, a.NewIsr(), n.host.alterTo)
	}
	return b.String()
}
