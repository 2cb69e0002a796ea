// Package config defines Troupe's broker and topic configuration: the
// names Apache Kafka uses, their types, defaults, bounds and parsing.
//
// Topic configs resolve in Kafka's order: an explicit topic override
// (stored in /config/topics/<topic>), else the broker's default for it
// (log.retention.ms, …), else the built-in default.
package config

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidConfig marks a config name or value Troupe does not accept
// (INVALID_CONFIG at the gateway).
var ErrInvalidConfig = errors.New("config: invalid config")

// kind is the value type of a config.
type kind int

const (
	kindLong kind = iota
	kindInt
	kindBool
	kindString
	// kindThrottledList: "" or "*" or "partition:broker,…" (Kafka's
	// *.replication.throttled.replicas).
	kindThrottledList
	// kindDouble: a fraction in [0, 1].
	kindDouble
)

// TopicKeyInfo describes one topic config.
type TopicKeyInfo struct {
	Name string
	// BrokerKey is the broker config that supplies the default ("" if none).
	BrokerKey string
	Default   string
	kind      kind
	min, max  int64    // bounds for numeric kinds (inclusive)
	oneOf     []string // allowed values for string kinds
	// Sensitive configs are never returned in clear text.
	Sensitive bool
	Doc       string
}

// Type returns the Kafka config type name (DescribeConfigs v3+).
func (k TopicKeyInfo) Type() string {
	switch k.kind {
	case kindLong:
		return "LONG"
	case kindInt:
		return "INT"
	case kindBool:
		return "BOOLEAN"
	case kindThrottledList:
		return "LIST"
	case kindDouble:
		return "DOUBLE"
	}
	return "STRING"
}

// topicKeys lists every topic config Troupe understands. Keys Kafka has but
// Troupe does not implement (compaction, LogAppendTime, down-conversion)
// are absent on purpose: setting them is INVALID_CONFIG rather than a
// silent no-op, so an operator is never misled about what a topic does.
var topicKeys = []TopicKeyInfo{
	{Name: "cleanup.policy", BrokerKey: "log.cleanup.policy", Default: "delete", kind: kindString, oneOf: []string{"delete"},
		Doc: "Only delete is supported: old segments are removed by retention.ms / retention.bytes."},
	{Name: "compression.type", BrokerKey: "compression.type", Default: "producer", kind: kindString, oneOf: []string{"producer"},
		Doc: "Batches are stored as the producer compressed them."},
	{Name: "file.delete.delay.ms", BrokerKey: "log.segment.delete.delay.ms", Default: "60000", kind: kindLong, min: 0, max: math.MaxInt64},
	{Name: "flush.messages", BrokerKey: "log.flush.interval.messages", Default: strconv.FormatInt(math.MaxInt64, 10), kind: kindLong, min: 1, max: math.MaxInt64,
		Doc: "fsync after this many messages; 1 means fsync before every acknowledgement (batched)."},
	{Name: "flush.ms", BrokerKey: "log.flush.interval.ms", Default: strconv.FormatInt(math.MaxInt64, 10), kind: kindLong, min: 0, max: math.MaxInt64},
	{Name: "follower.replication.throttled.replicas", Default: "", kind: kindThrottledList,
		Doc: "Replicas (partition:broker, or * for all) whose follower fetches follower.replication.throttled.rate bounds; Troupe also throttles replicas being moved onto a broker."},
	{Name: "index.interval.bytes", BrokerKey: "log.index.interval.bytes", Default: "4096", kind: kindInt, min: 0, max: math.MaxInt32},
	{Name: "leader.replication.throttled.replicas", Default: "", kind: kindThrottledList,
		Doc: "Replicas (partition:broker, or * for all) whose leader serves out-of-sync followers at most leader.replication.throttled.rate; Troupe also throttles fetches by replicas being moved."},
	{Name: "max.message.bytes", BrokerKey: "message.max.bytes", Default: "1048588", kind: kindInt, min: 0, max: math.MaxInt32},
	{Name: "message.timestamp.type", BrokerKey: "log.message.timestamp.type", Default: "CreateTime", kind: kindString, oneOf: []string{"CreateTime"}},
	{Name: "min.insync.replicas", BrokerKey: "min.insync.replicas", Default: "1", kind: kindInt, min: 1, max: math.MaxInt32},
	{Name: "retention.bytes", BrokerKey: "log.retention.bytes", Default: "-1", kind: kindLong, min: -1, max: math.MaxInt64},
	{Name: "retention.ms", BrokerKey: "log.retention.ms", Default: "604800000", kind: kindLong, min: -1, max: math.MaxInt64},
	{Name: "segment.bytes", BrokerKey: "log.segment.bytes", Default: "1073741824", kind: kindInt, min: 14, max: math.MaxInt32},
	{Name: "segment.index.bytes", BrokerKey: "log.index.size.max.bytes", Default: "10485760", kind: kindInt, min: 4, max: math.MaxInt32},
	{Name: "segment.ms", BrokerKey: "log.roll.ms", Default: "604800000", kind: kindLong, min: 1, max: math.MaxInt64},
	{Name: "unclean.leader.election.enable", BrokerKey: "unclean.leader.election.enable", Default: "false", kind: kindBool},
}

