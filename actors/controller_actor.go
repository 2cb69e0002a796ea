package actors

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/internal/config"
)

// ControllerConfig configures the controller actor of a broker.
type ControllerConfig struct {
	BrokerID int32
	Store    *cluster.Store
	Broker   *config.Broker
	// CurrentBroker, when set, gives the configuration in use now: a
	// restarted controller starts from it rather than from Broker.
	CurrentBroker func() *config.Broker
	// TickEvery is the controller's logical clock period.
	TickEvery time.Duration
	Log       zerolog.Logger
}

// controllerActor is the shell of the controller core (controller.go): it
// runs the core's ZooKeeper jobs on a zkWorker, forwards the watches they
// arm, sends to brokers over remoting, watches their endpoints, and feeds
// the core its ticks. Nothing in Receive blocks.
//
// Supervision: the default (restart); a restarted controller starts as
// standby and competes for election again.
type controllerActor struct {
	cfg    ControllerConfig
	core   *controller
	worker *zkWorker
	stop   chan struct{}
}

// NewControllerProps returns the controller actor's props; spawn it named
// ControllerName.
func NewControllerProps(cfg ControllerConfig) *actor.Props {
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = 100 * time.Millisecond
	}
	return actor.PropsFromProducer(func() actor.Actor {
		cfg := cfg
		if cfg.CurrentBroker != nil {
			cfg.Broker = cfg.CurrentBroker()
		}
		return &controllerActor{cfg: cfg, core: newController(controllerConfig{
			brokerID: cfg.BrokerID, broker: cfg.Broker, tickEvery: cfg.TickEvery, log: cfg.Log})}
	})
}

// Receive feeds the core and carries out its effects.
func (a *controllerActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.worker = newZKWorker(a.cfg.Store, ctx.ActorSystem(), ctx.Self())
		a.stop = startTicker(ctx.ActorSystem(), ctx.Self(), a.cfg.TickEvery, ctrlTick{})
		a.carryOut(ctx, a.core.start())
		return
	case *actor.Stopping, *actor.Restarting:
		a.carryOut(ctx, a.core.stop())
		close(a.stop)
		a.worker.stop()
		return
	case *actor.Terminated:
		if m.Who != nil {
			a.carryOut(ctx, a.core.step(linkDown{addr: m.Who.Address}, nil))
		}
		return
	case actor.SystemMessage, actor.AutoReceiveMessage:
		return
	case *ElectLeadersRequest:
		// The gateway is no actor: its answer goes to the request's channel.
		a.carryOut(ctx, a.core.step(m, m.Reply))
		return
	}
	a.carryOut(ctx, a.core.step(ctx.Message(), ctx.Sender()))
}

func (a *controllerActor) carryOut(ctx actor.Context, effects []effect) {
	for _, e := range effects {
		switch e := e.(type) {
		case zkCall:
			a.worker.submit(e.job)
		case planCall:
			// The planner may take a second on a large cluster: it runs
			// beside the actor, which stays responsive.
			self, system := ctx.Self(), ctx.ActorSystem()
			go func() {
				res, _ := e.job.run(nil)
				system.Root.Send(self, res)
			}()
		case toBroker:
			ctx.RequestWithCustomSender(brokerActor(ctx, e.to.ActorAddress, ReplicaManagerName), e.msg, ctx.Self())
		case watchLink:
			ctx.Watch(brokerActor(ctx, e.addr, e.name))
		case reply:
			switch to := e.to.(type) {
			case *actor.PID:
				if to != nil {
					ctx.Send(to, e.msg)
				}
			case chan<- *ElectLeadersAnswer:
				select { // buffered by the asker; never block the actor
				case to <- e.msg.(*ElectLeadersAnswer):
				default:
				}
			}
		default:
			panic(fmt.Sprintf("actors: unknown controller effect %T", e))
		}
	}
}

// brokerActor is the PID of a named actor on the broker whose remoting
// address is addr.
func brokerActor(ctx actor.Context, addr, name string) *actor.PID {
	return BrokerActor(ctx.ActorSystem(), addr, name)
}

// BrokerActor is the PID of the actor named name (ReplicaManagerName,
// ControllerName) on the broker whose remoting address is addr: "" in
// embedded mode, where every actor is in this actor system.
func BrokerActor(system *actor.ActorSystem, addr, name string) *actor.PID {
	if addr == "" {
		addr = system.Address()
	}
	return actor.NewPID(addr, name)
}
