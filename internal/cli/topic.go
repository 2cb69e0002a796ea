package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopicConfig describes `troupe topic create`.
type CreateTopicConfig struct {
	Name string
	// Partitions is the partition count; -1 asks for the broker's
	// num.partitions.
	Partitions int32
	// ReplicationFactor is the replica count; -1 asks for the broker's
	// default.replication.factor.
	ReplicationFactor int16
	// Configs are topic configs as "key=value" strings.
	Configs []string
}

// AlterTopicConfig describes `troupe topic alter-config`: one
// IncrementalAlterConfigs request that sets and deletes topic configs.
type AlterTopicConfig struct {
	Name string
	// Set are "key=value" configs to set.
	Set []string
	// Delete are config keys to reset to their default.
	Delete []string
}

// DescribeTopicsConfig describes `troupe topic describe`.
type DescribeTopicsConfig struct {
	Names []string
	// AllConfigs prints every config, not only the ones set on the topic.
	AllConfigs bool
}

// withAdmin runs fn with a kadm client whose context is bounded by the timeout.
func withAdmin(ctx context.Context, opts Options, fn func(context.Context, *kadm.Client) error) error {
	cl, err := opts.newClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(opts.timeout().Milliseconds()))
	ctx, cancel := context.WithTimeout(ctx, opts.timeout())
	defer cancel()
	return fn(ctx, adm)
}

// parseKVs turns "k=v" strings into a config map for kadm.
func parseKVs(kvs []string) (map[string]*string, error) {
	m := make(map[string]*string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: config %q is not key=value", ErrInvalidArgument, kv)
		}
		m[k] = kadm.StringPtr(v)
	}
	return m, nil
}

// CreateTopic creates one topic and writes a confirmation line to out.
func CreateTopic(ctx context.Context, opts Options, cfg CreateTopicConfig, out io.Writer) error {
	if cfg.Name == "" {
		return fmt.Errorf("%w: empty topic name", ErrInvalidArgument)
	}
	configs, err := parseKVs(cfg.Configs)
	if err != nil {
		return err
	}
	return withAdmin(ctx, opts, func(ctx context.Context, adm *kadm.Client) error {
		resp, err := adm.CreateTopic(ctx, cfg.Partitions, cfg.ReplicationFactor, configs, cfg.Name)
		if err != nil {
			return fmt.Errorf("cli: create topic %q: %w%s", cfg.Name, err, detail(resp.ErrMessage))
		}
		_, err = fmt.Fprintf(out, "created topic %s (partitions %d, replication factor %d)\n",
			cfg.Name, resp.NumPartitions, resp.ReplicationFactor)
		return err
	})
}

// detail formats a broker's optional error message.
func detail(msg string) string {
	if msg == "" {
		return ""
	}
	return " (" + msg + ")"
}

