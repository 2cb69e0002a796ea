package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestLocalTreePersistence(t *testing.T) {
	dir := t.TempDir()
	tree, err := NewLocalTree(dir, testLogger(t))
	must(t, err)
	s := NewStore(tree, testLogger(t))
	must(t, s.EnsureLayout())
	id, err := s.CreateTopic("orders", map[int32][]int32{0: {1}, 1: {1}}, map[string]string{"retention.ms": "5"})
	must(t, err)
	epoch, ezv, err := s.TryBecomeController(1)
	must(t, err)
	_, err = s.CreatePartitionStates(epoch, ezv, "orders", map[int32]LeaderAndIsr{0: {Leader: 1, ISR: []int32{1}}, 1: {Leader: 1, ISR: []int32{1}}})
	must(t, err)
	_, err = s.UpdatePartitionState(epoch, ezv, "orders", 0, LeaderAndIsr{Leader: 1, LeaderEpoch: 1, ISR: []int32{1}}, 0)
	must(t, err)
	pidStart, _, err := s.AllocateProducerIDBlock(1, 10)
	must(t, err)
	reg, err := s.RegisterBroker(BrokerInfo{ID: 1, Host: "h", Port: 1}, RegistrationOptions{})
	must(t, err)
	_, err = tree.Create("/seq", nil, ModePersistent)
	must(t, err)
	for i := 0; i < 3; i++ {
		_, err = tree.Create("/seq/n-", nil, ModePersistentSequential)
		must(t, err)
	}
	_, err = tree.Create("/seq/eph", nil, ModeEphemeral) // bumps /seq's cversion to 4
	must(t, err)
	_, before, err := tree.Get("/seq")
	must(t, err)
	_, topicStat, err := tree.Get(TopicPath("orders"))
	must(t, err)

	// A second open of the same directory is refused while the first holds it.
	_, err = NewLocalTree(dir, testLogger(t))
	mustErr(t, err, ErrStoreLocked)

	must(t, reg.Close())
	must(t, tree.Close())
	if _, err := tree.Create("/after-close", nil, ModePersistent); !errors.Is(err, ErrClosed) {
		t.Fatalf("create after close: %v", err)
	}

	tree2, err := NewLocalTree(dir, testLogger(t))
	must(t, err)
	defer tree2.Close()
	s2 := NewStore(tree2, testLogger(t))
	info, err := s2.Topic("orders")
	must(t, err)
	if info.ID != id || info.NumPartitions() != 2 || info.ZkVersion != topicStat.Version {
		t.Fatalf("topic after reopen %+v", info)
	}
	cfg, err := s2.TopicConfig("orders")
	must(t, err)
	if !reflect.DeepEqual(cfg, map[string]string{"retention.ms": "5"}) {
		t.Fatalf("config %v", cfg)
	}
	l, v, err := s2.PartitionState("orders", 0)
	must(t, err)
	if l.LeaderEpoch != 1 || v != 1 {
		t.Fatalf("state %+v v%d", l, v)
	}
	// Ephemerals are gone: no broker, no controller; the epoch survives.
	if ids, _ := s2.BrokerIDs(); len(ids) != 0 {
		t.Fatalf("brokers after reopen %v", ids)
	}
	if cid, _ := s2.ControllerID(); cid != -1 {
		t.Fatalf("controller after reopen %d", cid)
	}
	e2, _, err := s2.TryBecomeController(1)
	must(t, err)
	if e2 != epoch+1 {
		t.Fatalf("epoch after reopen %d, want %d", e2, epoch+1)
	}
	next, _, err := s2.AllocateProducerIDBlock(1, 10)
	must(t, err)
	if next != pidStart+10 {
		t.Fatalf("producer ids after reopen start %d", next)
	}
	// Stats survive; sequence numbers continue after the ephemeral's bump.
	_, after, err := tree2.Get("/seq")
	must(t, err)
	if after.Cversion != before.Cversion+1 || after.NumChildren != 3 || after.Czxid != before.Czxid {
		// +1: the ephemeral's deletion at close bumped it again.
		t.Fatalf("stat after reopen %+v, before %+v", after, before)
	}
	p, err := tree2.Create("/seq/n-", nil, ModePersistentSequential)
	must(t, err)
	if p != "/seq/n-0000000004" { // 4 creates so far (3 sequential, 1 ephemeral)
		t.Fatalf("sequence after reopen %s", p)
	}
	_, st, err := tree2.Get(p)
	must(t, err)
	if st.Czxid <= before.Pzxid {
		t.Fatalf("zxid went backwards: %d <= %d", st.Czxid, before.Pzxid)
	}
	if _, err := os.Stat(filepath.Join(dir, localTreeTemp)); !os.IsNotExist(err) {
		t.Fatalf("temp file left behind: %v", err)
	}
}

