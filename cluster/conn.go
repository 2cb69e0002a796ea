package cluster

import (
	"fmt"
	"strings"
)

// Conn is the part of ZooKeeper that Troupe uses: one session on a znode
// tree. Two implementations exist: the go-zookeeper adapter (DialZooKeeper)
// and the in-process LocalTree (embedded mode and unit tests). Both keep
// ZooKeeper's semantics: data versions, cversion, ephemeral owners, sequential
// names, one-shot watches, atomic Multi, and the error sentinels of this
// package.
//
// Concurrency: safe for concurrent use. Every call may block on the network
// (bounded by the session timeout), so never call it from an actor's Receive;
// run it in a goroutine or IO actor that reports back by message.
type Conn interface {
	// Get returns a znode's data and stat.
	Get(path string) ([]byte, Stat, error)
	// GetW is Get plus a one-shot watch that fires on the node's next data
	// change or deletion.
	GetW(path string) ([]byte, Stat, <-chan WatchEvent, error)
	// Children returns the names (not paths) of a znode's children, sorted.
	Children(path string) ([]string, Stat, error)
	// ChildrenW is Children plus a one-shot watch that fires when a child is
	// created or deleted, or the node itself is deleted.
	ChildrenW(path string) ([]string, Stat, <-chan WatchEvent, error)
	// Exists reports whether the znode exists (a missing node is not an
	// error); Stat is zero when it does not.
	Exists(path string) (bool, Stat, error)
	// ExistsW is Exists plus a one-shot watch: on creation when the node is
	// missing, on data change or deletion when it exists.
	ExistsW(path string) (bool, Stat, <-chan WatchEvent, error)
	// Create makes a znode and returns its path (with the sequence suffix for
	// sequential modes). The parent must exist.
	Create(path string, data []byte, mode CreateMode) (string, error)
	// Set replaces a znode's data if its version equals version (AnyVersion
	// matches all) and returns the new stat.
	Set(path string, data []byte, version int32) (Stat, error)
	// Delete removes a childless znode if its version equals version.
	Delete(path string, version int32) error
	// Multi applies all ops atomically or none. On failure the error is a
	// *MultiError naming the first failing op.
	Multi(ops ...Op) ([]OpResult, error)
	// SessionID is the current session's id (the EphemeralOwner of the
	// ephemerals it creates); 0 while no session is established.
	SessionID() int64
	// State is the current session state.
	State() SessionState
	// SessionEvents subscribes to session state changes. Events are queued
	// without bound (they are rare), never dropped; cancel ends the
	// subscription and closes the channel. The channel also closes when the
	// Conn is closed.
	SessionEvents() (events <-chan SessionEvent, cancel func())
	// Close ends the session: its ephemerals are deleted and every
	// outstanding watch fires with EventNotWatching / ErrClosed.
	Close() error
}

// AnyVersion matches every version in Set, Delete and CheckOp.
const AnyVersion int32 = -1

// CreateMode selects a znode's lifetime and naming.
type CreateMode int

// Create modes, as ZooKeeper defines them (container and TTL nodes unused).
const (
	// ModePersistent znodes live until deleted.
	ModePersistent CreateMode = iota
	// ModeEphemeral znodes are deleted when the creating session ends.
	ModeEphemeral
	// ModePersistentSequential appends a %010d sequence number: the count
	// of children ever created under the parent.
	ModePersistentSequential
	// ModeEphemeralSequential is ephemeral and sequential.
	ModeEphemeralSequential
)

func (m CreateMode) ephemeral() bool { return m == ModeEphemeral || m == ModeEphemeralSequential }
func (m CreateMode) sequential() bool {
	return m == ModePersistentSequential || m == ModeEphemeralSequential
}

func (m CreateMode) String() string {
	switch m {
	case ModePersistent:
		return "persistent"
	case ModeEphemeral:
		return "ephemeral"
	case ModePersistentSequential:
		return "persistent-sequential"
	case ModeEphemeralSequential:
		return "ephemeral-sequential"
	}
	return fmt.Sprintf("CreateMode(%d)", int(m))
}

// Stat is ZooKeeper's per-znode metadata.
type Stat struct {
	Czxid          int64 // zxid of the create
	Mzxid          int64 // zxid of the last data change
	Pzxid          int64 // zxid of the last child create or delete
	Ctime          int64 // creation time, ms since the epoch
	Mtime          int64 // last data change, ms since the epoch
	Version        int32 // number of data changes; what Set/Delete/CheckOp compare
	Cversion       int32 // number of child creates plus child deletes
	EphemeralOwner int64 // owning session id for ephemerals, 0 for persistent nodes
	DataLength     int32
	NumChildren    int32
}

