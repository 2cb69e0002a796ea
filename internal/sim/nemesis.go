package sim

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/troupe-mq/troupe/actors"
	"github.com/troupe-mq/troupe/cluster"
)

// NemesisConfig selects the faults a run may draw.
type NemesisConfig struct {
	Crash, PowerLoss, Pause, Partition, ZKOutage, ZKLoss, ZKExpiry bool
	ControllerMove, ControlledShutdown, AddPartitions              bool
	// TopicChurn creates topics and deletes them again.
	TopicChurn bool
	// PreferredElections turns on auto.leader.rebalance.enable (every 7 s).
	PreferredElections bool
	// SlowNetwork adds up to 30 ms to messages between brokers at times.
	SlowNetwork bool
	// Reassign moves partitions (KIP-455), changing their replication
	// factor between 2 and 3, and cancels moves under way.
	Reassign bool
	// Balance turns on the controller's automatic balancer
	// (auto.rebalance.enable), with a removal grace of 20 s and a settle
	// time of 3 s, so that it re-creates the replicas of brokers held down
	// and balances the ones that come back.
	Balance bool
}

// AllFaults enables every fault.
func AllFaults() NemesisConfig {
	return NemesisConfig{Crash: true, PowerLoss: true, Pause: true, Partition: true, ZKOutage: true, ZKLoss: true, ZKExpiry: true,
		ControllerMove: true, ControlledShutdown: true, AddPartitions: true, TopicChurn: true, PreferredElections: true, SlowNetwork: true, Reassign: true, Balance: true}
}

// nemesis draws the fault schedule from the world's random source.
type nemesis struct {
	w     *World
	count int
	// down counts brokers the nemesis holds down or frozen, so that at
	// most a minority is out at once (a run in which no quorum of ISR is
	// ever whole proves little).
	down map[int32]bool
	// added: partitions were added once.
	added bool
	// decommissioned is the broker marked broker.decommissioned (0: none).
	decommissioned int32
	// powerLossRun: this run may cut power (drawn once per run).
	powerLossRun bool
	// churned are the topics created and deleted again.
	churned []string
}

type fault struct {
	name   string
	weight int
	on     bool
	do     func()
}

func newNemesis(w *World) *nemesis {
	n := &nemesis{w: w, down: map[int32]bool{}}
	n.powerLossRun = w.cfg.Nemesis.PowerLoss && w.chance(0.4)
	return n
}

// start schedules the first fault.
func (n *nemesis) start() {
	n.w.after(n.w.jitter(500*time.Millisecond, 2*time.Second), "nemesis", n.step)
}

func (n *nemesis) step() {
	w := n.w
	if w.now >= w.cfg.FaultTime {
		return
	}
	cfg := w.cfg.Nemesis
	faults := []fault{
		{"crash", 4, cfg.Crash, func() { n.crash(false) }},
		{"power loss", 2, cfg.PowerLoss && n.powerLossRun, func() { n.crash(true) }},
		{"pause", 3, cfg.Pause, n.pause},
		{"partition", 4, cfg.Partition, n.partition},
		{"zk outage", 2, cfg.ZKOutage, n.zkOutage},
		{"zk lost replies", 3, cfg.ZKLoss, n.zkLoss},
		{"zk session expiry", 1, cfg.ZKExpiry, n.zkExpiry},
		{"controller move", 2, cfg.ControllerMove, n.controllerMove},
		{"controlled shutdown", 2, cfg.ControlledShutdown, n.controlledShutdown},
		{"add partitions", 1, cfg.AddPartitions && !n.added, n.addPartitions},
		{"topic churn", 1, cfg.TopicChurn && len(n.churned) < 4, n.topicChurn},
		{"slow network", 1, cfg.SlowNetwork, n.slowNetwork},
		// Last, so that runs without it draw exactly as before it existed.
		{"reassign", 3, cfg.Reassign, n.reassign},
		// Last again, for the same reason: only with the balancer.
		{"decommission", 1, cfg.Balance && n.decommissioned == 0, n.decommission},
	}
	total := 0
	for _, f := range faults {
		if f.on {
			total += f.weight
		}
	}
	if total > 0 {
		pick := w.rng.IntN(total)
		for _, f := range faults {
			if !f.on {
				continue
			}
			if pick < f.weight {
				n.count++
				f.do()
				break
			}
			pick -= f.weight
		}
	}
	w.after(w.jitter(300*time.Millisecond, 2500*time.Millisecond), "nemesis", n.step)
}

