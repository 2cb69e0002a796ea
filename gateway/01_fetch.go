package gateway

// Fetch (key 1), versions 4–15.
//
// Consumers read up to the high watermark; followers (replica_id >= 0) up
// to the log end, and their fetch offset tells the leader their progress.
// From v13 topics are named by topic id (an unknown one: UNKNOWN_TOPIC_ID);
// from v15 a follower sends its broker epoch (replica_state, KIP-903),
// which lets the leader tell a restarted broker from its previous
// incarnation.
// Record batches are sent as the bytes stored on disk, never re-encoded.
// Long-poll: when the partitions together have fewer than min_bytes, the
// gateway parks the request with each partition actor (a notification
// channel, no actor waits) and asks again when one signals or max_wait_ms
// passes. Response size: each partition is limited to its
// partition_max_bytes and the response to max_bytes, except that the first
// non-empty partition always returns at least one whole batch (KIP-74).
//
// Differences from Kafka: fetch sessions (KIP-227) are not offered — the
// response's session_id is 0, so clients send full requests; a request
// naming a session gets FETCH_SESSION_ID_NOT_FOUND. read_committed equals
// read_uncommitted (no transactions, so the last stable offset is the high
// watermark). Preferred read replicas (KIP-392) are not used (-1).
//
// Replication throttle: a follower's data for a throttled replica (being
// moved here and out of sync, or named by leader.replication.throttled.
// replicas) is held back while leader.replication.throttled.rate is
// exhausted, as Kafka's leader does; the fetch waits for the throttle to
// refill (within max_wait_ms) and its bytes are charged to it.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/actors"
	"github.com/troupe-mq/troupe/storage"
)

func init() { regKey(1, 4, 15, handleFetch) }

// fetchSlot is one partition of a fetch request.
type fetchSlot struct {
	rp     *kmsg.FetchResponseTopicPartition
	tp     actors.TopicPartition
	req    kmsg.FetchRequestTopicPartition
	result actors.FetchResult
	// settled: the partition has data or an error; it is not asked again.
	settled bool
}

func handleFetch(r *request) answer {
	return func() (kmsg.Response, error) {
		req := r.kreq.(*kmsg.FetchRequest)
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		s := r.c.s
		reps := s.backend.Replicas()
		if req.SessionID != 0 {
			resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
			return resp, nil
		}
		maxWait := time.Duration(req.MaxWaitMillis) * time.Millisecond
		if maxWait > s.requestTimeout() {
			maxWait = s.requestTimeout()
		}
		until := time.Now().Add(maxWait)

		replicaID, replicaEpoch := req.ReplicaID, int64(-1)
		if req.Version >= 15 {
			replicaID, replicaEpoch = req.ReplicaState.ID, req.ReplicaState.Epoch
		}
		var slots []*fetchSlot
		var unknownIDs []*kmsg.FetchResponseTopicPartition
		for _, t := range req.Topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			known := true
			if req.Version >= 13 {
				tm, ok := reps.Metadata().TopicByID(t.TopicID)
				known = ok
				if ok {
					rt.Topic = tm.Name
				}
			}
			rt.Partitions = make([]kmsg.FetchResponseTopicPartition, len(t.Partitions))
			resp.Topics = append(resp.Topics, rt)
			parts := resp.Topics[len(resp.Topics)-1].Partitions
			for i, p := range t.Partitions {
				rp := &parts[i]
				*rp = kmsg.NewFetchResponseTopicPartition()
				rp.Partition = p.Partition
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
				if !known {
					unknownIDs = append(unknownIDs, rp)
					continue
				}
				slots = append(slots, &fetchSlot{rp: rp, tp: actors.TopicPartition{Topic: rt.Topic, Partition: p.Partition}, req: p})
			}
		}

		notify := make(chan struct{}, 1)
		// A follower's long poll is also answered when this broker's
		// metadata changes (a leadership moved): its fetcher sends one
		// fetch at a time, so a partition it starts to follow from this
		// leader would otherwise wait out max_wait_ms (500 ms) behind the
		// parked fetch, holding up acks=all after a failover.
		var mdChanged <-chan struct{}
		if replicaID >= 0 {
			mdChanged = reps.Metadata().Changed()
		}
		replies := make([]chan actors.FetchResult, len(slots))
	fetching:
		for {
			asked := 0
			for i, sl := range slots {
				if sl.settled {
					continue
				}
				pid, ok := reps.Partition(sl.tp)
				if !ok {
					sl.settled = true
					sl.result.Err = unknownOrNotLeader(reps, sl.tp)
					continue
				}
				if replies[i] == nil {
					replies[i] = make(chan actors.FetchResult, 1)
				}
				s.backend.Send(pid, &actors.FetchRequest{
					FetchOffset:            sl.req.FetchOffset,
					MaxBytes:               partitionReadLimit(sl.req.PartitionMaxBytes, req.MaxBytes),
					MinOneBatch:            true,
					ReplicaID:              replicaID,
					ReplicaEpoch:           replicaEpoch,
					CurrentLeaderEpoch:     sl.req.CurrentLeaderEpoch,
					FollowerLogStartOffset: sl.req.LogStartOffset,
					ReadCommitted:          req.IsolationLevel == 1,
					Notify:                 notify,
					Reply:                  replies[i],
				})
				asked++
			}
			wait := newDeadline(s.requestTimeout())
			total, held := 0, false
			for i, sl := range slots {
				if !sl.settled && replies[i] != nil {
					res, ok := awaitReply(replies[i], wait)
					if !ok {
						res.Err = actors.ErrTimeout
					}
					if res.Throttled && res.Records.Len() > 0 && s.leaderThrottle.Exceeded() {
						// A throttled replica's data waits while the
						// leader's replication throttle is exhausted; it
						// is read again once the throttle refills (what
						// is sent is charged in fillFetchResponse).
						res.Records, held = storage.Region{}, true
					}
					sl.result = res
					if res.Err != nil || res.Records.Len() > 0 {
						sl.settled = true
					}
				}
				total += sl.result.Records.Len()
			}
			wait.stop()
			if asked == 0 || total >= int(req.MinBytes) || anyError(slots) || !time.Now().Before(until) {
				break fetching
			}
			// Nothing (enough) yet: wait until a partition signals news or
			// max_wait_ms passes (or the throttle refills, for data held
			// back by it), then ask the unsettled ones again.
			next := until
			if held {
				if t := time.Now().Add(max(s.leaderThrottle.Wait(), time.Millisecond)); t.Before(until) {
					next = t
				}
			}
			switch waitForNews(r.c, notify, mdChanged, next) {
			case answerNow:
				break fetching
			case deadlinePassed:
				if !held || !time.Now().Before(until) {
					break fetching
				}
			}
		}
		for _, rp := range unknownIDs {
			rp.ErrorCode = kerr.UnknownTopicID.Code
			rp.RecordBatches = []byte{}
		}
		return fillFetchResponse(resp, slots, req.MaxBytes, replicaID < 0, r.c.markers, s.leaderThrottle), nil
	}
}

