package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/troupe-mq/troupe/internal/cli"
)

// This file wires `troupe cluster` (status, elect-leaders, reassign,
// rebalance, decommission) to internal/cli; all behavior lives there.

func init() {
	subcommands = append(subcommands, newClusterCmd)
}

func newClusterCmd(g *globalFlags) *cobra.Command {
	cf := &clientFlags{}
	clusterCmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect the cluster, elect leaders, move partitions, rebalance and decommission brokers",
		Long: "Inspect the cluster, elect leaders, move partitions, rebalance and decommission brokers.\n" +
			"--timeout bounds each request; the commands that move partitions follow the moves\n" +
			"for as long as they take (Ctrl-C stops following, the moves go on).",
	}
	cf.bind(clusterCmd.PersistentFlags())

	statusCmd := &cobra.Command{
		Use:   "status",
		Short: "Brokers, under-replicated and offline partitions, moves in progress",
		Args:  cobra.NoArgs,
		RunE: cf.run(g, func(ctx context.Context, opts cli.Options, cmd *cobra.Command, _ []string) error {
			return cli.ClusterStatus(ctx, opts, cmd.OutOrStdout())
		}),
	}

	var elect cli.ElectLeadersConfig
	electCmd := &cobra.Command{
		Use:   "elect-leaders",
		Short: "Elect the preferred leader (or, with --unclean, any live replica) of partitions",
		Long: "Elect the preferred leader (the first replica) of every partition, or of the --topic ones.\n" +
			"With --unclean, elect any live replica of partitions that have no leader (data may be lost).\n" +
			"The exit status is non-zero if any partition failed; one led by its preferred replica\n" +
			"already is a success.",
		Args: cobra.NoArgs,
		RunE: cf.run(g, func(ctx context.Context, opts cli.Options, cmd *cobra.Command, _ []string) error {
			return cli.ElectLeaders(ctx, opts, elect, cmd.OutOrStdout())
		}),
	}
	electCmd.Flags().BoolVar(&elect.Unclean, "unclean", false, "unclean election: any live replica, for partitions without a leader")
	electCmd.Flags().StringArrayVar(&elect.Topics, "topic", nil, "elect only this topic's partitions (repeatable; none: all partitions)")

	var reassign cli.ReassignConfig
	reassignCmd := &cobra.Command{
		Use:   "reassign --plan FILE [--throttle RATE] [--no-wait] | --cancel [--plan FILE]",
		Short: "Move partitions as a Kafka reassignment JSON file says, and follow the moves",
		Long: "Move partitions to the replicas a reassignment file gives, in Kafka's format:\n" +
			`  {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2,3]}]}` + "\n" +
			"then follow the moves to their end, printing progress. --throttle RATE (bytes/s; 50MB,\n" +
			"50MiB) limits replication on the brokers involved until the moves end.\n" +
			"--cancel cancels the moves of the file's partitions, or all moves without --plan.",
		Args: cobra.NoArgs,
		RunE: cf.run(g, func(ctx context.Context, opts cli.Options, cmd *cobra.Command, _ []string) error {
			return cli.Reassign(ctx, opts, reassign, cmd.OutOrStdout())
		}),
	}
	rf := reassignCmd.Flags()
	rf.StringVar(&reassign.PlanFile, "plan", "", "reassignment JSON file")
	rf.StringVar(&reassign.Throttle, "throttle", "", "replication throttle while the moves run, bytes/s (50000000, 50MB, 50MiB)")
	rf.BoolVar(&reassign.NoWait, "no-wait", false, "return once the moves are submitted")
	rf.BoolVar(&reassign.Cancel, "cancel", false, "cancel the moves of the --plan partitions, or every move in progress")

	var rebalance cli.RebalanceConfig
	rebalanceCmd := &cobra.Command{
		Use:   "rebalance [--dry-run] [--throttle RATE] [--no-wait]",
		Short: "Plan moves that balance replicas, leaders and disk use, and carry them out",
		Args:  cobra.NoArgs,
		RunE: cf.run(g, func(ctx context.Context, opts cli.Options, cmd *cobra.Command, _ []string) error {
			return cli.Rebalance(ctx, opts, rebalance, cmd.OutOrStdout())
		}),
	}
	bf := rebalanceCmd.Flags()
	bf.BoolVar(&rebalance.DryRun, "dry-run", false, "print the plan and stop")
	bf.StringVar(&rebalance.Throttle, "throttle", "", "replication throttle while the moves run, bytes/s (50000000, 50MB, 50MiB)")
	bf.BoolVar(&rebalance.NoWait, "no-wait", false, "return once the moves are submitted")

	var decom cli.DecommissionConfig
	decomCmd := &cobra.Command{
		Use:   "decommission ID [--throttle RATE] [--no-wait] | ID --cancel",
		Short: "Move every replica off a broker and keep new ones away (--cancel: let it take replicas again)",
		Args:  cobra.ExactArgs(1),
		RunE: cf.run(g, func(ctx context.Context, opts cli.Options, cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil {
				return fmt.Errorf("%w: broker id %q", cli.ErrInvalidArgument, args[0])
			}
			decom.Broker = int32(id)
			return cli.Decommission(ctx, opts, decom, cmd.OutOrStdout())
		}),
	}
	df := decomCmd.Flags()
	df.StringVar(&decom.Throttle, "throttle", "", "replication throttle while the moves run, bytes/s (50000000, 50MB, 50MiB)")
	df.BoolVar(&decom.NoWait, "no-wait", false, "return once the moves are submitted")
	df.BoolVar(&decom.Cancel, "cancel", false, "delete broker.decommissioned: the broker may receive replicas again")

	clusterCmd.AddCommand(statusCmd, electCmd, reassignCmd, rebalanceCmd, decomCmd)
	return clusterCmd
}
