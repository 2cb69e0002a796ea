package cluster

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// TopicID is Kafka's topic id (KIP-516): 16 random bytes, written as
// URL-safe base64 without padding (22 characters), as Kafka's Uuid does.
type TopicID [16]byte

// String returns the Kafka text form.
func (id TopicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// IsZero reports whether id is Kafka's Uuid.ZERO_UUID (no id).
func (id TopicID) IsZero() bool { return id == TopicID{} }

// ParseTopicID parses the Kafka text form.
func ParseTopicID(s string) (TopicID, error) {
	var id TopicID
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("%w: topic id %q", ErrCorruptZNode, s)
	}
	copy(id[:], b)
	return id, nil
}

// NewTopicID returns a random version-4 UUID, skipping the ids Kafka
// reserves (all zero, and 0…01 for the metadata topic) and ids whose text
// starts with '-' (Kafka avoids them so they never look like a CLI flag).
func NewTopicID() (TopicID, error) {
	for {
		var id TopicID
		if _, err := rand.Read(id[:]); err != nil {
			return id, fmt.Errorf("cluster: topic id: %w", err)
		}
		id[6] = id[6]&0x0f | 0x40 // version 4
		id[8] = id[8]&0x3f | 0x80 // IETF variant
		if !strings.HasPrefix(id.String(), "-") {
			return id, nil
		}
	}
}

// TopicInfo is the content of /brokers/topics/<topic>.
type TopicInfo struct {
	Name string
	// ID is zero for a topic written without topic_id (Kafka before 2.8).
	ID TopicID
	// Partitions maps partition → replicas; the first replica is preferred
	// leader.
	Partitions map[int32][]int32
	// AddingReplicas and RemovingReplicas describe a reassignment in
	// progress (KIP-455); empty otherwise.
	AddingReplicas   map[int32][]int32
	RemovingReplicas map[int32][]int32
	// ZkVersion is the znode's version, for conditional rewrites.
	ZkVersion int32
}

// NumPartitions is the number of partitions.
func (t TopicInfo) NumPartitions() int { return len(t.Partitions) }

type topicJSON struct {
	Version          int                `json:"version"`
	TopicID          string             `json:"topic_id,omitempty"`
	Partitions       map[string][]int32 `json:"partitions"`
	AddingReplicas   map[string][]int32 `json:"adding_replicas"`
	RemovingReplicas map[string][]int32 `json:"removing_replicas"`
}

func encodeTopic(t TopicInfo) []byte {
	conv := func(m map[int32][]int32) map[string][]int32 {
		out := make(map[string][]int32, len(m))
		for p, r := range m {
			if r == nil {
				r = []int32{}
			}
			out[strconv.Itoa(int(p))] = r
		}
		return out
	}
	j := topicJSON{
		Version:          3,
		Partitions:       conv(t.Partitions),
		AddingReplicas:   conv(t.AddingReplicas),
		RemovingReplicas: conv(t.RemovingReplicas),
	}
	if !t.ID.IsZero() {
		j.TopicID = t.ID.String()
	}
	return mustJSON(j)
}

func decodeTopic(name string, data []byte, st Stat) (TopicInfo, error) {
	path := TopicPath(name)
	var j topicJSON
	if err := decodeJSON(path, data, &j); err != nil {
		return TopicInfo{}, err
	}
	conv := func(m map[string][]int32) (map[int32][]int32, error) {
		out := make(map[int32][]int32, len(m))
		for k, r := range m {
			p, err := strconv.ParseInt(k, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: partition %q", ErrCorruptZNode, path, k)
			}
			out[int32(p)] = r
		}
		return out, nil
	}
	t := TopicInfo{Name: name, ZkVersion: st.Version}
	var err error
	if t.Partitions, err = conv(j.Partitions); err != nil {
		return TopicInfo{}, err
	}
	if t.AddingReplicas, err = conv(j.AddingReplicas); err != nil {
		return TopicInfo{}, err
	}
	if t.RemovingReplicas, err = conv(j.RemovingReplicas); err != nil {
		return TopicInfo{}, err
	}
	if j.TopicID != "" {
		// Kafka 2.8 wrote the id as a java.util.UUID string; later as base64.
		if t.ID, err = ParseTopicID(j.TopicID); err != nil {
			if t.ID, err = parseDashedUUID(j.TopicID); err != nil {
				return TopicInfo{}, fmt.Errorf("%w: %s: topic_id %q", ErrCorruptZNode, path, j.TopicID)
			}
		}
	}
	return t, nil
}

