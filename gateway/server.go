package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/actors"
	"github.com/troupe-mq/troupe/cluster"
	"github.com/troupe-mq/troupe/internal/config"
)

// Backend is what the gateway needs from the broker it fronts.
type Backend interface {
	// BrokerID is this broker's id.
	BrokerID() int32
	// Replicas gives the metadata cache and the local partition actors.
	Replicas() *actors.Replicas
	// Send delivers a message to a local actor.
	Send(pid *actor.PID, msg any)
	// Controller is this broker's controller actor (active or standby).
	Controller() *actor.PID
	// Admin performs cluster metadata changes (topics, configs).
	Admin() Admin
	// ProducerIDs hands out idempotent producer ids.
	ProducerIDs() ProducerIDAllocator
}

// Admin changes cluster metadata. In Kafka's ZooKeeper mode the broker that
// receives an admin request writes ZooKeeper and the controller reacts to
// the change; Troupe does the same, so any broker can serve these.
// *cluster.Store implements it. Errors are cluster's sentinels
// (cluster.ErrTopicExists, cluster.ErrUnknownTopic, …), mapped in errors.go.
type Admin interface {
	// CreateTopic registers a topic with its replica assignment and config overrides.
	CreateTopic(name string, assignment map[int32][]int32, configs map[string]string) (cluster.TopicID, error)
	// MarkTopicForDeletion asks the controller to delete a topic.
	MarkTopicForDeletion(name string) error
	// AddPartitions adds partitions (their assignment only) to a topic.
	AddPartitions(name string, additions map[int32][]int32) error
	// TopicConfig returns a topic's config overrides.
	TopicConfig(name string) (map[string]string, error)
	// SetTopicConfig replaces a topic's config overrides.
	SetTopicConfig(name string, configs map[string]string) error
	// SubmitReassignments asks the controller to move partitions (empty
	// replicas: cancel the move).
	SubmitReassignments(rs []cluster.Reassignment) error
	// BrokerConfig returns the dynamic configs of a broker id or of
	// cluster.DefaultBrokerEntity; SetBrokerConfig replaces them.
	BrokerConfig(entity string) (map[string]string, error)
	SetBrokerConfig(entity string, configs map[string]string) error
}

// ProducerIDAllocator hands out producer ids for InitProducerId.
type ProducerIDAllocator interface {
	NextProducerID() (int64, error)
}

// Config configures a gateway Server.
type Config struct {
	// Listen is the TCP address to accept clients on, e.g. 127.0.0.1:9092.
	Listen string
	// Advertised host and port clients are told to connect to; derived
	// from the listener when empty.
	AdvertisedHost string
	AdvertisedPort int32
	// DataDir is the log directory DescribeLogDirs describes.
	DataDir string
	Broker  *config.Broker
	Log     zerolog.Logger
}

// Server is a running Kafka protocol listener.
type Server struct {
	cfg     Config
	backend Backend
	ln      net.Listener
	log     zerolog.Logger
	budget  *budget
	// maxFrame is socket.request.max.bytes, lowered if needed so that one
	// frame's charge fits queued.max.request.bytes.
	maxFrame int32
	// broker is the current configuration: cfg.Broker with the dynamic
	// broker configs applied (SetBrokerConfig). Settings read at start
	// (frame and memory limits) come from cfg.Broker.
	broker atomic.Pointer[config.Broker]
	// leaderThrottle is leader.replication.throttled.rate.
	leaderThrottle *actors.Throttle

	mu struct {
		sync.Mutex
		conns  map[*conn]struct{}
		closed bool
	}
	wg sync.WaitGroup
}

// Listen binds the listener; Serve starts accepting.
func Listen(cfg Config, backend Backend) (*Server, error) {
	if cfg.Broker == nil {
		cfg.Broker = config.DefaultBroker()
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("gateway: listen on %s: %w", cfg.Listen, err)
	}
	s := &Server{cfg: cfg, backend: backend, ln: ln, log: cfg.Log.With().Str("component", "gateway").Logger(),
		budget: newBudget(cfg.Broker.QueuedMaxRequestBytes)}
	s.maxFrame = cfg.Broker.SocketRequestMaxBytes
	if limit := (cfg.Broker.QueuedMaxRequestBytes - 1024) / 2; int64(s.maxFrame) > limit {
		s.maxFrame = int32(limit)
	}
	s.mu.conns = make(map[*conn]struct{})
	s.leaderThrottle = actors.NewThrottle(cfg.Broker.LeaderThrottleRate, nil)
	s.broker.Store(cfg.Broker)
	return s, nil
}

// SetBrokerConfig applies a changed configuration (dynamic broker configs).
func (s *Server) SetBrokerConfig(b *config.Broker) {
	s.broker.Store(b)
	s.leaderThrottle.SetRate(b.LeaderThrottleRate)
}

// brokerCfg is the current configuration.
func (s *Server) brokerCfg() *config.Broker { return s.broker.Load() }

// Addr is the address the server listens on.
func (s *Server) Addr() *net.TCPAddr { return s.ln.Addr().(*net.TCPAddr) }

// Serve accepts connections until Shutdown. It returns nil after Shutdown.
func (s *Server) Serve() error {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.mu.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("gateway: accept: %w", err)
		}
		s.mu.Lock()
		if s.mu.closed {
			s.mu.Unlock()
			_ = c.Close()
			return nil
		}
		cc := newConn(s, c)
		s.mu.conns[cc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			cc.serve()
			s.mu.Lock()
			delete(s.mu.conns, cc)
			s.mu.Unlock()
		}()
	}
}

// Shutdown stops accepting, lets every connection finish the requests it
// has read (their responses are written), then closes them. It returns
// when all connections are gone or ctx ends (then it closes them hard).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.mu.closed = true
	conns := make([]*conn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	_ = s.ln.Close()
	for _, c := range conns {
		c.drain()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.close()
		}
		<-done
		return ctx.Err()
	}
}

// advertised returns the host and port to tell clients.
func (s *Server) advertised() (string, int32) {
	host, port := s.cfg.AdvertisedHost, s.cfg.AdvertisedPort
	if host == "" {
		host = s.Addr().IP.String()
	}
	if port == 0 {
		port = int32(s.Addr().Port)
	}
	return host, port
}

// requestTimeout bounds waits for requests that carry no timeout.
func (s *Server) requestTimeout() time.Duration { return s.brokerCfg().RequestTimeout }
