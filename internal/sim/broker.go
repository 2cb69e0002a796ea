package sim

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/troupe-mq/troupe/actors"
	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/storage"
)

// A simulated broker: its disk, its process incarnations (an actors.Node
// each), its ZooKeeper connection and registration, and the NodeEnv its
// node runs in: messages go through the network, ZooKeeper jobs run one
// at a time on the broker's connection, fsyncs and fetches take time.

const dataDir = "/data"

type simBroker struct {
	w  *World
	id int32
	fs *storage.MemFS
	// node is the running process (nil: down); inc numbers incarnations,
	// so events for a dead one are dropped.
	node *actors.Node
	inc  int
	// paused: the process is frozen (SIGSTOP): nothing it receives is
	// handled until it resumes, and its ZooKeeper session goes silent.
	paused bool
	held   []func()
	// stopping: a controlled shutdown is under way; shutdownDone finishes
	// it when the controller answers.
	stopping     bool
	shutdownDone func()
	// regStarted: the node's controller was started (after the first
	// registration of this process); registering: a retry is scheduled.
	regStarted  bool
	registering bool

	zs     *zkSession
	zkMode zkMode
	// regEpoch is the broker epoch of the current registration (0: not
	// registered); regSession the session it was made under.
	regEpoch   int64
	regSession int64
	// dirID identifies the data directory (meta.properties): a
	// registration carrying it was left by a previous process on this disk.
	dirID string
	// backAt is when the broker last came back from a crash, a stop or a
	// freeze (wasDown: it ever was down).
	backAt  time.Duration
	wasDown bool
	// reregAt is when the broker last registered anew without restarting
	// (its session had expired): the incarnation others knew ended then.
	reregAt   time.Duration
	reregOnce bool

	zkJobs []actors.ZKJob
	zkBusy bool

	watches []*remoteWatch
	conns   map[string]*fetchConn
	// pending are gateway requests waiting for a partition's answer.
	pending map[actors.TopicPartition][]*pendingReply
}

// remoteWatch is a remoting watch one of this broker's actors holds.
type remoteWatch struct {
	watcher actors.Addr
	target  int32
	// targetInc is the incarnation the watch connected to (0: the target
	// was unreachable when watched).
	targetInc int
	done      bool
}

// fetchConn is a fetcher's connection to its leader's listener.
type fetchConn struct {
	gen       int
	leader    int32
	leaderInc int
	up        bool
	// inFlight fails the call in flight (nil: none).
	inFlight func()
}

// pendingReply is a request handed to a partition whose answer the
// gateway waits for: check reports whether it came (and handles it).
type pendingReply struct {
	check func() bool
}

func newSimBroker(w *World, id int32) *simBroker {
	return &simBroker{w: w, id: id, fs: storage.NewMemFS(), dirID: fmt.Sprintf("dir-%d-%d", id, w.rng.Uint32()),
		conns: map[string]*fetchConn{}, pending: map[actors.TopicPartition][]*pendingReply{}}
}

func (w *World) broker(id int32) *simBroker {
	if id < 1 || int(id) > len(w.brokers) {
		return nil
	}
	return w.brokers[id-1]
}

// alive: a process runs (paused or not).
func (b *simBroker) alive() bool { return b.node != nil }

// up: a process runs and is not frozen.
func (b *simBroker) up() bool { return b.node != nil && !b.paused }

func (b *simBroker) addr(kind actors.AddrKind) actors.Addr {
	return actors.Addr{Broker: b.id, Kind: kind}
}

// --- lifecycle -------------------------------------------------------------------

// start starts a process on the broker's disk.
func (b *simBroker) start() {
	w := b.w
	b.inc++
	b.paused, b.held, b.stopping = false, nil, false
	b.regEpoch, b.regSession, b.registering = 0, 0, false
	b.zkJobs, b.zkBusy = nil, false
	b.watches = nil
	b.conns = map[string]*fetchConn{}
	b.pending = map[actors.TopicPartition][]*pendingReply{}
	b.zs = w.zk.newSession(b)
	b.backAt = w.now
	b.node = actors.NewNode(actors.NodeConfig{ID: b.id, DataDir: dataDir, FS: b.fs, Broker: w.brokerCfg, TickEvery: tickEvery,
		Clock: w.Now, Log: w.logger(b.id), Observer: observer{b}}, &nodeEnv{b: b, inc: b.inc})
	w.tracef("b%d start (incarnation %d, session 0x%x)", b.id, b.inc, b.zs.sess.SessionID())
	inc := b.inc
	b.register()
	// The ticks start at a broker-specific phase.
	w.after(w.jitter(0, tickEvery), "tick", func() { b.tick(inc) })
}