func parseDashedUUID(s string) (TopicID, error) {
	var id TopicID
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 {
		return id, ErrCorruptZNode
	}
	for i := 0; i < 16; i++ {
		v, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			return id, ErrCorruptZNode
		}
		id[i] = byte(v)
	}
	return id, nil
}

// ValidateTopicName applies Kafka's rules: 1–249 characters of
// [a-zA-Z0-9._-], not "." or "..".
func ValidateTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 249 {
		return fmt.Errorf("%w: %q", ErrInvalidTopic, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q contains %q", ErrInvalidTopic, name, c)
		}
	}
	return nil
}

// validateAssignment checks that partitions are first..first+n-1, each with
// a non-empty list of distinct replicas, all of the same length.
func validateAssignment(a map[int32][]int32, first int32) error {
	if len(a) == 0 {
		return fmt.Errorf("%w: no partitions", ErrInvalidPartitions)
	}
	rf := -1
	for i := int32(0); i < int32(len(a)); i++ {
		r, ok := a[first+i]
		if !ok {
			return fmt.Errorf("%w: partitions must be numbered %d..%d", ErrInvalidReplicaAssignment, first, first+int32(len(a))-1)
		}
		if len(r) == 0 {
			return fmt.Errorf("%w: partition %d has no replicas", ErrInvalidReplicaAssignment, first+i)
		}
		if rf >= 0 && len(r) != rf {
			return fmt.Errorf("%w: partition %d has %d replicas, others %d", ErrInvalidReplicaAssignment, first+i, len(r), rf)
		}
		rf = len(r)
		seen := map[int32]bool{}
		for _, b := range r {
			if seen[b] || b < 0 {
				return fmt.Errorf("%w: partition %d replicas %v", ErrInvalidReplicaAssignment, first+i, r)
			}
			seen[b] = true
		}
	}
	return nil
}

// CreateTopic writes a new topic's config and assignment in one Multi, the
// way Kafka's AdminZkClient does in two steps: /config/topics/<t> (created,
// or overwritten if a deleted topic left it) and /brokers/topics/<t>. The
// controller learns of the topic from its watch on /brokers/topics.
// ErrTopicExists if the topic exists (including while marked for deletion).
func (s *Store) CreateTopic(name string, assignment map[int32][]int32, configs map[string]string) (TopicID, error) {
	if err := ValidateTopicName(name); err != nil {
		return TopicID{}, err
	}
	if err := validateAssignment(assignment, 0); err != nil {
		return TopicID{}, err
	}
	id, err := s.newID()
	if err != nil {
		return TopicID{}, err
	}
	topicData := encodeTopic(TopicInfo{Name: name, ID: id, Partitions: assignment})
	cfgData := encodeTopicConfig(configs)
	for attempt := 0; ; attempt++ {
		ok, st, err := s.conn.Exists(TopicConfigPath(name))
		if err != nil {
			return TopicID{}, fmt.Errorf("cluster: create topic %s: %w", name, err)
		}
		var cfgOp Op = CreateOp{Path: TopicConfigPath(name), Data: cfgData, Mode: ModePersistent}
		if ok {
			cfgOp = SetOp{Path: TopicConfigPath(name), Data: cfgData, Version: st.Version}
		}
		_, err = s.conn.Multi(cfgOp, CreateOp{Path: TopicPath(name), Data: topicData, Mode: ModePersistent})
		if err == nil {
			return id, nil
		}
		var me *MultiError
		if errors.As(err, &me) && me.Index == 1 && errors.Is(err, ErrNodeExists) {
			return TopicID{}, fmt.Errorf("%w: %s", ErrTopicExists, name)
		}
		// A config node that appeared, vanished or changed between the
		// Exists and the Multi: look again.
		if errors.As(err, &me) && me.Index == 0 && attempt < 5 {
			continue
		}
		return TopicID{}, fmt.Errorf("cluster: create topic %s: %w", name, err)
	}
}

