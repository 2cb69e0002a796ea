package gateway

// IncrementalAlterConfigs (key 44), versions 0–1.
//
// Applies SET and DELETE operations to a topic's config overrides after
// validating them (INVALID_CONFIG). APPEND and SUBTRACT apply only to list
// configs; Troupe's topic configs are all single values, so they are
// INVALID_CONFIG. validate_only checks without writing. Broker configs are
// static (INVALID_REQUEST).

import (
	"fmt"
	"maps"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/config"
)

func init() { regKey(44, 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(r *request) answer {
	return func() (kmsg.Response, error) {
		req := r.kreq.(*kmsg.IncrementalAlterConfigsRequest)
		resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
		s := r.c.s
		for _, res := range req.Resources {
			rr := kmsg.NewIncrementalAlterConfigsResponseResource()
			rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
			err := alterResource(res.ResourceType, func() error { return s.incrementalAlterTopic(res, req.ValidateOnly) })
			rr.ErrorCode = errorCode(err)
			rr.ErrorMessage = errorMessage(err)
			resp.Resources = append(resp.Resources, rr)
		}
		return resp, nil
	}
}

func (s *Server) incrementalAlterTopic(res kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	if err := s.checkTopicExists(res.ResourceName); err != nil {
		return err
	}
	current, err := s.backend.Admin().TopicConfig(res.ResourceName)
	if err != nil {
		return err
	}
	next := maps.Clone(current)
	if next == nil {
		next = map[string]string{}
	}
	for _, c := range res.Configs {
		if _, known := config.LookupTopicKey(c.Name); !known {
			return fmt.Errorf("%w: unknown or unsupported topic config %q", config.ErrInvalidConfig, c.Name)
		}
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return fmt.Errorf("%w: SET %s without a value", config.ErrInvalidConfig, c.Name)
			}
			if err := config.ValidateTopicValue(c.Name, *c.Value); err != nil {
				return err
			}
			next[c.Name] = *c.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(next, c.Name)
		default:
			return fmt.Errorf("%w: %s is not a list config; only SET and DELETE apply", config.ErrInvalidConfig, c.Name)
		}
	}
	if validateOnly {
		return nil
	}
	return s.backend.Admin().SetTopicConfig(res.ResourceName, next)
}
