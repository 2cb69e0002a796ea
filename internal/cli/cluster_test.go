package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/internal/broker"
	"github.com/troupe-mq/troupe/internal/config"
)

// startTroupe starts an in-process embedded Troupe broker (id 1, its own
// controller), shut down at cleanup, and returns Options pointing at it.
// The cluster commands need a real broker: kfake neither moves partitions
// nor keeps broker configs.
func startTroupe(t *testing.T, settings ...string) Options {
	t.Helper()
	bcfg, err := config.LoadBroker("", settings)
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	b, err := broker.Start(broker.Config{ID: 1, Listen: "127.0.0.1:0", DataDir: t.TempDir(), Broker: bcfg,
		TickEvery: 20 * time.Millisecond, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	opts := Options{Brokers: []string{b.Addr().String()}, Timeout: 10 * time.Second, Logger: log}
	a := testAdmin(t, opts)
	eventually(t, 10*time.Second, "broker 1 listed as controller", func() bool {
		md, err := a.metadata(testCtx(t))
		return err == nil && md.Controller == 1 && len(md.Brokers) == 1
	})
	return opts
}

func testAdmin(t *testing.T, opts Options) *clusterAdmin {
	t.Helper()
	a, err := newClusterAdmin(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return a
}

// createLedTopic creates a topic of RF 1 and waits until every partition
// has a leader.
func createLedTopic(t *testing.T, opts Options, name string, partitions int32) {
	t.Helper()
	ctx := testCtx(t)
	if err := CreateTopic(ctx, opts, CreateTopicConfig{Name: name, Partitions: partitions, ReplicationFactor: 1}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	a := testAdmin(t, opts)
	eventually(t, 10*time.Second, name+" led", func() bool {
		md, err := a.metadata(ctx, name)
		if err != nil || md.Topics[name].Err != nil || len(md.Topics[name].Partitions) != int(partitions) {
			return false
		}
		for _, p := range md.Topics[name].Partitions {
			if p.Leader != 1 {
				return false
			}
		}
		return true
	})
}

func brokerConfig(t *testing.T, opts Options, key string) kadm.Config {
	t.Helper()
	a := testAdmin(t, opts)
	rcs, err := a.adm.DescribeBrokerConfigs(testCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("1", nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c
		}
	}
	t.Fatalf("broker 1 has no config %s", key)
	return kadm.Config{}
}

func TestClusterStatusSingleBroker(t *testing.T) {
	opts := startTroupe(t)
	createLedTopic(t, opts, "orders", 3)
	var out bytes.Buffer
	if err := ClusterStatus(testCtx(t), opts, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^Cluster: \S+  Controller: 1  Brokers: 1  Partitions: 3$`),
		regexp.MustCompile(`(?m)^ID\s+ADDRESS\s+RACK\s+ROLE\s+LEADERS\s+REPLICAS\s+DATA\s+DISK TOTAL\s+DISK USABLE$`),
		regexp.MustCompile(`(?m)^1\s+127\.0\.0\.1:\d+\s+-\s+controller\s+3\s+3\s+\d+(\.\d)? [KMG]?i?B\s+\S+ \S+\s+\S+ \S+$`),
		regexp.MustCompile(`(?m)^Under-replicated partitions: 0$`),
		regexp.MustCompile(`(?m)^Offline partitions: 0$`),
		regexp.MustCompile(`(?m)^Moves in progress: 0$`),
	} {
		if !want.MatchString(s) {
			t.Errorf("status lacks %v:\n%s", want, s)
		}
	}
}

// TestClusterStatusRendering covers what one broker cannot show: racks,
// a broker that is gone, under-replicated and offline partitions, moves.
func TestClusterStatusRendering(t *testing.T) {
	rack := "r1"
	md := kadm.Metadata{Cluster: "c1", Controller: 2,
		Brokers: kadm.BrokerDetails{{NodeID: 1, Host: "h1", Port: 9092, Rack: &rack}, {NodeID: 2, Host: "h2", Port: 9092}}}
	md.Topics = kadm.TopicDetails{"t": {Topic: "t", Partitions: kadm.PartitionDetails{
		0: {Topic: "t", Partition: 0, Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1}},
		1: {Topic: "t", Partition: 1, Leader: -1, Replicas: []int32{3}, ISR: []int32{}},
		// Moving onto 2: the adding replica out of the ISR is no under-replication.
		2: {Topic: "t", Partition: 2, Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1}},
	}}}
	moves := []kadm.ListPartitionReassignmentsResponse{{Topic: "t", Partition: 2, Replicas: []int32{1, 2}, AddingReplicas: []int32{2}, RemovingReplicas: []int32{}}}
	disks := map[int32]*brokerDisk{1: {total: 100 << 30, usable: 40 << 30, data: 3 << 20}, 2: {total: -1, usable: -1, data: 0}}
	var out bytes.Buffer
	writeClusterStatus(&out, md, disks, moves)
	want := `Cluster: c1  Controller: 2  Brokers: 2  Partitions: 3
ID  ADDRESS  RACK  ROLE            LEADERS  REPLICAS  DATA     DISK TOTAL  DISK USABLE
1   h1:9092  r1                    2        2         3.0 MiB  100.0 GiB   40.0 GiB
2   h2:9092  -     controller      0        2         0 B      -           -
3   -        -     not registered  0        1         -        -           -

Under-replicated partitions: 1
  PARTITION  LEADER  REPLICAS  ISR
  t-0        1       1,2       1

Offline partitions: 1
  PARTITION  LEADER  REPLICAS  ISR
  t-1        -       3         -

Moves in progress: 1
  PARTITION  REPLICAS  ADDING  REMOVING
  t-2        1,2       2       -
`
	if out.String() != want {
		t.Errorf("status:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestClusterElectLeadersAlreadyPreferred(t *testing.T) {
	opts := startTroupe(t)
	createLedTopic(t, opts, "orders", 2)
	createLedTopic(t, opts, "audit", 1)
	ctx := testCtx(t)

	var all bytes.Buffer
	if err := ElectLeaders(ctx, opts, ElectLeadersConfig{}, &all); err != nil {
		t.Fatalf("elect all: %v\n%s", err, all.String())
	}
	want := `audit-0   already led by its preferred replica
orders-0  already led by its preferred replica
orders-1  already led by its preferred replica
3 partitions: 0 elected, 3 needed no election, 0 failed
`
	if all.String() != want {
		t.Errorf("elect all printed:\n%s\nwant:\n%s", all.String(), want)
	}

	var one bytes.Buffer
	if err := ElectLeaders(ctx, opts, ElectLeadersConfig{Topics: []string{"orders"}}, &one); err != nil {
		t.Fatalf("elect orders: %v", err)
	}
	if !strings.HasPrefix(one.String(), "orders-0  already led by its preferred replica\norders-1  ") ||
		!strings.HasSuffix(one.String(), "2 partitions: 0 elected, 2 needed no election, 0 failed\n") {
		t.Errorf("elect orders printed:\n%s", one.String())
	}

	var unclean bytes.Buffer
	if err := ElectLeaders(ctx, opts, ElectLeadersConfig{Unclean: true, Topics: []string{"audit"}}, &unclean); err != nil {
		t.Fatalf("unclean: %v", err)
	}
	if unclean.String() != "audit-0  has a leader already\n1 partition: 0 elected, 1 needed no election, 0 failed\n" {
		t.Errorf("unclean printed %q", unclean.String())
	}

	err := ElectLeaders(ctx, opts, ElectLeadersConfig{Topics: []string{"nosuch"}}, &bytes.Buffer{})
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("elect of a missing topic: %v", err)
	}
}

func TestClusterElectionOutcomes(t *testing.T) {
	results := []election{
		{part: tp{"t", 0}},
		{part: tp{"t", 1}, err: kerr.ElectionNotNeeded},
		{part: tp{"t", 2}, err: kerr.PreferredLeaderNotAvailable, msg: "broker 3 is down"},
		{part: tp{"t", 3}, err: errNoAnswer},
	}
	var out bytes.Buffer
	err := writeElections(&out, results, map[tp]int32{{"t", 0}: 2}, false)
	want := `t-0  elected (leader 2)
t-1  already led by its preferred replica
t-2  failed: PREFERRED_LEADER_NOT_AVAILABLE: The preferred leader was not available (broker 3 is down)
t-3  failed: no answer for it
4 partitions: 1 elected, 1 needed no election, 2 failed
`
	if out.String() != want {
		t.Errorf("printed:\n%s\nwant:\n%s", out.String(), want)
	}
	if !errors.Is(err, ErrElectionFailed) || !errors.Is(err, kerr.PreferredLeaderNotAvailable) || !strings.Contains(err.Error(), "and 1 more") {
		t.Errorf("error %v", err)
	}
}

func TestClusterReassignPlanParsing(t *testing.T) {
	for _, tc := range []struct {
		name, plan string
		want       []plannedMove
		err        string // substring; "" means success
	}{
		{name: "kafka format", plan: `{"version":1,"partitions":[
			{"topic":"b","partition":0,"replicas":[3,1],"log_dirs":["any","any"]},
			{"topic":"a","partition":2,"replicas":[1,2,3]},
			{"topic":"a","partition":0,"replicas":[2]}]}`,
			want: []plannedMove{{tp{"a", 0}, []int32{2}}, {tp{"a", 2}, []int32{1, 2, 3}}, {tp{"b", 0}, []int32{3, 1}}}},
		{name: "not json", plan: `{"version":1,`, err: "not a reassignment JSON document"},
		{name: "trailing data", plan: `{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1]}]} {}`, err: "data after the JSON document"},
		{name: "unknown field", plan: `{"version":1,"partitions":[{"topic":"a","partition":0,"replica":[1]}]}`, err: `unknown field "replica"`},
		{name: "no version", plan: `{"partitions":[{"topic":"a","partition":0,"replicas":[1]}]}`, err: `no "version"`},
		{name: "version 2", plan: `{"version":2,"partitions":[{"topic":"a","partition":0,"replicas":[1]}]}`, err: "version 2 is not supported"},
		{name: "no partitions", plan: `{"version":1,"partitions":[]}`, err: "no partitions listed"},
		{name: "no topic", plan: `{"version":1,"partitions":[{"partition":0,"replicas":[1]}]}`, err: "partitions[0]: no topic"},
		{name: "no partition", plan: `{"version":1,"partitions":[{"topic":"a","replicas":[1]}]}`, err: "partitions[0] (topic a): no partition"},
		{name: "negative partition", plan: `{"version":1,"partitions":[{"topic":"a","partition":-1,"replicas":[1]}]}`, err: "negative partition -1"},
		{name: "duplicate partition", plan: `{"version":1,"partitions":[
			{"topic":"a","partition":0,"replicas":[1]},{"topic":"a","partition":1,"replicas":[1]},{"topic":"a","partition":0,"replicas":[2]}]}`,
			err: "partitions[2]: a-0 is listed twice (also partitions[0])"},
		{name: "empty replicas", plan: `{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[]}]}`, err: "partitions[0] (a-0): no replicas"},
		{name: "missing replicas", plan: `{"version":1,"partitions":[{"topic":"a","partition":0}]}`, err: "partitions[0] (a-0): no replicas"},
		{name: "duplicate broker", plan: `{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1,2,1]}]}`, err: "broker 1 is listed twice in replicas"},
		{name: "negative broker", plan: `{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1,-2]}]}`, err: "negative broker id -2"},
		{name: "log dirs mismatch", plan: `{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1,2],"log_dirs":["any"]}]}`, err: "1 log_dirs for 2 replicas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseReassignmentPlan([]byte(tc.plan))
			if tc.err != "" {
				if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("parsed %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClusterParseThrottle(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "", want: 0},
		{in: "50000000", want: 50_000_000},
		{in: "50MB", want: 50_000_000},
		{in: "50mb/s", want: 50_000_000},
		{in: "50 MiB", want: 50 << 20},
		{in: "1.5GiB", want: 3 << 29},
		{in: "2k", want: 2000},
		{in: "512B", want: 512},
		{in: "0", bad: true},
		{in: "-5MB", bad: true},
		{in: "50XB", bad: true},
		{in: "MB", bad: true},
		{in: "0.1", bad: true},
	} {
		got, err := parseThrottle(tc.in)
		if tc.bad {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("parseThrottle(%q) = %d, %v; want an invalid argument", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseThrottle(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	if _, err := throttleFor("50MB", true); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("--throttle with --no-wait: %v", err)
	}
}

func TestClusterHumanFormats(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB", 1 << 40: "1.0 TiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{0: "0s", 1400 * time.Millisecond: "1s", 59 * time.Second: "59s",
		61 * time.Second: "1m01s", time.Hour + 5*time.Minute + 30*time.Second: "1h05m"} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestClusterProgressLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    progressSample
		want string
	}{
		{name: "start", s: progressSample{Total: 3 << 30, Left: 3},
			want: "moved 0 B / 3.0 GiB (0%), 0 B/s, ETA -, 3 partitions left"},
		{name: "half way", s: progressSample{Copied: 3 << 29, Total: 3 << 30, Elapsed: 60 * time.Second, Left: 2},
			want: "moved 1.5 GiB / 3.0 GiB (50%), 25.6 MiB/s, ETA 1m00s, 2 partitions left"},
		{name: "base not counted", s: progressSample{Copied: 2 << 20, Base: 1 << 20, Total: 4 << 20, Elapsed: time.Second, Left: 1},
			want: "moved 2.0 MiB / 4.0 MiB (50%), 1.0 MiB/s, ETA 2s, 1 partition left"},
		{name: "queued", s: progressSample{Copied: 10, Total: 100, Elapsed: time.Second, Left: 4, Queued: 3},
			want: "moved 10 B / 100 B (10%), 10 B/s, ETA 9s, 4 partitions left (3 not started)"},
		{name: "caught up, not done", s: progressSample{Copied: 100, Total: 100, Elapsed: time.Second, Left: 1},
			want: "moved 100 B / 100 B (100%), 100 B/s, ETA 0s, 1 partition left"},
		{name: "nothing to copy", s: progressSample{Left: 2},
			want: "moved 0 B / 0 B (100%), 0 B/s, ETA 0s, 2 partitions left"},
		{name: "percent floors", s: progressSample{Copied: 999, Total: 1000, Elapsed: time.Second, Left: 1},
			want: "moved 999 B / 1000 B (99%), 999 B/s, ETA 0s, 1 partition left"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestClusterProgressPrinter(t *testing.T) {
	var out bytes.Buffer
	p := newProgressPrinter(&out)
	t0 := time.Unix(1000, 0)
	for i, line := range []string{"a", "b", "c", "d", "e", "f"} {
		p.show(t0.Add(time.Duration(i)*time.Second), line) // every second, as follow does
	}
	p.show(t0.Add(10*time.Second), "g")
	p.end()
	if out.String() != "a\nf\ng\n" {
		t.Errorf("not a terminal: printed %q, want a line every 5 s", out.String())
	}

	out.Reset()
	p = &progressPrinter{w: &out, tty: true}
	p.show(t0, "a")
	p.show(t0.Add(time.Second), "b")
	p.end()
	p.end()
	if out.String() != "\r\033[Ka\r\033[Kb\n" {
		t.Errorf("terminal: printed %q", out.String())
	}
}

func TestClusterMeasureMove(t *testing.T) {
	part := tp{"t", 0}
	pd := kadm.PartitionDetail{Topic: "t", Partition: 0, Leader: 1, Replicas: []int32{1, 2, 3, 4}}
	disks := map[int32]*brokerDisk{
		1: {sizes: map[tp]int64{part: 1000}},
		2: {sizes: map[tp]int64{part: 990}},
		3: {sizes: map[tp]int64{part: 400}},
		4: {sizes: map[tp]int64{part: 1200}}, // more than the leader: capped
	}
	m := &tracked{move: move{part: part}, total: 1, copied: 0}
	m.measure(pd, []int32{3, 4}, disks)
	if m.total != 2000 || m.copied != 1400 {
		t.Errorf("total %d copied %d, want 2000 and 1400", m.total, m.copied)
	}
	// The leader did not answer: the largest replica not being added.
	delete(disks, 1)
	m.measure(pd, []int32{3, 4}, disks)
	if m.total != 1980 || m.copied != 1390 {
		t.Errorf("without the leader: total %d copied %d, want 1980 and 1390", m.total, m.copied)
	}
	// An adding replica did not answer: the figures stay.
	delete(disks, 4)
	m.measure(pd, []int32{3, 4}, disks)
	if m.total != 1980 || m.copied != 1390 {
		t.Errorf("without an adding replica: total %d copied %d", m.total, m.copied)
	}
}

func writePlanFile(t *testing.T, plan string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(path, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestClusterReassignSameBroker(t *testing.T) {
	opts := startTroupe(t)
	createLedTopic(t, opts, "orders", 2)
	ctx := testCtx(t)
	produceSome(t, opts, "orders", 50)
	path := writePlanFile(t, `{"version":1,"partitions":[{"topic":"orders","partition":0,"replicas":[1]},{"topic":"orders","partition":1,"replicas":[1]}]}`)

	var out bytes.Buffer
	if err := Reassign(ctx, opts, ReassignConfig{PlanFile: path, Throttle: "10MB"}, &out); err != nil {
		t.Fatalf("reassign: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^PARTITION\s+FROM\s+TO\s+BYTES$`),
		regexp.MustCompile(`(?m)^orders-0\s+1\s+→\s+1\s+0 B$`),
		regexp.MustCompile(`(?m)^throttle 9.5 MiB/s set on brokers 1$`),
		regexp.MustCompile(`(?m)^submitted 2 of 2 moves$`),
		regexp.MustCompile(`(?m)^done: 2 partitions at their target replicas; moved 0 B in 0s$`),
		regexp.MustCompile(`(?m)^throttle removed from brokers 1\n\z`),
	} {
		if !want.MatchString(s) {
			t.Errorf("reassign output lacks %v:\n%s", want, s)
		}
	}
	eventually(t, 10*time.Second, "throttle removed", func() bool {
		return brokerConfig(t, opts, leaderThrottleKey).Source == kmsg.ConfigSourceDefaultConfig &&
			brokerConfig(t, opts, followerThrottleKey).Source == kmsg.ConfigSourceDefaultConfig
	})

	// Broker 2 does not exist: the broker refuses, nothing is followed.
	bad := writePlanFile(t, `{"version":1,"partitions":[{"topic":"orders","partition":0,"replicas":[2]}]}`)
	out.Reset()
	err := Reassign(ctx, opts, ReassignConfig{PlanFile: bad}, &out)
	if !errors.Is(err, ErrMoveRejected) || !errors.Is(err, kerr.InvalidReplicaAssignment) {
		t.Errorf("move to a missing broker: %v", err)
	}
	if !strings.Contains(out.String(), "orders-0: rejected: INVALID_REPLICA_ASSIGNMENT") {
		t.Errorf("rejection not printed:\n%s", out.String())
	}

	missing := writePlanFile(t, `{"version":1,"partitions":[{"topic":"orders","partition":7,"replicas":[1]}]}`)
	if err := Reassign(ctx, opts, ReassignConfig{PlanFile: missing}, &bytes.Buffer{}); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "orders-7: no such partition") {
		t.Errorf("missing partition: %v", err)
	}
	if err := Reassign(ctx, opts, ReassignConfig{}, &bytes.Buffer{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no plan: %v", err)
	}

	out.Reset()
	if err := Reassign(ctx, opts, ReassignConfig{Cancel: true}, &out); err != nil || out.String() != "no moves in progress: nothing to cancel\n" {
		t.Errorf("cancel with nothing moving: %v, %q", err, out.String())
	}
	out.Reset()
	if err := Reassign(ctx, opts, ReassignConfig{Cancel: true, PlanFile: path}, &out); err != nil || out.String() != "no moves in progress: nothing to cancel\n" {
		t.Errorf("cancel of a plan with nothing moving: %v, %q", err, out.String())
	}
}

