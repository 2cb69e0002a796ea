package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/rs/zerolog"
)

// Paths of Kafka's ZooKeeper layout (see doc.go for the JSON of each).
const (
	BrokersPath                  = "/brokers"
	BrokerIDsPath                = "/brokers/ids"
	TopicsPath                   = "/brokers/topics"
	BrokerSeqIDPath              = "/brokers/seqid"
	ControllerPath               = "/controller"
	ControllerEpochPath          = "/controller_epoch"
	ConfigPath                   = "/config"
	ConfigTopicsPath             = "/config/topics"
	ConfigBrokersPath            = "/config/brokers"
	ConfigChangesPath            = "/config/changes"
	AdminPath                    = "/admin"
	DeleteTopicsPath             = "/admin/delete_topics"
	ReassignPartitionsPath       = "/admin/reassign_partitions"
	PreferredReplicaElectionPath = "/admin/preferred_replica_election"
	IsrChangeNotificationPath    = "/isr_change_notification"
	ProducerIDBlockPath          = "/latest_producer_id_block"
	ClusterPath                  = "/cluster"
	ClusterIDPath                = "/cluster/id"
)

// ConfigChangePrefix names the sequential config change notifications.
const ConfigChangePrefix = "config_change_"

// BrokerPath is /brokers/ids/<id>.
func BrokerPath(id int32) string { return BrokerIDsPath + "/" + strconv.Itoa(int(id)) }

// TopicPath is /brokers/topics/<topic>.
func TopicPath(topic string) string { return TopicsPath + "/" + topic }

// TopicPartitionsPath is /brokers/topics/<topic>/partitions.
func TopicPartitionsPath(topic string) string { return TopicPath(topic) + "/partitions" }

// PartitionPath is /brokers/topics/<topic>/partitions/<p>.
func PartitionPath(topic string, partition int32) string {
	return TopicPartitionsPath(topic) + "/" + strconv.Itoa(int(partition))
}

// PartitionStatePath is /brokers/topics/<topic>/partitions/<p>/state.
func PartitionStatePath(topic string, partition int32) string {
	return PartitionPath(topic, partition) + "/state"
}

// TopicConfigPath is /config/topics/<topic>.
func TopicConfigPath(topic string) string { return ConfigTopicsPath + "/" + topic }

// DefaultBrokerEntity names the cluster-wide default of the dynamic broker
// configs: /config/brokers/<default>, as in Kafka.
const DefaultBrokerEntity = "<default>"

// BrokerConfigPath is /config/brokers/<entity>: a broker id, or
// DefaultBrokerEntity.
func BrokerConfigPath(entity string) string { return ConfigBrokersPath + "/" + entity }

// DeleteTopicPath is /admin/delete_topics/<topic>.
func DeleteTopicPath(topic string) string { return DeleteTopicsPath + "/" + topic }

// layoutPaths are the persistent parents EnsureLayout creates, parents first.
// They are the ones Kafka creates at broker start-up that Troupe uses.
var layoutPaths = []string{
	BrokersPath, BrokerIDsPath, TopicsPath, BrokerSeqIDPath,
	ConfigPath, ConfigChangesPath, ConfigTopicsPath, ConfigBrokersPath, ConfigPath + "/clients", ConfigPath + "/users",
	AdminPath, DeleteTopicsPath,
	IsrChangeNotificationPath,
	ProducerIDBlockPath,
}

// Store reads and writes Kafka's ZooKeeper layout through a Conn, with typed
// values and Kafka's JSON. It holds no state of its own beyond the Conn, so
// it is safe for concurrent use; its calls block on ZooKeeper and must not run
// inside an actor's Receive.
//
// Watch variants (…W) return a one-shot channel. The caller — an actor's IO
// goroutine — must turn every event into a message to the actor's mailbox and
// let the actor re-read and re-watch; nothing that receives from these
// channels may change actor state directly.
type Store struct {
	conn  Conn
	log   zerolog.Logger
	now   func() time.Time
	newID func() (TopicID, error)
}

// StoreOptions are what a simulation replaces in a Store: the clock it
// writes into timestamps and ages notifications by, and the source of new
// topic and cluster ids. Zero fields take the real ones.
type StoreOptions struct {
	Now   func() time.Time
	NewID func() (TopicID, error)
}

