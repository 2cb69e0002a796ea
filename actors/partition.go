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
		pid *actor.PID
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
	// housekeeping asks for retention and checkpointing.
	// housekeeping asks for the flush policy, and for checkpoints and
	// retention when their intervals are due.
	housekeeping struct{ retention, checkpoint bool }
	// startSync is an effect: run sync on another goroutine.
	startSync struct {
		upTo int64
		sync func() error
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
}

// CrashForTest makes a partition actor panic when its broker was started
// with AllowCrashForTests, to test that supervision restarts it from its
// log while other partitions keep serving. Otherwise it is ignored.
type CrashForTest struct{}

// buffered is a message held while the actor starts, with its sender so
// a request can still be answered.
type buffered struct {
	msg    any
	sender *actor.PID
}

// maxBuffered bounds the requests a partition actor holds while it waits
// for its first state after a (re)start; beyond it they are refused with
// ErrReplicaNotAvailable and the client retries.
const maxBuffered = 1024

// partitionActor owns one partition replica and its log. Behaviors:
// starting (log open, waiting for its state), leading, following.
//
// Supervision: the replica manager restarts a panicking partition actor;
// the new instance reopens the log (recovery included) and asks the manager
// for the partition's current state, so a crash loses no acknowledged data
// and touches no other partition.
type partitionActor struct {
	tp       TopicPartition
	env      *replicaEnv
	cfg      config.Topic
	log      zerolog.Logger
	behavior actor.Behavior
	r        *replica // nil until the log is open
	buffered []buffered
	deleted  bool
}

func newPartitionActor(tp TopicPartition, env *replicaEnv, cfg config.Topic) actor.Producer {
	return func() actor.Actor {
		a := &partitionActor{
			tp:  tp,
			env: env,
			cfg: cfg,
			log: env.log.With().Str("topic", tp.Topic).Int32("partition", tp.Partition).Logger(),
		}
		a.behavior.Become(a.starting)
		return a
	}
}

func (a *partitionActor) dir() string {
	return partitionDir(a.env.dataDir, a.tp)
}

// Receive handles lifecycle and the checks shared by every behavior, then
// delegates to the current behavior.
func (a *partitionActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.open(ctx)
		return
	case *actor.Restarting:
		a.close(ErrReplicaNotAvailable)
		return
	case *actor.Stopping:
		a.close(ErrStopped)
		return
	case *stopPartition:
		err := a.close(ErrStopped)
		if m.delete && a.r != nil {
			if derr := a.r.data.Delete(); derr != nil && err == nil {
				err = derr
			}
			a.deleted = true
		} else if m.delete && !a.deleted {
			// The log never opened (or failed): its files go all the same.
			if derr := a.env.fs.RemoveAll(a.dir()); derr != nil && err == nil {
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
	case *syncDone:
		if a.r != nil {
			a.r.syncDone(m.upTo, m.err)
			a.flushOutbox(ctx)
		}
		return
	case *updateTopicConfig:
		a.cfg = m.cfg
		if a.r != nil {
			a.r.setConfig(m.cfg, a.env.broker)
			a.r.data.SetConfig(storageConfig(m.cfg))
		}
		return
	}
	a.behavior.Receive(ctx)
	if a.r != nil {
		a.flushOutbox(ctx)
	}
}

// open opens the log, rebuilds producer state and asks for the partition's
// state. A failure leaves the actor without a log: requests get
// ErrReplicaNotAvailable and the manager is told.
func (a *partitionActor) open(ctx actor.Context) {
	started := time.Now()
	data, err := storage.Open(a.dir(), storageConfig(a.cfg), storage.Options{FS: a.env.fs, Logger: a.log, Clock: a.env.clock})
	if err != nil {
		a.log.Error().Err(err).Msg("cannot open partition log")
		ctx.Send(ctx.Parent(), &replicaStarted{tp: a.tp, pid: ctx.Self(), err: err})
		return
	}
	r := newReplica(a.tp, a.env.brokerID, data, a.cfg, a.env.broker, a.env.tickEvery, a.env.clock, a.log)
	if err := r.loadProducers(); err != nil {
		a.log.Error().Err(err).Msg("cannot rebuild producer state")
		_ = data.Close()
		ctx.Send(ctx.Parent(), &replicaStarted{tp: a.tp, pid: ctx.Self(), err: err})
		return
	}
	a.r = r
	a.log.Debug().Int64("log_start", data.LogStartOffset()).Int64("log_end", data.LogEndOffset()).
		Dur("took", time.Since(started)).Msg("partition log open")
	ctx.Send(ctx.Parent(), &replicaStarted{tp: a.tp, pid: ctx.Self()})
}

// close answers everything waiting with err and closes the log.
func (a *partitionActor) close(err error) error {
	for _, b := range a.buffered {
		refuse(b.msg, ErrReplicaNotAvailable)
	}
	a.buffered = nil
	if a.r == nil {
		return nil
	}
	a.r.failPending(err)
	a.r.wakeWaiters()
	if a.deleted {
		return nil
	}
	a.r.saveProducers()
	cerr := a.r.data.Close()
	if cerr != nil {
		a.log.Error().Err(cerr).Msg("closing partition log")
	}
	return cerr
}

// starting waits for the first applyPartitionState, buffering requests.
func (a *partitionActor) starting(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *applyPartitionState:
		if a.r == nil {
			return
		}
		a.apply(ctx, m)
		held := a.buffered
		a.buffered = nil
		for _, b := range held {
			a.behavior.Receive(&replayContext{Context: ctx, msg: b.msg, sender: b.sender})
		}
	case *ProduceRequest, *FetchRequest, *ListOffsetsRequest, *OffsetForLeaderEpochRequest, *DeleteRecordsRequest,
		*followerStateRequest, *truncateFollower, *appendFromLeader:
		if a.r == nil || len(a.buffered) >= maxBuffered {
			refuse(m, ErrReplicaNotAvailable)
			return
		}
		a.buffered = append(a.buffered, buffered{msg: m, sender: ctx.Sender()})
	}
}

