package gateway

// CreateTopics (key 19), versions 0–7.
//
// Validates each topic (name, partitions, replication factor against the
// live brokers, manual assignment, configs) and writes it to the cluster
// metadata store; the controller then creates the partitions. The answer
// waits, up to timeout_ms, until this broker's metadata shows every
// partition with a leader (REQUEST_TIMED_OUT after that, though creation
// goes on); timeout_ms <= 0 answers at once. -1 partitions or replication
// factor (v4+) take num.partitions / default.replication.factor.
// validate_only (v1+) checks without creating. v5+ answers with the
// topic's partitions, replication factor and configs; v7 with its ID.
// A topic named twice in one request is INVALID_REQUEST for both.

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/internal/config"
)

func init() { regKey(19, 0, 7, handleCreateTopics) }

func handleCreateTopics(r *request) answer {
	return func() (kmsg.Response, error) {
		req := r.kreq.(*kmsg.CreateTopicsRequest)
		resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
		s := r.c.s
		seen := map[string]int{}
		for _, t := range req.Topics {
			seen[t.Topic]++
		}
		type created struct {
			rt         *kmsg.CreateTopicsResponseTopic
			partitions int
		}
		var waitFor []created
		resp.Topics = make([]kmsg.CreateTopicsResponseTopic, len(req.Topics))
		for i, t := range req.Topics {
			rt := &resp.Topics[i]
			*rt = kmsg.NewCreateTopicsResponseTopic()
			rt.Topic = t.Topic
			rt.NumPartitions, rt.ReplicationFactor = -1, -1
			fail := func(err error) {
				rt.ErrorCode = errorCode(err)
				rt.ErrorMessage = errorMessage(err)
			}
			if seen[t.Topic] > 1 {
				fail(fmt.Errorf("%w: topic %q appears more than once in the request", kerr.InvalidRequest, t.Topic))
				continue
			}
			assignment, partitions, rf, err := s.topicAssignment(t)
			if err != nil {
				fail(err)
				continue
			}
			configs := make(map[string]string, len(t.Configs))
			for _, c := range t.Configs {
				if c.Value == nil {
					continue
				}
				configs[c.Name] = *c.Value
			}
			if err := cluster.ValidateTopicName(t.Topic); err != nil {
				fail(err)
				continue
			}
			if err := config.ValidateTopicConfigs(configs); err != nil {
				fail(err)
				continue
			}
			if _, exists := s.backend.Replicas().Metadata().Topics[t.Topic]; exists {
				fail(fmt.Errorf("%w: %s", cluster.ErrTopicExists, t.Topic))
				continue
			}
			rt.NumPartitions, rt.ReplicationFactor = int32(partitions), int16(rf)
			if r.version >= 5 {
				rt.Configs = topicConfigEntries(s.brokerCfg(), configs)
			}
			if req.ValidateOnly {
				continue
			}
			if err := s.createTopic(t.Topic, int32(partitions), int16(rf), assignment, configs); err != nil {
				fail(err)
				continue
			}
			waitFor = append(waitFor, created{rt, partitions})
		}
		if len(waitFor) == 0 || req.TimeoutMillis <= 0 {
			return resp, nil
		}
		want := make(map[string]int, len(waitFor))
		for _, c := range waitFor {
			want[c.rt.Topic] = c.partitions
		}
		md := s.awaitTopics(req.TimeoutMillis, want)
		for _, c := range waitFor {
			if !topicReady(md, c.rt.Topic, c.partitions) {
				c.rt.ErrorCode = kerr.RequestTimedOut.Code
				msg := "topic creation was started but its partitions have no leaders yet"
				c.rt.ErrorMessage = &msg
				continue
			}
			c.rt.TopicID = md.Topics[c.rt.Topic].ID
		}
		return resp, nil
	}
}

// topicAssignment works out a CreateTopics topic's replica assignment:
// the manual one if given (nil, to be placed, otherwise), its partition
// count and replication factor.
func (s *Server) topicAssignment(t kmsg.CreateTopicsRequestTopic) (map[int32][]int32, int, int, error) {
	if len(t.ReplicaAssignment) > 0 {
		if t.NumPartitions != -1 || t.ReplicationFactor != -1 {
			return nil, 0, 0, fmt.Errorf("%w: both a replica assignment and a partition count or replication factor were given", kerr.InvalidRequest)
		}
		a := make(map[int32][]int32, len(t.ReplicaAssignment))
		for _, ra := range t.ReplicaAssignment {
			if _, dup := a[ra.Partition]; dup {
				return nil, 0, 0, fmt.Errorf("%w: partition %d assigned twice", cluster.ErrInvalidReplicaAssignment, ra.Partition)
			}
			a[ra.Partition] = ra.Replicas
		}
		for p := range int32(len(a)) {
			if _, ok := a[p]; !ok {
				return nil, 0, 0, fmt.Errorf("%w: partitions must be numbered 0..%d", cluster.ErrInvalidReplicaAssignment, len(a)-1)
			}
		}
		if err := s.checkAssignmentBrokers(a); err != nil {
			return nil, 0, 0, err
		}
		return a, len(a), len(a[0]), nil
	}
	partitions, rf := int(t.NumPartitions), int(t.ReplicationFactor)
	if partitions == -1 {
		partitions = int(s.brokerCfg().NumPartitions)
	}
	if rf == -1 {
		rf = int(s.brokerCfg().DefaultReplicationFactor)
	}
	if partitions <= 0 {
		return nil, 0, 0, fmt.Errorf("%w: %d", cluster.ErrInvalidPartitions, partitions)
	}
	if rf <= 0 {
		return nil, 0, 0, fmt.Errorf("%w: %d", cluster.ErrInvalidReplicationFactor, rf)
	}
	if live := len(s.backend.Replicas().Metadata().Brokers); rf > live {
		return nil, 0, 0, fmt.Errorf("%w: replication factor %d is larger than the %d available brokers", cluster.ErrInvalidReplicationFactor, rf, live)
	}
	return nil, partitions, rf, nil
}

// topicConfigEntries lists a topic's effective configs (CreateTopics v5+).
func topicConfigEntries(b *config.Broker, overrides map[string]string) []kmsg.CreateTopicsResponseTopicConfig {
	vals := b.TopicValues(overrides)
	sort.Slice(vals, func(i, j int) bool { return vals[i].Key.Name < vals[j].Key.Name })
	out := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(vals))
	for _, v := range vals {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name = v.Key.Name
		val := v.Value
		c.Value = &val
		c.Source = int8(v.Source)
		c.IsSensitive = v.Key.Sensitive
		out = append(out, c)
	}
	return out
}
