// Command benchpeer runs franz-go's in-memory kfake cluster with one broker on
// a fixed address, as the peer that `troupe bench` results are compared with.
//
//	go run ./internal/benchpeer --listen 127.0.0.1:19092
//
// It prints "benchpeer: listening on ADDR pid PID" to stderr once the broker
// accepts connections, and exits 0 on SIGTERM or SIGINT. Nothing is written to
// disk: topics live in memory and vanish on exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

// errUsage marks a bad command line.
var errUsage = errors.New("benchpeer: usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// run serves until ctx is done. ready, if not nil, receives the address
// once the broker listens.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(addr string)) error {
	fs := flag.NewFlagSet("benchpeer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:19092", "address the single kfake broker listens on (port 0 picks one)")
	partitions := fs.Int("default-partitions", 6, "partitions of topics created with -1 partitions or auto-created")
	autoCreate := fs.Bool("auto-create", true, "create topics on metadata requests, like auto.create.topics.enable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	_, portStr, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("%w: --listen %q: %w", errUsage, *listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("%w: --listen %q: bad port", errUsage, *listen)
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		// kfake always binds 127.0.0.1; listen where we were asked to
		// instead. Its metadata advertises the listener's own address.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, *listen) }),
		kfake.DefaultNumPartitions(*partitions),
		kfake.ClusterID("benchpeer"),
	}
	if *autoCreate {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("benchpeer: start kfake: %w", err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	fmt.Fprintf(stderr, "benchpeer: listening on %s pid %d\n", addr, os.Getpid())
	if ready != nil {
		ready(addr)
	}
	<-ctx.Done()
	fmt.Fprintln(stderr, "benchpeer: stopping")
	return nil
}
