package actors

import (
	"cmp"
	"maps"
	"slices"
)

// The cores iterate maps only in sorted key order where the order shows
// in what they emit, so that a core fed the same inputs returns the same
// effects in the same order: the simulator's runs replay from their seed.

// sortedTPs returns a map's partitions ordered by topic, then partition.
func sortedTPs[V any](m map[TopicPartition]V) []TopicPartition {
	tps := slices.Collect(maps.Keys(m))
	slices.SortFunc(tps, compareTP)
	return tps
}

func compareTP(a, b TopicPartition) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// sortedKeys returns a map's keys in ascending order.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}
