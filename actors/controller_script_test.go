package actors

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/internal/config"
	"github.com/troupe-mq/troupe/messages"
)

// TestControllerScripts runs the controller core's scripts
// (testdata/controller/*.txt). The core of broker 1 runs against a real
// cluster.Store over an in-memory tree; its ZooKeeper jobs queue up and
// run only when the script says, optionally with a fault. Every command
// prints the effects the core returned.
//
// Commands:
//
//	broker ID...                register brokers (their sessions stay open)
//	restart ID                  broker ID registers anew (a new broker epoch)
//	kill ID                     broker ID's session expires (its registration goes)
//	topic NAME replicas=1,2,3 [partitions=N]   create a topic (N partitions, default 1, all on replicas)
//	broker-config KEY=VALUE...  the controller's broker takes these dynamic broker configs
//	broker-entity ID KEY=VALUE...  write broker ID's dynamic configs to ZooKeeper
//	delete-topic NAME           mark a topic for deletion
//	start                       the controller competes for election
//	zk [n=N] [fault=lost-after|lost-before|down]   run the next N queued jobs (default all, repeatedly)
//	alter leader=L epoch=E pepoch=P isr=1,2,3 [bepochs=-1,5,cur] [partition=N]   an AlterPartition of t (cur: the registered epoch)
//	link-down ID                the controller's link to broker ID terminated
//	probe-answer from=ID target=ID reachable=true|false
//	pong ID                     broker ID answered a ping
//	ack ID                      broker ID acknowledges every LeaderAndIsr and UpdateMetadata sent to it
//	stopped ID                  broker ID answers every StopReplica sent to it
//	reassign NAME [partition=N] [replicas=2,3,4]  ask to move a partition of NAME (default 0; no replicas: cancel its move)
//	elect [partitions=0,1] [unclean=true]   ElectLeaders for partitions of t (default: every partition)
//	request-preferred partitions=0,1   write Kafka's legacy /admin/preferred_replica_election for partitions of t
//	tick [n=N]
//	state                       the controller's view
//	assignment [partition=N]    a partition of t (default 0): replicas and move in the view and in ZooKeeper
func TestControllerScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/controller", func(t *testing.T, path string) {
		h := newControllerHarness(t)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			h.b.Reset()
			h.run(d)
			h.fireWatches() // a session that expired, a node written: watches fire at once
			return h.b.String()
		})
	})
}

type controllerHarness struct {
	t       *testing.T
	tree    *cluster.LocalTree
	admin   *cluster.Store
	ctrl    *controller
	sess    *cluster.LocalSession
	store   *cluster.Store
	brokers map[int32]*cluster.LocalSession
	jobs    []zkJob
	watches []watchArm
	sent    map[int32][]any // unacknowledged requests per broker
	b       strings.Builder
}

func newControllerHarness(t *testing.T) *controllerHarness {
	now := func() time.Time { return time.Unix(1767225600, 0) }
	tree := cluster.NewSimulatedTree(1, now, zerolog.Nop())
	h := &controllerHarness{t: t, tree: tree, brokers: map[int32]*cluster.LocalSession{}, sent: map[int32][]any{}}
	ids := byte(0)
	newID := func() (cluster.TopicID, error) { ids++; return cluster.TopicID{ids}, nil }
	h.admin = cluster.NewStoreWith(tree.NewSession(), zerolog.Nop(), cluster.StoreOptions{Now: now, NewID: newID})
	if err := h.admin.EnsureLayout(); err != nil {
		t.Fatal(err)
	}
	h.sess = tree.NewSession()
	h.store = cluster.NewStoreWith(h.sess, zerolog.Nop(), cluster.StoreOptions{Now: now, NewID: newID})
	b := config.DefaultBroker()
	b.AutoLeaderRebalance = false
	b.AutoRebalance = false // scripts turn it on with broker-config
	h.ctrl = newController(controllerConfig{brokerID: 1, broker: b, tickEvery: 100 * time.Millisecond, log: zerolog.Nop()})
	return h
}

func (h *controllerHarness) printf(format string, args ...any) { fmt.Fprintf(&h.b, format, args...) }

