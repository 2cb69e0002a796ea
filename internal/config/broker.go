package config

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// brokerKey describes one broker config Troupe reads.
type brokerKey struct {
	name   string
	def    string
	kind   kind
	min    int64
	max    int64
	doc    string
	topic  bool // a default for a topic config (see topicKeys.BrokerKey)
	hidden bool // derived aliases (log.retention.hours) not listed as their own value
}

// brokerKeys are the broker settings Troupe understands, by their Kafka
// names. Unknown keys in a config file are an error: a misspelt setting
// that silently does nothing is worse than a refusal to start.
var brokerKeys = []brokerKey{
	{name: "num.partitions", def: "1", kind: kindInt, min: 1, max: math.MaxInt32, doc: "partitions of an auto-created topic or a CreateTopics without a count"},
	{name: "default.replication.factor", def: "1", kind: kindInt, min: 1, max: math.MaxInt16},
	{name: "auto.create.topics.enable", def: "true", kind: kindBool},
	{name: "delete.topic.enable", def: "true", kind: kindBool},
	{name: "socket.request.max.bytes", def: "104857600", kind: kindInt, min: 1024, max: math.MaxInt32, doc: "largest request frame accepted; larger frames close the connection"},
	{name: "queued.max.request.bytes", def: "268435456", kind: kindLong, min: 1 << 20, max: math.MaxInt64, doc: "request bytes read but not yet answered, over all connections; beyond it the broker stops reading sockets"},
	{name: "connection.max.inflight.requests", def: "64", kind: kindInt, min: 1, max: 4096, doc: "requests one connection may have read but not yet answered (Troupe-specific)"},
	{name: "replica.lag.time.max.ms", def: "30000", kind: kindLong, min: 1, max: math.MaxInt64},
	{name: "replica.fetch.max.bytes", def: "1048576", kind: kindInt, min: 1, max: math.MaxInt32},
	{name: "replica.fetch.response.max.bytes", def: "10485760", kind: kindInt, min: 1, max: math.MaxInt32},
	{name: "replica.fetch.wait.max.ms", def: "500", kind: kindInt, min: 0, max: math.MaxInt32},
	{name: "replica.fetch.min.bytes", def: "1", kind: kindInt, min: 1, max: math.MaxInt32},
	{name: "zookeeper.session.timeout.ms", def: "18000", kind: kindInt, min: 1, max: math.MaxInt32},
	{name: "zookeeper.connection.timeout.ms", def: "18000", kind: kindInt, min: 1, max: math.MaxInt32},
	{name: "controlled.shutdown.enable", def: "true", kind: kindBool},
	{name: "controlled.shutdown.max.retries", def: "3", kind: kindInt, min: 0, max: math.MaxInt32},
	{name: "controlled.shutdown.retry.backoff.ms", def: "5000", kind: kindLong, min: 0, max: math.MaxInt64},
	{name: "log.retention.check.interval.ms", def: "300000", kind: kindLong, min: 1, max: math.MaxInt64},
	{name: "log.flush.scheduler.interval.ms", def: "1000", kind: kindLong, min: 1, max: math.MaxInt64, doc: "how often flush.ms and checkpoints are looked at"},
	{name: "replica.high.watermark.checkpoint.interval.ms", def: "5000", kind: kindLong, min: 1, max: math.MaxInt64, doc: "how often changed high watermarks, recovery points and log starts are checkpointed"},
	{name: "producer.id.expiration.ms", def: "86400000", kind: kindInt, min: 1, max: math.MaxInt32},
	{name: "request.timeout.ms", def: "30000", kind: kindInt, min: 1, max: math.MaxInt32, doc: "upper bound for a request a client did not bound itself"},
	{name: "leader.imbalance.check.interval.seconds", def: "300", kind: kindLong, min: 1, max: math.MaxInt64},
	{name: "auto.leader.rebalance.enable", def: "true", kind: kindBool},
	{name: "log.retention.hours", def: "168", kind: kindInt, min: -1, max: math.MaxInt32, hidden: true},
	{name: "log.retention.minutes", def: "", kind: kindInt, min: -1, max: math.MaxInt32, hidden: true},
	{name: "log.roll.hours", def: "168", kind: kindInt, min: 1, max: math.MaxInt32, hidden: true},
}

