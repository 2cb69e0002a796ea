package harness

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/zktest"
)

// ClusterOptions configures StartCluster.
type ClusterOptions struct {
	// Brokers is the number of brokers, with ids 1..Brokers (default 3).
	Brokers int
	// ZKTickTime is ZooKeeper's tickTime (default 100 ms: quick session expiry).
	ZKTickTime time.Duration
	// SessionTimeout is every broker's zookeeper.session.timeout.ms
	// (default 2 s). ZooKeeper's minimum is 2×ZKTickTime.
	SessionTimeout time.Duration
	// Chroot, when set (e.g. "/troupe"), is appended to the connect string.
	Chroot string
	// Racks gives broker i (0-based) the rack Racks[i%len(Racks)].
	Racks []string
	// Overrides apply to every broker (after SessionTimeout's). The
	// controller's automatic balancer is off unless they turn it on
	// (auto.rebalance.enable=true): tests of other things place partitions
	// on purpose and must not see them moved.
	Overrides map[string]string
	// Args are appended to every broker's command line.
	Args []string
	// Broker, if set, adjusts broker i's options (0-based) before it starts.
	Broker func(i int, o *BrokerOptions)
}

// Cluster is a ZooKeeper and brokers joined to it.
type Cluster struct {
	t       testing.TB
	ZK      *zktest.Server
	Brokers []*Broker
	connect string
}

// StartCluster starts a ZooKeeper with a low tickTime and opts.Brokers
// brokers with --zookeeper (concurrently), then waits until every broker's
// metadata lists all of them. Everything is stopped at cleanup.
func StartCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	if opts.Brokers <= 0 {
		opts.Brokers = 3
	}
	if opts.ZKTickTime <= 0 {
		opts.ZKTickTime = 100 * time.Millisecond
	}
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = 2 * time.Second
	}
	zk := zktest.Start(t, zktest.WithTickTime(opts.ZKTickTime),
		zktest.WithSessionTimeouts(2*opts.ZKTickTime, 60*time.Second))
	c := &Cluster{t: t, ZK: zk, connect: zk.Addr() + opts.Chroot}
	c.Brokers = make([]*Broker, opts.Brokers)
	errs := make([]error, opts.Brokers)
	var wg sync.WaitGroup
	for i := range opts.Brokers {
		o := BrokerOptions{ID: int32(i + 1), ZooKeeper: c.connect, Args: opts.Args,
			Overrides: map[string]string{"zookeeper.session.timeout.ms": strconv.FormatInt(opts.SessionTimeout.Milliseconds(), 10),
				"auto.rebalance.enable": "false"}}
		maps.Copy(o.Overrides, opts.Overrides)
		if len(opts.Racks) > 0 {
			o.Rack = opts.Racks[i%len(opts.Racks)]
		}
		if opts.Broker != nil {
			opts.Broker(i, &o)
		}
		b, err := newBroker(t, o)
		if err != nil {
			t.Fatal(err)
		}
		c.Brokers[i] = b
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.startFresh()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("harness: broker %d: %v\n%s", i+1, err, c.Brokers[i].Tail(40))
		}
	}
	c.WaitBrokers(t, opts.Brokers, DefaultReadyTimeout)
	return c
}

// ZooKeeperConnect is the connect string the brokers were given.
func (c *Cluster) ZooKeeperConnect() string { return c.connect }

// Broker returns the broker with the given id.
func (c *Cluster) Broker(id int32) *Broker {
	for _, b := range c.Brokers {
		if b.ID() == id {
			return b
		}
	}
	c.t.Fatalf("harness: no broker %d in the cluster", id)
	return nil
}

// Bootstrap lists the listener addresses of all brokers (running or not).
func (c *Cluster) Bootstrap() []string {
	addrs := make([]string, len(c.Brokers))
	for i, b := range c.Brokers {
		addrs[i] = b.Addr()
	}
	return addrs
}

// BootstrapString is Bootstrap joined with commas (for kcat -b, --brokers).
func (c *Cluster) BootstrapString() string { return strings.Join(c.Bootstrap(), ",") }

// Running returns the brokers whose process is alive.
func (c *Cluster) Running() []*Broker {
	var out []*Broker
	for _, b := range c.Brokers {
		if b.Running() {
			out = append(out, b)
		}
	}
	return out
}

// Client returns a franz-go client seeded with every broker.
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return NewClient(t, c.Bootstrap(), opts...)
}

// Admin returns a kadm client seeded with every broker.
func (c *Cluster) Admin(t testing.TB, opts ...kgo.Opt) *kadm.Client {
	t.Helper()
	return NewAdmin(t, c.Bootstrap(), opts...)
}

// WaitBrokers waits until every running broker's Metadata lists exactly n
// live brokers.
func (c *Cluster) WaitBrokers(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() error {
		for _, b := range c.Running() {
			md, err := metadataFrom(b.Addr(), nil)
			if err != nil {
				return fmt.Errorf("broker %d: %w", b.ID(), err)
			}
			if len(md.Brokers) != n {
				return fmt.Errorf("broker %d lists brokers %v, want %d of them", b.ID(), brokerIDs(md.Brokers), n)
			}
		}
		return nil
	})
}

// errNoLeader: metadata shows no live leader for a partition.
var errNoLeader = errors.New("harness: partition has no leader")

// Leader waits until a running broker reports a leader for the partition
// that is itself running, and returns it.
func (c *Cluster) Leader(t testing.TB, topic string, partition int32, timeout time.Duration) *Broker {
	t.Helper()
	var leader *Broker
	Eventually(t, timeout, func() error {
		var err error
		leader, err = c.leaderOnce(topic, partition)
		return err
	})
	return leader
}

func (c *Cluster) leaderOnce(topic string, partition int32) (*Broker, error) {
	var last error = errNoLeader
	for _, b := range c.Running() {
		md, err := metadataFrom(b.Addr(), []string{topic})
		if err != nil {
			last = err
			continue
		}
		for _, mt := range md.Topics {
			if mt.Topic == nil || *mt.Topic != topic {
				continue
			}
			for _, p := range mt.Partitions {
				if p.Partition != partition || p.ErrorCode != 0 || p.Leader < 0 {
					continue
				}
				for _, lb := range c.Running() {
					if lb.ID() == p.Leader {
						return lb, nil
					}
				}
				last = fmt.Errorf("%w: %s-%d names broker %d, which is not running", errNoLeader, topic, partition, p.Leader)
			}
		}
	}
	return nil, last
}

// Controller waits until the running brokers agree on a controller that is
// running, and returns it.
func (c *Cluster) Controller(t testing.TB, timeout time.Duration) *Broker {
	t.Helper()
	var ctrl *Broker
	Eventually(t, timeout, func() error {
		id := int32(-1)
		for _, b := range c.Running() {
			md, err := metadataFrom(b.Addr(), nil)
			if err != nil {
				return fmt.Errorf("broker %d: %w", b.ID(), err)
			}
			if id != -1 && md.ControllerID != id {
				return fmt.Errorf("brokers disagree on the controller: %d and %d", id, md.ControllerID)
			}
			id = md.ControllerID
		}
		for _, b := range c.Running() {
			if b.ID() == id {
				ctrl = b
				return nil
			}
		}
		return fmt.Errorf("controller %d is not a running broker", id)
	})
	return ctrl
}

// metadataFrom asks one broker for metadata (no topics when topics is nil).
func metadataFrom(addr string, topics []string) (*kmsg.MetadataResponse, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.DialTimeout(time.Second))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	for _, tn := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(tn)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := cl.SeedBrokers()[0].Request(ctx, req) // this broker, not one it names
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}
