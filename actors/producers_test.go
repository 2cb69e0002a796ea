package actors

import (
	"errors"
	"math"
	"testing"

	"github.com/troupe-mq/troupe/storage"
)

// pb is a batch header for the producer-state tests: producer id, epoch,
// first sequence and record count.
func pb(id int64, epoch int16, seq int32, n int32) storage.BatchHeader {
	return storage.BatchHeader{ProducerID: id, ProducerEpoch: epoch, BaseSequence: seq, LastOffsetDelta: n - 1, NumRecords: n, MaxTimestamp: 1000}
}

// TestProducerStates runs scripts of batches through check and, when it
// passes and the batch is new, update (as an append would). Each step
// says what check must answer: ok, a duplicate of the batch appended at
// dupOffset, or an error.
func TestProducerStates(t *testing.T) {
	type step struct {
		h         storage.BatchHeader
		err       error // nil: accepted (new or duplicate)
		dupOffset int64 // >= 0: a duplicate whose original starts here
	}
	ok := func(h storage.BatchHeader) step { return step{h: h, dupOffset: -1} }
	dup := func(h storage.BatchHeader, at int64) step { return step{h: h, dupOffset: at} }
	bad := func(h storage.BatchHeader, err error) step { return step{h: h, err: err, dupOffset: -1} }
	tests := []struct {
		name  string
		steps []step
	}{
		{"non-idempotent batches always pass", []step{ok(pb(-1, -1, -1, 3)), ok(pb(-1, -1, -1, 3)), ok(pb(-1, 0, 7, 1))}},
		{"a new producer starts at sequence 0", []step{ok(pb(1, 0, 0, 5)), ok(pb(1, 0, 5, 1)), ok(pb(1, 0, 6, 10))}},
		{"a new producer at another sequence is unknown", []step{bad(pb(1, 0, 3, 1), ErrUnknownProducerID)}},
		{"a gap is out of order", []step{ok(pb(1, 0, 0, 5)), bad(pb(1, 0, 6, 1), ErrOutOfOrderSequence), ok(pb(1, 0, 5, 1))}},
		{"going back is out of order", []step{ok(pb(1, 0, 0, 5)), ok(pb(1, 0, 5, 5)), bad(pb(1, 0, 3, 1), ErrOutOfOrderSequence)}},
		{"a retry of the last batch is a duplicate", []step{ok(pb(1, 0, 0, 5)), dup(pb(1, 0, 0, 5), 0), ok(pb(1, 0, 5, 2)), dup(pb(1, 0, 5, 2), 5)}},
		{"retries of each of the last five batches are duplicates", []step{
			ok(pb(1, 0, 0, 2)), ok(pb(1, 0, 2, 2)), ok(pb(1, 0, 4, 2)), ok(pb(1, 0, 6, 2)), ok(pb(1, 0, 8, 2)),
			dup(pb(1, 0, 0, 2), 0), dup(pb(1, 0, 4, 2), 4), dup(pb(1, 0, 8, 2), 8),
			ok(pb(1, 0, 10, 2)), // the first batch leaves the window
			bad(pb(1, 0, 0, 2), ErrOutOfOrderSequence), dup(pb(1, 0, 2, 2), 2), dup(pb(1, 0, 10, 2), 10),
		}},
		{"a retry with other bounds is no duplicate", []step{ok(pb(1, 0, 0, 5)), bad(pb(1, 0, 0, 4), ErrOutOfOrderSequence), bad(pb(1, 0, 1, 4), ErrOutOfOrderSequence)}},
		{"an older epoch is fenced", []step{ok(pb(1, 3, 0, 1)), bad(pb(1, 2, 1, 1), ErrInvalidProducerEpoch), bad(pb(1, 2, 0, 1), ErrInvalidProducerEpoch)}},
		{"a newer epoch restarts at 0", []step{ok(pb(1, 0, 0, 5)), bad(pb(1, 1, 5, 1), ErrOutOfOrderSequence), ok(pb(1, 1, 0, 1)), ok(pb(1, 1, 1, 1)),
			bad(pb(1, 0, 5, 1), ErrInvalidProducerEpoch)}},
		{"a newer epoch forgets the old batches", []step{ok(pb(1, 0, 0, 5)), ok(pb(1, 1, 0, 5)), dup(pb(1, 1, 0, 5), 5), bad(pb(1, 0, 0, 5), ErrInvalidProducerEpoch)}},
		{"producers are independent", []step{ok(pb(1, 0, 0, 5)), ok(pb(2, 0, 0, 2)), ok(pb(1, 0, 5, 1)), bad(pb(2, 0, 5, 1), ErrOutOfOrderSequence), ok(pb(2, 0, 2, 1))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newProducerStates()
			next := int64(0) // next offset an append would get
			for i, st := range tc.steps {
				h := st.h
				d, err := s.check(&h)
				switch {
				case st.err != nil:
					if !errors.Is(err, st.err) {
						t.Fatalf("step %d (%+v): %v, want %v", i, h, err, st.err)
					}
					continue
				case err != nil:
					t.Fatalf("step %d (%+v): %v", i, h, err)
				case st.dupOffset >= 0:
					if d == nil || d.firstOffset != st.dupOffset {
						t.Fatalf("step %d (%+v): duplicate %+v, want one at offset %d", i, h, d, st.dupOffset)
					}
					continue
				case d != nil:
					t.Fatalf("step %d (%+v): taken for a duplicate of %+v", i, h, d)
				}
				next += int64(h.NumRecords)
				s.update(&h, next-1)
			}
		})
	}
}

