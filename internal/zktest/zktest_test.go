package zktest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServerLifecycle(t *testing.T) {
	start := time.Now()
	s := Start(t)
	t.Logf("ready in %v at %s", time.Since(start), s.Addr())
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("addr %s", s.Addr())
	}
	srvr, err := FourLetter(s.Addr(), "srvr", 2*time.Second)
	if err != nil || !strings.Contains(srvr, "Mode: standalone") {
		t.Fatalf("srvr: %q %v", srvr, err)
	}
	conf, err := FourLetter(s.Addr(), "conf", 2*time.Second)
	if err != nil || !strings.Contains(conf, "tickTime=200") || !strings.Contains(conf, "minSessionTimeout=400") {
		t.Fatalf("conf: %q %v", conf, err)
	}

	// Paused: the port accepts but nothing answers.
	s.Pause()
	if ans, err := FourLetter(s.Addr(), "ruok", 300*time.Millisecond); err == nil && ans == "imok" {
		t.Fatal("paused server answered")
	}
	s.Resume()
	if err := WaitReady(s.Addr(), 10*time.Second, nil); err != nil {
		t.Fatal(err)
	}

	// Stop and start again on the same port and data.
	addr := s.Addr()
	stop := time.Now()
	s.Stop()
	t.Logf("stopped in %v", time.Since(stop))
	if s.Running() {
		t.Fatal("still running")
	}
	if _, err := FourLetter(addr, "ruok", 300*time.Millisecond); err == nil {
		t.Fatal("stopped server answered")
	}
	s.Start()
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, was %s", s.Addr(), addr)
	}
	if !strings.Contains(s.Tail(1000), "=== zktest: starting") {
		t.Fatal("log does not capture the server's output")
	}
}

func TestCommand(t *testing.T) {
	dir := t.TempDir()
	cmd, err := Command(Config{Dir: dir, Port: 12345, TickTime: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(cmd.Args, " "), MainClass) {
		t.Fatalf("args %v", cmd.Args)
	}
	b, err := os.ReadFile(filepath.Join(dir, "zoo.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tickTime=300", "minSessionTimeout=600", "clientPort=12345",
		"clientPortAddress=127.0.0.1", "admin.enableServer=false", "4lw.commands.whitelist=ruok"} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("zoo.cfg lacks %q:\n%s", want, b)
		}
	}
	if _, err := Command(Config{Port: 1}); err == nil {
		t.Fatal("no error without Dir")
	}
}
