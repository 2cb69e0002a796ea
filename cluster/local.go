package cluster

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// LocalTree is an in-process znode tree with ZooKeeper's semantics. It is the
// metadata store of embedded mode (`troupe serve` without --zookeeper) and the
// fake that unit tests run the Store against.
//
// A LocalTree is itself a Conn: its primary session. NewSession opens more
// sessions on the same tree, so tests can play several brokers (duplicate
// registration, controller fencing). Expire, Disconnect and Reconnect on a
// session simulate what a ZooKeeper server does to it.
//
// Persistence: with a directory, every successful write rewrites the
// persistent znodes to <dir>/znodes.json atomically (write a temp file, fsync,
// rename, fsync the directory) before the call returns and before any watch
// fires, and NewLocalTree loads them back. Ephemeral znodes are not persisted:
// they belong to sessions, and no session survives a restart. A failed write
// leaves the tree refusing further writes (ErrStoreFailed), because the file
// may or may not hold it. The whole tree is rewritten per write, which suits
// embedded mode's small metadata (topics, partition states, configs); a store
// with tens of thousands of partitions would want a log instead.
//
// Differences from ZooKeeper, none of which the Store relies on: watch events
// are delivered even while a session is (simulated) disconnected, zxids are
// local counters, and there are no ACLs, quotas or /zookeeper node.
type LocalTree struct {
	*LocalSession // primary session
	db            *localDB
}

// LocalSession is one session on a LocalTree. It implements Conn.
type LocalSession struct {
	db  *localDB
	hub *sessionHub

	// Guarded by db.mu.
	id    int64
	state SessionState // StateConnected, StateDisconnected or StateClosed
	// expiredID is a session that the "server" expired while this session
	// was disconnected; the client side learns of it on Reconnect.
	expiredID int64
}

// localDB is the shared tree. Every field below mu is guarded by mu.
type localDB struct {
	log     zerolog.Logger
	dir     string     // "" for memory-only
	lock    fileLocker // held while open when dir != ""
	nowFunc func() time.Time

	mu       sync.Mutex
	nodes    map[string]*localNode // by full path; "/" always present
	zxid     int64                 // last committed transaction id
	sessions map[int64]*LocalSession
	nextID   int64 // next session id
	watches  map[watchKey][]localWatch
	failed   error // set once a persist failed: writes are refused
	closed   bool
}

// localNode is one znode. data is never mutated in place (replaced on set),
// so undo copies may share it.
type localNode struct {
	data []byte
	// stat's Cversion, NumChildren and DataLength are derived on read.
	stat     Stat
	children map[string]struct{}
	// created counts the children ever created here; it numbers sequential
	// children. As in ZooKeeper's DataNode, the reported cversion (creates
	// plus deletes) is derived: 2*created - len(children). Deriving it keeps
	// it right after a restart in which ephemeral children vanished without
	// their deletions being written down.
	created int32
}

type watchKind int

const (
	watchData  watchKind = iota // GetW, or ExistsW on an existing node
	watchExist                  // ExistsW on a missing node
	watchChild                  // ChildrenW
)

type watchKey struct {
	path string
	kind watchKind
}

type localWatch struct {
	sess *LocalSession
	ch   chan WatchEvent // capacity 1, receives exactly one event, then closed
}

// NewLocalTree opens a znode tree. With dir "" it lives in memory only;
// otherwise dir is created if needed, locked against other processes, and the
// persistent znodes saved there are loaded.
func NewLocalTree(dir string, logger zerolog.Logger) (*LocalTree, error) {
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("cluster: session id seed: %w", err)
	}
	// Session ids only need to be unique and non-zero; a random base keeps
	// them unique across restarts of the same store, as ZooKeeper's are.
	base := int64(binary.BigEndian.Uint64(seed[:])>>8) | 1<<48
	return openLocalTree(dir, logger, base, time.Now)
}

// NewSimulatedTree returns an in-memory tree whose session ids start at
// sessionBase and whose znode times come from now: the same calls give the
// same tree, so a simulation replays from its seed.
func NewSimulatedTree(sessionBase int64, now func() time.Time, logger zerolog.Logger) *LocalTree {
	t, err := openLocalTree("", logger, sessionBase|1<<48, now)
	if err != nil {
		panic(err) // memory-only: no I/O that could fail
	}
	return t
}