// apply switches role according to a LeaderAndIsr state.
func (a *partitionActor) apply(ctx actor.Context, m *applyPartitionState) {
	if m.cfg != a.cfg {
		a.cfg = m.cfg
		a.r.setConfig(m.cfg, a.env.broker)
		a.r.data.SetConfig(storageConfig(m.cfg))
	}
	st := m.state
	if st.Leader == a.env.brokerID {
		if err := a.r.becomeLeader(st); err != nil {
			a.log.Error().Err(err).Msg("cannot become leader")
			return
		}
		a.behavior.Become(a.leading)
		return
	}
	a.r.becomeFollower(st)
	a.behavior.Become(a.following)
}

// leading serves clients as the partition's leader.
func (a *partitionActor) leading(ctx actor.Context) {
	r := a.r
	switch m := ctx.Message().(type) {
	case *applyPartitionState:
		a.apply(ctx, m)
	case *ProduceRequest:
		r.produce(m)
	case *FetchRequest:
		r.fetch(m)
	case *ListOffsetsRequest:
		reply(m.Reply, r.listOffsets(m))
	case *OffsetForLeaderEpochRequest:
		reply(m.Reply, r.offsetForLeaderEpoch(m))
	case *DeleteRecordsRequest:
		reply(m.Reply, r.deleteRecords(m))
	case *alterPartitionResult:
		r.alterPartitionDone(m.resp, m.err)
	case *followerStateRequest:
		ctx.Respond(r.followerStatus(m.leaderEpoch))
	case *truncateFollower:
		ctx.Respond(r.followerStatus(m.leaderEpoch))
	case *appendFromLeader:
		ctx.Respond(r.followerStatus(m.leaderEpoch))
	case tick:
		r.tick()
	case *housekeeping:
		a.housekeeping(m)
	}
}

// following is the follower behavior: the replica copies its leader's log
// (replication arrives with the cluster mode); clients are sent to the
// leader.
func (a *partitionActor) following(ctx actor.Context) {
	r := a.r
	switch m := ctx.Message().(type) {
	case *applyPartitionState:
		a.apply(ctx, m)
	case *ProduceRequest:
		reply(m.Reply, ProduceResult{Err: ErrNotLeader, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1})
	case *FetchRequest:
		r.fetch(m)
	case *ListOffsetsRequest:
		reply(m.Reply, r.listOffsets(m))
	case *OffsetForLeaderEpochRequest:
		reply(m.Reply, r.offsetForLeaderEpoch(m))
	case *DeleteRecordsRequest:
		reply(m.Reply, DeleteRecordsResult{Err: ErrNotLeader, LowWatermark: -1})
	case *followerStateRequest:
		ctx.Respond(r.followerStatus(m.leaderEpoch))
	case *truncateFollower:
		ctx.Respond(r.truncateFollower(m))
	case *appendFromLeader:
		ctx.Respond(r.appendFromLeader(m))
	case tick:
		r.tick()
	case *housekeeping:
		a.housekeeping(m)
	}
}

