package cli

// The `troupe cluster` commands: status, elect-leaders, reassign, rebalance
// and decommission. They speak only Kafka's admin APIs (Metadata,
// DescribeLogDirs, ListPartitionReassignments, AlterPartitionReassignments,
// ElectLeaders, DescribeConfigs and IncrementalAlterConfigs on broker
// resources), so they work against any broker of the cluster.
//
// Unlike the topic commands, a reassignment, rebalance or decommission
// follows its moves for as long as they take; its requests are each bounded
// by Options.Timeout (clusterAdmin.bound), not the command as a whole.
//
// Files: cluster.go (shared plumbing, status, elect-leaders),
// cluster_reassign.go (plan files, throttles, submitting and cancelling
// moves), cluster_rebalance.go (planner input, rebalance, decommission),
// cluster_progress.go (following moves to their end).

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Errors of the cluster commands.
var (
	// ErrElectionFailed marks an elect-leaders run in which at least one
	// partition could not get the leader asked for.
	ErrElectionFailed = errors.New("cli: leader election failed")
	// ErrMoveRejected marks a reassignment the cluster refused for at least
	// one partition.
	ErrMoveRejected = errors.New("cli: partition move rejected")
	// ErrMovesInProgress: a rebalance or decommission was asked for while
	// partitions are moving; a plan made from a placement in flux would be
	// wrong.
	ErrMovesInProgress = errors.New("cli: partition moves in progress")
	// ErrMoveNotCompleted: a followed move ended with the partition
	// elsewhere than at its target (cancelled, or moved again).
	ErrMoveNotCompleted = errors.New("cli: partition move did not reach its target")
	// ErrDecommissionIncomplete: the moves ended and the broker still holds
	// replicas.
	ErrDecommissionIncomplete = errors.New("cli: broker still holds replicas")
)

// metadataFreshness bounds the age of the metadata kgo answers from its
// cache. The default (5 s) would make a progress poll see a move finish
// seconds late, and status miss a change made just before.
const metadataFreshness = 100 * time.Millisecond

// clusterAdmin is an admin client for a command that may run for long:
// each request gets its own deadline (bound) instead of the whole command
// sharing one, as withAdmin does.
type clusterAdmin struct {
	cl      *kgo.Client
	adm     *kadm.Client
	timeout time.Duration
	log     zerolog.Logger
}

func newClusterAdmin(opts Options) (*clusterAdmin, error) {
	cl, err := opts.newClient(kgo.MetadataMinAge(metadataFreshness))
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(opts.timeout().Milliseconds()))
	return &clusterAdmin{cl: cl, adm: adm, timeout: opts.timeout(), log: opts.Logger}, nil
}

func (a *clusterAdmin) close() { a.cl.Close() }

// bound returns ctx limited to one request's timeout.
func (a *clusterAdmin) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.timeout)
}

// withClusterAdmin runs fn with a clusterAdmin closed afterwards.
func withClusterAdmin(opts Options, fn func(*clusterAdmin) error) error {
	a, err := newClusterAdmin(opts)
	if err != nil {
		return err
	}
	defer a.close()
	return fn(a)
}

// tp names a partition.
type tp struct {
	topic     string
	partition int32
}

func (p tp) String() string { return p.topic + "-" + strconv.Itoa(int(p.partition)) }

func compareTP(a, b tp) int {
	return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
}

// metadata describes the named topics, or all when none is named.
func (a *clusterAdmin) metadata(ctx context.Context, topics ...string) (kadm.Metadata, error) {
	ctx, cancel := a.bound(ctx)
	defer cancel()
	md, err := a.adm.Metadata(ctx, topics...)
	if err != nil {
		return md, fmt.Errorf("cli: metadata: %w", err)
	}
	return md, nil
}

// partitions returns every partition of md sorted, skipping topics that
// could not be described.
func partitionsOf(md kadm.Metadata) []kadm.PartitionDetail {
	var ps []kadm.PartitionDetail
	for _, td := range md.Topics.Sorted() {
		if td.Err != nil {
			continue
		}
		ps = append(ps, td.Partitions.Sorted()...)
	}
	return ps
}

