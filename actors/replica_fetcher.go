package actors

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
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
		pid         *actor.PID
		leaderEpoch int32
	}

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
		leaderEpoch  int32
		records      []byte
		leaderHW     int64
		leaderStart  int64
		outOfRange   bool // the fetch offset was out of the leader's range
		fetchOffset  int64
		fetchedEpoch int32
	}
	// followerState is a follower partition's answer to the three above.
	followerState struct {
		tp          TopicPartition
		leaderEpoch int32
		// ok is false when the partition no longer follows under
		// leaderEpoch (stale message) or failed; the fetcher drops it.
		ok bool
		// needsTruncation: fetch offsets must first be checked with the
		// leader (the follower's latest epoch is latestEpoch).
		needsTruncation bool
		latestEpoch     int32
		logEnd          int64
		logStart        int64
		err             error
	}

	fetcherConnected struct {
		client LeaderClient
		err    error
	}
	fetcherFetched struct {
		parts []FetchedPartition
		sent  map[TopicPartition]int64 // fetch offsets sent
		err   error
	}
	fetcherEpochs struct {
		answers []EpochAnswer
		err     error
	}
	fetcherRetry struct{}
)

// fetchPhase is where a followed partition is in the fetcher's cycle.
type fetchPhase uint8

const (
	phaseInit     fetchPhase = iota // waiting for the partition's followerState
	phaseTruncate                   // needs OffsetForLeaderEpoch from the leader
	phaseFetch                      // fetching at offset
)

type fetchState struct {
	pid         *actor.PID
	leaderEpoch int32
	phase       fetchPhase
	latestEpoch int32
	offset      int64
	logStart    int64
	// hw is the leader's high watermark last handed to the partition.
	hw int64
	// busy: a message to the partition is outstanding (its answer moves
	// the state on); the partition is left out of fetches meanwhile.
	busy     bool
	busySent time.Time
}

// fetcherConfig is what a fetcher needs.
type fetcherConfig struct {
	localID      int32
	localEpoch   func() int64
	leader       *messages.Broker
	dial         DialLeaderFunc
	maxWait      time.Duration
	minBytes     int32
	maxBytes     int32
	partMaxBytes int32
	log          zerolog.Logger
	// onStart runs in the fetcher's Started (it tells the parent).
	onStart func(actor.Context)
}

// fetcherActor replicates every partition this broker follows from one
// leader broker: one connection, one fetch session covering all of them
// (Kafka's ReplicaFetcherThread, as an actor). Network calls run on a
// goroutine and report back by message; the actor keeps each partition's
// phase: init → (truncate by leader epoch) → fetch.
//
// A fetch is in flight at most once; a partition whose previous fetched
// data is still being appended is left out of the next fetch, so the
// fetch offset always comes from the partition's own answer.
//
// Supervision: default restart; a restarted fetcher has no partitions,
// so the replica manager (its parent) re-adds them (see replicaManager).
type fetcherActor struct {
	cfg      fetcherConfig
	log      zerolog.Logger
	client   LeaderClient
	parts    map[TopicPartition]*fetchState
	inFlight bool
	dialing  bool
	backoff  time.Duration
	retrying bool
	self     *actor.PID
	system   *actor.ActorSystem
	stopped  bool
}

func newFetcherProps(cfg fetcherConfig) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &fetcherActor{cfg: cfg, parts: map[TopicPartition]*fetchState{},
			log: cfg.log.With().Str("actor", "fetcher").Int32("leader", cfg.leader.Id).Logger()}
	})
}

func (f *fetcherActor) leaderAddr() string {
	return net.JoinHostPort(f.cfg.leader.Host, strconv.Itoa(int(f.cfg.leader.Port)))
}

// Receive handles the fetcher's messages.
func (f *fetcherActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		f.self, f.system = ctx.Self(), ctx.ActorSystem()
		if f.cfg.onStart != nil {
			f.cfg.onStart(ctx)
		}
	case *actor.Stopping:
		f.stopped = true
		if f.client != nil {
			_ = f.client.Close() // unblocks a fetch in flight
		}
	case *followPartitions:
		for _, sp := range m.parts {
			f.parts[sp.tp] = &fetchState{pid: sp.pid, leaderEpoch: sp.leaderEpoch, phase: phaseInit}
			f.ask(ctx, sp.tp, &followerStateRequest{leaderEpoch: sp.leaderEpoch})
		}
	case *unfollowPartitions:
		for _, tp := range m.tps {
			delete(f.parts, tp)
		}
	case *followerState:
		f.partitionAnswered(m)
	case *fetcherConnected:
		f.dialing = false
		if m.err != nil {
			f.log.Warn().Err(m.err).Str("addr", f.leaderAddr()).Msg("cannot connect to leader; retrying")
			f.retryLater()
			return
		}
		if f.stopped {
			_ = m.client.Close()
			return
		}
		f.client, f.backoff = m.client, 0
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
			f.ask(ctx, a.TP, &truncateFollower{leaderEpoch: st.leaderEpoch, answer: a})
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
		f.fetched(ctx, m)
	case *fetcherRetry:
		f.retrying = false
	case tick:
		// Partitions whose answer never came (their actor restarted) start over.
		for tp, st := range f.parts {
			if st.busy && time.Since(st.busySent) > 10*time.Second {
				st.phase = phaseInit
				f.ask(ctx, tp, &followerStateRequest{leaderEpoch: st.leaderEpoch})
			}
		}
	}
	f.kick()
}

