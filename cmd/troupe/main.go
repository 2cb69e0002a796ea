// Command troupe is the Troupe broker and its command-line client in one
// binary: `troupe serve` runs a broker, the other subcommands talk to one.
//
// This package only reads flags, builds the logger and wires components;
// the logic lives in the packages it calls.
package main

import (
	"fmt"
	"os"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/troupe-mq/troupe/internal/logging"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type globalFlags struct {
	logLevel  string
	logFormat string
}

func (g *globalFlags) logger() (zerolog.Logger, error) {
	return logging.New(os.Stderr, g.logLevel, logging.Format(g.logFormat))
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "troupe",
		Short:         "Troupe: a Kafka-compatible, replicated message broker built on actors",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: trace, debug, info, warn, error, off")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "auto", "log format: auto (console on a terminal, else JSON), json, console")
	root.AddCommand(newVersionCmd())
	for _, add := range subcommands {
		root.AddCommand(add(g))
	}
	return root
}

// subcommands are registered by the files that define them, so adding one
// does not touch this file.
var subcommands []func(*globalFlags) *cobra.Command

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "troupe %s\n", version)
			return err
		},
	}
}

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "troupe:", err)
		os.Exit(1)
	}
}
