package gateway

// ElectLeaders (key 43), versions 0–2 (KIP-460).
//
// Clients send it to the controller (Metadata's controller_id); another
// broker answers NOT_CONTROLLER and the client retries there. The request
// goes to the controller core, which answers each partition at once: an
// election is under way, or why not (ELECTION_NOT_NEEDED when the
// preferred replica leads already, or, for an unclean election, the
// partition has a leader; PREFERRED_LEADER_NOT_AVAILABLE when the
// preferred replica is down or out of the ISR; ELIGIBLE_LEADERS_NOT_
// AVAILABLE when no replica is alive; UNKNOWN_TOPIC_OR_PARTITION). The
// answer then waits, up to timeout_ms, until this broker's metadata shows
// the election done (REQUEST_TIMED_OUT otherwise), as Kafka's controller
// answers once the election completed. Null topics mean every partition.
// v0 has no election type (preferred) and no top-level error code.

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/actors"
)

func init() { regKey(43, 0, 2, handleElectLeaders) }

func handleElectLeaders(r *request) answer {
	return func() (kmsg.Response, error) {
		req := r.kreq.(*kmsg.ElectLeadersRequest)
		resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
		s := r.c.s
		unclean := r.version >= 1 && req.ElectionType == 1
		timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
		if timeout <= 0 || timeout > s.requestTimeout() {
			timeout = s.requestTimeout()
		}
		until := time.Now().Add(timeout)

		var asked []actors.TopicPartition // nil: every partition
		if req.Topics != nil {
			asked = []actors.TopicPartition{}
			for _, t := range req.Topics {
				for _, p := range t.Partitions {
					asked = append(asked, actors.TopicPartition{Topic: t.Topic, Partition: p})
				}
			}
		}
		codes := map[actors.TopicPartition]int16{}
		fail := func(code int16) (kmsg.Response, error) {
			if r.version >= 1 {
				resp.ErrorCode = code
				return resp, nil
			}
			for _, tp := range asked { // v0: per partition
				codes[tp] = code
			}
			fillElectLeaders(resp, asked, codes)
			return resp, nil
		}
		md := s.backend.Replicas().Metadata()
		if md.ControllerID != s.backend.BrokerID() {
			return fail(kerr.NotController.Code)
		}
		reply := make(chan *actors.ElectLeadersAnswer, 1)
		s.backend.Send(s.backend.Controller(), &actors.ElectLeadersRequest{Partitions: asked, Unclean: unclean, Reply: reply})
		wait := newDeadline(time.Until(until))
		ans, ok := awaitReply(reply, wait)
		wait.stop()
		if !ok {
			return fail(kerr.RequestTimedOut.Code)
		}
		if ans.ErrorCode != 0 {
			return fail(ans.ErrorCode)
		}
		if asked == nil {
			for tp := range ans.Partitions {
				asked = append(asked, tp)
			}
			slices.SortFunc(asked, func(a, b actors.TopicPartition) int { return a.Compare(b) })
		}
		for _, tp := range asked {
			codes[tp] = ans.Partitions[tp]
		}
		// Wait for the metadata to show the elections done.
		done := func(md *actors.Metadata, tp actors.TopicPartition) bool {
			ps, ok := md.Partition(tp.Topic, tp.Partition)
			if !ok {
				return false
			}
			if unclean {
				return ps.Leader >= 0
			}
			return len(ps.Replicas) > 0 && ps.Leader == ps.Replicas[0]
		}
		for {
			md = s.backend.Replicas().Metadata()
			pending := false
			for _, tp := range asked {
				if codes[tp] == 0 && !done(md, tp) {
					pending = true
				}
			}
			if !pending {
				break
			}
			t := time.NewTimer(time.Until(until))
			select {
			case <-md.Changed():
				t.Stop()
				continue
			case <-t.C:
			case <-r.c.stop:
				t.Stop()
			}
			for _, tp := range asked {
				if codes[tp] == 0 && !done(s.backend.Replicas().Metadata(), tp) {
					codes[tp] = kerr.RequestTimedOut.Code
				}
			}
			break
		}
		fillElectLeaders(resp, asked, codes)
		return resp, nil
	}
}

// fillElectLeaders writes the per-partition codes, topics in the order
// first asked for.
func fillElectLeaders(resp *kmsg.ElectLeadersResponse, tps []actors.TopicPartition, codes map[actors.TopicPartition]int16) {
	index := map[string]int{}
	for _, tp := range tps {
		i, ok := index[tp.Topic]
		if !ok {
			i = len(resp.Topics)
			index[tp.Topic] = i
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = tp.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition, rp.ErrorCode = tp.Partition, codes[tp]
		if rp.ErrorCode != 0 {
			if e := kerr.ErrorForCode(rp.ErrorCode); e != nil {
				msg := e.Error()
				rp.ErrorMessage = &msg
			}
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
}
