package cluster

import (
	"fmt"
	"reflect"
	"testing"
)

func TestAssignReplicasKafkaExamples(t *testing.T) {
	// The examples in Kafka's AdminUtils documentation.
	t.Run("RackUnaware", func(t *testing.T) {
		brokers := []BrokerMeta{{ID: 0}, {ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}}
		got, err := AssignReplicas(brokers, 10, 3, 0, 0)
		must(t, err)
		// broker-0..4 hold p0..p4 and p5..p9 as first replicas; the second
		// replicas are shifted by one (then two after a full round).
		want := map[int32][]int32{
			0: {0, 1, 2}, 1: {1, 2, 3}, 2: {2, 3, 4}, 3: {3, 4, 0}, 4: {4, 0, 1},
			5: {0, 2, 3}, 6: {1, 3, 4}, 7: {2, 4, 0}, 8: {3, 0, 1}, 9: {4, 1, 2},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got  %v\nwant %v", got, want)
		}
	})
	t.Run("RackAware", func(t *testing.T) {
		// 0→rack1, 1→rack3, 2→rack3, 3→rack2, 4→rack2, 5→rack1: alternated
		// list 0,3,1,5,4,2; 6 partitions RF 3 then partition 6 shifted.
		brokers := []BrokerMeta{{0, "rack1"}, {1, "rack3"}, {2, "rack3"}, {3, "rack2"}, {4, "rack2"}, {5, "rack1"}}
		if got := rackAlternated(sortedMeta(brokers)); !reflect.DeepEqual(ids(got), []int32{0, 3, 1, 5, 4, 2}) {
			t.Fatalf("alternated %v", ids(got))
		}
		got, err := AssignReplicas(brokers, 7, 3, 0, 0)
		must(t, err)
		want := map[int32][]int32{
			0: {0, 3, 1}, 1: {3, 1, 5}, 2: {1, 5, 4}, 3: {5, 4, 2}, 4: {4, 2, 0}, 5: {2, 0, 3},
			6: {0, 4, 2},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got  %v\nwant %v", got, want)
		}
	})
}

func sortedMeta(b []BrokerMeta) []BrokerMeta {
	out := append([]BrokerMeta(nil), b...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].ID < out[i].ID {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func ids(b []BrokerMeta) []int32 {
	out := make([]int32, len(b))
	for i, m := range b {
		out[i] = m.ID
	}
	return out
}

func TestAssignReplicasErrors(t *testing.T) {
	three := []BrokerMeta{{ID: 1}, {ID: 2}, {ID: 3}}
	cases := []struct {
		name       string
		brokers    []BrokerMeta
		partitions int
		rf         int
		want       error
	}{
		{"rf above brokers", three, 3, 4, ErrInvalidReplicationFactor},
		{"rf zero", three, 3, 0, ErrInvalidReplicationFactor},
		{"no brokers", nil, 1, 1, ErrInvalidReplicationFactor},
		{"zero partitions", three, 0, 1, ErrInvalidPartitions},
		{"negative partitions", three, -1, 1, ErrInvalidPartitions},
		{"some racks", []BrokerMeta{{1, "a"}, {2, ""}}, 1, 1, ErrIncompleteRackInfo},
		{"duplicate broker", []BrokerMeta{{ID: 1}, {ID: 1}}, 1, 1, ErrInvalidReplicaAssignment},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := AssignReplicas(tc.brokers, tc.partitions, tc.rf, 0, 0)
			mustErr(t, err, tc.want)
		})
	}
}