func (b *simBroker) tick(inc int) {
	if b.inc != inc || b.node == nil {
		return
	}
	b.w.after(tickEvery, "tick", func() { b.tick(inc) })
	if b.paused {
		return
	}
	b.node.Tick(b.w.Now().UnixMilli())
	b.pollAll()
}

// register creates the broker's registration, as Registration does: a node
// of another live session is waited out, one of this disk's previous
// process is replaced at once (bug 10's proof of a dead predecessor).
func (b *simBroker) register() {
	w, inc := b.w, b.inc
	if b.node == nil {
		return
	}
	retry := func() {
		b.registering = true
		w.after(500*time.Millisecond, "register", func() {
			if b.inc == inc {
				b.registering = false
				b.register()
			}
		})
	}
	if b.paused {
		retry()
		return
	}
	info := cluster.BrokerInfo{ID: b.id, Host: fmt.Sprintf("b%d", b.id), Port: 9092, ActorAddress: actors.ActorAddress(b.id),
		Timestamp: w.Now(), DirectoryID: b.dirID}
	s := b.zs.store
	res, err := s.RegisterOnce(info, nil)
	switch {
	case err == nil:
		if b.regStarted {
			b.reregAt, b.reregOnce = w.now, true
		}
		b.regEpoch, b.regSession = res.Epoch, res.SessionID
		w.tracef("b%d registered, broker epoch %d", b.id, res.Epoch)
		b.node.Registered(res.Epoch)
		if !b.regStarted {
			b.regStarted = true
			b.node.Start()
		}
		return
	case errors.Is(err, cluster.ErrDuplicateBrokerID):
		w.tracef("b%d registration held by another session; waiting", b.id)
	default:
		w.tracef("b%d registration failed: %v", b.id, err)
	}
	retry()
}

// crash kills the process: a process crash keeps what the page cache
// holds; a power loss keeps what was fsynced and, of a file's unsynced
// appends, a prefix of any length (the pages the disk wrote before the
// power went): often a torn batch at the end of a segment or index.
func (b *simBroker) crash(powerLoss bool) {
	w := b.w
	if b.node == nil {
		return
	}
	w.tracef("b%d crash (power loss: %v)", b.id, powerLoss)
	b.wasDown = true
	b.node = nil
	b.inc++
	b.zs.kill()
	b.regEpoch = 0
	b.regStarted = false
	if powerLoss {
		b.fs = b.fs.CrashCloneWith(tornTails(w.rng.Uint64()))
	}
	b.held = nil
	b.pending = map[actors.TopicPartition][]*pendingReply{}
	for _, o := range w.brokers {
		o.peerCrashed(b.id)
	}
	w.clients.brokerDown(b.id)
}

// pause freezes the process; resume thaws it.
func (b *simBroker) pause() {
	if !b.up() {
		return
	}
	b.w.tracef("b%d pause", b.id)
	b.paused, b.wasDown = true, true
	b.zs.setSilent(true)
	for _, o := range b.w.brokers {
		o.peerHung(b.id)
	}
}

func (b *simBroker) resume() {
	if b.node == nil || !b.paused {
		return
	}
	b.w.tracef("b%d resume", b.id)
	b.paused, b.backAt = false, b.w.now
	b.setZKReachable()
	held := b.held
	b.held = nil
	for _, fn := range held {
		if b.paused || b.node == nil {
			break
		}
		fn()
	}
}

// setZKReachable reconnects the broker's ZooKeeper client (when it is
// neither paused nor cut from the ensemble); a session the server expired
// meanwhile is replaced, and the broker registers again.
func (b *simBroker) setZKReachable() {
	if b.node == nil || b.paused || b.zkMode == zkDown {
		return
	}
	b.zs.setSilent(false)
	if b.regSession != 0 && b.zs.sess.SessionID() != b.regSession {
		b.w.tracef("b%d zk session renewed: registering again", b.id)
		b.regEpoch, b.regSession = 0, 0
	}
	if b.regEpoch == 0 && !b.registering {
		b.register()
	}
}

// setZK changes what the broker's ZooKeeper connection suffers.
func (b *simBroker) setZK(m zkMode) {
	b.zkMode = m
	if m == zkDown {
		b.zs.setSilent(true)
		return
	}
	b.setZKReachable()
}

