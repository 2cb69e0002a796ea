package sim

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

var (
	seedFlag    = flag.Uint64("seed", 0, "run only this seed, with its trace")
	seedsFlag   = flag.Int("seeds", 0, "how many seeds TestSimSeeds runs (default: as many as fit in -simtime)")
	firstFlag   = flag.Uint64("first", 1, "the first seed TestSimSeeds runs")
	timeFlag    = flag.Duration("simtime", 90*time.Second, "how long TestSimSeeds runs seeds for when -seeds is not given")
	logFlag     = flag.Bool("simlog", false, "with -seed: the brokers' own debug logs in the trace")
	moveFlag    = flag.Bool("reassign", true, "the nemesis moves partitions (false: the schedules of seeds found before it did)")
	balanceFlag = flag.Bool("balance", true, "the controller balances automatically (false: the schedules of seeds found before it did)")
)

// regressions are seeds that found bugs: each must keep passing. They
// were found before the nemesis moved partitions, and run without it, so
// that they replay the schedule that found their bug.
var regressions = []uint64{
	1,    // a controller that re-checked /controller and resigned never competed again: no controller
	4,    // a fetcher dropped a partition whose LeaderAndIsr it overtook: the follower never rejoined the ISR
	19,   // a partition read back after an unknown write outcome was never sent to a broker that joined meanwhile
	39,   // LeaderAndIsr and UpdateMetadata lost on a cut link were never sent again
	156,  // (simulator) a frozen broker's registration retry was dropped
	271,  // a restarted leader kept its leader epoch and appended a history that diverged from its followers'
	1194, // a follower told "no leader" by one controller ignored the next, which named the leader at the same epoch
	1356, // UpdateMetadata versions of a broker's earlier registration were taken for the current count: stale metadata for good
	1407, // a broker whose re-registration's reply was lost answered pings with its old epoch and was evicted while reachable
	2412, // an ISR change rewritten after its leader restarted stamped the new broker epoch on it: nobody led, no election followed
	2811, // a topic created and marked for deletion before the controller read it was created anyway: its replicas outlived its znodes
}

// moveRegressions are seeds that found bugs with the nemesis moving
// partitions.
var moveRegressions = []uint64{
	48,   // a replica removed while its broker was unreachable, and the controller then failed over: never deleted
	277,  // a topic rewrite lost before it applied left the move's request pending for good: the mailbox never went
	2093, // a move taken over by a new controller was never told at a new epoch: its leader refused the new replica for good
}

// balanceRegressions are seeds that found bugs with the controller's
// automatic balancer on.
var balanceRegressions = []uint64{}

// TestSimRegressions replays the seeds that once found bugs.
func TestSimRegressions(t *testing.T) {
	if *seedFlag != 0 {
		t.Skip("-seed given: TestSimSeed runs it")
	}
	for _, seed := range regressions {
		runConfig(t, withoutMoves(DefaultConfig(seed)), false)
	}
	for _, seed := range moveRegressions {
		runConfig(t, withoutBalance(DefaultConfig(seed)), false)
	}
	for _, seed := range balanceRegressions {
		runConfig(t, DefaultConfig(seed), false)
	}
}

// TestSimDeterministic: a seed replays exactly (the same trace twice).
func TestSimDeterministic(t *testing.T) {
	if *seedFlag != 0 {
		t.Skip("-seed given")
	}
	for _, seed := range []uint64{77, 271, 1194} {
		run := func() []string {
			cfg := DefaultConfig(seed)
			cfg.Trace, cfg.Log = true, true
			return NewWorld(cfg).Run().Trace
		}
		a, b := run(), run()
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Fatalf("seed %d diverged at event %d:\n%s\n%s", seed, i, a[i], b[i])
			}
		}
		if len(a) != len(b) {
			t.Fatalf("seed %d traced %d events, then %d", seed, len(a), len(b))
		}
	}
}

