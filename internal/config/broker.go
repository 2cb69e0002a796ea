package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
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
	// dynamic settings may also be set in ZooKeeper, for one broker
	// (/config/brokers/<id>) or as the cluster-wide default
	// (/config/brokers/<default>), and take effect without a restart —
	// Kafka's per-broker and cluster-wide update modes. The others are
	// read-only: set in the config file, read at start.
	dynamic bool
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
	{name: "log.retention.hours", def: "168", kind: kindInt, min: -1, max: math.MaxInt32, hidden: true, dynamic: true},
	{name: "log.retention.minutes", def: "", kind: kindInt, min: -1, max: math.MaxInt32, hidden: true, dynamic: true},
	{name: "log.roll.hours", def: "168", kind: kindInt, min: 1, max: math.MaxInt32, hidden: true, dynamic: true},
	{name: "leader.replication.throttled.rate", def: strconv.FormatInt(math.MaxInt64, 10), kind: kindLong, min: 0, max: math.MaxInt64, dynamic: true,
		doc: "bytes/s this broker sends, as leader, to replicas being moved onto other brokers (and those named by leader.replication.throttled.replicas) while they are out of sync"},
	{name: "follower.replication.throttled.rate", def: strconv.FormatInt(math.MaxInt64, 10), kind: kindLong, min: 0, max: math.MaxInt64, dynamic: true,
		doc: "bytes/s this broker fetches, as follower, for its replicas being moved onto it (and those named by follower.replication.throttled.replicas) while they are behind"},
	{name: "auto.rebalance.enable", def: "true", kind: kindBool, dynamic: true,
		doc: "the controller moves replicas and leaders by itself: onto a broker that joined, off a broker gone longer than broker.removal.grace.ms or decommissioned, and wherever the planner's balance goals do not hold (Troupe-specific)"},
	{name: "broker.removal.grace.ms", def: "300000", kind: kindLong, min: 0, max: math.MaxInt64, dynamic: true,
		doc: "how long a broker may be gone before its replicas are re-created on the others (troupe serve --broker-removal-grace)"},
	{name: "auto.rebalance.settle.ms", def: "10000", kind: kindLong, min: 0, max: math.MaxInt64, dynamic: true,
		doc: "how long a broker must be registered before replicas move onto it, and how long the cluster must be quiet before the planner runs again"},
	{name: "auto.rebalance.check.interval.ms", def: "300000", kind: kindLong, min: 1, max: math.MaxInt64, dynamic: true,
		doc: "how often the balancer plans an unchanged cluster again (for sizes and produce rates that drifted); a change of brokers or partitions is planned at once"},
	{name: "disk.usage.rebalance.threshold", def: "0.8", kind: kindDouble, dynamic: true,
		doc: "a broker whose data disk is fuller than this fraction sheds replicas first"},
	{name: "broker.decommissioned", def: "false", kind: kindBool, dynamic: true,
		doc: "set on a broker (troupe cluster decommission): the controller moves every replica off it and places none there (Troupe-specific)"},
	{name: "leader.imbalance.per.broker.percentage", def: "10", kind: kindInt, min: 0, max: 100,
		doc: "preferred-leader elections run for a broker once more than this share of the partitions it prefers are led elsewhere"},
	{name: "num.concurrent.partition.movements.per.broker", def: "5", kind: kindInt, min: 1, max: math.MaxInt32, dynamic: true,
		doc: "partition moves copying data that may involve one broker (as a replica added or removed) at a time; further requested moves wait (Cruise Control's setting)"},
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
		// Kafka's topic defaults (log.retention.ms, …) are cluster-wide
		// dynamic configs.
		m[k.BrokerKey] = &brokerKey{name: k.BrokerKey, def: k.Default, kind: k.kind, min: k.min, max: k.max, topic: true, dynamic: true}
	}
	return m
}()