func TestAssignReplicasProperties(t *testing.T) {
	plain := func(n int) []BrokerMeta {
		b := make([]BrokerMeta, n)
		for i := range b {
			b[i] = BrokerMeta{ID: int32(10 + 3*i)} // non-contiguous ids
		}
		return b
	}
	racked := func(n, racks int) []BrokerMeta {
		b := make([]BrokerMeta, n)
		for i := range b {
			b[i] = BrokerMeta{ID: int32(i + 1), Rack: fmt.Sprintf("r%d", i%racks)}
		}
		return b
	}
	cases := []struct {
		brokers    []BrokerMeta
		partitions int
		rf         int
		racks      int // 0 = rack-unaware
	}{
		{plain(1), 5, 1, 0},
		{plain(3), 3, 3, 0},
		{plain(3), 12, 2, 0},
		{plain(5), 50, 3, 0},
		{plain(6), 7, 1, 0},
		{racked(6, 3), 12, 3, 3},
		{racked(6, 3), 12, 2, 3},
		{racked(6, 2), 12, 3, 2},
		{racked(9, 3), 27, 3, 3},
		{racked(4, 4), 8, 4, 4},
		{racked(3, 1), 6, 2, 1},
	}
	for _, tc := range cases {
		for _, start := range []int{-1, 0, 1, 2} {
			name := fmt.Sprintf("b%d/p%d/rf%d/racks%d/start%d", len(tc.brokers), tc.partitions, tc.rf, tc.racks, start)
			t.Run(name, func(t *testing.T) {
				got, err := AssignReplicas(tc.brokers, tc.partitions, tc.rf, start, -1)
				must(t, err)
				checkAssignment(t, got, tc.brokers, tc.partitions, tc.rf, tc.racks)
				if start >= 0 {
					again, err := AssignReplicas(tc.brokers, tc.partitions, tc.rf, start, -1)
					must(t, err)
					if !reflect.DeepEqual(got, again) {
						t.Fatal("not deterministic for a fixed start index")
					}
				}
			})
		}
	}
}

// checkAssignment asserts the properties Kafka's placement promises.
func checkAssignment(t *testing.T, got map[int32][]int32, brokers []BrokerMeta, partitions, rf, racks int) {
	t.Helper()
	rackOf := map[int32]string{}
	for _, b := range brokers {
		rackOf[b.ID] = b.Rack
	}
	if len(got) != partitions {
		t.Fatalf("%d partitions, want %d", len(got), partitions)
	}
	leaders := map[int32]int{}
	replicas := map[int32]int{}
	for p := int32(0); p < int32(partitions); p++ {
		r, ok := got[p]
		if !ok || len(r) != rf {
			t.Fatalf("partition %d: %v", p, r)
		}
		seen := map[int32]bool{}
		racksUsed := map[string]int{}
		for _, b := range r {
			if _, known := rackOf[b]; !known {
				t.Fatalf("partition %d: unknown broker %d", p, b)
			}
			if seen[b] {
				t.Fatalf("partition %d: broker %d twice in %v", p, b, r)
			}
			seen[b] = true
			racksUsed[rackOf[b]]++
			replicas[b]++
		}
		leaders[r[0]]++
		if racks > 0 {
			// At most one replica per rack when rf <= racks, and every
			// rack used when rf >= racks.
			if rf <= racks && len(racksUsed) != rf {
				t.Fatalf("partition %d: %v spans racks %v", p, r, racksUsed)
			}
			if rf >= racks && len(racksUsed) != racks {
				t.Fatalf("partition %d: %v misses racks (%v)", p, r, racksUsed)
			}
		}
	}
	// Leaders spread evenly: counts differ by at most one.
	n := len(brokers)
	minL, maxL := partitions, 0
	for _, b := range brokers {
		c := leaders[b.ID]
		minL, maxL = min(minL, c), max(maxL, c)
	}
	if partitions >= n && maxL-minL > 1 {
		t.Fatalf("leaders uneven: %v", leaders)
	}
	if partitions < n && maxL > 1 {
		t.Fatalf("a broker leads %d of %d partitions: %v", maxL, partitions, leaders)
	}
	// With partitions a multiple of brokers and racks of equal size,
	// replicas are spread evenly too.
	if partitions%n == 0 && (racks == 0 || n%racks == 0) {
		for _, b := range brokers {
			if replicas[b.ID] != partitions*rf/n {
				t.Fatalf("replicas uneven: %v", replicas)
			}
		}
	}
}

func TestAssignReplicasStartPartition(t *testing.T) {
	// AddPartitions numbers new partitions from the current count and keeps
	// the round robin going where it left off.
	brokers := []BrokerMeta{{ID: 1}, {ID: 2}, {ID: 3}}
	all, err := AssignReplicas(brokers, 6, 2, 0, 0)
	must(t, err)
	tail, err := AssignReplicas(brokers, 3, 2, 0, 3)
	must(t, err)
	for p := int32(3); p < 6; p++ {
		if !reflect.DeepEqual(tail[p], all[p]) {
			t.Fatalf("partition %d: %v, continuing from 0 gives %v", p, tail[p], all[p])
		}
	}
	if _, ok := tail[0]; ok {
		t.Fatal("partition numbering did not start at startPartition")
	}
}
