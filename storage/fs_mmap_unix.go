//go:build linux || darwin || freebsd

package storage

import "syscall"

// Map maps the first length bytes of the file read-only and shared, so index
// lookups read the page cache without system calls or Go heap. The mapping may
// extend past the end of the file (the active index grows into it); touching
// pages wholly beyond the end would fault, so callers only read entries they
// know the file holds.
func (o *osFile) Map(length int) ([]byte, func() error, error) {
	if length <= 0 {
		return nil, func() error { return nil }, nil
	}
	data, err := syscall.Mmap(int(o.f.Fd()), 0, length, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
