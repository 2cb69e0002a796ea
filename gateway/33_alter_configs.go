package gateway

// AlterConfigs (key 33), versions 0–2.
//
// Replaces a topic's config overrides with the ones given (configs not
// named return to their defaults), after validating every name and value
// (INVALID_CONFIG). Brokers re-read the topic's config from the change
// notification and apply it to their replicas. validate_only checks
// without writing. A broker resource (a broker id, or "" for the
// cluster-wide default) replaces that entity's dynamic broker configs in
// /config/brokers/<entity>; every broker applies them from the change
// notification. A setting that is unknown, read-only or badly valued is
// INVALID_REQUEST, as Kafka answers for broker resources.

import (
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/internal/config"
)

func init() { regKey(33, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(r *request) answer {
	return func() (kmsg.Response, error) {
		req := r.kreq.(*kmsg.AlterConfigsRequest)
		resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
		s := r.c.s
		for _, res := range req.Resources {
			rr := kmsg.NewAlterConfigsResponseResource()
			rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
			err := alterResource(res.ResourceType, res.ResourceName, func() error {
				cfg := make(map[string]string, len(res.Configs))
				for _, c := range res.Configs {
					if c.Value != nil {
						cfg[c.Name] = *c.Value
					}
				}
				if err := s.checkTopicExists(res.ResourceName); err != nil {
					return err
				}
				if err := config.ValidateTopicConfigs(cfg); err != nil || req.ValidateOnly {
					return err
				}
				return s.backend.Admin().SetTopicConfig(res.ResourceName, cfg)
			}, func(entity string) error {
				cfg := make(map[string]string, len(res.Configs))
				for _, c := range res.Configs {
					if c.Value == nil {
						continue
					}
					if err := validateBrokerSetting(c.Name, *c.Value); err != nil {
						return err
					}
					cfg[c.Name] = *c.Value
				}
				if req.ValidateOnly {
					return nil
				}
				return s.backend.Admin().SetBrokerConfig(entity, cfg)
			})
			rr.ErrorCode = errorCode(err)
			rr.ErrorMessage = errorMessage(err)
			resp.Resources = append(resp.Resources, rr)
		}
		return resp, nil
	}
}

// alterResource runs alterTopic for a topic resource and alterBroker for
// a broker resource (with its config entity: a broker id or the cluster
// default); other resource types are INVALID_REQUEST, for AlterConfigs and
// IncrementalAlterConfigs alike.
func alterResource(rtype kmsg.ConfigResourceType, name string, alterTopic func() error, alterBroker func(entity string) error) error {
	switch rtype {
	case resourceTopic:
		return alterTopic()
	case resourceBroker:
		if name == "" {
			return alterBroker(cluster.DefaultBrokerEntity)
		}
		if id, err := strconv.ParseInt(name, 10, 32); err != nil || id < 0 || strconv.FormatInt(id, 10) != name {
			return fmt.Errorf("%w: broker resource %q is not a broker id", kerr.InvalidRequest, name)
		}
		return alterBroker(name)
	}
	return fmt.Errorf("%w: resource type %d is not supported", kerr.InvalidRequest, rtype)
}

// validateBrokerSetting checks a dynamic broker config (INVALID_REQUEST).
func validateBrokerSetting(name, value string) error {
	if err := config.ValidateDynamic(name, value); err != nil {
		return fmt.Errorf("%w: %v", kerr.InvalidRequest, err)
	}
	return nil
}
