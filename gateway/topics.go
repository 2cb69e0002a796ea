package gateway

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/troupe-mq/troupe/actors"
	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/internal/config"
)

// waitMetadata waits until cond holds for the broker's metadata or ctx
// ends, and returns the last metadata seen and whether cond held.
func waitMetadata(ctx context.Context, reps *actors.Replicas, cond func(*actors.Metadata) bool) (*actors.Metadata, bool) {
	for {
		md := reps.Metadata()
		if cond(md) {
			return md, true
		}
		select {
		case <-md.Changed():
		case <-ctx.Done():
			return reps.Metadata(), cond(reps.Metadata())
		}
	}
}

// checkTopicExists refuses a config request for a topic this broker's
// metadata does not know (UNKNOWN_TOPIC_OR_PARTITION, as Kafka answers):
// the store would otherwise describe defaults for it, or write a config
// that a later topic of that name would silently inherit.
func (s *Server) checkTopicExists(name string) error {
	if _, ok := s.backend.Replicas().Metadata().Topics[name]; !ok {
		return fmt.Errorf("%w: %s", cluster.ErrUnknownTopic, name)
	}
	return nil
}

// awaitTopics waits, up to the client's timeout, until every topic in want
// (name → partition count) has a leader for each partition in this
// broker's metadata, and returns the metadata last seen.
func (s *Server) awaitTopics(timeoutMs int32, want map[string]int) *actors.Metadata {
	ctx, cancel := context.WithTimeout(context.Background(), boundedTimeout(timeoutMs, s.requestTimeout()))
	defer cancel()
	md, _ := waitMetadata(ctx, s.backend.Replicas(), func(md *actors.Metadata) bool {
		for name, n := range want {
			if !topicReady(md, name, n) {
				return false
			}
		}
		return true
	})
	return md
}

// topicReady reports whether every partition of a topic has a leader in md.
func topicReady(md *actors.Metadata, name string, partitions int) bool {
	t, ok := md.Topics[name]
	if !ok || len(t.Partitions) < partitions {
		return false
	}
	for _, p := range t.Partitions {
		if p == nil || p.Leader < 0 {
			return false
		}
	}
	return true
}

// boundedTimeout turns a client's timeout_ms into a duration within the
// broker's request timeout (a zero or negative timeout means "don't wait").
func boundedTimeout(ms int32, max time.Duration) time.Duration {
	d := time.Duration(ms) * time.Millisecond
	if d > max {
		d = max
	}
	return d
}

// createTopic validates and creates a topic. Without an assignment, the
// replicas are placed on the live brokers the way Kafka places them.
func (s *Server) createTopic(name string, partitions int32, rf int16, assignment map[int32][]int32, configs map[string]string) error {
	if err := cluster.ValidateTopicName(name); err != nil {
		return err
	}
	if err := config.ValidateTopicConfigs(configs); err != nil {
		return err
	}
	if assignment == nil {
		a, err := s.placeReplicas(name, int(partitions), int(rf), 0)
		if err != nil {
			return err
		}
		assignment = a
	} else if err := s.checkAssignmentBrokers(assignment); err != nil {
		return err
	}
	_, err := s.backend.Admin().CreateTopic(name, assignment, configs)
	return err
}

// placeReplicas places new partitions of a topic (numbered from first) on
// the live brokers not being decommissioned with the rebalance planner (cluster.PlaceNewPartitions),
// given where every partition in the metadata already is: racks as diverse
// as they allow, replicas and preferred leaders per broker (over all topics
// and within the topic) within one of even where they can be — Kafka's
// round robin (cluster.AssignReplicas) ignores the existing load.
func (s *Server) placeReplicas(topic string, partitions, rf, first int) (map[int32][]int32, error) {
	md := s.backend.Replicas().Metadata()
	var in cluster.PlanInput
	for _, b := range md.SortedBrokers() {
		// A broker being decommissioned gets no new replicas.
		cfg, err := s.backend.Admin().BrokerConfig(strconv.Itoa(int(b.Id)))
		if err != nil {
			return nil, err
		}
		in.Brokers = append(in.Brokers, cluster.PlanBroker{ID: b.Id, Rack: b.Rack, Leaving: cfg["broker.decommissioned"] == "true"})
	}
	for _, name := range slices.Sorted(maps.Keys(md.Topics)) {
		for n, ps := range md.Topics[name].Partitions {
			if ps != nil {
				in.Partitions = append(in.Partitions, cluster.PlanPartition{Topic: name, Partition: int32(n), Replicas: slices.Clone(ps.Replicas)})
			}
		}
	}
	return cluster.PlaceNewPartitions(in, topic, int32(first), partitions, rf)
}

// checkAssignmentBrokers refuses a manual assignment naming brokers that
// are not alive (Kafka: INVALID_REPLICA_ASSIGNMENT).
func (s *Server) checkAssignmentBrokers(assignment map[int32][]int32) error {
	md := s.backend.Replicas().Metadata()
	for p, replicas := range assignment {
		for _, id := range replicas {
			if _, ok := md.Brokers[id]; !ok {
				return fmt.Errorf("%w: partition %d names broker %d, which is not alive", cluster.ErrInvalidReplicaAssignment, p, id)
			}
		}
	}
	return nil
}