func (h *controllerHarness) register(id int32) {
	s := h.tree.NewSession()
	if id == 1 {
		s = h.sess // the controller's own broker
	}
	st := cluster.NewStoreWith(s, zerolog.Nop(), cluster.StoreOptions{})
	res, err := st.RegisterOnce(cluster.BrokerInfo{ID: id, Host: fmt.Sprintf("b%d", id), Port: 9092,
		ActorAddress: fmt.Sprintf("b%d:8090", id)}, func(int64, cluster.BrokerInfo) bool { return true })
	if err != nil {
		h.t.Fatal(err)
	}
	h.printf("b%d registered at broker epoch %d\n", id, res.Epoch)
	h.brokers[id] = s
}

func (h *controllerHarness) run(d *datadriven.TestData) {
	switch d.Cmd {
	case "broker":
		for _, a := range d.CmdArgs {
			var id int32
			fmt.Sscan(a.Key, &id)
			h.register(id)
		}
	case "restart":
		var id int32
		fmt.Sscan(d.CmdArgs[0].Key, &id)
		if id != 1 {
			_ = h.brokers[id].Close()
		}
		h.register(id)
	case "kill":
		var id int32
		fmt.Sscan(d.CmdArgs[0].Key, &id)
		h.brokers[id].Expire()
	case "topic":
		assign := map[int32][]int32{}
		for p := range intArg(d, "partitions", 1) {
			assign[int32(p)] = idsArg(d, "replicas", nil)
		}
		if _, err := h.admin.CreateTopic(d.CmdArgs[0].Key, assign, nil); err != nil {
			h.t.Fatal(err)
		}
	case "broker-config":
		// broker-config key=value…: the controller's broker takes new
		// dynamic broker configs.
		settings := map[string]string{}
		for _, a := range d.CmdArgs {
			settings[a.Key] = a.Vals[0]
		}
		b, err := h.ctrl.cfg.broker.WithDynamic(settings, nil)
		if err != nil {
			h.t.Fatal(err)
		}
		h.step(&BrokerConfigChanged{Broker: b}, nil)
	case "delete-topic":
		if err := h.admin.MarkTopicForDeletion(d.CmdArgs[0].Key); err != nil {
			h.t.Fatal(err)
		}
	case "start":
		h.effects(h.ctrl.start())
	case "zk":
		h.runJobs(d)
	case "alter":
		// bepochs: each member's broker epoch; "cur" is its registration's.
		var members []*messages.BrokerState
		var epochs []string
		for _, a := range d.CmdArgs {
			if a.Key == "bepochs" {
				epochs = a.Vals
			}
		}
		for i, id := range idsArg(d, "isr", nil) {
			e := int64(-1)
			if i < len(epochs) {
				if epochs[i] == "cur" {
					e = h.epochOf(id)
				} else {
					fmt.Sscan(epochs[i], &e)
				}
			}
			members = append(members, &messages.BrokerState{BrokerId: id, BrokerEpoch: e})
		}
		h.step(&messages.AlterPartitionRequest{BrokerId: int32(intArg(d, "leader", 1)), Topic: "t", Partition: int32(intArg(d, "partition", 0)),
			LeaderEpoch: int32(intArg(d, "epoch", 0)), PartitionEpoch: int32(intArg(d, "pepoch", 0)), NewIsrWithEpochs: members},
			fmt.Sprintf("broker %d", intArg(d, "leader", 1)))
	case "link-down":
		var id int32
		fmt.Sscan(d.CmdArgs[0].Key, &id)
		h.step(linkDown{addr: fmt.Sprintf("b%d:8090", id)}, nil)
	case "probe-answer":
		h.step(&messages.ProbeResponse{BrokerId: int32(intArg(d, "from", 0)), TargetId: int32(intArg(d, "target", 0)),
			TargetEpoch: h.epochOf(int32(intArg(d, "target", 0))), Reachable: strArg(d, "reachable", "false") == "true"}, nil)
	case "pong":
		var id int32
		fmt.Sscan(d.CmdArgs[0].Key, &id)
		h.step(&messages.Pong{BrokerId: id, BrokerEpoch: h.epochOf(id)}, nil)
	case "ack":
		var id int32
		fmt.Sscan(d.CmdArgs[0].Key, &id)
		sent := h.sent[id]
		h.sent[id] = nil
		for _, m := range sent {
			switch m := m.(type) {
			case *messages.LeaderAndIsrRequest:
				resp := &messages.LeaderAndIsrResponse{BrokerId: id}
				for _, p := range m.Partitions {
					resp.Partitions = append(resp.Partitions, &messages.PartitionError{Topic: p.Topic, Partition: p.Partition,
						LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, Leader: p.Leader})
				}
				h.step(resp, nil)
			case *messages.UpdateMetadataRequest:
				h.step(&messages.UpdateMetadataResponse{BrokerId: id, ControllerEpoch: m.ControllerEpoch, Version: m.Version,
					BrokerEpoch: m.BrokerEpoch}, nil)
			}
		}
	case "stopped":
		var id int32
		fmt.Sscan(d.CmdArgs[0].Key, &id)
		var kept []any
		for _, m := range h.sent[id] {
			sr, ok := m.(*messages.StopReplicaRequest)
			if !ok {
				kept = append(kept, m)
				continue
			}
			resp := &messages.StopReplicaResponse{BrokerId: id}
			for _, p := range sr.Partitions {
				resp.Partitions = append(resp.Partitions, &messages.PartitionError{Topic: p.Topic, Partition: p.Partition})
			}
			h.step(resp, nil)
		}
		h.sent[id] = kept
	case "reassign":
		if err := h.admin.SubmitReassignments([]cluster.Reassignment{{Topic: d.CmdArgs[0].Key, Partition: int32(intArg(d, "partition", 0)),
			Replicas: idsArg(d, "replicas", nil)}}); err != nil {
			h.t.Fatal(err)
		}
	case "broker-entity":
		// broker-entity ID key=value…: write broker ID's dynamic configs in
		// ZooKeeper (with their change notification).
		var id int32
		fmt.Sscan(d.CmdArgs[0].Key, &id)
		settings := map[string]string{}
		for _, a := range d.CmdArgs[1:] {
			settings[a.Key] = a.Vals[0]
		}
		if err := h.admin.SetBrokerConfig(strconv.Itoa(int(id)), settings); err != nil {
			h.t.Fatal(err)
		}
	case "request-preferred":
		var refs []cluster.PartitionRef
		for _, p := range idsArg(d, "partitions", nil) {
			refs = append(refs, cluster.PartitionRef{Topic: "t", Partition: p})
		}
		if err := h.admin.RequestPreferredElections(refs); err != nil {
			h.t.Fatal(err)
		}
	case "elect":
		var tps []TopicPartition
		for _, p := range idsArg(d, "partitions", nil) {
			tps = append(tps, TopicPartition{"t", p})
		}
		h.step(&ElectLeadersRequest{Partitions: tps, Unclean: strArg(d, "unclean", "false") == "true"}, nil)
	case "assignment":
		part := int32(intArg(d, "partition", 0))
		if _, p := h.ctrl.view.partition(TopicPartition{"t", part}); p != nil {
			h.printf("view: replicas %v", p.replicas)
			if r := p.reassign; r != nil {
				h.printf(" moving %v -> %v completing=%v", r.original, r.target, r.completing)
			}
			if p.requested != nil {
				h.printf(" requested %v", p.requested.Replicas)
			}
			h.printf("\n")
		}
		if ti, err := h.admin.Topic("t"); err == nil {
			h.printf("zookeeper: replicas %v adding %v removing %v\n", ti.Partitions[part], ti.AddingReplicas[part], ti.RemovingReplicas[part])
		}
		if ok, _, _ := h.admin.Conn().Exists(cluster.ReassignPartitionsPath); ok {
			h.printf("zookeeper: %s exists\n", cluster.ReassignPartitionsPath)
		}
		for _, tp := range sortedTPs(h.ctrl.strays) {
			h.printf("strays %s: %v\n", tp, sortedKeys(h.ctrl.strays[tp].brokers))
		}
	case "tick":
		for range intArg(d, "n", 1) {
			h.step(ctrlTick{}, nil)
		}
	case "state":
		h.printState()
	default:
		h.t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
}

func (h *controllerHarness) epochOf(id int32) int64 {
	b, err := h.admin.Broker(id)
	if err != nil {
		return -1
	}
	return b.Epoch
}

// runJobs runs queued jobs (with a fault on the first when asked), then
// delivers their results and the watches that fired, until none is left
// (or n ran).
func (h *controllerHarness) runJobs(d *datadriven.TestData) {
	n := intArg(d, "n", -1)
	fault := strArg(d, "fault", "")
	for ran := 0; len(h.jobs) > 0 && (n < 0 || ran < n); ran++ {
		job := h.jobs[0]
		h.jobs = h.jobs[1:]
		var res any
		var arms []watchArm
		switch fault {
		case "":
			res, arms = job.run(h.store)
		case "down":
			h.sess.Disconnect()
			res, arms = job.run(h.store)
			h.sess.Reconnect()
		case "lost-before", "lost-after":
			// The job's writes fail with connection loss; lost-after applies
			// them first (the answer of a committed write lost).
			res, arms = job.run(cluster.NewStoreWith(&lossyConn{Conn: h.sess, apply: fault == "lost-after"}, zerolog.Nop(), cluster.StoreOptions{}))
		}
		fault = ""
		h.printf("zk %T -> %s\n", job, resultText(res))
		h.watches = append(h.watches, arms...)
		h.step(res, nil)
		h.fireWatches()
	}
}

func (h *controllerHarness) fireWatches() {
	for {
		var fired []watchArm
		kept := h.watches[:0]
		for _, w := range h.watches {
			select {
			case <-w.ch:
				fired = append(fired, w)
			default:
				kept = append(kept, w)
			}
		}
		h.watches = kept
		if len(fired) == 0 {
			return
		}
		for _, w := range fired {
			h.printf("watch fired: %s\n", resultText(w.fired))
			h.step(w.fired, nil)
		}
	}
}

// step feeds the controller and prints its effects.
func (h *controllerHarness) step(msg any, from any) { h.effects(h.ctrl.step(msg, from)) }

func (h *controllerHarness) effects(effects []effect) {
	for _, e := range effects {
		switch e := e.(type) {
		case zkCall:
			h.jobs = append(h.jobs, e.job)
		case planCall:
			h.jobs = append(h.jobs, e.job) // run with the ZooKeeper jobs; it does not touch the store
		case toBroker:
			h.sent[e.to.ID] = append(h.sent[e.to.ID], e.msg)
			h.printf("-> b%d %s\n", e.to.ID, messageText(e.msg))
		case reply:
			if a, ok := e.msg.(*ElectLeadersAnswer); ok {
				h.printf("elect-leaders answer: code %d", a.ErrorCode)
				for _, tp := range sortedTPs(a.Partitions) {
					h.printf(" %s=%d", tp, a.Partitions[tp])
				}
				h.printf("\n")
				continue
			}
			h.printf("reply to %v: %s\n", e.to, messageText(e.msg))
		case watchLink:
			h.printf("watch link %s\n", e.addr)
		default:
			h.t.Fatalf("unexpected effect %T", e)
		}
	}
}

func (h *controllerHarness) printState() {
	c := h.ctrl
	if c.role != roleActive || c.view == nil {
		h.printf("standby (reign %d)\n", c.reign)
		return
	}
	v := c.view
	h.printf("active epoch %d: live %v suspects %v\n", v.epoch, sortedKeys(v.brokers), sortedKeys(v.suspects))
	for _, name := range sortedKeys(v.topics) {
		for _, p := range v.topics[name].sortedPartitions() {
			h.printf("  %s: leader %d epoch %d isr %v version %d", p.tp, p.state.Leader, p.state.LeaderEpoch, p.state.ISR, p.zkVersion)
			if p.unsure {
				h.printf(" unsure")
			}
			if p.inFlight {
				h.printf(" in-flight")
			}
			h.printf("\n")
		}
	}
	st, v2, err := h.admin.PartitionState("t", 0)
	if err == nil {
		h.printf("  zookeeper: leader %d epoch %d isr %v version %d\n", st.Leader, st.LeaderEpoch, st.ISR, v2)
	}
}

func messageText(m any) string {
	switch m := m.(type) {
	case *messages.LeaderAndIsrRequest:
		var ps []string
		for _, p := range m.Partitions {
			ps = append(ps, fmt.Sprintf("%s-%d leader %d epoch %d isr %v v%d", p.Topic, p.Partition, p.Leader, p.LeaderEpoch, p.Isr, p.PartitionEpoch))
		}
		return "LeaderAndIsr(" + strings.Join(ps, "; ") + ")"
	case *messages.UpdateMetadataRequest:
		return fmt.Sprintf("UpdateMetadata(full=%v v%d brokers=%d partitions=%d)", m.Full, m.Version, len(m.Brokers), len(m.Partitions))
	case *messages.AlterPartitionResponse:
		if m.State != nil {
			return fmt.Sprintf("AlterPartitionResponse(code %d isr %v v%d)", m.ErrorCode, m.State.Isr, m.State.PartitionEpoch)
		}
		return fmt.Sprintf("AlterPartitionResponse(code %d)", m.ErrorCode)
	case *messages.ProbeRequest:
		return fmt.Sprintf("ProbeRequest(target %d)", m.TargetId)
	case *messages.Ping:
		return "Ping"
	case *messages.StopReplicaRequest:
		if !m.Delete || len(m.Partitions) != 1 || m.Partitions[0].LeaderEpoch < 0 {
			return fmt.Sprintf("StopReplica(%d partitions)", len(m.Partitions))
		}
		p := m.Partitions[0]
		return fmt.Sprintf("StopReplica(delete %s-%d at epoch %d)", p.Topic, p.Partition, p.LeaderEpoch)
	case *messages.ControlledShutdownResponse:
		return fmt.Sprintf("ControlledShutdownResponse(code %d, %d still led)", m.ErrorCode, len(m.Remaining))
	}
	return fmt.Sprintf("%T", m)
}

func resultText(r any) string {
	switch r := r.(type) {
	case *electionTried:
		if r.err != nil {
			return fmt.Sprintf("election lost (holder %d)", r.holder)
		}
		if r.epoch < 0 {
			return fmt.Sprintf("controller is %d", r.holder)
		}
		return fmt.Sprintf("elected at epoch %d", r.epoch)
	case *clusterLoaded:
		if r.err != nil {
			return "load failed: " + r.err.Error()
		}
		return fmt.Sprintf("loaded %d brokers, %d topics", len(r.snap.brokers), len(r.snap.topics))
	case *statesWritten:
		var out []string
		for _, w := range r.results {
			out = append(out, fmt.Sprintf("%s %s", w.change.tp, w.outcome))
		}
		return "written: " + strings.Join(out, ", ")
	case *statesReread:
		var out []string
		for _, w := range r.results {
			if w.err != nil {
				out = append(out, fmt.Sprintf("%s unreadable", w.tp))
				continue
			}
			out = append(out, fmt.Sprintf("%s leader %d epoch %d isr %v v%d", w.tp, w.state.Leader, w.state.LeaderEpoch, w.state.ISR, w.version))
		}
		return "read back: " + strings.Join(out, ", ")
	case *brokersLoaded:
		var ids []int32
		for _, b := range r.brokers {
			ids = append(ids, b.ID)
		}
		return fmt.Sprintf("brokers %v", ids)
	case *ctrlWatchFired:
		return r.kind + " " + r.topic
	case *controllerWatchFired:
		return "/controller"
	}
	return fmt.Sprintf("%T", r)
}

// lossyConn fails every write with connection loss, applying it first
// when apply is set.
type lossyConn struct {
	cluster.Conn
	apply bool
}

func (c *lossyConn) Multi(ops ...cluster.Op) ([]cluster.OpResult, error) {
	if c.apply {
		if _, err := c.Conn.Multi(ops...); err != nil {
			return nil, err
		}
	}
	return nil, cluster.ErrConnectionLoss
}

func (c *lossyConn) Create(path string, data []byte, mode cluster.CreateMode) (string, error) {
	if c.apply {
		if _, err := c.Conn.Create(path, data, mode); err != nil {
			return "", err
		}
	}
	return "", cluster.ErrConnectionLoss
}