func (a *partitionActor) housekeeping(m *housekeeping) {
	d := a.r.data
	if m.retention {
		// Producers quiet for producer.id.expiration.ms are forgotten (as in
		// Kafka), and the state is snapshotted for a quick next open.
		cutoff := a.env.clock().Add(-a.env.broker.ProducerIDExpiration).UnixMilli()
		if n := a.r.producers.expire(cutoff); n > 0 {
			a.log.Debug().Int("producers", n).Msg("expired idle producer ids")
		}
		a.r.saveProducers()
		if n, err := d.ApplyRetention(); err != nil {
			a.log.Error().Err(err).Msg("retention failed")
		} else if n > 0 {
			a.log.Info().Int("segments", n).Int64("log_start", d.LogStartOffset()).Msg("retention removed segments")
		}
	}
	if err := d.MaybeFlush(); err != nil {
		a.log.Error().Err(err).Msg("flush failed")
	}
	if m.checkpoint {
		if err := d.Checkpoint(); err != nil {
			a.log.Error().Err(err).Msg("checkpoint failed")
		}
	}
}

// flushOutbox carries out what the replica asked for.
func (a *partitionActor) flushOutbox(ctx actor.Context) {
	out := a.r.outbox
	if len(out) == 0 {
		return
	}
	a.r.outbox = nil
	for _, e := range out {
		switch e := e.(type) {
		case *startSync:
			self, system := ctx.Self(), ctx.ActorSystem()
			go func() {
				err := e.sync()
				system.Root.Send(self, &syncDone{upTo: e.upTo, err: err})
			}()
		case *messages.AlterPartitionRequest:
			ctx.Send(ctx.Parent(), e)
		default:
			panic(fmt.Sprintf("actors: unknown replica effect %T", e))
		}
	}
}

// refuse answers a client request that cannot be served now.
func refuse(m any, err error) {
	switch m := m.(type) {
	case *ProduceRequest:
		reply(m.Reply, ProduceResult{Err: err, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1})
	case *FetchRequest:
		reply(m.Reply, FetchResult{Err: err, HighWatermark: -1, LastStable: -1, LogStartOffset: -1, LogEndOffset: -1})
	case *ListOffsetsRequest:
		reply(m.Reply, ListOffsetsResult{Err: err, Offset: -1, Timestamp: -1, LeaderEpoch: -1})
	case *OffsetForLeaderEpochRequest:
		reply(m.Reply, OffsetForLeaderEpochResult{Err: err, LeaderEpoch: -1, EndOffset: -1})
	case *DeleteRecordsRequest:
		reply(m.Reply, DeleteRecordsResult{Err: err, LowWatermark: -1})
	}
}

// storageConfig maps a topic's effective config to the log's.
func storageConfig(t config.Topic) storage.Config {
	c := storage.DefaultConfig()
	c.SegmentBytes = t.SegmentBytes
	c.SegmentMs = t.SegmentMs
	c.IndexIntervalBytes = t.IndexIntervalBytes
	c.SegmentIndexBytes = t.SegmentIndexBytes
	c.MaxMessageBytes = t.MaxMessageBytes
	c.RetentionBytes = t.RetentionBytes
	c.RetentionMs = t.RetentionMs
	c.FlushMessages = t.FlushMessages
	c.FlushMs = t.FlushMs
	c.FileDeleteDelay = t.FileDeleteDelay
	return c
}

// replayContext replays a buffered message through a behavior: it reports
// the buffered message and its original sender, and answers that sender.
type replayContext struct {
	actor.Context
	msg    any
	sender *actor.PID
}

func (c *replayContext) Message() any       { return c.msg }
func (c *replayContext) Sender() *actor.PID { return c.sender }
func (c *replayContext) Respond(resp any) {
	if c.sender != nil {
		c.Context.Send(c.sender, resp)
	}
}

// partitionDir is where a partition's log lives: "<data>/<topic>-<partition>",
// as in Kafka.
func partitionDir(dataDir string, tp TopicPartition) string {
	return filepath.Join(dataDir, fmt.Sprintf("%s-%d", tp.Topic, tp.Partition))
}
