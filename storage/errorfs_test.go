package storage

import (
	"bytes"
	"errors"
	"path/filepath"
	"syscall"
	"testing"
)

// errorLog opens a log over an ErrorFS and appends some batches.
func errorLog(t *testing.T, inner FS, dir string) (*Log, *ErrorFS, []byte) {
	t.Helper()
	efs := NewErrorFS(inner)
	l := openT(t, efs, dir, smallConfig(), nil)
	var data []byte
	for _, b := range appendN(t, l, 5, 2, 50, 0, 1) {
		data = append(data, b...)
	}
	return l, efs, data
}

// checkUnchanged asserts a failed append left nothing visible.
func checkUnchanged(t *testing.T, l *Log, want []byte) {
	t.Helper()
	if got := readAll(t, l); !bytes.Equal(got, want) {
		t.Fatal("visible contents changed after a failed append")
	}
	size, err := l.active().log.Size()
	if err != nil || size != l.active().size {
		t.Fatalf("active file size %d (%v), log thinks %d: partial write left behind", size, err, l.active().size)
	}
}

// reopenClean reopens the directory without injection and checks it holds
// exactly want.
func reopenClean(t *testing.T, inner FS, dir string, want []byte) {
	t.Helper()
	l := openT(t, inner, dir, smallConfig(), nil)
	defer l.Close()
	if got := readAll(t, l); !bytes.Equal(got, want) {
		t.Fatalf("after reopen: %d bytes, want %d", len(got), len(want))
	}
	if err := l.checkConsistency(); err != nil {
		t.Fatal(err)
	}
}

func TestErrorFSAppendWriteFailure(t *testing.T) {
	for _, partial := range []bool{false, true} {
		t.Run(map[bool]string{false: "whole", true: "torn"}[partial], func(t *testing.T) {
			forEachFS(t, func(t *testing.T, inner FS, dir string) {
				l, efs, data := errorLog(t, inner, dir)
				efs.Add(Rule{Op: OpWrite, Glob: "*.log", Partial: partial})
				b := buildBatch(batchSpec{records: 3, valueSize: 40})
				orig := append([]byte(nil), b...)
				_, err := l.Append(b, 9)
				mustErrIs(t, err, ErrStorage)
				mustErrIs(t, err, ErrInjected)
				if !bytes.Equal(b, orig) {
					t.Fatal("records modified by a failed append")
				}
				checkUnchanged(t, l, data)
				// The log is not failed: the next append works.
				info, err := l.Append(b, 9)
				if err != nil || info.FirstOffset != 10 {
					t.Fatalf("append after failure: %+v %v", info, err)
				}
				data = append(data, b...)
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				reopenClean(t, inner, dir, data)
			})
		})
	}
}

func TestErrorFSRollbackFailureMarksLogFailed(t *testing.T) {
	forEachFS(t, func(t *testing.T, inner FS, dir string) {
		l, efs, data := errorLog(t, inner, dir)
		efs.Add(Rule{Op: OpWrite, Glob: "*.log", Partial: true})
		efs.Add(Rule{Op: OpTruncate, Glob: "*.log"})
		_, err := l.Append(buildBatch(batchSpec{records: 3, valueSize: 40}), 1)
		mustErrIs(t, err, ErrStorage)
		// Appends are refused from now on, reads keep working.
		_, err = l.Append(buildBatch(batchSpec{}), 1)
		mustErrIs(t, err, ErrStorage)
		_, err = l.AppendAsFollower(buildBatch(batchSpec{base: l.LogEndOffset()}))
		mustErrIs(t, err, ErrStorage)
		mustErrIs(t, l.TruncateTo(0), ErrStorage)
		if got := readAll(t, l); !bytes.Equal(got, data) {
			t.Fatal("reads changed")
		}
		l.Close()
		// The torn bytes are on disk; recovery cuts them.
		reopenClean(t, inner, dir, data)
	})
}

func TestErrorFSDiskFull(t *testing.T) {
	forEachFS(t, func(t *testing.T, inner FS, dir string) {
		l, efs, data := errorLog(t, inner, dir)
		efs.SetDiskFree(700)
		var err error
		for i := 0; i < 100 && err == nil; i++ {
			b := buildBatch(batchSpec{records: 1, valueSize: 100})
			if _, err = l.Append(b, 1); err == nil {
				data = append(data, b...)
			}
		}
		mustErrIs(t, err, ErrStorage)
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("want ENOSPC, got %v", err)
		}
		checkUnchanged(t, l, data)
		// Space comes back: appends resume.
		efs.SetDiskFree(-1)
		b := buildBatch(batchSpec{records: 1, valueSize: 100})
		if _, err := l.Append(b, 1); err != nil {
			t.Fatal(err)
		}
		data = append(data, b...)
		l.Close()
		reopenClean(t, inner, dir, data)
	})
}

func TestErrorFSSyncFailure(t *testing.T) {
	inner := NewMemFS()
	l, efs, data := errorLog(t, inner, "/p")
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	flushed := append([]byte(nil), data...)
	for _, b := range appendN(t, l, 3, 1, 10, 0, 1) {
		data = append(data, b...)
	}
	efs.Add(Rule{Op: OpSync, Glob: "*.log"})
	mustErrIs(t, l.Flush(), ErrStorage)
	if l.RecoveryPoint() != 10 {
		t.Fatalf("recovery point moved to %d", l.RecoveryPoint())
	}
	// fsync failed: the page cache may have dropped the data, so the log
	// refuses appends until reopened.
	_, err := l.Append(buildBatch(batchSpec{}), 1)
	mustErrIs(t, err, ErrStorage)
	if got := readAll(t, l); !bytes.Equal(got, data) {
		t.Fatal("reads changed")
	}
	// A crash now keeps what the last good flush covered.
	reopenClean(t, inner.CrashClone(), "/p", flushed)
	l.Close()
	reopenClean(t, inner, "/p", data)
}

