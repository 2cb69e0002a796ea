package cluster

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
)

// --- producer id blocks -------------------------------------------------------

// DefaultProducerIDBlockSize is Kafka's block size (ProducerIdsBlock).
const DefaultProducerIDBlockSize = 1000

type producerIDBlockJSON struct {
	Version    int    `json:"version"`
	Broker     int32  `json:"broker"`
	BlockStart string `json:"block_start"`
	BlockEnd   string `json:"block_end"`
}

// AllocateProducerIDBlock reserves size producer ids for brokerID and returns
// the block [start, end] (end inclusive, as Kafka stores it). It reads
// /latest_producer_id_block and writes the next block conditional on the
// version it read, retrying when another broker won the race, so blocks never
// overlap. The first block starts at 0.
func (s *Store) AllocateProducerIDBlock(brokerID int32, size int64) (start, end int64, err error) {
	if size <= 0 {
		size = DefaultProducerIDBlockSize
	}
	for attempt := 0; attempt < 100; attempt++ {
		data, st, err := s.conn.Get(ProducerIDBlockPath)
		exists := true
		if errors.Is(err, ErrNoNode) {
			exists = false
		} else if err != nil {
			return 0, 0, err
		}
		next := int64(0)
		if exists && len(data) > 0 {
			var j producerIDBlockJSON
			if err := decodeJSON(ProducerIDBlockPath, data, &j); err != nil {
				return 0, 0, err
			}
			prevEnd, err := strconv.ParseInt(j.BlockEnd, 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("%w: %s: block_end %q", ErrCorruptZNode, ProducerIDBlockPath, j.BlockEnd)
			}
			next = prevEnd + 1
		}
		if next > math.MaxInt64-size {
			return 0, 0, ErrProducerIDsExhausted
		}
		start, end = next, next+size-1
		out := mustJSON(producerIDBlockJSON{Version: 1, Broker: brokerID,
			BlockStart: strconv.FormatInt(start, 10), BlockEnd: strconv.FormatInt(end, 10)})
		if exists {
			_, err = s.conn.Set(ProducerIDBlockPath, out, st.Version)
		} else {
			_, err = s.conn.Create(ProducerIDBlockPath, out, ModePersistent)
		}
		if errors.Is(err, ErrBadVersion) || errors.Is(err, ErrNodeExists) || errors.Is(err, ErrNoNode) {
			continue // another broker got there first
		}
		if err != nil {
			return 0, 0, err
		}
		return start, end, nil
	}
	return 0, 0, fmt.Errorf("cluster: allocate producer id block: %w (too much contention)", ErrBadVersion)
}

// --- ISR change notifications (legacy, pre-KIP-497) ---------------------------

type partitionsJSON struct {
	Version    int              `json:"version"`
	Partitions []TopicPartition `json:"partitions"`
}

// CreateIsrChangeNotification appends
// /isr_change_notification/isr_change_<seq> {"version":1,"partitions":[...]}
// and returns its name.
func (s *Store) CreateIsrChangeNotification(partitions []TopicPartition) (string, error) {
	if partitions == nil {
		partitions = []TopicPartition{}
	}
	p, err := s.conn.Create(IsrChangeNotificationPath+"/"+IsrChangePrefix,
		mustJSON(partitionsJSON{Version: 1, Partitions: partitions}), ModePersistentSequential)
	if err != nil {
		return "", err
	}
	return baseName(p), nil
}

// IsrChangeNotificationsW lists the notification names, sorted, and watches
// for new ones.
func (s *Store) IsrChangeNotificationsW() ([]string, <-chan WatchEvent, error) {
	names, _, ch, err := s.conn.ChildrenW(IsrChangeNotificationPath)
	return names, ch, err
}

// IsrChangeNotification reads one notification.
func (s *Store) IsrChangeNotification(name string) ([]TopicPartition, error) {
	p := IsrChangeNotificationPath + "/" + name
	data, _, err := s.conn.Get(p)
	if err != nil {
		return nil, err
	}
	var j partitionsJSON
	if err := decodeJSON(p, data, &j); err != nil {
		return nil, err
	}
	return j.Partitions, nil
}

// DeleteIsrChangeNotification removes a processed notification; a missing
// one is not an error.
func (s *Store) DeleteIsrChangeNotification(name string) error {
	err := s.conn.Delete(IsrChangeNotificationPath+"/"+name, AnyVersion)
	if errors.Is(err, ErrNoNode) {
		return nil
	}
	return err
}

// --- /admin/reassign_partitions -----------------------------------------------

