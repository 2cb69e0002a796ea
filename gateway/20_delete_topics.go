package gateway

// DeleteTopics (key 20), versions 0–6.
//
// Marks each topic for deletion in the cluster metadata store; the
// controller stops its replicas, deletes their logs and removes the topic.
// The answer waits, up to timeout_ms, until the topic is gone from this
// broker's metadata (REQUEST_TIMED_OUT after that, though deletion goes
// on). v6 names topics by name or ID. delete.topic.enable=false answers
// TOPIC_DELETION_DISABLED.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/actors"
	"github.com/troupe-mq/troupe/cluster"
)

func init() { regKey(20, 0, 6, handleDeleteTopics) }

func handleDeleteTopics(r *request) answer {
	return func() (kmsg.Response, error) {
		req := r.kreq.(*kmsg.DeleteTopicsRequest)
		resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
		s := r.c.s
		md := s.backend.Replicas().Metadata()
		type target struct {
			name string
			id   [16]byte
		}
		var targets []target
		if r.version >= 6 {
			for _, t := range req.Topics {
				switch {
				case t.Topic != nil && *t.Topic != "":
					tt := target{name: *t.Topic}
					if tm, ok := md.Topics[tt.name]; ok {
						tt.id = tm.ID
					}
					targets = append(targets, tt)
				default:
					tt := target{id: t.TopicID}
					if tm, ok := md.TopicByID(t.TopicID); ok {
						tt.name = tm.Name
					}
					targets = append(targets, tt)
				}
			}
		} else {
			for _, n := range req.TopicNames {
				tt := target{name: n}
				if tm, ok := md.Topics[n]; ok {
					tt.id = tm.ID
				}
				targets = append(targets, tt)
			}
		}
		resp.Topics = make([]kmsg.DeleteTopicsResponseTopic, len(targets))
		var waitFor []*kmsg.DeleteTopicsResponseTopic
		for i, t := range targets {
			rt := &resp.Topics[i]
			*rt = kmsg.NewDeleteTopicsResponseTopic()
			if t.name != "" {
				n := t.name
				rt.Topic = &n
			}
			rt.TopicID = t.id
			var err error
			switch {
			case !s.brokerCfg().DeleteTopicEnable:
				err = kerr.TopicDeletionDisabled
			case t.name == "":
				err = kerr.UnknownTopicID
			default:
				err = s.backend.Admin().MarkTopicForDeletion(t.name)
			}
			if err != nil {
				rt.ErrorCode = errorCode(err)
				rt.ErrorMessage = errorMessage(err)
				continue
			}
			waitFor = append(waitFor, rt)
		}
		if len(waitFor) == 0 || req.TimeoutMillis <= 0 {
			return resp, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), boundedTimeout(req.TimeoutMillis, s.requestTimeout()))
		defer cancel()
		gone := func(md *actors.Metadata) bool {
			for _, rt := range waitFor {
				if _, ok := md.Topics[*rt.Topic]; ok {
					return false
				}
			}
			return true
		}
		md, _ = waitMetadata(ctx, s.backend.Replicas(), gone)
		for _, rt := range waitFor {
			if _, ok := md.Topics[*rt.Topic]; ok {
				rt.ErrorCode = kerr.RequestTimedOut.Code
				rt.ErrorMessage = errorMessage(fmt.Errorf("%w: deletion of %s was started but has not finished", cluster.ErrTopicExists, *rt.Topic))
			}
		}
		return resp, nil
	}
}
