package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/harness"
	"github.com/troupe-mq/troupe/storage"
)

// This file holds what the cluster tests (cluster_*_test.go) share: views
// of partition state as each broker's metadata shows it, topic creation
// that waits for leaders and full ISRs, a paced producer, and a reader of
// every replica's segment files for comparing replicas batch by batch.

// partState is one partition as one broker's Metadata answers for it.
type partState struct {
	leader, epoch       int32
	replicas, isr, offl []int32
}

func (s partState) String() string {
	return fmt.Sprintf("leader %d epoch %d isr %v replicas %v offline %v", s.leader, s.epoch, s.isr, s.replicas, s.offl)
}

// partitionsFrom asks the broker at addr, and only it, for topic's
// partitions.
func partitionsFrom(addr, topic string) (map[int32]partState, error) {
	resp, err := metadataFrom(addr, topic, time.Second, 2*time.Second)
	if err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 {
		return nil, fmt.Errorf("metadata answered %d topics", len(resp.Topics))
	}
	mt := resp.Topics[0]
	if err := kerr.ErrorForCode(mt.ErrorCode); err != nil {
		return nil, fmt.Errorf("topic %s: %w", topic, err)
	}
	out := make(map[int32]partState, len(mt.Partitions))
	for _, p := range mt.Partitions {
		isr := slices.Clone(p.ISR)
		slices.Sort(isr)
		out[p.Partition] = partState{leader: p.Leader, epoch: p.LeaderEpoch, replicas: p.Replicas, isr: isr, offl: p.OfflineReplicas}
	}
	return out, nil
}

// metadataFrom asks the broker at addr, and only it, once, for topic's
// metadata (dial and request each within their deadline).
func metadataFrom(addr, topic string, dial, wait time.Duration) (*kmsg.MetadataResponse, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.DialTimeout(dial))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	kresp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return nil, err
	}
	resp, ok := kresp.(*kmsg.MetadataResponse)
	if !ok {
		return nil, fmt.Errorf("metadata answered with %T", kresp)
	}
	return resp, nil
}

// live returns the brokers that run and are not paused: those that answer.
func live(c *harness.Cluster, paused ...*harness.Broker) []*harness.Broker {
	var out []*harness.Broker
	for _, b := range c.Running() {
		if !slices.Contains(paused, b) {
			out = append(out, b)
		}
	}
	return out
}

// waitPartitions polls the metadata of every broker in from until cond
// holds for topic's partitions on all of them, and returns what the first
// one showed.
func waitPartitions(t testing.TB, from []*harness.Broker, topic string, timeout time.Duration, cond func(map[int32]partState) error) map[int32]partState {
	t.Helper()
	var first map[int32]partState
	harness.Eventually(t, timeout, func() error {
		first = nil
		for _, b := range from {
			ps, err := partitionsFrom(b.Addr(), topic)
			if err != nil {
				return fmt.Errorf("broker %d: %w", b.ID(), err)
			}
			if err := cond(ps); err != nil {
				return fmt.Errorf("broker %d: %w", b.ID(), err)
			}
			if first == nil {
				first = ps
			}
		}
		return nil
	})
	return first
}

// fullISR is a waitPartitions condition: n partitions, each with a live
// leader and all rf replicas in sync.
func fullISR(n, rf int) func(map[int32]partState) error {
	return func(ps map[int32]partState) error {
		if len(ps) != n {
			return fmt.Errorf("%d partitions, want %d", len(ps), n)
		}
		for p, s := range ps {
			if s.leader < 0 || len(s.isr) != rf || len(s.offl) != 0 {
				return fmt.Errorf("partition %d: %v", p, s)
			}
		}
		return nil
	}
}

// createReplicated creates topic with rf replicas per partition and waits
// until every running broker shows each partition led with a full ISR.
func createReplicated(t *testing.T, c *harness.Cluster, topic string, partitions int32, rf int16, configs map[string]string) {
	t.Helper()
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = kmsg.StringPtr(v)
	}
	ctx := testCtx(t, 30*time.Second)
	resp, err := c.Admin(t).CreateTopic(ctx, partitions, rf, cfg, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	waitPartitions(t, c.Running(), topic, 30*time.Second, fullISR(int(partitions), int(rf)))
}

