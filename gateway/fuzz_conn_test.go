package gateway

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/actors"
	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/internal/config"
)

// fuzzBackend is a broker with no partitions and an admin that refuses
// everything: the fuzzer exercises the connection, the frame and header
// reader and request decoding, not the partitions behind them.
type fuzzBackend struct{ reps *actors.Replicas }

func (fuzzBackend) BrokerID() int32                  { return 1 }
func (b fuzzBackend) Replicas() *actors.Replicas     { return b.reps }
func (fuzzBackend) Send(*actor.PID, any)             {}
func (fuzzBackend) Admin() Admin                     { return fuzzAdmin{} }
func (fuzzBackend) Controller() *actor.PID           { return nil }
func (fuzzBackend) ProducerIDs() ProducerIDAllocator { return fuzzPIDs{} }
func (fuzzPIDs) NextProducerID() (int64, error)      { return 1000, nil }
func (fuzzAdmin) MarkTopicForDeletion(string) error  { return cluster.ErrUnknownTopic }
func (fuzzAdmin) AddPartitions(string, map[int32][]int32) error {
	return cluster.ErrUnknownTopic
}
func (fuzzAdmin) TopicConfig(string) (map[string]string, error)    { return nil, cluster.ErrUnknownTopic }
func (fuzzAdmin) SubmitReassignments([]cluster.Reassignment) error { return cluster.ErrUnknownTopic }
func (fuzzAdmin) SetTopicConfig(string, map[string]string) error {
	return cluster.ErrUnknownTopic
}
func (fuzzAdmin) BrokerConfig(string) (map[string]string, error) { return map[string]string{}, nil }
func (fuzzAdmin) SetBrokerConfig(string, map[string]string) error {
	return errors.New("fuzz: no broker configs")
}
func (fuzzAdmin) CreateTopic(string, map[int32][]int32, map[string]string) (cluster.TopicID, error) {
	return cluster.TopicID{}, errors.New("fuzz: no topics")
}

type (
	fuzzAdmin struct{}
	fuzzPIDs  struct{}
)

// pipeConn is a net.Conn that reads a fixed input and records what is
// written to it.
type pipeConn struct {
	in  *bytes.Reader
	mu  sync.Mutex
	out bytes.Buffer
}

func (c *pipeConn) Read(p []byte) (int, error) { return c.in.Read(p) }
func (c *pipeConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}
func (c *pipeConn) Close() error        { return nil }
func (c *pipeConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092} }
func (c *pipeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
}
func (c *pipeConn) SetDeadline(time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }

// fuzzMaxFrame is socket.request.max.bytes for the fuzzer's server.
const fuzzMaxFrame = 1 << 16

var fuzzServer struct {
	once sync.Once
	s    *Server
	err  error
}

func newFuzzServer() (*Server, error) {
	fuzzServer.once.Do(func() {
		b, err := config.LoadBroker("", []string{
			"socket.request.max.bytes=65536", "queued.max.request.bytes=1048576", "request.timeout.ms=100"})
		if err != nil {
			fuzzServer.err = err
			return
		}
		s, err := Listen(Config{Listen: "127.0.0.1:0", Broker: b, Log: zerolog.Nop()}, fuzzBackend{reps: actors.NewReplicas()})
		if err != nil {
			fuzzServer.err = err
			return
		}
		_ = s.ln.Close() // connections are handed over directly
		fuzzServer.s = s
	})
	return fuzzServer.s, fuzzServer.err
}

// serveInput runs one connection that reads input then EOF, and returns
// what the server wrote. It fails if serving does not finish.
func serveInput(t *testing.T, s *Server, input []byte) []byte {
	pc := &pipeConn{in: bytes.NewReader(input)}
	c := newConn(s, pc)
	full := c.local.avail
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.serve()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("connection still serving 10 s after its input ended (input %x)", input[:min(len(input), 64)])
	}
	if c.local.avail != full {
		t.Fatalf("connection budget leaked: %d of %d bytes free after the connection ended", c.local.avail, full)
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return bytes.Clone(pc.out.Bytes())
}

// FuzzConn feeds arbitrary bytes to a connection as if a client sent them.
// Invariants: the server never panics; the connection finishes once its
// input ends (nothing hangs); every byte it reserved from the connection
// and server budgets is released; what it writes is a sequence of whole
// response frames, each at least a correlation id long; and afterwards a
// new connection is answered as usual.
func FuzzConn(f *testing.F) {
	fr := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	frame := func(r kmsg.Request, v int16) []byte {
		r.SetVersion(v)
		return fr.AppendRequest(nil, r, 1)
	}
	av := kmsg.NewPtrApiVersionsRequest()
	md := kmsg.NewPtrMetadataRequest()
	mdt := kmsg.NewMetadataRequestTopic()
	mdt.Topic = kmsg.StringPtr("t")
	md.Topics = append(md.Topics, mdt)
	pr := kmsg.NewPtrProduceRequest()
	pr.Acks = -1
	prt := kmsg.NewProduceRequestTopic()
	prt.Topic = "t"
	prp := kmsg.NewProduceRequestTopicPartition()
	prp.Records = bytes.Repeat([]byte{0}, 70)
	prt.Partitions = append(prt.Partitions, prp)
	pr.Topics = append(pr.Topics, prt)
	fe := kmsg.NewPtrFetchRequest()
	fet := kmsg.NewFetchRequestTopic()
	fet.Topic = "t"
	fet.Partitions = append(fet.Partitions, kmsg.NewFetchRequestTopicPartition())
	fe.Topics = append(fe.Topics, fet)
	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "new", 1, 1
	ct.Topics = append(ct.Topics, ctt)
	for _, seed := range [][]byte{
		frame(av, 3), frame(av, 0), frame(md, 12), frame(md, 0), frame(pr, 9), frame(pr, 3), frame(fe, 12), frame(fe, 4),
		frame(ct, 7), frame(kmsg.NewPtrDescribeClusterRequest(), 1), frame(kmsg.NewPtrInitProducerIDRequest(), 4),
		append(frame(av, 3), frame(md, 9)...), // pipelined
		{0, 0, 0, 0}, {0xff, 0xff, 0xff, 0xff}, {0, 1, 0, 0},
		{0, 0, 0, 10, 0, 18, 0, 99, 0, 0, 0, 1, 0xff, 0xff},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		s, err := newFuzzServer()
		if err != nil {
			t.Fatal(err)
		}
		out := serveInput(t, s, input)
		for rest := out; len(rest) > 0; {
			if len(rest) < 8 {
				t.Fatalf("%d stray bytes at the end of the output", len(rest))
			}
			n := int(binary.BigEndian.Uint32(rest))
			if n < 4 || n > len(rest)-4 {
				t.Fatalf("response frame of %d bytes with %d left", n, len(rest)-4)
			}
			rest = rest[4+n:]
		}
		if s.budget.avail != s.cfg.Broker.QueuedMaxRequestBytes {
			t.Fatalf("server budget leaked: %d of %d bytes free", s.budget.avail, s.cfg.Broker.QueuedMaxRequestBytes)
		}
		// The server still answers a well-formed request.
		ok := serveInput(t, s, frame(kmsg.NewPtrApiVersionsRequest(), 3))
		if len(ok) < 8 || binary.BigEndian.Uint32(ok[4:]) != 1 {
			t.Fatalf("ApiVersions after the fuzz input: %x", ok)
		}
		_, _ = io.Discard.Write(out)
	})
}
