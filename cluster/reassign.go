package cluster

import (
	"errors"
	"fmt"
	"sort"
)

// Partition reassignment requests.
//
// /admin/reassign_partitions is Kafka's request znode (its JSON: version 1,
// a list of {topic, partition, replicas}). Whoever asks for a reassignment
// — Kafka's legacy tools writing the znode, or a broker serving
// AlterPartitionReassignments — adds to it; the controller watches it,
// records each request in the topic znode (adding_replicas /
// removing_replicas, KIP-455) and then deletes it. So the znode is only a
// mailbox: what survives a controller failover is the topic znode, and a
// request read twice is applied once (asking for the target a partition is
// already moving to changes nothing).
//
// An entry with an empty replica list cancels the partition's reassignment
// (AlterPartitionReassignments with null replicas); Kafka's tools never
// write one, since an empty target is invalid for them.

// Reassignment asks for a partition's replicas to become Replicas (empty:
// cancel the reassignment in progress).
type Reassignment struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"`
}

// Cancel reports whether the entry cancels a reassignment.
func (r Reassignment) Cancel() bool { return len(r.Replicas) == 0 }

type reassignJSON struct {
	Version    int            `json:"version"`
	Partitions []Reassignment `json:"partitions"`
}

func encodeReassignments(rs []Reassignment) []byte {
	for i := range rs {
		if rs[i].Replicas == nil {
			rs[i].Replicas = []int32{}
		}
	}
	return mustJSON(reassignJSON{Version: 1, Partitions: rs})
}

func decodeReassignments(data []byte) ([]Reassignment, error) {
	var j reassignJSON
	if err := decodeJSON(ReassignPartitionsPath, data, &j); err != nil {
		return nil, err
	}
	return j.Partitions, nil
}

// SubmitReassignments adds requests to /admin/reassign_partitions: an entry
// for a partition already there replaces it. Conditional on the version
// read, retried when another writer (or the controller removing the node)
// got there first.
func (s *Store) SubmitReassignments(add []Reassignment) error {
	for attempt := 0; ; attempt++ {
		ok, st, err := s.conn.Exists(ReassignPartitionsPath)
		if err != nil {
			return fmt.Errorf("cluster: submit reassignments: %w", err)
		}
		var cur []Reassignment
		if ok {
			data, gst, err := s.conn.Get(ReassignPartitionsPath)
			if errors.Is(err, ErrNoNode) && attempt < 10 {
				continue
			}
			if err != nil {
				return fmt.Errorf("cluster: submit reassignments: %w", err)
			}
			st = gst
			if cur, err = decodeReassignments(data); err != nil {
				// A damaged request node is replaced rather than kept
				// blocking every later request.
				cur = nil
			}
		}
		merged := mergeReassignments(cur, add)
		if ok {
			_, err = s.conn.Set(ReassignPartitionsPath, encodeReassignments(merged), st.Version)
		} else {
			_, err = s.conn.Create(ReassignPartitionsPath, encodeReassignments(merged), ModePersistent)
		}
		if (errors.Is(err, ErrBadVersion) || errors.Is(err, ErrNoNode) || errors.Is(err, ErrNodeExists)) && attempt < 10 {
			continue
		}
		if err != nil {
			return fmt.Errorf("cluster: submit reassignments: %w", err)
		}
		return nil
	}
}

// mergeReassignments returns cur with add applied (later entries win),
// ordered by topic and partition.
func mergeReassignments(cur, add []Reassignment) []Reassignment {
	type key struct {
		t string
		p int32
	}
	m := map[key]Reassignment{}
	for _, r := range cur {
		m[key{r.Topic, r.Partition}] = r
	}
	for _, r := range add {
		m[key{r.Topic, r.Partition}] = r
	}
	out := make([]Reassignment, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// ReassignmentsW reads /admin/reassign_partitions and watches it (for its
// creation when absent). version is -1 when the node does not exist. A
// damaged node reads as empty at its version, so that the controller
// removes it.
func (s *Store) ReassignmentsW() (rs []Reassignment, version int32, ch <-chan WatchEvent, err error) {
	for attempt := 0; ; attempt++ {
		data, st, gch, err := s.conn.GetW(ReassignPartitionsPath)
		if errors.Is(err, ErrNoNode) {
			ok, _, ech, err := s.conn.ExistsW(ReassignPartitionsPath)
			if err != nil {
				return nil, 0, nil, fmt.Errorf("cluster: read reassignments: %w", err)
			}
			if ok && attempt < 10 {
				continue // created in between: read it
			}
			return nil, -1, ech, nil
		}
		if err != nil {
			return nil, 0, nil, fmt.Errorf("cluster: read reassignments: %w", err)
		}
		rs, derr := decodeReassignments(data)
		if derr != nil {
			rs = nil
		}
		return rs, st.Version, gch, nil
	}
}

// DeleteReassignments removes /admin/reassign_partitions at the version the
// controller read (ErrBadVersion: requests were added since), fenced by the
// controller epoch.
func (s *Store) DeleteReassignments(controllerEpochZkVersion, version int32) error {
	_, err := s.conn.Multi(
		CheckOp{Path: ControllerEpochPath, Version: controllerEpochZkVersion},
		DeleteOp{Path: ReassignPartitionsPath, Version: version},
	)
	if fencedOp(err) {
		return controllerMoved("delete "+ReassignPartitionsPath, err)
	}
	if err != nil {
		return fmt.Errorf("cluster: delete %s: %w", ReassignPartitionsPath, err)
	}
	return nil
}