// ListTopics writes the names of all non-internal topics to out, one a line,
// sorted.
func ListTopics(ctx context.Context, opts Options, out io.Writer) error {
	return withAdmin(ctx, opts, func(ctx context.Context, adm *kadm.Client) error {
		tds, err := adm.ListTopics(ctx)
		if err != nil {
			return fmt.Errorf("cli: list topics: %w", err)
		}
		for _, name := range tds.Names() {
			if _, err := fmt.Fprintln(out, name); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteTopics deletes the named topics. It tries every topic, writes a line
// per deleted one, and returns the first failure.
func DeleteTopics(ctx context.Context, opts Options, names []string, out io.Writer) error {
	if len(names) == 0 {
		return fmt.Errorf("%w: no topic named", ErrInvalidArgument)
	}
	return withAdmin(ctx, opts, func(ctx context.Context, adm *kadm.Client) error {
		resps, err := adm.DeleteTopics(ctx, names...)
		if err != nil {
			return fmt.Errorf("cli: delete topics: %w", err)
		}
		var first error
		for _, name := range names {
			r, ok := resps[name]
			switch {
			case !ok:
				err = fmt.Errorf("cli: delete topic %q: no answer for it", name)
			case r.Err != nil:
				err = fmt.Errorf("cli: delete topic %q: %w%s", name, r.Err, detail(r.ErrMessage))
			default:
				_, err = fmt.Fprintf(out, "deleted topic %s\n", name)
			}
			if err != nil && first == nil {
				first = err
			}
		}
		return first
	})
}

// AlterTopicConfigs applies cfg with IncrementalAlterConfigs.
func AlterTopicConfigs(ctx context.Context, opts Options, cfg AlterTopicConfig, out io.Writer) error {
	if cfg.Name == "" {
		return fmt.Errorf("%w: empty topic name", ErrInvalidArgument)
	}
	set, err := parseKVs(cfg.Set)
	if err != nil {
		return err
	}
	if len(set) == 0 && len(cfg.Delete) == 0 {
		return fmt.Errorf("%w: nothing to alter (use --set k=v or --delete k)", ErrInvalidArgument)
	}
	var alters []kadm.AlterConfig
	for _, k := range sortedKeys(set) {
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: set[k]})
	}
	for _, k := range cfg.Delete {
		if _, dup := set[k]; dup {
			return fmt.Errorf("%w: config %q both set and deleted", ErrInvalidArgument, k)
		}
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	return withAdmin(ctx, opts, func(ctx context.Context, adm *kadm.Client) error {
		resps, err := adm.AlterTopicConfigs(ctx, alters, cfg.Name)
		if err != nil {
			return fmt.Errorf("cli: alter topic %q configs: %w", cfg.Name, err)
		}
		r, err := resps.On(cfg.Name, nil)
		if err == nil {
			err = r.Err
		}
		if err != nil {
			return fmt.Errorf("cli: alter topic %q configs: %w%s", cfg.Name, err, detail(r.ErrMessage))
		}
		_, err = fmt.Fprintf(out, "altered topic %s (%d set, %d deleted)\n", cfg.Name, len(set), len(cfg.Delete))
		return err
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// topicLevelSource reports whether a config comes from the topic itself
// rather than from a broker-wide or built-in default, the way
// kafka-topics --describe decides what to show.
func topicLevelSource(s kmsg.ConfigSource) bool {
	switch s {
	case kmsg.ConfigSourceDefaultConfig, kmsg.ConfigSourceStaticBrokerConfig,
		kmsg.ConfigSourceDynamicDefaultBrokerConfig, kmsg.ConfigSourceDynamicBrokerConfig:
		return false
	}
	return true
}

// DescribeTopics writes, for each named topic, its id, partitions (leader,
// leader epoch, replicas, ISR, offline replicas) and the configs set on it.
// It describes every topic it can and returns the first failure.
func DescribeTopics(ctx context.Context, opts Options, cfg DescribeTopicsConfig, out io.Writer) error {
	if len(cfg.Names) == 0 {
		return fmt.Errorf("%w: no topic named", ErrInvalidArgument)
	}
	return withAdmin(ctx, opts, func(ctx context.Context, adm *kadm.Client) error {
		tds, err := adm.ListTopics(ctx, cfg.Names...)
		if err != nil {
			return fmt.Errorf("cli: describe topics: %w", err)
		}
		var first error
		note := func(err error) {
			if first == nil {
				first = err
			}
		}
		var found []string
		for _, name := range cfg.Names {
			td, ok := tds[name]
			switch {
			case !ok:
				note(fmt.Errorf("cli: describe topic %q: no metadata for it", name))
			case td.Err != nil:
				note(fmt.Errorf("cli: describe topic %q: %w", name, td.Err))
			default:
				found = append(found, name)
			}
		}
		var rcs kadm.ResourceConfigs
		if len(found) > 0 {
			if rcs, err = adm.DescribeTopicConfigs(ctx, found...); err != nil {
				note(fmt.Errorf("cli: describe topic configs: %w", err))
			}
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for i, name := range found {
			if i > 0 {
				fmt.Fprintln(tw)
			}
			writeTopicDetail(tw, tds[name])
			rc, err := rcs.On(name, nil)
			if err == nil {
				err = rc.Err
			}
			if err != nil {
				if rcs != nil {
					note(fmt.Errorf("cli: describe topic %q configs: %w%s", name, err, detail(rc.ErrMessage)))
				}
				continue
			}
			writeConfigs(tw, rc.Configs, cfg.AllConfigs)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		return first
	})
}

func writeTopicDetail(w io.Writer, td kadm.TopicDetail) {
	rf := 0
	for _, p := range td.Partitions {
		rf = max(rf, len(p.Replicas))
	}
	fmt.Fprintf(w, "Topic: %s  ID: %s  Partitions: %d  ReplicationFactor: %d\n", td.Topic, td.ID, len(td.Partitions), rf)
	for _, p := range td.Partitions.Sorted() {
		fmt.Fprintf(w, "  Partition: %d\tLeader: %d\tLeaderEpoch: %d\tReplicas: %s\tISR: %s\tOffline: %s",
			p.Partition, p.Leader, p.LeaderEpoch, ints(p.Replicas), ints(p.ISR), ints(p.OfflineReplicas))
		if p.Err != nil {
			fmt.Fprintf(w, "\tError: %v", p.Err)
		}
		fmt.Fprintln(w)
	}
}

func writeConfigs(w io.Writer, cs []kadm.Config, all bool) {
	var shown []kadm.Config
	for _, c := range cs {
		if all || topicLevelSource(c.Source) {
			shown = append(shown, c)
		}
	}
	sort.Slice(shown, func(i, j int) bool { return shown[i].Key < shown[j].Key })
	if len(shown) == 0 {
		fmt.Fprintln(w, "  Configs: (none set on the topic)")
		return
	}
	fmt.Fprintln(w, "  Configs:")
	for _, c := range shown {
		v := c.MaybeValue()
		if c.Sensitive {
			v = "(sensitive)"
		}
		fmt.Fprintf(w, "    %s=%s\t(%s)\n", c.Key, v, strings.ToLower(c.Source.String()))
	}
}

// ints formats a replica list as "1,2,3" (or "-" when empty).
func ints(xs []int32) string {
	if len(xs) == 0 {
		return "-"
	}
	var b strings.Builder
	for i, x := range xs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, x)
	}
	return b.String()
}
