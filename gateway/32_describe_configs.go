package gateway

// DescribeConfigs (key 32), versions 0–4.
//
// Topics: every topic config Troupe understands with its effective value
// and source (topic override, broker setting, default), with synonyms on
// request (v1+) and type and documentation (v3+). Brokers: this broker's
// settings (a broker resource must name this broker or be empty; the
// client sends it to the broker it describes). Broker loggers are not
// supported (INVALID_REQUEST). Difference from Kafka: configs Troupe does
// not implement (compaction, …) are not listed.

import (
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/config"
)

func init() { regKey(32, 0, 4, handleDescribeConfigs) }

const (
	resourceTopic  = 2
	resourceBroker = 4
)

func handleDescribeConfigs(r *request) answer {
	return func() (kmsg.Response, error) {
		req := r.kreq.(*kmsg.DescribeConfigsRequest)
		resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
		s := r.c.s
		for _, res := range req.Resources {
			rr := kmsg.NewDescribeConfigsResponseResource()
			rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
			wanted := func(name string) bool {
				if res.ConfigNames == nil {
					return true
				}
				for _, n := range res.ConfigNames {
					if n == name {
						return true
					}
				}
				return false
			}
			var err error
			switch res.ResourceType {
			case resourceTopic:
				var overrides map[string]string
				err = s.checkTopicExists(res.ResourceName)
				if err == nil {
					overrides, err = s.backend.Admin().TopicConfig(res.ResourceName)
				}
				if err == nil {
					for _, v := range s.cfg.Broker.TopicValues(overrides) {
						if wanted(v.Key.Name) {
							rr.Configs = append(rr.Configs, topicConfigEntry(s.cfg.Broker, v, overrides, req.IncludeSynonyms, req.IncludeDocumentation))
						}
					}
				}
			case resourceBroker:
				err = s.checkBrokerResource(res.ResourceName)
				if err == nil {
					for _, v := range s.cfg.Broker.Values() {
						if wanted(v.Name) {
							rr.Configs = append(rr.Configs, brokerConfigEntry(v, req.IncludeSynonyms))
						}
					}
				}
			default:
				err = fmt.Errorf("%w: resource type %d is not supported", kerr.InvalidRequest, res.ResourceType)
			}
			if err != nil {
				rr.ErrorCode = errorCode(err)
				rr.ErrorMessage = errorMessage(err)
				rr.Configs = nil
			}
			resp.Resources = append(resp.Resources, rr)
		}
		return resp, nil
	}
}

// checkBrokerResource accepts a broker resource naming this broker (or "",
// the cluster default, which Troupe answers with its own settings).
func (s *Server) checkBrokerResource(name string) error {
	if name == "" {
		return nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil || int32(id) != s.backend.BrokerID() {
		return fmt.Errorf("%w: broker resource %q: ask broker %q itself (this is broker %d)", kerr.InvalidRequest, name, name, s.backend.BrokerID())
	}
	return nil
}

func topicConfigEntry(b *config.Broker, v config.Value, overrides map[string]string, synonyms, docs bool) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = v.Key.Name
	val := v.Value
	c.Value = &val
	c.Source = kmsg.ConfigSource(v.Source)
	c.IsDefault = v.Source == config.SourceDefault
	c.IsSensitive = v.Key.Sensitive
	c.ConfigType = configType(v.Key.Type())
	if docs && v.Key.Doc != "" {
		d := v.Key.Doc
		c.Documentation = &d
	}
	if synonyms {
		if ov, ok := overrides[v.Key.Name]; ok {
			c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(v.Key.Name, ov, config.SourceTopic))
		}
		if bv, ok := b.Settings()[v.Key.BrokerKey]; ok {
			c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(v.Key.BrokerKey, bv, config.SourceStaticBroker))
		}
		name := v.Key.BrokerKey
		if name == "" {
			name = v.Key.Name
		}
		c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(name, v.Key.Default, config.SourceDefault))
	}
	return c
}

func brokerConfigEntry(v config.BrokerValue, synonyms bool) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = v.Name
	val := v.Value
	c.Value = &val
	c.Source = kmsg.ConfigSource(v.Source)
	c.IsDefault = v.Source == config.SourceDefault
	c.ReadOnly = true // broker settings are static: change the file and restart
	c.ConfigType = configType(v.Type)
	if synonyms {
		c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(v.Name, v.Value, v.Source))
	}
	return c
}

func synonym(name, value string, src config.Source) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	s.Name = name
	v := value
	s.Value = &v
	s.Source = kmsg.ConfigSource(src)
	return s
}

// configType maps a type name to DescribeConfigs v3's config_type.
func configType(t string) kmsg.ConfigType {
	switch t {
	case "BOOLEAN":
		return kmsg.ConfigTypeBoolean
	case "INT":
		return kmsg.ConfigTypeInt
	case "LONG":
		return kmsg.ConfigTypeLong
	}
	return kmsg.ConfigTypeString
}
