package sim

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/troupe-mq/troupe/actors"
	"github.com/troupe-mq/troupe/messages"
)

// nodeEnv is the NodeEnv of one broker incarnation.
type nodeEnv struct {
	b   *simBroker
	inc int
}

var errConn = errors.New("sim: connection failed")

func (e *nodeEnv) live() bool { return e.b.inc == e.inc && e.b.node != nil }

func (e *nodeEnv) Send(from, to actors.Addr, msg any) {
	if !e.live() {
		return
	}
	e.b.w.net.send(from, to, msg)
}

// ZK queues a controller job; jobs run one at a time, in order, on the
// broker's ZooKeeper connection.
func (e *nodeEnv) ZK(from actors.Addr, job actors.ZKJob) {
	if !e.live() {
		return
	}
	e.b.zkJobs = append(e.b.zkJobs, job)
	e.b.runZK()
}

func (b *simBroker) runZK() {
	if b.zkBusy || len(b.zkJobs) == 0 {
		return
	}
	w, inc := b.w, b.inc
	job := b.zkJobs[0]
	b.zkJobs = b.zkJobs[1:]
	b.zkBusy = true
	// The job is sent now and answered after a round trip; while the
	// broker is frozen nothing is sent.
	w.after(w.jitter(200*time.Microsecond, 2*time.Millisecond), "zk job", func() {
		if b.inc != inc {
			return
		}
		b.deliverFn(func() {
			res, watches := job.Run(b.zs.store)
			w.tracef("b%d zk %s -> %s", b.id, job, lazy(describe, res))
			for _, wa := range watches {
				fired := wa.Fired
				w.zk.arm(wa.Ch, func() {
					w.after(w.jitter(100*time.Microsecond, time.Millisecond), "watch", func() {
						if b.inc == inc {
							b.deliverFn(func() { b.node.ZKDone(fired) })
						}
					})
				})
			}
			w.after(w.jitter(200*time.Microsecond, 2*time.Millisecond), "zk result", func() {
				if b.inc != inc {
					return
				}
				b.deliverFn(func() {
					b.node.ZKDone(res)
					b.zkBusy = false
					b.runZK()
				})
			})
		})
	})
}

func (e *nodeEnv) Watch(from actors.Addr, addr string) {
	if !e.live() {
		return
	}
	var id int32
	if _, err := fmt.Sscanf(addr, "sim-broker-%d", &id); err != nil {
		return
	}
	e.b.watch(from, id)
}

// Sync runs a partition's fsync after a disk's latency.
func (e *nodeEnv) Sync(from actors.Addr, upTo int64, sync func() error) {
	if !e.live() {
		return
	}
	b, w, inc := e.b, e.b.w, e.inc
	w.after(w.jitter(500*time.Microsecond, 4*time.Millisecond), "fsync", func() {
		if b.inc != inc {
			return // the process died: the fsync never finished
		}
		b.deliverFn(func() {
			err := sync()
			b.node.SyncDone(from, upTo, err)
		})
	})
}

// --- replica fetch connections ---------------------------------------------------

func (e *nodeEnv) Dial(from actors.Addr, leader *messages.Broker) {
	if !e.live() {
		return
	}
	b, w, inc := e.b, e.b.w, e.inc
	c := b.conns[from.Key]
	if c == nil {
		c = &fetchConn{}
		b.conns[from.Key] = c
	}
	c.gen++
	c.leader, c.up = leader.Id, false
	gen := c.gen
	t := w.broker(leader.Id)
	ok := t != nil && t.up() && w.net.reachable(b.id, leader.Id) && w.net.reachable(leader.Id, b.id)
	d := w.jitter(500*time.Microsecond, 3*time.Millisecond)
	if !ok {
		if t != nil && t.node == nil && w.net.reachable(b.id, leader.Id) {
			d = w.jitter(500*time.Microsecond, 2*time.Millisecond) // refused at once
		} else {
			d = 5 * time.Second // the dial times out
		}
	}
	w.after(d, "dial", func() {
		if b.inc != inc || c.gen != gen {
			return
		}
		var err error
		if ok && t.up() {
			c.up, c.leaderInc = true, t.inc
		} else {
			err = errConn
		}
		b.deliverFn(func() { b.node.Connected(from, err) })
	})
}

func (e *nodeEnv) CloseConn(from actors.Addr) {
	if c := e.b.conns[from.Key]; c != nil {
		c.gen++
		c.up = false
	}
}

// connFailed fails the call in flight on a connection after d.
func (b *simBroker) connFailed(key string, c *fetchConn, d time.Duration) {
	c.gen++
	b.w.tracef("b%d fetch connection %s to b%d failed (call in flight: %v)", b.id, key, c.leader, c.inFlight != nil)
	if c.inFlight == nil {
		return
	}
	fail := c.inFlight
	c.inFlight = nil
	inc := b.inc
	b.w.after(d, "conn failed", func() {
		if b.inc == inc {
			b.deliverFn(fail)
		}
	})
}