func produceSome(t *testing.T, opts Options, topic string, n int) {
	t.Helper()
	cl, err := opts.newClient(kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, kgo.StringRecord(fmt.Sprintf("value %d", i)))
	}
	if err := cl.ProduceSync(testCtx(t), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestClusterRebalanceDryRunBalanced(t *testing.T) {
	opts := startTroupe(t)
	createLedTopic(t, opts, "orders", 3)
	ctx := testCtx(t)
	var out bytes.Buffer
	if err := Rebalance(ctx, opts, RebalanceConfig{DryRun: true}, &out); err != nil {
		t.Fatalf("rebalance --dry-run: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^no moves: `),
		regexp.MustCompile(`(?m)^moves 0, bytes to copy 0 B, lower bound 0 B$`),
		regexp.MustCompile(`(?m)placement\s+holds$`),
		regexp.MustCompile(`(?m)^  1\s+3\s+3\s`),
	} {
		if !want.MatchString(s) {
			t.Errorf("dry run output lacks %v:\n%s", want, s)
		}
	}
	out.Reset()
	if err := Rebalance(ctx, opts, RebalanceConfig{}, &out); err != nil || strings.Contains(out.String(), "submitted") {
		t.Errorf("rebalance of a balanced cluster: %v\n%s", err, out.String())
	}
}

func TestClusterPlanInput(t *testing.T) {
	opts := startTroupe(t, "disk.usage.rebalance.threshold=0.7")
	createLedTopic(t, opts, "orders", 2)
	produceSome(t, opts, "orders", 20)
	a := testAdmin(t, opts)
	ctx := testCtx(t)
	// Sizes come from the partitions' housekeeping reports, about a second old at most.
	var in cluster.PlanInput
	eventually(t, 10*time.Second, "partition sizes reported", func() bool {
		var err error
		in, err = a.planInput(ctx, -1)
		if err != nil {
			t.Fatal(err)
		}
		return len(in.Partitions) == 2 && in.Partitions[0].Size+in.Partitions[1].Size > 0
	})
	if len(in.Brokers) != 1 || in.Brokers[0].ID != 1 || in.Brokers[0].Leaving || in.DiskThreshold != 0.7 {
		t.Errorf("planner input %+v", in)
	}
	if b := in.Brokers[0]; b.DiskCapacity <= 0 || b.DiskUsed <= 0 || b.DiskUsed > b.DiskCapacity {
		t.Errorf("disk figures %+v", b)
	}
	if p := in.Partitions[0]; p.Topic != "orders" || p.Partition != 0 || fmt.Sprint(p.Replicas) != "[1]" || p.BytesIn != 0 {
		t.Errorf("partition %+v", p)
	}
	leaving, err := a.planInput(ctx, 1)
	if err != nil || !leaving.Brokers[0].Leaving {
		t.Errorf("broker 1 leaving: %+v, %v", leaving.Brokers, err)
	}
}

func TestClusterDecommissionCancelRoundTrip(t *testing.T) {
	opts := startTroupe(t)
	ctx := testCtx(t)
	var out bytes.Buffer
	if err := Decommission(ctx, opts, DecommissionConfig{Broker: 1}, &out); err != nil {
		t.Fatalf("decommission: %v\n%s", err, out.String())
	}
	want := "broker 1: broker.decommissioned=true; no replica is placed there any more\nbroker 1 holds no replicas: it can be shut down\n"
	if out.String() != want {
		t.Errorf("decommission printed %q, want %q", out.String(), want)
	}
	// A broker applies a dynamic config change once it sees it in the
	// metadata store, a moment after the change is acknowledged.
	eventually(t, 10*time.Second, "broker.decommissioned=true", func() bool {
		c := brokerConfig(t, opts, decommissionedKey)
		return c.MaybeValue() == "true"
	})

	out.Reset()
	if err := Decommission(ctx, opts, DecommissionConfig{Broker: 1, Cancel: true}, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "broker 1: broker.decommissioned removed; it may receive replicas again\n" {
		t.Errorf("cancel printed %q", out.String())
	}
	eventually(t, 10*time.Second, "broker.decommissioned back to its default", func() bool {
		c := brokerConfig(t, opts, decommissionedKey)
		return c.MaybeValue() == "false" && c.Source == kmsg.ConfigSourceDefaultConfig
	})

	// With a partition and no broker to take it, no plan exists: the
	// broker is left as it was.
	createLedTopic(t, opts, "orders", 1)
	err := Decommission(ctx, opts, DecommissionConfig{Broker: 1}, &bytes.Buffer{})
	if !errors.Is(err, cluster.ErrInvalidReplicationFactor) {
		t.Errorf("decommission of the only broker holding a partition: %v", err)
	}
	if c := brokerConfig(t, opts, decommissionedKey); c.MaybeValue() != "false" {
		t.Errorf("a failed plan set %s=%q", c.Key, c.MaybeValue())
	}
	if err := Decommission(ctx, opts, DecommissionConfig{Broker: 7}, &bytes.Buffer{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("decommission of an unknown broker: %v", err)
	}
}

func TestClusterFollowSummary(t *testing.T) {
	ts := []*tracked{
		{move: move{part: tp{"t", 0}, to: []int32{1, 2}}, total: 3 << 20, copied: 3 << 20, done: true},
		{move: move{part: tp{"t", 1}, to: []int32{3, 1}}, done: true, ended: []int32{2, 1}},
		{move: move{part: tp{"u", 0}, to: []int32{1}}, done: true, gone: true},
	}
	var out bytes.Buffer
	err := writeFollowSummary(&out, ts, progressSample{Copied: 3 << 20, Total: 3 << 20, Elapsed: 3 * time.Second})
	want := `t-1: the move ended at 2,1, not at its target 3,1 (cancelled, or moved again)
u-0: the topic was deleted during the move
done: 1 partition at its target replicas; moved 3.0 MiB in 3s (1.0 MiB/s)
`
	if out.String() != want {
		t.Errorf("printed:\n%s\nwant:\n%s", out.String(), want)
	}
	if !errors.Is(err, ErrMoveNotCompleted) {
		t.Errorf("error %v, want ErrMoveNotCompleted", err)
	}
	out.Reset()
	if err := writeFollowSummary(&out, ts[:1], progressSample{Copied: 10, Total: 10}); err != nil ||
		out.String() != "done: 1 partition at its target replicas; moved 10 B in 0s\n" {
		t.Errorf("all done: %v, %q", err, out.String())
	}
}