// listMoves lists the moves in progress, of the given partitions or of all
// when s is nil. kadm's ListPartitionReassignments cannot ask for all (it
// sends nothing for an empty set), hence the raw request.
func (a *clusterAdmin) listMoves(ctx context.Context, s kadm.TopicsSet) ([]kadm.ListPartitionReassignmentsResponse, error) {
	ctx, cancel := a.bound(ctx)
	defer cancel()
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	req.TimeoutMillis = int32(a.timeout.Milliseconds())
	if s != nil {
		req.Topics = []kmsg.ListPartitionReassignmentsRequestTopic{}
		s.EachPartitions(func(t string, ps []int32) {
			rt := kmsg.NewListPartitionReassignmentsRequestTopic()
			rt.Topic, rt.Partitions = t, ps
			req.Topics = append(req.Topics, rt)
		})
	}
	resp, err := req.RequestWith(ctx, a.cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		return nil, fmt.Errorf("cli: list partition reassignments: %w", err)
	}
	var moves []kadm.ListPartitionReassignmentsResponse
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			moves = append(moves, kadm.ListPartitionReassignmentsResponse{Topic: t.Topic, Partition: p.Partition,
				Replicas: p.Replicas, AddingReplicas: p.AddingReplicas, RemovingReplicas: p.RemovingReplicas})
		}
	}
	slices.SortFunc(moves, func(x, y kadm.ListPartitionReassignmentsResponse) int {
		return compareTP(tp{x.Topic, x.Partition}, tp{y.Topic, y.Partition})
	})
	return moves, nil
}

// brokerDisk is one broker's answer to DescribeLogDirs.
type brokerDisk struct {
	// total and usable are the bytes of the disk its log directory is on;
	// -1 when the broker does not report them.
	total, usable int64
	// data is the sum of its replicas' sizes.
	data  int64
	sizes map[tp]int64
}

// logDirs describes the log directories of every broker, for the
// partitions in s (all when s is empty). A broker that does not answer is
// missing from the result, and the error says which; the rest is usable.
func (a *clusterAdmin) logDirs(ctx context.Context, s kadm.TopicsSet) (map[int32]*brokerDisk, error) {
	ctx, cancel := a.bound(ctx)
	defer cancel()
	all, err := a.adm.DescribeAllLogDirs(ctx, s)
	disks := make(map[int32]*brokerDisk, len(all))
	for id, dirs := range all {
		d := &brokerDisk{sizes: map[tp]int64{}}
		for _, dir := range dirs {
			if dir.Err != nil {
				a.log.Warn().Int32("broker", id).Str("dir", dir.Dir).Err(dir.Err).Msg("log directory not described")
				continue
			}
			if dir.TotalBytes < 0 || d.total < 0 {
				d.total, d.usable = -1, -1
			} else {
				d.total += dir.TotalBytes
				d.usable += dir.UsableBytes
			}
			dir.Topics.Each(func(p kadm.DescribedLogDirPartition) {
				d.sizes[tp{p.Topic, p.Partition}] += p.Size
				d.data += p.Size
			})
		}
		if len(dirs) == 0 {
			d.total, d.usable = -1, -1
		}
		disks[id] = d
	}
	if err != nil {
		err = fmt.Errorf("cli: describe log dirs: %w", err)
	}
	return disks, err
}

// ClusterStatus writes the brokers (address, rack, controller, leaders and
// replicas held, bytes of data, disk size and free space), then the
// under-replicated and offline partitions, then the moves in progress.
func ClusterStatus(ctx context.Context, opts Options, out io.Writer) error {
	return withClusterAdmin(opts, func(a *clusterAdmin) error {
		md, err := a.metadata(ctx)
		if err != nil {
			return err
		}
		moves, err := a.listMoves(ctx, nil)
		if err != nil {
			return err
		}
		disks, derr := a.logDirs(ctx, nil)
		if derr != nil {
			a.log.Warn().Err(derr).Msg("some brokers did not describe their log directories")
		}
		writeClusterStatus(out, md, disks, moves)
		return nil
	})
}

