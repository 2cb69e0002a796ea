package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/troupe-mq/troupe/internal/harness"
	"github.com/troupe-mq/troupe/internal/zktest"
)

// TestClusterControllerKilled: kill -9 of the controller's broker gives a
// new controller within seconds; the dead broker's leaderships move, topic
// creation works again (CreateTopics succeeds and the new topic gets
// leaders that take records), and the dead broker, restarted, rejoins
// every ISR.
func TestClusterControllerKilled(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 3})
	createReplicated(t, c, "before", 3, 3, nil)
	old := c.Controller(t, 30*time.Second)
	elections := func() int {
		n := 0
		for _, b := range c.Brokers {
			if b != old {
				n += strings.Count(b.Log(), "became controller")
			}
		}
		return n
	}
	before := elections()
	old.Kill()
	start := time.Now()
	// "Within seconds": the survivors agree on a new, running controller.
	ctrl := c.Controller(t, 10*time.Second)
	t.Logf("broker %d killed; broker %d is controller after %v", old.ID(), ctrl.ID(), time.Since(start).Round(time.Millisecond))
	if ctrl == old {
		t.Fatalf("controller is still the killed broker %d", old.ID())
	}
	waitPartitions(t, c.Running(), "before", 30*time.Second, func(ps map[int32]partState) error {
		for p, s := range ps {
			if s.leader < 0 || s.leader == old.ID() || slices.Contains(s.isr, old.ID()) {
				return fmt.Errorf("partition %d: %v", p, s)
			}
		}
		return nil
	})
	t.Logf("leaderships off broker %d after %v", old.ID(), time.Since(start).Round(time.Millisecond))
	// Both survivors saw the controller die and deposed it; exactly one of
	// them may win. (A late depose used to remove the winner's fresh
	// /controller, electing a second controller.)
	if n := elections() - before; n != 1 {
		t.Fatalf("%d controller elections after one controller died, want 1", n)
	}

	// Topic creation on the new controller: two live brokers take RF 2.
	createReplicated(t, c, "after", 4, 2, nil)
	recs := randomRecords(newRand(2), "after", 400)
	produceAll(t, c.Client(t, kgo.RecordPartitioner(kgo.RoundRobinPartitioner())), recs)
	checkRoundTrip(t, recs, consumeN(t, ctrl.Addr(), "after", len(recs), 30*time.Second))

	old.Restart()
	c.WaitBrokers(t, 3, 30*time.Second)
	waitPartitions(t, c.Running(), "before", 30*time.Second, fullISR(3, 3))
	// And an RF 3 topic, which needs the returned broker.
	createReplicated(t, c, "after-restart", 2, 3, nil)
}

// TestClusterDuplicateBrokerID: a broker started with the id of a live,
// registered broker refuses to start: it exits non-zero with an error that
// names the duplicate id, and the live broker is unharmed.
func TestClusterDuplicateBrokerID(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 1})
	createReplicated(t, c, "dup", 1, 1, nil)
	port, err := zktest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	remote, err := zktest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Binary(t), "serve", "--id", "1",
		"--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		"--remote", net.JoinHostPort("127.0.0.1", strconv.Itoa(remote)),
		"--data-dir", t.TempDir(), "--zookeeper", c.ZooKeeperConnect(), "--log-format", "console",
		"--override", "zookeeper.session.timeout.ms=1000")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 || ctx.Err() != nil {
		t.Fatalf("second broker with id 1: %v (after %v), want a non-zero exit; output:\n%s", err, took, out)
	}
	text := string(out)
	if !strings.Contains(text, "registered by another live broker") || !strings.Contains(text, "broker 1") {
		t.Fatalf("exit code %d, but the output does not name the duplicate id 1:\n%s", exit.ExitCode(), lastLines(text, 15))
	}
	t.Logf("refused after %v with exit code %d: %s", took.Round(time.Millisecond), exit.ExitCode(), lastLines(text, 1))
	// The live broker keeps its registration and serves.
	c.WaitBrokers(t, 1, 10*time.Second)
	recs := randomRecords(newRand(7), "dup", 50)
	produceAll(t, c.Client(t), recs)
	checkRoundTrip(t, recs, consumeN(t, c.Brokers[0].Addr(), "dup", len(recs), 30*time.Second))
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
