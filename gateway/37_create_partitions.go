package gateway

// CreatePartitions (key 37), versions 0–3.
//
// Grows a topic to count partitions. New partitions are placed by the
// rebalance planner (cluster.PlaceNewPartitions: racks, then replicas and
// preferred leaders per broker within one of even, given every partition
// already placed) unless an assignment is given. Difference from Kafka,
// which continues its round robin from the broker leading partition 0 and
// ignores where other topics' replicas are. count at or below the
// current count is INVALID_PARTITIONS. The answer waits, up to timeout_ms,
// for the new partitions to have leaders. validate_only checks without
// changing anything.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/actors"
	"github.com/troupe-mq/troupe/cluster"
)

func init() { regKey(37, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(r *request) answer {
	return func() (kmsg.Response, error) {
		req := r.kreq.(*kmsg.CreatePartitionsRequest)
		resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
		s := r.c.s
		md := s.backend.Replicas().Metadata()
		type grown struct {
			rt    *kmsg.CreatePartitionsResponseTopic
			count int
		}
		var waitFor []grown
		resp.Topics = make([]kmsg.CreatePartitionsResponseTopic, len(req.Topics))
		for i, t := range req.Topics {
			rt := &resp.Topics[i]
			*rt = kmsg.NewCreatePartitionsResponseTopic()
			rt.Topic = t.Topic
			added, err := s.newPartitions(md, t)
			if err == nil && !req.ValidateOnly {
				err = s.backend.Admin().AddPartitions(t.Topic, added)
			}
			if err != nil {
				rt.ErrorCode = errorCode(err)
				rt.ErrorMessage = errorMessage(err)
				continue
			}
			if !req.ValidateOnly {
				waitFor = append(waitFor, grown{rt, int(t.Count)})
			}
		}
		if len(waitFor) == 0 || req.TimeoutMillis <= 0 {
			return resp, nil
		}
		want := make(map[string]int, len(waitFor))
		for _, g := range waitFor {
			want[g.rt.Topic] = g.count
		}
		md = s.awaitTopics(req.TimeoutMillis, want)
		for _, g := range waitFor {
			if !topicReady(md, g.rt.Topic, g.count) {
				g.rt.ErrorCode = kerr.RequestTimedOut.Code
			}
		}
		return resp, nil
	}
}

// newPartitions computes the assignment of the partitions a
// CreatePartitions topic adds.
func (s *Server) newPartitions(md *actors.Metadata, t kmsg.CreatePartitionsRequestTopic) (map[int32][]int32, error) {
	tm, ok := md.Topics[t.Topic]
	if !ok {
		return nil, fmt.Errorf("%w: %s", cluster.ErrUnknownTopic, t.Topic)
	}
	current := len(tm.Partitions)
	if int(t.Count) <= current {
		return nil, fmt.Errorf("%w: topic %s has %d partitions; the new count %d must be larger", cluster.ErrInvalidPartitions, t.Topic, current, t.Count)
	}
	n := int(t.Count) - current
	rf := 1
	if p0 := tm.Partitions[0]; p0 != nil {
		rf = len(p0.Replicas)
	}
	if t.Assignment != nil {
		if len(t.Assignment) != n {
			return nil, fmt.Errorf("%w: %d partitions are added but %d assignments were given", cluster.ErrInvalidReplicaAssignment, n, len(t.Assignment))
		}
		added := make(map[int32][]int32, n)
		for i, a := range t.Assignment {
			added[int32(current+i)] = a.Replicas
		}
		return added, s.checkAssignmentBrokers(added)
	}
	a, err := s.placeReplicas(t.Topic, n, rf, current)
	if err != nil {
		return nil, err
	}
	return a, nil
}