var brokerKeyIndex = func() map[string]*brokerKey {
	m := make(map[string]*brokerKey)
	for i := range brokerKeys {
		m[brokerKeys[i].name] = &brokerKeys[i]
	}
	for i := range topicKeys {
		k := &topicKeys[i]
		if k.BrokerKey == "" {
			continue
		}
		if _, dup := m[k.BrokerKey]; dup {
			continue
		}
		m[k.BrokerKey] = &brokerKey{name: k.BrokerKey, def: k.Default, kind: k.kind, min: k.min, max: k.max, topic: true}
	}
	return m
}()

// Broker is a broker's static configuration: Kafka-named settings from a
// properties file and --override flags.
type Broker struct {
	// values are the settings given explicitly, validated.
	values map[string]string

	NumPartitions            int32
	DefaultReplicationFactor int16
	AutoCreateTopics         bool
	DeleteTopicEnable        bool
	SocketRequestMaxBytes    int32
	QueuedMaxRequestBytes    int64
	ConnMaxInflight          int
	ReplicaLagTimeMax        time.Duration
	ReplicaFetchMaxBytes     int32
	ReplicaFetchRespMaxBytes int32
	ReplicaFetchWaitMax      time.Duration
	ReplicaFetchMinBytes     int32
	ZKSessionTimeout         time.Duration
	ZKConnectionTimeout      time.Duration
	ControlledShutdown       bool
	ControlledShutdownTries  int
	ControlledShutdownWait   time.Duration
	RetentionCheckInterval   time.Duration
	FlushSchedulerInterval   time.Duration
	CheckpointInterval       time.Duration
	ProducerIDExpiration     time.Duration
	RequestTimeout           time.Duration
	LeaderImbalanceInterval  time.Duration
	AutoLeaderRebalance      bool
}

// DefaultBroker returns the configuration with every setting at its default.
func DefaultBroker() *Broker {
	b, err := NewBroker(nil)
	if err != nil {
		panic(err) // defaults are valid by construction
	}
	return b
}

// NewBroker validates settings (Kafka names → values) and resolves the
// broker configuration.
func NewBroker(settings map[string]string) (*Broker, error) {
	b := &Broker{values: make(map[string]string, len(settings))}
	names := make([]string, 0, len(settings))
	for n := range settings {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		k, ok := brokerKeyIndex[n]
		if !ok {
			return nil, fmt.Errorf("%w: unknown broker setting %q", ErrInvalidConfig, n)
		}
		v := strings.TrimSpace(settings[n])
		ti := TopicKeyInfo{Name: n, kind: k.kind, min: k.min, max: k.max}
		if tk, ok := topicKeyByBroker(n); ok {
			ti = *tk
			ti.Name = n
		}
		if err := ti.validate(v); err != nil {
			return nil, err
		}
		b.values[n] = v
	}
	var err error
	i := func(name string) int64 {
		v, ok := b.values[name]
		if !ok {
			v = brokerKeyIndex[name].def
		}
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("%w: %s: %v", ErrInvalidConfig, name, perr)
		}
		return n
	}
	bl := func(name string) bool {
		v, ok := b.values[name]
		if !ok {
			v = brokerKeyIndex[name].def
		}
		return v == "true"
	}
	ms := func(name string) time.Duration { return time.Duration(i(name)) * time.Millisecond }
	b.NumPartitions = int32(i("num.partitions"))
	b.DefaultReplicationFactor = int16(i("default.replication.factor"))
	b.AutoCreateTopics = bl("auto.create.topics.enable")
	b.DeleteTopicEnable = bl("delete.topic.enable")
	b.SocketRequestMaxBytes = int32(i("socket.request.max.bytes"))
	b.QueuedMaxRequestBytes = i("queued.max.request.bytes")
	b.ConnMaxInflight = int(i("connection.max.inflight.requests"))
	b.ReplicaLagTimeMax = ms("replica.lag.time.max.ms")
	b.ReplicaFetchMaxBytes = int32(i("replica.fetch.max.bytes"))
	b.ReplicaFetchRespMaxBytes = int32(i("replica.fetch.response.max.bytes"))
	b.ReplicaFetchWaitMax = ms("replica.fetch.wait.max.ms")
	b.ReplicaFetchMinBytes = int32(i("replica.fetch.min.bytes"))
	b.ZKSessionTimeout = ms("zookeeper.session.timeout.ms")
	b.ZKConnectionTimeout = ms("zookeeper.connection.timeout.ms")
	b.ControlledShutdown = bl("controlled.shutdown.enable")
	b.ControlledShutdownTries = int(i("controlled.shutdown.max.retries"))
	b.ControlledShutdownWait = ms("controlled.shutdown.retry.backoff.ms")
	b.RetentionCheckInterval = ms("log.retention.check.interval.ms")
	b.FlushSchedulerInterval = ms("log.flush.scheduler.interval.ms")
	b.CheckpointInterval = ms("replica.high.watermark.checkpoint.interval.ms")
	b.ProducerIDExpiration = ms("producer.id.expiration.ms")
	b.RequestTimeout = ms("request.timeout.ms")
	b.LeaderImbalanceInterval = time.Duration(i("leader.imbalance.check.interval.seconds")) * time.Second
	b.AutoLeaderRebalance = bl("auto.leader.rebalance.enable")
	if err != nil {
		return nil, err
	}
	return b, nil
}