func openLocalTree(dir string, logger zerolog.Logger, sessionBase int64, now func() time.Time) (*LocalTree, error) {
	db := &localDB{
		log:      logger.With().Str("component", "localtree").Logger(),
		dir:      dir,
		nowFunc:  now,
		nodes:    map[string]*localNode{"/": {children: map[string]struct{}{}}},
		sessions: make(map[int64]*LocalSession),
		watches:  make(map[watchKey][]localWatch),
		nextID:   sessionBase,
	}
	if dir != "" {
		if err := db.open(); err != nil {
			return nil, err
		}
	}
	t := &LocalTree{db: db}
	db.mu.Lock()
	t.LocalSession = db.newSessionLocked()
	db.mu.Unlock()
	return t, nil
}

// NewSession opens another session on the tree, already connected.
func (t *LocalTree) NewSession() *LocalSession {
	t.db.mu.Lock()
	defer t.db.mu.Unlock()
	return t.db.newSessionLocked()
}

// Close ends every session (deleting their ephemerals, firing their watches
// with ErrClosed) and releases the directory.
func (t *LocalTree) Close() error {
	t.db.mu.Lock()
	if t.db.closed {
		t.db.mu.Unlock()
		return nil
	}
	sessions := make([]*LocalSession, 0, len(t.db.sessions))
	for _, s := range t.db.sessions {
		sessions = append(sessions, s)
	}
	t.db.mu.Unlock()
	for _, s := range sessions {
		_ = s.Close()
	}
	t.db.mu.Lock()
	defer t.db.mu.Unlock()
	t.db.closed = true
	return t.db.lock.release()
}

// Dir returns the directory the tree persists to ("" for memory-only).
func (t *LocalTree) Dir() string { return t.db.dir }

// REQUIRES: db.mu held.
func (db *localDB) newSessionLocked() *LocalSession {
	s := &LocalSession{db: db, hub: newSessionHub(), id: db.nextID, state: StateConnected}
	db.nextID++
	if db.closed {
		s.state = StateClosed
		s.hub.close()
		return s
	}
	db.sessions[s.id] = s
	return s
}

// --- Conn implementation --------------------------------------------------

// SessionID implements Conn.
func (s *LocalSession) SessionID() int64 {
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	return s.id
}

// State implements Conn.
func (s *LocalSession) State() SessionState {
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	return s.state
}

// SessionEvents implements Conn.
func (s *LocalSession) SessionEvents() (<-chan SessionEvent, func()) { return s.hub.subscribe() }

// usable reports why the session cannot serve a call right now.
// REQUIRES: db.mu held.
func (s *LocalSession) usable() error {
	switch {
	case s.state == StateClosed || s.db.closed:
		return ErrClosed
	case s.state == StateDisconnected:
		return ErrConnectionLoss
	}
	return nil
}

// Get implements Conn.
func (s *LocalSession) Get(path string) ([]byte, Stat, error) {
	data, st, _, err := s.get(path, false)
	return data, st, err
}

// GetW implements Conn.
func (s *LocalSession) GetW(path string) ([]byte, Stat, <-chan WatchEvent, error) {
	return s.get(path, true)
}

func (s *LocalSession) get(path string, watch bool) ([]byte, Stat, <-chan WatchEvent, error) {
	if err := validatePath(path, false); err != nil {
		return nil, Stat{}, nil, &OpError{Op: "get", Path: path, Err: err}
	}
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, Stat{}, nil, &OpError{Op: "get", Path: path, Err: err}
	}
	n := s.db.nodes[path]
	if n == nil {
		return nil, Stat{}, nil, &OpError{Op: "get", Path: path, Err: ErrNoNode}
	}
	var ch <-chan WatchEvent
	if watch {
		ch = s.db.addWatchLocked(s, path, watchData)
	}
	return cloneBytes(n.data), n.statOut(), ch, nil
}

// Children implements Conn.
func (s *LocalSession) Children(path string) ([]string, Stat, error) {
	names, st, _, err := s.children(path, false)
	return names, st, err
}

// ChildrenW implements Conn.
func (s *LocalSession) ChildrenW(path string) ([]string, Stat, <-chan WatchEvent, error) {
	return s.children(path, true)
}

