package storage

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// MemFS is an in-memory FS for tests that models what survives a crash, after
// pebble's strict MemFS: a file's contents survive only up to its last Sync,
// and a directory entry (creation, rename, removal) survives only after a
// SyncDir of its directory. Directories themselves are durable once created.
// CrashClone returns the filesystem a machine would find after power loss.
// MemFS is safe for concurrent use.
type MemFS struct {
	mu struct {
		sync.Mutex
		// files maps a clean path to its node: the namespace as the running
		// process sees it.
		files map[string]*memNode
		// durable maps a clean path to its node as of the last SyncDir of the
		// path's directory: the namespace a crash would leave.
		durable map[string]*memNode
		dirs    map[string]bool
	}
}

// memNode is one file's contents (an inode).
type memNode struct {
	mu     sync.RWMutex
	data   []byte // current contents
	synced []byte // contents as of the last Sync (nil: never synced)
	// dirtyFrom is the lowest offset written or truncated to since the
	// last Sync: synced[:dirtyFrom] equals data[:dirtyFrom], so a Sync
	// copies only the rest (a log grows at its end).
	dirtyFrom int64
}

// NewMemFS returns an empty in-memory filesystem with a root directory "/".
func NewMemFS() *MemFS {
	m := &MemFS{}
	m.mu.files = map[string]*memNode{}
	m.mu.durable = map[string]*memNode{}
	m.mu.dirs = map[string]bool{"/": true, ".": true}
	return m
}

// CrashClone returns a new MemFS holding what would survive a crash now: the
// durable directory entries, each with its file's synced contents.
func (m *MemFS) CrashClone() *MemFS {
	return m.CrashCloneWith(nil)
}

// CrashCloneWith is CrashClone where keep decides, for each durable file, the
// contents that survive; it receives the synced and the current contents (do
// not modify them) and may return e.g. the synced bytes plus part of the
// unsynced tail, as a disk that wrote some pages before power was lost.
// A nil keep keeps the synced contents.
func (m *MemFS) CrashCloneWith(keep func(path string, synced, current []byte) []byte) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := NewMemFS()
	for d := range m.mu.dirs {
		c.mu.dirs[d] = true
	}
	for p, n := range m.mu.durable {
		n.mu.RLock()
		var data []byte
		if keep != nil {
			data = keep(p, n.synced, n.data)
		} else {
			data = n.synced
		}
		data = append([]byte(nil), data...)
		n.mu.RUnlock()
		nn := &memNode{data: data, synced: append([]byte(nil), data...), dirtyFrom: int64(len(data))}
		c.mu.files[p] = nn
		c.mu.durable[p] = nn
	}
	return c
}

func clean(p string) string { return filepath.Clean(p) }

func (m *MemFS) parentExists(p string) bool {
	return m.mu.dirs[filepath.Dir(p)]
}

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	p := clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.parentExists(p) {
		return nil, &os.PathError{Op: "create", Path: name, Err: os.ErrNotExist}
	}
	if m.mu.dirs[p] {
		return nil, &os.PathError{Op: "create", Path: name, Err: fmt.Errorf("is a directory")}
	}
	n, ok := m.mu.files[p]
	if ok {
		n.mu.Lock()
		n.data, n.dirtyFrom = nil, 0
		n.mu.Unlock()
	} else {
		n = &memNode{}
		m.mu.files[p] = n
	}
	return &memFile{node: n, name: p}, nil
}

// Open implements FS.
func (m *MemFS) Open(name string) (File, error) {
	p := clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.mu.files[p]
	if !ok {
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
	}
	return &memFile{node: n, name: p, readOnly: true}, nil
}

// OpenReadWrite implements FS.
func (m *MemFS) OpenReadWrite(name string) (File, error) {
	p := clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.mu.files[p]
	if !ok {
		if !m.parentExists(p) {
			return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
		}
		n = &memNode{}
		m.mu.files[p] = n
	}
	return &memFile{node: n, name: p}, nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldname, newname string) error {
	o, nw := clean(oldname), clean(newname)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.mu.files[o]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: os.ErrNotExist}
	}
	if !m.parentExists(nw) {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: os.ErrNotExist}
	}
	delete(m.mu.files, o)
	m.mu.files[nw] = n
	return nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	p := clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.mu.files[p]; ok {
		delete(m.mu.files, p)
		return nil
	}
	if m.mu.dirs[p] {
		for f := range m.mu.files {
			if filepath.Dir(f) == p {
				return &os.PathError{Op: "remove", Path: name, Err: fmt.Errorf("directory not empty")}
			}
		}
		delete(m.mu.dirs, p)
		return nil
	}
	return &os.PathError{Op: "remove", Path: name, Err: os.ErrNotExist}
}

