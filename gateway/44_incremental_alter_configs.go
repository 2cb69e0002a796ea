package gateway

// IncrementalAlterConfigs (key 44), versions 0–1.
//
// Applies SET and DELETE operations to a topic's config overrides after
// validating them (INVALID_CONFIG). APPEND and SUBTRACT apply only to list
// configs (leader/follower.replication.throttled.replicas); on any other
// they are INVALID_CONFIG. validate_only checks without writing. A broker
// resource (a broker id, or "" for the cluster default) takes SET and
// DELETE on its dynamic broker configs; an unknown, read-only or badly
// valued setting is INVALID_REQUEST, as in Kafka.

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
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
			err := alterResource(res.ResourceType, res.ResourceName,
				func() error { return s.incrementalAlterTopic(res, req.ValidateOnly) },
				func(entity string) error { return s.incrementalAlterBroker(entity, res, req.ValidateOnly) })
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
		key, known := config.LookupTopicKey(c.Name)
		if !known {
			return fmt.Errorf("%w: unknown or unsupported topic config %q", config.ErrInvalidConfig, c.Name)
		}
		if key.IsList() && (c.Op == kmsg.IncrementalAlterConfigOpAppend || c.Op == kmsg.IncrementalAlterConfigOpSubtract) {
			if c.Value == nil {
				return fmt.Errorf("%w: %v %s without a value", config.ErrInvalidConfig, c.Op, c.Name)
			}
			v := editList(next[c.Name], *c.Value, c.Op == kmsg.IncrementalAlterConfigOpAppend)
			if err := config.ValidateTopicValue(c.Name, v); err != nil {
				return err
			}
			next[c.Name] = v
			continue
		}
		if err := setOrDelete(next, c, config.ErrInvalidConfig, config.ValidateTopicValue); err != nil {
			return err
		}
	}
	if validateOnly {
		return nil
	}
	return s.backend.Admin().SetTopicConfig(res.ResourceName, next)
}

// editList appends the entries of change to a comma-separated list (those
// not in it yet), or subtracts them.
func editList(list, change string, add bool) string {
	var out []string
	for _, e := range strings.Split(list, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	for _, e := range strings.Split(change, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		i := slices.Index(out, e)
		switch {
		case add && i < 0:
			out = append(out, e)
		case !add && i >= 0:
			out = slices.Delete(out, i, i+1)
		}
	}
	return strings.Join(out, ",")
}

func (s *Server) incrementalAlterBroker(entity string, res kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	current, err := s.backend.Admin().BrokerConfig(entity)
	if err != nil {
		return err
	}
	next := maps.Clone(current)
	if next == nil {
		next = map[string]string{}
	}
	for _, c := range res.Configs {
		if err := setOrDelete(next, c, kerr.InvalidRequest, validateBrokerSetting); err != nil {
			return err
		}
	}
	if validateOnly {
		return nil
	}
	return s.backend.Admin().SetBrokerConfig(entity, next)
}

// setOrDelete applies a SET or DELETE to configs (validated by valid); any
// other operation, or a SET without a value, is refused as bad.
func setOrDelete(configs map[string]string, c kmsg.IncrementalAlterConfigsRequestResourceConfig, bad error, valid func(name, value string) error) error {
	switch c.Op {
	case kmsg.IncrementalAlterConfigOpSet:
		if c.Value == nil {
			return fmt.Errorf("%w: SET %s without a value", bad, c.Name)
		}
		if err := valid(c.Name, *c.Value); err != nil {
			return err
		}
		configs[c.Name] = *c.Value
	case kmsg.IncrementalAlterConfigOpDelete:
		delete(configs, c.Name)
	default:
		return fmt.Errorf("%w: %s is not a list config; only SET and DELETE apply", bad, c.Name)
	}
	return nil
}