// shutdown is a controlled shutdown: the controller is asked to move the
// broker's leaderships, then the process stops cleanly (its session is
// closed, so its registration goes at once).
func (b *simBroker) shutdown(then func()) {
	w := b.w
	if !b.up() || b.stopping {
		return
	}
	b.stopping = true
	inc := b.inc
	w.tracef("b%d controlled shutdown", b.id)
	finish := func() {
		if b.inc != inc || b.node == nil {
			return
		}
		w.tracef("b%d stops", b.id)
		b.wasDown = true
		b.node.Stop()
		_ = b.zs.sess.Close()
		b.zs.dead, b.zs.closed = true, true
		b.node = nil
		b.inc++
		b.regEpoch, b.regStarted = 0, false
		b.pending = map[actors.TopicPartition][]*pendingReply{}
		for _, o := range w.brokers {
			o.peerCrashed(b.id)
		}
		w.clients.brokerDown(b.id)
		if then != nil {
			then()
		}
	}
	md := b.node.Metadata()
	ctrl := md.ControllerID
	if ctrl < 0 {
		finish()
		return
	}
	b.shutdownDone = finish
	w.net.send(actors.Addr{Broker: b.id, Kind: actors.AddrClient, Key: "shutdown"}, actors.Addr{Broker: ctrl, Kind: actors.AddrController},
		actors.ControlledShutdown(b.id, b.regEpoch))
	// Like the real broker, it does not wait for ever.
	w.after(5*time.Second, "shutdown deadline", finish)
}

// --- delivery ----------------------------------------------------------------------

// deliver hands a message to one of this broker's actors (held while the
// process is frozen).
func (b *simBroker) deliver(to, msg any, from actors.Addr) {
	addr := to.(actors.Addr)
	if b.paused {
		b.held = append(b.held, func() { b.deliver(addr, msg, from) })
		return
	}
	if addr.Kind == actors.AddrClient {
		if addr.Key == "shutdown" && b.shutdownDone != nil {
			done := b.shutdownDone
			b.shutdownDone = nil
			done()
		}
		return
	}
	b.w.tracef("%s <- %s %s", addr, from, lazy(describe, msg))
	b.node.Deliver(addr, msg, from)
	switch addr.Kind {
	case actors.AddrPartition:
		b.poll(addr.TP)
	case actors.AddrHost:
		b.pollAll()
	}
}

// poll runs the checks of requests waiting on a partition.
func (b *simBroker) poll(tp actors.TopicPartition) {
	list := b.pending[tp]
	if len(list) == 0 {
		return
	}
	kept := list[:0]
	for _, p := range list {
		if !p.check() {
			kept = append(kept, p)
		}
	}
	clear(list[len(kept):])
	if len(kept) == 0 {
		delete(b.pending, tp)
	} else {
		b.pending[tp] = kept
	}
}

func (b *simBroker) pollAll() {
	for _, tp := range sortedTPs(b.pending) {
		b.poll(tp)
	}
}

// wait registers a check on a partition's answer.
func (b *simBroker) wait(tp actors.TopicPartition, check func() bool) {
	b.pending[tp] = append(b.pending[tp], &pendingReply{check: check})
}

// --- remoting watches ---------------------------------------------------------------

// watch starts a remoting watch of the broker at addr for one of this
// broker's actors.
func (b *simBroker) watch(watcher actors.Addr, target int32) {
	w := b.w
	t := w.broker(target)
	if t == nil {
		return
	}
	rw := &remoteWatch{watcher: watcher, target: target}
	b.watches = append(b.watches, rw)
	if t.up() && w.net.reachable(b.id, target) && w.net.reachable(target, b.id) {
		rw.targetInc = t.inc
		return
	}
	// The endpoint retries the connection and then gives up.
	inc := b.inc
	w.after(connectGiveUp, "watch gave up", func() {
		if b.inc != inc || rw.done {
			return
		}
		if t.up() && w.net.reachable(b.id, target) && w.net.reachable(target, b.id) {
			rw.targetInc = t.inc
			return
		}
		b.fireWatch(rw)
	})
}

func (b *simBroker) fireWatch(rw *remoteWatch) {
	if rw.done || b.node == nil {
		return
	}
	rw.done = true
	b.watches = slices.DeleteFunc(b.watches, func(o *remoteWatch) bool { return o == rw })
	addr := actors.ActorAddress(rw.target)
	b.w.tracef("%s: link to b%d down", rw.watcher, rw.target)
	watcher := rw.watcher
	b.w.after(0, "link down", func() {
		b.deliverFn(func() { b.node.LinkDown(watcher, addr) })
	})
}