func (e *nodeEnv) Fetch(from actors.Addr, leader *messages.Broker, req *actors.ReplicaFetch) {
	e.call(from, func() { e.b.node.FetchDone(from, nil, errConn) }, func(t *simBroker, answer func(func())) {
		t.serveReplicaFetch(req, func(parts []actors.FetchedPartition) {
			answer(func() { e.b.node.FetchDone(from, parts, nil) })
		})
	})
}

func (e *nodeEnv) Epochs(from actors.Addr, leader *messages.Broker, qs []actors.EpochQuery) {
	e.call(from, func() { e.b.node.EpochsDone(from, nil, errConn) }, func(t *simBroker, answer func(func())) {
		t.serveEpochs(qs, func(as []actors.EpochAnswer) {
			answer(func() { e.b.node.EpochsDone(from, as, nil) })
		})
	})
}

// call sends a request on a fetcher's connection and carries the answer
// back, each way in order on the connection; a connection that breaks
// fails the call (fail).
func (e *nodeEnv) call(from actors.Addr, fail func(), serve func(t *simBroker, answer func(func()))) {
	if !e.live() {
		return
	}
	b, w, inc := e.b, e.b.w, e.inc
	c := b.conns[from.Key]
	if c == nil || !c.up {
		w.after(time.Millisecond, "call on a closed connection", func() {
			if b.inc == inc {
				b.deliverFn(fail)
			}
		})
		return
	}
	gen := c.gen
	c.inFlight = fail
	t := w.broker(c.leader)
	w.tracef("%s: call to b%d (conn gen %d)", from, c.leader, gen)
	out := connKey{from: from, to: actors.Addr{Broker: c.leader}, kind: "fetch"}
	back := connKey{from: actors.Addr{Broker: c.leader}, to: from, kind: "fetch"}
	w.after(w.net.deliverAt(out, w.net.delay(b.id, c.leader))-w.now, "fetch request", func() {
		if c.gen != gen || t.inc != c.leaderInc || !w.net.reachable(b.id, c.leader) {
			w.tracef("%s: call to b%d lost on the way", from, c.leader)
			return // lost: the keepalive check or the reset fails the call
		}
		t.deliverFn(func() {
			serve(t, func(done func()) {
				if t.inc != c.leaderInc {
					return
				}
				w.after(w.net.deliverAt(back, w.net.delay(c.leader, b.id))-w.now, "fetch response", func() {
					if b.inc != inc || c.gen != gen || !w.net.reachable(c.leader, b.id) {
						w.tracef("%s: answer from b%d lost on the way", from, c.leader)
						return
					}
					c.inFlight = nil
					w.tracef("%s: answer from b%d", from, c.leader)
					b.deliverFn(done)
				})
			})
		})
	})
	// A silent connection (a cut that no reset tells of) times out.
	w.after(requestTimeout, "fetch timeout", func() {
		if b.inc == inc && c.gen == gen && c.inFlight != nil {
			c.up = false
			b.connFailed(from.Key, c, 0)
		}
	})
}

// --- the leader's side: the gateway -----------------------------------------------

// serveReplicaFetch is the gateway's Fetch for a follower: each partition
// is asked (a message to its actor); an answer with nothing in it parks the
// fetch until a partition signals news or max wait passes, then the
// partitions are asked once more, as gateway/01_fetch.go does.
func (t *simBroker) serveReplicaFetch(req *actors.ReplicaFetch, done func([]actors.FetchedPartition)) {
	w, inc := t.w, t.inc
	notify := make(chan struct{}, 1)
	maxWait := time.Duration(req.MaxWaitMs) * time.Millisecond
	deadline := w.now + maxWait
	var round func(last bool)
	round = func(last bool) {
		results := make([]*actors.FetchResult, len(req.Partitions))
		remaining := len(req.Partitions)
		finish := func() {
			parts := make([]actors.FetchedPartition, len(req.Partitions))
			total := 0
			failed := false
			for i, p := range req.Partitions {
				r := results[i]
				fp := actors.FetchedPartition{TP: p.TP, Err: r.Err, HighWatermark: r.HighWatermark, LogStartOffset: r.LogStartOffset}
				if r.Err == nil && r.Records.Len() > 0 {
					b, err := r.Records.AppendTo(nil)
					if err != nil {
						fp.Err = err
					}
					fp.Records = b
					total += len(b)
				}
				if r.Err != nil {
					failed = true
				}
				parts[i] = fp
			}
			if last || failed || total >= int(req.MinBytes) && total > 0 || w.now >= deadline {
				done(parts)
				return
			}
			// Nothing yet: wait for a signal or the deadline.
			var wait func()
			wait = func() {
				if t.inc != inc {
					return
				}
				select {
				case <-notify:
					round(false)
					return
				default:
				}
				if w.now >= deadline {
					round(true)
					return
				}
				w.after(min(20*time.Millisecond, deadline-w.now), "fetch long-poll", func() { t.deliverFn(wait) })
			}
			wait()
		}
		if remaining == 0 {
			finish()
			return
		}
		for i, p := range req.Partitions {
			i, p := i, p
			if !t.node.Hosts(p.TP) {
				results[i] = &actors.FetchResult{Err: t.unknownOrNotLeader(p.TP), HighWatermark: -1, LogStartOffset: -1}
				remaining--
				if remaining == 0 {
					finish()
				}
				continue
			}
			ch := make(chan actors.FetchResult, 1)
			fr := &actors.FetchRequest{FetchOffset: p.FetchOffset, MaxBytes: p.MaxBytes, MinOneBatch: true, ReplicaID: req.ReplicaID,
				ReplicaEpoch: req.ReplicaEpoch, CurrentLeaderEpoch: p.CurrentLeaderEpoch, FollowerLogStartOffset: p.LogStartOffset,
				Notify: notify, Reply: ch}
			t.wait(p.TP, func() bool {
				select {
				case r := <-ch:
					results[i] = &r
					remaining--
					if remaining == 0 {
						finish()
					}
					return true
				default:
					return false
				}
			})
			w.net.send(gatewayAddr(t.id), actors.Addr{Broker: t.id, Kind: actors.AddrPartition, TP: p.TP}, fr)
		}
	}
	round(false)
}

