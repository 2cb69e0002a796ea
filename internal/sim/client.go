package sim

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/troupe-mq/troupe/actors"
	"github.com/troupe-mq/troupe/internal/harness"
	"github.com/troupe-mq/troupe/storage"
)

// The simulated clients. Each partition gets two idempotent producers (one
// batch in flight, retried with its sequence until answered), one with
// acks=all and one with acks=1, and a consumer that reads from offset 0 to
// the high watermark. Clients find leaders from the metadata
// of a broker that serves, as Kafka clients do; a consumer, like a KIP-320
// client, never goes back to a leader epoch older than one it has seen.

const (
	produceTimeout = 3 * time.Second
	// clientTimeout: a request without an answer for this long is given
	// up (the connection is taken for dead) and retried.
	clientTimeout = 5 * time.Second
)

type clients struct {
	w         *World
	producers []*producer
	consumers []*consumer
	// stopped: producers stop sending new batches (the run is ending).
	stopped bool
	nextPID int64
}

type producer struct {
	c         *clients
	name      string
	tp        actors.TopicPartition
	pid       int64 // -1: not idempotent
	acks      int16
	guarded   bool // its acknowledged records must survive
	seq       int32
	n         int
	inflight  *clientBatch
	gen       int // numbers requests, so a late answer is told apart
	idleSince time.Duration
}

type clientBatch struct {
	seq    int32
	values []string
	bytes  []byte
	tries  int
}

type consumer struct {
	c     *clients
	name  string
	tp    actors.TopicPartition
	next  int64
	hw    int64
	epoch int32 // newest leader epoch used
	busy  bool
	gen   int
}

func newClients(w *World) *clients {
	return &clients{w: w, nextPID: 1000}
}

// start creates the clients of every partition.
func (c *clients) start() {
	for _, t := range c.w.cfg.Topics {
		for p := 0; p < t.Partitions; p++ {
			tp := actors.TopicPartition{Topic: t.Name, Partition: int32(p)}
			idem := &producer{c: c, name: fmt.Sprintf("idem-%s", tp), tp: tp, pid: c.nextPID, acks: -1, guarded: !t.Unclean}
			c.nextPID++
			plain := &producer{c: c, name: fmt.Sprintf("acks1-%s", tp), tp: tp, pid: c.nextPID, acks: 1}
			c.nextPID++
			c.producers = append(c.producers, idem, plain)
			c.consumers = append(c.consumers, &consumer{c: c, name: "consumer-" + tp.String(), tp: tp, epoch: -1})
		}
	}
	for _, p := range c.producers {
		p.schedule(c.w.jitter(0, 50*time.Millisecond))
	}
	for _, co := range c.consumers {
		co.schedule(c.w.jitter(0, 100*time.Millisecond))
	}
}

// addPartition adds the clients of a partition added during the run.
func (c *clients) addPartition(tp actors.TopicPartition, guarded bool) {
	idem := &producer{c: c, name: fmt.Sprintf("idem-%s", tp), tp: tp, pid: c.nextPID, acks: -1, guarded: guarded}
	c.nextPID++
	co := &consumer{c: c, name: "consumer-" + tp.String(), tp: tp, epoch: -1}
	c.producers = append(c.producers, idem)
	c.consumers = append(c.consumers, co)
	idem.schedule(c.w.jitter(time.Second, 2*time.Second))
	co.schedule(c.w.jitter(time.Second, 2*time.Second))
}

// idle reports whether no producer has a batch in flight.
func (c *clients) idle() bool {
	for _, p := range c.producers {
		if p.inflight != nil {
			return false
		}
	}
	return true
}

// poll is run after every event: nothing to do (answers come by events).
func (c *clients) poll() {}

// brokerDown: requests at a broker that died are answered by their timeouts.
func (c *clients) brokerDown(id int32) {}

// leaderFor returns where a client would send a request for tp: the leader
// the metadata of a random serving broker names (and its leader epoch).
func (c *clients) leaderFor(tp actors.TopicPartition, minEpoch int32) (*simBroker, int32, bool) {
	w := c.w
	var serving []*simBroker
	for _, b := range w.brokers {
		if b.serving() {
			serving = append(serving, b)
		}
	}
	if len(serving) == 0 {
		return nil, -1, false
	}
	md := serving[w.rng.IntN(len(serving))].node.Metadata()
	st, ok := md.Partition(tp.Topic, tp.Partition)
	if !ok || st.Leader < 0 || st.LeaderEpoch < minEpoch {
		return nil, -1, false
	}
	b := w.broker(st.Leader)
	if b == nil || !b.serving() {
		return nil, -1, false
	}
	return b, st.LeaderEpoch, true
}

// --- producers --------------------------------------------------------------------

func (p *producer) schedule(d time.Duration) {
	p.c.w.after(d, "produce", p.step)
}