func (s *LocalSession) children(path string, watch bool) ([]string, Stat, <-chan WatchEvent, error) {
	if err := validatePath(path, false); err != nil {
		return nil, Stat{}, nil, &OpError{Op: "children", Path: path, Err: err}
	}
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, Stat{}, nil, &OpError{Op: "children", Path: path, Err: err}
	}
	n := s.db.nodes[path]
	if n == nil {
		return nil, Stat{}, nil, &OpError{Op: "children", Path: path, Err: ErrNoNode}
	}
	names := make([]string, 0, len(n.children))
	for c := range n.children {
		names = append(names, c)
	}
	sort.Strings(names)
	var ch <-chan WatchEvent
	if watch {
		ch = s.db.addWatchLocked(s, path, watchChild)
	}
	return names, n.statOut(), ch, nil
}

// Exists implements Conn.
func (s *LocalSession) Exists(path string) (bool, Stat, error) {
	ok, st, _, err := s.exists(path, false)
	return ok, st, err
}

// ExistsW implements Conn.
func (s *LocalSession) ExistsW(path string) (bool, Stat, <-chan WatchEvent, error) {
	return s.exists(path, true)
}

func (s *LocalSession) exists(path string, watch bool) (bool, Stat, <-chan WatchEvent, error) {
	if err := validatePath(path, false); err != nil {
		return false, Stat{}, nil, &OpError{Op: "exists", Path: path, Err: err}
	}
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	if err := s.usable(); err != nil {
		return false, Stat{}, nil, &OpError{Op: "exists", Path: path, Err: err}
	}
	n := s.db.nodes[path]
	var ch <-chan WatchEvent
	if n == nil {
		if watch {
			ch = s.db.addWatchLocked(s, path, watchExist)
		}
		return false, Stat{}, ch, nil
	}
	if watch {
		ch = s.db.addWatchLocked(s, path, watchData)
	}
	return true, n.statOut(), ch, nil
}

// Create implements Conn.
func (s *LocalSession) Create(path string, data []byte, mode CreateMode) (string, error) {
	var created string
	err := s.write(func(tx *localTxn) error {
		var err error
		created, err = tx.create(s, path, data, mode)
		return err
	})
	if err != nil {
		return "", &OpError{Op: "create", Path: path, Err: err}
	}
	return created, nil
}

// Set implements Conn.
func (s *LocalSession) Set(path string, data []byte, version int32) (Stat, error) {
	var st Stat
	err := s.write(func(tx *localTxn) error {
		var err error
		st, err = tx.set(path, data, version)
		return err
	})
	if err != nil {
		return Stat{}, &OpError{Op: "set", Path: path, Err: err}
	}
	return st, nil
}

// Delete implements Conn.
func (s *LocalSession) Delete(path string, version int32) error {
	err := s.write(func(tx *localTxn) error { return tx.del(path, version) })
	if err != nil {
		return &OpError{Op: "delete", Path: path, Err: err}
	}
	return nil
}

// Multi implements Conn.
func (s *LocalSession) Multi(ops ...Op) ([]OpResult, error) {
	results := make([]OpResult, len(ops))
	failed := -1
	err := s.write(func(tx *localTxn) error {
		for i, op := range ops {
			var err error
			switch o := op.(type) {
			case CreateOp:
				results[i].Path, err = tx.create(s, o.Path, o.Data, o.Mode)
			case SetOp:
				results[i].Stat, err = tx.set(o.Path, o.Data, o.Version)
			case DeleteOp:
				err = tx.del(o.Path, o.Version)
			case CheckOp:
				err = tx.check(o.Path, o.Version)
			default:
				err = fmt.Errorf("cluster: unknown multi op %T", op)
			}
			if err != nil {
				failed = i
				return err
			}
		}
		return nil
	})
	if err != nil {
		if failed < 0 {
			return nil, &MultiError{Index: -1, Err: err}
		}
		return nil, &MultiError{Index: failed, Op: ops[failed], Err: err}
	}
	return results, nil
}

