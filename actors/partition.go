package actors

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/internal/config"
	"github.com/troupe-mq/troupe/messages"
	"github.com/troupe-mq/troupe/storage"
)

// Local messages between the replica manager and its partition actors.
// They never leave the broker.
type (
	// applyPartitionState carries the latest LeaderAndIsr for the partition.
	applyPartitionState struct {
		state  *messages.PartitionState
		cfg    config.Topic
		leader *messages.Broker // the leader's broker, for a follower
	}
	// replicaStarted tells the manager a (re)started partition actor has
	// opened its log and wants its state. err != nil: the log failed to open.
	replicaStarted struct {
		tp  TopicPartition
		inc int64 // the incarnation the manager spawned, to tell an old actor's report apart
		err error
	}
	// stopPartition asks a partition actor to close (and maybe delete) its log.
	stopPartition struct {
		delete bool
		done   chan<- error
	}
	// updateTopicConfig carries a topic's new effective config.
	updateTopicConfig struct{ cfg config.Topic }
	// tick is the logical clock (see replicaManager).
	tick struct{}
	// housekeeping asks for the flush policy, and for checkpoints and
	// retention when their intervals are due. nowMs is the wall clock the
	// replica manager's shell read (producer id expiry compares it with
	// batch timestamps).
	housekeeping struct {
		retention, checkpoint bool
		nowMs                 int64
	}
	// syncDone reports a background fsync.
	syncDone struct {
		upTo int64
		err  error
	}
	// alterPartitionResult routes the controller's answer to an ISR change.
	alterPartitionResult struct {
		resp *messages.AlterPartitionResponse
		err  error
	}
)

// replicaEnv is what every partition actor of a broker shares. It is
// immutable after the replica manager starts.
type replicaEnv struct {
	brokerID  int32
	dataDir   string
	fs        storage.FS
	broker    *config.Broker
	tickEvery time.Duration
	clock     func() time.Time
	log       zerolog.Logger
	// allowCrash lets CrashForTest panic the actor (tests of supervision).
	allowCrash bool
	// stats is where replicas publish their figures (nil: nowhere, as in
	// the simulator).
	stats *statsRegistry
}

// CrashForTest makes a partition actor panic when its broker was started
// with AllowCrashForTests, to test that supervision restarts it from its
// log while other partitions keep serving. Otherwise it is ignored.
type CrashForTest struct{}

// partitionActor is the shell of one partition replica: it opens the log,
// feeds every message to the replica core (replica.go) and carries out the
// effects the core returns. The role (leader, follower) lives in the core.
//
// Supervision: the replica manager restarts a panicking partition actor;
// the new instance reopens the log (recovery included) and asks the manager
// for the partition's current state, so a crash loses no acknowledged data
// and touches no other partition.
type partitionActor struct {
	tp      TopicPartition
	inc     int64
	env     *replicaEnv
	cfg     config.Topic
	log     zerolog.Logger
	r       *replica // nil until the log is open, or when it failed to
	deleted bool
}

func newPartitionActor(tp TopicPartition, inc int64, env *replicaEnv, cfg config.Topic) actor.Producer {
	return func() actor.Actor {
		return &partitionActor{
			tp:  tp,
			inc: inc,
			env: env,
			cfg: cfg,
			log: env.log.With().Str("topic", tp.Topic).Int32("partition", tp.Partition).Logger(),
		}
	}
}

// Receive handles lifecycle; everything else goes to the core.
func (a *partitionActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.r = openReplica(a.tp, a.env, a.cfg, a.log)
		var err error
		if a.r == nil {
			err = ErrReplicaNotAvailable
		}
		a.publishStats()
		ctx.Send(ctx.Parent(), &replicaStarted{tp: a.tp, inc: a.inc, err: err})
		return
	case *actor.Restarting:
		a.close(ctx, ErrReplicaNotAvailable)
		return
	case *actor.Stopping:
		a.close(ctx, ErrStopped)
		return
	case *stopPartition:
		if a.env.stats != nil {
			a.env.stats.remove(a.tp)
		}
		err := a.close(ctx, ErrStopped)
		if m.delete && !a.deleted {
			if derr := deleteReplicaLog(a.env, a.tp, a.r); derr != nil && err == nil {
				err = derr
			}
			a.deleted = true
		}
		a.r = nil
		if m.done != nil {
			m.done <- err
		}
		ctx.Stop(ctx.Self())
		return
	case *CrashForTest:
		if a.env.allowCrash {
			panic(fmt.Sprintf("actors: crash of %s requested by a test", a.tp))
		}
		return
	case actor.SystemMessage, actor.AutoReceiveMessage:
		return
	}
	if a.r == nil {
		refuseRequest(ctx.Message(), ErrReplicaNotAvailable)
		return
	}
	a.carryOut(ctx, a.r.step(ctx.Message(), ctx.Sender()))
	if _, ok := ctx.Message().(*housekeeping); ok {
		a.publishStats()
	}
}