// createAssigned creates topic with partition i on the brokers assign[i]
// (CreateTopics with a replica assignment) and waits until every running
// broker shows each partition led with a full ISR.
func createAssigned(t testing.TB, c *harness.Cluster, topic string, assign ...[]int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for p, rs := range assign {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = int32(p), rs
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, c.Client(t))
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	waitPartitions(t, c.Running(), topic, 30*time.Second, fullISR(len(assign), len(assign[0])))
}

// brokerByID finds a cluster's broker.
func brokerByID(t testing.TB, c *harness.Cluster, id int32) *harness.Broker {
	t.Helper()
	for _, b := range c.Brokers {
		if b.ID() == id {
			return b
		}
	}
	t.Fatalf("no broker %d", id)
	return nil
}

// startPacedProducer is startTrackedProducer at about perSec records a
// second, seeded with every broker of the cluster.
func startPacedProducer(t *testing.T, c *harness.Cluster, topic string, perSec int, opts ...kgo.Opt) *trackedProducer {
	t.Helper()
	p := &trackedProducer{topic: topic, done: make(chan struct{})}
	p.mu.acks = map[string]ack{}
	p.cl = harness.NewClient(t, c.Bootstrap(), append([]kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(time.Millisecond),
		kgo.MaxBufferedRecords(2000), // Produce blocks while no leader takes records
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.MetadataMinAge(100 * time.Millisecond),
	}, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	const every = 10 * time.Millisecond
	perTick := max(1, perSec/int(time.Second/every))
	go func() {
		defer close(p.done)
		tk := time.NewTicker(every) // pacing, not synchronization
		defer tk.Stop()
		for i := 0; ctx.Err() == nil; {
			for range perTick {
				p.cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}, p.onAck)
				i++
			}
			select {
			case <-tk.C:
			case <-ctx.Done():
			}
		}
	}()
	t.Cleanup(func() { p.cancel(); <-p.done })
	return p
}

// produceErrors returns the errors the producer has reported so far.
func (p *trackedProducer) produceErrors() []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.mu.errs)
}

// batchID identifies a stored batch for comparing replicas.
type batchID struct {
	base, last int64
	epoch      int32
	crc        uint32
}

func (b batchID) String() string {
	return fmt.Sprintf("[%d..%d e%d crc %08x]", b.base, b.last, b.epoch, b.crc)
}

// errTornTail: a segment ends in a partial batch (a write in progress).
var errTornTail = errors.New("segment ends in a partial batch")

// replicaBatches reads the batch headers of a partition replica straight
// from the segment files in a broker's data directory (page cache: what
// the broker wrote is what we read, even while it runs).
func replicaBatches(dataDir, topic string, partition int32) ([]batchID, error) {
	dir := filepath.Join(dataDir, fmt.Sprintf("%s-%d", topic, partition))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".log") {
			segs = append(segs, e.Name())
		}
	}
	sort.Strings(segs) // zero-padded base offsets sort as numbers
	var out []batchID
	for _, name := range segs {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		for len(data) > 0 {
			if len(data) < storage.BatchHeaderSize {
				return out, fmt.Errorf("%s: %w (%d bytes)", name, errTornTail, len(data))
			}
			h, err := storage.ParseBatchHeader(data)
			if err != nil {
				return out, fmt.Errorf("%s: %w", name, err)
			}
			size := int(h.Size())
			if size > len(data) || size < storage.BatchHeaderSize {
				return out, fmt.Errorf("%s: %w (batch of %d bytes, %d left)", name, errTornTail, size, len(data))
			}
			out = append(out, batchID{base: h.BaseOffset, last: h.LastOffset(), epoch: h.PartitionLeaderEpoch, crc: h.CRC})
			data = data[size:]
		}
	}
	return out, nil
}

// sameBatches compares two replicas batch by batch.
func sameBatches(a, b []batchID) error {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Errorf("batch %d differs: %v vs %v", i, a[i], b[i])
		}
	}
	if len(a) != len(b) {
		return fmt.Errorf("%d batches vs %d", len(a), len(b))
	}
	return nil
}

// contiguous checks that batches follow each other without a gap.
func contiguous(bs []batchID) error {
	for i := 1; i < len(bs); i++ {
		if bs[i].base != bs[i-1].last+1 {
			return fmt.Errorf("batch %v follows %v", bs[i], bs[i-1])
		}
	}
	return nil
}

