//go:build linux || darwin || freebsd

package storage

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// Mappings count against the kernel's per-process limit (vm.max_map_count,
// 65530 by default), which the Go runtime also needs for its heap: running
// out would crash the process. So the package keeps a budget of half the
// limit for its own mappings and falls back to read(2) beyond it. This is
// accounting of an OS resource, shared by every Log in the process on
// purpose.
var (
	liveMaps atomic.Int64
	mapLimit = mapBudget()
)

func mapBudget() int64 {
	limit := int64(65530)
	if b, err := os.ReadFile("/proc/sys/vm/max_map_count"); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 {
			limit = v
		}
	}
	return limit / 2
}

var errMapBudget = errors.New("storage: mapping budget exhausted")

// Map maps the first length bytes of the file read-only and shared, so
// lookups read the page cache without system calls or Go heap. The mapping
// may extend past the end of the file (the active segment grows into it);
// touching pages wholly beyond the end would fault, so callers only read
// bytes they know the file holds, and guard reads against faults (an I/O
// error under a mapping arrives as SIGBUS; see catchFault).
func (o *osFile) Map(length int) ([]byte, func() error, error) {
	if length <= 0 {
		return nil, nil, errors.New("storage: empty mapping")
	}
	if liveMaps.Add(1) > mapLimit {
		liveMaps.Add(-1)
		return nil, nil, errMapBudget
	}
	data, err := syscall.Mmap(int(o.f.Fd()), 0, length, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		liveMaps.Add(-1)
		return nil, nil, err
	}
	return data, func() error {
		liveMaps.Add(-1)
		return syscall.Munmap(data)
	}, nil
}
