package actors

import (
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/messages"
)

// Messages between the replica manager, a fetcher and partition actors.
type (
	// followPartitions adds partitions to a fetcher (they follow its leader).
	followPartitions struct{ parts []followSpec }
	// unfollowPartitions removes partitions from a fetcher.
	unfollowPartitions struct{ tps []TopicPartition }
	followSpec         struct {
		tp          TopicPartition
		topicID     [16]byte
		leaderEpoch int32
		throttled   bool // see fetchState.throttled
	}
	// throttlePartition changes whether a followed partition is throttled.
	throttlePartition struct {
		tp        TopicPartition
		throttled bool
	}
	// brokerEpochChanged tells the manager (and it its fetchers) this
	// broker's epoch: its registration's, sent with every replica fetch.
	brokerEpochChanged struct{ epoch int64 }

	// followerStateRequest asks a follower partition where it stands.
	followerStateRequest struct{ leaderEpoch int32 }
	// truncateFollower applies the leader's answer to OffsetForLeaderEpoch.
	truncateFollower struct {
		leaderEpoch int32
		answer      EpochAnswer
	}
	// appendFromLeader carries fetched batches (possibly none) and the
	// leader's high watermark and log start.
	appendFromLeader struct {
		leaderEpoch int32
		records     []byte
		leaderHW    int64
		leaderStart int64
		outOfRange  bool // the fetch offset was out of the leader's range
		fetchOffset int64
	}
	// followerState is a follower partition's answer to the three above.
	followerState struct {
		tp          TopicPartition
		leaderEpoch int32
		// ok is false when the partition does not follow under leaderEpoch
		// or failed. notYet: it has not applied that epoch yet (the
		// fetcher's registration overtook the partition's LeaderAndIsr,
		// they come from different actors): the fetcher asks again;
		// otherwise the registration is stale and the fetcher drops it.
		ok     bool
		notYet bool
		// needsTruncation: fetch offsets must first be checked with the
		// leader (the follower's latest epoch is latestEpoch).
		needsTruncation bool
		latestEpoch     int32
		logEnd          int64
		logStart        int64
		err             error
	}

	// The network's answers to the fetcher's effects.
	fetcherConnected struct{ err error }
	fetcherFetched   struct {
		parts []FetchedPartition
		sent  map[TopicPartition]int64 // fetch offsets sent
		err   error
	}
	fetcherEpochs struct {
		answers []EpochAnswer
		err     error
	}
)

// Effects of the fetcher core.
type (
	// ask sends a message to the actor of a local partition replica; its
	// answer (a followerState) comes back to the fetcher.
	ask struct {
		tp  TopicPartition
		msg any
	}
	// dialLeader opens the connection to the leader (fetcherConnected).
	dialLeader struct{}
	// sendFetch sends a replica fetch on the connection (fetcherFetched).
	sendFetch struct {
		req  *ReplicaFetch
		sent map[TopicPartition]int64
	}
	// sendEpochs sends OffsetForLeaderEpoch on the connection (fetcherEpochs).
	sendEpochs struct{ qs []EpochQuery }
	// closeConn closes the connection (a call in flight fails).
	closeConn struct{}
)

// fetchPhase is where a followed partition is in the fetcher's cycle.
type fetchPhase uint8

const (
	phaseInit     fetchPhase = iota // waiting for the partition's followerState
	phaseTruncate                   // needs OffsetForLeaderEpoch from the leader
	phaseFetch                      // fetching at offset
)

type fetchState struct {
	topicID     [16]byte
	leaderEpoch int32
	phase       fetchPhase
	latestEpoch int32
	offset      int64
	logStart    int64
	// hw is the leader's high watermark last handed to the partition.
	hw int64
	// busy: a message to the partition is outstanding (its answer moves
	// the state on); the partition is left out of fetches meanwhile.
	busy      bool
	busySince int64 // tick
	// throttled: while behind the leader's high watermark, the partition
	// fetches under the follower replication throttle (a move is adding
	// this replica, or the topic names it).
	throttled bool
}

