package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/zktest"
)

// Errors of broker process control.
var (
	// ErrNotReady: a broker did not answer Metadata before its deadline.
	ErrNotReady = errors.New("harness: broker not ready")
	// ErrExited: a broker process exited while the harness waited for it.
	ErrExited = errors.New("harness: broker exited")
	// ErrRunning: the broker is already running.
	ErrRunning = errors.New("harness: broker already running")
)

// Defaults for BrokerOptions.
const (
	DefaultReadyTimeout = 60 * time.Second
	DefaultStopTimeout  = 30 * time.Second
)

// BrokerOptions configures one `troupe serve` process.
type BrokerOptions struct {
	// ID is --id (default 1).
	ID int32
	// DataDir is --data-dir; default a fresh t.TempDir().
	DataDir string
	// ZooKeeper is --zookeeper; empty runs the broker in embedded mode.
	ZooKeeper string
	// Rack is --rack.
	Rack string
	// Remote is --remote (actor remoting address). In cluster mode an empty
	// Remote gets a free 127.0.0.1 port; in embedded mode it is not passed.
	Remote string
	// Overrides are passed as --override key=value, in key order.
	Overrides map[string]string
	// Args are appended to the command line as given.
	Args []string
	// LogLevel is --log-level (default "debug", so failures have context).
	LogLevel string
	// ReadyTimeout bounds the wait for a start (default DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// StopTimeout bounds how long Stop waits for a SIGTERM exit before it
	// fails the test and kills the process (default DefaultStopTimeout).
	StopTimeout time.Duration
}

// Broker is one broker process. Its methods may be called from any
// goroutine; those that fail the test (StartBroker, Restart, Stop) must be
// called from the test's goroutine.
type Broker struct {
	t       testing.TB
	opts    BrokerOptions
	bin     string
	port    int
	logPath string

	mu struct {
		sync.Mutex
		proc   *os.Process
		exited chan struct{} // closed when proc has exited
		state  *os.ProcessState
		paused bool
		starts int
	}
}

// StartBroker starts a broker process on a free 127.0.0.1 port and waits
// until it answers Metadata listing itself. It is killed at cleanup, and
// when the test failed the tail of its log is printed.
func StartBroker(t testing.TB, opts BrokerOptions) *Broker {
	t.Helper()
	b, err := newBroker(t, opts)
	if err == nil {
		err = b.startFresh()
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, b.Tail(40))
	}
	return b
}

// newBroker prepares a Broker (and its cleanup) without starting it.
func newBroker(t testing.TB, opts BrokerOptions) (*Broker, error) {
	if opts.ID == 0 {
		opts.ID = 1
	}
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "debug"
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	b := &Broker{t: t, opts: opts, bin: Binary(t)}
	b.logPath = filepath.Join(t.TempDir(), fmt.Sprintf("broker-%d.log", opts.ID))
	t.Cleanup(func() {
		b.Kill()
		if t.Failed() {
			t.Logf("harness: last lines of broker %d's log %s:\n%s", b.opts.ID, b.logPath, b.Tail(60))
		}
	})
	return b, nil
}

// startFresh picks free ports and starts the broker, trying other ports
// if one it picked was taken in the meantime.
func (b *Broker) startFresh() error {
	autoRemote := b.opts.ZooKeeper != "" && b.opts.Remote == ""
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if b.port, err = freePort(); err != nil {
			return err
		}
		if autoRemote {
			p, err := freePort()
			if err != nil {
				return err
			}
			b.opts.Remote = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		}
		if err = b.start(); err == nil {
			return nil
		}
		if !strings.Contains(strings.ToLower(b.Tail(20)), "address already in use") {
			return err
		}
	}
	return err
}

// args is the broker's command line.
func (b *Broker) args() []string {
	a := []string{"serve",
		"--id", strconv.Itoa(int(b.opts.ID)),
		"--listen", b.Addr(),
		"--data-dir", b.opts.DataDir,
		"--log-level", b.opts.LogLevel,
		"--log-format", "console",
	}
	if b.opts.ZooKeeper != "" {
		a = append(a, "--zookeeper", b.opts.ZooKeeper)
		if b.opts.Remote != "" {
			a = append(a, "--remote", b.opts.Remote)
		}
	}
	if b.opts.Rack != "" {
		a = append(a, "--rack", b.opts.Rack)
	}
	keys := make([]string, 0, len(b.opts.Overrides))
	for k := range b.opts.Overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a = append(a, "--override", k+"="+b.opts.Overrides[k])
	}
	return append(a, b.opts.Args...)
}