// waitReplicasIdentical waits until every replica of each partition of
// topic, read from the brokers' data directories, holds the same batches
// (base offset, last offset, leader epoch, CRC), contiguous and ending at
// the partition's end offset. All brokers must be running and settled (no
// producing). It returns the batches of each partition.
func waitReplicasIdentical(t *testing.T, c *harness.Cluster, topic string, partitions int32) map[int32][]batchID {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	ends, err := c.Admin(t).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32][]batchID{}
	harness.Eventually(t, 60*time.Second, func() error {
		for p := range partitions {
			end, ok := ends.Lookup(topic, p)
			if !ok || end.Err != nil {
				return fmt.Errorf("no end offset for partition %d: %v", p, end.Err)
			}
			var ref []batchID
			for i, b := range c.Brokers {
				bs, err := replicaBatches(b.DataDir(), topic, p)
				if err != nil {
					return fmt.Errorf("broker %d partition %d: %w", b.ID(), p, err)
				}
				if err := contiguous(bs); err != nil {
					return fmt.Errorf("broker %d partition %d: %w", b.ID(), p, err)
				}
				if n := len(bs); end.Offset > 0 && (n == 0 || bs[n-1].last+1 != end.Offset) {
					return fmt.Errorf("broker %d partition %d: %d batches, not ending at %d", b.ID(), p, n, end.Offset)
				}
				if i == 0 {
					ref = bs
					continue
				}
				if err := sameBatches(ref, bs); err != nil {
					return fmt.Errorf("partition %d, brokers %d and %d: %w", p, c.Brokers[0].ID(), b.ID(), err)
				}
			}
			out[p] = ref
		}
		return nil
	})
	return out
}

// acksSoFar returns the acknowledgements received so far.
func (p *trackedProducer) acksSoFar() []ack {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ack, 0, len(p.mu.acks))
	for _, a := range p.mu.acks {
		out = append(out, a)
	}
	return out
}

// readLog is what a consumer running alongside a test read: (partition,
// offset) -> value.
type readLog struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	seen   map[ack]string
	errs   int
}

// startReader consumes topic from the start on its own goroutine for as
// long as the test runs (until stop), remembering every record.
func startReader(t *testing.T, c *harness.Cluster, topic string) *readLog {
	t.Helper()
	cl := harness.NewClient(t, c.Bootstrap(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	rl := &readLog{cancel: cancel, done: make(chan struct{}), seen: map[ack]string{}}
	go func() {
		defer close(rl.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			rl.mu.Lock()
			fs.EachError(func(string, int32, error) { rl.errs++ })
			fs.EachRecord(func(r *kgo.Record) { rl.seen[ack{r.Partition, r.Offset}] = string(r.Value) })
			rl.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-rl.done })
	return rl
}

// stop ends the reader and returns what it read.
func (rl *readLog) stop() map[ack]string {
	rl.cancel()
	<-rl.done
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.seen
}

// checkReadsCommitted checks that every record a reader saw is in the
// final log at the offset it was read at: a consumer never sees a record
// that is later truncated away (it reads only below the high watermark).
func checkReadsCommitted(t *testing.T, addr, topic string, read map[ack]string, total int) {
	t.Helper()
	final := map[ack]string{}
	for _, r := range consumeN(t, addr, topic, total, 60*time.Second) {
		final[ack{r.Partition, r.Offset}] = string(r.Value)
	}
	bad := 0
	for at, v := range read {
		if got, ok := final[at]; !ok || got != v {
			if bad < 5 {
				t.Errorf("read %q at %d/%d during the test; the final log has %q there", v, at.partition, at.offset, got)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d records read during the test are not in the final log", bad, len(read))
	}
	t.Logf("%d records read during the test, all in the final log", len(read))
}

// otherTwo returns the two brokers of a three-broker cluster that are not b.
func otherTwo(c *harness.Cluster, b *harness.Broker) (*harness.Broker, *harness.Broker) {
	var others []*harness.Broker
	for _, o := range c.Brokers {
		if o != b {
			others = append(others, o)
		}
	}
	return others[0], others[1]
}
