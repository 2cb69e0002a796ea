package sim

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/internal/config"
)

// Config describes one simulated run.
type Config struct {
	Seed    uint64
	Brokers int
	Topics  []TopicSpec
	// FaultTime is how long the nemesis injects faults; HealTime bounds
	// how long the cluster may take to converge after it stops.
	FaultTime time.Duration
	HealTime  time.Duration
	// Nemesis selects the faults drawn (all by default).
	Nemesis NemesisConfig
	// Trace keeps every event's description, printed when a run fails.
	Trace bool
	// Log writes the brokers' own logs (debug) to the trace.
	Log bool
}

// TopicSpec is a topic the run creates at the start.
type TopicSpec struct {
	Name       string
	Partitions int
	RF         int
	MinISR     int
	// FlushMessages 1: fsync before acknowledging (power loss allowed).
	FlushMessages bool
	// Unclean allows unclean leader election: acknowledged records may be
	// lost, and the checker does not count them.
	Unclean bool
}

// DefaultConfig is the run make test uses for each seed.
func DefaultConfig(seed uint64) Config {
	return Config{
		Seed:    seed,
		Brokers: 3,
		Topics: []TopicSpec{
			{Name: "events", Partitions: 2, RF: 3, MinISR: 2},
			{Name: "durable", Partitions: 1, RF: 3, MinISR: 2, FlushMessages: true},
		},
		FaultTime: 30 * time.Second,
		HealTime:  60 * time.Second,
		Nemesis:   AllFaults(),
	}
}

// Timing of the simulated cluster.
const (
	tickEvery      = 100 * time.Millisecond
	sessionTimeout = 6 * time.Second
)

// epoch0 is the simulated wall clock at time 0.
var epoch0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// World is one simulated run.
type World struct {
	cfg       Config
	rng       *rand.Rand
	now       time.Duration
	q         eventQueue
	seq       uint64
	trace     []string
	brokerCfg *config.Broker
	zk        *simZK
	net       *network
	brokers   []*simBroker // index id-1
	clients   *clients
	nemesis   *nemesis
	hist      *history
	// failure is the first violation found (checked as the run goes and
	// at its end).
	failure error
	events  int
	// done: the final checks ran.
	done bool
}

// event is something that happens at a point in simulated time.
type event struct {
	at   time.Duration
	seq  uint64
	what string
	fn   func()
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// NewWorld builds a run.
func NewWorld(cfg Config) *World {
	w := &World{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
	b := config.DefaultBroker()
	b.ZKSessionTimeout = sessionTimeout
	b.ReplicaLagTimeMax = 5 * time.Second
	b.ReplicaFetchWaitMax = 500 * time.Millisecond
	b.AutoLeaderRebalance = cfg.Nemesis.PreferredElections
	b.LeaderImbalanceInterval = 7 * time.Second
	b.ControlledShutdown = true
	// A small bound on concurrent moves per broker makes requested moves
	// wait their turn in the mailbox. Taken from the seed, not the
	// source, so the fault schedule of a seed does not depend on it.
	b.MaxMovesPerBroker = 1 + int(cfg.Seed%3)
	b.AutoRebalance = cfg.Nemesis.Balance
	b.BrokerRemovalGrace = 20 * time.Second
	b.RebalanceSettle = 3 * time.Second
	b.LeaderImbalancePercent = 0 // any imbalance: the elections the seeds were found with
	w.brokerCfg = b
	w.hist = newHistory()
	w.zk = newSimZK(w)
	w.net = newNetwork(w)
	for id := 1; id <= cfg.Brokers; id++ {
		w.brokers = append(w.brokers, newSimBroker(w, int32(id)))
	}
	w.clients = newClients(w)
	w.nemesis = newNemesis(w)
	return w
}

// Now is the simulated wall clock.
func (w *World) Now() time.Time { return epoch0.Add(w.now) }

// after schedules fn d from now.
func (w *World) after(d time.Duration, what string, fn func()) {
	w.seq++
	heap.Push(&w.q, &event{at: w.now + max(d, 0), seq: w.seq, what: what, fn: fn})
}

// tracef records what happened (kept only when tracing).
func (w *World) tracef(format string, args ...any) {
	if !w.cfg.Trace {
		return
	}
	w.trace = append(w.trace, fmt.Sprintf("%9.3fs %s", w.now.Seconds(), fmt.Sprintf(format, args...)))
}

// lazy defers a description to when the trace is written: most runs keep
// none, and describing every message cost a sixth of a run.
type lazyString struct {
	f func(any) string
	v any
}

func (l lazyString) String() string { return l.f(l.v) }

func lazy(f func(any) string, v any) fmt.Stringer { return lazyString{f, v} }

// fail records a violation (the first one wins).
func (w *World) fail(format string, args ...any) {
	if w.failure == nil {
		w.failure = fmt.Errorf("at %.3fs: %s", w.now.Seconds(), fmt.Sprintf(format, args...))
		w.tracef("VIOLATION: %v", w.failure)
	}
}

// jitter returns a duration in [lo, hi).
func (w *World) jitter(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(w.rng.Int64N(int64(hi-lo)))
}

// chance reports true with probability p.
func (w *World) chance(p float64) bool { return w.rng.Float64() < p }

// logger is the brokers' logger: into the trace at debug, or nowhere.
func (w *World) logger(id int32) zerolog.Logger {
	if !w.cfg.Log || !w.cfg.Trace {
		return zerolog.Nop()
	}
	return zerolog.New(traceWriter{w: w, id: id}).Level(zerolog.DebugLevel)
}

type traceWriter struct {
	w  *World
	id int32
}

func (t traceWriter) Write(p []byte) (int, error) {
	t.w.tracef("b%d log %s", t.id, strings.TrimSpace(string(p)))
	return len(p), nil
}

// Result is what a run found.
type Result struct {
	Seed   uint64
	Events int
	// Err is the first violation, nil when every check passed.
	Err   error
	Trace []string
	// Stats summarize what the run did.
	Acked, Lost, Faults int
}

// Run runs the world to its end: setup, faults, healing, checks.
func (w *World) Run() Result {
	w.setup()
	end := w.cfg.FaultTime + w.cfg.HealTime + 30*time.Second
	for w.q.Len() > 0 && w.failure == nil {
		e := heap.Pop(&w.q).(*event)
		if e.at > end {
			break
		}
		w.now = e.at
		w.events++
		e.fn()
		w.zk.pollWatches()
		w.clients.poll()
		if w.done {
			break
		}
	}
	if w.failure == nil && !w.done {
		w.fail("the run did not finish: the cluster never converged after the faults stopped")
	}
	if w.failure != nil {
		for _, b := range w.brokers {
			if b.node != nil {
				w.tracef("state: %s", b.node.Debug())
			} else {
				w.tracef("state: broker %d down", b.id)
			}
		}
	}
	return Result{Seed: w.cfg.Seed, Events: w.events, Err: w.failure, Trace: w.trace,
		Acked: w.hist.ackedCount(), Faults: w.nemesis.count}
}
