package storage

import (
	"fmt"
	"io"
)

// assertInvariants panics if the log is inconsistent, when built with the
// invariants tag; an inconsistency is a bug in this package.
func (l *Log) assertInvariants(after string) {
	if !invariantsEnabled || l.closed || l.failed != nil {
		return
	}
	if err := l.check(false); err != nil {
		panic(fmt.Sprintf("storage: invariant broken after %s: %v", after, err))
	}
}

// checkConsistency verifies the log's invariants against the bytes on disk:
// segments are contiguous, every batch has a valid frame and CRC, the
// in-memory summaries match the files, and every index entry is true (offset
// entries point at the batch with their offset; time entries hold the running
// largest timestamp at their batch). It reads every byte, so tests and the
// `invariants` build tag use it, not the hot path.
func (l *Log) checkConsistency() error { return l.check(true) }

// check is checkConsistency; with all false, index entries are only checked
// for segments whose indexes are known good (built), since a loaded index
// may hold damage that lookups have not met (and repaired) yet.
func (l *Log) check(all bool) error {
	if len(l.segs) == 0 {
		return fmt.Errorf("no segments")
	}
	leo := l.LogEndOffset()
	if !(l.segs[0].base <= l.logStart && l.logStart <= leo) {
		return fmt.Errorf("log start %d outside [%d, %d]", l.logStart, l.segs[0].base, leo)
	}
	if !(l.logStart <= l.hw && l.hw <= leo) {
		return fmt.Errorf("high watermark %d outside [%d, %d]", l.hw, l.logStart, leo)
	}
	if l.recoveryPoint > leo {
		return fmt.Errorf("recovery point %d beyond log end %d", l.recoveryPoint, leo)
	}
	for i, e := range l.epochs.entries {
		if i > 0 && (e.Epoch <= l.epochs.entries[i-1].Epoch || e.Start <= l.epochs.entries[i-1].Start) {
			return fmt.Errorf("epoch cache not increasing: %v", l.epochs.entries)
		}
		if e.Start > leo {
			return fmt.Errorf("epoch %d starts at %d beyond log end %d", e.Epoch, e.Start, leo)
		}
	}
	for i, s := range l.segs {
		if i > 0 && s.base != l.segs[i-1].next {
			return fmt.Errorf("segment %s base %d does not follow %d", s.logPath, s.base, l.segs[i-1].next)
		}
		if err := l.ensureChecked(s); err != nil {
			return err
		}
		if err := s.checkAgainstLog(i == len(l.segs)-1, all || s.built); err != nil {
			return fmt.Errorf("segment %s: %w", s.logPath, err)
		}
	}
	return nil
}

func (s *segment) checkAgainstLog(active, entries bool) error {
	fileSize, err := s.log.Size()
	if err != nil {
		return err
	}
	if fileSize != s.size {
		return fmt.Errorf("file size %d, summary says %d", fileSize, s.size)
	}
	type batch struct{ base, pos, maxTs, runMax int64 }
	var batches []batch
	byBase := map[int64]int{}
	next, maxTs, maxTsOff := s.base, NoTimestamp, s.base
	for pos := int64(0); pos < s.size; {
		h, err := s.readFullHeader(pos, s.size)
		if err != nil {
			return err
		}
		b := make([]byte, h.Size())
		if _, err := s.log.ReadAt(b, pos); err != nil && err != io.EOF {
			return err
		}
		if _, err := frameBatch(b); err != nil {
			return fmt.Errorf("batch at %d: %w", pos, err)
		}
		if h.BaseOffset != next {
			return fmt.Errorf("batch at %d has base %d, want %d", pos, h.BaseOffset, next)
		}
		if h.MaxTimestamp > maxTs {
			maxTs, maxTsOff = h.MaxTimestamp, h.BaseOffset
		}
		byBase[h.BaseOffset] = len(batches)
		batches = append(batches, batch{h.BaseOffset, pos, h.MaxTimestamp, maxTs})
		next = h.NextOffset()
		pos += h.Size()
	}
	if next != s.next {
		return fmt.Errorf("batches end at offset %d, summary says %d", next, s.next)
	}
	if maxTs != s.maxTs || (maxTs >= 0 && maxTsOff != s.maxTsOff) {
		return fmt.Errorf("max timestamp %d at %d, summary says %d at %d", maxTs, maxTsOff, s.maxTs, s.maxTsOff)
	}
	if !entries {
		return nil
	}
	prev := int64(-1)
	for i := 0; i < s.idx.entries(); i++ {
		off, pos, err := s.idx.at(i)
		if err != nil {
			return err
		}
		j, ok := byBase[off]
		if !ok || batches[j].pos != pos || off <= prev {
			return fmt.Errorf("offset index entry %d (%d -> %d) is wrong", i, off, pos)
		}
		prev = off
	}
	prevTs, prevOff := int64(-1), int64(-1)
	for i := 0; i < s.tidx.entries(); i++ {
		ts, off, err := s.tidx.at(i)
		if err != nil {
			return err
		}
		j, ok := byBase[off]
		if !ok || batches[j].maxTs != ts || batches[j].runMax != ts || ts <= prevTs || off < prevOff {
			return fmt.Errorf("time index entry %d (%d -> %d) is wrong", i, ts, off)
		}
		prevTs, prevOff = ts, off
	}
	if !active && maxTs >= 0 && prevTs != maxTs {
		return fmt.Errorf("sealed segment's last time entry %d is not its max timestamp %d", prevTs, maxTs)
	}
	return nil
}