// pick returns a random broker the nemesis may take out (nil: a majority
// is out already).
func (n *nemesis) pick() *simBroker {
	w := n.w
	if len(n.down) >= (len(w.brokers)-1)/2 {
		return nil
	}
	var cands []*simBroker
	for _, b := range w.brokers {
		if b.up() && !n.down[b.id] && !b.stopping {
			cands = append(cands, b)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	return cands[w.rng.IntN(len(cands))]
}

func (n *nemesis) hold(b *simBroker, d time.Duration, what string, undo func()) {
	n.down[b.id] = true
	n.w.after(d, what, func() {
		delete(n.down, b.id)
		undo()
	})
}

func (n *nemesis) crash(powerLoss bool) {
	b := n.pick()
	if b == nil {
		return
	}
	if powerLoss {
		n.w.hist.powerLoss = true
	}
	b.crash(powerLoss)
	n.hold(b, n.w.jitter(500*time.Millisecond, 8*time.Second), "restart", func() {
		if b.node == nil {
			b.start()
		}
	})
}

func (n *nemesis) pause() {
	b := n.pick()
	if b == nil {
		return
	}
	b.pause()
	// Sometimes past the session timeout.
	n.hold(b, n.w.jitter(500*time.Millisecond, 10*time.Second), "resume", b.resume)
}

func (n *nemesis) partition() {
	w := n.w
	ids := n.ids()
	a := ids[w.rng.IntN(len(ids))]
	d := w.jitter(500*time.Millisecond, 8*time.Second)
	switch w.rng.IntN(3) {
	case 0: // isolate a from every other broker
		var cut [][2]int32
		for _, o := range ids {
			if o != a {
				cut = append(cut, [2]int32{a, o}, [2]int32{o, a})
			}
		}
		n.cut(cut, d, fmt.Sprintf("isolate b%d", a))
	case 1: // one two-way link
		o := n.other(a, ids)
		n.cut([][2]int32{{a, o}, {o, a}}, d, fmt.Sprintf("cut b%d<->b%d", a, o))
	default: // one way
		o := n.other(a, ids)
		n.cut([][2]int32{{a, o}}, d, fmt.Sprintf("cut b%d->b%d", a, o))
	}
}

func (n *nemesis) cut(links [][2]int32, d time.Duration, what string) {
	w := n.w
	w.tracef("nemesis: %s for %v", what, d)
	for _, l := range links {
		w.net.setCut(l[0], l[1], true)
	}
	w.after(d, "heal "+what, func() {
		for _, l := range links {
			w.net.setCut(l[0], l[1], false)
		}
	})
}

func (n *nemesis) ids() []int32 {
	var ids []int32
	for _, b := range n.w.brokers {
		ids = append(ids, b.id)
	}
	return ids
}

func (n *nemesis) other(a int32, ids []int32) int32 {
	others := slices.DeleteFunc(slices.Clone(ids), func(id int32) bool { return id == a })
	return others[n.w.rng.IntN(len(others))]
}

func (n *nemesis) zkOutage() {
	w := n.w
	b := w.brokers[w.rng.IntN(len(w.brokers))]
	if !b.up() || b.zkMode != zkOK {
		return
	}
	d := w.jitter(500*time.Millisecond, 4*time.Second)
	w.tracef("nemesis: b%d cut from zookeeper for %v", b.id, d)
	b.setZK(zkDown)
	w.after(d, "zk back", func() { b.setZK(zkOK) })
}

func (n *nemesis) zkLoss() {
	w := n.w
	var targets []*simBroker
	if w.chance(0.5) {
		targets = w.brokers
	} else {
		targets = []*simBroker{w.brokers[w.rng.IntN(len(w.brokers))]}
	}
	d := w.jitter(time.Second, 6*time.Second)
	for _, b := range targets {
		if b.zkMode != zkOK {
			continue
		}
		w.tracef("nemesis: b%d loses zookeeper replies for %v", b.id, d)
		b.zkMode = zkLossy
		w.after(d, "zk replies back", func() {
			if b.zkMode == zkLossy {
				b.zkMode = zkOK
			}
		})
	}
}

func (n *nemesis) zkExpiry() {
	w := n.w
	b := w.brokers[w.rng.IntN(len(w.brokers))]
	if !b.up() {
		return
	}
	w.tracef("nemesis: expire b%d's zookeeper session", b.id)
	b.zs.sess.Expire()
	// The client learns at once (connected): a new session, registered again.
	b.setZKReachable()
}

func (n *nemesis) controllerMove() {
	w := n.w
	id, err := w.zk.admin.ControllerID()
	if err != nil || id < 0 {
		return
	}
	w.tracef("nemesis: depose controller b%d", id)
	_ = w.zk.admin.DeposeController(id)
}

func (n *nemesis) controlledShutdown() {
	b := n.pick()
	if b == nil {
		return
	}
	n.down[b.id] = true
	w := n.w
	b.shutdown(func() {
		w.after(w.jitter(500*time.Millisecond, 5*time.Second), "restart", func() {
			delete(n.down, b.id)
			if b.node == nil {
				b.start()
			}
		})
	})
}

func (n *nemesis) addPartitions() {
	w := n.w
	n.added = true
	t := w.cfg.Topics[0]
	info, err := w.zk.admin.Topic(t.Name)
	if err != nil {
		return
	}
	p := int32(len(info.Partitions))
	ids := n.ids()
	var replicas []int32
	for i := 0; i < t.RF; i++ {
		replicas = append(replicas, ids[(int(p)+i)%len(ids)])
	}
	w.tracef("nemesis: add partition %s-%d on %v", t.Name, p, replicas)
	if err := w.zk.admin.AddPartitions(t.Name, map[int32][]int32{p: replicas}); err != nil {
		w.tracef("nemesis: add partitions: %v", err)
		return
	}
	w.clients.addPartition(actors.TopicPartition{Topic: t.Name, Partition: p}, !t.Unclean)
}

// topicChurn creates a topic and deletes it a few seconds later: every
// replica must go (none brought back by a resent LeaderAndIsr), on every
// broker, once the deletion can finish.
func (n *nemesis) topicChurn() {
	w := n.w
	name := fmt.Sprintf("churn-%d", len(n.churned))
	n.churned = append(n.churned, name)
	ids := n.ids()
	assign := map[int32][]int32{0: ids[:3], 1: {ids[1], ids[2], ids[0]}}
	w.tracef("nemesis: create topic %s", name)
	if _, err := w.zk.admin.CreateTopic(name, assign, nil); err != nil {
		w.tracef("nemesis: create topic %s: %v", name, err)
		return
	}
	w.after(w.jitter(500*time.Millisecond, 6*time.Second), "delete "+name, func() {
		w.tracef("nemesis: delete topic %s", name)
		if err := w.zk.admin.MarkTopicForDeletion(name); err != nil {
			w.tracef("nemesis: delete topic %s: %v", name, err)
		}
	})
}

// reassign asks for a partition of the configured topics to move: to two
// random brokers when it has three replicas, to all three (in a random
// order) when it has two; now and then it cancels the move instead.
func (n *nemesis) reassign() {
	w := n.w
	t := w.cfg.Topics[w.rng.IntN(len(w.cfg.Topics))]
	info, err := w.zk.admin.Topic(t.Name)
	if err != nil {
		return
	}
	p := int32(w.rng.IntN(len(info.Partitions)))
	r := cluster.Reassignment{Topic: t.Name, Partition: p}
	if len(info.AddingReplicas[p]) == 0 && len(info.RemovingReplicas[p]) == 0 || w.chance(0.7) {
		ids := n.ids()
		w.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		cur := slices.DeleteFunc(slices.Clone(info.Partitions[p]), func(id int32) bool { return slices.Contains(info.AddingReplicas[p], id) })
		if len(cur) >= 3 {
			ids = ids[:2]
		}
		r.Replicas = ids
	}
	w.tracef("nemesis: reassign %s-%d to %v (empty: cancel)", t.Name, p, r.Replicas)
	if err := w.zk.admin.SubmitReassignments([]cluster.Reassignment{r}); err != nil {
		w.tracef("nemesis: reassign: %v", err)
	}
}

// decommission marks a broker broker.decommissioned (a dynamic broker
// config, as `troupe cluster decommission` sets it) for a few seconds: the
// balancer drains it where the replication factors allow (with RF 3 on
// three brokers they do not: the planner refuses and nothing moves), and
// fills it again once the mark is gone.
func (n *nemesis) decommission() {
	w := n.w
	id := w.brokers[w.rng.IntN(len(w.brokers))].id
	d := w.jitter(3*time.Second, 12*time.Second)
	w.tracef("nemesis: decommission b%d for %v", id, d)
	n.setDecommissioned(id, true)
	w.after(d, "recommission", func() { n.setDecommissioned(id, false) })
}

func (n *nemesis) setDecommissioned(id int32, on bool) {
	w := n.w
	entity := strconv.Itoa(int(id))
	cfg := map[string]string{}
	if on {
		cfg["broker.decommissioned"] = "true"
		n.decommissioned = id
	} else if n.decommissioned == id {
		n.decommissioned = 0
	} else {
		return
	}
	if err := w.zk.admin.SetBrokerConfig(entity, cfg); err != nil {
		w.tracef("nemesis: broker config of b%d: %v", id, err)
	}
}

func (n *nemesis) slowNetwork() {
	w := n.w
	d := w.jitter(time.Second, 5*time.Second)
	w.tracef("nemesis: slow network for %v", d)
	w.net.slow = 30 * time.Millisecond
	w.after(d, "network fast again", func() { w.net.slow = 0 })
}

// heal ends every fault: brokers restarted or thawed, links and ZooKeeper
// restored.
func (n *nemesis) heal() {
	w := n.w
	w.tracef("nemesis: heal")
	if n.decommissioned != 0 {
		n.setDecommissioned(n.decommissioned, false)
	}
	w.net.heal()
	for _, b := range w.brokers {
		b.zkMode = zkOK
		switch {
		case b.node == nil:
			b.start()
		case b.paused:
			b.resume()
		default:
			b.setZKReachable()
		}
	}
	clear(n.down)
}

// --- the run's set-up and ending ------------------------------------------------------

// setup starts the brokers and creates the topics; clients and the nemesis
// start once every partition has a leader.
func (w *World) setup() {
	for _, b := range w.brokers {
		b.start()
	}
	w.after(time.Second, "create topics", w.createTopics)
	w.after(w.cfg.FaultTime, "heal", func() {
		w.nemesis.heal()
		w.after(10*time.Second, "stop producers", func() { w.clients.stopped = true })
		w.after(11*time.Second, "converge", w.awaitConvergence)
	})
	w.after(time.Second, "zk sessions", w.zkTick)
}

// zkTick is the server side of the sessions: expiries (of dead
// processes' sessions too).
func (w *World) zkTick() {
	w.zk.sessions = slices.DeleteFunc(w.zk.sessions, func(s *zkSession) bool {
		s.tick()
		return s.dead && s.expired || s.closed
	})
	w.after(100*time.Millisecond, "zk sessions", w.zkTick)
}

func (w *World) createTopics() {
	ids := make([]int32, len(w.brokers))
	for i, b := range w.brokers {
		ids[i] = b.id
	}
	for ti, t := range w.cfg.Topics {
		assign := map[int32][]int32{}
		for p := 0; p < t.Partitions; p++ {
			var r []int32
			for i := 0; i < t.RF; i++ {
				r = append(r, ids[(ti+p+i)%len(ids)])
			}
			assign[int32(p)] = r
		}
		cfg := map[string]string{"min.insync.replicas": fmt.Sprint(t.MinISR)}
		if t.FlushMessages {
			cfg["flush.messages"] = "1"
		}
		if t.Unclean {
			cfg["unclean.leader.election.enable"] = "true"
		}
		if _, err := w.zk.admin.CreateTopic(t.Name, assign, cfg); err != nil {
			w.fail("create topic %s: %v", t.Name, err)
			return
		}
	}
	w.after(2*time.Second, "start clients", func() {
		w.clients.start()
		w.nemesis.start()
	})
}

// awaitConvergence polls until the cluster is whole again, then runs the
// final checks; past the heal time it is a liveness failure.
func (w *World) awaitConvergence() {
	ok, why := w.converged()
	if ok {
		w.tracef("converged")
		w.check()
		w.done = true
		return
	}
	if w.now > w.cfg.FaultTime+w.cfg.HealTime {
		w.fail("liveness: %v after the faults stopped the cluster has not converged: %s", w.cfg.HealTime, why)
		return
	}
	w.after(500*time.Millisecond, "converge", w.awaitConvergence)
}

// topics lists the topics as ZooKeeper holds them.
func (w *World) topics() []topicNow {
	var out []topicNow
	for _, t := range w.cfg.Topics {
		info, err := w.zk.admin.Topic(t.Name)
		if err != nil {
			continue
		}
		moving := map[int32]bool{}
		for p, r := range info.AddingReplicas {
			if len(r) > 0 || len(info.RemovingReplicas[p]) > 0 {
				moving[p] = true
			}
		}
		for p, r := range info.RemovingReplicas {
			if len(r) > 0 {
				moving[p] = true
			}
		}
		out = append(out, topicNow{Name: t.Name, Partitions: info.Partitions, FlushMessages: t.FlushMessages, Moving: moving})
	}
	return out
}

type topicNow struct {
	Name          string
	Partitions    map[int32][]int32
	FlushMessages bool
	// Moving are partitions with a reassignment in progress.
	Moving map[int32]bool
}