// publishStats updates the replica's ReplicaStats (after the log opened and
// at every housekeeping round).
func (a *partitionActor) publishStats() {
	if a.env.stats == nil || a.r == nil {
		return
	}
	st := a.env.stats.get(a.tp)
	st.size.Store(a.r.data.Size())
	st.logEnd.Store(a.r.data.LogEndOffset())
	st.hw.Store(a.r.hw)
	st.appended.Store(a.r.data.BytesAppended())
}

// carryOut executes the core's effects.
func (a *partitionActor) carryOut(ctx actor.Context, effects []effect) {
	for _, e := range effects {
		switch e := e.(type) {
		case answer:
			e.deliver()
		case reply:
			if to, ok := e.to.(*actor.PID); ok && to != nil {
				ctx.Send(to, e.msg)
			}
		case wake:
			wakeAll(e.notify)
		case proposeISR:
			ctx.Send(ctx.Parent(), e.req)
		case *startSync:
			self, system := ctx.Self(), ctx.ActorSystem()
			go func() {
				err := e.sync()
				system.Root.Send(self, &syncDone{upTo: e.upTo, err: err})
			}()
		default:
			panic(fmt.Sprintf("actors: unknown replica effect %T", e))
		}
	}
}

// wakeAll signals parked long-polls without blocking.
func wakeAll(notify []chan<- struct{}) {
	for _, ch := range notify {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// openReplica opens a partition's log and builds its core; nil when the
// log cannot be opened or its producer state rebuilt (logged).
func openReplica(tp TopicPartition, env *replicaEnv, cfg config.Topic, log zerolog.Logger) *replica {
	data, err := storage.Open(partitionDir(env.dataDir, tp), storageConfig(cfg), storage.Options{FS: env.fs, Logger: log, Clock: env.clock})
	if err != nil {
		log.Error().Err(err).Msg("cannot open partition log")
		return nil
	}
	r := newReplica(tp, env.brokerID, data, cfg, env.broker, env.tickEvery, log)
	if err := r.loadProducers(); err != nil {
		log.Error().Err(err).Msg("cannot rebuild producer state")
		_ = data.Close()
		return nil
	}
	log.Debug().Int64("log_start", data.LogStartOffset()).Int64("log_end", data.LogEndOffset()).Msg("partition log open")
	return r
}

// deleteReplicaLog removes a stopped replica's log (r may be nil: a log
// that never opened goes all the same).
func deleteReplicaLog(env *replicaEnv, tp TopicPartition, r *replica) error {
	if r != nil {
		return r.data.Delete()
	}
	return env.fs.RemoveAll(partitionDir(env.dataDir, tp))
}

// close answers everything waiting with err and closes the log.
func (a *partitionActor) close(ctx actor.Context, err error) error {
	if a.r == nil {
		return nil
	}
	a.carryOut(ctx, a.r.close(err))
	if a.deleted {
		return nil
	}
	return closeReplicaLog(a.r, a.log)
}

// closeReplicaLog snapshots the producer state and closes the log.
func closeReplicaLog(r *replica, log zerolog.Logger) error {
	r.saveProducers()
	cerr := r.data.Close()
	if cerr != nil {
		log.Error().Err(cerr).Msg("closing partition log")
	}
	return cerr
}

// refusal is the answer to a gateway request that cannot be served now
// (nil for any other message).
func refusal(m any, err error) answer {
	switch m := m.(type) {
	case *ProduceRequest:
		return replyTo[ProduceResult]{m.Reply, ProduceResult{Err: err, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1}}
	case *FetchRequest:
		return replyTo[FetchResult]{m.Reply, FetchResult{Err: err, HighWatermark: -1, LastStable: -1, LogStartOffset: -1, LogEndOffset: -1}}
	case *ListOffsetsRequest:
		return replyTo[ListOffsetsResult]{m.Reply, ListOffsetsResult{Err: err, Offset: -1, Timestamp: -1, LeaderEpoch: -1}}
	case *OffsetForLeaderEpochRequest:
		return replyTo[OffsetForLeaderEpochResult]{m.Reply, OffsetForLeaderEpochResult{Err: err, LeaderEpoch: -1, EndOffset: -1}}
	case *DeleteRecordsRequest:
		return replyTo[DeleteRecordsResult]{m.Reply, DeleteRecordsResult{Err: err, LowWatermark: -1}}
	}
	return nil
}

// refuseRequest answers a gateway request for a replica whose log is not
// open. A fetcher's message gets no answer: the fetcher starts the
// partition over when the manager re-registers it.
func refuseRequest(m any, err error) {
	if a := refusal(m, err); a != nil {
		a.deliver()
	}
}

// partitionDir is where a partition's log lives: "<data>/<topic>-<partition>",
// as in Kafka.
func partitionDir(dataDir string, tp TopicPartition) string {
	return filepath.Join(dataDir, fmt.Sprintf("%s-%d", tp.Topic, tp.Partition))
}