// writeClusterStatus is ClusterStatus's output.
func writeClusterStatus(out io.Writer, md kadm.Metadata, disks map[int32]*brokerDisk, moves []kadm.ListPartitionReassignmentsResponse) {
	parts := partitionsOf(md)
	adding := map[tp][]int32{}
	for _, m := range moves {
		adding[tp{m.Topic, m.Partition}] = m.AddingReplicas
	}
	leaders, replicas := map[int32]int{}, map[int32]int{}
	var under, offline []kadm.PartitionDetail
	for _, p := range parts {
		if p.Leader >= 0 {
			leaders[p.Leader]++
		}
		for _, r := range p.Replicas {
			replicas[r]++
		}
		if p.Leader < 0 {
			offline = append(offline, p)
			continue // listed as offline, not also as under-replicated
		}
		// A replica being added is not in the ISR until it has caught up;
		// counting it would show every move in flight as under-replicated
		// (Kafka leaves adding replicas out of the replication factor too).
		if underReplicated(p, adding[tp{p.Topic, p.Partition}]) {
			under = append(under, p)
		}
	}
	registered := map[int32]kgo.BrokerMetadata{}
	ids := []int32{}
	for _, b := range md.Brokers {
		registered[b.NodeID] = b
		ids = append(ids, b.NodeID)
	}
	for id := range replicas {
		if _, ok := registered[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)

	cluster := md.Cluster
	if cluster == "" {
		cluster = "-"
	}
	fmt.Fprintf(out, "Cluster: %s  Controller: %d  Brokers: %d  Partitions: %d\n", cluster, md.Controller, len(md.Brokers), len(parts))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tRACK\tROLE\tLEADERS\tREPLICAS\tDATA\tDISK TOTAL\tDISK USABLE")
	for _, id := range ids {
		addr, rack, role := "-", "-", ""
		if b, ok := registered[id]; ok {
			addr = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
			if b.Rack != nil && *b.Rack != "" {
				rack = *b.Rack
			}
			if id == md.Controller {
				role = "controller"
			}
		} else {
			role = "not registered"
		}
		data, total, usable := "-", "-", "-"
		if d, ok := disks[id]; ok {
			data = humanBytes(d.data)
			if d.total >= 0 {
				total, usable = humanBytes(d.total), humanBytes(d.usable)
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", id, addr, rack, role, leaders[id], replicas[id], data, total, usable)
	}
	tw.Flush()

	fmt.Fprintf(out, "\nUnder-replicated partitions: %d\n", len(under))
	writePartitionList(out, under)
	fmt.Fprintf(out, "\nOffline partitions: %d\n", len(offline))
	writePartitionList(out, offline)
	fmt.Fprintf(out, "\nMoves in progress: %d\n", len(moves))
	if len(moves) > 0 {
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  PARTITION\tREPLICAS\tADDING\tREMOVING")
		for _, m := range moves {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", tp{m.Topic, m.Partition}, ints(m.Replicas), ints(m.AddingReplicas), ints(m.RemovingReplicas))
		}
		tw.Flush()
	}
}

// underReplicated reports whether fewer of p's replicas are in sync than
// it has, not counting the replicas a move is adding.
func underReplicated(p kadm.PartitionDetail, adding []int32) bool {
	want, have := 0, 0
	for _, r := range p.Replicas {
		if slices.Contains(adding, r) {
			continue
		}
		want++
		if slices.Contains(p.ISR, r) {
			have++
		}
	}
	return have < want
}

func writePartitionList(out io.Writer, ps []kadm.PartitionDetail) {
	if len(ps) == 0 {
		return
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PARTITION\tLEADER\tREPLICAS\tISR")
	for _, p := range ps {
		leader := "-"
		if p.Leader >= 0 {
			leader = strconv.Itoa(int(p.Leader))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", tp{p.Topic, p.Partition}, leader, ints(p.Replicas), ints(p.ISR))
	}
	tw.Flush()
}

// ElectLeadersConfig describes `troupe cluster elect-leaders`.
type ElectLeadersConfig struct {
	// Unclean elects any live replica when no in-sync one is left (data
	// may be lost); otherwise the preferred replica (the first) is elected.
	Unclean bool
	// Topics limits the election to these topics' partitions; none means
	// every partition of the cluster.
	Topics []string
}

// ElectLeaders asks the controller to elect leaders and writes each
// partition's outcome. ELECTION_NOT_NEEDED (the preferred replica leads
// already; for an unclean election, the partition has a leader) is a
// success. It returns ErrElectionFailed if any partition failed otherwise.
func ElectLeaders(ctx context.Context, opts Options, cfg ElectLeadersConfig, out io.Writer) error {
	return withClusterAdmin(opts, func(a *clusterAdmin) error {
		var asked kadm.TopicsSet // nil: all
		if len(cfg.Topics) > 0 {
			md, err := a.metadata(ctx, cfg.Topics...)
			if err != nil {
				return err
			}
			for _, name := range cfg.Topics {
				td := md.Topics[name]
				if td.Err != nil {
					return fmt.Errorf("cli: elect leaders: topic %q: %w", name, td.Err)
				}
				asked.Add(name, td.Partitions.Numbers()...)
			}
		}
		results, err := a.electLeaders(ctx, cfg.Unclean, asked)
		if err != nil {
			return err
		}
		var topics []string
		for _, r := range results {
			if len(topics) == 0 || topics[len(topics)-1] != r.part.topic {
				topics = append(topics, r.part.topic)
			}
		}
		leaders := map[tp]int32{}
		if len(topics) > 0 {
			if md, err := a.metadata(ctx, topics...); err == nil {
				for _, p := range partitionsOf(md) {
					leaders[tp{p.Topic, p.Partition}] = p.Leader
				}
			}
		}
		return writeElections(out, results, leaders, cfg.Unclean)
	})
}

// election is one partition's answer to ElectLeaders.
type election struct {
	part tp
	err  error
	msg  string
}

// electLeaders sends ElectLeaders for s (nil: every partition). It is a
// raw request because kadm drops the top-level error code, which Troupe
// uses for a controller that did not answer in time, and sends no timeout.
func (a *clusterAdmin) electLeaders(ctx context.Context, unclean bool, s kadm.TopicsSet) ([]election, error) {
	ctx, cancel := a.bound(ctx)
	defer cancel()
	req := kmsg.NewPtrElectLeadersRequest()
	if unclean {
		req.ElectionType = 1
	}
	req.TimeoutMillis = int32(a.timeout.Milliseconds())
	if s != nil {
		req.Topics = []kmsg.ElectLeadersRequestTopic{}
		for _, t := range s.Sorted() {
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic, rt.Partitions = t.Topic, t.Partitions
			req.Topics = append(req.Topics, rt)
		}
	}
	resp, err := req.RequestWith(ctx, a.cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		return nil, fmt.Errorf("cli: elect leaders: %w", err)
	}
	var out []election
	seen := map[tp]bool{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			e := election{part: tp{t.Topic, p.Partition}, err: kerr.ErrorForCode(p.ErrorCode)}
			if p.ErrorMessage != nil {
				e.msg = *p.ErrorMessage
			}
			seen[e.part] = true
			out = append(out, e)
		}
	}
	s.Each(func(t string, p int32) {
		if !seen[tp{t, p}] {
			out = append(out, election{part: tp{t, p}, err: errNoAnswer})
		}
	})
	slices.SortFunc(out, func(x, y election) int { return compareTP(x.part, y.part) })
	return out, nil
}

// errNoAnswer: a partition asked about is missing from the response.
var errNoAnswer = errors.New("no answer for it")

// writeElections writes the outcome of each election and a tally, and
// returns ErrElectionFailed (with the first failure) if any failed.
func writeElections(out io.Writer, results []election, leaders map[tp]int32, unclean bool) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	var elected, notNeeded, failed int
	var first error
	for _, r := range results {
		var outcome string
		switch {
		case r.err == nil:
			elected++
			outcome = "elected"
			if l, ok := leaders[r.part]; ok && l >= 0 {
				outcome += fmt.Sprintf(" (leader %d)", l)
			}
		case errors.Is(r.err, kerr.ElectionNotNeeded):
			notNeeded++
			outcome = "already led by its preferred replica"
			if unclean {
				outcome = "has a leader already"
			}
		default:
			failed++
			outcome = fmt.Sprintf("failed: %v%s", r.err, detail(r.msg))
			if first == nil {
				first = fmt.Errorf("%w: %s: %w%s", ErrElectionFailed, r.part, r.err, detail(r.msg))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\n", r.part, outcome)
	}
	tw.Flush()
	_, err := fmt.Fprintf(out, "%d %s: %d elected, %d needed no election, %d failed\n",
		len(results), plural(len(results), "partition", "partitions"), elected, notNeeded, failed)
	if first != nil {
		if failed > 1 {
			return fmt.Errorf("%w (and %d more)", first, failed-1)
		}
		return first
	}
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// humanBytes formats n bytes with a binary unit: "512 B", "1.5 KiB",
// "20.0 GiB".
func humanBytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 && n > -1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v := float64(n)
	i := -1
	for (v >= 1024 || v <= -1024) && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i:i+1] + "iB"
}

// humanDuration formats d rounded to the second: "45s", "3m07s", "2h05m".
func humanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// brokerList formats broker ids as "1,2,3", sorted.
func brokerList(ids []int32) string {
	s := slices.Clone(ids)
	slices.Sort(s)
	return ints(slices.Compact(s))
}
