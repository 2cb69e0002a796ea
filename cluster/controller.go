package cluster

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// --- controller election ------------------------------------------------------

type controllerJSON struct {
	Version              int    `json:"version"`
	BrokerID             int32  `json:"brokerid"`
	Timestamp            string `json:"timestamp"`
	KraftControllerEpoch *int32 `json:"kraftControllerEpoch,omitempty"`
}

// TryBecomeController tries to elect brokerID. In one Multi it creates the
// ephemeral /controller {"version":2,"brokerid":N,...} and bumps
// /controller_epoch from the value just read, conditional on that value's
// version (creating /controller_epoch with "0" first if it is missing, so the
// first controller has epoch 1). It returns the new epoch and the zkVersion
// of /controller_epoch after the bump: every later controller write must
// carry that zkVersion (see UpdatePartitionState).
//
// ErrControllerExists if another broker holds /controller. If the Multi's
// answer was lost and /controller turns out to be ours (same session), the
// election is reported as won with the epoch now stored.
func (s *Store) TryBecomeController(brokerID int32) (epoch int32, epochZkVersion int32, err error) {
	minus1 := int32(-1)
	data := mustJSON(controllerJSON{Version: 2, BrokerID: brokerID, Timestamp: msString(s.now()), KraftControllerEpoch: &minus1})
	for attempt := 0; ; attempt++ {
		cur, st, err := s.readControllerEpoch()
		if errors.Is(err, ErrNoNode) {
			if _, err := s.conn.Create(ControllerEpochPath, []byte("0"), ModePersistent); err != nil && !errors.Is(err, ErrNodeExists) {
				return 0, 0, fmt.Errorf("cluster: create %s: %w", ControllerEpochPath, err)
			}
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		next := cur + 1
		res, err := s.conn.Multi(
			CreateOp{Path: ControllerPath, Data: data, Mode: ModeEphemeral},
			SetOp{Path: ControllerEpochPath, Data: []byte(strconv.Itoa(int(next))), Version: st.Version},
		)
		if err == nil {
			s.log.Info().Int32("broker", brokerID).Int32("controller_epoch", next).Int32("epoch_zk_version", res[1].Stat.Version).
				Msg("elected controller")
			return next, res[1].Stat.Version, nil
		}
		var me *MultiError
		if errors.As(err, &me) && me.Index == 0 && errors.Is(err, ErrNodeExists) {
			holder, owner, herr := s.controller()
			if herr == nil && holder == brokerID && owner == s.conn.SessionID() {
				// Ours: an earlier attempt's answer was lost. Nobody can bump
				// the epoch while our /controller exists, so the stored
				// epoch is the one we wrote.
				e, est, err := s.readControllerEpoch()
				if err != nil {
					return 0, 0, err
				}
				return e, est.Version, nil
			}
			if errors.Is(herr, ErrNoNode) && attempt < 10 {
				continue // the holder just left: try again
			}
			return 0, 0, fmt.Errorf("%w: broker %d", ErrControllerExists, holder)
		}
		if errors.Is(err, ErrBadVersion) && attempt < 10 {
			continue // the epoch moved between our read and our write
		}
		if errors.Is(err, ErrConnectionLoss) && attempt < 10 {
			continue // unknown outcome: the next round finds out
		}
		return 0, 0, fmt.Errorf("cluster: controller election: %w", err)
	}
}

func (s *Store) readControllerEpoch() (int32, Stat, error) {
	data, st, err := s.conn.Get(ControllerEpochPath)
	if err != nil {
		return 0, Stat{}, err
	}
	e, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 32)
	if err != nil {
		return 0, Stat{}, fmt.Errorf("%w: %s: %q", ErrCorruptZNode, ControllerEpochPath, data)
	}
	return int32(e), st, nil
}

// ControllerEpoch returns the current controller epoch and the zkVersion of
// /controller_epoch (0, 0 with ErrNoNode before any election).
func (s *Store) ControllerEpoch() (epoch int32, zkVersion int32, err error) {
	e, st, err := s.readControllerEpoch()
	return e, st.Version, err
}

// controller reads /controller: holder id and owning session.
func (s *Store) controller() (int32, int64, error) {
	data, st, err := s.conn.Get(ControllerPath)
	if err != nil {
		return -1, 0, err
	}
	var j controllerJSON
	if err := decodeJSON(ControllerPath, data, &j); err != nil {
		return -1, 0, err
	}
	return j.BrokerID, st.EphemeralOwner, nil
}

