package cluster

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/rs/zerolog"
)

// DialOption configures DialZooKeeper.
type DialOption func(*dialOptions)

type dialOptions struct {
	dialer         zk.Dialer
	connectTimeout time.Duration
}

// WithDialer replaces the TCP dialer (tests use it to cut the connection and
// force a session expiry).
func WithDialer(d func(network, address string, timeout time.Duration) (net.Conn, error)) DialOption {
	return func(o *dialOptions) { o.dialer = d }
}

// WithConnectTimeout bounds how long DialZooKeeper waits for the first
// session (default 15 s).
func WithConnectTimeout(d time.Duration) DialOption {
	return func(o *dialOptions) { o.connectTimeout = d }
}

// ZooKeeperConn is a Conn on a real ZooKeeper ensemble through
// github.com/go-zookeeper/zk.
//
// Session handling: go-zookeeper reconnects by itself — within the session
// (watches are re-armed with SetWatches, so no event is lost) and, after the
// server expired the session, with a brand new one. It does not re-create
// ephemerals and says little about the switch; this adapter turns its state
// changes into SessionEvents (StateExpired carrying the old id, then
// StateConnected with the new) so owners of ephemerals re-create them.
// Calls made while no server is reachable fail with ErrConnectionLoss after
// about a second; calls whose answer is lost fail the same way and may or
// may not have been applied.
type ZooKeeperConn struct {
	zc     *zk.Conn
	chroot string // "" or an absolute path without trailing '/'
	log    zerolog.Logger
	hub    *sessionHub
	ready  chan struct{} // closed once zc is set; the event callback waits on it

	mu struct {
		sync.Mutex
		state   SessionState
		session int64 // id of the last established session, kept after expiry for the event
		closed  bool
	}
	closeOnce sync.Once
}

// DialZooKeeper connects to servers ("host:port,host:port[/chroot]", Kafka's
// zookeeper.connect syntax) with the given session timeout, waits for the
// first session, and creates the chroot if it is missing. go-zookeeper's log
// lines go to logger.
func DialZooKeeper(servers string, sessionTimeout time.Duration, logger zerolog.Logger, opts ...DialOption) (*ZooKeeperConn, error) {
	o := dialOptions{connectTimeout: 15 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	hosts, chroot, err := parseConnectString(servers)
	if err != nil {
		return nil, err
	}
	c := &ZooKeeperConn{
		chroot: chroot,
		log:    logger.With().Str("component", "zookeeper").Logger(),
		hub:    newSessionHub(),
		ready:  make(chan struct{}),
	}
	c.mu.state = StateDisconnected
	events, cancel := c.hub.subscribe()
	defer cancel()
	dialer := o.dialer
	if dialer == nil {
		dialer = net.DialTimeout
	}
	zc, _, err := zk.Connect(hosts, sessionTimeout,
		zk.WithLogger(zkLogger{c.log}), zk.WithEventCallback(c.onEvent), zk.WithDialer(dialer))
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to zookeeper %s: %w", servers, err)
	}
	c.zc = zc
	close(c.ready)
	timer := time.NewTimer(o.connectTimeout)
	defer timer.Stop()
wait:
	for {
		select {
		case ev := <-events:
			if ev.State == StateConnected {
				break wait
			}
		case <-timer.C:
			c.Close()
			return nil, fmt.Errorf("%w: no session with %s within %v", ErrConnectionLoss, servers, o.connectTimeout)
		}
	}
	if chroot != "" {
		if err := c.createChroot(); err != nil {
			c.Close()
			return nil, fmt.Errorf("cluster: create chroot %s: %w", chroot, err)
		}
	}
	c.log.Info().Str("servers", servers).Str("session", fmt.Sprintf("0x%x", zc.SessionID())).
		Dur("session_timeout", sessionTimeout).Msg("zookeeper session established")
	return c, nil
}

// parseConnectString splits "h:p,h:p/chroot".
func parseConnectString(s string) (hosts []string, chroot string, err error) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s, chroot = s[:i], s[i:]
		if chroot == "/" {
			chroot = ""
		} else if validatePath(chroot, false) != nil {
			return nil, "", fmt.Errorf("%w: chroot %q", ErrBadPath, chroot)
		}
	}
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return nil, "", fmt.Errorf("cluster: no zookeeper servers in %q", s)
	}
	return hosts, chroot, nil
}

func (c *ZooKeeperConn) createChroot() error {
	parts := strings.Split(c.chroot[1:], "/")
	p := ""
	for _, part := range parts {
		p += "/" + part
		_, err := c.zc.Create(p, nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll))
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return c.mapErr(err)
		}
	}
	return nil
}

