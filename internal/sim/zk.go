package sim

import (
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/cluster"
)

// The simulated ZooKeeper: one cluster.LocalTree (the in-process tree the
// conformance suite holds to ZooKeeper's semantics), one session per
// broker incarnation, each behind a faultConn, and the server's side of
// sessions: a session whose client is silent for longer than the session
// timeout expires (its ephemerals go, its watches fire).

type simZK struct {
	w    *World
	tree *cluster.LocalTree
	// admin is the session of the operator's tools (topic creation,
	// partitions added): never faulted.
	admin *cluster.Store
	// watches armed by jobs, in the order they were armed.
	watches []armedWatch
	// sessions are every broker session the server still holds.
	sessions []*zkSession
	nextID   int
}

// armedWatch is a watch waiting to fire; fire delivers its message.
type armedWatch struct {
	ch   <-chan cluster.WatchEvent
	fire func()
}

// zkMode is what a broker's connection to ZooKeeper suffers.
type zkMode uint8

const (
	zkOK zkMode = iota
	// zkDown: every call fails with connection loss, nothing is applied
	// (the broker cannot reach the ensemble).
	zkDown
	// zkLossy: a write may lose its answer — applied or not, the caller
	// sees connection loss.
	zkLossy
)

func newSimZK(w *World) *simZK {
	z := &simZK{w: w}
	z.tree = cluster.NewSimulatedTree(int64(w.cfg.Seed%(1<<40)), w.Now, zerolog.Nop())
	z.admin = z.store(z.tree.NewSession())
	if err := z.admin.EnsureLayout(); err != nil {
		panic(err)
	}
	return z
}

// store makes a Store over a session, with the world's clock and ids.
func (z *simZK) store(conn cluster.Conn) *cluster.Store {
	return cluster.NewStoreWith(conn, zerolog.Nop(), cluster.StoreOptions{Now: z.w.Now, NewID: z.newID})
}

// newID draws topic and cluster ids from the seed.
func (z *simZK) newID() (cluster.TopicID, error) {
	var id cluster.TopicID
	for i := range id {
		id[i] = byte(z.w.rng.IntN(256))
	}
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id, nil
}

// arm keeps a watch until it fires.
func (z *simZK) arm(ch <-chan cluster.WatchEvent, fire func()) {
	if ch != nil {
		z.watches = append(z.watches, armedWatch{ch: ch, fire: fire})
	}
}

// pollWatches delivers the watches that fired (after every event: only a
// ZooKeeper call can fire one, and those run inside events).
func (z *simZK) pollWatches() {
	kept := z.watches[:0]
	var fired []armedWatch
	for _, a := range z.watches {
		select {
		case <-a.ch:
			fired = append(fired, a)
		default:
			kept = append(kept, a)
		}
	}
	clear(z.watches[len(kept):])
	z.watches = kept
	for _, a := range fired {
		a.fire()
	}
}

// zkSession is a broker's connection to ZooKeeper: a LocalSession whose
// server-side life the simulator manages, behind a faultConn.
type zkSession struct {
	z     *simZK
	sess  *cluster.LocalSession
	conn  *faultConn
	store *cluster.Store
	// heardAt is when the server last heard from the client; a session
	// silent for sessionTimeout expires.
	heardAt time.Duration
	// silent: the client cannot reach the server (zkDown, broker paused
	// or dead).
	silent bool
	dead   bool
	// expired: the server expired the session while the client was
	// silent; reconnecting gives the client a new session.
	expired bool
	// closed: the client closed it (a clean shutdown).
	closed bool
}

func (z *simZK) newSession(b *simBroker) *zkSession {
	s := &zkSession{z: z, sess: z.tree.NewSession(), heardAt: z.w.now}
	s.conn = &faultConn{Conn: s.sess, s: s, b: b}
	s.store = z.store(s.conn)
	z.sessions = append(z.sessions, s)
	return s
}

// setSilent marks the client unable to reach the server (or able again).
// Becoming reachable again reconnects: an expired session is replaced by a
// new one, as the ZooKeeper client does.
func (s *zkSession) setSilent(silent bool) {
	if s.dead {
		return
	}
	if silent && !s.silent {
		s.sess.Disconnect()
	}
	if !silent && s.silent {
		s.sess.Reconnect()
		s.heardAt = s.z.w.now
		s.expired = false
	}
	s.silent = silent
}

