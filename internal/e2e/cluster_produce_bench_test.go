package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/troupe-mq/troupe/internal/harness"
)

// BenchmarkReplicatedProduce compares acks=all produce throughput of RF 3
// on three brokers with RF 1 on one broker, in the same run with the same
// client settings: `troupe bench produce --records 200000 --size 1024
// --acks all --partitions 6 [--replication-factor 3] --json` (idempotent,
// kgo's defaults). Both set-ups are ZooKeeper clusters started by the
// harness; each iteration runs the two, alternating which goes first, on a
// fresh topic that is deleted afterwards (bounding what the page cache has
// to write back). It reports the median records/s of each and their ratio.
//
//	go test -run '^$' -bench ReplicatedProduce -benchtime 5x ./internal/e2e/
func BenchmarkReplicatedProduce(b *testing.B) {
	const records = 200000
	b.StopTimer()
	quiet := []string{"--log-level", "info"} // the harness's debug level is for tests
	rf3 := harness.StartCluster(b, harness.ClusterOptions{Brokers: 3, Args: quiet})
	rf1 := harness.StartCluster(b, harness.ClusterOptions{Brokers: 1, Args: quiet})
	run := func(c *harness.Cluster, rf int, i int) float64 {
		topic := fmt.Sprintf("bench-rf%d-%d", rf, i)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, harness.Binary(b), "bench", "produce", "--brokers", c.BootstrapString(),
			"--topic", topic, "--records", fmt.Sprint(records), "--size", "1024", "--acks", "all",
			"--partitions", "6", "--replication-factor", fmt.Sprint(rf), "--json")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			b.Fatalf("bench produce rf %d: %v\n%s", rf, err, errOut.String())
		}
		var res struct {
			Records       int64   `json:"records"`
			Failed        int64   `json:"failed"`
			RecordsPerSec float64 `json:"records_per_sec"`
		}
		line := strings.TrimSpace(out.String())
		if i := strings.LastIndexByte(line, '\n'); i >= 0 {
			line = line[i+1:]
		}
		if err := json.Unmarshal([]byte(line), &res); err != nil || res.Failed != 0 || res.Records != records {
			b.Fatalf("bench produce rf %d: %v, %+v\n%s", rf, err, res, out.String())
		}
		dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer dcancel()
		if resp, err := c.Admin(b).DeleteTopics(dctx, topic); err != nil || resp.Error() != nil {
			b.Fatalf("delete %s: %v %v", topic, err, resp.Error())
		}
		return res.RecordsPerSec
	}
	loadavg := func() string {
		data, _ := os.ReadFile("/proc/loadavg")
		return strings.TrimSpace(string(data))
	}
	b.Logf("load before: %s", loadavg())
	var r3, r1 []float64
	b.StartTimer()
	for i := range b.N {
		if i%2 == 0 {
			r3 = append(r3, run(rf3, 3, i))
			r1 = append(r1, run(rf1, 1, i))
		} else {
			r1 = append(r1, run(rf1, 1, i))
			r3 = append(r3, run(rf3, 3, i))
		}
	}
	b.StopTimer()
	b.Logf("load after: %s", loadavg())
	b.Logf("rf3 records/s: %.0f", r3)
	b.Logf("rf1 records/s: %.0f", r1)
	median := func(xs []float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		return s[len(s)/2]
	}
	m3, m1 := median(r3), median(r1)
	b.ReportMetric(m3, "rf3-rec/s")
	b.ReportMetric(m1, "rf1-rec/s")
	b.ReportMetric(m3/m1, "rf3/rf1")
}
