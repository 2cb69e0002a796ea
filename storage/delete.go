package storage

import (
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// deleter closes and removes the files of deleted segments after
// file.delete.delay.ms, so a Region handed out before the deletion stays
// readable for that long (the files are renamed *.deleted at once). It runs
// its timers on other goroutines, hence the mutex; it touches nothing of the
// Log but itself and the FS (which is safe for concurrent use).
type deleter struct {
	fs     FS
	delay  time.Duration
	logger zerolog.Logger
	mu     struct {
		sync.Mutex
		pending map[*pendingDelete]struct{}
	}
}

// pendingDelete is one segment's files waiting for removal.
type pendingDelete struct {
	files []File
	paths []string
	timer *time.Timer
}

func newDeleter(fs FS, delay time.Duration, logger zerolog.Logger) *deleter {
	d := &deleter{fs: fs, delay: delay, logger: logger}
	d.mu.pending = map[*pendingDelete]struct{}{}
	return d
}

// schedule arranges for files to be closed and paths removed after the delay
// (at once when the delay is zero).
func (d *deleter) schedule(files []File, paths []string) {
	p := &pendingDelete{files: files, paths: paths}
	if d.delay <= 0 {
		d.finish(p)
		return
	}
	d.mu.Lock()
	d.mu.pending[p] = struct{}{}
	p.timer = time.AfterFunc(d.delay, func() {
		d.mu.Lock()
		_, ok := d.mu.pending[p]
		delete(d.mu.pending, p)
		d.mu.Unlock()
		if ok {
			d.finish(p)
		}
	})
	d.mu.Unlock()
}

func (d *deleter) finish(p *pendingDelete) {
	for _, f := range p.files {
		if f != nil {
			_ = f.Close()
		}
	}
	for _, path := range p.paths {
		if err := d.fs.Remove(path); err != nil && !isNotExist(err) {
			d.logger.Warn().Err(err).Str("path", path).Msg("storage: removing deleted segment file failed")
		}
	}
}

// flushAll finishes every pending deletion now (the log is closing).
func (d *deleter) flushAll() {
	d.mu.Lock()
	var ps []*pendingDelete
	for p := range d.mu.pending {
		if p.timer != nil {
			p.timer.Stop()
		}
		ps = append(ps, p)
	}
	clear(d.mu.pending)
	d.mu.Unlock()
	for _, p := range ps {
		d.finish(p)
	}
}