// fetcherConfig is what a fetcher needs.
type fetcherConfig struct {
	localID      int32
	leader       *messages.Broker
	maxWait      time.Duration
	minBytes     int32
	maxBytes     int32
	partMaxBytes int32
	// tickEvery is the period of the fetcher's ticks (backoff and
	// unanswered-partition timeouts are counted in them).
	tickEvery time.Duration
	// throttle is the broker's follower replication throttle, shared by
	// its fetchers (nil: none). It is the core's one outside input besides
	// its messages: a throttled partition is left out of a fetch while the
	// throttle is exhausted and retried on a later tick.
	throttle *Throttle
	log      zerolog.Logger
}

// fetcher is the core of the replication from one leader broker: one
// connection, one fetch covering every partition this broker follows on
// that leader (Kafka's ReplicaFetcherThread). It keeps each partition's
// phase: init → (truncate by leader epoch) → fetch. A network call is in
// flight at most once; a partition whose previous fetched data is still
// being appended is left out of the next fetch, so the fetch offset always
// comes from the partition's own answer.
//
// Deterministic: no clock (backoff counts ticks), no network (dialLeader,
// sendFetch, sendEpochs are effects, their results inputs). The shell is
// fetcherActor; the simulator runs the same core.
type fetcher struct {
	cfg         fetcherConfig
	log         zerolog.Logger
	brokerEpoch int64
	parts       map[TopicPartition]*fetchState
	connected   bool
	inFlight    bool
	dialing     bool
	// backoff is the current retry delay in ticks (0: none yet); no call
	// starts before retryAt.
	backoff int64
	retryAt int64
	ticks   int64
	out     []effect
}

func newFetcher(cfg fetcherConfig, brokerEpoch int64) *fetcher {
	return &fetcher{cfg: cfg, brokerEpoch: brokerEpoch, parts: map[TopicPartition]*fetchState{},
		log: cfg.log.With().Str("actor", "fetcher").Int32("leader", cfg.leader.Id).Logger()}
}

// busyTicks is how long a partition may leave a message unanswered (its
// actor restarted and lost it) before it starts over.
func (f *fetcher) busyTicks() int64 { return max(1, int64(10*time.Second/f.cfg.tickEvery)) }

// maxBackoffTicks caps the retry delay at about 2 s.
func (f *fetcher) maxBackoffTicks() int64 { return max(1, int64(2*time.Second/f.cfg.tickEvery)) }

func (f *fetcher) emit(e effect) { f.out = append(f.out, e) }

// step takes one input and returns the effects it causes.
func (f *fetcher) step(msg any) []effect {
	f.stepOne(msg)
	f.kick()
	out := f.out
	f.out = nil
	return out
}