// Close ends the session: its ephemerals are deleted, its watches fire with
// ErrClosed, and its SessionEvents subscribers get StateClosed.
func (s *LocalSession) Close() error {
	db := s.db
	db.mu.Lock()
	if s.state == StateClosed {
		db.mu.Unlock()
		return nil
	}
	s.state = StateClosed
	delete(db.sessions, s.id)
	db.dropWatchesLocked(s, ErrClosed)
	db.deleteEphemeralsLocked(s.id)
	db.mu.Unlock()
	s.hub.close()
	return nil
}

// --- Simulation of server-side events (tests) ----------------------------

// Expire makes the "server" expire the session: its ephemerals are deleted
// (firing other sessions' watches) and its own watches fire with
// EventNotWatching / ErrSessionExpired. If the session is connected it
// immediately reports StateExpired and then StateConnected under a new
// session id; if it is disconnected, it learns of the expiry on Reconnect,
// exactly as a ZooKeeper client does.
func (s *LocalSession) Expire() {
	db := s.db
	db.mu.Lock()
	if s.state == StateClosed || s.expiredID != 0 {
		db.mu.Unlock()
		return
	}
	old := s.id
	db.dropWatchesLocked(s, ErrSessionExpired)
	db.deleteEphemeralsLocked(old)
	delete(db.sessions, old)
	if s.state == StateDisconnected {
		// The client keeps believing in the old session until it reaches a
		// server again (Reconnect).
		s.expiredID = old
		db.mu.Unlock()
		return
	}
	s.id = db.nextID
	db.nextID++
	db.sessions[s.id] = s
	newID := s.id
	db.mu.Unlock()
	s.hub.publish(SessionEvent{State: StateExpired, SessionID: old})
	s.hub.publish(SessionEvent{State: StateConnected, SessionID: newID})
}

// Disconnect simulates losing the connection: calls fail with
// ErrConnectionLoss until Reconnect; the session (and its ephemerals) stay.
func (s *LocalSession) Disconnect() {
	s.db.mu.Lock()
	if s.state != StateConnected {
		s.db.mu.Unlock()
		return
	}
	s.state = StateDisconnected
	id := s.id
	s.db.mu.Unlock()
	s.hub.publish(SessionEvent{State: StateDisconnected, SessionID: id})
}

// Reconnect ends a simulated disconnection. If the session was expired in
// the meantime, it reports StateExpired before the new session's
// StateConnected.
func (s *LocalSession) Reconnect() {
	db := s.db
	db.mu.Lock()
	if s.state != StateDisconnected {
		db.mu.Unlock()
		return
	}
	s.state = StateConnected
	expired := s.expiredID
	if expired != 0 {
		s.expiredID = 0
		s.id = db.nextID
		db.nextID++
		db.sessions[s.id] = s
	}
	id := s.id
	db.mu.Unlock()
	if expired != 0 {
		s.hub.publish(SessionEvent{State: StateExpired, SessionID: expired})
	}
	s.hub.publish(SessionEvent{State: StateConnected, SessionID: id})
}

// --- watches ---------------------------------------------------------------

// REQUIRES: db.mu held.
func (db *localDB) addWatchLocked(s *LocalSession, path string, kind watchKind) <-chan WatchEvent {
	ch := make(chan WatchEvent, 1)
	k := watchKey{path, kind}
	db.watches[k] = append(db.watches[k], localWatch{sess: s, ch: ch})
	return ch
}

// fireLocked delivers ev to every watch of the given kinds on path and
// removes them (watches are one-shot).
// REQUIRES: db.mu held.
func (db *localDB) fireLocked(path string, typ EventType, kinds ...watchKind) {
	for _, kind := range kinds {
		k := watchKey{path, kind}
		for _, w := range db.watches[k] {
			w.ch <- WatchEvent{Type: typ, Path: path}
			close(w.ch)
		}
		delete(db.watches, k)
	}
}

// dropWatchesLocked fires EventNotWatching on every watch of session s.
// REQUIRES: db.mu held.
func (db *localDB) dropWatchesLocked(s *LocalSession, why error) {
	for k, ws := range db.watches {
		kept := ws[:0]
		for _, w := range ws {
			if w.sess == s {
				w.ch <- WatchEvent{Type: EventNotWatching, Path: k.path, Err: why}
				close(w.ch)
				continue
			}
			kept = append(kept, w)
		}
		if len(kept) == 0 {
			delete(db.watches, k)
		} else {
			db.watches[k] = kept
		}
	}
}

