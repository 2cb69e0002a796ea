package gateway

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/troupe-mq/troupe/actors"
	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/internal/config"
	"github.com/troupe-mq/troupe/storage"
)

// errorCodes maps internal errors to Kafka error codes: the one table that
// decides what a client sees. The first entry whose error matches
// (errors.Is) wins; anything unmatched is UNKNOWN_SERVER_ERROR.
var errorCodes = []struct {
	err  error
	code *kerr.Error
}{
	{actors.ErrNotLeader, kerr.NotLeaderForPartition},
	{actors.ErrUnknownPartition, kerr.UnknownTopicOrPartition},
	{actors.ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
	{actors.ErrUnknownLeaderEpoch, kerr.UnknownLeaderEpoch},
	{actors.ErrNotEnoughReplicas, kerr.NotEnoughReplicas},
	{actors.ErrNotEnoughReplicasAfterAppend, kerr.NotEnoughReplicasAfterAppend},
	{actors.ErrTimeout, kerr.RequestTimedOut},
	{actors.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{actors.ErrOffsetNotAvailable, kerr.OffsetNotAvailable},
	{actors.ErrReplicaNotAvailable, kerr.NotLeaderForPartition},
	{actors.ErrStopped, kerr.NotLeaderForPartition},
	{actors.ErrInvalidRequiredAcks, kerr.InvalidRequiredAcks},
	{actors.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{actors.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	{actors.ErrUnknownProducerID, kerr.UnknownProducerID},
	{actors.ErrTransactionsUnsupported, kerr.UnsupportedForMessageFormat},
	{actors.ErrPolicyViolation, kerr.PolicyViolation},
	{storage.ErrCorruptMessage, kerr.CorruptMessage},
	{storage.ErrInvalidRecord, kerr.InvalidRecord},
	{storage.ErrMessageTooLarge, kerr.MessageTooLarge},
	{storage.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{storage.ErrStorage, kerr.KafkaStorageError},
	{storage.ErrClosed, kerr.NotLeaderForPartition},
	{config.ErrInvalidConfig, kerr.InvalidConfig},
	{cluster.ErrTopicExists, kerr.TopicAlreadyExists},
	{cluster.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	{cluster.ErrInvalidTopic, kerr.InvalidTopicException},
	{cluster.ErrInvalidPartitions, kerr.InvalidPartitions},
	{cluster.ErrInvalidReplicationFactor, kerr.InvalidReplicationFactor},
	{cluster.ErrInvalidReplicaAssignment, kerr.InvalidReplicaAssignment},
	{cluster.ErrIncompleteRackInfo, kerr.InvalidReplicaAssignment},
	{cluster.ErrConnectionLoss, kerr.RequestTimedOut},
	{cluster.ErrSessionExpired, kerr.RequestTimedOut},
}

// errorCode returns the Kafka error code for err (0 for nil).
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return e.code.Code
		}
	}
	return kerr.UnknownServerError.Code
}

// errorMessage returns the text for response fields that carry one
// (CreateTopics v1+, …): nil when there is no error.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// codeErrors maps Kafka error codes back to internal errors, for answers a
// broker reads from another broker (replica fetches). Codes not listed
// come back as the *kerr.Error for the code.
var codeErrors = map[int16]error{
	kerr.NotLeaderForPartition.Code:   actors.ErrNotLeader,
	kerr.UnknownTopicOrPartition.Code: actors.ErrUnknownPartition,
	kerr.FencedLeaderEpoch.Code:       actors.ErrFencedLeaderEpoch,
	kerr.UnknownLeaderEpoch.Code:      actors.ErrUnknownLeaderEpoch,
	kerr.OffsetOutOfRange.Code:        actors.ErrOffsetOutOfRange,
	kerr.RequestTimedOut.Code:         actors.ErrTimeout,
	kerr.KafkaStorageError.Code:       storage.ErrStorage,
	kerr.CorruptMessage.Code:          storage.ErrCorruptMessage,
}

// errorForCode is the inverse of errorCode, nil for 0.
func errorForCode(code int16) error {
	if code == 0 {
		return nil
	}
	if err, ok := codeErrors[code]; ok {
		return err
	}
	return kerr.ErrorForCode(code)
}