// TestProducerSequenceWrap: after sequence MaxInt32 the next is 0, and a
// batch may straddle the wrap.
func TestProducerSequenceWrap(t *testing.T) {
	s := newProducerStates()
	h := pb(1, 0, math.MaxInt32-2, 3) // sequences MaxInt32-2 .. MaxInt32
	s.update(&h, 2)
	for _, c := range []struct {
		h   storage.BatchHeader
		err error
	}{
		{pb(1, 0, 1, 1), ErrOutOfOrderSequence},
		{pb(1, 0, math.MaxInt32, 1), ErrOutOfOrderSequence},
		{pb(1, 0, 0, 4), nil},
	} {
		if _, err := s.check(&c.h); !errors.Is(err, c.err) {
			t.Fatalf("after MaxInt32, batch at %d: %v, want %v", c.h.BaseSequence, err, c.err)
		}
	}
	straddle := pb(1, 0, 0, 4)
	s.update(&straddle, 6)
	wrap := pb(2, 0, 0, 1)
	s.update(&wrap, 7)
	w2 := pb(2, 0, math.MaxInt32, 2) // MaxInt32, 0: not after sequence 0
	if _, err := s.check(&w2); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("straddling batch out of order: %v", err)
	}
	if got := lastSequence(&storage.BatchHeader{BaseSequence: math.MaxInt32, LastOffsetDelta: 1}); got != 0 {
		t.Fatalf("last sequence of a batch straddling the wrap: %d, want 0", got)
	}
}

// TestProducerExpire: producers idle since before the cutoff are
// forgotten; a forgotten producer must start again at 0.
func TestProducerExpire(t *testing.T) {
	s := newProducerStates()
	old, fresh := pb(1, 0, 0, 1), pb(2, 0, 0, 1)
	old.MaxTimestamp, fresh.MaxTimestamp = 100, 900
	s.update(&old, 0)
	s.update(&fresh, 1)
	if n := s.expire(500); n != 1 {
		t.Fatalf("expired %d producers, want 1", n)
	}
	next := pb(1, 0, 1, 1)
	if _, err := s.check(&next); !errors.Is(err, ErrUnknownProducerID) {
		t.Fatalf("expired producer continuing: %v, want UNKNOWN_PRODUCER_ID", err)
	}
	next2 := pb(2, 0, 1, 1)
	if _, err := s.check(&next2); err != nil {
		t.Fatalf("live producer continuing: %v", err)
	}
}
