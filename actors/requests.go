package actors

import (
	"time"

	"github.com/troupe-mq/troupe/storage"
)

// The requests below are what the Kafka gateway sends to a partition actor
// on the same broker. They never cross brokers (follower fetches arrive as
// Kafka Fetch requests through the gateway of the leader's broker), so they
// are plain Go structs rather than protobuf messages.
//
// Each carries a Reply channel with room for one answer: the actor answers
// with a non-blocking send and never waits on the gateway. The gateway
// goroutine waits on the channel with a deadline. A request is immutable
// once sent; the actor does not keep references into it after answering,
// except Records, which it hands to storage and then drops.

// ProduceRequest appends one partition's records (one or more Kafka v2
// record batches, as the client sent them).
type ProduceRequest struct {
	Records []byte
	// Acks is 0, 1 or -1 (all). The gateway rejects other values.
	Acks int16
	// Timeout bounds how long acks=-1 waits for the high watermark.
	Timeout time.Duration
	Reply   chan<- ProduceResult
}

// ProduceResult answers a ProduceRequest.
type ProduceResult struct {
	Err error
	// BaseOffset is the offset of the first appended record (for a
	// duplicate idempotent batch, of the original append).
	BaseOffset     int64
	LogAppendTime  int64 // -1: CreateTime topic
	LogStartOffset int64
}

// FetchRequest reads one partition from FetchOffset.
type FetchRequest struct {
	FetchOffset int64
	MaxBytes    int32
	// MinOneBatch returns the first batch even when it is larger than
	// MaxBytes (KIP-74). The gateway sets it for the partitions that may
	// open a response.
	MinOneBatch bool
	// ReplicaID is -1 for consumers and the fetching broker's id for
	// followers; a follower fetch reports the follower's log end offset.
	ReplicaID int32
	// ReplicaEpoch is the follower's broker epoch (-1 when unknown).
	ReplicaEpoch int64
	// CurrentLeaderEpoch, when >= 0, must equal this leader's epoch.
	CurrentLeaderEpoch int32
	// FollowerLogStartOffset is the follower's log start (follower fetches).
	FollowerLogStartOffset int64
	// ReadCommitted limits the read to the last stable offset. Without
	// transactions that is the high watermark, as for read_uncommitted.
	ReadCommitted bool
	// Notify, when non-nil, is signalled (non-blocking send) the next time
	// the partition has something new for this fetch, if this answer was
	// empty. It lets the gateway long-poll without an actor ever waiting;
	// the gateway waits no longer than its own deadline either way.
	Notify chan<- struct{}
	Reply  chan<- FetchResult
}

// FetchResult answers a FetchRequest.
type FetchResult struct {
	Err            error
	HighWatermark  int64
	LastStable     int64
	LogStartOffset int64
	LogEndOffset   int64
	// Records is a view of stored batches; empty when nothing is available.
	Records storage.Region
	// Throttled: a follower's fetch whose bytes count against the leader's
	// replication throttle (see replica.leaderThrottled).
	Throttled bool
}

// ListOffsetsRequest looks up an offset by timestamp.
type ListOffsetsRequest struct {
	// Timestamp is a time in ms, or -1 (latest), -2 (earliest),
	// -3 (max timestamp, KIP-734).
	Timestamp          int64
	CurrentLeaderEpoch int32
	// ReplicaID >= 0 marks a follower (answers may go up to the log end).
	ReplicaID     int32
	ReadCommitted bool
	Reply         chan<- ListOffsetsResult
}

// ListOffsetsResult answers a ListOffsetsRequest. Offset is -1 when no
// record has a timestamp at or after the one asked for.
type ListOffsetsResult struct {
	Err         error
	Offset      int64
	Timestamp   int64
	LeaderEpoch int32
}

// OffsetForLeaderEpochRequest asks for the end offset of a leader epoch
// (KIP-101/KIP-279).
type OffsetForLeaderEpochRequest struct {
	LeaderEpoch        int32
	CurrentLeaderEpoch int32
	ReplicaID          int32
	Reply              chan<- OffsetForLeaderEpochResult
}

// OffsetForLeaderEpochResult answers an OffsetForLeaderEpochRequest.
// LeaderEpoch and EndOffset are -1 when the epoch is unknown.
type OffsetForLeaderEpochResult struct {
	Err         error
	LeaderEpoch int32
	EndOffset   int64
}

// DeleteRecordsRequest advances the log start offset (DeleteRecords API).
// Offset -1 means "up to the high watermark".
type DeleteRecordsRequest struct {
	Offset int64
	Reply  chan<- DeleteRecordsResult
}

// DeleteRecordsResult answers a DeleteRecordsRequest with the new log
// start offset (Kafka's "low watermark").
type DeleteRecordsResult struct {
	Err          error
	LowWatermark int64
}