func (t *simBroker) serveEpochs(qs []actors.EpochQuery, done func([]actors.EpochAnswer)) {
	answers := make([]actors.EpochAnswer, len(qs))
	remaining := len(qs)
	for i, q := range qs {
		i, q := i, q
		if !t.node.Hosts(q.TP) {
			answers[i] = actors.EpochAnswer{TP: q.TP, Err: t.unknownOrNotLeader(q.TP), LeaderEpoch: -1, EndOffset: -1}
			remaining--
			continue
		}
		ch := make(chan actors.OffsetForLeaderEpochResult, 1)
		t.wait(q.TP, func() bool {
			select {
			case r := <-ch:
				answers[i] = actors.EpochAnswer{TP: q.TP, Err: r.Err, LeaderEpoch: r.LeaderEpoch, EndOffset: r.EndOffset}
				remaining--
				if remaining == 0 {
					done(answers)
				}
				return true
			default:
				return false
			}
		})
		t.w.net.send(gatewayAddr(t.id), actors.Addr{Broker: t.id, Kind: actors.AddrPartition, TP: q.TP},
			&actors.OffsetForLeaderEpochRequest{LeaderEpoch: q.LeaderEpoch, CurrentLeaderEpoch: q.CurrentLeaderEpoch, Reply: ch, ReplicaID: 0})
	}
	if remaining == 0 {
		done(answers)
	}
}

// unknownOrNotLeader is the gateway's error for a partition not hosted here.
func (t *simBroker) unknownOrNotLeader(tp actors.TopicPartition) error {
	md := t.node.Metadata()
	if _, ok := md.Partition(tp.Topic, tp.Partition); ok || md.ControllerEpoch < 0 {
		return actors.ErrNotLeader
	}
	return actors.ErrUnknownPartition
}

// gatewayAddr is the sender of the gateway's requests to partitions.
func gatewayAddr(id int32) actors.Addr {
	return actors.Addr{Broker: id, Kind: actors.AddrClient, Key: "gateway"}
}

// sortedTPs returns a map's partitions in order.
func sortedTPs[V any](m map[actors.TopicPartition]V) []actors.TopicPartition {
	tps := slices.Collect(maps.Keys(m))
	slices.SortFunc(tps, func(a, b actors.TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return tps
}

// describe names a message for the trace.
func describe(msg any) string {
	switch m := msg.(type) {
	case nil:
		return "<nil>"
	case *messages.LeaderAndIsrRequest:
		s := fmt.Sprintf("LeaderAndIsr(c%d", m.ControllerEpoch)
		for _, p := range m.Partitions {
			s += fmt.Sprintf(" %s-%d:L%d/e%d/isr%v/v%d", p.Topic, p.Partition, p.Leader, p.LeaderEpoch, p.Isr, p.PartitionEpoch)
		}
		return s + ")"
	case *messages.AlterPartitionRequest:
		return fmt.Sprintf("AlterPartition(%s-%d e%d v%d %v)", m.Topic, m.Partition, m.LeaderEpoch, m.PartitionEpoch, m.NewIsr())
	case *messages.AlterPartitionResponse:
		if m.State != nil {
			return fmt.Sprintf("AlterPartitionResponse(%s-%d code %d isr %v v%d)", m.Topic, m.Partition, m.ErrorCode, m.State.Isr, m.State.PartitionEpoch)
		}
		return fmt.Sprintf("AlterPartitionResponse(%s-%d code %d)", m.Topic, m.Partition, m.ErrorCode)
	case *messages.UpdateMetadataRequest:
		return fmt.Sprintf("UpdateMetadata(c%d v%d full=%v brokers=%d parts=%d)", m.ControllerEpoch, m.Version, m.Full, len(m.Brokers), len(m.Partitions))
	case *actors.ProduceRequest, *actors.FetchRequest, *actors.OffsetForLeaderEpochRequest:
		return fmt.Sprintf("%T", m)
	}
	// Pointers differ from run to run: keep them out of the trace, which
	// must replay byte for byte.
	s := pointers.ReplaceAllString(fmt.Sprintf("%T%+v", msg, msg), "*")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

var pointers = regexp.MustCompile(`0x[0-9a-f]{6,12}\b`)
