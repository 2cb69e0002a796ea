package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/troupe-mq/troupe/internal/cli"
)

// This file wires the client subcommands (topic, produce, consume, bench) to
// internal/cli; all behavior lives there.

func init() {
	subcommands = append(subcommands, newTopicCmd, newProduceCmd, newConsumeCmd, newBenchCmd)
}

// clientFlags are the flags every client command takes.
type clientFlags struct {
	brokers []string
	timeout time.Duration
}

func (c *clientFlags) bind(fs *pflag.FlagSet) {
	fs.StringSliceVar(&c.brokers, "brokers", []string{cli.DefaultBrokers}, "seed brokers, host:port[,host:port...]")
	fs.DurationVar(&c.timeout, "timeout", cli.DefaultTimeout, "bound on admin requests, record delivery, and idle waits of bounded reads")
}

// run wraps a client command: it builds the options and a context
// canceled by SIGINT or SIGTERM, then calls fn.
func (c *clientFlags) run(g *globalFlags, fn func(ctx context.Context, opts cli.Options, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx, opts, stop, err := c.setup(cmd, g)
		if err != nil {
			return err
		}
		defer stop()
		return fn(ctx, opts, cmd, args)
	}
}

// setup builds the cli options and a context canceled by SIGINT or SIGTERM.
func (c *clientFlags) setup(cmd *cobra.Command, g *globalFlags) (context.Context, cli.Options, func(), error) {
	log, err := g.logger()
	if err != nil {
		return nil, cli.Options{}, nil, err
	}
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	return ctx, cli.Options{Brokers: c.brokers, Timeout: c.timeout, Logger: log}, stop, nil
}

// optionalBool is nil unless the flag was given, so the cli can choose the
// default from other flags (idempotence follows acks).
func optionalBool(cmd *cobra.Command, name string, v bool) *bool {
	if !cmd.Flags().Changed(name) {
		return nil
	}
	return &v
}

func newTopicCmd(g *globalFlags) *cobra.Command {
	cf := &clientFlags{}
	topic := &cobra.Command{Use: "topic", Short: "Create, list, describe, delete and configure topics"}
	cf.bind(topic.PersistentFlags())

	var create cli.CreateTopicConfig
	createCmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Args:  cobra.ExactArgs(1),
		RunE: cf.run(g, func(ctx context.Context, opts cli.Options, cmd *cobra.Command, args []string) error {
			create.Name = args[0]
			return cli.CreateTopic(ctx, opts, create, cmd.OutOrStdout())
		}),
	}
	createCmd.Flags().Int32Var(&create.Partitions, "partitions", -1, "partition count (-1: the broker's num.partitions)")
	createCmd.Flags().Int16Var(&create.ReplicationFactor, "replication-factor", -1, "replicas per partition (-1: the broker's default.replication.factor)")
	createCmd.Flags().StringArrayVar(&create.Configs, "config", nil, "topic config key=value (repeatable)")

	listCmd := &cobra.Command{
		Use:   "list",
		Short: "List topic names",
		Args:  cobra.NoArgs,
		RunE: cf.run(g, func(ctx context.Context, opts cli.Options, cmd *cobra.Command, _ []string) error {
			return cli.ListTopics(ctx, opts, cmd.OutOrStdout())
		}),
	}

	var describe cli.DescribeTopicsConfig
	describeCmd := &cobra.Command{
		Use:   "describe NAME...",
		Short: "Show partitions, leaders, replicas, ISR and the configs set on topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: cf.run(g, func(ctx context.Context, opts cli.Options, cmd *cobra.Command, args []string) error {
			describe.Names = args
			return cli.DescribeTopics(ctx, opts, describe, cmd.OutOrStdout())
		}),
	}
	describeCmd.Flags().BoolVar(&describe.AllConfigs, "all-configs", false, "show every config, including defaults")

	deleteCmd := &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: cf.run(g, func(ctx context.Context, opts cli.Options, cmd *cobra.Command, args []string) error {
			return cli.DeleteTopics(ctx, opts, args, cmd.OutOrStdout())
		}),
	}

	var alter cli.AlterTopicConfig
	alterCmd := &cobra.Command{
		Use:   "alter-config NAME",
		Short: "Set or delete topic configs (IncrementalAlterConfigs)",
		Args:  cobra.ExactArgs(1),
		RunE: cf.run(g, func(ctx context.Context, opts cli.Options, cmd *cobra.Command, args []string) error {
			alter.Name = args[0]
			return cli.AlterTopicConfigs(ctx, opts, alter, cmd.OutOrStdout())
		}),
	}
	alterCmd.Flags().StringArrayVar(&alter.Set, "set", nil, "config key=value to set (repeatable)")
	alterCmd.Flags().StringArrayVar(&alter.Delete, "delete", nil, "config key to reset to its default (repeatable)")

	topic.AddCommand(createCmd, listCmd, describeCmd, deleteCmd, alterCmd)
	return topic
}

func newProduceCmd(g *globalFlags) *cobra.Command {
	cf := &clientFlags{}
	var cfg cli.ProduceConfig
	var idempotent bool
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce each line of stdin as one record",
		Long: "Produce each line of stdin (without its newline) as one record. The outcome goes to stderr;\n" +
			"the exit status is non-zero if any record was not acknowledged.",
		Args: cobra.ExactArgs(1),
		RunE: cf.run(g, func(ctx context.Context, opts cli.Options, cmd *cobra.Command, args []string) error {
			cfg.Topic = args[0]
			cfg.Idempotent = optionalBool(cmd, "idempotent", idempotent)
			_, err := cli.Produce(ctx, opts, cfg, cmd.InOrStdin(), cmd.ErrOrStderr())
			return err
		}),
	}
	cf.bind(cmd.Flags())
	cmd.Flags().StringVar(&cfg.KeySeparator, "key-separator", "", "split each line at the first occurrence into key and value")
	cmd.Flags().Int32Var(&cfg.Partition, "partition", -1, "send every record to this partition (-1: hash keys, sticky for null keys)")
	cmd.Flags().StringVar(&cfg.Acks, "acks", "all", "all, 1 or 0")
	cmd.Flags().BoolVar(&idempotent, "idempotent", true, "idempotent producer (default true with acks=all, false otherwise)")
	cmd.Flags().StringVar(&cfg.Compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	return cmd
}