// start launches the process and waits until it is ready.
func (b *Broker) start() error {
	b.mu.Lock()
	if b.mu.proc != nil {
		b.mu.Unlock()
		return fmt.Errorf("%w: broker %d", ErrRunning, b.opts.ID)
	}
	logf, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		b.mu.Unlock()
		return fmt.Errorf("harness: broker log: %w", err)
	}
	b.mu.starts++
	cmd := exec.Command(b.bin, b.args()...)
	fmt.Fprintf(logf, "=== harness: start #%d at %s: %s\n", b.mu.starts, time.Now().Format(time.RFC3339Nano), strings.Join(cmd.Args, " "))
	cmd.Stdout, cmd.Stderr = logf, logf
	// If the test binary dies (panic, timeout), take the broker with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		b.mu.Unlock()
		return fmt.Errorf("harness: start broker %d: %w", b.opts.ID, err)
	}
	exited := make(chan struct{})
	b.mu.proc, b.mu.exited, b.mu.state, b.mu.paused = cmd.Process, exited, nil, false
	b.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		fmt.Fprintf(logf, "=== harness: broker exited at %s: %v\n", time.Now().Format(time.RFC3339Nano), cmd.ProcessState)
		logf.Close()
		b.mu.Lock()
		b.mu.state = cmd.ProcessState
		b.mu.Unlock()
		close(exited)
	}()
	if err := b.waitReady(exited); err != nil {
		b.Kill()
		return err
	}
	return nil
}

// waitReady polls Metadata until this broker lists itself, the process
// exits, or the ready timeout passes.
func (b *Broker) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(b.opts.ReadyTimeout)
	var last error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last = probeMetadata(ctx, b.Addr(), b.opts.ID)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%w: broker %d exited before it was ready (last probe: %v)", ErrExited, b.opts.ID, last)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: broker %d at %s after %v: %v", ErrNotReady, b.opts.ID, b.Addr(), b.opts.ReadyTimeout, last)
		}
		t := time.NewTimer(50 * time.Millisecond) // polling interval
		select {
		case <-exited:
		case <-t.C:
		}
		t.Stop()
	}
}

// probeMetadata asks addr for metadata with a fresh franz-go client and
// checks that broker id is listed.
func probeMetadata(ctx context.Context, addr string, id int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.DialTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}          // no topics: brokers only
	kresp, err := cl.SeedBrokers()[0].Request(ctx, req) // this broker, not one it names
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.MetadataResponse)
	for _, br := range resp.Brokers {
		if br.NodeID == id {
			return nil
		}
	}
	return fmt.Errorf("metadata lists brokers %v, not %d", brokerIDs(resp.Brokers), id)
}

func brokerIDs(bs []kmsg.MetadataResponseBroker) []int32 {
	ids := make([]int32, 0, len(bs))
	for _, b := range bs {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	return ids
}

// ID is the broker id.
func (b *Broker) ID() int32 { return b.opts.ID }

// Addr is the Kafka listener "127.0.0.1:port"; it stays the same across
// restarts.
func (b *Broker) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// RemoteAddr is the actor remoting address (cluster mode; "" otherwise).
func (b *Broker) RemoteAddr() string { return b.opts.Remote }

// DataDir is the broker's data directory.
func (b *Broker) DataDir() string { return b.opts.DataDir }

// LogPath is the file holding the output of every start of this broker.
func (b *Broker) LogPath() string { return b.logPath }

// PID is the process id, or 0 when the broker is not running.
func (b *Broker) PID() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.proc == nil {
		return 0
	}
	return b.mu.proc.Pid
}

// Running reports whether the process is alive (a paused one counts).
func (b *Broker) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mu.proc != nil
}

// Kill stops the process with SIGKILL, like a crash, and waits for it to
// be gone. Killing a stopped broker does nothing.
func (b *Broker) Kill() {
	b.mu.Lock()
	proc, exited := b.mu.proc, b.mu.exited
	b.mu.Unlock()
	if proc == nil {
		return
	}
	_ = proc.Signal(syscall.SIGKILL) // works on a SIGSTOPped process too
	<-exited
	b.forget(proc)
}

