package cluster

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-mq/troupe/internal/zktest"
)

// zkSessionTimeout is what test sessions ask for: short, so expiry tests are
// quick, yet well above scheduling hiccups on a loaded two-core machine
// (go-zookeeper declares the connection dead after 2/3 of it).
const zkSessionTimeout = 3 * time.Second

// cutDialer lets a test sever a client from ZooKeeper: cut closes the open
// connections and refuses new ones until healed, so the server sees the
// client vanish and expires its session, exactly as after a kill -9 or a
// network partition, while the client process lives on.
type cutDialer struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (d *cutDialer) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return nil, errors.New("cutDialer: connection cut by the test")
	}
	c, err := net.DialTimeout(network, addr, timeout)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *cutDialer) setCut(cut bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = cut
	if cut {
		for _, c := range d.conns {
			c.Close()
		}
		d.conns = nil
	}
}

var zkNamespace atomic.Int64

// zkHarness returns harness makers over a shared server: each test gets its
// own chroot and runs in parallel with the others.
func zkHarness(srv *zktest.Server) func(t *testing.T) harness {
	return func(t *testing.T) harness {
		t.Parallel()
		name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
		chroot := fmt.Sprintf("/%s-%d", name, zkNamespace.Add(1))
		var mu sync.Mutex
		dialers := map[Conn]*cutDialer{}
		h := harness{name: "zookeeper", eventWait: 10 * time.Second}
		h.session = func(t *testing.T) Conn {
			d := &cutDialer{}
			c, err := DialZooKeeper(srv.Addr()+chroot, zkSessionTimeout, testLogger(t), WithDialer(d.dial))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			mu.Lock()
			dialers[c] = d
			mu.Unlock()
			return c
		}
		h.expire = func(t *testing.T, c Conn) {
			t.Helper()
			mu.Lock()
			d := dialers[c]
			mu.Unlock()
			old := c.SessionID()
			probe := fmt.Sprintf("/expiry-probe-%x", old)
			if _, err := c.Create(probe, nil, ModeEphemeral); err != nil {
				t.Fatal(err)
			}
			observer := h.session(t)
			start := time.Now()
			d.setCut(true)
			eventually(t, 30*time.Second, "the server to expire the session", func() bool {
				ok, _, err := observer.Exists(probe)
				return err == nil && !ok
			})
			expired := time.Since(start)
			d.setCut(false)
			eventually(t, 30*time.Second, "a new session", func() bool {
				id := c.SessionID()
				return id != 0 && id != old
			})
			t.Logf("session expired %v after the cut (timeout %v); new session %v after the cut",
				expired.Round(time.Millisecond), zkSessionTimeout, time.Since(start).Round(time.Millisecond))
		}
		return h
	}
}

// TestZooKeeper runs the conformance and Store suites against a real
// ZooKeeper: one server, one chroot per test, tests in parallel.
func TestZooKeeper(t *testing.T) {
	srv := zktest.Start(t)
	mk := zkHarness(srv)
	t.Run("Conformance", func(t *testing.T) { testConformance(t, mk) })
	t.Run("Store", func(t *testing.T) { testStore(t, mk) })
	t.Run("Chroot", func(t *testing.T) {
		t.Parallel()
		root, err := DialZooKeeper(srv.Addr(), zkSessionTimeout, testLogger(t))
		must(t, err)
		defer root.Close()
		c, err := DialZooKeeper(srv.Addr()+"/chroot-test/deep", zkSessionTimeout, testLogger(t))
		must(t, err)
		defer c.Close()
		_, err = c.Create("/x", []byte("in"), ModePersistent)
		must(t, err)
		data, _, err := root.Get("/chroot-test/deep/x")
		must(t, err)
		if string(data) != "in" {
			t.Fatalf("%q", data)
		}
		names, _, err := c.Children("/")
		must(t, err)
		if len(names) != 1 || names[0] != "x" {
			t.Fatalf("chroot children %v", names)
		}
		// Paths in results and events are relative to the chroot.
		p, err := c.Create("/x/s-", nil, ModePersistentSequential)
		must(t, err)
		if p != "/x/s-0000000000" {
			t.Fatalf("created %s", p)
		}
		_, _, ch, err := c.GetW("/x")
		must(t, err)
		_, err = root.Set("/chroot-test/deep/x", nil, AnyVersion)
		must(t, err)
		if ev := waitEvent(t, ch, 10*time.Second); ev.Path != "/x" || ev.Type != EventNodeDataChanged {
			t.Fatalf("event %+v", ev)
		}
		res, err := c.Multi(CreateOp{Path: "/m-", Mode: ModePersistentSequential})
		must(t, err)
		if !strings.HasPrefix(res[0].Path, "/m-") {
			t.Fatalf("multi path %s", res[0].Path)
		}
		_, err = DialZooKeeper(srv.Addr()+"/bad//chroot", zkSessionTimeout, testLogger(t))
		mustErr(t, err, ErrBadPath)
	})
	t.Run("DialUnreachable", func(t *testing.T) {
		t.Parallel()
		port, err := zktest.FreePort()
		must(t, err)
		_, err = DialZooKeeper(fmt.Sprintf("127.0.0.1:%d", port), zkSessionTimeout, testLogger(t), WithConnectTimeout(500*time.Millisecond))
		mustErr(t, err, ErrConnectionLoss)
	})
}

// TestZooKeeperOutage stops the ZooKeeper server for longer than the session
// timeout and starts it again: sessions survive (the server restores them
// with a fresh timeout), so ephemerals and registrations stay, and calls made
// during the outage fail fast with ErrConnectionLoss.
func TestZooKeeperOutage(t *testing.T) {
	srv := zktest.Start(t)
	c, err := DialZooKeeper(srv.Addr()+"/outage", zkSessionTimeout, testLogger(t))
	must(t, err)
	defer c.Close()
	s := NewStore(c, testLogger(t))
	must(t, s.EnsureLayout())
	reg, err := s.RegisterBroker(BrokerInfo{ID: 1, Host: "127.0.0.1", Port: 9092}, RegistrationOptions{})
	must(t, err)
	defer reg.Close()
	session := c.SessionID()
	events, cancel := c.SessionEvents()
	defer cancel()

	srv.Stop()
	down := time.Now()
	waitSession(t, events, 10*time.Second, func(ev SessionEvent) bool { return ev.State == StateDisconnected })
	callStart := time.Now()
	_, _, err = c.Get(BrokerPath(1))
	mustErr(t, err, ErrConnectionLoss)
	if el := time.Since(callStart); el > 5*time.Second {
		t.Fatalf("call during the outage took %v", el)
	}
	// Stay down past the session timeout: the scenario, not synchronization.
	time.Sleep(time.Until(down.Add(zkSessionTimeout + time.Second)))
	srv.Start()
	up := time.Now()
	ev := waitSession(t, events, 20*time.Second, func(ev SessionEvent) bool {
		if ev.State == StateExpired {
			t.Fatalf("session expired across a server restart: %+v", ev)
		}
		return ev.State == StateConnected
	})
	t.Logf("down %v; reconnected %v after restart", up.Sub(down).Round(time.Millisecond), time.Since(up).Round(time.Millisecond))
	if ev.SessionID != session || c.SessionID() != session {
		t.Fatalf("session %x after restart, was %x", ev.SessionID, session)
	}
	b, err := s.Broker(1)
	must(t, err)
	if b.SessionID != session {
		t.Fatalf("registration owner %x", b.SessionID)
	}
	select {
	case ev := <-reg.Events():
		t.Fatalf("registration event during a survivable outage: %+v", ev)
	default:
	}
}
