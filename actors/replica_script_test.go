package actors

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/internal/config"
	"github.com/troupe-mq/troupe/internal/harness"
	"github.com/troupe-mq/troupe/messages"
	"github.com/troupe-mq/troupe/storage"
)

// TestReplicaScripts runs the replica core's scripts (testdata/replica/*.txt).
// Each script drives one replica of partition t-0 on broker 1, over an
// in-memory filesystem, and prints the effects of every command and the
// replica's state after it.
//
// Commands:
//
//	open [k=v ...]                  open the log (topic config overrides)
//	crash / power-loss              reopen after a process crash (page cache kept) or a power loss (unsynced bytes lost)
//	lead epoch=E isr=1,2 [replicas=1,2,3] [pepoch=P]
//	follow leader=L epoch=E isr=... [replicas=...] [pepoch=P]
//	produce [name] [acks=all|1|0] [n=N] [batches=K] [pid=ID seq=S] [timeout=3s]   K batches of N records
//	checkpoint                      write the log's checkpoints (high watermark included)
//	fetch replica=R offset=O [bepoch=B] [epoch=E]   a follower's fetch
//	consume offset=O                a consumer's fetch
//	alter-result ok isr=... pepoch=P [epoch=E]  |  alter-result code=C
//	tick [n=N]
//	sync                            finish the fsyncs started (flush.messages=1)
//	ready                           the fetcher asks where the follower stands
//	epoch-answer epoch=E end=O      the leader's OffsetForLeaderEpoch answer
//	replicate offset=O n=N epoch=E hw=H   a fetch brought N records at O written in epoch E
//	damage file=NAME                overwrite a file of the log's directory with garbage
//	state
func TestReplicaScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/replica", func(t *testing.T, path string) {
		h := &replicaHarness{t: t, fs: storage.NewMemFS(), pending: map[string]chan ProduceResult{}}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			h.b.Reset()
			h.run(d)
			return h.b.String()
		})
	})
}

const scriptDir = "/data/t-0"

type replicaHarness struct {
	t         *testing.T
	fs        *storage.MemFS
	overrides map[string]string
	r         *replica
	pending   map[string]chan ProduceResult
	syncs     []*startSync
	notify    chan struct{}
	b         strings.Builder
	seq       int
}

func (h *replicaHarness) printf(format string, args ...any) { fmt.Fprintf(&h.b, format, args...) }

