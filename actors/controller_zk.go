package actors

import (
	"errors"
	"fmt"
	"time"

	"github.com/troupe-mq/troupe/cluster"
)

// The controller's ZooKeeper calls. Each is a zkJob: a plain value the core
// emits (zkCall) and its executor runs — the controller actor's worker
// goroutine, or the simulator — one at a time, in order. run is the only
// code that touches the Store; it returns the result for the core and the
// watches it armed, each with the message to deliver when it fires. Every
// result and watch message carries the reign that asked for it.

// zkJob is one ZooKeeper call of the controller.
type zkJob interface {
	run(s *cluster.Store) (result any, watches []watchArm)
}

// watchArm is a one-shot watch and what to tell the controller when it fires.
type watchArm struct {
	ch    <-chan cluster.WatchEvent
	fired any
}

// writeOutcome classifies the answer to a state write.
type writeOutcome uint8

const (
	writeCommitted writeOutcome = iota
	// writeFenced: a newer controller epoch exists.
	writeFenced
	// writeConflict: the node was not at the expected version (or, for a
	// create, existed already).
	writeConflict
	// writeUnknown: no answer (connection loss, session expiry, timeout):
	// the write may or may not have committed.
	writeUnknown
)

func (o writeOutcome) String() string {
	switch o {
	case writeCommitted:
		return "committed"
	case writeFenced:
		return "fenced"
	case writeConflict:
		return "conflict"
	}
	return "unknown"
}

// classifyWrite maps a Store error to an outcome.
func classifyWrite(err error) writeOutcome {
	switch {
	case err == nil:
		return writeCommitted
	case errors.Is(err, cluster.ErrControllerMoved):
		return writeFenced
	case errors.Is(err, cluster.ErrBadVersion), errors.Is(err, cluster.ErrNodeExists), errors.Is(err, cluster.ErrNoNode):
		return writeConflict
	}
	return writeUnknown
}

// Results (and watch messages) of the jobs.
type (
	electionTried struct {
		reign          int64
		epoch, epochZk int32
		holder         int32
		// holderAddress/Epoch: the holder broker's remoting address and
		// registration epoch.
		holderAddress string
		holderEpoch   int64
		// watching: a watch on /controller is armed.
		watching bool
		err      error
	}
	controllerDeposed struct {
		reign int64
		err   error
	}
	controllerWatchFired struct{ reign int64 }
	ctrlWatchFired       struct {
		reign int64
		kind  string // "brokers", "topics", "topic", "deletions", "configs"
		topic string
	}
	clusterLoaded struct {
		reign   int64
		snap    *clusterSnapshot
		err     error
		attempt int
	}
	brokersLoaded struct {
		reign   int64
		brokers []cluster.BrokerInfo
		err     error
	}
	topicNamesLoaded struct {
		reign int64
		names []string
		err   error
	}
	topicsLoaded struct {
		reign  int64
		topics []loadedTopic
	}
	deletionsLoaded struct {
		reign int64
		names []string
		err   error
	}
	configsChanged struct {
		reign   int64
		last    string
		configs map[string]map[string]string
		// brokers are the dynamic configs of the broker entities named.
		brokers map[string]map[string]string
		err     error
	}
	statesWritten struct {
		reign   int64
		results []writeResult
	}
	statesReread struct {
		reign   int64
		results []rereadResult
	}
	topicZNodesDeleted struct {
		reign int64
		topic string
		err   error
	}
)

func (m *electionTried) reignOf() int64        { return m.reign }
func (m *controllerDeposed) reignOf() int64    { return m.reign }
func (m *controllerWatchFired) reignOf() int64 { return m.reign }
func (m *ctrlWatchFired) reignOf() int64       { return m.reign }
func (m *clusterLoaded) reignOf() int64        { return m.reign }
func (m *brokersLoaded) reignOf() int64        { return m.reign }
func (m *topicNamesLoaded) reignOf() int64     { return m.reign }
func (m *topicsLoaded) reignOf() int64         { return m.reign }
func (m *deletionsLoaded) reignOf() int64      { return m.reign }
func (m *configsChanged) reignOf() int64       { return m.reign }
func (m *statesWritten) reignOf() int64        { return m.reign }
func (m *statesReread) reignOf() int64         { return m.reign }
func (m *topicZNodesDeleted) reignOf() int64   { return m.reign }

