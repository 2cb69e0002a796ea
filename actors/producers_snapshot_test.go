package actors

import (
	"maps"
	"testing"

	"github.com/troupe-mq/troupe/storage"
)

func TestProducerSnapshotRoundTrip(t *testing.T) {
	s := newProducerStates()
	for i := range 7 {
		h := &storage.BatchHeader{ProducerID: 100, ProducerEpoch: 2, BaseSequence: int32(i * 10), LastOffsetDelta: 9, MaxTimestamp: int64(1000 + i)}
		s.update(h, int64(i*10+9))
	}
	s.update(&storage.BatchHeader{ProducerID: 7, ProducerEpoch: 0, BaseSequence: 0, LastOffsetDelta: 0, MaxTimestamp: 5}, 70)
	b := s.encodeSnapshot(71)

	got := newProducerStates()
	covered, err := got.decodeSnapshot(b)
	if err != nil || covered != 71 {
		t.Fatalf("decode: %d %v", covered, err)
	}
	if !maps.EqualFunc(s.m, got.m, func(a, b *producerEntry) bool {
		return a.epoch == b.epoch && a.lastTimestamp == b.lastTimestamp && len(a.batches) == len(b.batches) &&
			func() bool {
				for i := range a.batches {
					if a.batches[i] != b.batches[i] {
						return false
					}
				}
				return true
			}()
	}) {
		t.Fatalf("state differs after round trip:\n%+v\n%+v", s.m, got.m)
	}
	// The decoded state makes the same decisions: a retry of the last batch
	// is a duplicate with its original offsets.
	dup, err := got.check(&storage.BatchHeader{ProducerID: 100, ProducerEpoch: 2, BaseSequence: 60, LastOffsetDelta: 9})
	if err != nil || dup == nil || dup.firstOffset != 60 {
		t.Fatalf("duplicate after decode: %+v %v", dup, err)
	}
	// Any damage is refused, never half-applied.
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x20
		if _, err := newProducerStates().decodeSnapshot(c); err == nil {
			t.Fatalf("flipping byte %d went unnoticed", i)
		}
	}
	for n := range len(b) {
		if _, err := newProducerStates().decodeSnapshot(b[:n]); err == nil {
			t.Fatalf("snapshot cut to %d bytes accepted", n)
		}
	}
}
