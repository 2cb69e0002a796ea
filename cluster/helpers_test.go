package cluster

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// harness opens sessions on one shared namespace, backed by a LocalTree or by
// a real ZooKeeper, so the same tests run against both.
type harness struct {
	name string
	// session opens a new session (one "broker"); closed at cleanup.
	session func(t *testing.T) Conn
	// expire makes the server expire c's session and returns once c runs
	// under a new session.
	expire func(t *testing.T, c Conn)
	// eventWait bounds waiting for a watch or session event.
	eventWait time.Duration
}

func testLogger(t testing.TB) zerolog.Logger {
	if os.Getenv("TROUPE_TEST_LOG") != "" {
		return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	}
	return zerolog.Nop()
}

func localHarness(t *testing.T) harness {
	tree, err := NewLocalTree("", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tree.Close() })
	return harness{
		name: "local",
		session: func(t *testing.T) Conn {
			s := tree.NewSession()
			t.Cleanup(func() { s.Close() })
			return s
		},
		expire: func(t *testing.T, c Conn) {
			c.(*LocalSession).Expire()
		},
		eventWait: time.Second,
	}
}

// waitEvent receives the one event of a watch channel.
func waitEvent(t *testing.T, ch <-chan WatchEvent, d time.Duration) WatchEvent {
	t.Helper()
	if ch == nil {
		t.Fatal("nil watch channel")
	}
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed without an event")
		}
		return ev
	case <-time.After(d):
		t.Fatalf("no watch event within %v", d)
	}
	return WatchEvent{}
}

// noEvent asserts that a watch has not fired (yet). Only meaningful where a
// later positive event proves ordering, or for LocalTree whose delivery is
// synchronous.
func noEvent(t *testing.T, ch <-chan WatchEvent) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		t.Fatalf("unexpected watch event %+v (open=%v)", ev, ok)
	default:
	}
}

// waitSession receives session events until one matches.
func waitSession(t *testing.T, ch <-chan SessionEvent, d time.Duration, match func(SessionEvent) bool) SessionEvent {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("session events closed")
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no matching session event within %v", d)
		}
	}
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronization
	}
}

func mustErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
