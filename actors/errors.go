package actors

import "errors"

// Errors a partition or the replica manager answers with. The gateway maps
// each to its Kafka error code in one table (gateway/errors.go); storage
// errors (storage.ErrCorruptMessage, …) pass through unchanged.
var (
	// ErrNotLeader: this broker does not lead the partition (NOT_LEADER_OR_FOLLOWER).
	ErrNotLeader = errors.New("actors: not the leader for this partition")
	// ErrUnknownPartition: no replica of the partition lives here and the
	// topic is unknown (UNKNOWN_TOPIC_OR_PARTITION).
	ErrUnknownPartition = errors.New("actors: unknown topic or partition")
	// ErrFencedLeaderEpoch: the request names an older leader epoch (FENCED_LEADER_EPOCH).
	ErrFencedLeaderEpoch = errors.New("actors: fenced leader epoch")
	// ErrUnknownLeaderEpoch: the request names a newer leader epoch than this replica has seen (UNKNOWN_LEADER_EPOCH).
	ErrUnknownLeaderEpoch = errors.New("actors: unknown leader epoch")
	// ErrNotEnoughReplicas: the ISR is smaller than min.insync.replicas; nothing was appended (NOT_ENOUGH_REPLICAS).
	ErrNotEnoughReplicas = errors.New("actors: not enough in-sync replicas")
	// ErrNotEnoughReplicasAfterAppend: the batch was appended but the ISR shrank below min.insync.replicas before it was committed (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
	ErrNotEnoughReplicasAfterAppend = errors.New("actors: not enough in-sync replicas after append")
	// ErrTimeout: the request's deadline passed before it could be answered (REQUEST_TIMED_OUT).
	ErrTimeout = errors.New("actors: request timed out")
	// ErrOffsetNotAvailable: the leader's high watermark has not reached the
	// start of its leader epoch yet, so offsets it would answer could be
	// below what the previous leader answered (OFFSET_NOT_AVAILABLE,
	// KIP-207; retriable).
	ErrOffsetNotAvailable = errors.New("actors: offset not available yet (new leader catching up)")
	// ErrOffsetOutOfRange: the requested offset is outside [log start, log end] (OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("actors: offset out of range")
	// ErrReplicaNotAvailable: the replica is starting, stopping or its log failed to open (REPLICA_NOT_AVAILABLE / KAFKA_STORAGE_ERROR).
	ErrReplicaNotAvailable = errors.New("actors: replica not available")
	// ErrInvalidRequiredAcks: acks outside {0, 1, -1} (INVALID_REQUIRED_ACKS).
	ErrInvalidRequiredAcks = errors.New("actors: invalid required acks")
	// ErrOutOfOrderSequence: an idempotent producer skipped sequence numbers (OUT_OF_ORDER_SEQUENCE_NUMBER).
	ErrOutOfOrderSequence = errors.New("actors: out of order sequence number")
	// ErrInvalidProducerEpoch: an idempotent producer used an older epoch (INVALID_PRODUCER_EPOCH).
	ErrInvalidProducerEpoch = errors.New("actors: invalid producer epoch")
	// ErrUnknownProducerID: a sequence other than 0 from a producer this partition has no state for (UNKNOWN_PRODUCER_ID).
	ErrUnknownProducerID = errors.New("actors: unknown producer id")
	// ErrTransactionsUnsupported: a transactional batch; Troupe has no transaction coordinator yet.
	ErrTransactionsUnsupported = errors.New("actors: transactions are not supported")
	// ErrPolicyViolation: a request a topic's config forbids (POLICY_VIOLATION).
	ErrPolicyViolation = errors.New("actors: policy violation")
	// ErrStopped: the replica is being removed from this broker.
	ErrStopped = errors.New("actors: replica stopped")
)