// raceExitCode is how a binary built with -race exits after reporting a
// data race.
const raceExitCode = 66

// Stop sends SIGTERM and waits for the exit; the test fails unless the
// broker exits with code 0 within the stop timeout (it is killed then).
func (b *Broker) Stop() {
	b.t.Helper()
	code, err := b.Terminate()
	if err != nil {
		b.t.Errorf("harness: stopping broker %d: %v\n%s", b.opts.ID, err, b.Tail(40))
		return
	}
	if code != 0 {
		lines := 40
		if code == raceExitCode {
			lines = 400 // the whole race report, both stacks
		}
		b.t.Errorf("harness: broker %d exited with code %d after SIGTERM\n%s", b.opts.ID, code, b.Tail(lines))
	}
}

// Terminate sends SIGTERM (after SIGCONT, if paused) and returns the exit
// code. After the stop timeout it kills the process and returns an error.
// It does not fail the test; Stop does.
func (b *Broker) Terminate() (int, error) {
	b.mu.Lock()
	proc, exited, paused := b.mu.proc, b.mu.exited, b.mu.paused
	b.mu.Unlock()
	if proc == nil {
		return 0, fmt.Errorf("harness: broker %d is not running", b.opts.ID)
	}
	if paused {
		_ = proc.Signal(syscall.SIGCONT) // a stopped process cannot handle SIGTERM
	}
	_ = proc.Signal(syscall.SIGTERM)
	t := time.NewTimer(b.opts.StopTimeout)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		_ = proc.Kill()
		<-exited
		b.forget(proc)
		return -1, fmt.Errorf("harness: broker %d did not exit within %v of SIGTERM; killed", b.opts.ID, b.opts.StopTimeout)
	}
	b.mu.Lock()
	state := b.mu.state
	b.mu.Unlock()
	b.forget(proc)
	return state.ExitCode(), nil
}

// forget clears the process record if it still names proc.
func (b *Broker) forget(proc *os.Process) {
	b.mu.Lock()
	if b.mu.proc == proc {
		b.mu.proc, b.mu.exited, b.mu.paused = nil, nil, false
	}
	b.mu.Unlock()
}

// Exited returns a channel closed when the current process exits (nil if
// the broker is not running): a test can notice a broker dying on its own.
func (b *Broker) Exited() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mu.exited
}

// Pause freezes the process with SIGSTOP: its sockets stay open but
// nothing answers, as in a long GC pause. It returns once the kernel
// reports every thread of the process stopped (signal delivery is
// asynchronous, and a thread busy on a CPU could otherwise still answer).
func (b *Broker) Pause() {
	b.mu.Lock()
	proc := b.mu.proc
	if proc == nil || b.mu.paused {
		b.mu.Unlock()
		return
	}
	_ = proc.Signal(syscall.SIGSTOP)
	b.mu.paused = true
	b.mu.Unlock()
	zktest.WaitStopped(proc.Pid, 5*time.Second)
}

// Resume continues a paused process with SIGCONT.
func (b *Broker) Resume() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.proc != nil && b.mu.paused {
		_ = b.mu.proc.Signal(syscall.SIGCONT)
		b.mu.paused = false
	}
}

// Restart starts a stopped or killed broker again with the same id, port
// and data directory, and waits until it is ready. The broker must not be
// running (call Kill or Stop first).
func (b *Broker) Restart() {
	b.t.Helper()
	if err := b.RestartErr(); err != nil {
		b.t.Fatalf("%v\n%s", err, b.Tail(40))
	}
}

// RestartErr is Restart returning its error instead of failing the test.
// The port was free while the broker ran; once it is gone, a client's
// outgoing connection may happen to get that port as its local one, so a
// start that finds the address in use is retried for a while.
func (b *Broker) RestartErr() error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := b.start()
		if err == nil || !strings.Contains(strings.ToLower(b.Tail(5)), "address already in use") || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond) // waiting for another process to free the port
	}
}

// Tail returns the last n lines of the broker's log.
func (b *Broker) Tail(n int) string {
	data, err := os.ReadFile(b.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// Log returns the broker's whole log.
func (b *Broker) Log() string {
	data, _ := os.ReadFile(b.logPath)
	return string(data)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("harness: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