// NewStore returns a Store over conn.
func NewStore(conn Conn, logger zerolog.Logger) *Store {
	return NewStoreWith(conn, logger, StoreOptions{})
}

// NewStoreWith is NewStore with options.
func NewStoreWith(conn Conn, logger zerolog.Logger, opts StoreOptions) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = NewTopicID
	}
	return &Store{conn: conn, log: logger.With().Str("component", "zkstore").Logger(), now: opts.Now, newID: opts.NewID}
}

// Conn returns the underlying connection.
func (s *Store) Conn() Conn { return s.conn }

// EnsureLayout creates the persistent parent znodes of the layout that are
// missing. It is idempotent and safe to run on every broker start.
func (s *Store) EnsureLayout() error {
	for _, p := range layoutPaths {
		if err := s.ensurePath(p); err != nil {
			return err
		}
	}
	return nil
}

// ensurePath creates p (empty, persistent) if missing; the parent must exist.
func (s *Store) ensurePath(p string) error {
	_, err := s.conn.Create(p, nil, ModePersistent)
	if err != nil && !errors.Is(err, ErrNodeExists) {
		return fmt.Errorf("cluster: ensure %s: %w", p, err)
	}
	return nil
}

// ensurePathRecursive creates p and any missing ancestors.
func ensurePathRecursive(conn Conn, p string) error {
	if p == "/" {
		return nil
	}
	ok, _, err := conn.Exists(p)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	if err := ensurePathRecursive(conn, parentPath(p)); err != nil {
		return err
	}
	if _, err := conn.Create(p, nil, ModePersistent); err != nil && !errors.Is(err, ErrNodeExists) {
		return err
	}
	return nil
}

// decodeJSON unmarshals a znode's data, naming the path on failure.
func decodeJSON(path string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorruptZNode, path, err)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own plain structs are marshalled here.
		panic(fmt.Sprintf("cluster: marshal %T: %v", v, err))
	}
	return b
}

// fencedOp reports whether a Multi failed at the controller-epoch check
// (index 0 by convention in this package), i.e. the caller's controller
// epoch is stale.
func fencedOp(err error) bool {
	var me *MultiError
	return errors.As(err, &me) && me.Index == 0 && (errors.Is(err, ErrBadVersion) || errors.Is(err, ErrNoNode))
}

// controllerMoved wraps a fenced Multi failure as ErrControllerMoved.
func controllerMoved(what string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrControllerMoved, what, err)
}

func msString(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func parseMs(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

type clusterIDJSON struct {
	Version string `json:"version"` // Kafka writes "1", a string
	ID      string `json:"id"`
}

// ClusterID returns the cluster id from /cluster/id
// {"version":"1","id":"<22-char base64url uuid>"}, creating it (as the first
// Kafka broker does) if it is missing. Every broker and the embedded store
// report the same id in Metadata and DescribeCluster.
func (s *Store) ClusterID() (string, error) {
	for attempt := 0; attempt < 5; attempt++ {
		data, _, err := s.conn.Get(ClusterIDPath)
		if err == nil {
			var j clusterIDJSON
			if err := decodeJSON(ClusterIDPath, data, &j); err != nil {
				return "", err
			}
			if j.ID == "" {
				return "", fmt.Errorf("%w: %s: empty id", ErrCorruptZNode, ClusterIDPath)
			}
			return j.ID, nil
		}
		if !errors.Is(err, ErrNoNode) {
			return "", err
		}
		if err := s.ensurePath(ClusterPath); err != nil {
			return "", err
		}
		id, err := s.newID() // same form as Kafka's Uuid
		if err != nil {
			return "", err
		}
		_, err = s.conn.Create(ClusterIDPath, mustJSON(clusterIDJSON{Version: "1", ID: id.String()}), ModePersistent)
		if err != nil && !errors.Is(err, ErrNodeExists) {
			return "", err
		}
		// Created, or another broker won the race: read what is there.
	}
	return "", fmt.Errorf("cluster: %s keeps changing", ClusterIDPath)
}