func (p *producer) step() {
	w := p.c.w
	if p.inflight == nil {
		if p.c.stopped {
			return
		}
		n := 1 + w.rng.IntN(3)
		b := &clientBatch{seq: p.seq}
		var rs []harness.Record
		for range n {
			p.n++
			v := p.name + "#" + strconv.Itoa(p.n)
			b.values = append(b.values, v)
			rs = append(rs, harness.Record{Value: []byte(v)})
		}
		hb := harness.Batch{ProducerID: p.pid, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: w.Now().UnixMilli(), Records: rs}
		if p.pid >= 0 {
			hb.ProducerEpoch, hb.BaseSequence = 0, p.seq
			p.seq += int32(n)
		}
		b.bytes = harness.BuildBatch(hb)
		p.inflight = b
	}
	b := p.inflight
	leader, _, ok := p.c.leaderFor(p.tp, -1)
	if !ok {
		p.schedule(w.jitter(50*time.Millisecond, 200*time.Millisecond))
		return
	}
	b.tries++
	req := &actors.ProduceRequest{Records: b.bytes, Acks: p.acks, Timeout: produceTimeout}
	w.tracef("%s: send seq %d (%d records, try %d) to b%d", p.name, b.seq, len(b.values), b.tries, leader.id)
	askPartition(leader, p.tp, req, func(ch chan<- actors.ProduceResult) { req.Reply = ch }, &p.gen,
		func(ans answerAt) { p.answered(leader, ans) },
		func() {
			w.tracef("%s: seq %d got no answer from b%d", p.name, b.seq, leader.id)
			p.schedule(0)
		})
}

func (p *producer) answered(from *simBroker, ans answerAt) {
	w := p.c.w
	b := p.inflight
	res, ok := ans.v.(actors.ProduceResult)
	if !ok {
		w.tracef("%s: seq %d: %v", p.name, b.seq, ans.v)
		p.schedule(w.jitter(20*time.Millisecond, 100*time.Millisecond))
		return
	}
	if res.Err == nil {
		w.tracef("%s: seq %d acknowledged at %d by b%d", p.name, b.seq, res.BaseOffset, from.id)
		w.hist.acked(w, p, b, res.BaseOffset, ans)
		p.inflight = nil
		p.schedule(w.jitter(5*time.Millisecond, 60*time.Millisecond))
		return
	}
	w.tracef("%s: seq %d refused by b%d: %v", p.name, b.seq, from.id, res.Err)
	if p.pid >= 0 && (errors.Is(res.Err, actors.ErrOutOfOrderSequence) || errors.Is(res.Err, actors.ErrUnknownProducerID) ||
		errors.Is(res.Err, actors.ErrInvalidProducerEpoch)) {
		// A deposed leader that has not heard of it yet lacks what its
		// successor appended; the current leader must not.
		st, _, err := w.zk.admin.PartitionState(p.tp.Topic, p.tp.Partition)
		if err == nil && st.Leader == ans.broker && st.LeaderEpoch == ans.epoch && p.guarded && w.guarded(p.tp.Topic) {
			w.fail("%s: batch seq %d refused by the leader of epoch %d with %v: it lost producer state of acknowledged batches",
				p.name, b.seq, ans.epoch, res.Err)
			return
		}
		if !p.guarded || !w.guarded(p.tp.Topic) {
			// The partition may have lost what this producer wrote (acks=1
			// gives no more): start over as a new producer, as a Kafka
			// producer resets.
			p.pid = p.c.nextPID
			p.c.nextPID++
			p.seq = 0
			p.inflight = nil
		}
	}
	p.schedule(w.jitter(20*time.Millisecond, 150*time.Millisecond))
}

// --- consumers ---------------------------------------------------------------------

func (co *consumer) schedule(d time.Duration) {
	co.c.w.after(d, "consume", co.step)
}

func (co *consumer) step() {
	w := co.c.w
	leader, epoch, ok := co.c.leaderFor(co.tp, co.epoch)
	if !ok {
		co.schedule(w.jitter(50*time.Millisecond, 200*time.Millisecond))
		return
	}
	co.epoch = max(co.epoch, epoch)
	req := &actors.FetchRequest{FetchOffset: co.next, MaxBytes: 64 << 10, MinOneBatch: true, ReplicaID: -1, ReplicaEpoch: -1,
		CurrentLeaderEpoch: epoch}
	askPartition(leader, co.tp, req, func(ch chan<- actors.FetchResult) { req.Reply = ch }, &co.gen,
		func(ans answerAt) { co.fetched(leader, ans.v) },
		func() { co.schedule(0) })
}