// Topic reads /brokers/topics/<name>; ErrUnknownTopic if absent.
func (s *Store) Topic(name string) (TopicInfo, error) {
	data, st, err := s.conn.Get(TopicPath(name))
	if errors.Is(err, ErrNoNode) {
		return TopicInfo{}, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	if err != nil {
		return TopicInfo{}, err
	}
	return decodeTopic(name, data, st)
}

// TopicW is Topic plus a watch on the topic's assignment (data change or
// deletion).
func (s *Store) TopicW(name string) (TopicInfo, <-chan WatchEvent, error) {
	data, st, ch, err := s.conn.GetW(TopicPath(name))
	if errors.Is(err, ErrNoNode) {
		return TopicInfo{}, nil, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	if err != nil {
		return TopicInfo{}, nil, err
	}
	t, err := decodeTopic(name, data, st)
	return t, ch, err
}

// TopicNames lists /brokers/topics, sorted.
func (s *Store) TopicNames() ([]string, error) {
	names, _, err := s.conn.Children(TopicsPath)
	return names, err
}

// TopicNamesW is TopicNames plus a watch on topic creation and deletion.
func (s *Store) TopicNamesW() ([]string, <-chan WatchEvent, error) {
	names, _, ch, err := s.conn.ChildrenW(TopicsPath)
	return names, ch, err
}

// AddPartitions extends a topic with partitions numbered from its current
// count, by a conditional rewrite of its assignment (retried if another
// writer got there first). The controller creates their states when its
// watch on the topic fires.
func (s *Store) AddPartitions(name string, additions map[int32][]int32) error {
	for attempt := 0; ; attempt++ {
		t, err := s.Topic(name)
		if err != nil {
			return err
		}
		if err := validateAssignment(additions, int32(len(t.Partitions))); err != nil {
			return err
		}
		var rf int
		for _, r := range t.Partitions {
			rf = len(r)
			break
		}
		for p, r := range additions {
			if len(r) != rf {
				return fmt.Errorf("%w: partition %d has %d replicas, topic has %d", ErrInvalidReplicaAssignment, p, len(r), rf)
			}
			t.Partitions[p] = r
		}
		_, err = s.conn.Set(TopicPath(name), encodeTopic(t), t.ZkVersion)
		if errors.Is(err, ErrBadVersion) && attempt < 10 {
			continue
		}
		if errors.Is(err, ErrNoNode) {
			return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
		}
		return err
	}
}

// UpdateTopicAssignment rewrites a topic's assignment (reassignment), fenced
// by the controller epoch and conditional on t.ZkVersion. It returns the new
// ZkVersion.
func (s *Store) UpdateTopicAssignment(controllerEpochZkVersion int32, t TopicInfo) (int32, error) {
	res, err := s.conn.Multi(
		CheckOp{Path: ControllerEpochPath, Version: controllerEpochZkVersion},
		SetOp{Path: TopicPath(t.Name), Data: encodeTopic(t), Version: t.ZkVersion},
	)
	if fencedOp(err) {
		return 0, controllerMoved("update assignment of "+t.Name, err)
	}
	if err != nil {
		return 0, fmt.Errorf("cluster: update assignment of %s: %w", t.Name, err)
	}
	return res[1].Stat.Version, nil
}

// --- topic configs --------------------------------------------------------

type configJSON struct {
	Version int               `json:"version"`
	Config  map[string]string `json:"config"`
}

func encodeTopicConfig(c map[string]string) []byte {
	if c == nil {
		c = map[string]string{}
	}
	return mustJSON(configJSON{Version: 1, Config: c})
}

// TopicConfig returns the topic's overrides (empty if none were set).
func (s *Store) TopicConfig(name string) (map[string]string, error) {
	return s.entityConfig(TopicConfigPath(name))
}

// BrokerConfig returns the dynamic broker configs of an entity: a broker
// id ("1") or DefaultBrokerEntity (empty if none were set).
func (s *Store) BrokerConfig(entity string) (map[string]string, error) {
	if err := validBrokerEntity(entity); err != nil {
		return nil, err
	}
	return s.entityConfig(BrokerConfigPath(entity))
}

// BrokerConfigs returns the dynamic configs of every broker entity that has
// any (broker ids and DefaultBrokerEntity).
func (s *Store) BrokerConfigs() (map[string]map[string]string, error) {
	names, _, err := s.conn.Children(ConfigBrokersPath)
	if errors.Is(err, ErrNoNode) {
		return map[string]map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[string]string, len(names))
	for _, n := range names {
		if validBrokerEntity(n) != nil {
			continue
		}
		cfg, err := s.BrokerConfig(n)
		if err != nil {
			return nil, err
		}
		out[n] = cfg
	}
	return out, nil
}

func validBrokerEntity(entity string) error {
	if entity == DefaultBrokerEntity {
		return nil
	}
	if n, err := strconv.ParseInt(entity, 10, 32); err != nil || n < 0 || strconv.FormatInt(n, 10) != entity {
		return fmt.Errorf("%w: broker config entity %q (want a broker id or %s)", ErrInvalidEntity, entity, DefaultBrokerEntity)
	}
	return nil
}

func (s *Store) entityConfig(path string) (map[string]string, error) {
	data, _, err := s.conn.Get(path)
	if errors.Is(err, ErrNoNode) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	var j configJSON
	if err := decodeJSON(path, data, &j); err != nil {
		return nil, err
	}
	if j.Config == nil {
		j.Config = map[string]string{}
	}
	return j.Config, nil
}

// SetTopicConfig replaces the topic's overrides and, in the same Multi,
// appends a change notification /config/changes/config_change_<seq>
// {"version":2,"entity_path":"topics/<t>"} that brokers watch.
func (s *Store) SetTopicConfig(name string, configs map[string]string) error {
	if err := ValidateTopicName(name); err != nil {
		return err
	}
	return s.setEntityConfig(TopicConfigPath(name), "topics/"+name, configs)
}

// SetBrokerConfig replaces an entity's dynamic broker configs (a broker id
// or DefaultBrokerEntity), with a change notification naming
// "brokers/<entity>", as Kafka's ZooKeeper mode stores them.
func (s *Store) SetBrokerConfig(entity string, configs map[string]string) error {
	if err := validBrokerEntity(entity); err != nil {
		return err
	}
	return s.setEntityConfig(BrokerConfigPath(entity), "brokers/"+entity, configs)
}

func (s *Store) setEntityConfig(path, entityPath string, configs map[string]string) error {
	notif := mustJSON(configChangeJSON{Version: 2, EntityPath: entityPath})
	for attempt := 0; ; attempt++ {
		ok, st, err := s.conn.Exists(path)
		if err != nil {
			return err
		}
		var cfgOp Op = CreateOp{Path: path, Data: encodeTopicConfig(configs), Mode: ModePersistent}
		if ok {
			cfgOp = SetOp{Path: path, Data: encodeTopicConfig(configs), Version: st.Version}
		}
		_, err = s.conn.Multi(cfgOp,
			CreateOp{Path: ConfigChangesPath + "/" + ConfigChangePrefix, Data: notif, Mode: ModePersistentSequential})
		var me *MultiError
		if errors.As(err, &me) && me.Index == 0 && attempt < 5 {
			continue
		}
		return err
	}
}

type configChangeJSON struct {
	Version    int    `json:"version"`
	EntityPath string `json:"entity_path"`
}

// ConfigChangesW lists the config change notifications (names like
// config_change_0000000007, sorted) and watches for new ones.
func (s *Store) ConfigChangesW() ([]string, <-chan WatchEvent, error) {
	names, _, ch, err := s.conn.ChildrenW(ConfigChangesPath)
	return names, ch, err
}

// ConfigChange reads one notification's entity path, e.g. "topics/foo".
func (s *Store) ConfigChange(name string) (string, error) {
	p := ConfigChangesPath + "/" + name
	data, _, err := s.conn.Get(p)
	if err != nil {
		return "", err
	}
	var j configChangeJSON
	if err := decodeJSON(p, data, &j); err != nil {
		return "", err
	}
	return j.EntityPath, nil
}

// ConfigChanges are the current configs of the entities that change
// notifications named.
type ConfigChanges struct {
	Topics  map[string]map[string]string // topic → overrides
	Brokers map[string]map[string]string // broker id or DefaultBrokerEntity → dynamic configs
}

// ConfigChangesSince reads the change notifications after last (a
// notification name; "" for all) and returns the current configs of each
// topic (and, with brokers, each broker entity) they name, the newest
// notification seen, and a watch for the next one. Every broker follows
// configs through it.
func (s *Store) ConfigChangesSince(last string, brokers bool) (ConfigChanges, string, <-chan WatchEvent, error) {
	out := ConfigChanges{Topics: map[string]map[string]string{}, Brokers: map[string]map[string]string{}}
	names, ch, err := s.ConfigChangesW()
	if err != nil {
		return out, last, nil, err
	}
	for _, n := range names {
		if n <= last {
			continue
		}
		last = n
		entity, err := s.ConfigChange(n)
		if errors.Is(err, ErrNoNode) {
			continue // pruned meanwhile
		}
		if err != nil {
			return out, last, nil, err
		}
		if topic, ok := strings.CutPrefix(entity, "topics/"); ok {
			cfg, err := s.TopicConfig(topic)
			if err != nil {
				return out, last, nil, err
			}
			out.Topics[topic] = cfg
		} else if b, ok := strings.CutPrefix(entity, "brokers/"); ok && brokers && validBrokerEntity(b) == nil {
			cfg, err := s.BrokerConfig(b)
			if err != nil {
				return out, last, nil, err
			}
			out.Brokers[b] = cfg
		}
	}
	return out, last, ch, nil
}

// PruneConfigChanges removes the change notifications up to upTo (by name)
// that are older than maxAge by their creation time, as Kafka's listeners
// purge processed notifications after 15 minutes, so /config/changes does
// not grow for ever. A notification removed meanwhile is not an error.
func (s *Store) PruneConfigChanges(upTo string, maxAge time.Duration) error {
	names, _, err := s.conn.Children(ConfigChangesPath)
	if err != nil {
		return err
	}
	cutoff := s.now().Add(-maxAge).UnixMilli()
	for _, n := range names {
		if n > upTo {
			break
		}
		p := ConfigChangesPath + "/" + n
		ok, st, err := s.conn.Exists(p)
		if err != nil {
			return err
		}
		if !ok || st.Ctime > cutoff {
			continue
		}
		if err := s.conn.Delete(p, st.Version); err != nil && !errors.Is(err, ErrNoNode) && !errors.Is(err, ErrBadVersion) {
			return err
		}
	}
	return nil
}

// --- deletion -------------------------------------------------------------

// MarkTopicForDeletion creates /admin/delete_topics/<t>, which the
// controller watches. Marking twice is not an error (Kafka's DeleteTopics
// treats it as success). ErrUnknownTopic if the topic does not exist.
func (s *Store) MarkTopicForDeletion(name string) error {
	ok, _, err := s.conn.Exists(TopicPath(name))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	_, err = s.conn.Create(DeleteTopicPath(name), nil, ModePersistent)
	if err != nil && !errors.Is(err, ErrNodeExists) {
		return err
	}
	return nil
}

// TopicsMarkedForDeletion lists /admin/delete_topics, sorted.
func (s *Store) TopicsMarkedForDeletion() ([]string, error) {
	names, _, err := s.conn.Children(DeleteTopicsPath)
	return names, err
}

// TopicsMarkedForDeletionW is TopicsMarkedForDeletion plus a watch.
func (s *Store) TopicsMarkedForDeletionW() ([]string, <-chan WatchEvent, error) {
	names, _, ch, err := s.conn.ChildrenW(DeleteTopicsPath)
	return names, ch, err
}

// DeleteTopicZNodes finishes a deletion for the controller: in one Multi
// fenced by the controller epoch it removes the partition states, the
// partition nodes, /brokers/topics/<t>, /config/topics/<t> and the
// /admin/delete_topics/<t> marker — whichever of them exist.
func (s *Store) DeleteTopicZNodes(controllerEpochZkVersion int32, name string) error {
	if err := ValidateTopicName(name); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		ops := []Op{CheckOp{Path: ControllerEpochPath, Version: controllerEpochZkVersion}}
		parts, _, err := s.conn.Children(TopicPartitionsPath(name))
		switch {
		case err == nil:
			sort.Strings(parts)
			for _, p := range parts {
				pp := TopicPartitionsPath(name) + "/" + p
				kids, _, err := s.conn.Children(pp)
				if err != nil && !errors.Is(err, ErrNoNode) {
					return err
				}
				for _, k := range kids {
					ops = append(ops, DeleteOp{Path: pp + "/" + k, Version: AnyVersion})
				}
				ops = append(ops, DeleteOp{Path: pp, Version: AnyVersion})
			}
			ops = append(ops, DeleteOp{Path: TopicPartitionsPath(name), Version: AnyVersion})
		case !errors.Is(err, ErrNoNode):
			return err
		}
		for _, p := range []string{TopicPath(name), TopicConfigPath(name), DeleteTopicPath(name)} {
			ok, _, err := s.conn.Exists(p)
			if err != nil {
				return err
			}
			if ok {
				ops = append(ops, DeleteOp{Path: p, Version: AnyVersion})
			}
		}
		_, err = s.conn.Multi(ops...)
		if err == nil {
			return nil
		}
		if fencedOp(err) {
			return controllerMoved("delete topic "+name, err)
		}
		// A node created or removed between listing and deleting: list again.
		if (errors.Is(err, ErrNotEmpty) || errors.Is(err, ErrNoNode)) && attempt < 5 {
			continue
		}
		return fmt.Errorf("cluster: delete topic %s: %w", name, err)
	}
}