var topicKeyIndex = func() map[string]*TopicKeyInfo {
	m := make(map[string]*TopicKeyInfo, len(topicKeys))
	for i := range topicKeys {
		m[topicKeys[i].Name] = &topicKeys[i]
	}
	return m
}()

// TopicKeys returns the topic configs Troupe understands, sorted by name.
func TopicKeys() []TopicKeyInfo {
	out := append([]TopicKeyInfo(nil), topicKeys...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupTopicKey returns the description of a topic config.
func LookupTopicKey(name string) (TopicKeyInfo, bool) {
	k, ok := topicKeyIndex[name]
	if !ok {
		return TopicKeyInfo{}, false
	}
	return *k, true
}

// ValidateTopicValue checks one topic config name and value.
func ValidateTopicValue(name, value string) error {
	k, ok := topicKeyIndex[name]
	if !ok {
		return fmt.Errorf("%w: unknown or unsupported topic config %q", ErrInvalidConfig, name)
	}
	return k.validate(value)
}

// ValidateTopicConfigs checks a full set of topic overrides.
func ValidateTopicConfigs(cfg map[string]string) error {
	names := make([]string, 0, len(cfg))
	for n := range cfg {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := ValidateTopicValue(n, cfg[n]); err != nil {
			return err
		}
	}
	return nil
}

func (k *TopicKeyInfo) validate(v string) error {
	v = strings.TrimSpace(v)
	switch k.kind {
	case kindLong, kindInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: %s=%q is not a whole number", ErrInvalidConfig, k.Name, v)
		}
		if n < k.min || n > k.max {
			return fmt.Errorf("%w: %s=%d is outside [%d, %d]", ErrInvalidConfig, k.Name, n, k.min, k.max)
		}
	case kindBool:
		if _, err := strconv.ParseBool(v); err != nil || (v != "true" && v != "false") {
			return fmt.Errorf("%w: %s=%q is not true or false", ErrInvalidConfig, k.Name, v)
		}
	case kindDouble:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= 0 && f <= 1) { // NaN fails both
			return fmt.Errorf("%w: %s=%q is not a fraction in [0, 1]", ErrInvalidConfig, k.Name, v)
		}
	case kindThrottledList:
		if _, err := ParseThrottled(v); err != nil {
			return fmt.Errorf("%w: %s=%q: %v", ErrInvalidConfig, k.Name, v, err)
		}
	case kindString:
		if len(k.oneOf) > 0 {
			for _, o := range k.oneOf {
				if v == o {
					return nil
				}
			}
			return fmt.Errorf("%w: %s=%q is not supported (allowed: %s)", ErrInvalidConfig, k.Name, v, strings.Join(k.oneOf, ", "))
		}
	}
	return nil
}

// Topic is a topic's effective configuration, resolved from its overrides
// and the broker defaults.
type Topic struct {
	RetentionMs                 int64
	RetentionBytes              int64
	SegmentBytes                int64
	SegmentMs                   int64
	SegmentIndexBytes           int32
	IndexIntervalBytes          int32
	MaxMessageBytes             int32
	MinInsyncReplicas           int32
	UncleanLeaderElectionEnable bool
	FlushMessages               int64
	FlushMs                     int64
	FileDeleteDelay             time.Duration
	// LeaderThrottled and FollowerThrottled are the replicas the topic
	// names for replication throttling.
	LeaderThrottled   Throttled
	FollowerThrottled Throttled
}

// Throttled is a parsed *.replication.throttled.replicas list. It is
// comparable (Topic values are compared to see whether a config changed).
type Throttled struct {
	All bool
	// list is the canonical form: ",p:b,p:b," sorted, or "".
	list string
}

// Has reports whether the list names a partition's replica on a broker.
func (t Throttled) Has(partition, broker int32) bool {
	if t.All {
		return true
	}
	if t.list == "" {
		return false
	}
	return strings.Contains(t.list, ","+strconv.Itoa(int(partition))+":"+strconv.Itoa(int(broker))+",")
}