func (h *replicaHarness) run(d *datadriven.TestData) {
	switch d.Cmd {
	case "open":
		h.overrides = map[string]string{}
		for _, a := range d.CmdArgs {
			if len(a.Vals) == 1 {
				h.overrides[a.Key] = a.Vals[0]
			}
		}
		h.open()
	case "crash":
		h.r = nil // nothing closed: the process died
		h.open()
	case "power-loss":
		h.r = nil
		h.fs = h.fs.CrashClone()
		h.open()
	case "lead", "follow":
		st := &messages.PartitionState{Topic: "t", Partition: 0, Leader: 1}
		if d.Cmd == "follow" {
			st.Leader = int32(intArg(d, "leader", 2))
		}
		st.LeaderEpoch = int32(intArg(d, "epoch", 0))
		st.PartitionEpoch = int32(intArg(d, "pepoch", 0))
		st.Isr = idsArg(d, "isr", []int32{1})
		st.Replicas = idsArg(d, "replicas", st.Isr)
		h.step(&applyPartitionState{state: st, cfg: h.r.cfg})
	case "produce":
		name := ""
		if len(d.CmdArgs) > 0 && len(d.CmdArgs[0].Vals) == 0 {
			name = d.CmdArgs[0].Key
		}
		acks := int16(-1)
		switch strArg(d, "acks", "all") {
		case "1":
			acks = 1
		case "0":
			acks = 0
		}
		n := intArg(d, "n", 1)
		pid := intArg(d, "pid", -1)
		var records []byte
		for range intArg(d, "batches", 1) {
			b := harness.Batch{ProducerID: int64(pid), ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: 1}
			if pid >= 0 {
				b.ProducerEpoch, b.BaseSequence = 0, int32(intArg(d, "seq", 0))
			}
			for range n {
				h.seq++
				b.Records = append(b.Records, harness.Record{Value: []byte("v" + strconv.Itoa(h.seq))})
			}
			records = append(records, harness.BuildBatch(b)...)
		}
		timeout, _ := time.ParseDuration(strArg(d, "timeout", "3s"))
		ch := make(chan ProduceResult, 1)
		h.step(&ProduceRequest{Records: records, Acks: acks, Timeout: timeout, Reply: ch})
		select {
		case res := <-ch:
			h.printf("produce: %s\n", produceText(res))
		default:
			if name == "" {
				name = "p" + strconv.Itoa(len(h.pending)+1)
			}
			h.pending[name] = ch
			h.printf("produce %s: waiting\n", name)
		}
	case "fetch", "consume":
		req := &FetchRequest{FetchOffset: int64(intArg(d, "offset", 0)), MaxBytes: 1 << 20, MinOneBatch: true,
			ReplicaID: -1, ReplicaEpoch: -1, CurrentLeaderEpoch: int32(intArg(d, "epoch", -1))}
		if d.Cmd == "fetch" {
			req.ReplicaID = int32(intArg(d, "replica", 2))
			req.ReplicaEpoch = int64(intArg(d, "bepoch", -1))
		}
		ch := make(chan FetchResult, 1)
		req.Reply = ch
		h.step(req)
		res := <-ch
		if res.Err != nil {
			h.printf("%s: %v\n", d.Cmd, res.Err)
		} else {
			h.printf("%s: hw=%d records=%s\n", d.Cmd, res.HighWatermark, regionText(res.Records))
		}
	case "alter-result":
		resp := &messages.AlterPartitionResponse{Topic: "t", Partition: 0}
		if d.HasArg("ok") {
			resp.State = &messages.PartitionState{Topic: "t", Leader: 1, LeaderEpoch: int32(intArg(d, "epoch", int(h.r.leaderEpoch))),
				Isr: idsArg(d, "isr", nil), PartitionEpoch: int32(intArg(d, "pepoch", 0)), Replicas: h.r.replicas}
		} else {
			resp.ErrorCode = int32(intArg(d, "code", codeInvalidUpdateVersion))
		}
		h.step(&alterPartitionResult{resp: resp})
	case "tick":
		for range intArg(d, "n", 1) {
			h.step(tick{})
		}
	case "sync":
		syncs := h.syncs
		h.syncs = nil
		for _, s := range syncs {
			h.step(&syncDone{upTo: s.upTo, err: s.sync()})
		}
	case "ready":
		h.step(&followerStateRequest{leaderEpoch: h.r.leaderEpoch})
	case "epoch-answer":
		h.step(&truncateFollower{leaderEpoch: h.r.leaderEpoch, answer: EpochAnswer{
			LeaderEpoch: int32(intArg(d, "epoch", -1)), EndOffset: int64(intArg(d, "end", -1))}})
	case "replicate":
		off := int64(intArg(d, "offset", int(h.r.data.LogEndOffset())))
		var rs []harness.Record
		for range intArg(d, "n", 1) {
			h.seq++
			rs = append(rs, harness.Record{Value: []byte("v" + strconv.Itoa(h.seq))})
		}
		batch := harness.BuildBatch(harness.Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: 1, Records: rs})
		binary.BigEndian.PutUint64(batch[0:], uint64(off))
		binary.BigEndian.PutUint32(batch[12:], uint32(intArg(d, "epoch", 0))) // outside the CRC
		h.step(&appendFromLeader{leaderEpoch: h.r.leaderEpoch, records: batch, fetchOffset: off,
			leaderHW: int64(intArg(d, "hw", 0)), leaderStart: 0})
	case "checkpoint":
		h.step(&housekeeping{checkpoint: true})
	case "damage":
		// Overwrite a file of the log's directory with garbage, durably.
		f, err := h.fs.Create(scriptDir + "/" + strArg(d, "file", ""))
		if err != nil {
			h.t.Fatal(err)
		}
		if _, err := f.Write([]byte("garbage\n")); err != nil {
			h.t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			h.t.Fatal(err)
		}
		_ = f.Close()
	case "state":
	default:
		h.t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
	h.printState()
}

func (h *replicaHarness) open() {
	b := config.DefaultBroker()
	b.ReplicaLagTimeMax = 3 * time.Second // 6 ticks of 500 ms
	cfg, err := b.ResolveTopic(h.overrides)
	if err != nil {
		h.t.Fatal(err)
	}
	data, err := storage.Open(scriptDir, storageConfig(cfg), storage.Options{FS: h.fs, Clock: func() time.Time { return time.UnixMilli(1) }})
	if err != nil {
		h.t.Fatal(err)
	}
	h.r = newReplica(TopicPartition{"t", 0}, 1, data, cfg, b, 500*time.Millisecond, zerolog.Nop())
	if err := h.r.loadProducers(); err != nil {
		h.t.Fatal(err)
	}
	h.syncs = nil
	for name := range h.pending {
		delete(h.pending, name)
	}
}

