package cluster

import (
	"errors"
	"fmt"
)

// Errors of the znode interface (Conn). Both implementations, LocalTree and
// the ZooKeeper adapter, return these (wrapped in *OpError or *MultiError), so
// callers test with errors.Is and never see go-zookeeper's own values.
var (
	// ErrNoNode: the znode (or, for a create, its parent) does not exist.
	ErrNoNode = errors.New("cluster: node does not exist")
	// ErrNodeExists: a create found the znode already there.
	ErrNodeExists = errors.New("cluster: node already exists")
	// ErrBadVersion: a conditional set, delete or check saw another version.
	ErrBadVersion = errors.New("cluster: version conflict")
	// ErrNotEmpty: a delete of a znode that still has children.
	ErrNotEmpty = errors.New("cluster: node has children")
	// ErrNoChildrenForEphemerals: a create under an ephemeral znode.
	ErrNoChildrenForEphemerals = errors.New("cluster: ephemeral nodes may not have children")
	// ErrBadPath: a path that ZooKeeper would reject ("", no leading '/',
	// trailing '/', empty, "." or ".." components).
	ErrBadPath = errors.New("cluster: invalid path")
	// ErrConnectionLoss: the request may or may not have been applied; the
	// connection dropped before the answer came back. The session may still
	// be alive. Callers retry idempotently (check before re-applying).
	ErrConnectionLoss = errors.New("cluster: connection to zookeeper lost")
	// ErrSessionExpired: the session ended; its ephemeral znodes and watches
	// are gone. A new session is established automatically; owners of
	// ephemerals re-create them (see SessionEvent).
	ErrSessionExpired = errors.New("cluster: zookeeper session expired")
	// ErrClosed: the Conn was closed by its owner.
	ErrClosed = errors.New("cluster: connection closed")
	// ErrStoreFailed: the local store could not persist a write. The store
	// refuses further writes (fail-stop), because the file may or may not
	// hold the failed write.
	ErrStoreFailed = errors.New("cluster: local metadata store failed")
	// ErrStoreLocked: another process holds the local store's directory.
	ErrStoreLocked = errors.New("cluster: local metadata store is locked by another process")
	// ErrStoreCorrupt: the local store's file could not be decoded.
	ErrStoreCorrupt = errors.New("cluster: local metadata store is corrupt")
)

// Errors of the typed Kafka layout (Store, Registration).
var (
	// ErrDuplicateBrokerID: /brokers/ids/<id> is held by another live session.
	ErrDuplicateBrokerID = errors.New("cluster: broker id is registered by another live broker")
	// ErrNodeChanging: a znode kept changing under a read-modify-write
	// (another writer raced each attempt); the caller may try again.
	ErrNodeChanging = errors.New("cluster: node keeps changing")
	// ErrControllerExists: another broker holds /controller.
	ErrControllerExists = errors.New("cluster: another broker is the controller")
	// ErrControllerMoved: the controller epoch changed since the caller was
	// elected; the caller is no longer the controller and must stop writing.
	ErrControllerMoved = errors.New("cluster: controller moved (stale controller epoch)")
	// ErrTopicExists: CreateTopic found the topic (maybe marked for deletion).
	ErrTopicExists = errors.New("cluster: topic already exists")
	// ErrUnknownTopic: the topic does not exist.
	ErrUnknownTopic = errors.New("cluster: unknown topic")
	// ErrInvalidTopic: the name is not a legal Kafka topic name.
	ErrInvalidTopic = errors.New("cluster: invalid topic name")
	// ErrInvalidReplicaAssignment: partitions not numbered 0..n-1, an empty
	// or duplicate replica list, or replication factors that differ.
	ErrInvalidReplicaAssignment = errors.New("cluster: invalid replica assignment")
	// ErrInvalidPartitions: a partition count that is not positive, or
	// AddPartitions that does not extend the topic.
	ErrInvalidPartitions = errors.New("cluster: invalid number of partitions")
	// ErrInvalidReplicationFactor: replication factor < 1 or above the number
	// of brokers.
	ErrInvalidReplicationFactor = errors.New("cluster: invalid replication factor")
	// ErrInvalidEntity: a config entity that is neither a broker id nor
	// DefaultBrokerEntity.
	ErrInvalidEntity = errors.New("cluster: invalid config entity")
	// ErrCorruptZNode: a znode's data is not the JSON its layout prescribes.
	ErrCorruptZNode = errors.New("cluster: znode data does not decode")
	// ErrProducerIDsExhausted: the producer id space is used up.
	ErrProducerIDsExhausted = errors.New("cluster: producer id space exhausted")
)

// OpError describes a failed single operation on a znode.
type OpError struct {
	Op   string // "create", "get", "set", "delete", "exists", "children"
	Path string // path as the caller gave it (without any chroot)
	Err  error  // one of the sentinels above, or an unmapped error
}

func (e *OpError) Error() string {
	return fmt.Sprintf("cluster: %s %s: %v", e.Op, e.Path, trimPrefix(e.Err))
}

// Unwrap returns the sentinel.
func (e *OpError) Unwrap() error { return e.Err }

// MultiError describes a failed Multi: no operation was applied, and Index is
// the operation that failed first (ZooKeeper reports the first failure).
// errors.Is(err, ErrBadVersion) works through it; errors.As gives the index,
// which is how a fenced write (index of the epoch check) is told apart from a
// stale partition state (index of the set).
type MultiError struct {
	Index int   // index into the ops passed to Multi; -1 when unknown (connection loss)
	Op    Op    // the failing op, nil when Index is -1
	Err   error // sentinel
}

func (e *MultiError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("cluster: multi: %v", trimPrefix(e.Err))
	}
	return fmt.Sprintf("cluster: multi op %d (%s): %v", e.Index, describeOp(e.Op), trimPrefix(e.Err))
}

// Unwrap returns the sentinel.
func (e *MultiError) Unwrap() error { return e.Err }

// trimPrefix drops our "cluster: " prefix from a wrapped sentinel so messages
// read "cluster: get /x: node does not exist" rather than repeating it.
func trimPrefix(err error) string {
	s := err.Error()
	const p = "cluster: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

func describeOp(op Op) string {
	switch o := op.(type) {
	case CreateOp:
		return "create " + o.Path
	case SetOp:
		return "set " + o.Path
	case DeleteOp:
		return "delete " + o.Path
	case CheckOp:
		return "check " + o.Path
	}
	return fmt.Sprintf("%T", op)
}
