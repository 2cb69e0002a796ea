package storage

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
)

// Op names a filesystem operation ErrorFS can fail.
type Op uint8

// Operations ErrorFS can fail.
const (
	OpWrite    Op = iota // File.Write and File.WriteAt
	OpSync               // File.Sync
	OpTruncate           // File.Truncate
	OpCreate             // FS.Create and FS.OpenReadWrite
	OpOpen               // FS.Open
	OpRename             // FS.Rename
	OpRemove             // FS.Remove and FS.RemoveAll
	OpSyncDir            // FS.SyncDir
	OpRead               // File.ReadAt
)

var opNames = [...]string{"write", "sync", "truncate", "create", "open", "rename", "remove", "syncdir", "read"}

// String names the operation.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", o)
}

// ErrInjected is the default error ErrorFS injects.
var ErrInjected = errors.New("storage: injected error")

// Rule makes ErrorFS fail matching operations.
type Rule struct {
	Op Op
	// Glob, if set, must match the file's base name (filepath.Match), e.g.
	// "*.log" or "*.index".
	Glob string
	// Nth: the rule fires on the Nth matching operation (1-based) counted from
	// when the rule was added, and on every later one if Sticky. Zero means 1.
	Nth    int
	Sticky bool
	// Partial makes a failing write store the first half of its bytes before
	// returning the error: a torn write.
	Partial bool
	// Err is returned; nil means ErrInjected.
	Err error

	seen int
}

// ErrorFS wraps an FS and injects failures: the Nth write or sync (optionally
// by path glob), failing truncates, or a disk that fills up after a number of
// bytes (ENOSPC, with a short write). It is pebble's errorfs idea. Safe for
// concurrent use.
type ErrorFS struct {
	inner FS
	mu    struct {
		sync.Mutex
		rules []*Rule
		// diskFree is the number of bytes writes may still add; < 0 means
		// unlimited.
		diskFree int64
		fired    int
	}
}

// NewErrorFS returns an ErrorFS over inner with the given rules.
func NewErrorFS(inner FS, rules ...Rule) *ErrorFS {
	e := &ErrorFS{inner: inner}
	e.mu.diskFree = -1
	for _, r := range rules {
		e.Add(r)
	}
	return e
}

// Add installs a rule.
func (e *ErrorFS) Add(r Rule) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rr := r
	if rr.Nth <= 0 {
		rr.Nth = 1
	}
	e.mu.rules = append(e.mu.rules, &rr)
}

// SetDiskFree simulates a disk with n more bytes of space: writes beyond it
// store what fits and fail with ENOSPC. n < 0 removes the limit.
func (e *ErrorFS) SetDiskFree(n int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mu.diskFree = n
}

// Clear removes all rules and the disk limit.
func (e *ErrorFS) Clear() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mu.rules = nil
	e.mu.diskFree = -1
}

// Fired returns how many errors have been injected so far.
func (e *ErrorFS) Fired() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mu.fired
}

// check returns the rule that fires for op on path, if any.
func (e *ErrorFS) check(op Op, path string) *Rule {
	e.mu.Lock()
	defer e.mu.Unlock()
	base := filepath.Base(path)
	for _, r := range e.mu.rules {
		if r.Op != op {
			continue
		}
		if r.Glob != "" {
			if ok, _ := filepath.Match(r.Glob, base); !ok {
				continue
			}
		}
		r.seen++
		if r.seen == r.Nth || (r.Sticky && r.seen > r.Nth) {
			e.mu.fired++
			return r
		}
	}
	return nil
}

func ruleErr(r *Rule, op Op, path string) error {
	err := r.Err
	if err == nil {
		err = ErrInjected
	}
	return fmt.Errorf("%s %s: %w", op, path, err)
}

func (e *ErrorFS) fail(op Op, path string) error {
	if r := e.check(op, path); r != nil {
		return ruleErr(r, op, path)
	}
	return nil
}