// Broker is a broker's configuration: Kafka-named settings from a
// properties file and --override flags (static), and for the settings
// Kafka marks dynamic, the values stored in ZooKeeper for this broker and
// for the cluster (WithDynamic). A Broker is immutable: a change makes a
// new one.
type Broker struct {
	// values are the static settings given explicitly, validated.
	values map[string]string
	// dynDefault and dynBroker are the validated dynamic settings: the
	// cluster-wide default and this broker's own. Precedence: dynBroker,
	// dynDefault, values, built-in default.
	dynDefault, dynBroker map[string]string

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
	// LeaderThrottleRate and FollowerThrottleRate bound replication of
	// throttled replicas in bytes/s (math.MaxInt64: unthrottled).
	LeaderThrottleRate   int64
	FollowerThrottleRate int64
	// MaxMovesPerBroker bounds the data-copying moves in flight per broker.
	MaxMovesPerBroker int
	// Automatic balancing (controller).
	AutoRebalance          bool
	BrokerRemovalGrace     time.Duration
	RebalanceSettle        time.Duration
	RebalanceInterval      time.Duration
	DiskRebalanceThreshold float64
	Decommissioned         bool
	LeaderImbalancePercent int
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
	values := make(map[string]string, len(settings))
	for _, n := range sortedNames(settings) {
		v := strings.TrimSpace(settings[n])
		if err := validateBrokerValue(n, v); err != nil {
			return nil, err
		}
		values[n] = v
	}
	return resolveBroker(values, nil, nil)
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func validateBrokerValue(name, v string) error {
	k, ok := brokerKeyIndex[name]
	if !ok {
		return fmt.Errorf("%w: unknown broker setting %q", ErrInvalidConfig, name)
	}
	ti := TopicKeyInfo{Name: name, kind: k.kind, min: k.min, max: k.max}
	if tk, ok := topicKeyByBroker(name); ok {
		ti = *tk
		ti.Name = name
	}
	return ti.validate(v)
}

// ErrReadOnly marks a broker setting that cannot be changed while the
// broker runs (Kafka: "Cannot update these configs dynamically").
var ErrReadOnly = fmt.Errorf("%w: read-only broker setting (set it in the config file)", ErrInvalidConfig)

// ValidateDynamic checks a setting for the dynamic broker configs in
// ZooKeeper: a known setting that Kafka marks dynamic, with a valid value.
func ValidateDynamic(name, value string) error {
	k, ok := brokerKeyIndex[name]
	if !ok {
		return fmt.Errorf("%w: unknown broker setting %q", ErrInvalidConfig, name)
	}
	if !k.dynamic {
		return fmt.Errorf("%w: %s", ErrReadOnly, name)
	}
	return validateBrokerValue(name, strings.TrimSpace(value))
}

// WithDynamic returns the configuration with the dynamic settings stored
// in ZooKeeper applied: clusterDefault (/config/brokers/<default>) and
// perBroker (/config/brokers/<id>), the latter winning. Entries that are
// unknown, read-only or invalid (written around the API) are left out and
// reported in the error; the configuration is usable either way.
func (b *Broker) WithDynamic(clusterDefault, perBroker map[string]string) (*Broker, error) {
	var bad []error
	clean := func(m map[string]string) map[string]string {
		out := make(map[string]string, len(m))
		for _, n := range sortedNames(m) {
			v := strings.TrimSpace(m[n])
			if err := ValidateDynamic(n, v); err != nil {
				bad = append(bad, err)
				continue
			}
			out[n] = v
		}
		return out
	}
	nb, err := resolveBroker(b.values, clean(clusterDefault), clean(perBroker))
	if err != nil {
		return b, err // cannot happen: every layer is validated
	}
	return nb, errors.Join(bad...)
}

// lookup is a setting's effective explicit value and its source (ok false:
// the built-in default applies).
func (b *Broker) lookup(name string) (string, Source, bool) {
	if v, ok := b.dynBroker[name]; ok {
		return v, SourceDynamicBroker, true
	}
	if v, ok := b.dynDefault[name]; ok {
		return v, SourceDynamicDefault, true
	}
	if v, ok := b.values[name]; ok {
		return v, SourceStaticBroker, true
	}
	return "", SourceDefault, false
}

func resolveBroker(values, dynDefault, dynBroker map[string]string) (*Broker, error) {
	b := &Broker{values: values, dynDefault: dynDefault, dynBroker: dynBroker}
	var err error
	i := func(name string) int64 {
		v, _, ok := b.lookup(name)
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
		v, _, ok := b.lookup(name)
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
	b.LeaderThrottleRate = i("leader.replication.throttled.rate")
	b.FollowerThrottleRate = i("follower.replication.throttled.rate")
	b.MaxMovesPerBroker = int(i("num.concurrent.partition.movements.per.broker"))
	b.AutoRebalance = bl("auto.rebalance.enable")
	b.BrokerRemovalGrace = ms("broker.removal.grace.ms")
	b.RebalanceSettle = ms("auto.rebalance.settle.ms")
	b.RebalanceInterval = ms("auto.rebalance.check.interval.ms")
	b.Decommissioned = bl("broker.decommissioned")
	b.LeaderImbalancePercent = int(i("leader.imbalance.per.broker.percentage"))
	b.DiskRebalanceThreshold = 0.8
	if v, _, ok := b.lookup("disk.usage.rebalance.threshold"); ok {
		b.DiskRebalanceThreshold, _ = strconv.ParseFloat(v, 64) // validated
	}
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
func (b *Broker) topicDefault(k TopicKeyInfo) (string, Source, bool) {
	if k.BrokerKey == "" {
		return "", SourceDefault, false
	}
	if v, src, ok := b.lookup(k.BrokerKey); ok {
		return v, src, true
	}
	scaled := func(name string, unit int64) (string, Source, bool) {
		v, src, ok := b.lookup(name)
		if !ok {
			return "", src, false
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		if n < 0 {
			return "-1", src, true
		}
		return strconv.FormatInt(n*unit, 10), src, true
	}
	switch k.Name {
	case "retention.ms":
		if v, src, ok := scaled("log.retention.minutes", 60_000); ok {
			return v, src, true
		}
		return scaled("log.retention.hours", 3_600_000)
	case "segment.ms":
		return scaled("log.roll.hours", 3_600_000)
	}
	return "", SourceDefault, false
}

// Synonym is one level a broker setting is given at.
type Synonym struct {
	Name   string
	Value  string
	Source Source
}

// Synonyms lists the levels a broker setting is set at, highest precedence
// first (dynamic for this broker, dynamic default, static), then its
// built-in default: DescribeConfigs' synonyms.
func (b *Broker) Synonyms(name string) []Synonym {
	var out []Synonym
	for _, l := range []struct {
		m   map[string]string
		src Source
	}{{b.dynBroker, SourceDynamicBroker}, {b.dynDefault, SourceDynamicDefault}, {b.values, SourceStaticBroker}} {
		if v, ok := l.m[name]; ok {
			out = append(out, Synonym{Name: name, Value: v, Source: l.src})
		}
	}
	if k, ok := brokerKeyIndex[name]; ok && k.def != "" {
		out = append(out, Synonym{Name: name, Value: k.def, Source: SourceDefault})
	}
	return out
}

// DynamicSettings returns the dynamic settings applied: the cluster-wide
// default and this broker's own.
func (b *Broker) DynamicSettings() (clusterDefault, perBroker map[string]string) {
	return maps.Clone(b.dynDefault), maps.Clone(b.dynBroker)
}

// BrokerValue is one broker setting with its value and source.
type BrokerValue struct {
	Name   string
	Value  string
	Source Source
	Type   string
	// Dynamic: the setting may be changed at run time (not read-only).
	Dynamic bool
	Doc     string
}

// Values lists every broker setting (explicit or default), sorted by name.
func (b *Broker) Values() []BrokerValue {
	out := make([]BrokerValue, 0, len(brokerKeyIndex))
	for name, k := range brokerKeyIndex {
		if _, _, set := b.lookup(name); k.hidden && !set {
			continue
		}
		v := BrokerValue{Name: name, Value: k.def, Source: SourceDefault, Type: TopicKeyInfo{kind: k.kind}.Type(), Dynamic: k.dynamic, Doc: k.doc}
		if ev, src, ok := b.lookup(name); ok {
			v.Value, v.Source = ev, src
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
