package storage

import (
	"fmt"
	"io"
	"os"
)

// Region is an immutable view of whole record batches in one segment file, as
// Read returns them. It holds its own reference to the file, so it stays
// readable from any goroutine after Read returns and after the owner goes on
// appending (appends only add bytes after it), rolling, or deleting the
// segment (deleted files stay open for file.delete.delay.ms, or until the log
// closes). The zero Region is empty.
type Region struct {
	f     File
	pos   int64
	n     int64
	first int64 // base offset of the first batch; -1 if empty
	next  int64 // offset after the last batch in the region
}

func emptyRegion(next int64) Region { return Region{first: -1, next: next} }

// Len is the region's size in bytes.
func (r Region) Len() int { return int(r.n) }

// FirstOffset is the base offset of the first batch, -1 if empty.
func (r Region) FirstOffset() int64 {
	if r.n == 0 {
		return -1
	}
	return r.first
}

// NextOffset is the offset after the region's last batch (where the next
// fetch continues); for an empty region, the offset that was asked for.
func (r Region) NextOffset() int64 { return r.next }

// ReadAt reads len(p) bytes of the region from region offset off
// (io.ReaderAt semantics: io.EOF when fewer remain).
func (r Region) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("storage: region read at negative offset %d", off)
	}
	if off >= r.n {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	want := p
	if rem := r.n - off; int64(len(want)) > rem {
		want = want[:rem]
	}
	n, err := r.f.ReadAt(want, r.pos+off)
	if err == io.EOF && n == len(want) {
		err = nil
	}
	if err != nil {
		return n, storageErr("read region", err)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// AppendTo appends the region's bytes to dst.
func (r Region) AppendTo(dst []byte) ([]byte, error) {
	if r.n == 0 {
		return dst, nil
	}
	l := len(dst)
	if int64(cap(dst)-l) < r.n {
		nd := make([]byte, l, int64(l)+r.n)
		copy(nd, dst)
		dst = nd
	}
	dst = dst[:l+int(r.n)]
	if _, err := r.ReadAt(dst[l:], 0); err != nil {
		return dst[:l], err
	}
	return dst, nil
}

// OSFile returns the OS file and the region's position in it, for
// sendfile(2); ok is false for non-OS filesystems and empty regions. The
// caller must not close the file, and must send exactly Len() bytes.
func (r Region) OSFile() (f *os.File, pos int64, ok bool) {
	if r.n == 0 {
		return nil, 0, false
	}
	if of, isOS := r.f.(osFiler); isOS {
		return of.OSFile(), r.pos, true
	}
	return nil, 0, false
}
