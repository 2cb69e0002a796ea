package storage

import "hash/maphash"

// offsetMap is the cleaner's key → latest offset map, of a fixed size
// (log.cleaner.dedupe.buffer.size): an open-addressing table of 128-bit key
// hashes and offsets, 24 bytes a slot, filled to loadFactor. Keys are not
// stored, only their hashes, as in Kafka's SkimpyOffsetMap; two keys whose
// 128-bit hashes collide would be taken for one (the chance is about
// n²/2¹²⁹ for n keys).
//
// Not safe for concurrent use.
type offsetMap struct {
	slots []mapSlot
	used  int
	limit int // used may not exceed it
	seeds [2]maphash.Seed
}

type mapSlot struct {
	h1, h2 uint64 // h1 == 0 && h2 == 0: empty
	off    int64
}

const (
	mapSlotSize = 24
	// loadFactor is how full the table may get
	// (log.cleaner.io.buffer.load.factor).
	loadFactor = 0.9
	// minMapSlots keeps a tiny configured buffer usable.
	minMapSlots = 16
)

// newOffsetMap sizes a map to bytes of memory.
func newOffsetMap(bytes int64) *offsetMap {
	n := max(int(bytes/mapSlotSize), minMapSlots)
	return &offsetMap{
		slots: make([]mapSlot, n),
		limit: int(float64(n) * loadFactor),
		seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
	}
}

func (m *offsetMap) hash(key []byte) (uint64, uint64) {
	h1, h2 := maphash.Bytes(m.seeds[0], key), maphash.Bytes(m.seeds[1], key)
	if h1 == 0 && h2 == 0 {
		h2 = 1
	}
	return h1, h2
}

// put records off as key's latest offset (offsets arrive in increasing
// order, so the last put wins). It returns false, changing nothing, when the
// key is new and the map is full.
func (m *offsetMap) put(key []byte, off int64) bool {
	h1, h2 := m.hash(key)
	n := uint64(len(m.slots))
	for i := h1 % n; ; i = (i + 1) % n {
		s := &m.slots[i]
		switch {
		case s.h1 == h1 && s.h2 == h2:
			s.off = off
			return true
		case s.h1 == 0 && s.h2 == 0:
			if m.used >= m.limit {
				return false
			}
			*s = mapSlot{h1, h2, off}
			m.used++
			return true
		}
	}
}

// get returns key's latest offset, if the map holds the key.
func (m *offsetMap) get(key []byte) (int64, bool) {
	h1, h2 := m.hash(key)
	n := uint64(len(m.slots))
	for i := h1 % n; ; i = (i + 1) % n {
		s := &m.slots[i]
		switch {
		case s.h1 == h1 && s.h2 == h2:
			return s.off, true
		case s.h1 == 0 && s.h2 == 0:
			return 0, false
		}
	}
}

// full reports whether a new key would not fit.
func (m *offsetMap) full() bool { return m.used >= m.limit }

// reset empties the map for the next log, keeping its memory.
func (m *offsetMap) reset() {
	clear(m.slots)
	m.used = 0
}
