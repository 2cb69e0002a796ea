package actors

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// fetcherActor is the shell of a fetcher core (replica_fetcher.go): it
// feeds the core its messages and carries out its effects, running each
// network call on a goroutine that reports back by message.
//
// Supervision: default restart; a restarted fetcher has no partitions,
// so the replica manager (its parent) re-adds them (fetcherStarted).
type fetcherActor struct {
	core   *fetcher
	reps   *Replicas // where the local partition actors are
	dial   DialLeaderFunc
	key    string
	client LeaderClient
	// gen numbers connections: a result from a closed one is dropped.
	gen     int
	stopped bool
}

// fetcherStarted tells the manager a fetcher (re)started and needs its
// partitions.
type fetcherStarted struct{ key string }

// fetcherConn carries a new connection from the dialling goroutine.
type fetcherConn struct {
	gen    int
	client LeaderClient
	err    error
}

// connResult wraps a network result with its connection's generation.
type connResult struct {
	gen int
	msg any
}

func newFetcherProps(cfg fetcherConfig, key string, dial DialLeaderFunc, brokerEpoch int64, reps *Replicas) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &fetcherActor{core: newFetcher(cfg, brokerEpoch), dial: dial, key: key, reps: reps}
	})
}

func (a *fetcherActor) leaderAddr() string {
	l := a.core.cfg.leader
	return net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
}

// Receive handles the fetcher's messages.
func (a *fetcherActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Send(ctx.Parent(), &fetcherStarted{key: a.key})
		return
	case *actor.Stopping:
		a.stopped = true
		a.carryOut(ctx, a.core.stop())
		return
	case *fetcherConn:
		if m.gen != a.gen || a.stopped {
			if m.client != nil {
				_ = m.client.Close()
			}
			return
		}
		a.client = m.client
		a.carryOut(ctx, a.core.step(&fetcherConnected{err: m.err}))
		return
	case *connResult:
		if m.gen != a.gen {
			return
		}
		a.carryOut(ctx, a.core.step(m.msg))
		return
	case actor.SystemMessage, actor.AutoReceiveMessage:
		return
	}
	a.carryOut(ctx, a.core.step(ctx.Message()))
}

func (a *fetcherActor) carryOut(ctx actor.Context, effects []effect) {
	self, system := ctx.Self(), ctx.ActorSystem()
	for _, e := range effects {
		switch e := e.(type) {
		case ask:
			if pid, ok := a.reps.Partition(e.tp); ok {
				ctx.Request(pid, e.msg)
			}
		case dialLeader:
			a.gen++
			gen, dial, addr, id := a.gen, a.dial, a.leaderAddr(), a.core.cfg.localID
			go func() {
				dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				c, err := dial(dctx, addr, id)
				system.Root.Send(self, &fetcherConn{gen: gen, client: c, err: err})
			}()
		case sendEpochs:
			client, gen := a.client, a.gen
			go func() {
				cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				answers, err := client.OffsetsForLeaderEpoch(cctx, e.qs)
				system.Root.Send(self, &connResult{gen: gen, msg: &fetcherEpochs{answers: answers, err: err}})
			}()
		case sendFetch:
			client, gen := a.client, a.gen
			timeout := a.core.cfg.maxWait + 10*time.Second
			go func() {
				cctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				parts, err := client.Fetch(cctx, e.req)
				system.Root.Send(self, &connResult{gen: gen, msg: &fetcherFetched{parts: parts, sent: e.sent, err: err}})
			}()
		case closeConn:
			a.gen++ // whatever the old connection still reports is moot
			if a.client != nil {
				_ = a.client.Close() // unblocks a call in flight
				a.client = nil
			}
		default:
			panic(fmt.Sprintf("actors: unknown fetcher effect %T", e))
		}
	}
}

// String names the fetcher in logs.
func (a *fetcherActor) String() string {
	return fmt.Sprintf("fetcher(leader=%d)", a.core.cfg.leader.Id)
}
