package cluster

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// benchCluster is topics × parts partitions of RF 3 placed by
// AssignReplicas (Kafka's round robin, so already balanced) on brokers
// 1..brokers, with random sizes (1 MiB–1 GiB) and loads, plus one new empty
// broker: the common "a broker joined" rebalance.
func benchCluster(topics, parts, brokers int) PlanInput {
	rng := rand.New(rand.NewPCG(42, 1))
	var in PlanInput
	var metas []BrokerMeta
	for id := int32(1); id <= int32(brokers); id++ {
		metas = append(metas, BrokerMeta{ID: id})
		in.Brokers = append(in.Brokers, PlanBroker{ID: id})
	}
	in.Brokers = append(in.Brokers, PlanBroker{ID: int32(brokers) + 1})
	for t := 0; t < topics; t++ {
		assign, err := AssignReplicas(metas, parts, 3, t%brokers, 0)
		if err != nil {
			panic(err)
		}
		for p := 0; p < parts; p++ {
			in.Partitions = append(in.Partitions, PlanPartition{
				Topic:     fmt.Sprintf("topic-%04d", t),
				Partition: int32(p),
				Replicas:  assign[int32(p)],
				Size:      1<<20 + rng.Int64N(1<<30),
				BytesIn:   float64(rng.IntN(1 << 20)),
			})
		}
	}
	return in
}

// BenchmarkPlanRebalance100k plans a new broker into 30 brokers holding
// 1000 topics × 100 partitions (100,000 partitions, 300,000 replicas).
// Setup is excluded; it reports bytes moved against the lower bound.
func BenchmarkPlanRebalance100k(b *testing.B) {
	benchPlan(b, benchCluster(1000, 100, 30))
}

// BenchmarkPlanRebalanceSize sweeps the cluster size at 30 + 1 brokers.
func BenchmarkPlanRebalanceSize(b *testing.B) {
	for _, topics := range []int{10, 100, 300} {
		b.Run(fmt.Sprintf("partitions=%d", topics*100), func(b *testing.B) {
			benchPlan(b, benchCluster(topics, 100, 30))
		})
	}
}

// BenchmarkPlanRebalanceScenarios runs the 100,000-partition cluster
// through other common plans: a broker leaving (its 10,000 replicas
// re-created), racks that a rack-unaware placement ignored (most partitions
// need a replica moved; 31 brokers in 3 racks cannot be within one), one
// broker above the disk threshold (it sheds by swaps), and a single topic
// of 100,000 partitions (long per-topic candidate lists).
func BenchmarkPlanRebalanceScenarios(b *testing.B) {
	scenarios := []struct {
		name  string
		setup func(in *PlanInput)
	}{
		{"leaving", func(in *PlanInput) { in.Brokers[3].Leaving = true }},
		{"racks", func(in *PlanInput) {
			for i := range in.Brokers {
				in.Brokers[i].Rack = fmt.Sprintf("r%d", i%3)
			}
		}},
		{"threshold", func(in *PlanInput) {
			for i := range in.Brokers {
				in.Brokers[i].DiskCapacity, in.Brokers[i].DiskUsed = 8<<40, 5<<40
			}
			in.Brokers[0].DiskUsed = 7 << 40                 // 87.5%: must shed 600 GiB
			in.Brokers[len(in.Brokers)-1].DiskUsed = 1 << 30 // the new broker is empty
		}},
	}
	for _, sc := range scenarios {
		b.Run("scenario="+sc.name, func(b *testing.B) {
			in := benchCluster(1000, 100, 30)
			sc.setup(&in)
			benchPlan(b, in)
		})
	}
	b.Run("scenario=onetopic", func(b *testing.B) { benchPlan(b, benchCluster(1, 100000, 30)) })
}

func benchPlan(b *testing.B, in PlanInput) {
	b.ReportAllocs()
	b.ResetTimer()
	var pl Plan
	evals := 0
	for i := 0; i < b.N; i++ {
		// PlanRebalance, keeping the state to report the search's work.
		s, err := newPlanState(in, nil)
		if err != nil {
			b.Fatal(err)
		}
		s.fixPlacement()
		s.optimize(true, true)
		pl, evals = s.result(), s.loadEvals
	}
	b.StopTimer()
	b.ReportMetric(float64(evals), "evals")
	b.ReportMetric(float64(len(pl.Moves)), "moves")
	b.ReportMetric(float64(pl.BytesMoved)/float64(max(1, pl.LowerBound)), "bytes/bound")
	var unmet []string
	for _, g := range pl.Report.Goals {
		if !g.Satisfied {
			unmet = append(unmet, fmt.Sprintf("%d (%s)", g.Goal, g.Reason))
		}
	}
	b.Logf("moves %d, bytes moved %d, lower bound %d (ratio %.4f); goals not met: %v",
		len(pl.Moves), pl.BytesMoved, pl.LowerBound, float64(pl.BytesMoved)/float64(max(1, pl.LowerBound)), unmet)
}

// wideCluster is brokers brokers holding topics × parts partitions of RF 3
// with sizes log-uniform between 1 MiB and 100 GiB (a few huge partitions
// among many small ones: the hard case for goal 4), plus one new broker.
func wideCluster(topics, parts, brokers int) PlanInput {
	in := benchCluster(topics, parts, brokers)
	rng := rand.New(rand.NewPCG(7, 3))
	lo, hi := math.Log(1<<20), math.Log(100<<30)
	for i := range in.Partitions {
		in.Partitions[i].Size = int64(math.Exp(lo + rng.Float64()*(hi-lo)))
	}
	return in
}

// BenchmarkPlanRebalanceWide is the many-broker case at tight tolerances:
// 100 brokers + 1, 3000 partitions of log-uniform sizes, at 1%, and at
// 0.1%, which the sizes do not allow: the search stops at its bound
// (maxLoadEvals) with the brokers within the coarser stages. The default
// tolerance is BenchmarkPlanRebalanceBrokers/brokers=100.
func BenchmarkPlanRebalanceWide(b *testing.B) {
	for _, tol := range []float64{0.01, 0.001} {
		b.Run(fmt.Sprintf("tolerance=%g", tol), func(b *testing.B) {
			in := wideCluster(30, 100, 100)
			in.LoadTolerance = tol
			benchPlan(b, in)
		})
	}
}

// BenchmarkPlanRebalanceBrokers sweeps the broker count at 30 partitions
// (90 replicas) per broker, log-uniform sizes, default tolerance, one new
// broker.
func BenchmarkPlanRebalanceBrokers(b *testing.B) {
	for _, n := range []int{100, 300, 1000} {
		b.Run(fmt.Sprintf("brokers=%d", n), func(b *testing.B) {
			benchPlan(b, wideCluster(n/10*3, 100, n))
		})
	}
}