// onEvent runs on go-zookeeper's goroutine for every event; it must not
// block. It turns session state changes into SessionEvents.
func (c *ZooKeeperConn) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	<-c.ready // zk.Connect has returned and c.zc is set (immediately after)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return
	}
	switch ev.State {
	case zk.StateHasSession:
		id := c.zc.SessionID()
		if c.mu.session != 0 && id != c.mu.session && c.mu.state != StateExpired {
			// Defensive: a new session without an expiry event first.
			c.publishLocked(SessionEvent{State: StateExpired, SessionID: c.mu.session})
		}
		if c.mu.state != StateConnected || id != c.mu.session {
			c.log.Info().Str("session", fmt.Sprintf("0x%x", id)).Msg("zookeeper connected")
		}
		c.mu.session = id
		c.publishLocked(SessionEvent{State: StateConnected, SessionID: id})
	case zk.StateExpired:
		c.log.Warn().Str("session", fmt.Sprintf("0x%x", c.mu.session)).Msg("zookeeper session expired; starting a new one")
		c.publishLocked(SessionEvent{State: StateExpired, SessionID: c.mu.session})
	case zk.StateDisconnected, zk.StateConnecting:
		if c.mu.state == StateConnected {
			c.log.Warn().Str("session", fmt.Sprintf("0x%x", c.mu.session)).Msg("zookeeper disconnected")
			c.publishLocked(SessionEvent{State: StateDisconnected, SessionID: c.mu.session})
		}
	}
}

// REQUIRES: c.mu held. hub.publish does not block.
func (c *ZooKeeperConn) publishLocked(ev SessionEvent) {
	c.mu.state = ev.State
	c.hub.publish(ev)
}

// SessionID implements Conn.
func (c *ZooKeeperConn) SessionID() int64 { return c.zc.SessionID() }

// State implements Conn.
func (c *ZooKeeperConn) State() SessionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return StateClosed
	}
	return c.mu.state
}

// SessionEvents implements Conn.
func (c *ZooKeeperConn) SessionEvents() (<-chan SessionEvent, func()) { return c.hub.subscribe() }

// Close implements Conn. It may take a few seconds when no server is
// reachable (go-zookeeper tries to send the close request).
func (c *ZooKeeperConn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.mu.closed = true
		c.mu.Unlock()
		c.zc.Close()
		c.hub.close()
		c.log.Debug().Msg("zookeeper connection closed")
	})
	return nil
}

func (c *ZooKeeperConn) closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.closed
}

// full maps a caller's path into the chroot.
func (c *ZooKeeperConn) full(p string) string {
	if c.chroot == "" {
		return p
	}
	if p == "/" {
		return c.chroot
	}
	return c.chroot + p
}

// strip maps a server path back out of the chroot.
func (c *ZooKeeperConn) strip(p string) string {
	if c.chroot == "" || !strings.HasPrefix(p, c.chroot) {
		return p
	}
	p = p[len(c.chroot):]
	if p == "" {
		return "/"
	}
	return p
}

// mapErr turns go-zookeeper's errors into this package's sentinels.
func (c *ZooKeeperConn) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, zk.ErrNoNode):
		return ErrNoNode
	case errors.Is(err, zk.ErrNodeExists):
		return ErrNodeExists
	case errors.Is(err, zk.ErrBadVersion):
		return ErrBadVersion
	case errors.Is(err, zk.ErrNotEmpty):
		return ErrNotEmpty
	case errors.Is(err, zk.ErrNoChildrenForEphemerals):
		return ErrNoChildrenForEphemerals
	case errors.Is(err, zk.ErrInvalidPath):
		return ErrBadPath
	case errors.Is(err, zk.ErrSessionExpired):
		if c.closed() {
			return ErrClosed
		}
		return ErrSessionExpired
	}
	if c.closed() {
		return ErrClosed
	}
	var ne net.Error
	if errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer) || errors.Is(err, zk.ErrClosing) ||
		errors.Is(err, zk.ErrSessionMoved) || errors.Is(err, io.EOF) || errors.As(err, &ne) {
		return ErrConnectionLoss
	}
	return fmt.Errorf("cluster: zookeeper: %w", err)
}

func (c *ZooKeeperConn) opErr(op, path string, err error) error {
	return &OpError{Op: op, Path: path, Err: c.mapErr(err)}
}