// TestSimSeed replays one seed with its trace: go test ./internal/sim -run TestSimSeed -seed N -v.
func TestSimSeed(t *testing.T) {
	if *seedFlag == 0 {
		t.Skip("no -seed given")
	}
	runSeed(t, *seedFlag, true)
}

// TestSimSeeds runs consecutive seeds: -seeds of them, or as many as fit
// in -simtime (make test: about two minutes in all).
func TestSimSeeds(t *testing.T) {
	if *seedFlag != 0 {
		t.Skip("-seed given")
	}
	start := time.Now()
	n := 0
	for seed := *firstFlag; ; seed++ {
		if *seedsFlag > 0 && n >= *seedsFlag {
			break
		}
		if *seedsFlag == 0 && time.Since(start) > *timeFlag {
			break
		}
		if !runSeed(t, seed, false) {
			break
		}
		n++
	}
	el := time.Since(start)
	t.Logf("%d seeds from %d in %v: %.2f seeds/s", n, *firstFlag, el.Round(time.Millisecond), float64(n)/el.Seconds())
}

// runSeed runs one seed; a failure is rerun with tracing and reported with
// its replay command.
func runSeed(t *testing.T, seed uint64, verbose bool) bool {
	t.Helper()
	cfg := DefaultConfig(seed)
	if !*balanceFlag {
		cfg = withoutBalance(cfg)
	}
	if !*moveFlag {
		cfg = withoutMoves(cfg)
	}
	return runConfig(t, cfg, verbose)
}

// withoutMoves is cfg with a nemesis that does not reassign partitions
// (nor balance them).
func withoutMoves(cfg Config) Config {
	cfg.Nemesis.Reassign = false
	return withoutBalance(cfg)
}

// withoutBalance is cfg without the controller's automatic balancer.
func withoutBalance(cfg Config) Config {
	cfg.Nemesis.Balance = false
	return cfg
}

func runConfig(t *testing.T, cfg Config, verbose bool) bool {
	t.Helper()
	seed := cfg.Seed
	cfg.Trace = verbose
	cfg.Log = verbose && *logFlag
	res := NewWorld(cfg).Run()
	if verbose {
		t.Logf("seed %d: %d events, %d faults, %d batches acknowledged", seed, res.Events, res.Faults, res.Acked)
	}
	if res.Err == nil {
		return true
	}
	if !verbose {
		cfg.Trace = true
		res = NewWorld(cfg).Run()
	}
	path := fmt.Sprintf("%s/sim-seed-%d.trace", os.TempDir(), seed)
	_ = os.WriteFile(path, []byte(strings.Join(res.Trace, "\n")+"\n"), 0o644)
	tail := res.Trace
	if len(tail) > 80 {
		tail = tail[len(tail)-80:]
	}
	replay := fmt.Sprintf("go test ./internal/sim -run TestSimSeed -seed %d -v", seed)
	if !cfg.Nemesis.Reassign {
		replay += " -reassign=false"
	}
	if !cfg.Nemesis.Balance {
		replay += " -balance=false"
	}
	t.Errorf("seed %d: %v\nreplay: %s\nfull trace: %s\nlast events:\n%s",
		seed, res.Err, replay, path, strings.Join(tail, "\n"))
	return false
}

// TestSimDump writes a seed's trace to a file (-seed, -dump).
func TestSimDump(t *testing.T) {
	if *dumpFlag == "" {
		t.Skip("no -dump")
	}
	cfg := DefaultConfig(*seedFlag)
	cfg.Trace = true
	cfg.Log = *logFlag
	res := NewWorld(cfg).Run()
	_ = os.WriteFile(*dumpFlag, []byte(strings.Join(res.Trace, "\n")+"\n"), 0o644)
	t.Logf("seed %d: %v (%d events)", *seedFlag, res.Err, res.Events)
}

var dumpFlag = flag.String("dump", "", "TestSimDump: write the trace of -seed here")
