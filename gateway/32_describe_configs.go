package gateway

// DescribeConfigs (key 32), versions 0–4.
//
// Topics: every topic config Troupe understands with its effective value
// and source (topic override, broker setting, default), with synonyms on
// request (v1+) and type and documentation (v3+). Brokers: a resource
// naming this broker lists every setting with its effective value and
// source (dynamic for this broker, dynamic cluster default, static,
// default); read_only is false for the settings Kafka marks dynamic. The
// empty name lists the cluster-wide dynamic defaults set
// (/config/brokers/<default>), as Kafka does. Another broker's id is
// INVALID_REQUEST (clients send a broker resource to that broker). Broker
// loggers are not supported (INVALID_REQUEST). Difference from Kafka:
// configs Troupe does not implement (compaction, …) are not listed.

import (
	"fmt"
	"maps"
	"slices"
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
					for _, v := range s.brokerCfg().TopicValues(overrides) {
						if wanted(v.Key.Name) {
							rr.Configs = append(rr.Configs, topicConfigEntry(s.brokerCfg(), v, overrides, req.IncludeSynonyms, req.IncludeDocumentation))
						}
					}
				}
			case resourceBroker:
				bc := s.brokerCfg()
				err = s.checkBrokerResource(res.ResourceName)
				if err == nil && res.ResourceName == "" {
					defaults, _ := bc.DynamicSettings()
					for _, name := range slices.Sorted(maps.Keys(defaults)) {
						if wanted(name) {
							v := config.BrokerValue{Name: name, Value: defaults[name], Source: config.SourceDynamicDefault, Dynamic: true}
							rr.Configs = append(rr.Configs, brokerConfigEntry(bc, v, req.IncludeSynonyms, req.IncludeDocumentation))
						}
					}
				} else if err == nil {
					for _, v := range bc.Values() {
						if wanted(v.Name) {
							rr.Configs = append(rr.Configs, brokerConfigEntry(bc, v, req.IncludeSynonyms, req.IncludeDocumentation))
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
		for _, sy := range b.Synonyms(v.Key.BrokerKey) {
			if sy.Source != config.SourceDefault {
				c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(sy.Name, sy.Value, sy.Source))
			}
		}
		name := v.Key.BrokerKey
		if name == "" {
			name = v.Key.Name
		}
		c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(name, v.Key.Default, config.SourceDefault))
	}
	return c
}

func brokerConfigEntry(b *config.Broker, v config.BrokerValue, synonyms, docs bool) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = v.Name
	val := v.Value
	c.Value = &val
	c.Source = kmsg.ConfigSource(v.Source)
	c.IsDefault = v.Source == config.SourceDefault
	c.ReadOnly = !v.Dynamic // read-only settings: change the file and restart
	c.ConfigType = configType(v.Type)
	if docs && v.Doc != "" {
		d := v.Doc
		c.Documentation = &d
	}
	if synonyms {
		for _, sy := range b.Synonyms(v.Name) {
			if v.Source == config.SourceDynamicDefault && sy.Source == config.SourceDynamicBroker {
				continue // describing the default: this broker's own value is not a synonym of it
			}
			c.ConfigSynonyms = append(c.ConfigSynonyms, synonym(sy.Name, sy.Value, sy.Source))
		}
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
	case "LIST":
		return kmsg.ConfigTypeList
	case "DOUBLE":
		return kmsg.ConfigTypeDouble
	}
	return kmsg.ConfigTypeString
}
