package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
)

// Files of a LocalTree directory.
const (
	localTreeFile = "znodes.json"     // the persistent znodes, replaced atomically
	localTreeTemp = "znodes.json.tmp" // written, synced, then renamed over localTreeFile
	localTreeLock = "LOCK"            // flock'd while the tree is open
)

// localSnapshot is the on-disk form: every persistent znode with its stat,
// sorted by path, and the last zxid so zxids stay monotonic across restarts.
//
//	{"format":1,"zxid":42,"nodes":[{"path":"/","created":3,...},
//	  {"path":"/brokers","data":"<base64>","czxid":2,...}, ...]}
type localSnapshot struct {
	Format int             `json:"format"`
	Zxid   int64           `json:"zxid"`
	Nodes  []localSnapNode `json:"nodes"`
}

type localSnapNode struct {
	Path    string `json:"path"`
	Data    []byte `json:"data,omitempty"`
	Czxid   int64  `json:"czxid"`
	Mzxid   int64  `json:"mzxid"`
	Pzxid   int64  `json:"pzxid"`
	Ctime   int64  `json:"ctime"`
	Mtime   int64  `json:"mtime"`
	Version int32  `json:"version"`
	Created int32  `json:"created,omitempty"` // children ever created (numbers sequential nodes)
}

const localSnapshotFormat = 1

// fileLocker holds an flock on the directory's LOCK file.
type fileLocker struct{ f *os.File }

func (l *fileLocker) release() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close() // closing drops the flock
	l.f = nil
	return err
}

// open locks the directory and loads the snapshot if there is one.
func (db *localDB) open() error {
	if err := os.MkdirAll(db.dir, 0o755); err != nil {
		return fmt.Errorf("cluster: local store dir: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(db.dir, localTreeLock), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("cluster: local store lock: %w", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("%w: %s", ErrStoreLocked, db.dir)
		}
		return fmt.Errorf("cluster: local store lock: %w", err)
	}
	db.lock.f = lf
	// A temp file left by a crash mid-write is garbage: the rename never
	// happened, so the previous snapshot is the truth.
	_ = os.Remove(filepath.Join(db.dir, localTreeTemp))
	b, err := os.ReadFile(filepath.Join(db.dir, localTreeFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		db.lock.release()
		return fmt.Errorf("cluster: local store read: %w", err)
	}
	if err := db.load(b); err != nil {
		db.lock.release()
		return err
	}
	db.log.Debug().Str("dir", db.dir).Int("znodes", len(db.nodes)).Int64("zxid", db.zxid).Msg("local metadata store loaded")
	return nil
}

func (db *localDB) load(b []byte) error {
	var snap localSnapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrStoreCorrupt, db.dir, err)
	}
	if snap.Format != localSnapshotFormat {
		return fmt.Errorf("%w: %s: unknown format %d", ErrStoreCorrupt, db.dir, snap.Format)
	}
	nodes := map[string]*localNode{}
	for _, sn := range snap.Nodes {
		if err := validatePath(sn.Path, false); err != nil {
			return fmt.Errorf("%w: %s: bad path %q", ErrStoreCorrupt, db.dir, sn.Path)
		}
		if nodes[sn.Path] != nil {
			return fmt.Errorf("%w: %s: duplicate path %q", ErrStoreCorrupt, db.dir, sn.Path)
		}
		nodes[sn.Path] = &localNode{
			data:     sn.Data,
			children: map[string]struct{}{},
			stat: Stat{
				Czxid: sn.Czxid, Mzxid: sn.Mzxid, Pzxid: sn.Pzxid, Ctime: sn.Ctime, Mtime: sn.Mtime,
				Version: sn.Version,
			},
			created: sn.Created,
		}
	}
	if nodes["/"] == nil {
		return fmt.Errorf("%w: %s: no root", ErrStoreCorrupt, db.dir)
	}
	for p := range nodes {
		if p == "/" {
			continue
		}
		parent := nodes[parentPath(p)]
		if parent == nil {
			return fmt.Errorf("%w: %s: %q has no parent", ErrStoreCorrupt, db.dir, p)
		}
		parent.children[baseName(p)] = struct{}{}
	}
	db.nodes = nodes
	db.zxid = snap.Zxid
	return nil
}

// persistLocked writes every persistent znode to the snapshot file: temp
// file, fsync, rename over the old one, fsync the directory. A crash at any
// point leaves either the old or the new snapshot whole.
// REQUIRES: db.mu held.
func (db *localDB) persistLocked() error {
	snap := localSnapshot{Format: localSnapshotFormat, Zxid: db.zxid}
	for p, n := range db.nodes {
		if n.stat.EphemeralOwner != 0 {
			continue
		}
		snap.Nodes = append(snap.Nodes, localSnapNode{
			Path: p, Data: n.data,
			Czxid: n.stat.Czxid, Mzxid: n.stat.Mzxid, Pzxid: n.stat.Pzxid,
			Ctime: n.stat.Ctime, Mtime: n.stat.Mtime,
			Version: n.stat.Version, Created: n.created,
		})
	}
	sort.Slice(snap.Nodes, func(i, j int) bool { return snap.Nodes[i].Path < snap.Nodes[j].Path })
	b, err := json.Marshal(&snap)
	if err != nil {
		return err
	}
	return writeFileAtomic(db.dir, localTreeFile, localTreeTemp, b)
}

// writeFileAtomic replaces dir/name with data so that a crash leaves either
// the old or the new content.
func writeFileAtomic(dir, name, tmpName string, data []byte) error {
	tmp := filepath.Join(dir, tmpName)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
