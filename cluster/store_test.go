package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"
)

// testStore runs the Store's behaviour against one implementation.
func testStore(t *testing.T, mk func(t *testing.T) harness) {
	newStore := func(t *testing.T, h harness) *Store {
		s := NewStore(h.session(t), testLogger(t))
		must(t, s.EnsureLayout())
		return s
	}

	t.Run("EnsureLayout", func(t *testing.T) {
		h := mk(t)
		s := newStore(t, h)
		must(t, s.EnsureLayout()) // idempotent
		for _, p := range layoutPaths {
			ok, st, err := s.Conn().Exists(p)
			must(t, err)
			if !ok || st.EphemeralOwner != 0 {
				t.Fatalf("%s: exists=%v %+v", p, ok, st)
			}
		}
	})

	t.Run("Topics", func(t *testing.T) {
		h := mk(t)
		s := newStore(t, h)
		names, ch, err := s.TopicNamesW()
		must(t, err)
		if len(names) != 0 {
			t.Fatalf("topics %v", names)
		}
		assign := map[int32][]int32{0: {1, 2}, 1: {2, 3}, 2: {3, 1}}
		id, err := s.CreateTopic("orders", assign, map[string]string{"retention.ms": "1000"})
		must(t, err)
		if id.IsZero() || len(id.String()) != 22 || id[6]>>4 != 4 {
			t.Fatalf("topic id %v %x", id, id)
		}
		if ev := waitEvent(t, ch, h.eventWait); ev.Type != EventNodeChildrenChanged {
			t.Fatalf("%+v", ev)
		}
		_, err = s.CreateTopic("orders", assign, nil)
		mustErr(t, err, ErrTopicExists)
		_, err = s.CreateTopic("bad/name", assign, nil)
		mustErr(t, err, ErrInvalidTopic)
		_, err = s.CreateTopic("gap", map[int32][]int32{0: {1}, 2: {1}}, nil)
		mustErr(t, err, ErrInvalidReplicaAssignment)
		_, err = s.CreateTopic("dup", map[int32][]int32{0: {1, 1}}, nil)
		mustErr(t, err, ErrInvalidReplicaAssignment)
		_, err = s.CreateTopic("rf", map[int32][]int32{0: {1, 2}, 1: {1}}, nil)
		mustErr(t, err, ErrInvalidReplicaAssignment)

		info, err := s.Topic("orders")
		must(t, err)
		if info.ID != id || !reflect.DeepEqual(info.Partitions, assign) || info.NumPartitions() != 3 {
			t.Fatalf("topic %+v", info)
		}
		// Kafka's JSON, field by field.
		raw, _, err := s.Conn().Get(TopicPath("orders"))
		must(t, err)
		var j map[string]any
		must(t, json.Unmarshal(raw, &j))
		if j["version"] != 3.0 || j["topic_id"] != id.String() ||
			!reflect.DeepEqual(j["partitions"], map[string]any{"0": []any{1.0, 2.0}, "1": []any{2.0, 3.0}, "2": []any{3.0, 1.0}}) ||
			!reflect.DeepEqual(j["adding_replicas"], map[string]any{}) || !reflect.DeepEqual(j["removing_replicas"], map[string]any{}) {
			t.Fatalf("topic json %s", raw)
		}
		cfg, err := s.TopicConfig("orders")
		must(t, err)
		if !reflect.DeepEqual(cfg, map[string]string{"retention.ms": "1000"}) {
			t.Fatalf("config %v", cfg)
		}
		raw, _, err = s.Conn().Get(TopicConfigPath("orders"))
		must(t, err)
		if string(raw) != `{"version":1,"config":{"retention.ms":"1000"}}` {
			t.Fatalf("config json %s", raw)
		}
		_, err = s.Topic("nope")
		mustErr(t, err, ErrUnknownTopic)

		// AddPartitions extends from the current count only.
		_, tw, err := s.TopicW("orders")
		must(t, err)
		mustErr(t, s.AddPartitions("orders", map[int32][]int32{4: {1, 2}}), ErrInvalidReplicaAssignment)
		mustErr(t, s.AddPartitions("orders", map[int32][]int32{3: {1}}), ErrInvalidReplicaAssignment)
		must(t, s.AddPartitions("orders", map[int32][]int32{3: {1, 2}, 4: {2, 3}}))
		if ev := waitEvent(t, tw, h.eventWait); ev.Type != EventNodeDataChanged {
			t.Fatalf("%+v", ev)
		}
		info2, err := s.Topic("orders")
		must(t, err)
		if info2.NumPartitions() != 5 || info2.ID != id || info2.ZkVersion != info.ZkVersion+1 {
			t.Fatalf("after add %+v", info2)
		}
		mustErr(t, s.AddPartitions("nope", map[int32][]int32{0: {1}}), ErrUnknownTopic)

		// Config change + notification, atomically.
		changes, cch, err := s.ConfigChangesW()
		must(t, err)
		if len(changes) != 0 {
			t.Fatalf("changes %v", changes)
		}
		must(t, s.SetTopicConfig("orders", map[string]string{"cleanup.policy": "delete"}))
		waitEvent(t, cch, h.eventWait)
		changes, _, err = s.ConfigChangesW()
		must(t, err)
		if len(changes) != 1 || changes[0][:len(ConfigChangePrefix)] != ConfigChangePrefix {
			t.Fatalf("changes %v", changes)
		}
		ent, err := s.ConfigChange(changes[0])
		must(t, err)
		if ent != "topics/orders" {
			t.Fatalf("entity %q", ent)
		}
		raw, _, err = s.Conn().Get(ConfigChangesPath + "/" + changes[0])
		must(t, err)
		if string(raw) != `{"version":2,"entity_path":"topics/orders"}` {
			t.Fatalf("notification json %s", raw)
		}
		changed, last, _, err := s.ConfigChangesSince("", false)
		must(t, err)
		since := changed.Topics
		if last != changes[0] || !reflect.DeepEqual(since, map[string]map[string]string{"orders": {"cleanup.policy": "delete"}}) {
			t.Fatalf("changes since the start: %v up to %q", since, last)
		}
		if changed, _, _, err = s.ConfigChangesSince(last, false); err != nil || len(changed.Topics) != 0 {
			t.Fatalf("changes since the last one: %v, %v", changed, err)
		}
		// Dynamic broker configs: per broker and the cluster default, each
		// with a notification naming it (Kafka's layout).
		must(t, s.SetBrokerConfig("2", map[string]string{"follower.replication.throttled.rate": "100"}))
		must(t, s.SetBrokerConfig(DefaultBrokerEntity, map[string]string{"log.retention.ms": "5"}))
		mustErr(t, s.SetBrokerConfig("two", nil), ErrInvalidEntity)
		raw, _, err = s.Conn().Get("/config/brokers/<default>")
		must(t, err)
		if string(raw) != `{"version":1,"config":{"log.retention.ms":"5"}}` {
			t.Fatalf("default broker config json %s", raw)
		}
		all, blast, _, err := s.ConfigChangesSince(last, true)
		must(t, err)
		if !reflect.DeepEqual(all.Brokers, map[string]map[string]string{"2": {"follower.replication.throttled.rate": "100"}, DefaultBrokerEntity: {"log.retention.ms": "5"}}) || len(all.Topics) != 0 {
			t.Fatalf("broker config changes %+v", all)
		}
		if topicsOnly, _, _, err := s.ConfigChangesSince(last, false); err != nil || len(topicsOnly.Topics) != 0 || len(topicsOnly.Brokers) != 0 {
			t.Fatalf("topic changes among broker ones: %v %v", topicsOnly, err)
		}
		last = blast
		// Pruning removes only notifications older than the age given.
		must(t, s.PruneConfigChanges(last, time.Hour))
		if left, _, _ := s.ConfigChangesW(); len(left) != 3 {
			t.Fatalf("a fresh notification was pruned: %v", left)
		}
		must(t, s.PruneConfigChanges(last, -time.Hour))
		must(t, s.PruneConfigChanges(last, -time.Hour))
		if left, _, _ := s.ConfigChangesW(); len(left) != 0 {
			t.Fatalf("notifications left after pruning: %v", left)
		}
		cfg, err = s.TopicConfig("orders")
		must(t, err)
		if !reflect.DeepEqual(cfg, map[string]string{"cleanup.policy": "delete"}) {
			t.Fatalf("config %v", cfg)
		}
		cfg, err = s.TopicConfig("nope")
		must(t, err)
		if len(cfg) != 0 {
			t.Fatalf("config of unknown topic %v", cfg)
		}
		names, err = s.TopicNames()
		must(t, err)
		if !reflect.DeepEqual(names, []string{"orders"}) {
			t.Fatalf("names %v", names)
		}
	})

	t.Run("DeletionAndPartitionStates", func(t *testing.T) {
		h := mk(t)
		s := newStore(t, h)
		epoch, ezv, err := s.TryBecomeController(1)
		must(t, err)
		_, err = s.CreateTopic("t", map[int32][]int32{0: {1, 2}, 1: {2, 1}}, nil)
		must(t, err)
		failed, err := s.CreatePartitionStates(epoch, ezv, "t", map[int32]LeaderAndIsr{
			0: {Leader: 1, LeaderEpoch: 0, ISR: []int32{1, 2}},
			1: {Leader: 2, LeaderEpoch: 0, ISR: []int32{2, 1}},
		})
		must(t, err)
		if len(failed) != 0 {
			t.Fatalf("failed %v", failed)
		}
		l, v, err := s.PartitionState("t", 0)
		must(t, err)
		if l.Leader != 1 || l.ControllerEpoch != epoch || !reflect.DeepEqual(l.ISR, []int32{1, 2}) || v != 0 {
			t.Fatalf("state %+v v%d", l, v)
		}
		raw, _, err := s.Conn().Get(PartitionStatePath("t", 0))
		must(t, err)
		want := fmt.Sprintf(`{"controller_epoch":%d,"leader":1,"version":1,"leader_epoch":0,"isr":[1,2]}`, epoch)
		if string(raw) != want {
			t.Fatalf("state json %s, want %s", raw, want)
		}
		// Creating again: per-partition failures, not a fence.
		failed, err = s.CreatePartitionStates(epoch, ezv, "t", map[int32]LeaderAndIsr{0: {Leader: 1, ISR: []int32{1}}})
		must(t, err)
		if !errors.Is(failed[0], ErrNodeExists) {
			t.Fatalf("failed %v", failed)
		}
		nv, err := s.UpdatePartitionState(epoch, ezv, "t", 0, LeaderAndIsr{Leader: 2, LeaderEpoch: 1, ISR: []int32{2}}, v)
		must(t, err)
		if nv != v+1 {
			t.Fatalf("new version %d", nv)
		}
		_, err = s.UpdatePartitionState(epoch, ezv, "t", 0, LeaderAndIsr{Leader: 1, LeaderEpoch: 2, ISR: []int32{1}}, v)
		mustErr(t, err, ErrBadVersion)
		if errors.Is(err, ErrControllerMoved) {
			t.Fatal("stale state reported as controller moved")
		}
		states, versions, err := s.PartitionStates("t")
		must(t, err)
		if len(states) != 2 || states[0].Leader != 2 || versions[0] != 1 {
			t.Fatalf("states %+v %v", states, versions)
		}

		// Deletion: mark, list, finish.
		mustErr(t, s.MarkTopicForDeletion("nope"), ErrUnknownTopic)
		_, dch, err := s.TopicsMarkedForDeletionW()
		must(t, err)
		must(t, s.MarkTopicForDeletion("t"))
		must(t, s.MarkTopicForDeletion("t")) // idempotent
		waitEvent(t, dch, h.eventWait)
		marked, err := s.TopicsMarkedForDeletion()
		must(t, err)
		if !reflect.DeepEqual(marked, []string{"t"}) {
			t.Fatalf("marked %v", marked)
		}
		_, err = s.CreateTopic("t", map[int32][]int32{0: {1}}, nil)
		mustErr(t, err, ErrTopicExists)
		mustErr(t, s.DeleteTopicZNodes(ezv+5, "t"), ErrControllerMoved)
		must(t, s.DeleteTopicZNodes(ezv, "t"))
		for _, p := range []string{TopicPath("t"), TopicConfigPath("t"), DeleteTopicPath("t")} {
			if ok, _, _ := s.Conn().Exists(p); ok {
				t.Fatalf("%s survived deletion", p)
			}
		}
		// The name is free again.
		_, err = s.CreateTopic("t", map[int32][]int32{0: {1}}, nil)
		must(t, err)
	})

	t.Run("DeposeController", func(t *testing.T) {
		h := mk(t)
		a, b := newStore(t, h), newStore(t, h)
		_, ezvA, err := a.TryBecomeController(1)
		must(t, err)
		_, err = a.Conn().Create(TopicsPath+"/x", nil, ModePersistent)
		must(t, err)
		_, err = a.CreatePartitionStates(1, ezvA, "x", map[int32]LeaderAndIsr{0: {Leader: 1, ISR: []int32{1}}})
		must(t, err)
		// Deposing another broker than the holder changes nothing.
		must(t, b.DeposeController(7))
		if id, err := b.ControllerID(); err != nil || id != 1 {
			t.Fatalf("controller %d %v after deposing a non-holder", id, err)
		}
		// Broker 2 believes broker 1 dead: it removes /controller (owned by
		// a's live session) and wins the election.
		must(t, b.DeposeController(1))
		if _, _, err := b.TryBecomeController(2); err != nil {
			t.Fatal(err)
		}
		// The deposed controller is fenced.
		_, err = a.UpdatePartitionState(1, ezvA, "x", 0, LeaderAndIsr{Leader: 1, LeaderEpoch: 1, ISR: []int32{1}}, 0)
		mustErr(t, err, ErrControllerMoved)
		must(t, b.DeposeController(1)) // no longer the holder: a no-op
		if id, err := a.ControllerID(); err != nil || id != 2 {
			t.Fatalf("controller %d %v", id, err)
		}
	})

	t.Run("DeposeControllerRace", func(t *testing.T) {
		// Two standbys depose the same dead controller. c reads /controller
		// (holder 1); before c deletes it, b deposes it too and wins the
		// election. c must then leave b's /controller alone: its version is
		// 0 like the dead one's.
		h := mk(t)
		a, b := newStore(t, h), newStore(t, h)
		_, _, err := a.TryBecomeController(1)
		must(t, err)
		hc := &getHookConn{Conn: h.session(t)}
		c := NewStore(hc, testLogger(t))
		hc.afterGet = func(path string) {
			if path != ControllerPath {
				return
			}
			hc.afterGet = nil
			must(t, b.DeposeController(1))
			if _, _, err := b.TryBecomeController(2); err != nil {
				t.Fatal(err)
			}
		}
		must(t, c.DeposeController(1))
		if id, err := c.ControllerID(); err != nil || id != 2 {
			t.Fatalf("controller %d %v after a late depose of broker 1: the winner's /controller was removed", id, err)
		}
	})

	t.Run("ControllerElectionAndFencing", func(t *testing.T) {
		h := mk(t)
		a, b := newStore(t, h), newStore(t, h)
		id, ch, err := b.ControllerW()
		must(t, err)
		if id != -1 {
			t.Fatalf("controller %d", id)
		}
		epochA, ezvA, err := a.TryBecomeController(1)
		must(t, err)
		if epochA != 1 {
			t.Fatalf("first epoch %d", epochA)
		}
		if ev := waitEvent(t, ch, h.eventWait); ev.Type != EventNodeCreated {
			t.Fatalf("%+v", ev)
		}
		_, _, err = b.TryBecomeController(2)
		mustErr(t, err, ErrControllerExists)
		// Re-running the election on the winner's session reports the win
		// (an earlier answer lost to a connection drop looks like this).
		e, z, err := a.TryBecomeController(1)
		must(t, err)
		if e != epochA || z != ezvA {
			t.Fatalf("re-election %d/%d, want %d/%d", e, z, epochA, ezvA)
		}
		raw, _, err := a.Conn().Get(ControllerPath)
		must(t, err)
		var cj map[string]any
		must(t, json.Unmarshal(raw, &cj))
		if cj["version"] != 2.0 || cj["brokerid"] != 1.0 || cj["timestamp"] == nil {
			t.Fatalf("controller json %s", raw)
		}
		if cid, err := b.ControllerID(); err != nil || cid != 1 {
			t.Fatalf("controller id %d %v", cid, err)
		}
		_, err = a.CreateTopic("f", map[int32][]int32{0: {1, 2}}, nil)
		must(t, err)
		_, err = a.CreatePartitionStates(epochA, ezvA, "f", map[int32]LeaderAndIsr{0: {Leader: 1, ISR: []int32{1, 2}}})
		must(t, err)
		_, v, err := a.PartitionState("f", 0)
		must(t, err)

		// A loses its session (paused past the timeout); B takes over.
		_, ch, err = b.ControllerW()
		must(t, err)
		h.expire(t, a.Conn())
		if ev := waitEvent(t, ch, h.eventWait); ev.Type != EventNodeDeleted {
			t.Fatalf("%+v", ev)
		}
		epochB, ezvB, err := b.TryBecomeController(2)
		must(t, err)
		if epochB != epochA+1 || ezvB <= ezvA {
			t.Fatalf("epochs %d/%d after %d/%d", epochB, ezvB, epochA, ezvA)
		}
		// A still believes it is controller: its fenced write must fail
		// before touching the state, whatever version it expects.
		_, err = a.UpdatePartitionState(epochA, ezvA, "f", 0, LeaderAndIsr{Leader: 1, LeaderEpoch: 1, ISR: []int32{1}}, v)
		mustErr(t, err, ErrControllerMoved)
		if errors.Is(err, ErrBadVersion) {
			t.Fatal("fenced write reported as a stale state")
		}
		mustErr(t, a.DeleteTopicZNodes(ezvA, "f"), ErrControllerMoved)
		_, err = a.CreatePartitionStates(epochA, ezvA, "f", map[int32]LeaderAndIsr{1: {Leader: 1}})
		mustErr(t, err, ErrControllerMoved)
		_, err = a.UpdateTopicAssignment(ezvA, TopicInfo{Name: "f", Partitions: map[int32][]int32{0: {2, 1}}})
		mustErr(t, err, ErrControllerMoved)
		l, v2, err := b.PartitionState("f", 0)
		must(t, err)
		if v2 != v || l.ControllerEpoch != epochA || l.LeaderEpoch != 0 {
			t.Fatalf("fenced write changed the state: %+v v%d", l, v2)
		}
		// B's writes go through.
		_, err = b.UpdatePartitionState(epochB, ezvB, "f", 0, LeaderAndIsr{Leader: 2, LeaderEpoch: 1, ISR: []int32{2}}, v)
		must(t, err)
		l, _, err = b.PartitionState("f", 0)
		must(t, err)
		if l.ControllerEpoch != epochB || l.Leader != 2 {
			t.Fatalf("state %+v", l)
		}
		// A's new session cannot take over while B holds /controller.
		_, _, err = a.TryBecomeController(1)
		mustErr(t, err, ErrControllerExists)
		// Resign frees the seat; resigning a seat one does not hold is a no-op.
		must(t, a.ResignController())
		if cid, _ := a.ControllerID(); cid != 2 {
			t.Fatalf("controller after foreign resign: %d", cid)
		}
		must(t, b.ResignController())
		if cid, _ := a.ControllerID(); cid != -1 {
			t.Fatalf("controller after resign: %d", cid)
		}
		epochA2, _, err := a.TryBecomeController(1)
		must(t, err)
		if epochA2 != epochB+1 {
			t.Fatalf("epoch %d", epochA2)
		}
		e, _, err = a.ControllerEpoch()
		must(t, err)
		if e != epochA2 {
			t.Fatalf("stored epoch %d", e)
		}
	})

	t.Run("ConcurrentElection", func(t *testing.T) {
		h := mk(t)
		const n = 4
		stores := make([]*Store, n)
		for i := range stores {
			stores[i] = newStore(t, h)
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		epochs := make([]int32, n)
		for i := range stores {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				epochs[i], _, errs[i] = stores[i].TryBecomeController(int32(i + 1))
			}(i)
		}
		wg.Wait()
		winners := 0
		for i, err := range errs {
			switch {
			case err == nil:
				winners++
				if epochs[i] != 1 {
					t.Fatalf("winner epoch %d", epochs[i])
				}
			case !errors.Is(err, ErrControllerExists):
				t.Fatalf("loser %d: %v", i, err)
			}
		}
		if winners != 1 {
			t.Fatalf("%d winners", winners)
		}
	})

	t.Run("ProducerIDBlocks", func(t *testing.T) {
		h := mk(t)
		const brokers, each = 4, 8
		stores := make([]*Store, brokers)
		for i := range stores {
			stores[i] = newStore(t, h)
		}
		type block struct{ start, end int64 }
		var mu sync.Mutex
		var blocks []block
		var wg sync.WaitGroup
		errc := make(chan error, brokers)
		for i := range stores {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for k := 0; k < each; k++ {
					s, e, err := stores[i].AllocateProducerIDBlock(int32(i+1), 100)
					if err != nil {
						errc <- err
						return
					}
					mu.Lock()
					blocks = append(blocks, block{s, e})
					mu.Unlock()
				}
			}(i)
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		sort.Slice(blocks, func(i, j int) bool { return blocks[i].start < blocks[j].start })
		if len(blocks) != brokers*each {
			t.Fatalf("%d blocks", len(blocks))
		}
		for i, b := range blocks {
			if b.end-b.start+1 != 100 || b.start != int64(i)*100 {
				t.Fatalf("block %d = %+v: overlapping or gapped", i, b)
			}
		}
		raw, _, err := stores[0].Conn().Get(ProducerIDBlockPath)
		must(t, err)
		var j map[string]any
		must(t, json.Unmarshal(raw, &j))
		last := blocks[len(blocks)-1]
		if j["version"] != 1.0 || j["block_start"] != fmt.Sprint(last.start) || j["block_end"] != fmt.Sprint(last.end) || j["broker"] == nil {
			t.Fatalf("block json %s", raw)
		}
	})

	t.Run("ProducerIDBlockWithoutLayout", func(t *testing.T) {
		h := mk(t)
		s := NewStore(h.session(t), testLogger(t)) // node absent, not empty
		st, end, err := s.AllocateProducerIDBlock(1, 0)
		must(t, err)
		if st != 0 || end != DefaultProducerIDBlockSize-1 {
			t.Fatalf("first block %d-%d", st, end)
		}
		st, _, err = s.AllocateProducerIDBlock(2, 10)
		must(t, err)
		if st != DefaultProducerIDBlockSize {
			t.Fatalf("second block starts %d", st)
		}
	})

	t.Run("Registration", func(t *testing.T) {
		h := mk(t)
		s1, s2 := newStore(t, h), newStore(t, h)
		ids, ch, err := s2.BrokerIDsW()
		must(t, err)
		if len(ids) != 0 {
			t.Fatalf("ids %v", ids)
		}
		info := BrokerInfo{ID: 1, Host: "127.0.0.1", Port: 9092, Rack: "r1", ActorAddress: "127.0.0.1:8090", DirectoryID: "dir-a"}
		reg, err := s1.RegisterBroker(info, RegistrationOptions{StaleWait: 100 * time.Millisecond})
		must(t, err)
		defer reg.Close()
		if reg.SessionID() != s1.Conn().SessionID() {
			t.Fatalf("registration session %x, conn %x", reg.SessionID(), s1.Conn().SessionID())
		}
		waitEvent(t, ch, h.eventWait)
		got, err := s2.Brokers()
		must(t, err)
		if len(got) != 1 || got[0].ID != 1 || got[0].Host != "127.0.0.1" || got[0].Port != 9092 || got[0].Rack != "r1" ||
			got[0].ActorAddress != "127.0.0.1:8090" || got[0].SessionID != s1.Conn().SessionID() || got[0].Timestamp.IsZero() ||
			got[0].Epoch == 0 || got[0].Epoch != reg.BrokerEpoch() {
			t.Fatalf("brokers %+v", got)
		}
		raw, _, err := s2.Conn().Get(BrokerPath(1))
		must(t, err)
		var j map[string]any
		must(t, json.Unmarshal(raw, &j))
		if j["version"] != 5.0 || j["host"] != "127.0.0.1" || j["port"] != 9092.0 || j["jmx_port"] != -1.0 ||
			!reflect.DeepEqual(j["endpoints"], []any{"PLAINTEXT://127.0.0.1:9092"}) ||
			!reflect.DeepEqual(j["listener_security_protocol_map"], map[string]any{"PLAINTEXT": "PLAINTEXT"}) ||
			j["rack"] != "r1" || j["actor_address"] != "127.0.0.1:8090" || j["directory_id"] != "dir-a" || j["timestamp"] == nil {
			t.Fatalf("broker json %s", raw)
		}

		// Same id from another live session: refused after StaleWait.
		start := time.Now()
		_, err = s2.RegisterBroker(BrokerInfo{ID: 1, Host: "127.0.0.1", Port: 9093}, RegistrationOptions{StaleWait: 300 * time.Millisecond})
		mustErr(t, err, ErrDuplicateBrokerID)
		if el := time.Since(start); el < 300*time.Millisecond {
			t.Fatalf("gave up after %v, before StaleWait", el)
		}
		// Same data directory (the caller holds its lock, so the holder is a
		// dead process of that directory): taken over at start-up.
		s3 := newStore(t, h)
		reg3, err := s3.RegisterBroker(info, RegistrationOptions{StaleWait: 10 * time.Second})
		must(t, err)
		b, err := s2.Broker(1)
		must(t, err)
		if b.SessionID != s3.Conn().SessionID() {
			t.Fatalf("not taken over: owner %x", b.SessionID)
		}
		// The displaced registration reports the duplicate instead of
		// fighting back.
		waitReg(t, reg, h.eventWait*4, RegistrationLost)
		ev := waitReg(t, reg, h.eventWait*4, RegistrationFailed)
		mustErr(t, ev.Err, ErrDuplicateBrokerID)
		// Close deletes the node; the waiting registration takes it.
		must(t, reg3.Close())
		waitReg(t, reg, h.eventWait*4, RegistrationRegistered)
		b, err = s2.Broker(1)
		must(t, err)
		if b.SessionID != s1.Conn().SessionID() {
			t.Fatalf("owner %x, want %x", b.SessionID, s1.Conn().SessionID())
		}
	})

	t.Run("RegistrationWaitsForPredecessor", func(t *testing.T) {
		h := mk(t)
		s1, s2 := newStore(t, h), newStore(t, h)
		info := BrokerInfo{ID: 7, Host: "h", Port: 1}
		_, err := s1.RegisterBroker(info, RegistrationOptions{})
		must(t, err)
		// The predecessor's session ends while the successor waits.
		done := make(chan error, 1)
		var reg *Registration
		go func() {
			var err error
			reg, err = s2.RegisterBroker(info, RegistrationOptions{StaleWait: 30 * time.Second})
			done <- err
		}()
		must(t, s1.Conn().Close())
		select {
		case err := <-done:
			must(t, err)
		case <-time.After(h.eventWait * 4):
			t.Fatal("successor did not register after the predecessor left")
		}
		defer reg.Close()
		b, err := s2.Broker(7)
		must(t, err)
		if b.SessionID != s2.Conn().SessionID() {
			t.Fatalf("owner %x", b.SessionID)
		}
	})

	t.Run("ReRegistrationAfterExpiry", func(t *testing.T) {
		h := mk(t)
		s, watcher := newStore(t, h), newStore(t, h)
		reg, err := s.RegisterBroker(BrokerInfo{ID: 3, Host: "h", Port: 3}, RegistrationOptions{StaleWait: time.Second})
		must(t, err)
		old, oldEpoch := reg.SessionID(), reg.BrokerEpoch()
		h.expire(t, s.Conn())
		ev := waitReg(t, reg, h.eventWait*4, RegistrationLost)
		if ev.SessionID != old {
			t.Fatalf("lost %x, want %x", ev.SessionID, old)
		}
		ev = waitReg(t, reg, h.eventWait*4, RegistrationRegistered)
		if ev.SessionID == old || ev.SessionID != s.Conn().SessionID() || reg.SessionID() != ev.SessionID {
			t.Fatalf("re-registered under %x (old %x, conn %x)", ev.SessionID, old, s.Conn().SessionID())
		}
		b, err := watcher.Broker(3)
		must(t, err)
		if b.SessionID != ev.SessionID {
			t.Fatalf("node owner %x", b.SessionID)
		}
		if b.Epoch != ev.BrokerEpoch || b.Epoch != reg.BrokerEpoch() || b.Epoch <= oldEpoch {
			t.Fatalf("broker epoch %d (event %d, registration %d, before %d)", b.Epoch, ev.BrokerEpoch, reg.BrokerEpoch(), oldEpoch)
		}
		// Someone deletes the node: it comes back.
		must(t, watcher.Conn().Delete(BrokerPath(3), AnyVersion))
		eventually(t, h.eventWait*4, "node re-created", func() bool {
			b, err := watcher.Broker(3)
			return err == nil && b.SessionID == s.Conn().SessionID()
		})
		// Close removes it for good.
		must(t, reg.Close())
		if ok, _, _ := watcher.Conn().Exists(BrokerPath(3)); ok {
			t.Fatal("node left after Close")
		}
		if _, open := <-reg.Events(); open {
			// drain: remaining queued events are allowed, the channel must close
			for range reg.Events() {
			}
		}
	})

	t.Run("ClusterID", func(t *testing.T) {
		h := mk(t)
		a, b := newStore(t, h), newStore(t, h)
		var wg sync.WaitGroup
		ids := make([]string, 4)
		errs := make([]error, 4)
		for i := range ids {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				s := a
				if i%2 == 1 {
					s = b
				}
				ids[i], errs[i] = s.ClusterID()
			}(i)
		}
		wg.Wait()
		for i := range ids {
			must(t, errs[i])
			if ids[i] != ids[0] || len(ids[i]) != 22 {
				t.Fatalf("cluster ids %v", ids)
			}
		}
		raw, _, err := a.Conn().Get(ClusterIDPath)
		must(t, err)
		if string(raw) != `{"version":"1","id":"`+ids[0]+`"}` {
			t.Fatalf("cluster id json %s", raw)
		}
	})
}

func waitReg(t *testing.T, r *Registration, d time.Duration, want RegistrationEventType) RegistrationEvent {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-r.Events():
			if !ok {
				t.Fatalf("registration events closed waiting for %v", want)
			}
			if ev.Type == want {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %v registration event within %v", want, d)
		}
	}
}

func TestLocalTreeStore(t *testing.T) {
	testStore(t, localHarness)
}

// getHookConn runs afterGet after each Get, to interleave another store's
// calls at that point.
type getHookConn struct {
	Conn
	afterGet func(path string)
}

func (h *getHookConn) Get(path string) ([]byte, Stat, error) {
	data, st, err := h.Conn.Get(path)
	if f := h.afterGet; f != nil {
		f(path)
	}
	return data, st, err
}
