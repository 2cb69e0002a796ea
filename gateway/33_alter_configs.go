package gateway

// AlterConfigs (key 33), versions 0–2.
//
// Replaces a topic's config overrides with the ones given (configs not
// named return to their defaults), after validating every name and value
// (INVALID_CONFIG). Brokers re-read the topic's config from the change
// notification and apply it to their replicas. validate_only checks
// without writing. Difference from Kafka: broker configs are static (set
// in the config file), so altering a broker resource is INVALID_REQUEST.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

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
			err := alterResource(res.ResourceType, func() error {
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
			})
			rr.ErrorCode = errorCode(err)
			rr.ErrorMessage = errorMessage(err)
			resp.Resources = append(resp.Resources, rr)
		}
		return resp, nil
	}
}

// alterResource runs alterTopic for a topic resource. Broker configs are
// static in Troupe (set in the config file), and other resource types are
// not supported: both INVALID_REQUEST, for AlterConfigs and
// IncrementalAlterConfigs alike.
func alterResource(rtype kmsg.ConfigResourceType, alterTopic func() error) error {
	switch rtype {
	case resourceTopic:
		return alterTopic()
	case resourceBroker:
		return fmt.Errorf("%w: broker configs are static in Troupe; set them in the broker's config file", kerr.InvalidRequest)
	}
	return fmt.Errorf("%w: resource type %d is not supported", kerr.InvalidRequest, rtype)
}
