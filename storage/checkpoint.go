package storage

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
)

const (
	partitionCheckpointName = "partition-checkpoint"
	epochCheckpointName     = "leader-epoch-checkpoint"
)

// partitionCheckpoint is what partition-checkpoint stores.
type partitionCheckpoint struct {
	RecoveryPoint  int64
	HighWatermark  int64
	LogStartOffset int64
	// ActiveIndex is the active segment's index state when the recovery
	// point was last advanced (Base -1 if unknown).
	ActiveIndex indexState
	// CleanerOffset is where the log cleaner stopped: offsets below it
	// were compacted (0 when never cleaned). Older files lack the line.
	CleanerOffset int64
}

// encode renders the checkpoint as text with a trailing CRC-32C line, so a
// damaged file is detected rather than trusted.
func (c partitionCheckpoint) encode() []byte {
	a := c.ActiveIndex
	body := fmt.Sprintf("troupe-partition-checkpoint 1\nrecovery-point %d\nhigh-watermark %d\nlog-start-offset %d\nactive-index %d %d %08x %d %08x\n",
		c.RecoveryPoint, c.HighWatermark, c.LogStartOffset, a.Base, a.IdxEntries, a.IdxSum, a.TidxEntries, a.TidxSum)
	if c.CleanerOffset > 0 {
		body += fmt.Sprintf("cleaner-offset %d\n", c.CleanerOffset)
	}
	return fmt.Appendf(nil, "%scrc32c %08x\n", body, crc32.Checksum([]byte(body), castagnoli))
}

func decodePartitionCheckpoint(data []byte) (partitionCheckpoint, error) {
	bad := func(why string) (partitionCheckpoint, error) {
		return partitionCheckpoint{}, fmt.Errorf("storage: %s: %s", partitionCheckpointName, why)
	}
	i := bytes.LastIndex(data, []byte("crc32c "))
	if i < 0 {
		return bad("no checksum")
	}
	body, tail := data[:i], strings.TrimSpace(string(data[i+len("crc32c "):]))
	want, err := strconv.ParseUint(tail, 16, 32)
	if err != nil || uint32(want) != crc32.Checksum(body, castagnoli) {
		return bad("checksum mismatch")
	}
	var c partitionCheckpoint
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if (len(lines) != 5 && len(lines) != 6) || lines[0] != "troupe-partition-checkpoint 1" {
		return bad("unknown format")
	}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, " ")
		if k == "active-index" {
			a := &c.ActiveIndex
			if n, err := fmt.Sscanf(v, "%d %d %x %d %x", &a.Base, &a.IdxEntries, &a.IdxSum, &a.TidxEntries, &a.TidxSum); n != 5 || err != nil {
				return bad("bad line " + strconv.Quote(l))
			}
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil || n < 0 {
			return bad("bad line " + strconv.Quote(l))
		}
		switch k {
		case "recovery-point":
			c.RecoveryPoint = n
		case "high-watermark":
			c.HighWatermark = n
		case "log-start-offset":
			c.LogStartOffset = n
		case "cleaner-offset":
			c.CleanerOffset = n
		default:
			return bad("unknown key " + strconv.Quote(k))
		}
	}
	return c, nil
}

// writeFileAtomic replaces dir/name with data so that a crash leaves either
// the old or the new contents: write a temp file, fsync it, rename it over the
// old one, fsync the directory.
func writeFileAtomic(fs FS, dir, name string, data []byte) error {
	tmp := join(dir, name+tmpSuffix)
	f, err := fs.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		fs.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		fs.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		fs.Remove(tmp)
		return err
	}
	if err := fs.Rename(tmp, join(dir, name)); err != nil {
		fs.Remove(tmp)
		return err
	}
	return fs.SyncDir(dir)
}

// readFile reads a whole small file.
func readFile(fs FS, path string) ([]byte, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size > 64<<20 {
		return nil, fmt.Errorf("storage: %s: implausibly large (%d bytes)", path, size)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}
