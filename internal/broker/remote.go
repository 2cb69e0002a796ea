package broker

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// maxRemoteMessage bounds one remoting message (LeaderAndIsr for many
// partitions); gRPC's 4 MiB default silently drops larger batches.
const maxRemoteMessage = 64 << 20

// startRemote starts protoactor remoting for the control plane
// (LeaderAndIsr, UpdateMetadata, StopReplica, AlterPartition,
// ControlledShutdown between brokers).
//
// gRPC keepalives detect a peer that vanished without a TCP reset (hung,
// or cut off by a partition), but not quickly: grpc-go raises a client's
// keepalive time to at least 10 s, and protoactor reports an endpoint
// terminated only from the dialing side, so that takes about 11 s
// (measured: TestClusterPauseWithinSession). A killed broker's reset is
// seen in milliseconds. A panic while decoding a
// message from a peer (an unknown type) is recovered and closes that
// stream instead of killing the broker.
func startRemote(system *actor.ActorSystem, cfg Config, log zerolog.Logger) (r *remote.Remote, err error) {
	addr := cfg.Remote
	if addr == "" {
		host, _, herr := net.SplitHostPort(cfg.Listen)
		if herr != nil {
			return nil, fmt.Errorf("broker: --listen %q: %w", cfg.Listen, herr)
		}
		addr = net.JoinHostPort(host, "0")
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("broker: --remote %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("broker: --remote %q: bad port", addr)
	}
	if port != 0 {
		// remote.Start panics when the port is taken; find out first.
		ln, lerr := net.Listen("tcp", addr)
		if lerr != nil {
			return nil, fmt.Errorf("broker: remoting address %s: %w", addr, lerr)
		}
		_ = ln.Close()
	}
	rcfg := remote.Configure(host, port,
		remote.WithServerOptions(
			grpc.MaxRecvMsgSize(maxRemoteMessage),
			grpc.ChainStreamInterceptor(recoverStream(log)),
			grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 500 * time.Millisecond, PermitWithoutStream: true}),
			grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Second, Timeout: time.Second}),
		),
		remote.WithDialOptions(
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRemoteMessage), grpc.MaxCallSendMsgSize(maxRemoteMessage)),
			grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: time.Second, Timeout: time.Second, PermitWithoutStream: true}),
		),
	)
	// One connection attempt before an endpoint counts as terminated (the
	// default, five attempts two seconds apart, hides a dead peer for 10 s).
	rcfg.MaxRetryCount = 1
	r = remote.NewRemote(system, rcfg)
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("broker: starting remoting on %s: %v", addr, p)
		}
	}()
	r.Start()
	log.Info().Str("address", system.Address()).Msg("actor remoting started")
	return r, nil
}

// recoverStream turns a panic in a remoting stream handler into an error
// for that stream.
func recoverStream(log zerolog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				log.Error().Interface("panic", p).Str("method", info.FullMethod).Msg("remoting stream failed; closing it")
				err = fmt.Errorf("broker: remoting stream panicked: %v", p)
			}
		}()
		return handler(srv, ss)
	}
}