func convStat(s *zk.Stat) Stat {
	if s == nil {
		return Stat{}
	}
	return Stat{
		Czxid: s.Czxid, Mzxid: s.Mzxid, Pzxid: s.Pzxid, Ctime: s.Ctime, Mtime: s.Mtime,
		Version: s.Version, Cversion: s.Cversion, EphemeralOwner: s.EphemeralOwner,
		DataLength: s.DataLength, NumChildren: s.NumChildren,
	}
}

// watch converts go-zookeeper's watch channel (one event, then closed).
func (c *ZooKeeperConn) watch(zch <-chan zk.Event) <-chan WatchEvent {
	out := make(chan WatchEvent, 1)
	go func() {
		defer close(out)
		ev, ok := <-zch
		if !ok {
			out <- WatchEvent{Type: EventNotWatching, Err: ErrClosed}
			return
		}
		w := WatchEvent{Path: c.strip(ev.Path)}
		switch ev.Type {
		case zk.EventNodeCreated:
			w.Type = EventNodeCreated
		case zk.EventNodeDeleted:
			w.Type = EventNodeDeleted
		case zk.EventNodeDataChanged:
			w.Type = EventNodeDataChanged
		case zk.EventNodeChildrenChanged:
			w.Type = EventNodeChildrenChanged
		default:
			w.Type = EventNotWatching
			switch {
			case errors.Is(ev.Err, zk.ErrSessionExpired):
				w.Err = ErrSessionExpired
			case c.closed() || errors.Is(ev.Err, zk.ErrClosing):
				w.Err = ErrClosed
			case ev.Err != nil:
				w.Err = c.mapErr(ev.Err)
			default:
				w.Err = ErrConnectionLoss
			}
		}
		out <- w
	}()
	return out
}

// Get implements Conn.
func (c *ZooKeeperConn) Get(path string) ([]byte, Stat, error) {
	if err := validatePath(path, false); err != nil {
		return nil, Stat{}, &OpError{Op: "get", Path: path, Err: err}
	}
	data, st, err := c.zc.Get(c.full(path))
	if err != nil {
		return nil, Stat{}, c.opErr("get", path, err)
	}
	return data, convStat(st), nil
}

// GetW implements Conn.
func (c *ZooKeeperConn) GetW(path string) ([]byte, Stat, <-chan WatchEvent, error) {
	if err := validatePath(path, false); err != nil {
		return nil, Stat{}, nil, &OpError{Op: "get", Path: path, Err: err}
	}
	data, st, zch, err := c.zc.GetW(c.full(path))
	if err != nil {
		return nil, Stat{}, nil, c.opErr("get", path, err)
	}
	return data, convStat(st), c.watch(zch), nil
}

// Children implements Conn.
func (c *ZooKeeperConn) Children(path string) ([]string, Stat, error) {
	if err := validatePath(path, false); err != nil {
		return nil, Stat{}, &OpError{Op: "children", Path: path, Err: err}
	}
	names, st, err := c.zc.Children(c.full(path))
	if err != nil {
		return nil, Stat{}, c.opErr("children", path, err)
	}
	sort.Strings(names)
	return names, convStat(st), nil
}

// ChildrenW implements Conn.
func (c *ZooKeeperConn) ChildrenW(path string) ([]string, Stat, <-chan WatchEvent, error) {
	if err := validatePath(path, false); err != nil {
		return nil, Stat{}, nil, &OpError{Op: "children", Path: path, Err: err}
	}
	names, st, zch, err := c.zc.ChildrenW(c.full(path))
	if err != nil {
		return nil, Stat{}, nil, c.opErr("children", path, err)
	}
	sort.Strings(names)
	return names, convStat(st), c.watch(zch), nil
}

// Exists implements Conn.
func (c *ZooKeeperConn) Exists(path string) (bool, Stat, error) {
	if err := validatePath(path, false); err != nil {
		return false, Stat{}, &OpError{Op: "exists", Path: path, Err: err}
	}
	ok, st, err := c.zc.Exists(c.full(path))
	if err != nil {
		return false, Stat{}, c.opErr("exists", path, err)
	}
	if !ok {
		return false, Stat{}, nil
	}
	return true, convStat(st), nil
}

// ExistsW implements Conn.
func (c *ZooKeeperConn) ExistsW(path string) (bool, Stat, <-chan WatchEvent, error) {
	if err := validatePath(path, false); err != nil {
		return false, Stat{}, nil, &OpError{Op: "exists", Path: path, Err: err}
	}
	ok, st, zch, err := c.zc.ExistsW(c.full(path))
	if err != nil {
		return false, Stat{}, nil, c.opErr("exists", path, err)
	}
	if !ok {
		return false, Stat{}, c.watch(zch), nil
	}
	return true, convStat(st), c.watch(zch), nil
}

