package actors

import "context"

// LeaderClient is how a follower's fetcher talks to its leader's broker:
// the Kafka Fetch and OffsetForLeaderEpoch APIs over one inter-broker
// connection, so record batches travel as stored, never re-encoded. The
// gateway package implements it; the types here are plain Go so that no
// Kafka wire type enters the actors.
//
// Calls block; the fetcher actor makes them from a goroutine and gets the
// result back as a message.
type LeaderClient interface {
	Fetch(ctx context.Context, req *ReplicaFetch) ([]FetchedPartition, error)
	OffsetsForLeaderEpoch(ctx context.Context, qs []EpochQuery) ([]EpochAnswer, error)
	Close() error
}

// DialLeaderFunc connects a follower to the leader broker at addr
// ("host:port"). replicaID is the follower's broker id.
type DialLeaderFunc func(ctx context.Context, addr string, replicaID int32) (LeaderClient, error)

// ReplicaFetch is one replica fetch request.
type ReplicaFetch struct {
	ReplicaID    int32
	ReplicaEpoch int64
	MaxWaitMs    int32
	MinBytes     int32
	MaxBytes     int32
	Partitions   []FetchPartition
}

// FetchPartition is one partition of a ReplicaFetch.
type FetchPartition struct {
	TP TopicPartition
	// TopicID is the topic's id (zero: none known; the fetch then names
	// topics, and cannot carry the broker epoch).
	TopicID            [16]byte
	FetchOffset        int64
	LogStartOffset     int64
	CurrentLeaderEpoch int32
	MaxBytes           int32
}

// FetchedPartition is the leader's answer for one partition. Err is one of
// this package's errors (ErrNotLeader, ErrFencedLeaderEpoch,
// ErrOffsetOutOfRange, …) or nil.
type FetchedPartition struct {
	TP             TopicPartition
	Err            error
	HighWatermark  int64
	LogStartOffset int64
	Records        []byte
}

// EpochQuery asks for the end offset of LeaderEpoch.
type EpochQuery struct {
	TP                 TopicPartition
	CurrentLeaderEpoch int32
	LeaderEpoch        int32
}

// EpochAnswer answers an EpochQuery (-1, -1 when the leader has no epoch
// at or below the one asked for).
type EpochAnswer struct {
	TP          TopicPartition
	Err         error
	LeaderEpoch int32
	EndOffset   int64
}