// deleteEphemeralsLocked deletes the ephemerals owned by session id in one
// transaction, as ZooKeeper's closeSession does.
// REQUIRES: db.mu held.
func (db *localDB) deleteEphemeralsLocked(id int64) {
	var paths []string
	for p, n := range db.nodes {
		if n.stat.EphemeralOwner == id {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return
	}
	sort.Strings(paths)
	tx := db.begin()
	for _, p := range paths {
		if err := tx.del(p, AnyVersion); err != nil {
			// Ephemerals have no children, so this cannot fail.
			panic(fmt.Sprintf("cluster: deleting ephemeral %s: %v", p, err))
		}
	}
	if err := tx.commit(); err != nil {
		db.log.Error().Err(err).Int64("session", id).Msg("persisting ephemeral cleanup failed")
	}
}

// --- transactions ------------------------------------------------------------

// write runs fn as one transaction: all of its changes commit (persisted,
// then watches fired) or none do.
func (s *LocalSession) write(fn func(tx *localTxn) error) error {
	db := s.db
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	if db.failed != nil {
		return fmt.Errorf("%w: %v", ErrStoreFailed, db.failed)
	}
	tx := db.begin()
	if err := fn(tx); err != nil {
		tx.rollback()
		return err
	}
	return tx.commit()
}

// localTxn is one ZooKeeper transaction (a single write or a whole Multi):
// one zxid, applied in order, each op seeing the previous ones, undone
// entirely on failure.
// REQUIRES: db.mu held for the transaction's whole life.
type localTxn struct {
	db     *localDB
	zxid   int64
	now    int64
	undo   []undoEntry
	saved  map[string]bool
	events []txEvent
	// persistent is set when a change touched state that is persisted (any
	// persistent node, including a parent whose cversion an ephemeral bumped).
	persistent bool
}

type undoEntry struct {
	path string
	old  *localNode // nil: the node did not exist
}

type txEvent struct {
	path  string
	typ   EventType
	kinds []watchKind
}

func (db *localDB) begin() *localTxn {
	return &localTxn{db: db, zxid: db.zxid + 1, now: db.nowFunc().UnixMilli(), saved: make(map[string]bool)}
}

// save records path's state before its first change in this transaction.
func (tx *localTxn) save(path string) {
	if tx.saved[path] {
		return
	}
	tx.saved[path] = true
	var old *localNode
	if n := tx.db.nodes[path]; n != nil {
		c := *n
		c.children = make(map[string]struct{}, len(n.children))
		for k := range n.children {
			c.children[k] = struct{}{}
		}
		old = &c
	}
	tx.undo = append(tx.undo, undoEntry{path: path, old: old})
}

func (tx *localTxn) rollback() {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		u := tx.undo[i]
		if u.old == nil {
			delete(tx.db.nodes, u.path)
		} else {
			tx.db.nodes[u.path] = u.old
		}
	}
	tx.undo = nil
	tx.events = nil
}

func (tx *localTxn) commit() error {
	if len(tx.undo) == 0 {
		return nil // checks only: nothing changed, no zxid consumed
	}
	db := tx.db
	prevZxid := db.zxid
	db.zxid = tx.zxid
	if tx.persistent && db.dir != "" {
		if err := db.persistLocked(); err != nil {
			tx.rollback()
			db.zxid = prevZxid
			db.failed = err
			db.log.Error().Err(err).Str("dir", db.dir).Msg("local metadata store write failed; refusing further writes")
			return fmt.Errorf("%w: %v", ErrStoreFailed, err)
		}
	}
	for _, ev := range tx.events {
		db.fireLocked(ev.path, ev.typ, ev.kinds...)
	}
	return nil
}