func zkFlags(m CreateMode) (int32, error) {
	switch m {
	case ModePersistent:
		return zk.FlagPersistent, nil
	case ModeEphemeral:
		return zk.FlagEphemeral, nil
	case ModePersistentSequential:
		return zk.FlagSequence, nil
	case ModeEphemeralSequential:
		return zk.FlagEphemeralSequential, nil
	}
	return 0, fmt.Errorf("cluster: invalid create mode %d", int(m))
}

// Create implements Conn.
func (c *ZooKeeperConn) Create(path string, data []byte, mode CreateMode) (string, error) {
	flags, err := zkFlags(mode)
	if err != nil {
		return "", &OpError{Op: "create", Path: path, Err: err}
	}
	if err := validatePath(path, mode.sequential()); err != nil {
		return "", &OpError{Op: "create", Path: path, Err: err}
	}
	p, err := c.zc.Create(c.full(path), data, flags, zk.WorldACL(zk.PermAll))
	if err != nil {
		return "", c.opErr("create", path, err)
	}
	return c.strip(p), nil
}

// Set implements Conn.
func (c *ZooKeeperConn) Set(path string, data []byte, version int32) (Stat, error) {
	if err := validatePath(path, false); err != nil {
		return Stat{}, &OpError{Op: "set", Path: path, Err: err}
	}
	st, err := c.zc.Set(c.full(path), data, version)
	if err != nil {
		return Stat{}, c.opErr("set", path, err)
	}
	return convStat(st), nil
}

// Delete implements Conn.
func (c *ZooKeeperConn) Delete(path string, version int32) error {
	if err := validatePath(path, false); err != nil {
		return &OpError{Op: "delete", Path: path, Err: err}
	}
	if path == "/" {
		return &OpError{Op: "delete", Path: path, Err: ErrBadPath}
	}
	if err := c.zc.Delete(c.full(path), version); err != nil {
		return c.opErr("delete", path, err)
	}
	return nil
}

// Multi implements Conn.
func (c *ZooKeeperConn) Multi(ops ...Op) ([]OpResult, error) {
	reqs := make([]any, len(ops))
	for i, op := range ops {
		var err error
		switch o := op.(type) {
		case CreateOp:
			var flags int32
			if flags, err = zkFlags(o.Mode); err == nil {
				if err = validatePath(o.Path, o.Mode.sequential()); err == nil {
					reqs[i] = &zk.CreateRequest{Path: c.full(o.Path), Data: o.Data, Acl: zk.WorldACL(zk.PermAll), Flags: flags}
				}
			}
		case SetOp:
			if err = validatePath(o.Path, false); err == nil {
				reqs[i] = &zk.SetDataRequest{Path: c.full(o.Path), Data: o.Data, Version: o.Version}
			}
		case DeleteOp:
			if err = validatePath(o.Path, false); err == nil {
				reqs[i] = &zk.DeleteRequest{Path: c.full(o.Path), Version: o.Version}
			}
		case CheckOp:
			if err = validatePath(o.Path, false); err == nil {
				reqs[i] = &zk.CheckVersionRequest{Path: c.full(o.Path), Version: o.Version}
			}
		default:
			err = fmt.Errorf("cluster: unknown multi op %T", op)
		}
		if err != nil {
			return nil, &MultiError{Index: i, Op: op, Err: err}
		}
	}
	res, err := c.zc.Multi(reqs...)
	if err != nil {
		// ZooKeeper marks the ops before the failing one OK and the ones
		// after it as rolled back; the first error is the cause.
		for i, r := range res {
			if r.Error != nil && i < len(ops) {
				return nil, &MultiError{Index: i, Op: ops[i], Err: c.mapErr(r.Error)}
			}
		}
		return nil, &MultiError{Index: -1, Err: c.mapErr(err)}
	}
	out := make([]OpResult, len(ops))
	for i, r := range res {
		if i >= len(ops) {
			break
		}
		if _, ok := ops[i].(CreateOp); ok {
			out[i].Path = c.strip(r.String)
		}
		if _, ok := ops[i].(SetOp); ok {
			out[i].Stat = convStat(r.Stat)
		}
	}
	return out, nil
}

// zkLogger routes go-zookeeper's Printf lines into zerolog: failures at warn,
// connection chatter at debug.
type zkLogger struct{ log zerolog.Logger }

func (l zkLogger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	lower := strings.ToLower(msg)
	if strings.Contains(lower, "fail") || strings.Contains(lower, "error") {
		l.log.Warn().Msg(msg)
		return
	}
	l.log.Debug().Msg(msg)
}
