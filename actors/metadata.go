package actors

import (
	"maps"
	"slices"

	"github.com/troupe-mq/troupe/messages"
)

// Metadata is a broker's view of the cluster, as UpdateMetadata requests
// from the controller built it. A Metadata value is immutable once
// published: the replica manager builds a new one for every change and
// the gateway reads whichever is current without locks.
type Metadata struct {
	ClusterID    string
	ControllerID int32
	// ControllerEpoch is the epoch of the controller that sent the newest
	// update applied.
	ControllerEpoch int32
	Brokers         map[int32]*messages.Broker
	Topics          map[string]*TopicMetadata
	// changed is closed when a newer Metadata replaces this one.
	changed chan struct{}
}

// TopicMetadata is one topic's partitions, indexed by partition number.
type TopicMetadata struct {
	Name       string
	ID         [16]byte
	Partitions []*messages.PartitionState // index == partition; nil for a gap
}

// Changed returns a channel closed when a newer Metadata is published.
func (m *Metadata) Changed() <-chan struct{} { return m.changed }

// Partition returns a partition's state.
func (m *Metadata) Partition(topic string, partition int32) (*messages.PartitionState, bool) {
	t, ok := m.Topics[topic]
	if !ok || partition < 0 || int(partition) >= len(t.Partitions) || t.Partitions[partition] == nil {
		return nil, false
	}
	return t.Partitions[partition], true
}

// Controller returns the broker of the controller the metadata names.
func (m *Metadata) Controller() (*messages.Broker, bool) {
	b, ok := m.Brokers[m.ControllerID]
	return b, ok
}

// TopicByID finds a topic by its ID.
func (m *Metadata) TopicByID(id [16]byte) (*TopicMetadata, bool) {
	for _, t := range m.Topics {
		if t.ID == id {
			return t, true
		}
	}
	return nil, false
}

// SortedBrokers returns the live brokers ordered by id.
func (m *Metadata) SortedBrokers() []*messages.Broker {
	ids := slices.Sorted(maps.Keys(m.Brokers))
	out := make([]*messages.Broker, 0, len(ids))
	for _, id := range ids {
		out = append(out, m.Brokers[id])
	}
	return out
}

func emptyMetadata() *Metadata {
	return &Metadata{ControllerID: -1, ControllerEpoch: -1, Brokers: map[int32]*messages.Broker{}, Topics: map[string]*TopicMetadata{}, changed: make(chan struct{})}
}

// apply returns the metadata that results from an UpdateMetadataRequest.
// The receiver is not modified; unchanged topics are shared with it.
func (m *Metadata) apply(u *messages.UpdateMetadataRequest) *Metadata {
	n := &Metadata{
		ClusterID:       m.ClusterID,
		ControllerID:    u.ControllerId,
		ControllerEpoch: u.ControllerEpoch,
		Brokers:         make(map[int32]*messages.Broker, len(u.Brokers)),
		changed:         make(chan struct{}),
	}
	if u.ClusterId != "" {
		n.ClusterID = u.ClusterId
	}
	for _, b := range u.Brokers {
		n.Brokers[b.Id] = b
	}
	if u.Full {
		n.Topics = make(map[string]*TopicMetadata)
	} else {
		n.Topics = maps.Clone(m.Topics)
	}
	for _, name := range u.DeletedTopics {
		delete(n.Topics, name)
	}
	touched := map[string]*TopicMetadata{}
	for _, p := range u.Partitions {
		t := touched[p.Topic]
		if t == nil {
			t = &TopicMetadata{Name: p.Topic}
			if old, ok := n.Topics[p.Topic]; ok && !u.Full {
				t.ID = old.ID
				t.Partitions = slices.Clone(old.Partitions)
			}
			copy(t.ID[:], p.TopicId)
			touched[p.Topic] = t
			n.Topics[p.Topic] = t
		}
		for int(p.Partition) >= len(t.Partitions) {
			t.Partitions = append(t.Partitions, nil)
		}
		t.Partitions[p.Partition] = p
	}
	return n
}
