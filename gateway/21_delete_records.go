package gateway

// DeleteRecords (key 21), versions 0–2.
//
// Advances each partition's log start offset to the given offset (-1: the
// high watermark), which must not be above the high watermark
// (OFFSET_OUT_OF_RANGE otherwise); whole segments below it are removed.
// Answered with the new low watermark (log start offset) once the leader
// applied it. Difference from Kafka: the answer does not wait for followers
// to move their own log start (they follow on their next fetch).

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/actors"
)

func init() { regKey(21, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(r *request) answer {
	return func() (kmsg.Response, error) {
		req := r.kreq.(*kmsg.DeleteRecordsRequest)
		resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
		s := r.c.s
		var pending []pendingPartition[actors.DeleteRecordsResult]
		for _, t := range req.Topics {
			rt := kmsg.NewDeleteRecordsResponseTopic()
			rt.Topic = t.Topic
			rt.Partitions = make([]kmsg.DeleteRecordsResponseTopicPartition, len(t.Partitions))
			resp.Topics = append(resp.Topics, rt)
			parts := resp.Topics[len(resp.Topics)-1].Partitions
			for i, p := range t.Partitions {
				rp := &parts[i]
				*rp = kmsg.NewDeleteRecordsResponseTopicPartition()
				rp.Partition = p.Partition
				off := p.Offset
				ch, err := ask(s, actors.TopicPartition{Topic: t.Topic, Partition: p.Partition}, func(reply chan<- actors.DeleteRecordsResult) any {
					return &actors.DeleteRecordsRequest{Offset: off, Reply: reply}
				})
				pending = append(pending, pendingPartition[actors.DeleteRecordsResult]{reply: ch, err: err,
					fill: func(res actors.DeleteRecordsResult, err error) {
						if err == nil {
							err = res.Err
						}
						rp.ErrorCode = errorCode(err)
						rp.LowWatermark = -1
						if err == nil {
							rp.LowWatermark = res.LowWatermark
						}
					}})
			}
		}
		collect(pending, boundedTimeout(req.TimeoutMillis, s.requestTimeout())+produceSlack)
		return resp, nil
	}
}
