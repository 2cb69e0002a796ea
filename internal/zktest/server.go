package zktest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Option configures Start.
type Option func(*Config)

// WithTickTime sets ZooKeeper's tickTime (default 200 ms); the minimum
// session timeout follows as 2×tick unless set too.
func WithTickTime(d time.Duration) Option { return func(c *Config) { c.TickTime = d } }

// WithSessionTimeouts sets the session timeout bounds clients may ask for.
func WithSessionTimeouts(min, max time.Duration) Option {
	return func(c *Config) { c.MinSessionTimeout, c.MaxSessionTimeout = min, max }
}

// StartTimeout bounds how long Start waits for `imok` (a cold JVM on a
// loaded two-core machine can take several seconds).
var StartTimeout = 60 * time.Second

// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
var StopTimeout = 5 * time.Second

// Server is a running (or stopped) test ZooKeeper. Its methods may be called
// from any goroutine.
type Server struct {
	t       testing.TB
	cfg     Config
	logPath string

	mu struct {
		sync.Mutex
		proc   *os.Process
		exited chan struct{} // closed when the current process exits
		paused bool
	}
}

// Start launches a ZooKeeper for the test on a free 127.0.0.1 port, waits
// until it answers `ruok`, and stops it at cleanup (printing the tail of its
// log if the test failed).
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	if _, err := FindJava(); err != nil {
		t.Fatalf("zktest: %v; run `make test-deps`", err)
	}
	if _, err := ClassPath(); err != nil {
		t.Fatalf("zktest: %v; run `make test-deps`", err)
	}
	dir := t.TempDir()
	cfg := Config{Dir: dir}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{t: t, cfg: cfg, logPath: filepath.Join(dir, "zookeeper.log")}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("zktest: last lines of %s:\n%s", s.logPath, s.Tail(40))
		}
	})
	// The port was free a moment ago; another process may take it first.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if s.cfg.Port, err = FreePort(); err != nil {
			t.Fatalf("zktest: free port: %v", err)
		}
		if err = s.start(); err == nil {
			return s
		}
		if !strings.Contains(s.Tail(200), "Address already in use") {
			break
		}
	}
	t.Fatalf("zktest: %v\n%s", err, s.Tail(40))
	return nil
}

// Addr is "127.0.0.1:port".
func (s *Server) Addr() string { return s.cfg.Addr() }

// Config returns the server's configuration.
func (s *Server) Config() Config { return s.cfg }

// LogPath is the file that captures the server's output.
func (s *Server) LogPath() string { return s.logPath }

// Start starts the server again after Stop or Kill, on the same port and
// data directory, and waits until it is ready.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("zktest: restart: %v\n%s", err, s.Tail(40))
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	if s.mu.proc != nil {
		s.mu.Unlock()
		return errors.New("zktest: already running")
	}
	cmd, err := Command(s.cfg)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	fmt.Fprintf(logf, "=== zktest: starting %s at %s\n", cmd.String(), time.Now().Format(time.RFC3339Nano))
	cmd.Stdout, cmd.Stderr = logf, logf
	// If the test binary dies (panic, timeout), take the JVM with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.mu.Unlock()
		return fmt.Errorf("zktest: start java: %w", err)
	}
	exited := make(chan struct{})
	s.mu.proc, s.mu.exited, s.mu.paused = cmd.Process, exited, false
	s.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	if err := WaitReady(s.Addr(), StartTimeout, exited); err != nil {
		s.Kill()
		return err
	}
	return nil
}

// Stop sends SIGTERM and waits for the exit, escalating to SIGKILL after
// StopTimeout. Stopping a stopped server does nothing.
func (s *Server) Stop() { s.stop(syscall.SIGTERM, StopTimeout) }

// Kill stops the server with SIGKILL (like a crash).
func (s *Server) Kill() { s.stop(syscall.SIGKILL, StopTimeout) }

func (s *Server) stop(sig syscall.Signal, timeout time.Duration) {
	s.mu.Lock()
	proc, exited, paused := s.mu.proc, s.mu.exited, s.mu.paused
	s.mu.Unlock()
	if proc == nil {
		return
	}
	if paused {
		_ = proc.Signal(syscall.SIGCONT) // a stopped JVM cannot handle SIGTERM
	}
	_ = proc.Signal(sig)
	t := time.NewTimer(timeout)
	select {
	case <-exited:
	case <-t.C:
		_ = proc.Kill()
		<-exited
	}
	t.Stop()
	s.mu.Lock()
	if s.mu.proc == proc {
		s.mu.proc, s.mu.exited, s.mu.paused = nil, nil, false
	}
	s.mu.Unlock()
}

// Pause freezes the server with SIGSTOP: connections stay open but nothing
// answers, as in a long GC pause or a hung machine.
// It returns once every thread of the JVM is stopped: signal delivery is
// asynchronous, and a thread busy on a CPU could otherwise still answer.
func (s *Server) Pause() {
	s.mu.Lock()
	proc := s.mu.proc
	if proc == nil || s.mu.paused {
		s.mu.Unlock()
		return
	}
	_ = proc.Signal(syscall.SIGSTOP)
	s.mu.paused = true
	s.mu.Unlock()
	WaitStopped(proc.Pid, 5*time.Second)
}

// WaitStopped waits (up to timeout) until every thread of process pid is
// stopped (state T in /proc/PID/task/*/stat), after a SIGSTOP.
func WaitStopped(pid int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for processRunning(pid) && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond) // polling interval, not synchronization
	}
}

// processRunning reports whether a thread of process pid is not stopped.
func processRunning(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false // no /proc (or the process is gone): nothing to wait for
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			continue
		}
		// The state follows the command name, which is in parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) {
			continue
		}
		if st := stat[i+2]; st != 'T' && st != 't' {
			return true
		}
	}
	return false
}

// Resume continues a paused server with SIGCONT.
func (s *Server) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.proc != nil && s.mu.paused {
		_ = s.mu.proc.Signal(syscall.SIGCONT)
		s.mu.paused = false
	}
}

// Running reports whether the server process is alive (paused counts).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.proc != nil
}

// Tail returns the last n lines of the server's log.
func (s *Server) Tail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
