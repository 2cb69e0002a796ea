package gateway

// Metadata (key 3), versions 0–12.
//
// Answered from this broker's metadata cache (what the controller's
// UpdateMetadata requests built), never from ZooKeeper. Topic IDs are
// returned from v10 and accepted in requests from v12. Unknown topics are
// created when auto.create.topics.enable is true and the request allows it
// (v4+; always for v0–v3), with num.partitions and
// default.replication.factor; as in Kafka, such a topic is answered with
// LEADER_NOT_AVAILABLE until its partitions have leaders, except that
// Troupe first waits up to a second for them, which usually spares the
// client a retry. A partition without a leader is LEADER_NOT_AVAILABLE.
// Authorized operations are not computed (-2147483648, "not requested").

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/actors"
	"github.com/troupe-mq/troupe/cluster"
)

func init() { regKey(3, 0, 12, handleMetadata) }

// autoCreateWait bounds how long a Metadata request waits for a topic it
// just auto-created to get leaders.
const autoCreateWait = time.Second

func handleMetadata(r *request) answer {
	return func() (kmsg.Response, error) {
		req := r.kreq.(*kmsg.MetadataRequest)
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		s := r.c.s
		md := s.backend.Replicas().Metadata()

		allowAuto := s.brokerCfg().AutoCreateTopics && (r.version < 4 || req.AllowAutoTopicCreation)
		all := req.Topics == nil || (r.version == 0 && len(req.Topics) == 0)
		var names []string
		var unknownIDs [][16]byte
		if !all {
			for _, t := range req.Topics {
				switch {
				case t.Topic != nil && *t.Topic != "":
					names = append(names, *t.Topic)
				case t.TopicID != [16]byte{}:
					if tm, ok := md.TopicByID(t.TopicID); ok {
						names = append(names, tm.Name)
					} else {
						unknownIDs = append(unknownIDs, t.TopicID)
					}
				}
			}
		}
		created := map[string]error{}
		if allowAuto {
			var toCreate []string
			for _, n := range names {
				if _, ok := md.Topics[n]; !ok && cluster.ValidateTopicName(n) == nil {
					toCreate = append(toCreate, n)
				}
			}
			if len(toCreate) > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), autoCreateWait)
				for _, n := range toCreate {
					created[n] = s.createTopic(n, s.brokerCfg().NumPartitions, s.brokerCfg().DefaultReplicationFactor, nil, nil)
				}
				md, _ = waitMetadata(ctx, s.backend.Replicas(), func(m *actors.Metadata) bool {
					for _, n := range toCreate {
						if created[n] == nil && !topicReady(m, n, int(s.brokerCfg().NumPartitions)) {
							return false
						}
					}
					return true
				})
				cancel()
			}
		}

		for _, b := range md.SortedBrokers() {
			rb := kmsg.NewMetadataResponseBroker()
			rb.NodeID, rb.Host, rb.Port = b.Id, b.Host, b.Port
			if b.Rack != "" {
				rack := b.Rack
				rb.Rack = &rack
			}
			resp.Brokers = append(resp.Brokers, rb)
		}
		if md.ClusterID != "" {
			id := md.ClusterID
			resp.ClusterID = &id
		}
		resp.ControllerID = md.ControllerID
		resp.AuthorizedOperations = -2147483648

		if all {
			for name := range md.Topics {
				names = append(names, name)
			}
		}
		for _, name := range names {
			rt := kmsg.NewMetadataResponseTopic()
			n := name
			rt.Topic = &n
			rt.AuthorizedOperations = -2147483648
			t, ok := md.Topics[name]
			switch {
			case ok:
				rt.TopicID = t.ID
				rt.IsInternal = len(name) > 2 && name[:2] == "__"
				for _, p := range t.Partitions {
					if p == nil {
						continue
					}
					rt.Partitions = append(rt.Partitions, metadataPartition(p, md))
				}
			case cluster.ValidateTopicName(name) != nil:
				rt.ErrorCode = kerr.InvalidTopicException.Code
			case allowAuto && created[name] == nil:
				rt.ErrorCode = kerr.LeaderNotAvailable.Code
			case allowAuto && created[name] != nil && errorCode(created[name]) == kerr.TopicAlreadyExists.Code:
				rt.ErrorCode = kerr.LeaderNotAvailable.Code
			case md.ControllerEpoch < 0:
				// No controller has sent this (just started) broker its
				// metadata yet: it cannot tell whether the topic exists.
				// UNKNOWN_TOPIC_OR_PARTITION here made clients (kgo after
				// 4 in a row) fail records of topics that do exist.
				rt.ErrorCode = kerr.LeaderNotAvailable.Code
			default:
				rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			resp.Topics = append(resp.Topics, rt)
		}
		for _, id := range unknownIDs {
			rt := kmsg.NewMetadataResponseTopic()
			rt.TopicID = id
			rt.ErrorCode = kerr.UnknownTopicID.Code
			rt.AuthorizedOperations = -2147483648
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
}

func metadataPartition(p interface {
	GetPartition() int32
	GetLeader() int32
	GetLeaderEpoch() int32
	GetReplicas() []int32
	GetIsr() []int32
	GetOfflineReplicas() []int32
}, md *actors.Metadata) kmsg.MetadataResponseTopicPartition {
	rp := kmsg.NewMetadataResponseTopicPartition()
	rp.Partition = p.GetPartition()
	rp.Leader = p.GetLeader()
	rp.LeaderEpoch = p.GetLeaderEpoch()
	rp.Replicas = p.GetReplicas()
	rp.ISR = p.GetIsr()
	rp.OfflineReplicas = p.GetOfflineReplicas()
	if rp.Replicas == nil {
		rp.Replicas = []int32{}
	}
	if rp.ISR == nil {
		rp.ISR = []int32{}
	}
	if rp.OfflineReplicas == nil {
		rp.OfflineReplicas = []int32{}
	}
	if _, live := md.Brokers[rp.Leader]; rp.Leader < 0 || !live {
		rp.ErrorCode = kerr.LeaderNotAvailable.Code
	}
	return rp
}
