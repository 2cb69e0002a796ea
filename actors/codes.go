package actors

// Kafka error codes the control plane answers with: the one table of them
// in actors (the gateway maps errors to codes for clients in its own,
// gateway/errors.go). Values are Kafka's (org.apache.kafka.common.protocol.Errors).
const (
	codeNone                  = 0
	codeUnknownTopicOrPart    = 3
	codeStaleControllerEpoch  = 11
	codeNotController         = 41
	codeOperationNotAttempted = 55
	codeKafkaStorageError     = 56
	codeFencedLeaderEpoch     = 74
	codeStaleBrokerEpoch      = 77
	codeIneligibleReplica     = 107
	codeInvalidUpdateVersion  = 108
)
