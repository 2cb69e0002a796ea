package gateway

// OffsetForLeaderEpoch (key 23), versions 0–4.
//
// For each partition, the end offset of the requested leader epoch
// (KIP-101/KIP-279): the start offset of the next higher epoch, or the log
// end for the current epoch; when the epoch is older than the earliest one
// this replica knows, UNDEFINED (-1, -1). Followers (replica_id >= 0, v3+)
// may ask any replica; consumers only the leader. current_leader_epoch
// (v2+) is checked: older is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/actors"
)

func init() { regKey(23, 0, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(r *request) answer {
	return func() (kmsg.Response, error) {
		req := r.kreq.(*kmsg.OffsetForLeaderEpochRequest)
		resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
		s := r.c.s
		// Before v3 only followers sent this request; -2 is Kafka's
		// "debugging" id, which may also ask any replica.
		replicaID := req.ReplicaID
		if r.version < 3 || replicaID == -2 {
			replicaID = 0
		}
		var pending []pendingPartition[actors.OffsetForLeaderEpochResult]
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
			rt.Topic = t.Topic
			rt.Partitions = make([]kmsg.OffsetForLeaderEpochResponseTopicPartition, len(t.Partitions))
			resp.Topics = append(resp.Topics, rt)
			parts := resp.Topics[len(resp.Topics)-1].Partitions
			for i, p := range t.Partitions {
				rp := &parts[i]
				*rp = kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				rp.Partition = p.Partition
				p := p
				ch, err := ask(s, actors.TopicPartition{Topic: t.Topic, Partition: p.Partition}, func(reply chan<- actors.OffsetForLeaderEpochResult) any {
					return &actors.OffsetForLeaderEpochRequest{LeaderEpoch: p.LeaderEpoch, CurrentLeaderEpoch: p.CurrentLeaderEpoch, ReplicaID: replicaID, Reply: reply}
				})
				pending = append(pending, pendingPartition[actors.OffsetForLeaderEpochResult]{reply: ch, err: err,
					fill: func(res actors.OffsetForLeaderEpochResult, err error) {
						if err == nil {
							err = res.Err
						}
						rp.ErrorCode = errorCode(err)
						rp.LeaderEpoch, rp.EndOffset = -1, -1
						if err == nil {
							rp.LeaderEpoch, rp.EndOffset = res.LeaderEpoch, res.EndOffset
						}
					}})
			}
		}
		collect(pending, s.requestTimeout())
		return resp, nil
	}
}