// EventType is the kind of a watch event.
type EventType int

// Watch event types. EventNotWatching means the watch was dropped without the
// node changing (session expired or Conn closed): Err says why, and the
// watcher must re-read and re-watch.
const (
	EventNodeCreated EventType = iota + 1
	EventNodeDeleted
	EventNodeDataChanged
	EventNodeChildrenChanged
	EventNotWatching
)

func (t EventType) String() string {
	switch t {
	case EventNodeCreated:
		return "created"
	case EventNodeDeleted:
		return "deleted"
	case EventNodeDataChanged:
		return "data-changed"
	case EventNodeChildrenChanged:
		return "children-changed"
	case EventNotWatching:
		return "not-watching"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// WatchEvent is delivered exactly once on a watch channel, which is then
// closed. Like ZooKeeper's, a watch tells only that something happened; read
// again (and re-watch) to learn what.
type WatchEvent struct {
	Type EventType
	Path string // the watched path (without chroot)
	Err  error  // set for EventNotWatching: ErrSessionExpired or ErrClosed
}

// SessionState is the state of a Conn's session.
type SessionState int

// Session states.
const (
	// StateDisconnected: no server reachable right now; the session may still
	// be alive. Calls fail with ErrConnectionLoss; ephemerals remain until the
	// server expires the session.
	StateDisconnected SessionState = iota
	// StateConnected: a session is established (SessionEvent.SessionID).
	StateConnected
	// StateExpired: the server expired the session. Reported once per
	// session, immediately before the StateConnected of the new session
	// (which follows when a server is reachable).
	StateExpired
	// StateClosed: the Conn was closed; no further events.
	StateClosed
)

func (s SessionState) String() string {
	switch s {
	case StateDisconnected:
		return "disconnected"
	case StateConnected:
		return "connected"
	case StateExpired:
		return "expired"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("SessionState(%d)", int(s))
}

// SessionEvent reports a session state change. For StateConnected SessionID
// is the (possibly new) session; for StateExpired it is the session that
// ended. A consumer that needs to know "did my session change?" compares
// SessionID with the one it acted under, which is robust even if it reads
// events late.
type SessionEvent struct {
	State     SessionState
	SessionID int64
}

// Op is one operation of a Multi: CreateOp, SetOp, DeleteOp or CheckOp.
type Op interface{ isOp() }

// CreateOp creates a znode inside a Multi.
type CreateOp struct {
	Path string
	Data []byte
	Mode CreateMode
}

// SetOp sets a znode's data inside a Multi (Version may be AnyVersion).
type SetOp struct {
	Path    string
	Data    []byte
	Version int32
}

// DeleteOp deletes a znode inside a Multi (Version may be AnyVersion).
type DeleteOp struct {
	Path    string
	Version int32
}

// CheckOp fails the Multi unless the znode exists with Version.
type CheckOp struct {
	Path    string
	Version int32
}

func (CreateOp) isOp() {}
func (SetOp) isOp()    {}
func (DeleteOp) isOp() {}
func (CheckOp) isOp()  {}

// OpResult is the outcome of one op of a successful Multi: Path for a
// CreateOp (the created path), Stat for a SetOp.
type OpResult struct {
	Path string
	Stat Stat
}

// validatePath applies ZooKeeper's rules (PathUtils.validatePath): absolute,
// no empty, "." or ".." components, no trailing slash except that a
// sequential create may end in '/' (the sequence number becomes the name).
func validatePath(p string, sequential bool) error {
	if p == "" || p[0] != '/' {
		return ErrBadPath
	}
	if p == "/" {
		return nil
	}
	if strings.IndexByte(p, 0) >= 0 {
		return ErrBadPath
	}
	body := p[1:]
	if strings.HasSuffix(body, "/") {
		if !sequential {
			return ErrBadPath
		}
		body = body[:len(body)-1]
	}
	for _, c := range strings.Split(body, "/") {
		if c == "" || c == "." || c == ".." {
			return ErrBadPath
		}
	}
	return nil
}

// parentPath returns the parent of a valid path other than "/".
func parentPath(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// baseName returns the last component of a valid path other than "/".
func baseName(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

// joinPath joins a parent path and a child name.
func joinPath(parent, child string) string {
	if parent == "/" {
		return "/" + child
	}
	return parent + "/" + child
}

// Both implementations satisfy Conn.
var (
	_ Conn = (*LocalTree)(nil)
	_ Conn = (*LocalSession)(nil)
	_ Conn = (*ZooKeeperConn)(nil)
)