func topicKeyByBroker(brokerName string) (*TopicKeyInfo, bool) {
	for i := range topicKeys {
		if topicKeys[i].BrokerKey == brokerName {
			return &topicKeys[i], true
		}
	}
	return nil, false
}

// topicDefault returns the broker-level default for a topic config, if the
// broker settings give one (with Kafka's hours/minutes/ms precedence for
// retention and roll time).
func (b *Broker) topicDefault(k TopicKeyInfo) (string, bool) {
	if k.BrokerKey == "" {
		return "", false
	}
	if v, ok := b.values[k.BrokerKey]; ok {
		return v, true
	}
	switch k.Name {
	case "retention.ms":
		if v, ok := b.values["log.retention.minutes"]; ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			if n < 0 {
				return "-1", true
			}
			return strconv.FormatInt(n*60_000, 10), true
		}
		if v, ok := b.values["log.retention.hours"]; ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			if n < 0 {
				return "-1", true
			}
			return strconv.FormatInt(n*3_600_000, 10), true
		}
	case "segment.ms":
		if v, ok := b.values["log.roll.hours"]; ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return strconv.FormatInt(n*3_600_000, 10), true
		}
	}
	return "", false
}

// Settings returns the explicit settings, for DescribeConfigs on a broker.
func (b *Broker) Settings() map[string]string {
	out := make(map[string]string, len(b.values))
	for k, v := range b.values {
		out[k] = v
	}
	return out
}

// BrokerValue is one broker setting with its value and source.
type BrokerValue struct {
	Name   string
	Value  string
	Source Source
	Type   string
}

// Values lists every broker setting (explicit or default), sorted by name.
func (b *Broker) Values() []BrokerValue {
	out := make([]BrokerValue, 0, len(brokerKeyIndex))
	for name, k := range brokerKeyIndex {
		if k.hidden && b.values[name] == "" {
			continue
		}
		v := BrokerValue{Name: name, Value: k.def, Source: SourceDefault, Type: TopicKeyInfo{kind: k.kind}.Type()}
		if ev, ok := b.values[name]; ok {
			v.Value, v.Source = ev, SourceStaticBroker
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ParseProperties reads a Java-style properties file: key=value (or
// key: value) lines, # and ! comments, blank lines. Line continuations and
// escapes are not supported; such a line is an error.
func ParseProperties(r io.Reader) (map[string]string, error) {
	out := make(map[string]string)
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' || s[0] == '!' {
			continue
		}
		if strings.HasSuffix(s, `\`) {
			return nil, fmt.Errorf("%w: line %d: line continuations are not supported", ErrInvalidConfig, line)
		}
		i := strings.IndexAny(s, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("%w: line %d: want key=value, got %q", ErrInvalidConfig, line, s)
		}
		out[strings.TrimSpace(s[:i])] = strings.TrimSpace(s[i+1:])
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config: reading properties: %w", err)
	}
	return out, nil
}

// LoadBroker reads an optional properties file, applies overrides
// ("key=value" strings, later ones win) and resolves the configuration.
func LoadBroker(path string, overrides []string) (*Broker, error) {
	settings := map[string]string{}
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		defer f.Close()
		settings, err = ParseProperties(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	for _, o := range overrides {
		k, v, ok := strings.Cut(o, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%w: override %q: want key=value", ErrInvalidConfig, o)
		}
		settings[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return NewBroker(settings)
}
