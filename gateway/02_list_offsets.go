package gateway

// ListOffsets (key 2), versions 0–7.
//
// Timestamps -1 (latest: the high watermark for consumers, the log end for
// followers), -2 (earliest: the log start) and -3 (the record with the
// largest timestamp, KIP-734, v7) are special; any other value finds the
// first offset whose batch holds a record at or after that time (-1 when
// none). v0's max_num_offsets answers at most one offset.
// Differences from Kafka: a timestamp lookup is resolved per batch using
// each batch's max timestamp, then the returned offset is the batch's
// first record — with producers that set increasing timestamps (all
// common clients) this is exact.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/actors"
)

func init() { regKey(2, 0, 7, handleListOffsets) }

func handleListOffsets(r *request) answer {
	return func() (kmsg.Response, error) {
		req := r.kreq.(*kmsg.ListOffsetsRequest)
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		s := r.c.s
		var pending []pendingPartition[actors.ListOffsetsResult]
		for _, t := range req.Topics {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			rt.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(t.Partitions))
			resp.Topics = append(resp.Topics, rt)
			parts := resp.Topics[len(resp.Topics)-1].Partitions
			for i, p := range t.Partitions {
				rp := &parts[i]
				*rp = kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition = p.Partition
				tp := actors.TopicPartition{Topic: t.Topic, Partition: p.Partition}
				p := p
				ch, err := ask(s, tp, func(reply chan<- actors.ListOffsetsResult) any {
					return &actors.ListOffsetsRequest{Timestamp: p.Timestamp, CurrentLeaderEpoch: p.CurrentLeaderEpoch,
						ReplicaID: req.ReplicaID, ReadCommitted: req.IsolationLevel == 1, Reply: reply}
				})
				version := r.version
				pending = append(pending, pendingPartition[actors.ListOffsetsResult]{reply: ch, err: err,
					fill: func(res actors.ListOffsetsResult, err error) {
						if err == nil {
							err = res.Err
						}
						rp.ErrorCode = errorCode(err)
						if err != nil {
							rp.Offset, rp.Timestamp, rp.LeaderEpoch = -1, -1, -1
							return
						}
						rp.Offset, rp.Timestamp, rp.LeaderEpoch = res.Offset, res.Timestamp, res.LeaderEpoch
						if version == 0 {
							rp.OldStyleOffsets = nil
							if p.MaxNumOffsets > 0 && res.Offset >= 0 {
								rp.OldStyleOffsets = []int64{res.Offset}
							}
						}
					}})
			}
		}
		collect(pending, s.requestTimeout())
		return resp, nil
	}
}
