package cluster

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Producer id blocks: /latest_producer_id_block, as Kafka keeps it.

// DefaultProducerIDBlockSize is Kafka's block size (ProducerIdsBlock).
const DefaultProducerIDBlockSize = 1000

type producerIDBlockJSON struct {
	Version    int    `json:"version"`
	Broker     int32  `json:"broker"`
	BlockStart string `json:"block_start"`
	BlockEnd   string `json:"block_end"`
}

// AllocateProducerIDBlock reserves size producer ids for brokerID and returns
// the block [start, end] (end inclusive, as Kafka stores it). It reads
// /latest_producer_id_block and writes the next block conditional on the
// version it read, retrying when another broker won the race, so blocks never
// overlap. The first block starts at 0.
func (s *Store) AllocateProducerIDBlock(brokerID int32, size int64) (start, end int64, err error) {
	if size <= 0 {
		size = DefaultProducerIDBlockSize
	}
	for attempt := 0; attempt < 100; attempt++ {
		data, st, err := s.conn.Get(ProducerIDBlockPath)
		exists := true
		if errors.Is(err, ErrNoNode) {
			exists = false
		} else if err != nil {
			return 0, 0, err
		}
		next := int64(0)
		if exists && len(data) > 0 {
			var j producerIDBlockJSON
			if err := decodeJSON(ProducerIDBlockPath, data, &j); err != nil {
				return 0, 0, err
			}
			prevEnd, err := strconv.ParseInt(j.BlockEnd, 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("%w: %s: block_end %q", ErrCorruptZNode, ProducerIDBlockPath, j.BlockEnd)
			}
			next = prevEnd + 1
		}
		if next > math.MaxInt64-size {
			return 0, 0, ErrProducerIDsExhausted
		}
		start, end = next, next+size-1
		out := mustJSON(producerIDBlockJSON{Version: 1, Broker: brokerID,
			BlockStart: strconv.FormatInt(start, 10), BlockEnd: strconv.FormatInt(end, 10)})
		if exists {
			_, err = s.conn.Set(ProducerIDBlockPath, out, st.Version)
		} else {
			_, err = s.conn.Create(ProducerIDBlockPath, out, ModePersistent)
		}
		if errors.Is(err, ErrBadVersion) || errors.Is(err, ErrNodeExists) || errors.Is(err, ErrNoNode) {
			continue // another broker got there first
		}
		if err != nil {
			return 0, 0, err
		}
		return start, end, nil
	}
	return 0, 0, fmt.Errorf("cluster: allocate producer id block: %w (too much contention)", ErrBadVersion)
}