type reassignJSON struct {
	Version    int                 `json:"version"`
	Partitions []reassignPartition `json:"partitions"`
}

type reassignPartition struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"`
}

func encodeReassignment(m map[TopicPartition][]int32) []byte {
	j := reassignJSON{Version: 1, Partitions: []reassignPartition{}}
	for tp, r := range m {
		j.Partitions = append(j.Partitions, reassignPartition{Topic: tp.Topic, Partition: tp.Partition, Replicas: r})
	}
	sort.Slice(j.Partitions, func(a, b int) bool {
		x, y := j.Partitions[a], j.Partitions[b]
		return x.Topic < y.Topic || x.Topic == y.Topic && x.Partition < y.Partition
	})
	return mustJSON(j)
}

func decodeReassignment(data []byte) (map[TopicPartition][]int32, error) {
	var j reassignJSON
	if err := decodeJSON(ReassignPartitionsPath, data, &j); err != nil {
		return nil, err
	}
	m := make(map[TopicPartition][]int32, len(j.Partitions))
	for _, p := range j.Partitions {
		m[TopicPartition{p.Topic, p.Partition}] = p.Replicas
	}
	return m, nil
}

// CreateReassignPartitions starts a reassignment the legacy way:
// /admin/reassign_partitions {"version":1,"partitions":[{"topic","partition",
// "replicas"}]}. ErrNodeExists while one is in progress.
func (s *Store) CreateReassignPartitions(m map[TopicPartition][]int32) error {
	_, err := s.conn.Create(ReassignPartitionsPath, encodeReassignment(m), ModePersistent)
	return err
}

// ReassignPartitionsW reads the pending reassignment (exists false if none)
// with its zkVersion, and watches the node.
func (s *Store) ReassignPartitionsW() (m map[TopicPartition][]int32, version int32, exists bool, ch <-chan WatchEvent, err error) {
	ok, _, ch, err := s.conn.ExistsW(ReassignPartitionsPath)
	if err != nil || !ok {
		return nil, 0, false, ch, err
	}
	data, st, err := s.conn.Get(ReassignPartitionsPath)
	if errors.Is(err, ErrNoNode) {
		return nil, 0, false, ch, nil
	}
	if err != nil {
		return nil, 0, false, nil, err
	}
	m, err = decodeReassignment(data)
	return m, st.Version, true, ch, err
}

// SetReassignPartitions rewrites the pending reassignment conditional on
// version (the controller removes completed partitions); an empty map deletes
// the node, as Kafka's controller does when all are done.
func (s *Store) SetReassignPartitions(m map[TopicPartition][]int32, version int32) error {
	if len(m) == 0 {
		return s.conn.Delete(ReassignPartitionsPath, version)
	}
	_, err := s.conn.Set(ReassignPartitionsPath, encodeReassignment(m), version)
	return err
}

// --- /admin/preferred_replica_election ----------------------------------------

// CreatePreferredReplicaElection asks the controller to move leadership of
// the partitions to their preferred replicas:
// /admin/preferred_replica_election {"version":1,"partitions":[{"topic",
// "partition"}]}. ErrNodeExists while one is in progress.
func (s *Store) CreatePreferredReplicaElection(partitions []TopicPartition) error {
	if partitions == nil {
		partitions = []TopicPartition{}
	}
	_, err := s.conn.Create(PreferredReplicaElectionPath, mustJSON(partitionsJSON{Version: 1, Partitions: partitions}), ModePersistent)
	return err
}

// PreferredReplicaElectionW reads the pending request (exists false if none)
// and watches the node.
func (s *Store) PreferredReplicaElectionW() (partitions []TopicPartition, exists bool, ch <-chan WatchEvent, err error) {
	ok, _, ch, err := s.conn.ExistsW(PreferredReplicaElectionPath)
	if err != nil || !ok {
		return nil, false, ch, err
	}
	data, _, err := s.conn.Get(PreferredReplicaElectionPath)
	if errors.Is(err, ErrNoNode) {
		return nil, false, ch, nil
	}
	if err != nil {
		return nil, false, nil, err
	}
	var j partitionsJSON
	if err := decodeJSON(PreferredReplicaElectionPath, data, &j); err != nil {
		return nil, true, ch, err
	}
	return j.Partitions, true, ch, nil
}

// DeletePreferredReplicaElection removes the request once handled; a
// missing node is not an error.
func (s *Store) DeletePreferredReplicaElection() error {
	err := s.conn.Delete(PreferredReplicaElectionPath, AnyVersion)
	if errors.Is(err, ErrNoNode) {
		return nil
	}
	return err
}
