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
			var err error
			switch res.ResourceType {
			case resourceTopic:
				cfg := make(map[string]string, len(res.Configs))
				for _, c := range res.Configs {
					if c.Value != nil {
						cfg[c.Name] = *c.Value
					}
				}
				err = s.checkTopicExists(res.ResourceName)
				if err == nil {
					err = config.ValidateTopicConfigs(cfg)
				}
				if err == nil && !req.ValidateOnly {
					err = s.backend.Admin().SetTopicConfig(res.ResourceName, cfg)
				}
			case resourceBroker:
				err = fmt.Errorf("%w: broker configs are static in Troupe; set them in the broker's config file", kerr.InvalidRequest)
			default:
				err = fmt.Errorf("%w: resource type %d is not supported", kerr.InvalidRequest, res.ResourceType)
			}
			rr.ErrorCode = errorCode(err)
			rr.ErrorMessage = errorMessage(err)
			resp.Resources = append(resp.Resources, rr)
		}
		return resp, nil
	}
}