// DeposeController deletes /controller if broker holds it, so that an
// election can happen without waiting for a dead controller's session to
// expire. The delete is conditional on /controller_epoch not having moved
// since /controller was read, so a newer controller's znode is never removed. Safe even if the deposed broker is
// alive: the next controller bumps /controller_epoch, which fences every
// write the old one still makes.
func (s *Store) DeposeController(broker int32) error {
	// /controller's own version cannot tell a successor's znode from the
	// deposed one (a re-created znode starts at version 0 again): between
	// our read and our delete another standby may depose the same holder
	// and win, and a delete conditional on that version alone removed the
	// winner's /controller, electing a second controller. Every election
	// bumps /controller_epoch in the Multi that creates /controller, so the
	// delete is conditional on the epoch version read before /controller.
	_, est, err := s.readControllerEpoch()
	if errors.Is(err, ErrNoNode) {
		return nil
	}
	if err != nil {
		return err
	}
	data, st, err := s.conn.Get(ControllerPath)
	if errors.Is(err, ErrNoNode) {
		return nil
	}
	if err != nil {
		return err
	}
	var j controllerJSON
	if err := decodeJSON(ControllerPath, data, &j); err != nil {
		return err
	}
	if j.BrokerID != broker {
		return nil
	}
	_, err = s.conn.Multi(CheckOp{Path: ControllerEpochPath, Version: est.Version}, DeleteOp{Path: ControllerPath, Version: st.Version})
	if errors.Is(err, ErrNoNode) || errors.Is(err, ErrBadVersion) {
		return nil
	}
	return err
}

// ControllerID returns the broker holding /controller, or -1 if none.
func (s *Store) ControllerID() (int32, error) {
	id, _, err := s.controller()
	if errors.Is(err, ErrNoNode) {
		return -1, nil
	}
	return id, err
}

// ControllerW returns the controller (-1 if none) and a watch that fires when
// /controller is created, changed or deleted.
func (s *Store) ControllerW() (int32, <-chan WatchEvent, error) {
	ok, _, ch, err := s.conn.ExistsW(ControllerPath)
	if err != nil {
		return -1, nil, err
	}
	if !ok {
		return -1, ch, nil
	}
	id, _, err := s.controller()
	if errors.Is(err, ErrNoNode) {
		return -1, ch, nil // deleted since: the watch has fired or will
	}
	return id, ch, err
}

// ResignController deletes /controller if this session holds it.
func (s *Store) ResignController() error {
	ok, st, err := s.conn.Exists(ControllerPath)
	if err != nil || !ok {
		return err
	}
	if st.EphemeralOwner != s.conn.SessionID() {
		return nil
	}
	err = s.conn.Delete(ControllerPath, st.Version)
	if errors.Is(err, ErrNoNode) || errors.Is(err, ErrBadVersion) {
		return nil
	}
	return err
}

// --- partition state ----------------------------------------------------------

// LeaderAndIsr is the content of a partition's state znode.
type LeaderAndIsr struct {
	Leader      int32   // broker id, -1 when no leader
	LeaderEpoch int32   // bumped on every leader change
	ISR         []int32 // in-sync replicas, leader included
	// ControllerEpoch is the epoch of the controller that wrote the state.
	// Store methods that write set it from their controllerEpoch argument.
	ControllerEpoch int32
	// LeaderBrokerEpoch is the broker epoch of the leader's registration
	// when it was elected (troupe; 0 when unknown): a leader whose broker
	// has registered anew since (it restarted) must not go on leading this
	// leader epoch, whose history its new process may not have.
	LeaderBrokerEpoch int64
}

type partitionStateJSON struct {
	ControllerEpoch   int32   `json:"controller_epoch"`
	Leader            int32   `json:"leader"`
	Version           int     `json:"version"`
	LeaderEpoch       int32   `json:"leader_epoch"`
	ISR               []int32 `json:"isr"`
	LeaderBrokerEpoch int64   `json:"leader_broker_epoch,omitempty"`
}

func encodePartitionState(l LeaderAndIsr) []byte {
	isr := l.ISR
	if isr == nil {
		isr = []int32{}
	}
	return mustJSON(partitionStateJSON{ControllerEpoch: l.ControllerEpoch, Leader: l.Leader, Version: 1, LeaderEpoch: l.LeaderEpoch, ISR: isr,
		LeaderBrokerEpoch: l.LeaderBrokerEpoch})
}

func decodePartitionState(path string, data []byte) (LeaderAndIsr, error) {
	var j partitionStateJSON
	if err := decodeJSON(path, data, &j); err != nil {
		return LeaderAndIsr{}, err
	}
	return LeaderAndIsr{Leader: j.Leader, LeaderEpoch: j.LeaderEpoch, ISR: j.ISR, ControllerEpoch: j.ControllerEpoch, LeaderBrokerEpoch: j.LeaderBrokerEpoch}, nil
}

