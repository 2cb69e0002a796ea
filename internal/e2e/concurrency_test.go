package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/harness"
)

// TestConcurrentClientsInProcess runs producers, consumers and admin
// operations against one in-process broker at the same time, so the race
// detector sees the gateway, the partition actors and the controller
// under concurrent load; then checks that every acknowledged record of
// the steady topic is there exactly once.
func TestConcurrentClientsInProcess(t *testing.T) {
	logs := &lockedBuffer{}
	b := startInProcess(t, logs)
	addr := b.Addr().String()
	adm := harness.NewAdmin(t, []string{addr})
	createTopic(t, adm, "steady", 4, map[string]*string{"segment.bytes": kmsg.StringPtr("65536")})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	var producers []*trackedProducer
	for range 2 {
		producers = append(producers, startTrackedProducer(t, addr, "steady", kgo.ProducerBatchMaxBytes(32<<10)))
	}
	// Consumers tail the topic.
	for i := range 2 {
		cl := harness.NewClient(t, []string{addr}, kgo.ConsumeTopics("steady"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(200*time.Millisecond))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				fs.EachError(func(topic string, p int32, err error) {
					if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
						report(fmt.Errorf("consumer %d: %s-%d: %w", i, topic, p, err))
					}
				})
			}
		}()
	}
	// Topics come and go, configs change, records are deleted.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			name := fmt.Sprintf("churn-%d", i%3)
			if r, err := adm.CreateTopic(ctx, 2, 1, nil, name); err == nil && r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
				report(fmt.Errorf("create %s: %w", name, r.Err))
			}
			cl := harness.NewClient(t, []string{addr}, kgo.DefaultProduceTopic(name))
			if err := cl.ProduceSync(ctx, kgo.StringRecord("x"), kgo.StringRecord("y")).FirstErr(); err != nil && ctx.Err() == nil &&
				!errors.Is(err, kerr.UnknownTopicOrPartition) {
				report(fmt.Errorf("produce to %s: %w", name, err))
			}
			cl.Close()
			if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr(fmt.Sprint(3600000 + i))}}, name); err != nil && ctx.Err() == nil {
				report(fmt.Errorf("alter %s: %w", name, err))
			}
			if _, err := adm.DeleteRecords(ctx, kadm.Offsets{name: {0: {Topic: name, Partition: 0, At: 1}}}); err != nil && ctx.Err() == nil {
				report(fmt.Errorf("delete records of %s: %w", name, err))
			}
			if _, err := adm.DescribeTopicConfigs(ctx, "steady", name); err != nil && ctx.Err() == nil {
				report(fmt.Errorf("describe: %w", err))
			}
			if i%2 == 1 {
				if _, err := adm.DeleteTopics(ctx, name); err != nil && ctx.Err() == nil {
					report(fmt.Errorf("delete %s: %w", name, err))
				}
			}
		}
	}()
	// Metadata and offsets from yet another client.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if _, err := adm.ListEndOffsets(ctx, "steady"); err != nil && ctx.Err() == nil {
				report(fmt.Errorf("list offsets: %w", err))
			}
			if _, err := adm.Metadata(ctx); err != nil && ctx.Err() == nil {
				report(fmt.Errorf("metadata: %w", err))
			}
		}
	}()
	<-ctx.Done()
	start := time.Now()
	wg.Wait()
	t.Logf("clients stopped in %v", time.Since(start))
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	all := map[string]ack{}
	for i, p := range producers {
		for v, a := range p.stop(t) {
			all[fmt.Sprintf("%d/%s", i, v)] = a
		}
	}
	t.Logf("producers stopped after %v", time.Since(start))
	if len(all) < 1000 {
		t.Fatalf("only %d records acknowledged in 3 s", len(all))
	}
	// Two producers write the same values; key the check by position.
	byPos := map[ack]int{}
	for _, a := range all {
		byPos[a]++
	}
	for a, n := range byPos {
		if n > 1 {
			t.Fatalf("two records acknowledged at partition %d offset %d", a.partition, a.offset)
		}
	}
	recs := consumeN(t, addr, "steady", len(all), 60*time.Second)
	t.Logf("%d records read back after %v", len(recs), time.Since(start))
	seen := map[ack]bool{}
	for _, r := range recs {
		seen[ack{r.Partition, r.Offset}] = true
	}
	for a := range byPos {
		if !seen[a] {
			t.Fatalf("acknowledged record at %d/%d missing", a.partition, a.offset)
		}
	}
	if n := logs.count(`"level":"error"`); n > 0 {
		t.Logf("%d error lines in the broker log", n)
	}
}
