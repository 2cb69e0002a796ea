package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
)

// ErrIncompleteRackInfo: some brokers have a rack and some do not, so a
// rack-aware placement cannot be guaranteed (Kafka refuses the same way).
var ErrIncompleteRackInfo = errors.New("cluster: not all brokers have rack information")

// BrokerMeta is what replica placement needs to know about a broker.
type BrokerMeta struct {
	ID   int32
	Rack string // "" = no rack
}

// AssignReplicas places numPartitions partitions of replicationFactor
// replicas on brokers the way Apache Kafka's AdminUtils does (its behaviour,
// our code):
//
//   - Rack-unaware (no broker has a rack): the first replica of each
//     partition goes round robin over the brokers sorted by id, starting at
//     startIndex; the followers sit at an increasing shift from the first
//     replica, the shift growing by one after every full round, so that the
//     replicas of one broker's partitions spread over all other brokers.
//   - Rack-aware (every broker has a rack): the same round robin over a list
//     that alternates racks (rack1's first broker, rack2's first, …, rack1's
//     second, …); a follower is skipped while it would put a second replica
//     in a rack when some rack has none, or a second replica on a broker
//     when some broker has none. Each rack gets at most one replica when
//     replicationFactor <= racks, and at least one otherwise.
//
// startIndex < 0 picks a random start and shift (Kafka's default, which
// spreads leaders of many small topics); a fixed startIndex makes the result
// deterministic and also fixes the initial shift. startPartition (clamped to
// >= 0) numbers the first partition: AddPartitions passes the current count,
// with startIndex at the broker leading partition 0 as Kafka does.
//
// The result maps partition id → replicas, the first being the preferred
// leader. Errors: ErrInvalidPartitions, ErrInvalidReplicationFactor,
// ErrIncompleteRackInfo, ErrInvalidReplicaAssignment (duplicate broker id).
func AssignReplicas(brokers []BrokerMeta, numPartitions, replicationFactor int, startIndex, startPartition int) (map[int32][]int32, error) {
	if numPartitions <= 0 {
		return nil, fmt.Errorf("%w: %d (must be > 0)", ErrInvalidPartitions, numPartitions)
	}
	if replicationFactor <= 0 {
		return nil, fmt.Errorf("%w: %d (must be > 0)", ErrInvalidReplicationFactor, replicationFactor)
	}
	if replicationFactor > len(brokers) {
		return nil, fmt.Errorf("%w: %d larger than available brokers: %d", ErrInvalidReplicationFactor, replicationFactor, len(brokers))
	}
	sorted := append([]BrokerMeta(nil), brokers...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	withRack := 0
	for i, b := range sorted {
		if i > 0 && sorted[i-1].ID == b.ID {
			return nil, fmt.Errorf("%w: broker %d listed twice", ErrInvalidReplicaAssignment, b.ID)
		}
		if b.Rack != "" {
			withRack++
		}
	}
	n := len(sorted)
	start, shift := startIndex, startIndex
	if startIndex < 0 {
		start, shift = rand.IntN(n), rand.IntN(n)
	}
	if startPartition < 0 {
		startPartition = 0
	}
	switch withRack {
	case 0:
		ids := make([]int32, n)
		for i, b := range sorted {
			ids[i] = b.ID
		}
		return assignRackUnaware(ids, numPartitions, replicationFactor, start, shift, startPartition), nil
	case n:
		return assignRackAware(sorted, numPartitions, replicationFactor, start, shift, startPartition), nil
	default:
		return nil, fmt.Errorf("%w: %d of %d brokers have a rack", ErrIncompleteRackInfo, withRack, n)
	}
}

// followerIndex is the position of the j-th follower (0-based) of a
// partition whose first replica is at first: always a broker other than
// first, rotating with shift.
func followerIndex(first, shift, j, n int) int {
	return (first + 1 + (shift+j)%(n-1)) % n
}

func assignRackUnaware(ids []int32, numPartitions, rf, start, shift, startPartition int) map[int32][]int32 {
	n := len(ids)
	out := make(map[int32][]int32, numPartitions)
	p := startPartition
	for i := 0; i < numPartitions; i, p = i+1, p+1 {
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + start) % n
		replicas := make([]int32, 0, rf)
		replicas = append(replicas, ids[first])
		for j := 0; j < rf-1; j++ {
			replicas = append(replicas, ids[followerIndex(first, shift, j, n)])
		}
		out[int32(p)] = replicas
	}
	return out
}

// rackAlternated orders brokers rack by rack in turn (racks sorted by name,
// brokers within a rack by id): rack1[0], rack2[0], …, rack1[1], ….
func rackAlternated(brokers []BrokerMeta) []BrokerMeta {
	byRack := map[string][]BrokerMeta{}
	var racks []string
	for _, b := range brokers { // already sorted by id
		if _, ok := byRack[b.Rack]; !ok {
			racks = append(racks, b.Rack)
		}
		byRack[b.Rack] = append(byRack[b.Rack], b)
	}
	sort.Strings(racks)
	out := make([]BrokerMeta, 0, len(brokers))
	for round := 0; len(out) < len(brokers); round++ {
		for _, r := range racks {
			if round < len(byRack[r]) {
				out = append(out, byRack[r][round])
			}
		}
	}
	return out
}

func assignRackAware(brokers []BrokerMeta, numPartitions, rf, start, shift, startPartition int) map[int32][]int32 {
	list := rackAlternated(brokers)
	n := len(list)
	racks := map[string]bool{}
	for _, b := range list {
		racks[b.Rack] = true
	}
	numRacks := len(racks)
	out := make(map[int32][]int32, numPartitions)
	p := startPartition
	for i := 0; i < numPartitions; i, p = i+1, p+1 {
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + start) % n
		leader := list[first]
		replicas := make([]int32, 0, rf)
		replicas = append(replicas, leader.ID)
		racksUsed := map[string]bool{leader.Rack: true}
		brokersUsed := map[int32]bool{leader.ID: true}
		k := 0
		for j := 0; j < rf-1; j++ {
			// Terminates: as k grows, followerIndex visits every broker
			// other than the leader, and while fewer than rf <= n are used
			// some unused broker passes both tests.
			for {
				b := list[followerIndex(first, shift*numRacks, k, n)]
				k++
				rackOK := !racksUsed[b.Rack] || len(racksUsed) == numRacks
				brokerOK := !brokersUsed[b.ID] || len(brokersUsed) == n
				if rackOK && brokerOK {
					replicas = append(replicas, b.ID)
					racksUsed[b.Rack] = true
					brokersUsed[b.ID] = true
					break
				}
			}
		}
		out[int32(p)] = replicas
	}
	return out
}
