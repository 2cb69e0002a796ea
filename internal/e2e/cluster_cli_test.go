package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/troupe-mq/troupe/internal/harness"
)

// troupeCLI runs the troupe binary with args and returns its output.
func troupeCLI(t *testing.T, c *harness.Cluster, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Binary(t), append(args, "--brokers", c.BootstrapString())...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("troupe %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestClusterCLIRebalance: with the controller's balancer off, `troupe
// cluster rebalance --dry-run` prints a plan for a topic piled on two of
// three brokers, `troupe cluster rebalance --throttle` carries it out and
// follows it to the end (replicas and leaders even afterwards, the throttle
// removed), and `troupe cluster status` shows the result; a second dry run
// finds nothing to move.
func TestClusterCLIRebalance(t *testing.T) {
	c := harness.StartCluster(t, harness.ClusterOptions{Brokers: 3})
	ctx := testCtx(t, time.Minute)
	const topic = "piled"
	var assign [][]int32
	for p := int32(0); p < 6; p++ {
		assign = append(assign, []int32{1 + p%2, 2 - p%2})
	}
	createAssigned(t, c, topic, assign...)

	dry := troupeCLI(t, c, "cluster", "rebalance", "--dry-run")
	if strings.Contains(dry, "no moves") || !strings.Contains(dry, topic) {
		t.Fatalf("dry run planned nothing for %s:\n%s", topic, dry)
	}
	out := troupeCLI(t, c, "cluster", "rebalance", "--throttle", "10MB")
	t.Logf("troupe cluster rebalance:\n%s", out)
	waitPartitions(t, c.Running(), topic, 30*time.Second, evenOver([]int32{1, 2, 3}, 2))
	status := troupeCLI(t, c, "cluster", "status")
	t.Logf("troupe cluster status:\n%s", status)
	if !strings.Contains(status, "controller") {
		t.Errorf("status names no controller:\n%s", status)
	}
	if again := troupeCLI(t, c, "cluster", "rebalance", "--dry-run"); !strings.Contains(again, "no moves") {
		t.Errorf("a balanced cluster still has moves:\n%s", again)
	}
	harness.Eventually(t, 10*time.Second, func() error {
		for _, b := range c.Brokers {
			rcs, err := c.Admin(t).DescribeBrokerConfigs(ctx, b.ID())
			if err != nil {
				return err
			}
			for _, rc := range rcs {
				for _, cfg := range rc.Configs {
					if strings.HasSuffix(cfg.Key, ".replication.throttled.rate") && cfg.MaybeValue() != "9223372036854775807" {
						return errorf("broker %d still throttled: %s=%s", b.ID(), cfg.Key, cfg.MaybeValue())
					}
				}
			}
		}
		return nil
	})
}
