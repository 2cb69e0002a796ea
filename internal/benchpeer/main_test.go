package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMain lets a test re-run this binary as the real command.
func TestMain(m *testing.M) {
	if os.Getenv("BENCHPEER_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// produceAndCount creates a topic on addr, produces n records and reads back
// its end offsets.
func produceAndCount(t *testing.T, addr string, n int) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("auto"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Value: []byte("v")}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "auto")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if len(ends["auto"]) != 6 {
		t.Fatalf("auto-created topic has %d partitions, want 6", len(ends["auto"]))
	}
	return total
}

func TestRunServesUntilCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrCh := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0"}, io.Discard, func(a string) { addrCh <- a })
	}()
	var addr string
	select {
	case addr = <-addrCh:
	case err := <-done:
		t.Fatalf("run ended early: %v", err)
	}
	if got := produceAndCount(t, addr, 100); got != 100 {
		t.Fatalf("end offsets sum to %d, want 100", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{{"--listen", "nope"}, {"--listen", "127.0.0.1:x"}, {"extra"}} {
		if err := run(context.Background(), args, io.Discard, nil); !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v, want errUsage", args, err)
		}
	}
}

func TestExitsCleanlyOnSIGTERM(t *testing.T) {
	cmd := exec.Command(os.Args[0], "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "BENCHPEER_RUN_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	sc := bufio.NewScanner(stderr)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "benchpeer: listening on ") {
		t.Fatalf("first line %q", sc.Text())
	}
	addr := strings.Fields(strings.TrimPrefix(sc.Text(), "benchpeer: listening on "))[0]
	if got := produceAndCount(t, addr, 10); got != 10 {
		t.Fatalf("end offsets sum to %d, want 10", got)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stderr)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v (stderr %q)", err, rest)
	}
	if !bytes.Contains(rest, []byte("benchpeer: stopping")) {
		t.Fatalf("stderr after SIGTERM: %q", rest)
	}
}
