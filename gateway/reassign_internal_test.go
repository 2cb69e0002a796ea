package gateway

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/actors"
	"github.com/troupe-mq/troupe/messages"
)

// TestCheckReassignment: every way an AlterPartitionReassignments entry is
// refused, with Kafka's code, and the ones accepted.
func TestCheckReassignment(t *testing.T) {
	md := &actors.Metadata{
		Brokers: map[int32]*messages.Broker{1: {Id: 1}, 2: {Id: 2}, 3: {Id: 3}},
		Topics: map[string]*actors.TopicMetadata{"t": {Name: "t", Partitions: []*messages.PartitionState{
			{Topic: "t", Partition: 0, Replicas: []int32{1, 2}},
			{Topic: "t", Partition: 1, Replicas: []int32{3, 1, 2}, AddingReplicas: []int32{3}, RemovingReplicas: []int32{2}},
		}}},
	}
	none := int16(0)
	for _, c := range []struct {
		name     string
		topic    string
		part     int32
		replicas []int32
		allowRF  bool
		want     int16
	}{
		{"unknown topic", "u", 0, []int32{1}, true, kerr.UnknownTopicOrPartition.Code},
		{"unknown partition", "t", 5, []int32{1}, true, kerr.UnknownTopicOrPartition.Code},
		{"cancel with no move", "t", 0, nil, true, kerr.NoReassignmentInProgress.Code},
		{"cancel a move", "t", 1, nil, true, none},
		{"empty target", "t", 0, []int32{}, true, kerr.InvalidReplicaAssignment.Code},
		{"duplicate broker", "t", 0, []int32{1, 1}, true, kerr.InvalidReplicaAssignment.Code},
		{"unregistered broker", "t", 0, []int32{1, 9}, true, kerr.InvalidReplicaAssignment.Code},
		{"new factor refused (v1)", "t", 0, []int32{1, 2, 3}, false, kerr.InvalidReplicationFactor.Code},
		{"new factor allowed", "t", 0, []int32{1, 2, 3}, true, none},
		{"same factor as the original of a move", "t", 1, []int32{2, 3}, false, none},
		{"a move", "t", 0, []int32{3, 1}, false, none},
	} {
		p := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		p.Partition, p.Replicas = c.part, c.replicas
		if got, msg := checkReassignment(md, c.topic, p, c.allowRF); got != c.want || (got != 0) != (msg != "") {
			t.Errorf("%s: code %d (%q), want %d", c.name, got, msg, c.want)
		}
	}
}