// PartitionState reads a partition's state and its zkVersion (the
// expectedVersion of the next UpdatePartitionState).
func (s *Store) PartitionState(topic string, partition int32) (LeaderAndIsr, int32, error) {
	p := PartitionStatePath(topic, partition)
	data, st, err := s.conn.Get(p)
	if err != nil {
		return LeaderAndIsr{}, 0, err
	}
	l, err := decodePartitionState(p, data)
	return l, st.Version, err
}

// PartitionStates reads the states of all of a topic's partitions that have
// one.
func (s *Store) PartitionStates(topic string) (map[int32]LeaderAndIsr, map[int32]int32, error) {
	names, _, err := s.conn.Children(TopicPartitionsPath(topic))
	if errors.Is(err, ErrNoNode) {
		return map[int32]LeaderAndIsr{}, map[int32]int32{}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	states := make(map[int32]LeaderAndIsr, len(names))
	versions := make(map[int32]int32, len(names))
	for _, n := range names {
		p, err := strconv.ParseInt(n, 10, 32)
		if err != nil {
			continue
		}
		l, v, err := s.PartitionState(topic, int32(p))
		if errors.Is(err, ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		states[int32(p)], versions[int32(p)] = l, v
	}
	return states, versions, nil
}

// CreatePartitionStates creates the state znodes of new partitions for the
// controller. The empty parents (/partitions, /partitions/<p>) are created
// unconditionally, as Kafka does; the states themselves in one Multi fenced
// by the controller epoch. If some states exist already, each partition is
// tried on its own; the returned map holds the partitions that failed (e.g.
// ErrNodeExists). The error is ErrControllerMoved when fenced.
func (s *Store) CreatePartitionStates(controllerEpoch, controllerEpochZkVersion int32, topic string, states map[int32]LeaderAndIsr) (map[int32]error, error) {
	if err := ValidateTopicName(topic); err != nil {
		return nil, err
	}
	parts := make([]int32, 0, len(states))
	for p := range states {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	if err := s.ensurePath(TopicPartitionsPath(topic)); err != nil {
		return nil, err
	}
	for _, p := range parts {
		if err := s.ensurePath(PartitionPath(topic, p)); err != nil {
			return nil, err
		}
	}
	check := CheckOp{Path: ControllerEpochPath, Version: controllerEpochZkVersion}
	create := func(p int32) CreateOp {
		l := states[p]
		l.ControllerEpoch = controllerEpoch
		return CreateOp{Path: PartitionStatePath(topic, p), Data: encodePartitionState(l), Mode: ModePersistent}
	}
	ops := []Op{check}
	for _, p := range parts {
		ops = append(ops, create(p))
	}
	_, err := s.conn.Multi(ops...)
	if err == nil {
		return map[int32]error{}, nil
	}
	if fencedOp(err) {
		return nil, controllerMoved("create partition states of "+topic, err)
	}
	if !errors.Is(err, ErrNodeExists) {
		return nil, fmt.Errorf("cluster: create partition states of %s: %w", topic, err)
	}
	failed := map[int32]error{}
	for _, p := range parts {
		_, err := s.conn.Multi(check, create(p))
		if fencedOp(err) {
			return failed, controllerMoved("create partition states of "+topic, err)
		}
		if err != nil {
			failed[p] = err
		}
	}
	return failed, nil
}

// UpdatePartitionState writes a partition's state for the controller as
// Multi(CheckVersion(/controller_epoch, controllerEpochZkVersion),
// SetData(state, expectedVersion)) and returns the state's new zkVersion.
// ErrControllerMoved: the caller is no longer the controller. ErrBadVersion
// (without ErrControllerMoved): the state changed since the caller read it.
func (s *Store) UpdatePartitionState(controllerEpoch, controllerEpochZkVersion int32, topic string, partition int32, state LeaderAndIsr, expectedVersion int32) (int32, error) {
	state.ControllerEpoch = controllerEpoch
	res, err := s.conn.Multi(
		CheckOp{Path: ControllerEpochPath, Version: controllerEpochZkVersion},
		SetOp{Path: PartitionStatePath(topic, partition), Data: encodePartitionState(state), Version: expectedVersion},
	)
	if fencedOp(err) {
		return 0, controllerMoved(fmt.Sprintf("update state of %s-%d", topic, partition), err)
	}
	if err != nil {
		return 0, fmt.Errorf("cluster: update state of %s-%d: %w", topic, partition, err)
	}
	return res[1].Stat.Version, nil
}