// ask sends a message to a partition actor and marks it busy.
func (f *fetcherActor) ask(ctx actor.Context, tp TopicPartition, msg any) {
	st := f.parts[tp]
	st.busy, st.busySent = true, time.Now()
	ctx.Request(st.pid, msg)
}

func (f *fetcherActor) partitionAnswered(m *followerState) {
	st := f.parts[m.tp]
	if st == nil || st.leaderEpoch != m.leaderEpoch {
		return
	}
	st.busy = false
	switch {
	case !m.ok:
		delete(f.parts, m.tp)
	case m.needsTruncation:
		st.phase, st.latestEpoch = phaseTruncate, m.latestEpoch
	default:
		st.phase, st.offset, st.logStart = phaseFetch, m.logEnd, m.logStart
	}
}

func (f *fetcherActor) retryLater() {
	if f.retrying {
		return
	}
	f.retrying = true
	f.backoff = min(max(2*f.backoff, 50*time.Millisecond), 2*time.Second)
	self, system := f.self, f.system
	time.AfterFunc(f.backoff, func() { system.Root.Send(self, &fetcherRetry{}) })
}

func (f *fetcherActor) connectionFailed(err error) {
	if !f.stopped {
		f.log.Warn().Err(err).Msg("replica fetch failed; reconnecting")
	}
	if f.client != nil {
		_ = f.client.Close()
		f.client = nil
	}
	f.retryLater()
}

// kick starts the next network call if none is running.
func (f *fetcherActor) kick() {
	if f.stopped || f.inFlight || f.dialing || f.retrying || len(f.parts) == 0 {
		return
	}
	if f.client == nil {
		f.dialing = true
		dial, addr, id, self, system := f.cfg.dial, f.leaderAddr(), f.cfg.localID, f.self, f.system
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := dial(ctx, addr, id)
			system.Root.Send(self, &fetcherConnected{client: c, err: err})
		}()
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
	for tp, st := range f.parts {
		if st.busy {
			continue
		}
		switch st.phase {
		case phaseTruncate:
			qs = append(qs, EpochQuery{TP: tp, CurrentLeaderEpoch: st.leaderEpoch, LeaderEpoch: st.latestEpoch})
		case phaseFetch:
			fp = append(fp, FetchPartition{TP: tp, FetchOffset: st.offset, LogStartOffset: st.logStart,
				CurrentLeaderEpoch: st.leaderEpoch, MaxBytes: f.cfg.partMaxBytes})
			sent[tp] = st.offset
		}
	}
	client, self, system := f.client, f.self, f.system
	switch {
	case len(qs) > 0:
		f.inFlight = true
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			answers, err := client.OffsetsForLeaderEpoch(ctx, qs)
			system.Root.Send(self, &fetcherEpochs{answers: answers, err: err})
		}()
	case len(fp) > 0:
		f.inFlight = true
		req := &ReplicaFetch{ReplicaID: f.cfg.localID, ReplicaEpoch: f.cfg.localEpoch(), MaxWaitMs: int32(f.cfg.maxWait / time.Millisecond),
			MinBytes: f.cfg.minBytes, MaxBytes: f.cfg.maxBytes, Partitions: fp}
		timeout := f.cfg.maxWait + 10*time.Second
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			parts, err := client.Fetch(ctx, req)
			system.Root.Send(self, &fetcherFetched{parts: parts, sent: sent, err: err})
		}()
	}
}

// fetched hands each partition's fetched data to its actor.
func (f *fetcherActor) fetched(ctx actor.Context, m *fetcherFetched) {
	errs, ok := 0, 0
	defer func() {
		if errs > 0 && ok == 0 {
			f.retryLater()
		} else if ok > 0 {
			// The backoff grows over a streak of failures only: never
			// reset on a live connection, it reached 2 s after a few
			// leadership moves and then delayed a follower's first fetch
			// under a new leader by that much.
			f.backoff = 0
		}
	}()
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
			st.hw = p.HighWatermark
			f.ask(ctx, p.TP, &appendFromLeader{leaderEpoch: st.leaderEpoch, records: p.Records, leaderHW: p.HighWatermark,
				leaderStart: p.LogStartOffset, fetchOffset: off})
		case errors.Is(p.Err, ErrOffsetOutOfRange):
			f.ask(ctx, p.TP, &appendFromLeader{leaderEpoch: st.leaderEpoch, leaderHW: p.HighWatermark, leaderStart: p.LogStartOffset,
				outOfRange: true, fetchOffset: off})
		case errors.Is(p.Err, ErrFencedLeaderEpoch), errors.Is(p.Err, ErrUnknownLeaderEpoch), errors.Is(p.Err, ErrNotLeader):
			// Leadership moved or the leader has not applied its
			// LeaderAndIsr yet; the controller will tell us. Keep trying.
		default:
			f.log.Warn().Err(p.Err).Str("topic", p.TP.Topic).Int32("partition", p.TP.Partition).Msg("replica fetch error")
		}
	}
}

// String names the fetcher in logs.
func (f *fetcherActor) String() string { return fmt.Sprintf("fetcher(leader=%d)", f.cfg.leader.Id) }
