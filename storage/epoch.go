package storage

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// epochEntry says that leader epoch epoch wrote its first batch at start.
type epochEntry struct {
	Epoch int32
	Start int64
}

// epochCache is the leader epoch cache of KIP-101/KIP-279: epochs with the
// offset of their first batch, in order.
// Invariant: both Epoch and Start strictly increase along entries.
type epochCache struct {
	entries []epochEntry
	// dirty is set when entries differ from the checkpoint file.
	dirty bool
}

func (c *epochCache) latest() (epochEntry, bool) {
	if len(c.entries) == 0 {
		return epochEntry{}, false
	}
	return c.entries[len(c.entries)-1], true
}

// assign records that epoch starts at start. An epoch older than the latest
// is ignored; the latest epoch only moves its start down (Kafka: a leader
// may learn an earlier start); a newer epoch removes entries that start at or
// after start (they were truncated away), then is appended. Reports whether
// the cache changed.
func (c *epochCache) assign(epoch int32, start int64) bool {
	if epoch < 0 || start < 0 {
		return false
	}
	if last, ok := c.latest(); ok {
		if epoch < last.Epoch {
			return false
		}
		if epoch == last.Epoch {
			if start >= last.Start {
				return false
			}
			c.entries = c.entries[:len(c.entries)-1]
		}
	}
	for len(c.entries) > 0 && c.entries[len(c.entries)-1].Start >= start {
		c.entries = c.entries[:len(c.entries)-1]
	}
	c.entries = append(c.entries, epochEntry{Epoch: epoch, Start: start})
	c.dirty = true
	return true
}

// endOffsetFor answers OffsetForLeaderEpoch as Kafka's LeaderEpochFileCache
// does: for the latest epoch, the log end offset; otherwise the largest epoch
// <= requested and the start offset of the first epoch above it; for an epoch
// below every known one, the requested epoch itself and the start of the first
// known epoch (the data before it is gone, so the follower truncates there);
// for an unknown epoch above the latest, or an empty cache, (-1, -1).
func (c *epochCache) endOffsetFor(epoch int32, leo int64) (int32, int64) {
	if epoch < 0 || len(c.entries) == 0 {
		return -1, -1
	}
	last := c.entries[len(c.entries)-1]
	if epoch == last.Epoch {
		return epoch, leo
	}
	if epoch > last.Epoch {
		return -1, -1
	}
	// First entry with Epoch > epoch.
	hi := 0
	for hi < len(c.entries) && c.entries[hi].Epoch <= epoch {
		hi++
	}
	if hi == 0 {
		return epoch, c.entries[0].Start
	}
	return c.entries[hi-1].Epoch, c.entries[hi].Start
}

// truncateFromEnd removes entries starting at or after end.
func (c *epochCache) truncateFromEnd(end int64) {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].Start >= end {
		n--
	}
	if n != len(c.entries) {
		c.entries = c.entries[:n]
		c.dirty = true
	}
}

// truncateFromStart drops entries wholly below start: the last entry starting
// at or before start is kept with its start moved up to start.
func (c *epochCache) truncateFromStart(start int64) {
	k := 0
	for k < len(c.entries) && c.entries[k].Start <= start {
		k++
	}
	if k == 0 {
		return
	}
	keep := c.entries[k-1]
	if k == 1 && keep.Start == start {
		return
	}
	keep.Start = start
	rest := append([]epochEntry{keep}, c.entries[k:]...)
	c.entries = rest
	c.dirty = true
}

func (c *epochCache) clear() {
	if len(c.entries) > 0 {
		c.entries = nil
		c.dirty = true
	}
}

// encode writes Kafka's leader-epoch-checkpoint text format:
// a version line "0", the entry count, then "epoch startOffset" per line.
func (c *epochCache) encode() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(c.entries))
	for _, e := range c.entries {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.Start)
	}
	return b.Bytes()
}

// decodeEpochCheckpoint parses the format encode writes, rejecting anything
// that breaks the cache invariant.
func decodeEpochCheckpoint(data []byte) ([]epochEntry, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		return strings.TrimSpace(sc.Text()), true
	}
	v, ok := line()
	if !ok || v != "0" {
		return nil, fmt.Errorf("storage: leader-epoch-checkpoint: bad version %q", v)
	}
	cs, ok := line()
	n, err := strconv.Atoi(cs)
	if !ok || err != nil || n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("storage: leader-epoch-checkpoint: bad count %q", cs)
	}
	out := make([]epochEntry, 0, n)
	for i := 0; i < n; i++ {
		l, ok := line()
		f := strings.Fields(l)
		if !ok || len(f) != 2 {
			return nil, fmt.Errorf("storage: leader-epoch-checkpoint: bad entry %q", l)
		}
		e, err1 := strconv.ParseInt(f[0], 10, 32)
		s, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || e < 0 || s < 0 {
			return nil, fmt.Errorf("storage: leader-epoch-checkpoint: bad entry %q", l)
		}
		if i > 0 && (int32(e) <= out[i-1].Epoch || s <= out[i-1].Start) {
			return nil, fmt.Errorf("storage: leader-epoch-checkpoint: entries not increasing at %q", l)
		}
		out = append(out, epochEntry{Epoch: int32(e), Start: s})
	}
	if extra, ok := line(); ok && extra != "" {
		return nil, fmt.Errorf("storage: leader-epoch-checkpoint: trailing data %q", extra)
	}
	return out, nil
}