type writeResult struct {
	change     stateChange
	outcome    writeOutcome
	newVersion int32
	err        error
}

type rereadResult struct {
	tp      TopicPartition
	exists  bool
	state   cluster.LeaderAndIsr
	version int32
	err     error
}

// loadedTopic is a topic as read from ZooKeeper.
type loadedTopic struct {
	name     string
	info     cluster.TopicInfo
	configs  map[string]string
	states   map[int32]cluster.LeaderAndIsr
	versions map[int32]int32
	err      error
}

// clusterSnapshot is everything a new controller reads.
type clusterSnapshot struct {
	clusterID string
	brokers   []cluster.BrokerInfo
	topics    []loadedTopic
	deletions []string
	// lastConfigChange is the newest config change notification at load.
	lastConfigChange string
	// reassignments are the requests in /admin/reassign_partitions, at
	// reassignVersion (-1: none).
	reassignments   []cluster.Reassignment
	reassignVersion int32
	// brokerConfigs are the dynamic broker configs, by entity.
	brokerConfigs map[string]map[string]string
	// preferred are the partitions /admin/preferred_replica_election
	// names, at preferredVersion (-1: none).
	preferred        []cluster.PartitionRef
	preferredVersion int32
}

// configChangeExpiry is how old a processed config change notification
// must be before the controller removes it (Kafka's 15 minutes).
const configChangeExpiry = 15 * time.Minute

// --- jobs ----------------------------------------------------------------------

// electJob tries to take /controller and watches it.
type electJob struct {
	reign int64
	id    int32
}

func (j *electJob) run(s *cluster.Store) (any, []watchArm) {
	epoch, zkv, err := s.TryBecomeController(j.id)
	res := &electionTried{reign: j.reign, epoch: epoch, epochZk: zkv, holder: -1, err: err}
	holder, ch, werr := s.ControllerW()
	var watches []watchArm
	if werr == nil {
		res.watching = true
		watches = append(watches, watchArm{ch: ch, fired: &controllerWatchFired{reign: j.reign}})
	}
	if err != nil {
		// Someone else (or nobody, after an error) holds /controller.
		res.holder = holder
		if werr != nil && !errors.Is(err, cluster.ErrControllerExists) {
			res.err = fmt.Errorf("%w (and watching /controller: %v)", err, werr)
		}
		if holder >= 0 && holder != j.id {
			if b, berr := s.Broker(holder); berr == nil {
				res.holderAddress, res.holderEpoch = b.ActorAddress, b.Epoch
			}
		}
		return res, watches
	}
	res.holder = j.id
	return res, watches
}

// checkControllerJob re-reads /controller after its watch fired.
type checkControllerJob struct{ reign int64 }

func (j *checkControllerJob) run(s *cluster.Store) (any, []watchArm) {
	holder, ch, err := s.ControllerW()
	res := &electionTried{reign: j.reign, holder: holder, err: err, epoch: -1}
	if err != nil {
		return res, nil
	}
	res.watching = true
	return res, []watchArm{{ch: ch, fired: &controllerWatchFired{reign: j.reign}}}
}

// deposeJob removes a dead controller's /controller.
type deposeJob struct {
	reign  int64
	holder int32
}

func (j *deposeJob) run(s *cluster.Store) (any, []watchArm) {
	return &controllerDeposed{reign: j.reign, err: s.DeposeController(j.holder)}, nil
}

// loadClusterJob reads what a new controller needs, arming its watches.
type loadClusterJob struct {
	reign   int64
	attempt int
}