// fillFetchResponse copies the partitions' answers into the response,
// keeping the response within maxBytes (the first non-empty partition is
// always kept whole, KIP-74). Record batches are not copied: each is a
// marker the writer replaces by the stored bytes (splice.go). The bytes of
// throttled replicas that go out are charged to throttle.
func fillFetchResponse(resp *kmsg.FetchResponse, slots []*fetchSlot, maxBytes int32, consumer bool, markers *markerSource, throttle *actors.Throttle) kmsg.Response {
	sr := &splicedResponse{Response: resp}
	budget := int(maxBytes)
	if budget <= 0 {
		budget = int(^uint32(0) >> 1)
	}
	used := 0
	for _, sl := range slots {
		res, rp := &sl.result, sl.rp
		rp.ErrorCode = errorCode(res.Err)
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = res.HighWatermark, res.LastStable, res.LogStartOffset
		rp.PreferredReadReplica = -1
		rp.RecordBatches = []byte{} // never null: librdkafka rejects a null record set
		n := res.Records.Len()
		if n == 0 || res.Err != nil {
			continue
		}
		// Past the first non-empty partition, nothing may exceed the
		// response limit, nor, for consumers, its own partition limit (a
		// partition read returns one whole batch over its limit, which only
		// the first partition may keep, KIP-74). Followers keep such a
		// batch when it fits: their fetcher does not rotate partitions the
		// way Kafka's does, so a batch larger than replica.fetch.max.bytes
		// could otherwise wait many fetches for its turn to come first.
		if used > 0 && (used+n > budget || consumer && n > int(sl.req.PartitionMaxBytes)) {
			continue // left for the next fetch
		}
		if res.Throttled {
			throttle.Record(n)
		}
		mk := markers.next()
		sr.markers = append(sr.markers, mk)
		sr.regions = append(sr.regions, res.Records)
		rp.RecordBatches = sr.markers[len(sr.markers)-1][:]
		used += n
	}
	if len(sr.markers) == 0 {
		return resp
	}
	return sr
}

// partitionReadLimit is how much one partition may read for a fetch: its
// partition_max_bytes, but never more than the whole response's max_bytes
// (a partition cannot usefully return more than fits in the response).
func partitionReadLimit(partitionMax, responseMax int32) int32 {
	if responseMax > 0 && responseMax < partitionMax {
		return responseMax
	}
	return partitionMax
}

// waitResult is why waitForNews returned.
type waitResult uint8

const (
	newsArrived    waitResult = iota // a partition signalled: ask again
	deadlinePassed                   // the time given passed
	answerNow                        // metadata changed, or the connection drains
)

// waitForNews waits for a partition's signal until the deadline.
func waitForNews(c *conn, notify, mdChanged <-chan struct{}, until time.Time) waitResult {
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-notify:
		return newsArrived
	case <-mdChanged: // nil for consumers: never ready
		return answerNow
	case <-t.C:
		return deadlinePassed
	case <-c.draining:
		return answerNow
	case <-c.stop:
		return answerNow
	}
}

func anyError(slots []*fetchSlot) bool {
	for _, sl := range slots {
		if sl.result.Err != nil {
			return true
		}
	}
	return false
}

// unknownOrNotLeader is the error for a partition with no local replica.
// A broker no controller has sent metadata yet (just started) does not
// know whether the partition exists and says NOT_LEADER_OR_FOLLOWER.
func unknownOrNotLeader(reps *actors.Replicas, tp actors.TopicPartition) error {
	md := reps.Metadata()
	if _, ok := md.Partition(tp.Topic, tp.Partition); ok || md.ControllerEpoch < 0 {
		return actors.ErrNotLeader
	}
	return actors.ErrUnknownPartition
}