// step feeds the replica and prints what it did.
func (h *replicaHarness) step(msg any) {
	if _, ok := msg.(*FetchRequest); ok && h.notify == nil {
		h.notify = make(chan struct{}, 1)
	}
	if f, ok := msg.(*FetchRequest); ok {
		f.Notify = h.notify
	}
	for _, e := range h.r.step(msg, "fetcher") {
		switch e := e.(type) {
		case answer:
			e.deliver()
		case reply:
			st := e.msg.(*followerState)
			switch {
			case !st.ok:
				h.printf("follower: not following epoch %d (err=%v)\n", st.leaderEpoch, st.err)
			case st.needsTruncation:
				h.printf("follower: ask the leader for epoch %d\n", st.latestEpoch)
			default:
				h.printf("follower: fetch from %d\n", st.logEnd)
			}
		case wake:
			h.printf("wake %d\n", len(e.notify))
		case proposeISR:
			var ms []string
			for _, m := range e.req.NewIsrWithEpochs {
				ms = append(ms, fmt.Sprintf("%d@%d", m.BrokerId, m.BrokerEpoch))
			}
			h.printf("propose isr=%s epoch=%d pepoch=%d\n", strings.Join(ms, ","), e.req.LeaderEpoch, e.req.PartitionEpoch)
		case *startSync:
			h.printf("sync started up to %d\n", e.upTo)
			h.syncs = append(h.syncs, e)
		default:
			h.t.Fatalf("unexpected effect %T", e)
		}
	}
	for _, name := range sortedKeys(h.pending) {
		select {
		case res := <-h.pending[name]:
			h.printf("produce %s: %s\n", name, produceText(res))
			delete(h.pending, name)
		default:
		}
	}
}

func (h *replicaHarness) printState() {
	r := h.r
	if r == nil {
		return
	}
	d := r.data
	var epochs []string
	for _, e := range d.EpochEntries() {
		epochs = append(epochs, fmt.Sprintf("%d@%d", e[0], e[1]))
	}
	h.printf("> %s epoch=%d pepoch=%d isr=%v", r.role, r.leaderEpoch, r.partitionEpoch, r.isr)
	if r.role == roleLeader {
		if m := r.maximalISR(); !slices.Equal(m, r.isr) {
			h.printf(" maximal=%v", m)
		}
	}
	h.printf(" hw=%d leo=%d", r.hw, d.LogEndOffset())
	if r.cfg.FlushMessages == 1 {
		h.printf(" synced=%d", d.RecoveryPoint())
	}
	h.printf(" epochs=[%s]\n", strings.Join(epochs, " "))
}

func produceText(res ProduceResult) string {
	if res.Err != nil {
		return fmt.Sprintf("%v", res.Err)
	}
	return fmt.Sprintf("ok base=%d", res.BaseOffset)
}

// regionText names the offsets a fetch returned: [first, next).
func regionText(reg storage.Region) string {
	if reg.Len() == 0 {
		return "none"
	}
	return fmt.Sprintf("[%d,%d)", reg.FirstOffset(), reg.NextOffset())
}

func intArg(d *datadriven.TestData, key string, def int) int {
	for _, a := range d.CmdArgs {
		if a.Key == key && len(a.Vals) == 1 {
			n, err := strconv.Atoi(a.Vals[0])
			if err != nil {
				panic(fmt.Sprintf("%s: %s=%s: %v", d.Pos, key, a.Vals[0], err))
			}
			return n
		}
	}
	return def
}

func strArg(d *datadriven.TestData, key, def string) string {
	for _, a := range d.CmdArgs {
		if a.Key == key && len(a.Vals) == 1 {
			return a.Vals[0]
		}
	}
	return def
}

func idsArg(d *datadriven.TestData, key string, def []int32) []int32 {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			var out []int32
			for _, v := range a.Vals {
				n, err := strconv.Atoi(v)
				if err != nil {
					panic(fmt.Sprintf("%s: %s: %v", d.Pos, key, err))
				}
				out = append(out, int32(n))
			}
			return out
		}
	}
	return def
}