func (f *fetcher) stepOne(msg any) {
	switch m := msg.(type) {
	case *followPartitions:
		for _, sp := range m.parts {
			f.parts[sp.tp] = &fetchState{topicID: sp.topicID, leaderEpoch: sp.leaderEpoch, phase: phaseInit, throttled: sp.throttled}
			f.ask(sp.tp, &followerStateRequest{leaderEpoch: sp.leaderEpoch})
		}
	case *throttlePartition:
		if st := f.parts[m.tp]; st != nil {
			st.throttled = m.throttled
		}
	case *unfollowPartitions:
		for _, tp := range m.tps {
			delete(f.parts, tp)
		}
	case *brokerEpochChanged:
		f.brokerEpoch = m.epoch
	case *followerState:
		f.partitionAnswered(m)
	case *fetcherConnected:
		f.dialing = false
		if m.err != nil {
			f.log.Warn().Err(m.err).Msg("cannot connect to leader; retrying")
			f.retryLater()
			return
		}
		f.connected, f.backoff = true, 0
	case *fetcherEpochs:
		f.inFlight = false
		if m.err != nil {
			f.connectionFailed(m.err)
			return
		}
		progressed := false
		for _, a := range m.answers {
			st := f.parts[a.TP]
			if st == nil || st.phase != phaseTruncate {
				continue
			}
			if a.Err != nil {
				// Not the leader (yet) under our epoch: a LeaderAndIsr is
				// on its way; ask again shortly.
				continue
			}
			progressed = true
			f.ask(a.TP, &truncateFollower{leaderEpoch: st.leaderEpoch, answer: a})
		}
		if !progressed {
			f.retryLater()
		} else {
			f.backoff = 0 // the backoff grows over a streak of failures only
		}
	case *fetcherFetched:
		f.inFlight = false
		if m.err != nil {
			f.connectionFailed(m.err)
			return
		}
		f.fetched(m)
	case tick:
		f.ticks++
		// Partitions whose answer never came (their actor restarted) start
		// over; those that had not applied their epoch yet are asked again.
		for _, tp := range sortedTPs(f.parts) {
			st := f.parts[tp]
			if st.busy && f.ticks-st.busySince > f.busyTicks() || !st.busy && st.phase == phaseInit {
				st.phase = phaseInit
				f.ask(tp, &followerStateRequest{leaderEpoch: st.leaderEpoch})
			}
		}
	}
}

// stop closes the connection (the shell calls it when the fetcher stops).
func (f *fetcher) stop() []effect {
	if f.connected || f.dialing || f.inFlight {
		f.connected = false
		return []effect{closeConn{}}
	}
	return nil
}

// ask sends a message to a partition actor and marks it busy.
func (f *fetcher) ask(tp TopicPartition, msg any) {
	st := f.parts[tp]
	st.busy, st.busySince = true, f.ticks
	f.emit(ask{tp: tp, msg: msg})
}

func (f *fetcher) partitionAnswered(m *followerState) {
	st := f.parts[m.tp]
	if st == nil || st.leaderEpoch != m.leaderEpoch {
		return
	}
	st.busy = false
	switch {
	case !m.ok && m.notYet:
		st.phase = phaseInit // asked again on the next tick
	case !m.ok:
		delete(f.parts, m.tp)
	case m.needsTruncation:
		st.phase, st.latestEpoch = phaseTruncate, m.latestEpoch
	default:
		st.phase, st.offset, st.logStart = phaseFetch, m.logEnd, m.logStart
	}
}

// retryLater holds network calls back for the current backoff (the next
// tick at first), doubling it over a streak of failures up to about 2 s.
func (f *fetcher) retryLater() {
	f.backoff = min(max(2*f.backoff, 1), f.maxBackoffTicks())
	f.retryAt = f.ticks + f.backoff
}

func (f *fetcher) connectionFailed(err error) {
	f.log.Warn().Err(err).Msg("replica fetch failed; reconnecting")
	if f.connected {
		f.emit(closeConn{})
		f.connected = false
	}
	f.retryLater()
}