// kill ends the client side (the process died): the server keeps the
// session until it expires.
func (s *zkSession) kill() {
	s.setSilent(true)
	s.dead = true
}

// tick has the server expire the session once it has not heard from the
// client for the session timeout (once: a disconnected client learns of the
// expiry when it reconnects, and gets a new session).
func (s *zkSession) tick() {
	w := s.z.w
	if !s.silent {
		s.heardAt = w.now
		return
	}
	if w.now-s.heardAt >= sessionTimeout && !s.expired {
		s.expired = true
		w.tracef("zk: session 0x%x expired", s.sess.SessionID())
		s.sess.Expire()
	}
}

// faultConn is a broker's Conn with ZooKeeper faults injected.
type faultConn struct {
	cluster.Conn
	s *zkSession
	b *simBroker
}

func (c *faultConn) mode() zkMode {
	if c.s.silent {
		return zkDown
	}
	return c.b.zkMode
}

var errLoss = fmt.Errorf("sim: %w", cluster.ErrConnectionLoss)

// read fails reads while the connection is down.
func (c *faultConn) read() error {
	if c.mode() == zkDown {
		return errLoss
	}
	return nil
}

// write runs a write under the current mode: refused while down; lossy,
// its answer may be lost, either before it was applied or after.
func (c *faultConn) write(apply func() error) error {
	switch c.mode() {
	case zkDown:
		return errLoss
	case zkLossy:
		w := c.s.z.w
		if w.chance(0.3) {
			if w.chance(0.5) {
				err := apply()
				w.tracef("b%d zk: write applied (err=%v), answer lost", c.b.id, err)
			} else {
				w.tracef("b%d zk: write lost before it was applied", c.b.id)
			}
			return errLoss
		}
	}
	return apply()
}

func (c *faultConn) Get(path string) ([]byte, cluster.Stat, error) {
	if err := c.read(); err != nil {
		return nil, cluster.Stat{}, err
	}
	return c.Conn.Get(path)
}

func (c *faultConn) GetW(path string) ([]byte, cluster.Stat, <-chan cluster.WatchEvent, error) {
	if err := c.read(); err != nil {
		return nil, cluster.Stat{}, nil, err
	}
	return c.Conn.GetW(path)
}

func (c *faultConn) Children(path string) ([]string, cluster.Stat, error) {
	if err := c.read(); err != nil {
		return nil, cluster.Stat{}, err
	}
	return c.Conn.Children(path)
}

func (c *faultConn) ChildrenW(path string) ([]string, cluster.Stat, <-chan cluster.WatchEvent, error) {
	if err := c.read(); err != nil {
		return nil, cluster.Stat{}, nil, err
	}
	return c.Conn.ChildrenW(path)
}

func (c *faultConn) Exists(path string) (bool, cluster.Stat, error) {
	if err := c.read(); err != nil {
		return false, cluster.Stat{}, err
	}
	return c.Conn.Exists(path)
}

func (c *faultConn) ExistsW(path string) (bool, cluster.Stat, <-chan cluster.WatchEvent, error) {
	if err := c.read(); err != nil {
		return false, cluster.Stat{}, nil, err
	}
	return c.Conn.ExistsW(path)
}

func (c *faultConn) Create(path string, data []byte, mode cluster.CreateMode) (string, error) {
	var out string
	err := c.write(func() error {
		var err error
		out, err = c.Conn.Create(path, data, mode)
		return err
	})
	return out, err
}

func (c *faultConn) Set(path string, data []byte, version int32) (cluster.Stat, error) {
	var st cluster.Stat
	err := c.write(func() error {
		var err error
		st, err = c.Conn.Set(path, data, version)
		return err
	})
	return st, err
}

func (c *faultConn) Delete(path string, version int32) error {
	return c.write(func() error { return c.Conn.Delete(path, version) })
}

func (c *faultConn) Multi(ops ...cluster.Op) ([]cluster.OpResult, error) {
	var res []cluster.OpResult
	err := c.write(func() error {
		var err error
		res, err = c.Conn.Multi(ops...)
		return err
	})
	return res, err
}
