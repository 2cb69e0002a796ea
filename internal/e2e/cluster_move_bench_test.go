package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/harness"
)

// BenchmarkPartitionMove measures reassignment on three brokers: the time
// to move a partition holding 1 GiB (random, incompressible 64 KiB records;
// RF 1, so every byte is copied) onto another broker unthrottled and at a
// 50 MB/s throttle (leader. and follower.replication.throttled.rate set as
// cluster defaults), and the acks=all produce throughput of `troupe bench
// produce` (RF 3, 1 KiB records) on another topic with no move, during an
// unthrottled move and during a throttled one — all in the same run, the
// order rotating each iteration. It reports medians.
//
//	go test -run '^$' -bench PartitionMove -benchtime 3x -timeout 30m ./internal/e2e/
func BenchmarkPartitionMove(b *testing.B) {
	const (
		recordSize = 64 << 10
		fill       = 1 << 30
		throttle   = 50_000_000
	)
	b.StopTimer()
	c := harness.StartCluster(b, harness.ClusterOptions{Brokers: 3, Args: []string{"--log-level", "info"}})
	adm := c.Admin(b)
	ctx := context.Background()
	const topic = "big"
	createAssigned(b, c, topic, []int32{1})
	payload := make([]byte, recordSize)
	prod := c.Client(b, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedBytes(64<<20))
	filled := time.Now()
	for range fill / recordSize {
		rand.Read(payload)
		prod.Produce(ctx, &kgo.Record{Topic: topic, Value: slices.Clone(payload)}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Errorf("fill: %v", err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %s with 1 GiB in %v", topic, time.Since(filled).Round(time.Millisecond))

	where := int32(1)
	setThrottle := func(on bool) {
		op := kadm.AlterConfig{Op: kadm.DeleteConfig}
		if on {
			op = kadm.AlterConfig{Op: kadm.SetConfig, Value: kmsg.StringPtr(fmt.Sprint(throttle))}
		}
		var ops []kadm.AlterConfig
		for _, name := range []string{"leader.replication.throttled.rate", "follower.replication.throttled.rate"} {
			o := op
			o.Name = name
			ops = append(ops, o)
		}
		if resp, err := adm.AlterBrokerConfigs(ctx, ops); err != nil || resp[0].Err != nil {
			b.Fatalf("throttle %v: %v %v", on, err, resp)
		}
		want := "9223372036854775807"
		if on {
			want = fmt.Sprint(throttle)
		}
		// Every broker applies it (from ZooKeeper's notification) before
		// the clock starts.
		harness.Eventually(b, 30*time.Second, func() error {
			for _, br := range c.Brokers {
				rcs, err := adm.DescribeBrokerConfigs(ctx, br.ID())
				if err != nil {
					return err
				}
				for _, rc := range rcs {
					for _, cfg := range rc.Configs {
						if cfg.Key == "follower.replication.throttled.rate" && cfg.MaybeValue() != want {
							return fmt.Errorf("broker %d: follower rate %s, want %s", br.ID(), cfg.MaybeValue(), want)
						}
					}
				}
			}
			return nil
		})
	}
	// move starts moving the partition to the next broker and returns a
	// function that waits for the move to finish and returns its duration.
	move := func() func() time.Duration {
		to := where%3 + 1
		var r kadm.AlterPartitionAssignmentsReq
		r.Assign(topic, 0, []int32{to})
		start := time.Now()
		if resp, err := adm.AlterPartitionAssignments(ctx, r); err != nil || resp[topic][0].Err != nil {
			b.Fatalf("move to %d: %v %v", to, err, resp)
		}
		return func() time.Duration {
			harness.Eventually(b, 10*time.Minute, func() error {
				ps, err := partitionsFrom(c.Brokers[0].Addr(), topic)
				if err != nil {
					return err
				}
				if s := ps[0]; !slices.Equal(s.replicas, []int32{to}) || s.leader != to {
					return fmt.Errorf("%v, want moved to %d", s, to)
				}
				return nil
			})
			where = to
			return time.Since(start)
		}
	}
	produce := func(i int, what string) float64 {
		t := fmt.Sprintf("load-%s-%d", what, i)
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, harness.Binary(b), "bench", "produce", "--brokers", c.BootstrapString(),
			"--topic", t, "--records", "100000", "--size", "1024", "--acks", "all", "--partitions", "6",
			"--replication-factor", "3", "--json")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			b.Fatalf("bench produce: %v\n%s", err, errOut.String())
		}
		var res struct {
			Failed        int64   `json:"failed"`
			RecordsPerSec float64 `json:"records_per_sec"`
		}
		line := strings.TrimSpace(out.String())
		if k := strings.LastIndexByte(line, '\n'); k >= 0 {
			line = line[k+1:]
		}
		if err := json.Unmarshal([]byte(line), &res); err != nil || res.Failed != 0 {
			b.Fatalf("bench produce: %v %+v", err, res)
		}
		if resp, err := adm.DeleteTopics(ctx, t); err != nil || resp.Error() != nil {
			b.Fatalf("delete %s: %v %v", t, err, resp.Error())
		}
		return res.RecordsPerSec
	}
	var unthrottled, throttled []time.Duration
	var idle, duringMove, duringThrottled []float64
	steps := []func(i int){
		func(i int) { idle = append(idle, produce(i, "idle")) },
		func(i int) { unthrottled = append(unthrottled, move()()) },
		func(i int) {
			setThrottle(true)
			throttled = append(throttled, move()())
			setThrottle(false)
		},
		func(i int) {
			wait := move()
			duringMove = append(duringMove, produce(i, "move"))
			unthrottled = append(unthrottled, wait())
		},
		func(i int) {
			setThrottle(true)
			wait := move()
			duringThrottled = append(duringThrottled, produce(i, "throttled"))
			throttled = append(throttled, wait())
			setThrottle(false)
		},
	}
	b.StartTimer()
	for i := range b.N {
		for k := range steps {
			steps[(i+k)%len(steps)](i)
		}
	}
	b.StopTimer()
	medianD := func(xs []time.Duration) time.Duration { s := slices.Clone(xs); slices.Sort(s); return s[len(s)/2] }
	medianF := func(xs []float64) float64 { s := slices.Clone(xs); slices.Sort(s); return s[len(s)/2] }
	b.Logf("1 GiB move unthrottled: %v", unthrottled)
	b.Logf("1 GiB move at 50 MB/s: %v", throttled)
	b.Logf("produce records/s idle %.0f, during a move %.0f, during a throttled move %.0f", idle, duringMove, duringThrottled)
	b.ReportMetric(medianD(unthrottled).Seconds(), "move-s")
	b.ReportMetric(medianD(throttled).Seconds(), "move-50MB/s-s")
	b.ReportMetric(float64(fill)/medianD(throttled).Seconds()/1e6, "throttled-MB/s")
	b.ReportMetric(medianF(idle), "idle-rec/s")
	b.ReportMetric(medianF(duringMove), "moving-rec/s")
	b.ReportMetric(medianF(duringThrottled), "throttled-moving-rec/s")
}
