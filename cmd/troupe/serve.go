package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/troupe-mq/troupe/internal/broker"
	"github.com/troupe-mq/troupe/internal/config"
)

func init() { subcommands = append(subcommands, newServeCmd) }

type serveFlags struct {
	id          int32
	listen      string
	advertise   string
	dataDir     string
	zookeeper   string
	rack        string
	remote      string
	configFile  string
	overrides   []string
	stopTimeout time.Duration
	cpuProfile  string
	grace       time.Duration
}

func newServeCmd(g *globalFlags) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker",
		Long: `Run a Troupe broker.

Without --zookeeper the broker runs alone in embedded mode: its metadata
(topics, assignments, configs) lives in DATA-DIR/meta. With --zookeeper it
joins the cluster registered there.

Broker settings use Kafka's names (num.partitions, log.retention.hours, …),
from --config FILE (server.properties format) and --override key=value.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(g, f) },
	}
	fl := cmd.Flags()
	fl.Int32Var(&f.id, "id", 1, "broker id")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:9092", "Kafka listener address")
	fl.StringVar(&f.advertise, "advertise", "", "host:port told to clients (default: the listener)")
	fl.StringVar(&f.dataDir, "data-dir", "./data", "directory for partition logs and embedded metadata")
	fl.StringVar(&f.zookeeper, "zookeeper", "", "ZooKeeper connect string host:port[,host:port…][/chroot]; empty: embedded mode")
	fl.StringVar(&f.rack, "rack", "", "broker.rack, for rack-aware replica placement")
	fl.StringVar(&f.remote, "remote", "", "actor remoting listen address host:port (cluster mode; default: the listener's host and a free port)")
	fl.StringVar(&f.configFile, "config", "", "broker config file (Kafka server.properties format)")
	fl.StringArrayVar(&f.overrides, "override", nil, "broker setting key=value (repeatable; wins over --config)")
	fl.DurationVar(&f.grace, "broker-removal-grace", 0, "how long a broker may be gone before its replicas are re-created elsewhere (broker.removal.grace.ms; default 5m)")
	fl.DurationVar(&f.stopTimeout, "stop-timeout", 30*time.Second, "how long SIGTERM waits for in-flight requests before closing connections")
	fl.StringVar(&f.cpuProfile, "cpu-profile", "", "write a CPU profile (go tool pprof) to this file until the broker stops")
	return cmd
}

func runServe(g *globalFlags, f *serveFlags) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	overrides := f.overrides
	if f.grace > 0 {
		overrides = append([]string{fmt.Sprintf("broker.removal.grace.ms=%d", f.grace.Milliseconds())}, overrides...)
	}
	bcfg, err := config.LoadBroker(f.configFile, overrides)
	if err != nil {
		return err
	}
	cfg := broker.Config{ID: f.id, Listen: f.listen, DataDir: f.dataDir, ZooKeeper: f.zookeeper, Rack: f.rack, Remote: f.remote, Broker: bcfg, Log: log}
	if f.advertise != "" {
		host, port, err := net.SplitHostPort(f.advertise)
		if err != nil {
			return fmt.Errorf("--advertise: %w", err)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return fmt.Errorf("--advertise: bad port %q", port)
		}
		cfg.AdvertisedHost, cfg.AdvertisedPort = host, int32(p)
	}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			pf.Close()
		}()
	}
	b, err := broker.Start(cfg)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case sig := <-sigs:
		log.Info().Str("signal", sig.String()).Msg("stopping")
	case err := <-b.Served():
		if err != nil {
			log.Error().Err(err).Msg("listener failed")
		}
	}
	signal.Stop(sigs)
	ctx, cancel := context.WithTimeout(context.Background(), f.stopTimeout)
	defer cancel()
	return b.Shutdown(ctx)
}