func (j *loadClusterJob) run(s *cluster.Store) (any, []watchArm) {
	snap := &clusterSnapshot{}
	var watches []watchArm
	fail := func(err error) (any, []watchArm) {
		return &clusterLoaded{reign: j.reign, err: err, attempt: j.attempt}, nil
	}
	var err error
	if snap.clusterID, err = s.ClusterID(); err != nil {
		return fail(err)
	}
	brokers, ch, err := readBrokersW(s)
	if err != nil {
		return fail(err)
	}
	snap.brokers = brokers
	watches = append(watches, watchArm{ch: ch, fired: &ctrlWatchFired{reign: j.reign, kind: "brokers"}})
	names, nw, err := s.TopicNamesW()
	if err != nil {
		return fail(err)
	}
	watches = append(watches, watchArm{ch: nw, fired: &ctrlWatchFired{reign: j.reign, kind: "topics"}})
	topics, tw := readTopics(s, j.reign, names)
	for _, t := range topics {
		if t.err != nil {
			return fail(t.err)
		}
	}
	snap.topics = topics
	watches = append(watches, tw...)
	dels, dw, err := s.TopicsMarkedForDeletionW()
	if err != nil {
		return fail(err)
	}
	snap.deletions = dels
	watches = append(watches, watchArm{ch: dw, fired: &ctrlWatchFired{reign: j.reign, kind: "deletions"}})
	changes, cw, err := s.ConfigChangesW()
	if err != nil {
		return fail(err)
	}
	watches = append(watches, watchArm{ch: cw, fired: &ctrlWatchFired{reign: j.reign, kind: "configs"}})
	if len(changes) > 0 {
		snap.lastConfigChange = changes[len(changes)-1]
	}
	rs, rv, rw, err := s.ReassignmentsW()
	if err != nil {
		return fail(err)
	}
	snap.reassignments, snap.reassignVersion = rs, rv
	if snap.brokerConfigs, err = s.BrokerConfigs(); err != nil {
		return fail(err)
	}
	ps, pv, pw, err := s.PreferredElectionsW()
	if err != nil {
		return fail(err)
	}
	snap.preferred, snap.preferredVersion = ps, pv
	watches = append(watches, watchArm{ch: pw, fired: &ctrlWatchFired{reign: j.reign, kind: "preferred"}})
	watches = append(watches, watchArm{ch: rw, fired: &ctrlWatchFired{reign: j.reign, kind: "reassignments"}})
	return &clusterLoaded{reign: j.reign, snap: snap, attempt: j.attempt}, watches
}

// readBrokersJob reads the registered brokers, watching them when watch is
// set (the active controller) and not otherwise (a standby that needs a
// broker to ask for a second opinion).
type readBrokersJob struct {
	reign int64
	watch bool
}

func (j *readBrokersJob) run(s *cluster.Store) (any, []watchArm) {
	if !j.watch {
		bs, err := s.Brokers()
		return &brokersLoaded{reign: j.reign, brokers: bs, err: err}, nil
	}
	bs, ch, err := readBrokersW(s)
	if err != nil {
		return &brokersLoaded{reign: j.reign, err: err}, nil
	}
	return &brokersLoaded{reign: j.reign, brokers: bs}, []watchArm{{ch: ch, fired: &ctrlWatchFired{reign: j.reign, kind: "brokers"}}}
}

type readTopicNamesJob struct{ reign int64 }

func (j *readTopicNamesJob) run(s *cluster.Store) (any, []watchArm) {
	names, ch, err := s.TopicNamesW()
	if err != nil {
		return &topicNamesLoaded{reign: j.reign, err: err}, nil
	}
	return &topicNamesLoaded{reign: j.reign, names: names}, []watchArm{{ch: ch, fired: &ctrlWatchFired{reign: j.reign, kind: "topics"}}}
}

type readTopicsJob struct {
	reign int64
	names []string
}

func (j *readTopicsJob) run(s *cluster.Store) (any, []watchArm) {
	topics, watches := readTopics(s, j.reign, j.names)
	return &topicsLoaded{reign: j.reign, topics: topics}, watches
}

type readDeletionsJob struct{ reign int64 }

func (j *readDeletionsJob) run(s *cluster.Store) (any, []watchArm) {
	names, ch, err := s.TopicsMarkedForDeletionW()
	if err != nil {
		return &deletionsLoaded{reign: j.reign, err: err}, nil
	}
	return &deletionsLoaded{reign: j.reign, names: names}, []watchArm{{ch: ch, fired: &ctrlWatchFired{reign: j.reign, kind: "deletions"}}}
}

// readConfigChangesJob reads the topic configs changed since the
// notification last, and removes processed notifications older than
// configChangeExpiry (Kafka's listeners purge them the same way).
type readConfigChangesJob struct {
	reign int64
	last  string
}

