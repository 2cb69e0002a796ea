package storage

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// FS is the filesystem seam: every file the log touches goes through it, so
// tests can substitute an in-memory filesystem that simulates crashes (MemFS)
// or one that injects failures (ErrorFS). Implementations must be safe for
// concurrent use: Regions read files from other goroutines, and delayed
// deletions run on timers.
type FS interface {
	// Create creates or truncates the named file for reading and writing.
	Create(name string) (File, error)
	// Open opens an existing file read-only.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing, or creates
	// it if it does not exist (without truncating).
	OpenReadWrite(name string) (File, error)
	// Rename renames a file, replacing newname if it exists.
	Rename(oldname, newname string) error
	// Remove removes a file (or an empty directory).
	Remove(name string) error
	// RemoveAll removes a directory tree.
	RemoveAll(name string) error
	// List returns the names (not paths) of the entries in dir, sorted.
	List(dir string) ([]string, error)
	// MkdirAll creates a directory and its parents.
	MkdirAll(dir string) error
	// SyncDir makes the entries of dir (creations, renames, removals) durable.
	SyncDir(dir string) error
	// Stat returns the size of the named file (os.ErrNotExist if absent).
	Stat(name string) (size int64, err error)
}

// File is an open file. ReadAt, Sync and Size may be called concurrently with
// each other and with WriteAt on disjoint ranges; the log never writes a
// range a reader can see.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Writer
	io.Closer
	// Sync makes the file's data and size durable.
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Size returns the file's current size.
	Size() (int64, error)
}

// osFiler is an optional File capability: the underlying *os.File, for
// sendfile(2) from Regions.
type osFiler interface {
	OSFile() *os.File
}

// mapper is an optional File capability: a read-only shared mapping of the
// first length bytes. length may exceed the file size; the caller must only
// touch bytes the file holds. unmap releases it.
type mapper interface {
	Map(length int) (data []byte, unmap func() error, err error)
}

// OSFS returns the FS backed by the operating system.
func OSFS() FS { return osFS{} }

type osFS struct{}

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return &osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return &osFile{f}, nil
}

func (osFS) OpenReadWrite(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return &osFile{f}, nil
}

func (osFS) Rename(o, n string) error    { return os.Rename(o, n) }
func (osFS) Remove(name string) error    { return os.Remove(name) }
func (osFS) RemoveAll(name string) error { return os.RemoveAll(name) }
func (osFS) MkdirAll(dir string) error   { return os.MkdirAll(dir, 0o755) }

func (osFS) List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (osFS) Stat(name string) (int64, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// osFile adapts *os.File. It is a pointer wrapper so a File interface value
// costs one small allocation and Regions can carry it.
type osFile struct{ f *os.File }

func (o *osFile) ReadAt(p []byte, off int64) (int, error)  { return o.f.ReadAt(p, off) }
func (o *osFile) WriteAt(p []byte, off int64) (int, error) { return o.f.WriteAt(p, off) }
func (o *osFile) Write(p []byte) (int, error)              { return o.f.Write(p) }
func (o *osFile) Close() error                             { return o.f.Close() }
func (o *osFile) Sync() error                              { return o.f.Sync() }
func (o *osFile) Truncate(size int64) error                { return o.f.Truncate(size) }
func (o *osFile) OSFile() *os.File                         { return o.f }

func (o *osFile) Size() (int64, error) {
	fi, err := o.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// isNotExist reports a missing file from any FS implementation.
func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }

// join is filepath.Join; all FS implementations use OS-style paths.
func join(dir, name string) string { return filepath.Join(dir, name) }