// RemoveAll implements FS. Removing a directory is durable at once (as a
// simplification, like directory creation).
func (m *MemFS) RemoveAll(name string) error {
	p := clean(name)
	prefix := p + string(filepath.Separator)
	m.mu.Lock()
	defer m.mu.Unlock()
	for f := range m.mu.files {
		if f == p || strings.HasPrefix(f, prefix) {
			delete(m.mu.files, f)
		}
	}
	for f := range m.mu.durable {
		if f == p || strings.HasPrefix(f, prefix) {
			delete(m.mu.durable, f)
		}
	}
	for d := range m.mu.dirs {
		if d == p || strings.HasPrefix(d, prefix) {
			delete(m.mu.dirs, d)
		}
	}
	return nil
}

// List implements FS.
func (m *MemFS) List(dir string) ([]string, error) {
	d := clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.mu.dirs[d] {
		return nil, &os.PathError{Op: "readdir", Path: dir, Err: os.ErrNotExist}
	}
	var names []string
	for f := range m.mu.files {
		if filepath.Dir(f) == d {
			names = append(names, filepath.Base(f))
		}
	}
	for s := range m.mu.dirs {
		if s != d && filepath.Dir(s) == d {
			names = append(names, filepath.Base(s))
		}
	}
	sort.Strings(names)
	return names, nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(dir string) error {
	d := clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		if _, ok := m.mu.files[d]; ok {
			return &os.PathError{Op: "mkdir", Path: dir, Err: fmt.Errorf("not a directory")}
		}
		m.mu.dirs[d] = true
		parent := filepath.Dir(d)
		if parent == d {
			return nil
		}
		d = parent
	}
}

// SyncDir implements FS: the current entries of dir become the durable ones.
func (m *MemFS) SyncDir(dir string) error {
	d := clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.mu.dirs[d] {
		return &os.PathError{Op: "sync", Path: dir, Err: os.ErrNotExist}
	}
	for f := range m.mu.durable {
		if filepath.Dir(f) == d {
			delete(m.mu.durable, f)
		}
	}
	for f, n := range m.mu.files {
		if filepath.Dir(f) == d {
			m.mu.durable[f] = n
		}
	}
	return nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (int64, error) {
	p := clean(name)
	m.mu.Lock()
	n, ok := m.mu.files[p]
	isDir := m.mu.dirs[p]
	m.mu.Unlock()
	if isDir {
		return 0, nil
	}
	if !ok {
		return 0, &os.PathError{Op: "stat", Path: name, Err: os.ErrNotExist}
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	return int64(len(n.data)), nil
}

// memFile is an open handle on a memNode.
type memFile struct {
	node     *memNode
	name     string
	readOnly bool
	closed   atomic.Bool
	pos      int64 // Write position; Write is not used concurrently
}

func (f *memFile) check(write bool) error {
	if f.closed.Load() {
		return &os.PathError{Op: "access", Path: f.name, Err: os.ErrClosed}
	}
	if write && f.readOnly {
		return &os.PathError{Op: "write", Path: f.name, Err: os.ErrPermission}
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.check(false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &os.PathError{Op: "readat", Path: f.name, Err: os.ErrInvalid}
	}
	f.node.mu.RLock()
	defer f.node.mu.RUnlock()
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.check(true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &os.PathError{Op: "writeat", Path: f.name, Err: os.ErrInvalid}
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	end := off + int64(len(p))
	f.node.grow(end)
	copy(f.node.data[off:], p)
	f.node.dirtyFrom = min(f.node.dirtyFrom, off)
	return len(p), nil
}

// grow extends data to at least size bytes, zero-filled.
// REQUIRES: caller holds n.mu.
func (n *memNode) grow(size int64) {
	if size <= int64(len(n.data)) {
		return
	}
	old := len(n.data)
	if size <= int64(cap(n.data)) {
		n.data = n.data[:size]
		clear(n.data[old:])
		return
	}
	nd := make([]byte, size, size+size/4+64)
	copy(nd, n.data)
	n.data = nd
}

func (f *memFile) Write(p []byte) (int, error) {
	n, err := f.WriteAt(p, f.pos)
	f.pos += int64(n)
	return n, err
}

func (f *memFile) Close() error {
	if f.closed.Swap(true) {
		return &os.PathError{Op: "close", Path: f.name, Err: os.ErrClosed}
	}
	return nil
}

func (f *memFile) Sync() error {
	if err := f.check(false); err != nil {
		return err
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	n := f.node
	from := min(n.dirtyFrom, int64(len(n.synced)), int64(len(n.data)))
	n.synced = append(n.synced[:from], n.data[from:]...)
	n.dirtyFrom = int64(len(n.data))
	return nil
}

func (f *memFile) Truncate(size int64) error {
	if err := f.check(true); err != nil {
		return err
	}
	if size < 0 {
		return &os.PathError{Op: "truncate", Path: f.name, Err: os.ErrInvalid}
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if size < int64(len(f.node.data)) {
		f.node.data = f.node.data[:size]
	} else {
		f.node.grow(size)
	}
	f.node.dirtyFrom = min(f.node.dirtyFrom, size)
	return nil
}

func (f *memFile) Size() (int64, error) {
	if err := f.check(false); err != nil {
		return 0, err
	}
	f.node.mu.RLock()
	defer f.node.mu.RUnlock()
	return int64(len(f.node.data)), nil
}