func (j *readConfigChangesJob) run(s *cluster.Store) (any, []watchArm) {
	changes, last, ch, err := s.ConfigChangesSince(j.last, true)
	if err != nil {
		return &configsChanged{reign: j.reign, err: err}, nil
	}
	if err := s.PruneConfigChanges(last, configChangeExpiry); err != nil && !errors.Is(err, cluster.ErrNoNode) {
		// Harmless: the next round tries again.
		_ = err
	}
	return &configsChanged{reign: j.reign, last: last, configs: changes.Topics, brokers: changes.Brokers},
		[]watchArm{{ch: ch, fired: &ctrlWatchFired{reign: j.reign, kind: "configs"}}}
}

// writeStatesJob writes partition states, fenced by the controller epoch.
type writeStatesJob struct {
	reign   int64
	epoch   int32
	epochZk int32
	changes []stateChange
}

func (j *writeStatesJob) run(s *cluster.Store) (any, []watchArm) {
	res := make([]writeResult, 0, len(j.changes))
	if len(j.changes) > 0 && j.changes[0].create {
		states := make(map[int32]cluster.LeaderAndIsr, len(j.changes))
		for _, ch := range j.changes {
			states[ch.tp.Partition] = ch.state
		}
		failed, err := s.CreatePartitionStates(j.epoch, j.epochZk, j.changes[0].tp.Topic, states)
		for _, ch := range j.changes {
			e := err
			if e == nil {
				e = failed[ch.tp.Partition]
			}
			res = append(res, writeResult{change: ch, outcome: classifyWrite(e), err: e})
		}
		return &statesWritten{reign: j.reign, results: res}, nil
	}
	for i, ch := range j.changes {
		v, err := s.UpdatePartitionState(j.epoch, j.epochZk, ch.tp.Topic, ch.tp.Partition, ch.state, ch.expected)
		out := classifyWrite(err)
		res = append(res, writeResult{change: ch, outcome: out, newVersion: v, err: err})
		if out == writeFenced {
			for _, rest := range j.changes[i+1:] {
				res = append(res, writeResult{change: rest, outcome: writeFenced, err: err})
			}
			break
		}
	}
	return &statesWritten{reign: j.reign, results: res}, nil
}

// readStatesJob reads partition states back (after unconfirmed writes).
type readStatesJob struct {
	reign int64
	tps   []TopicPartition
}

func (j *readStatesJob) run(s *cluster.Store) (any, []watchArm) {
	res := make([]rereadResult, 0, len(j.tps))
	for _, tp := range j.tps {
		st, v, err := s.PartitionState(tp.Topic, tp.Partition)
		r := rereadResult{tp: tp, state: st, version: v, exists: err == nil}
		if err != nil && !errors.Is(err, cluster.ErrNoNode) {
			r.err = err
		}
		res = append(res, r)
	}
	return &statesReread{reign: j.reign, results: res}, nil
}

// deleteTopicJob removes a deleted topic's znodes (idempotent: whichever
// still exist).
type deleteTopicJob struct {
	reign   int64
	epochZk int32
	topic   string
}

func (j *deleteTopicJob) run(s *cluster.Store) (any, []watchArm) {
	return &topicZNodesDeleted{reign: j.reign, topic: j.topic, err: s.DeleteTopicZNodes(j.epochZk, j.topic)}, nil
}

// --- reading helpers -------------------------------------------------------------

func readBrokersW(s *cluster.Store) ([]cluster.BrokerInfo, <-chan cluster.WatchEvent, error) {
	ids, ch, err := s.BrokerIDsW()
	if err != nil {
		return nil, nil, err
	}
	out := make([]cluster.BrokerInfo, 0, len(ids))
	for _, id := range ids {
		b, err := s.Broker(id)
		if errors.Is(err, cluster.ErrNoNode) {
			continue // left since the listing; the watch has fired
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, b)
	}
	return out, ch, nil
}

