package actors

import (
	"slices"
	"strconv"

	"github.com/troupe-mq/troupe/cluster"
)

// Automatic balancing (auto.rebalance.enable), run by the controller core.
//
// Once a second the balancer looks at the cluster; it plans only when the
// cluster is quiet and settled:
//   - no move is in flight or requested (moves change what a plan sees);
//   - it has been so for auto.rebalance.settle.ms, and every live broker
//     has been registered at least that long (a broker that just joined
//     gets replicas once it has stayed up);
//   - no broker that holds replicas is gone for less than
//     broker.removal.grace.ms: if it comes back sooner, nothing moves.
//
// Then the planner (cluster.PlanRebalance, pure) runs off the actor — a
// planCall effect, whose result comes back as a planned message — on
// the live brokers (those with broker.decommissioned set, and brokers
// gone longer than the grace period, are Leaving: their replicas are
// re-created elsewhere), each partition's replicas, its size and produce
// rate from the brokers' load reports, and the brokers' disks. A plan made
// from a view that changed meanwhile (its fingerprint: brokers, racks,
// leaving set, every replica list) is dropped and made again. The plan's
// moves become requests like an operator's, but not in the mailbox
// (planned): they start under num.concurrent.partition.movements.per.
// broker, and a new controller plans again instead of resuming them (moves
// already started are in the topic znodes and continue). Each planned
// partition gets a preferred election once its move is done, so leaders
// follow replicas without waiting for auto.leader.rebalance's interval.
// With an unchanged view the planner runs again every
// auto.rebalance.check.interval.ms, for sizes and rates that drifted.

type balancer struct {
	// seen is when each live broker incarnation was first seen in this
	// reign.
	seen map[int32]seenAt
	// gone is the tick a broker holding replicas was first seen missing.
	gone map[int32]int64
	// quietSince is the tick since which no move was in flight (-1: one is).
	quietSince int64
	planning   bool
	// planned is the fingerprint of the last view a plan was applied to,
	// and recheckAt when that view is planned again anyway.
	planned   uint64
	recheckAt int64
}

type seenAt struct {
	epoch int64 // broker epoch
	tick  int64
}

func newBalancer() balancer {
	return balancer{seen: map[int32]seenAt{}, gone: map[int32]int64{}, quietSince: -1}
}

// planCall runs a plan off the actor; its result is a *planned.
type planCall struct{ job *planJob }

// planJob is the planner's input, run by the shell (production: its own
// goroutine; simulator: like a ZooKeeper job). It implements zkJob so the
// simulator can schedule it; it never touches the store.
type planJob struct {
	reign int64
	fp    uint64
	in    cluster.PlanInput
}

func (j *planJob) run(*cluster.Store) (any, []watchArm) {
	plan, err := cluster.PlanRebalance(j.in)
	return &planned{reign: j.reign, fp: j.fp, plan: plan, err: err}, nil
}

// planned is a plan's result.
type planned struct {
	reign int64
	fp    uint64
	plan  cluster.Plan
	err   error
}

func (m *planned) reignOf() int64 { return m.reign }

// decommissioned reports whether broker.decommissioned is set on a broker.
func (c *controller) decommissioned(id int32) bool {
	v, ok := c.brokerConfigs[strconv.Itoa(int(id))]["broker.decommissioned"]
	return ok && v == "true"
}

// balanceTick is the balancer's once-a-second look (see the top).
func (c *controller) balanceTick() {
	b := &c.balance
	v := c.view
	// seen is per incarnation: a broker that restarted settles again.
	for id, s := range b.seen {
		if bi, ok := v.brokers[id]; !ok || !v.live(id) || bi.Epoch != s.epoch {
			delete(b.seen, id)
		}
	}
	for _, id := range sortedKeys(v.brokers) {
		if v.live(id) {
			if _, ok := b.seen[id]; !ok {
				b.seen[id] = seenAt{epoch: v.brokers[id].Epoch, tick: c.ticks}
			}
			delete(b.gone, id)
		}
	}
	moving := false
	held := map[int32]bool{}
	v.each(false, func(_ *ctrlTopic, p *ctrlPartition) {
		moving = moving || p.moving()
		for _, id := range p.allReplicas() {
			held[id] = true
			if _, ok := b.gone[id]; !ok && !v.live(id) {
				b.gone[id] = c.ticks
			}
		}
		// A planned move onto a broker that is gone cannot finish (nor
		// would anything else move while it waits): it is cancelled, and
		// the next plan sees the cluster as it is.
		if r := p.reassign; p.planned && r != nil && p.requested == nil &&
			slices.ContainsFunc(minus(r.target, r.original), func(id int32) bool { return !v.live(id) }) {
			c.log.Info().Str("topic", p.tp.Topic).Int32("partition", p.tp.Partition).Ints32("target", r.target).
				Msg("rebalancing: cancelling a planned move onto a broker that is gone")
			p.requested = &cluster.Reassignment{Topic: p.tp.Topic, Partition: p.tp.Partition}
			p.dirty = true
		}
	})
	for id := range b.gone {
		if !held[id] {
			delete(b.gone, id) // nothing of it is left to re-create
		}
	}
	if !c.cfg.broker.AutoRebalance || b.planning {
		return
	}
	if moving {
		b.quietSince = -1
		return
	}
	if b.quietSince < 0 {
		b.quietSince = c.ticks
	}
	settle := c.ticksFor(c.cfg.broker.RebalanceSettle)
	if c.ticks-b.quietSince < settle {
		return
	}
	for _, since := range b.seen {
		if c.ticks-since.tick < settle {
			return
		}
	}
	grace := c.ticksFor(c.cfg.broker.BrokerRemovalGrace)
	for _, since := range b.gone {
		if c.ticks-since < grace {
			return // it may come back: nothing moves
		}
	}
	if _, fp := c.planInput(false); fp == b.planned && c.ticks < b.recheckAt {
		return
	}
	in, fp := c.planInput(true)
	b.planning = true
	c.emit(planCall{job: &planJob{reign: c.reign, fp: fp, in: in}})
}