// Create implements FS.
func (e *ErrorFS) Create(name string) (File, error) {
	if err := e.fail(OpCreate, name); err != nil {
		return nil, err
	}
	f, err := e.inner.Create(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{fs: e, f: f, name: name}, nil
}

// Open implements FS.
func (e *ErrorFS) Open(name string) (File, error) {
	if err := e.fail(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := e.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{fs: e, f: f, name: name}, nil
}

// OpenReadWrite implements FS.
func (e *ErrorFS) OpenReadWrite(name string) (File, error) {
	if err := e.fail(OpCreate, name); err != nil {
		return nil, err
	}
	f, err := e.inner.OpenReadWrite(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{fs: e, f: f, name: name}, nil
}

// Rename implements FS.
func (e *ErrorFS) Rename(o, n string) error {
	if err := e.fail(OpRename, o); err != nil {
		return err
	}
	return e.inner.Rename(o, n)
}

// Remove implements FS.
func (e *ErrorFS) Remove(name string) error {
	if err := e.fail(OpRemove, name); err != nil {
		return err
	}
	return e.inner.Remove(name)
}

// RemoveAll implements FS.
func (e *ErrorFS) RemoveAll(name string) error {
	if err := e.fail(OpRemove, name); err != nil {
		return err
	}
	return e.inner.RemoveAll(name)
}

// List implements FS.
func (e *ErrorFS) List(dir string) ([]string, error) { return e.inner.List(dir) }

// MkdirAll implements FS.
func (e *ErrorFS) MkdirAll(dir string) error { return e.inner.MkdirAll(dir) }

// SyncDir implements FS.
func (e *ErrorFS) SyncDir(dir string) error {
	if err := e.fail(OpSyncDir, dir); err != nil {
		return err
	}
	return e.inner.SyncDir(dir)
}

// Stat implements FS.
func (e *ErrorFS) Stat(name string) (int64, error) { return e.inner.Stat(name) }

type errorFile struct {
	fs   *ErrorFS
	f    File
	name string
}

func (f *errorFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.fail(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.f.ReadAt(p, off)
}

// admit decides how many of n bytes written at off may land: the rule and
// disk-full checks. It returns the count and the error to report.
func (f *errorFile) admit(p []byte, off int64) (int, error) {
	if r := f.fs.check(OpWrite, f.name); r != nil {
		if r.Partial {
			return len(p) / 2, ruleErr(r, OpWrite, f.name)
		}
		return 0, ruleErr(r, OpWrite, f.name)
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.fs.mu.diskFree < 0 {
		return len(p), nil
	}
	// Only bytes past the current end take space.
	size, err := f.f.Size()
	if err != nil {
		return 0, err
	}
	grow := off + int64(len(p)) - size
	if grow <= 0 {
		return len(p), nil
	}
	if grow <= f.fs.mu.diskFree {
		f.fs.mu.diskFree -= grow
		return len(p), nil
	}
	fits := int64(len(p)) - (grow - f.fs.mu.diskFree)
	if fits < 0 {
		fits = 0
	}
	f.fs.mu.diskFree = 0
	f.fs.mu.fired++
	return int(fits), fmt.Errorf("write %s: %w", f.name, syscall.ENOSPC)
}

func (f *errorFile) WriteAt(p []byte, off int64) (int, error) {
	n, ierr := f.admit(p, off)
	if n > 0 {
		w, err := f.f.WriteAt(p[:n], off)
		if err != nil {
			return w, err
		}
	}
	if ierr != nil {
		return n, ierr
	}
	return n, nil
}

func (f *errorFile) Write(p []byte) (int, error) {
	size, err := f.f.Size()
	if err != nil {
		return 0, err
	}
	n, ierr := f.admit(p, size)
	if n > 0 {
		w, err := f.f.Write(p[:n])
		if err != nil {
			return w, err
		}
	}
	return n, ierr
}

func (f *errorFile) Close() error { return f.f.Close() }

func (f *errorFile) Sync() error {
	if err := f.fs.fail(OpSync, f.name); err != nil {
		return err
	}
	return f.f.Sync()
}

func (f *errorFile) Truncate(size int64) error {
	if err := f.fs.fail(OpTruncate, f.name); err != nil {
		return err
	}
	cur, err := f.f.Size()
	if err == nil && size < cur {
		// Shrinking frees space on a full disk.
		f.fs.mu.Lock()
		if f.fs.mu.diskFree >= 0 {
			f.fs.mu.diskFree += cur - size
		}
		f.fs.mu.Unlock()
	}
	return f.f.Truncate(size)
}

func (f *errorFile) Size() (int64, error) { return f.f.Size() }
