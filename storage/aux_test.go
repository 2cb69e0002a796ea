package storage

import (
	"errors"
	"testing"
)

func TestAuxFiles(t *testing.T) {
	fs := NewMemFS()
	l := openT(t, fs, "/p", smallConfig(), nil)
	if _, _, err := l.ReadAux("x.checkpoint"); !errors.Is(err, ErrAuxName) {
		t.Fatalf("bad name accepted: %v", err)
	}
	if _, ok, err := l.ReadAux("producer.snapshot"); ok || err != nil {
		t.Fatalf("absent file: ok=%v err=%v", ok, err)
	}
	if err := l.WriteAux("producer.snapshot", []byte("state")); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3, 1, 10, 0, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Synced and left alone by recovery, also across a crash.
	l = openT(t, fs.CrashClone(), "/p", smallConfig(), nil)
	defer l.Close()
	got, ok, err := l.ReadAux("producer.snapshot")
	if err != nil || !ok || string(got) != "state" {
		t.Fatalf("after reopen: %q %v %v", got, ok, err)
	}
	if err := l.RemoveAux("producer.snapshot"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := l.ReadAux("producer.snapshot"); ok {
		t.Fatal("removed file still there")
	}
	if err := l.RemoveAux("producer.snapshot"); err != nil {
		t.Fatalf("removing an absent file: %v", err)
	}
}

// TestRemoveAuxIsDurable: a removed auxiliary file stays removed across a
// power loss (the directory is fsynced), so a producer snapshot removed
// before a truncation cannot come back describing batches that are gone.
func TestRemoveAuxIsDurable(t *testing.T) {
	fs := NewMemFS()
	l := openT(t, fs, "/p", smallConfig(), nil)
	defer l.Close()
	if err := l.WriteAux("producer.snapshot", []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveAux("producer.snapshot"); err != nil {
		t.Fatal(err)
	}
	c := fs.CrashClone()
	if _, err := c.Stat("/p/producer.snapshot"); err == nil {
		t.Fatal("a removed snapshot came back after power loss")
	}
}