// ParseThrottled parses "", "*" or "partition:broker,…" (spaces allowed).
func ParseThrottled(v string) (Throttled, error) {
	v = strings.TrimSpace(v)
	if v == "*" {
		return Throttled{All: true}, nil
	}
	if v == "" {
		return Throttled{}, nil
	}
	type pb struct{ p, b int64 }
	var es []pb
	for _, e := range strings.Split(v, ",") {
		ps, bs, ok := strings.Cut(strings.TrimSpace(e), ":")
		p, perr := strconv.ParseInt(strings.TrimSpace(ps), 10, 32)
		b, berr := strconv.ParseInt(strings.TrimSpace(bs), 10, 32)
		if !ok || perr != nil || berr != nil || p < 0 || b < 0 {
			return Throttled{}, fmt.Errorf("want * or partition:broker entries, got %q", e)
		}
		es = append(es, pb{p, b})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].p < es[j].p || es[i].p == es[j].p && es[i].b < es[j].b })
	var sb strings.Builder
	sb.WriteByte(',')
	for i, e := range es {
		if i > 0 && e == es[i-1] {
			continue
		}
		fmt.Fprintf(&sb, "%d:%d,", e.p, e.b)
	}
	return Throttled{list: sb.String()}, nil
}

// IsList reports whether a topic config is a list (IncrementalAlterConfigs
// APPEND and SUBTRACT apply to it).
func (k TopicKeyInfo) IsList() bool { return k.kind == kindThrottledList }

// Source says where an effective config value came from (DescribeConfigs
// config_source).
type Source int8

// Sources, numbered as Kafka's DescribeConfigs v1+ config_source.
const (
	SourceTopic          Source = 1 // DYNAMIC_TOPIC_CONFIG
	SourceDynamicBroker  Source = 2 // DYNAMIC_BROKER_CONFIG: /config/brokers/<id>
	SourceDynamicDefault Source = 3 // DYNAMIC_DEFAULT_BROKER_CONFIG: /config/brokers/<default>
	SourceStaticBroker   Source = 4 // STATIC_BROKER_CONFIG
	SourceDefault        Source = 5 // DEFAULT_CONFIG
)

// Value is one resolved config value.
type Value struct {
	Key    TopicKeyInfo
	Value  string
	Source Source
}

// ResolveTopic resolves every topic config from the topic's overrides and
// the broker's settings. Overrides are assumed validated; a malformed one
// falls back to the default and is reported as an error.
func (b *Broker) ResolveTopic(overrides map[string]string) (Topic, error) {
	vals := b.TopicValues(overrides)
	get := func(name string) string {
		for _, v := range vals {
			if v.Key.Name == name {
				return v.Value
			}
		}
		panic("config: no topic key " + name)
	}
	var firstErr error
	num := func(name string) int64 {
		n, err := strconv.ParseInt(get(name), 10, 64)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%w: %s: %v", ErrInvalidConfig, name, err)
			}
			n, _ = strconv.ParseInt(topicKeyIndex[name].Default, 10, 64)
		}
		return n
	}
	t := Topic{
		RetentionMs:                 num("retention.ms"),
		RetentionBytes:              num("retention.bytes"),
		SegmentBytes:                num("segment.bytes"),
		SegmentMs:                   num("segment.ms"),
		SegmentIndexBytes:           int32(num("segment.index.bytes")),
		IndexIntervalBytes:          int32(num("index.interval.bytes")),
		MaxMessageBytes:             int32(num("max.message.bytes")),
		MinInsyncReplicas:           int32(num("min.insync.replicas")),
		UncleanLeaderElectionEnable: get("unclean.leader.election.enable") == "true",
		FlushMessages:               num("flush.messages"),
		FlushMs:                     num("flush.ms"),
		FileDeleteDelay:             time.Duration(num("file.delete.delay.ms")) * time.Millisecond,
	}
	for _, l := range []struct {
		name string
		to   *Throttled
	}{{"leader.replication.throttled.replicas", &t.LeaderThrottled}, {"follower.replication.throttled.replicas", &t.FollowerThrottled}} {
		th, err := ParseThrottled(get(l.name))
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("%w: %s: %v", ErrInvalidConfig, l.name, err)
		}
		*l.to = th
	}
	return t, firstErr
}

// TopicValues lists every topic config with its effective value and where
// it came from, sorted by name.
func (b *Broker) TopicValues(overrides map[string]string) []Value {
	out := make([]Value, 0, len(topicKeys))
	for _, k := range TopicKeys() {
		v := Value{Key: k, Value: k.Default, Source: SourceDefault}
		if bv, src, ok := b.topicDefault(k); ok {
			v.Value, v.Source = bv, src
		}
		if ov, ok := overrides[k.Name]; ok && k.validate(ov) == nil {
			v.Value, v.Source = strings.TrimSpace(ov), SourceTopic
		}
		out = append(out, v)
	}
	return out
}