// kick starts the next network call if none is running.
func (f *fetcher) kick() {
	if f.inFlight || f.dialing || f.ticks < f.retryAt || len(f.parts) == 0 {
		return
	}
	if !f.connected {
		f.dialing = true
		f.emit(dialLeader{})
		return
	}
	// While a partition is appending what the last fetch brought, wait for
	// it: the next fetch must carry its new offset, which is how the leader
	// learns the follower's progress (and commits acks=all). Fetching the
	// others without it would park the request at the leader for up to
	// replica.fetch.wait.max.ms with that progress unreported.
	// The same holds for a partition applying the leader's answer to
	// OffsetForLeaderEpoch: it is about to join the fetch, and a fetch
	// sent without it parks at the leader for up to max wait (500 ms)
	// with nothing to return, delaying the first fetch after a failover.
	for _, st := range f.parts {
		if st.busy && (st.phase == phaseFetch || st.phase == phaseTruncate) {
			return
		}
	}
	var qs []EpochQuery
	var fp []FetchPartition
	sent := map[TopicPartition]int64{}
	held := f.cfg.throttle.Exceeded()
	for _, tp := range sortedTPs(f.parts) {
		st := f.parts[tp]
		if st.busy || held && st.phase == phaseFetch && f.throttledNow(st) {
			continue
		}
		switch st.phase {
		case phaseTruncate:
			qs = append(qs, EpochQuery{TP: tp, CurrentLeaderEpoch: st.leaderEpoch, LeaderEpoch: st.latestEpoch})
		case phaseFetch:
			fp = append(fp, FetchPartition{TP: tp, TopicID: st.topicID, FetchOffset: st.offset, LogStartOffset: st.logStart,
				CurrentLeaderEpoch: st.leaderEpoch, MaxBytes: f.cfg.partMaxBytes})
			sent[tp] = st.offset
		}
	}
	switch {
	case len(qs) > 0:
		f.inFlight = true
		f.emit(sendEpochs{qs: qs})
	case len(fp) > 0:
		f.inFlight = true
		f.emit(sendFetch{req: &ReplicaFetch{ReplicaID: f.cfg.localID, ReplicaEpoch: f.brokerEpoch,
			MaxWaitMs: int32(f.cfg.maxWait / time.Millisecond), MinBytes: f.cfg.minBytes, MaxBytes: f.cfg.maxBytes,
			Partitions: fp}, sent: sent})
	}
}

// throttledNow reports whether a partition's fetch counts against the
// follower throttle: it is throttled and behind the leader's high
// watermark (Kafka throttles a follower only while it is not caught up).
func (f *fetcher) throttledNow(st *fetchState) bool {
	return st.throttled && st.offset < st.hw
}

// fetched hands each partition's fetched data to its actor.
func (f *fetcher) fetched(m *fetcherFetched) {
	errs, ok := 0, 0
	for _, p := range m.parts {
		if p.Err != nil {
			errs++
		} else {
			ok++
		}
		st := f.parts[p.TP]
		off, wasSent := m.sent[p.TP]
		if st == nil || !wasSent || st.phase != phaseFetch || st.offset != off {
			continue
		}
		switch {
		case p.Err == nil:
			if len(p.Records) == 0 && p.HighWatermark == st.hw && p.LogStartOffset <= st.logStart {
				continue // nothing new
			}
			if st.throttled && (f.throttledNow(st) || p.HighWatermark > off) {
				f.cfg.throttle.Record(len(p.Records))
			}
			st.hw = p.HighWatermark
			f.ask(p.TP, &appendFromLeader{leaderEpoch: st.leaderEpoch, records: p.Records, leaderHW: p.HighWatermark,
				leaderStart: p.LogStartOffset, fetchOffset: off})
		case errors.Is(p.Err, ErrOffsetOutOfRange):
			f.ask(p.TP, &appendFromLeader{leaderEpoch: st.leaderEpoch, leaderHW: p.HighWatermark, leaderStart: p.LogStartOffset,
				outOfRange: true, fetchOffset: off})
		case errors.Is(p.Err, ErrFencedLeaderEpoch), errors.Is(p.Err, ErrUnknownLeaderEpoch), errors.Is(p.Err, ErrNotLeader):
			// Leadership moved or the leader has not applied its
			// LeaderAndIsr yet; the controller will tell us. Keep trying.
		default:
			f.log.Warn().Err(p.Err).Str("topic", p.TP.Topic).Int32("partition", p.TP.Partition).Msg("replica fetch error")
		}
	}
	switch {
	case errs > 0 && ok == 0:
		f.retryLater()
	case ok > 0:
		// The backoff grows over a streak of failures only: never reset
		// on a live connection, it reached 2 s after a few leadership
		// moves and then delayed a follower's first fetch under a new
		// leader by that much.
		f.backoff = 0
	}
}