func (tx *localTxn) create(s *LocalSession, path string, data []byte, mode CreateMode) (string, error) {
	if mode < ModePersistent || mode > ModeEphemeralSequential {
		return "", fmt.Errorf("cluster: invalid create mode %d", int(mode))
	}
	if err := validatePath(path, mode.sequential()); err != nil {
		return "", err
	}
	if path == "/" && !mode.sequential() {
		return "", ErrNodeExists
	}
	parentP := parentPath(path)
	if mode.sequential() && path[len(path)-1] == '/' {
		parentP = path[:len(path)-1]
		if parentP == "" {
			parentP = "/"
		}
	}
	parent := tx.db.nodes[parentP]
	if parent == nil {
		return "", ErrNoNode
	}
	if parent.stat.EphemeralOwner != 0 {
		return "", ErrNoChildrenForEphemerals
	}
	if mode.sequential() {
		// ZooKeeper numbers a sequential node with the count of children
		// ever created under the parent (not with the reported cversion,
		// which deletes bump too).
		path += fmt.Sprintf("%010d", parent.created)
	}
	if tx.db.nodes[path] != nil {
		return "", ErrNodeExists
	}
	tx.save(parentP)
	tx.save(path)
	parent = tx.db.nodes[parentP]
	parent.children[baseName(path)] = struct{}{}
	parent.created++
	parent.stat.Pzxid = tx.zxid
	n := &localNode{
		data:     cloneBytes(data),
		children: map[string]struct{}{},
		stat: Stat{
			Czxid: tx.zxid, Mzxid: tx.zxid, Pzxid: tx.zxid,
			Ctime: tx.now, Mtime: tx.now,
		},
	}
	if mode.ephemeral() {
		n.stat.EphemeralOwner = s.id
	}
	// Persisted even for an ephemeral: the parent's created count changed,
	// and sequence numbers must not repeat after a restart.
	tx.persistent = true
	tx.db.nodes[path] = n
	tx.events = append(tx.events,
		txEvent{path, EventNodeCreated, []watchKind{watchExist}},
		txEvent{parentP, EventNodeChildrenChanged, []watchKind{watchChild}})
	return path, nil
}

func (tx *localTxn) set(path string, data []byte, version int32) (Stat, error) {
	if err := validatePath(path, false); err != nil {
		return Stat{}, err
	}
	n := tx.db.nodes[path]
	if n == nil {
		return Stat{}, ErrNoNode
	}
	if version != AnyVersion && version != n.stat.Version {
		return Stat{}, ErrBadVersion
	}
	tx.save(path)
	n = tx.db.nodes[path]
	n.data = cloneBytes(data)
	n.stat.Version++
	n.stat.Mzxid = tx.zxid
	n.stat.Mtime = tx.now
	if n.stat.EphemeralOwner == 0 {
		tx.persistent = true
	}
	tx.events = append(tx.events, txEvent{path, EventNodeDataChanged, []watchKind{watchData, watchExist}})
	return n.statOut(), nil
}

func (tx *localTxn) del(path string, version int32) error {
	if err := validatePath(path, false); err != nil {
		return err
	}
	if path == "/" {
		return ErrBadPath
	}
	n := tx.db.nodes[path]
	if n == nil {
		return ErrNoNode
	}
	if version != AnyVersion && version != n.stat.Version {
		return ErrBadVersion
	}
	if len(n.children) > 0 {
		return ErrNotEmpty
	}
	parentP := parentPath(path)
	tx.save(parentP)
	tx.save(path)
	parent := tx.db.nodes[parentP]
	delete(parent.children, baseName(path))
	parent.stat.Pzxid = tx.zxid
	if n.stat.EphemeralOwner == 0 {
		// An ephemeral's deletion changes nothing that is persisted but the
		// parent's pzxid, so session cleanup never needs the disk.
		tx.persistent = true
	}
	delete(tx.db.nodes, path)
	tx.events = append(tx.events,
		txEvent{path, EventNodeDeleted, []watchKind{watchData, watchExist, watchChild}},
		txEvent{parentP, EventNodeChildrenChanged, []watchKind{watchChild}})
	return nil
}

func (tx *localTxn) check(path string, version int32) error {
	if err := validatePath(path, false); err != nil {
		return err
	}
	n := tx.db.nodes[path]
	if n == nil {
		return ErrNoNode
	}
	if version != AnyVersion && version != n.stat.Version {
		return ErrBadVersion
	}
	return nil
}

func (n *localNode) statOut() Stat {
	st := n.stat
	st.NumChildren = int32(len(n.children))
	st.Cversion = 2*n.created - st.NumChildren
	st.DataLength = int32(len(n.data))
	return st
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