func (co *consumer) fetched(from *simBroker, ans any) {
	w := co.c.w
	var data []byte
	res, ok := ans.(actors.FetchResult)
	if fb, isBytes := ans.(fetchedBytes); isBytes {
		if fb.err != nil {
			w.fail("%s: reading a fetched region at the broker: %v", co.name, fb.err)
			return
		}
		res, data, ok = fb.res, fb.data, true
	}
	if !ok || res.Err != nil {
		co.schedule(w.jitter(30*time.Millisecond, 150*time.Millisecond))
		return
	}
	if res.HighWatermark < co.hw && w.guarded(co.tp.Topic) {
		w.fail("%s: high watermark went back from %d to %d (b%d)", co.name, co.hw, res.HighWatermark, from.id)
		return
	}
	co.hw = res.HighWatermark
	if len(data) > 0 {
		for _, r := range decodeRecords(data) {
			if r.offset >= res.HighWatermark {
				w.fail("%s: read offset %d at or above the high watermark %d", co.name, r.offset, res.HighWatermark)
				return
			}
			if r.offset < co.next {
				continue
			}
			w.hist.observed(w, co, r)
			co.next = r.offset + 1
		}
	}
	d := w.jitter(10*time.Millisecond, 80*time.Millisecond)
	co.schedule(d)
}

// askPartition sends a client's request to partition tp on broker b:
// setReply gives it its reply channel; done gets the answer, or timedOut
// is called after clientTimeout (once: gen numbers the attempts, so a late
// answer to an abandoned one is dropped).
func askPartition[T any](b *simBroker, tp actors.TopicPartition, req any, setReply func(chan<- T), gen *int,
	done func(answerAt), timedOut func()) {
	*gen++
	attempt := *gen
	ch := make(chan T, 1)
	setReply(ch)
	check := func(reply func(any)) func() bool {
		return func() bool {
			select {
			case v := <-ch:
				reply(v)
				return true
			default:
				return false
			}
		}
	}
	b.clientRequest(tp, req, check, func(ans answerAt) {
		if *gen == attempt {
			*gen++
			done(ans)
		}
	})
	b.w.after(clientTimeout, "client timeout", func() {
		if *gen == attempt {
			*gen++
			timedOut()
		}
	})
}

// fetchedBytes is a fetch answer with its records read at the broker.
type fetchedBytes struct {
	res  actors.FetchResult
	data []byte
	err  error
}

// answerAt is an answer with the state of the replica that gave it.
type answerAt struct {
	v      any
	broker int32
	leader bool
	epoch  int32
}

// clientRequest carries a client's request to this broker's partition and
// its answer back: check makes the poll of the request's reply channel,
// and the answer (or a refusal) reaches done.
func (b *simBroker) clientRequest(tp actors.TopicPartition, req any, check func(reply func(any)) func() bool, done func(answerAt)) {
	w := b.w
	inc := b.inc
	back := func(v any) {
		// Fetched bytes are read now, as the gateway writes them out: the
		// log may be closed by the time the answer arrives.
		if fr, ok := v.(actors.FetchResult); ok && fr.Err == nil && fr.Records.Len() > 0 {
			data, err := fr.Records.AppendTo(nil)
			v = fetchedBytes{res: fr, data: data, err: err}
		}
		at := answerAt{v: v, broker: b.id}
		if b.node != nil {
			if st, ok := b.node.Replica(tp); ok {
				at.leader, at.epoch = st.Leader, st.LeaderEpoch
			}
		}
		w.after(w.jitter(200*time.Microsecond, 2*time.Millisecond), "client answer", func() { done(at) })
	}
	w.after(w.jitter(200*time.Microsecond, 2*time.Millisecond), "client request", func() {
		if b.inc != inc || !b.serving() {
			back(errConn) // refused, or the connection broke
			return
		}
		b.deliverFn(func() {
			if !b.node.Hosts(tp) {
				back(b.unknownOrNotLeader(tp))
				return
			}
			b.wait(tp, check(func(v any) {
				if b.inc == inc {
					back(v)
				}
			}))
			w.net.send(gatewayAddr(b.id), actors.Addr{Broker: b.id, Kind: actors.AddrPartition, TP: tp}, req)
		})
	})
}

// serving: the broker accepts client connections — it runs, is
// registered, and holds metadata that lists itself at its broker epoch
// (bug 10: a broker does not answer clients before it knows the cluster).
func (b *simBroker) serving() bool {
	if !b.up() || b.regEpoch == 0 {
		return false
	}
	md := b.node.Metadata()
	me, ok := md.Brokers[b.id]
	return ok && me.Epoch == b.regEpoch && md.ControllerID >= 0
}

// --- decoding what consumers read ---------------------------------------------------

type readRecord struct {
	offset int64
	value  string
	pid    int64
	seq    int32
	epoch  int32
}

// decodeRecords lists the records of stored batches (uncompressed).
func decodeRecords(data []byte) []readRecord {
	var out []readRecord
	for len(data) >= storage.BatchHeaderSize {
		h, err := storage.ParseBatchHeader(data)
		if err != nil {
			return out
		}
		size := int(h.BatchLength) + 12
		if size > len(data) {
			return out
		}
		vals := harness.BatchValues(data[:size])
		for i, v := range vals {
			seq := int32(-1)
			if h.BaseSequence >= 0 {
				seq = h.BaseSequence + int32(i)
			}
			out = append(out, readRecord{offset: h.BaseOffset + int64(i), value: string(v), pid: h.ProducerID, seq: seq, epoch: h.PartitionLeaderEpoch})
		}
		data = data[size:]
	}
	return out
}