func TestErrorFSSyncFuncFailure(t *testing.T) {
	inner := NewMemFS()
	l, efs, _ := errorLog(t, inner, "/p")
	defer l.Close()
	efs.Add(Rule{Op: OpSync})
	upTo, sync := l.SyncFunc()
	if err := sync(); !errors.Is(err, ErrStorage) {
		t.Fatalf("sync: %v", err)
	}
	if l.RecoveryPoint() != 0 || upTo != 10 {
		t.Fatalf("rp %d upTo %d", l.RecoveryPoint(), upTo)
	}
	upTo, sync = l.SyncFunc()
	if err := sync(); err != nil {
		t.Fatal(err)
	}
	l.MarkFlushed(upTo)
	if l.RecoveryPoint() != 10 {
		t.Fatal("MarkFlushed")
	}
}

func TestErrorFSRollFailure(t *testing.T) {
	forEachFS(t, func(t *testing.T, inner FS, dir string) {
		efs := NewErrorFS(inner)
		l := openT(t, efs, dir, smallConfig(), nil)
		var data []byte
		for l.NumSegments() == 1 {
			b := buildBatch(batchSpec{records: 1, valueSize: 300})
			segs := l.NumSegments()
			efs.Add(Rule{Op: OpCreate, Glob: "*.log"})
			_, err := l.Append(b, 0)
			efs.Clear()
			if err != nil {
				mustErrIs(t, err, ErrStorage)
				if l.NumSegments() != segs {
					t.Fatal("segments changed")
				}
				checkUnchanged(t, l, data)
				if _, err := l.Append(b, 0); err != nil {
					t.Fatal(err)
				}
			}
			data = append(data, b...)
		}
		if got := readAll(t, l); !bytes.Equal(got, data) {
			t.Fatal("contents")
		}
		l.Close()
		reopenClean(t, inner, dir, data)
	})
}

func TestErrorFSIndexWriteFailure(t *testing.T) {
	inner := NewMemFS()
	cfg := smallConfig()
	cfg.IndexIntervalBytes = 1 // an index entry per batch
	cfg.SegmentBytes = 1 << 20
	cfg.SegmentIndexBytes = 1 << 20
	efs := NewErrorFS(inner)
	l := openT(t, efs, "/p", cfg, nil)
	var data []byte
	failures := 0
	efs.Add(Rule{Op: OpWrite, Glob: "*.index", Nth: 1})
	for i := 0; i < 200; i++ {
		b := buildBatch(batchSpec{records: 1, valueSize: 10, firstTs: int64(i)})
		if _, err := l.Append(b, 0); err != nil {
			mustErrIs(t, err, ErrStorage)
			checkUnchanged(t, l, data)
			failures++
			continue
		}
		data = append(data, b...)
	}
	if failures != 1 {
		t.Fatalf("%d failures", failures)
	}
	if err := l.checkConsistency(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l2 := openT(t, inner, "/p", cfg, nil)
	defer l2.Close()
	if got := readAll(t, l2); !bytes.Equal(got, data) {
		t.Fatal("contents")
	}
}

func TestErrorFSCheckpointFailure(t *testing.T) {
	inner := NewMemFS()
	l, efs, data := errorLog(t, inner, "/p")
	efs.Add(Rule{Op: OpRename, Glob: "*.tmp"})
	mustErrIs(t, l.Flush(), ErrStorage)
	efs.Clear()
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	reopenClean(t, inner, "/p", data)
	names, _ := inner.List("/p")
	for _, n := range names {
		if filepath.Ext(n) == ".tmp" {
			t.Fatalf("temp file left: %v", names)
		}
	}
}

func TestErrorFSTruncateFailureMarksFailed(t *testing.T) {
	inner := NewMemFS()
	l, efs, data := errorLog(t, inner, "/p")
	efs.Add(Rule{Op: OpTruncate, Glob: "*.log"})
	mustErrIs(t, l.TruncateTo(4), ErrStorage)
	_, err := l.Append(buildBatch(batchSpec{}), 1)
	mustErrIs(t, err, ErrStorage)
	l.Close()
	reopenClean(t, inner, "/p", data)
}

func TestErrorFSRuleMatching(t *testing.T) {
	m := NewMemFS()
	m.MkdirAll("/d")
	efs := NewErrorFS(m, Rule{Op: OpWrite, Glob: "*.x", Nth: 2, Sticky: true})
	a, _ := efs.Create("/d/a.x")
	b, _ := efs.Create("/d/b.y")
	if _, err := a.Write([]byte("1")); err != nil {
		t.Fatal("first write failed")
	}
	if _, err := b.Write([]byte("1")); err != nil {
		t.Fatal("non-matching glob failed")
	}
	for i := 0; i < 3; i++ {
		if _, err := a.Write([]byte("1")); !errors.Is(err, ErrInjected) {
			t.Fatalf("write %d: %v", i+2, err)
		}
	}
	if efs.Fired() != 3 {
		t.Fatalf("fired %d", efs.Fired())
	}
}