// deliverFn runs fn now, or when the process thaws.
func (b *simBroker) deliverFn(fn func()) {
	if b.node == nil {
		return
	}
	if b.paused {
		b.held = append(b.held, fn)
		return
	}
	fn()
	b.pollAll()
}

// peerCrashed: broker id died; watches on it see the reset soon (unless
// the link is cut: then only after the keepalive timeout).
func (b *simBroker) peerCrashed(id int32) {
	w := b.w
	inc := b.inc
	for _, rw := range b.watches {
		if rw.target != id || rw.done {
			continue
		}
		d := resetDelay
		if !w.net.reachable(id, b.id) || !w.net.reachable(b.id, id) {
			d = keepaliveTimeout
		}
		w.after(d, "reset", func() {
			if b.inc == inc {
				b.fireWatch(rw)
			}
		})
	}
	for _, key := range slices.Sorted(maps.Keys(b.conns)) {
		if c := b.conns[key]; c.leader == id && c.up {
			c.up = false
			b.connFailed(key, c, resetDelay)
		}
	}
}

// peerHung: broker id froze; watches on it time out unless it thaws.
func (b *simBroker) peerHung(id int32) {
	b.checkLinksLater()
}

// linkCut: some link was cut; watches over it time out unless it is restored.
func (b *simBroker) linkCut() { b.checkLinksLater() }

// checkLinksLater fires, after the keepalive timeout, the watches whose
// target is still hung or cut off from this broker.
func (b *simBroker) checkLinksLater() {
	w := b.w
	inc := b.inc
	w.after(keepaliveTimeout, "keepalive", func() {
		if b.inc != inc || b.node == nil {
			return
		}
		for _, rw := range slices.Clone(b.watches) {
			t := w.broker(rw.target)
			if rw.targetInc == 0 {
				// Still connecting: connected if the target is there now,
				// else the endpoint gives up in its own time.
				if t.up() && !t.paused && w.net.reachable(b.id, rw.target) && w.net.reachable(rw.target, b.id) {
					rw.targetInc = t.inc
				}
				continue
			}
			if t.inc != rw.targetInc || t.paused || !w.net.reachable(b.id, rw.target) || !w.net.reachable(rw.target, b.id) {
				b.fireWatch(rw)
			}
		}
		for _, key := range slices.Sorted(maps.Keys(b.conns)) {
			c := b.conns[key]
			t := w.broker(c.leader)
			if c.up && (t.inc != c.leaderInc || t.paused || !w.net.reachable(b.id, c.leader) || !w.net.reachable(c.leader, b.id)) {
				c.up = false
				b.connFailed(key, c, 0)
			}
		}
	})
}

// observer checks the liveness decisions of the broker's controller.
type observer struct{ b *simBroker }

func (o observer) Suspected(id int32) {
	w := o.b.w
	w.tracef("b%d controller holds b%d for failed", o.b.id, id)
	if !w.net.confirmed(o.b.id, id) {
		w.fail("controller b%d held b%d for failed on its own link's word (no other broker had trouble reaching it)", o.b.id, id)
	}
}

func (o observer) Deposing(id int32) {
	w := o.b.w
	w.tracef("b%d deposes controller b%d", o.b.id, id)
	if !w.net.confirmed(o.b.id, id) {
		w.fail("b%d deposed controller b%d on its own link's word (no other broker had trouble reaching it)", o.b.id, id)
	}
}

// tornTails returns a CrashCloneWith keep function: each file keeps its
// synced contents plus a prefix, drawn per file, of what was appended
// since. It draws from the file's path and seed, not from the world's
// source, since files are visited in map order.
func tornTails(seed uint64) func(path string, synced, current []byte) []byte {
	return func(path string, synced, current []byte) []byte {
		if len(current) <= len(synced) || !bytes.HasPrefix(current, synced) {
			return synced // nothing appended (or rewritten since): the synced bytes
		}
		h := fnv.New64a()
		h.Write([]byte(path))
		r := rand.New(rand.NewPCG(seed, h.Sum64()))
		if r.IntN(2) == 0 {
			return synced
		}
		return current[:len(synced)+r.IntN(len(current)-len(synced)+1)]
	}
}