// readTopics reads topics with their configs and states, watching each.
func readTopics(s *cluster.Store, reign int64, names []string) ([]loadedTopic, []watchArm) {
	out := make([]loadedTopic, 0, len(names))
	var watches []watchArm
	for _, n := range names {
		lt := loadedTopic{name: n}
		var ch <-chan cluster.WatchEvent
		lt.info, ch, lt.err = s.TopicW(n)
		if errors.Is(lt.err, cluster.ErrUnknownTopic) {
			continue // deleted since the listing
		}
		if ch != nil {
			watches = append(watches, watchArm{ch: ch, fired: &ctrlWatchFired{reign: reign, kind: "topic", topic: n}})
		}
		if lt.err == nil {
			lt.configs, lt.err = s.TopicConfig(n)
		}
		if lt.err == nil {
			lt.states, lt.versions, lt.err = s.PartitionStates(n)
		}
		out = append(out, lt)
	}
	return out, watches
}

// --- reassignment ----------------------------------------------------------------

type (
	topicWritten struct {
		reign   int64
		topic   string
		version int32
		err     error
	}
	reassignmentsLoaded struct {
		reign    int64
		requests []cluster.Reassignment
		version  int32
		err      error
	}
	reassignmentsCleared struct {
		reign int64
		err   error
	}
)

func (m *topicWritten) reignOf() int64         { return m.reign }
func (m *reassignmentsLoaded) reignOf() int64  { return m.reign }
func (m *reassignmentsCleared) reignOf() int64 { return m.reign }

// writeTopicJob rewrites a topic znode (a move recorded or completed),
// fenced by the controller epoch and conditional on the version read.
type writeTopicJob struct {
	reign   int64
	epochZk int32
	info    cluster.TopicInfo
}

func (j *writeTopicJob) run(s *cluster.Store) (any, []watchArm) {
	v, err := s.UpdateTopicAssignment(j.epochZk, j.info)
	return &topicWritten{reign: j.reign, topic: j.info.Name, version: v, err: err}, nil
}

// readReassignmentsJob reads /admin/reassign_partitions and watches it.
type readReassignmentsJob struct{ reign int64 }

func (j *readReassignmentsJob) run(s *cluster.Store) (any, []watchArm) {
	rs, v, ch, err := s.ReassignmentsW()
	if err != nil {
		return &reassignmentsLoaded{reign: j.reign, err: err}, nil
	}
	return &reassignmentsLoaded{reign: j.reign, requests: rs, version: v},
		[]watchArm{{ch: ch, fired: &ctrlWatchFired{reign: j.reign, kind: "reassignments"}}}
}

// readPreferredJob reads /admin/preferred_replica_election.
type readPreferredJob struct{ reign int64 }

func (j *readPreferredJob) run(s *cluster.Store) (any, []watchArm) {
	ps, v, ch, err := s.PreferredElectionsW()
	if err != nil {
		return &preferredLoaded{reign: j.reign, err: err}, nil
	}
	return &preferredLoaded{reign: j.reign, partitions: ps, version: v},
		[]watchArm{{ch: ch, fired: &ctrlWatchFired{reign: j.reign, kind: "preferred"}}}
}

// deletePreferredJob removes /admin/preferred_replica_election once its
// elections are requested.
type deletePreferredJob struct {
	reign   int64
	epochZk int32
	version int32
}

func (j *deletePreferredJob) run(s *cluster.Store) (any, []watchArm) {
	return &preferredCleared{reign: j.reign, err: s.DeletePreferredElections(j.epochZk, j.version)}, nil
}

// preferredLoaded and preferredCleared are their results.
type (
	preferredLoaded struct {
		reign      int64
		partitions []cluster.PartitionRef
		version    int32
		err        error
	}
	preferredCleared struct {
		reign int64
		err   error
	}
)

func (m *preferredLoaded) reignOf() int64  { return m.reign }
func (m *preferredCleared) reignOf() int64 { return m.reign }

// deleteReassignmentsJob removes /admin/reassign_partitions once its
// requests are recorded.
type deleteReassignmentsJob struct {
	reign   int64
	epochZk int32
	version int32
}

func (j *deleteReassignmentsJob) run(s *cluster.Store) (any, []watchArm) {
	return &reassignmentsCleared{reign: j.reign, err: s.DeleteReassignments(j.epochZk, j.version)}, nil
}
