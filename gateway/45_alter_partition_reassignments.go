package gateway

// AlterPartitionReassignments (key 45), versions 0–1, and
// ListPartitionReassignments (key 46), version 0 (KIP-455).
//
// Any broker serves them, as it serves CreateTopics: in Kafka's ZooKeeper
// mode the broker writes the request and the controller reacts. A request
// is checked against this broker's metadata, then added to Kafka's
// /admin/reassign_partitions znode, which the controller takes in (the
// answer does not wait for the move, as Kafka's does not). Per partition:
//   - unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION;
//   - null replicas cancel the move: NO_REASSIGNMENT_IN_PROGRESS if none is;
//   - an empty list, a duplicate, or a broker that is not registered:
//     INVALID_REPLICA_ASSIGNMENT;
//   - v1 with allow_replication_factor_change false and a target of
//     another size: INVALID_REPLICATION_FACTOR (v0 allows it).
// The list answers the moves the metadata shows in progress.

import (
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/actors"
	"github.com/troupe-mq/troupe/cluster"
)

func init() {
	regKey(45, 0, 1, handleAlterPartitionReassignments)
	regKey(46, 0, 0, handleListPartitionReassignments)
}

func handleAlterPartitionReassignments(r *request) answer {
	return func() (kmsg.Response, error) {
		req := r.kreq.(*kmsg.AlterPartitionAssignmentsRequest)
		resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
		resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
		md := r.c.s.backend.Replicas().Metadata()
		allowRF := r.version < 1 || req.AllowReplicationFactorChange
		var submit []cluster.Reassignment
		var accepted []*kmsg.AlterPartitionAssignmentsResponseTopicPartition
		for _, t := range req.Topics {
			rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			rt.Topic = t.Topic
			rt.Partitions = make([]kmsg.AlterPartitionAssignmentsResponseTopicPartition, len(t.Partitions))
			for i, p := range t.Partitions {
				rp := &rt.Partitions[i]
				*rp = kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
				rp.Partition = p.Partition
				if code, msg := checkReassignment(md, t.Topic, p, allowRF); code != 0 {
					rp.ErrorCode, rp.ErrorMessage = code, &msg
					continue
				}
				submit = append(submit, cluster.Reassignment{Topic: t.Topic, Partition: p.Partition, Replicas: slices.Clone(p.Replicas)})
				accepted = append(accepted, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		if len(submit) > 0 {
			if err := r.c.s.backend.Admin().SubmitReassignments(submit); err != nil {
				r.c.s.log.Warn().Err(err).Msg("cannot submit reassignments")
				for _, rp := range accepted {
					rp.ErrorCode, rp.ErrorMessage = kerr.RequestTimedOut.Code, errorMessage(err)
				}
			}
		}
		return resp, nil
	}
}

// checkReassignment validates one partition of an AlterPartitionReassignments.
func checkReassignment(md *actors.Metadata, topic string, p kmsg.AlterPartitionAssignmentsRequestTopicPartition, allowRF bool) (int16, string) {
	ps, ok := md.Partition(topic, p.Partition)
	if !ok {
		return kerr.UnknownTopicOrPartition.Code, fmt.Sprintf("unknown partition %s-%d", topic, p.Partition)
	}
	moving := len(ps.AddingReplicas) > 0 || len(ps.RemovingReplicas) > 0
	if p.Replicas == nil {
		if !moving {
			return kerr.NoReassignmentInProgress.Code, fmt.Sprintf("no reassignment of %s-%d in progress", topic, p.Partition)
		}
		return 0, ""
	}
	if len(p.Replicas) == 0 {
		return kerr.InvalidReplicaAssignment.Code, "the target replica list is empty"
	}
	for i, b := range p.Replicas {
		if slices.Contains(p.Replicas[:i], b) {
			return kerr.InvalidReplicaAssignment.Code, fmt.Sprintf("broker %d appears twice in the target replicas", b)
		}
		if _, ok := md.Brokers[b]; !ok {
			return kerr.InvalidReplicaAssignment.Code, fmt.Sprintf("broker %d is not registered", b)
		}
	}
	original := ps.Replicas
	if moving {
		original = slices.DeleteFunc(slices.Clone(ps.Replicas), func(b int32) bool { return slices.Contains(ps.AddingReplicas, b) })
	}
	if !allowRF && len(p.Replicas) != len(original) {
		return kerr.InvalidReplicationFactor.Code, fmt.Sprintf("the target has %d replicas, the partition %d", len(p.Replicas), len(original))
	}
	return 0, ""
}

func handleListPartitionReassignments(r *request) answer {
	return func() (kmsg.Response, error) {
		req := r.kreq.(*kmsg.ListPartitionReassignmentsRequest)
		resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
		md := r.c.s.backend.Replicas().Metadata()
		type want struct {
			topic string
			parts []int32 // nil: all
		}
		var wants []want
		if req.Topics == nil {
			for _, name := range slices.Sorted(maps.Keys(md.Topics)) {
				wants = append(wants, want{topic: name})
			}
		}
		for _, t := range req.Topics {
			wants = append(wants, want{topic: t.Topic, parts: t.Partitions})
		}
		for _, w := range wants {
			tm, ok := md.Topics[w.topic]
			if !ok {
				continue
			}
			rt := kmsg.NewListPartitionReassignmentsResponseTopic()
			rt.Topic = w.topic
			for _, ps := range tm.Partitions {
				if ps == nil || len(ps.AddingReplicas) == 0 && len(ps.RemovingReplicas) == 0 {
					continue
				}
				if w.parts != nil && !slices.Contains(w.parts, ps.Partition) {
					continue
				}
				rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
				rp.Partition = ps.Partition
				rp.Replicas = slices.Clone(ps.Replicas)
				rp.AddingReplicas = slices.Clone(ps.AddingReplicas)
				rp.RemovingReplicas = slices.Clone(ps.RemovingReplicas)
				rt.Partitions = append(rt.Partitions, rp)
			}
			if len(rt.Partitions) > 0 {
				resp.Topics = append(resp.Topics, rt)
			}
		}
		return resp, nil
	}
}