func newConsumeCmd(g *globalFlags) *cobra.Command {
	cf := &clientFlags{}
	var cfg cli.ConsumeConfig
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records of a topic to stdout",
		Long: "Print records of a topic to stdout, formatted by --format:\n" +
			"  %t topic  %p partition  %o offset  %k key  %v value  %T timestamp (ms)  %h headers (k=v,...)  %% percent\n" +
			"  \\n newline  \\t tab  \\r carriage return  \\0 NUL  \\\\ backslash\n" +
			"Without --follow it stops at the high watermarks it saw when it started.",
		Args: cobra.ExactArgs(1),
		RunE: cf.run(g, func(ctx context.Context, opts cli.Options, cmd *cobra.Command, args []string) error {
			cfg.Topic = args[0]
			_, err := cli.Consume(ctx, opts, cfg, cmd.OutOrStdout())
			return err
		}),
	}
	cf.bind(cmd.Flags())
	cmd.Flags().StringVar(&cfg.From, "from", "beginning", "beginning, end, OFFSET, -N (N before the end) or @TIMESTAMP_MS")
	cmd.Flags().Int32Var(&cfg.Partition, "partition", -1, "read only this partition (-1: all)")
	cmd.Flags().Int64Var(&cfg.Count, "count", 0, "stop after this many records (0: no limit)")
	cmd.Flags().BoolVar(&cfg.Follow, "follow", false, "keep waiting for new records")
	cmd.Flags().StringVar(&cfg.Format, "format", cli.DefaultFormat, "output template")
	return cmd
}

func newBenchCmd(g *globalFlags) *cobra.Command {
	cf := &clientFlags{}
	bench := &cobra.Command{
		Use:   "bench",
		Short: "Measure produce and consume throughput and latency",
		Long: "Measure throughput and latency. Progress lines go to stderr every second; the summary\n" +
			"(records, seconds, rec/s, MiB/s, latency p50/p99/p99.9, CPU per record) goes to stdout.\n" +
			"produce latency: " + cli.LatencyProduce + ".\n" +
			"consume latency: " + cli.LatencyConsume + ".",
	}
	cf.bind(bench.PersistentFlags())

	var pcfg cli.BenchProduceConfig
	var idempotent bool
	produceCmd := &cobra.Command{
		Use:   "produce",
		Short: "Send --records records of --size bytes",
		Args:  cobra.NoArgs,
		RunE: cf.run(g, func(ctx context.Context, opts cli.Options, cmd *cobra.Command, _ []string) error {
			pcfg.Idempotent = optionalBool(cmd, "idempotent", idempotent)
			_, err := cli.BenchProduce(ctx, opts, pcfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
			return err
		}),
	}
	pf := produceCmd.Flags()
	pf.StringVar(&pcfg.Topic, "topic", "troupe-bench", "topic (created if missing)")
	pf.Int64Var(&pcfg.Records, "records", 1_000_000, "records to send")
	pf.IntVar(&pcfg.RecordSize, "size", 1024, "value size in bytes")
	pf.StringVar(&pcfg.Acks, "acks", "all", "all, 1 or 0")
	pf.BoolVar(&idempotent, "idempotent", true, "idempotent producer (default true with acks=all, false otherwise)")
	pf.Int32Var(&pcfg.Partitions, "partitions", 6, "partitions when creating the topic")
	pf.Int16Var(&pcfg.ReplicationFactor, "replication-factor", -1, "replication factor when creating the topic (-1: broker default)")
	pf.StringVar(&pcfg.Compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	pf.DurationVar(&pcfg.Linger, "linger", 10*time.Millisecond, "producer linger per partition (kgo's default)")
	pf.IntVar(&pcfg.MaxBufferedRecords, "max-buffered-records", 0, "records buffered in the client (0: kgo's default, 50000)")
	pf.IntVar(&pcfg.BrokerPID, "broker-pid", 0, "also report this local broker process's CPU per record (Linux)")
	pf.BoolVar(&pcfg.JSON, "json", false, "print the summary as one JSON object")

	var ccfg cli.BenchConsumeConfig
	consumeCmd := &cobra.Command{
		Use:   "consume",
		Short: "Read --records records from the beginning of every partition",
		Args:  cobra.NoArgs,
		RunE: cf.run(g, func(ctx context.Context, opts cli.Options, cmd *cobra.Command, _ []string) error {
			_, err := cli.BenchConsume(ctx, opts, ccfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
			return err
		}),
	}
	cfl := consumeCmd.Flags()
	cfl.StringVar(&ccfg.Topic, "topic", "troupe-bench", "topic")
	cfl.Int64Var(&ccfg.Records, "records", 0, "records to read (0: all below the high watermarks at the start)")
	cfl.IntVar(&ccfg.BrokerPID, "broker-pid", 0, "also report this local broker process's CPU per record (Linux)")
	cfl.BoolVar(&ccfg.JSON, "json", false, "print the summary as one JSON object")

	bench.AddCommand(produceCmd, consumeCmd)
	return bench
}
