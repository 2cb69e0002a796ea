package gateway

// Produce (key 0), versions 3–9 (record batch v2 only). ApiVersions
// advertises it from v0 for librdkafka's sake (see 18_api_versions.go);
// v0–v2 requests still close the connection.
//
// Each partition's records go to the actor that leads it, in the order the
// connection read the requests, so pipelined batches of one producer reach
// the log in order. acks=0 gets no response (the broker still waits for the
// appends before reading more of that connection's budget); acks=1 is
// answered once the leader appended; acks=-1 once the high watermark passed
// the batch, or with NOT_ENOUGH_REPLICAS when the ISR is smaller than
// min.insync.replicas (nothing appended). acks outside {0, 1, -1} is
// INVALID_REQUIRED_ACKS for every partition, nothing appended.
//
// Differences from Kafka: transactional produce is refused (no transaction
// coordinator yet); per-record errors (v8 record_errors) are not reported,
// the whole batch carries the error; message.timestamp.type=LogAppendTime
// is not offered, so log_append_time is always -1.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/actors"
)

// produceKey is Produce's API key.
const produceKey = 0

func init() { regKey(produceKey, 3, 9, handleProduce) }

// produceSlack is how long past the client's timeout the gateway waits for
// a partition actor before answering REQUEST_TIMED_OUT itself.
const produceSlack = 2 * time.Second

func handleProduce(r *request) answer {
	req := r.kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	s := r.c.s
	reps := s.backend.Replicas()

	var refuse error
	switch {
	case req.TransactionID != nil:
		refuse = kerr.TransactionalIDAuthorizationFailed
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		refuse = actors.ErrInvalidRequiredAcks
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond

	type slot struct {
		p     *kmsg.ProduceResponseTopicPartition
		reply chan actors.ProduceResult
	}
	var slots []slot
	var md *actors.Metadata
	for _, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(t.Partitions))
		resp.Topics = append(resp.Topics, rt)
		parts := resp.Topics[len(resp.Topics)-1].Partitions
		for i, p := range t.Partitions {
			rp := &parts[i]
			*rp = kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = -1, -1, -1
			if refuse != nil {
				rp.ErrorCode = errorCode(refuse)
				continue
			}
			pid, ok := reps.Partition(actors.TopicPartition{Topic: t.Topic, Partition: p.Partition})
			if !ok {
				if md == nil {
					md = reps.Metadata()
				}
				// A broker no controller has sent metadata yet (just
				// started) cannot deny the topic: kgo fails records after
				// four UNKNOWN_TOPIC_OR_PARTITION answers in a row.
				if _, known := md.Partition(t.Topic, p.Partition); known || md.ControllerEpoch < 0 {
					rp.ErrorCode = kerr.NotLeaderForPartition.Code
				} else {
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				}
				continue
			}
			ch := make(chan actors.ProduceResult, 1)
			s.backend.Send(pid, &actors.ProduceRequest{Records: p.Records, Acks: req.Acks, Timeout: timeout, Reply: ch})
			slots = append(slots, slot{p: rp, reply: ch})
		}
	}
	return func() (kmsg.Response, error) {
		wait := newDeadline(timeout + produceSlack)
		defer wait.stop()
		for _, sl := range slots {
			res, ok := awaitReply(sl.reply, wait)
			if !ok {
				sl.p.ErrorCode = kerr.RequestTimedOut.Code
				r.inf.retainBody = true // the actor still holds these records
				continue
			}
			sl.p.ErrorCode = errorCode(res.Err)
			if res.Err != nil {
				sl.p.ErrorMessage = errorMessage(res.Err)
			}
			sl.p.BaseOffset, sl.p.LogAppendTime, sl.p.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
		}
		if req.Acks == 0 {
			return nil, nil
		}
		return resp, nil
	}
}