// planInput is the planner's view of the cluster (when build is set) and
// its fingerprint. The fingerprint alone allocates nothing per partition:
// it is taken every second.
func (c *controller) planInput(build bool) (cluster.PlanInput, uint64) {
	v := c.view
	h := fnv64a(14695981039346656037)
	num := func(n int64) { h.add(uint64(n)) }
	in := cluster.PlanInput{DiskThreshold: c.cfg.broker.DiskRebalanceThreshold}
	for _, id := range sortedKeys(v.brokers) {
		if !v.live(id) {
			continue
		}
		pb := cluster.PlanBroker{ID: id, Rack: v.brokers[id].Rack, Leaving: c.decommissioned(id)}
		if r := c.loads[id]; r != nil && r.BrokerEpoch == v.brokers[id].Epoch {
			pb.DiskCapacity, pb.DiskUsed = r.DiskTotalBytes, r.DiskUsedBytes
		}
		in.Brokers = append(in.Brokers, pb)
		num(int64(id))
		h.addString(pb.Rack)
		if pb.Leaving {
			h.add(1)
		}
	}
	h.add(^uint64(0))
	for _, id := range sortedKeys(c.balance.gone) {
		in.Brokers = append(in.Brokers, cluster.PlanBroker{ID: id, Leaving: true})
		num(int64(id))
	}
	h.add(^uint64(0))
	size := map[TopicPartition]int64{}
	rate := map[TopicPartition]float64{}
	for _, id := range sortedKeys(c.loads) {
		if !build {
			break
		}
		if b, ok := v.brokers[id]; !ok || b.Epoch != c.loads[id].BrokerEpoch {
			continue // an earlier incarnation's report
		}
		if !v.live(id) {
			continue
		}
		for _, rl := range c.loads[id].Replicas {
			tp := TopicPartition{rl.Topic, rl.Partition}
			size[tp] = max(size[tp], rl.SizeBytes)
			rate[tp] = max(rate[tp], rl.BytesInPerSec)
		}
	}
	eligible := 0
	for _, b := range in.Brokers {
		if !b.Leaving {
			eligible++
		}
	}
	v.each(true, func(t *ctrlTopic, p *ctrlPartition) {
		if len(p.replicas) > eligible {
			// Its replication factor cannot be met on the brokers that
			// stay (a decommission or a loss too many): it stays as it is,
			// rather than failing the plan for every other partition.
			return
		}
		if build {
			in.Partitions = append(in.Partitions, cluster.PlanPartition{Topic: p.tp.Topic, Partition: p.tp.Partition,
				Replicas: slices.Clone(p.replicas), Size: size[p.tp], BytesIn: rate[p.tp]})
		}
		h.addString(p.tp.Topic)
		num(int64(p.tp.Partition))
		for _, r := range p.replicas {
			num(int64(r))
		}
	})
	return in, uint64(h)
}

// fnv64a is an FNV-1a hash fed without allocating.
type fnv64a uint64

func (h *fnv64a) addByte(b byte) { *h = (*h ^ fnv64a(b)) * 1099511628211 }

func (h *fnv64a) add(n uint64) {
	for i := 0; i < 8; i++ {
		h.addByte(byte(n >> (8 * i)))
	}
}

func (h *fnv64a) addString(s string) {
	for i := 0; i < len(s); i++ {
		h.addByte(s[i])
	}
	h.addByte(0)
}

// plannedResult takes a plan: its moves become planned requests.
func (c *controller) plannedResult(m *planned) {
	b := &c.balance
	b.planning = false
	if m.err != nil {
		c.log.Warn().Err(m.err).Msg("rebalance planner failed; trying again later")
		b.planned, b.recheckAt = m.fp, c.ticks+c.ticksFor(c.cfg.broker.RebalanceInterval)
		return
	}
	if _, fp := c.planInput(false); fp != m.fp {
		return // the cluster changed meanwhile: the next look plans again
	}
	b.planned, b.recheckAt = m.fp, c.ticks+c.ticksFor(c.cfg.broker.RebalanceInterval)
	started := 0
	for _, mv := range m.plan.Moves {
		t, p := c.view.partition(TopicPartition{mv.Topic, mv.Partition})
		if p == nil || t.deleting || p.moving() || !slices.Equal(p.replicas, mv.From) {
			continue
		}
		p.requested = &cluster.Reassignment{Topic: mv.Topic, Partition: mv.Partition, Replicas: slices.Clone(mv.To)}
		p.planned, p.dirty = true, true
		started++
	}
	if started > 0 {
		c.log.Info().Int("moves", started).Int64("bytes", m.plan.BytesMoved).Int64("lower_bound", m.plan.LowerBound).
			Msg("rebalancing: planned moves requested")
	}
	c.reconcileAll()
}