func TestLocalTreeOpenErrors(t *testing.T) {
	t.Run("Corrupt", func(t *testing.T) {
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, localTreeFile), []byte(`{"format":1,"nodes":[{"path":"/a"`), 0o644))
		_, err := NewLocalTree(dir, testLogger(t))
		mustErr(t, err, ErrStoreCorrupt)
	})
	t.Run("Orphan", func(t *testing.T) {
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, localTreeFile), []byte(`{"format":1,"nodes":[{"path":"/"},{"path":"/a/b"}]}`), 0o644))
		_, err := NewLocalTree(dir, testLogger(t))
		mustErr(t, err, ErrStoreCorrupt)
	})
	t.Run("UnknownFormat", func(t *testing.T) {
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, localTreeFile), []byte(`{"format":9,"nodes":[{"path":"/"}]}`), 0o644))
		_, err := NewLocalTree(dir, testLogger(t))
		mustErr(t, err, ErrStoreCorrupt)
	})
	t.Run("TempFileIgnored", func(t *testing.T) {
		dir := t.TempDir()
		tree, err := NewLocalTree(dir, testLogger(t))
		must(t, err)
		_, err = tree.Create("/kept", []byte("x"), ModePersistent)
		must(t, err)
		must(t, tree.Close())
		// A crash mid-write leaves a torn temp file; the rename never ran.
		must(t, os.WriteFile(filepath.Join(dir, localTreeTemp), []byte(`{"torn`), 0o644))
		tree, err = NewLocalTree(dir, testLogger(t))
		must(t, err)
		defer tree.Close()
		data, _, err := tree.Get("/kept")
		must(t, err)
		if string(data) != "x" {
			t.Fatalf("%q", data)
		}
	})
}

func TestLocalTreeWriteFailureIsFailStop(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "meta")
	tree, err := NewLocalTree(dir, testLogger(t))
	must(t, err)
	defer tree.Close()
	_, err = tree.Create("/a", []byte("1"), ModePersistent)
	must(t, err)
	_, _, ch, err := tree.GetW("/a")
	must(t, err)
	// The directory vanishing makes the next persist fail.
	must(t, os.RemoveAll(dir))
	_, err = tree.Set("/a", []byte("2"), AnyVersion)
	mustErr(t, err, ErrStoreFailed)
	noEvent(t, ch) // nothing committed, nothing fired
	data, st, err := tree.Get("/a")
	must(t, err)
	if string(data) != "1" || st.Version != 0 {
		t.Fatalf("failed write visible: %q %+v", data, st)
	}
	must(t, os.MkdirAll(dir, 0o755))
	_, err = tree.Create("/b", nil, ModePersistent)
	mustErr(t, err, ErrStoreFailed) // fail-stop even once the disk is back
}

func TestLocalSessionDisconnect(t *testing.T) {
	tree, err := NewLocalTree("", testLogger(t))
	must(t, err)
	defer tree.Close()
	s := tree.NewSession()
	other := tree.NewSession()
	events, cancel := s.SessionEvents()
	defer cancel()
	_, err = s.Create("/e", nil, ModeEphemeral)
	must(t, err)
	id := s.SessionID()

	s.Disconnect()
	if ev := waitSession(t, events, time.Second, func(SessionEvent) bool { return true }); ev.State != StateDisconnected || ev.SessionID != id {
		t.Fatalf("%+v", ev)
	}
	_, _, err = s.Get("/e")
	mustErr(t, err, ErrConnectionLoss)
	if ok, _, _ := other.Exists("/e"); !ok {
		t.Fatal("ephemeral gone during a mere disconnection")
	}
	s.Reconnect()
	if ev := waitSession(t, events, time.Second, func(SessionEvent) bool { return true }); ev.State != StateConnected || ev.SessionID != id {
		t.Fatalf("%+v", ev)
	}

	// Expired while disconnected: the client learns it on reconnect.
	s.Disconnect()
	waitSession(t, events, time.Second, func(ev SessionEvent) bool { return ev.State == StateDisconnected })
	s.Expire()
	if ok, _, _ := other.Exists("/e"); ok {
		t.Fatal("ephemeral survived server-side expiry")
	}
	if s.SessionID() != id {
		t.Fatal("client saw the new session before reconnecting")
	}
	s.Reconnect()
	if ev := waitSession(t, events, time.Second, func(SessionEvent) bool { return true }); ev.State != StateExpired || ev.SessionID != id {
		t.Fatalf("%+v", ev)
	}
	ev := waitSession(t, events, time.Second, func(SessionEvent) bool { return true })
	if ev.State != StateConnected || ev.SessionID == id || ev.SessionID != s.SessionID() {
		t.Fatalf("%+v", ev)
	}
}

// TestLocalTreeCrashWithLiveEphemerals reopens a copy of the files taken
// while ephemerals were alive — what a kill -9 leaves behind.
func TestLocalTreeCrashWithLiveEphemerals(t *testing.T) {
	dir := t.TempDir()
	tree, err := NewLocalTree(dir, testLogger(t))
	must(t, err)
	defer tree.Close()
	_, err = tree.Create("/p", nil, ModePersistent)
	must(t, err)
	_, err = tree.Create("/p/s-", nil, ModePersistentSequential) // s-0000000000
	must(t, err)
	_, err = tree.Create("/p/e-", nil, ModeEphemeralSequential) // e-0000000001, dies with the process
	must(t, err)
	_, live, err := tree.Get("/p")
	must(t, err)

	crashed := t.TempDir()
	b, err := os.ReadFile(filepath.Join(dir, localTreeFile))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(crashed, localTreeFile), b, 0o644))

	tree2, err := NewLocalTree(crashed, testLogger(t))
	must(t, err)
	defer tree2.Close()
	names, st, err := tree2.Children("/p")
	must(t, err)
	if !reflect.DeepEqual(names, []string{"s-0000000000"}) || st.Cversion != live.Cversion+1 {
		t.Fatalf("after crash: %v %+v (live cversion %d)", names, st, live.Cversion)
	}
	p, err := tree2.Create("/p/s-", nil, ModePersistentSequential)
	must(t, err)
	if p != "/p/s-0000000002" {
		t.Fatalf("sequence reused after crash: %s", p)
	}
}
