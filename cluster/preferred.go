package cluster

import (
	"errors"
	"fmt"
)

// Kafka's legacy preferred replica election request:
// /admin/preferred_replica_election holds {"version":1,"partitions":
// [{"topic":"t","partition":0},…]} (what kafka-preferred-replica-election.sh
// wrote before ElectLeaders). The controller watches the znode, elects the
// preferred replica of each partition named (where it can) and deletes the
// znode, fenced by its epoch.

// PartitionRef names a partition.
type PartitionRef struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

type preferredJSON struct {
	Version    int            `json:"version"`
	Partitions []PartitionRef `json:"partitions"`
}

// RequestPreferredElections writes the request znode (ErrNodeExists while
// an earlier request is pending, as Kafka's tool refuses then).
func (s *Store) RequestPreferredElections(ps []PartitionRef) error {
	_, err := s.conn.Create(PreferredReplicaElectionPath, mustJSON(preferredJSON{Version: 1, Partitions: ps}), ModePersistent)
	return err
}

// PreferredElectionsW reads the request znode and watches it (version -1:
// none; a malformed one reads as an empty request, so that it is removed).
func (s *Store) PreferredElectionsW() (ps []PartitionRef, version int32, ch <-chan WatchEvent, err error) {
	for attempt := 0; ; attempt++ {
		data, st, gch, err := s.conn.GetW(PreferredReplicaElectionPath)
		if errors.Is(err, ErrNoNode) {
			ok, _, ech, err := s.conn.ExistsW(PreferredReplicaElectionPath)
			if err != nil {
				return nil, 0, nil, fmt.Errorf("cluster: read preferred elections: %w", err)
			}
			if ok && attempt < 10 {
				continue // created in between: read it
			}
			return nil, -1, ech, nil
		}
		if err != nil {
			return nil, 0, nil, fmt.Errorf("cluster: read preferred elections: %w", err)
		}
		var j preferredJSON
		if derr := decodeJSON(PreferredReplicaElectionPath, data, &j); derr == nil {
			ps = j.Partitions
		}
		return ps, st.Version, gch, nil
	}
}

// DeletePreferredElections removes the request znode at the version the
// controller read, fenced by the controller epoch.
func (s *Store) DeletePreferredElections(controllerEpochZkVersion, version int32) error {
	_, err := s.conn.Multi(
		CheckOp{Path: ControllerEpochPath, Version: controllerEpochZkVersion},
		DeleteOp{Path: PreferredReplicaElectionPath, Version: version},
	)
	if fencedOp(err) {
		return controllerMoved("delete "+PreferredReplicaElectionPath, err)
	}
	if err != nil {
		return fmt.Errorf("cluster: delete %s: %w", PreferredReplicaElectionPath, err)
	}
	return nil
}
