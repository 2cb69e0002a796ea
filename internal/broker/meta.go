package broker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/troupe-mq/troupe/cluster"
)

// metaProperties is the data directory's identity, kept in
// DATA/meta.properties as Kafka keeps it (KIP-858): the broker it belongs
// to and a directory id drawn when the directory was first used. The
// broker writes the directory id into its registration, which lets a
// restarted broker prove that a registration still held by an unexpired
// session is its own dead predecessor's (it holds the directory's lock):
// it may replace it at once instead of waiting out the session.
type metaProperties struct {
	nodeID      int32
	directoryID string
}

const metaPropertiesName = "meta.properties"

// loadMetaProperties reads DATA/meta.properties, creating it on first use.
// A directory that belongs to another broker id is refused, as Kafka does.
func loadMetaProperties(dataDir string, nodeID int32) (metaProperties, error) {
	path := filepath.Join(dataDir, metaPropertiesName)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		id, err := cluster.NewTopicID() // a Kafka Uuid, like directory.id
		if err != nil {
			return metaProperties{}, err
		}
		mp := metaProperties{nodeID: nodeID, directoryID: id.String()}
		return mp, writeMetaProperties(path, mp)
	}
	if err != nil {
		return metaProperties{}, fmt.Errorf("broker: read %s: %w", path, err)
	}
	mp := metaProperties{nodeID: -1}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "node.id", "broker.id":
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
			if err != nil {
				return metaProperties{}, fmt.Errorf("broker: %s: bad %s %q", path, k, v)
			}
			mp.nodeID = int32(n)
		case "directory.id":
			mp.directoryID = strings.TrimSpace(v)
		}
	}
	if mp.nodeID >= 0 && mp.nodeID != nodeID {
		return metaProperties{}, fmt.Errorf("broker: data directory %s belongs to broker %d, not %d (%s)", dataDir, mp.nodeID, nodeID, path)
	}
	if mp.directoryID == "" {
		// Written by an older Troupe: give the directory its id now.
		id, err := cluster.NewTopicID()
		if err != nil {
			return metaProperties{}, err
		}
		mp.nodeID, mp.directoryID = nodeID, id.String()
		return mp, writeMetaProperties(path, mp)
	}
	return mp, nil
}

// writeMetaProperties replaces the file atomically (temp, fsync, rename,
// fsync of the directory).
func writeMetaProperties(path string, mp metaProperties) error {
	body := fmt.Sprintf("#\n# Troupe broker data directory identity. Do not edit.\nversion=1\nnode.id=%d\ndirectory.id=%s\n", mp.nodeID, mp.directoryID)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("broker: write %s: %w", path, err)
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return fmt.Errorf("broker: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("broker: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("broker: rename %s: %w", path, err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
