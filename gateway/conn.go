package gateway

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// answer waits for and returns the response to one request. It runs on the
// connection's writer goroutine, in request order. A nil response with a
// nil error means "no response" (acks=0 produce). An error closes the
// connection.
type answer func() (kmsg.Response, error)

// done returns an answer that is already known.
func done(resp kmsg.Response) answer { return func() (kmsg.Response, error) { return resp, nil } }

// inflight is a request read from the socket and not yet answered.
type inflight struct {
	key, version int16
	corr         int32
	charge       int64 // bytes reserved from the budgets
	answer       answer
	// body is the frame, a pooled buffer returned after the response is
	// written unless retainBody: a handler sets it when an actor may still
	// hold part of the body (a produce answered by timeout).
	body       []byte
	retainBody bool
}

// request is what a handler's start function sees.
type request struct {
	c        *conn
	inf      *inflight
	kreq     kmsg.Request
	version  int16
	clientID string
}

// minFrame is the smallest valid request: api key, version, correlation id
// and a null client id.
const minFrame = 2 + 2 + 4 + 2

// ErrFrameTooLarge: a client announced a frame over socket.request.max.bytes.
var ErrFrameTooLarge = errors.New("gateway: request frame too large")

// conn serves one client connection.
type conn struct {
	s     *Server
	nc    net.Conn
	log   zerolog.Logger
	queue chan *inflight
	// local is this connection's own byte budget: one client cannot take
	// the whole broker-wide budget.
	local *budget
	// stop is closed to stop waiting for budget (connection closing).
	stop      chan struct{}
	stopOnce  sync.Once
	closeOnce sync.Once
	draining  chan struct{}
	drainOnce sync.Once
	// markers name the record placeholders of spliced fetch responses.
	markers *markerSource
}

func newConn(s *Server, nc net.Conn) *conn {
	perConn := 2*int64(s.cfg.Broker.SocketRequestMaxBytes) + 1<<20
	return &conn{
		s:        s,
		nc:       nc,
		log:      s.log.With().Str("remote", nc.RemoteAddr().String()).Logger(),
		queue:    make(chan *inflight, s.cfg.Broker.ConnMaxInflight),
		local:    newBudget(perConn),
		stop:     make(chan struct{}),
		draining: make(chan struct{}),
		markers:  newMarkerSource(),
	}
}

// serve runs the connection until the client goes away or the server
// shuts down.
func (c *conn) serve() {
	if tc, ok := c.nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	err := c.readLoop()
	close(c.queue)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
		c.log.Debug().Err(err).Msg("closing connection")
	}
	<-writerDone
	c.close()
}

// drainGrace is how long a draining connection still reads requests.
// Cutting reads at once dropped requests already on their way: a client
// that had just connected (the listener closes after leaderships moved
// away, as clients come to learn where) saw its ApiVersions go unanswered,
// and kgo takes EOF on a connection's first read for a fatal TLS mismatch
// and fails the records it was producing.
const drainGrace = 100 * time.Millisecond

// drain stops reading new requests after drainGrace; those read are answered.
func (c *conn) drain() {
	c.drainOnce.Do(func() {
		close(c.draining)
		_ = c.nc.SetReadDeadline(time.Now().Add(drainGrace))
	})
}

// close closes the socket and stops all waiting.
func (c *conn) close() {
	c.stopOnce.Do(func() { close(c.stop) })
	c.closeOnce.Do(func() { _ = c.nc.Close() })
}

func (c *conn) readLoop() error {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var sizeBuf [4]byte
	maxFrame := c.s.maxFrame
	for {
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < minFrame || size > maxFrame {
			c.log.Warn().Int32("size", size).Int32("max", maxFrame).Msg("closing connection: bad request frame size")
			return fmt.Errorf("%w: %d bytes (max %d)", ErrFrameTooLarge, size, maxFrame)
		}
		body, charge, err := c.readBody(br, int(size))
		if err != nil {
			return err
		}
		inf, err := c.start(body)
		if err != nil {
			c.release(charge)
			c.log.Warn().Err(err).Msg("closing connection: bad request")
			return err
		}
		inf.charge = charge
		select {
		case c.queue <- inf:
		case <-c.stop:
			c.release(charge)
			return net.ErrClosed
		}
	}
}

// firstChunk is how much of a frame body is read (and charged) before
// the client has shown that it sends more; see readBody.
const firstChunk = 64 << 10

// readBody reads a frame body of size bytes (size is within maxFrame),
// reserving budget as the bytes arrive rather than when the size is
// announced: a client that announces a large frame and then stalls holds
// budget for about what it has sent, so a few such connections cannot
// starve every other client (slowloris). The buffer starts at firstChunk
// and grows fourfold (so a stalled client holds at most about eight times
// what it sent, and a large frame is copied about a third of an extra
// time); twice its capacity (plus a little) is charged, since decoding may
// allocate more than the frame itself. It returns the body
// and the charge to release once the request is answered; on an error
// nothing stays charged.
func (c *conn) readBody(r io.Reader, size int) ([]byte, int64, error) {
	var body []byte
	charged := int64(0)
	capacity := min(size, firstChunk)
	for {
		want := 2*int64(capacity) + 1024
		n := want - charged
		if !c.local.acquire(n, c.stop) {
			c.release(charged)
			return nil, 0, net.ErrClosed
		}
		if !c.s.budget.acquire(n, c.stop) {
			c.local.release(n)
			c.release(charged)
			return nil, 0, net.ErrClosed
		}
		charged = want
		grown := getBuf(capacity)
		have := copy(grown, body)
		if body != nil {
			putBuf(body)
		}
		body = grown
		if _, err := io.ReadFull(r, body[have:]); err != nil {
			c.release(charged)
			return nil, 0, err
		}
		if capacity == size {
			return body, charged, nil
		}
		capacity = min(4*capacity, size)
	}
}

// finish releases an answered request's budget and recycles its frame.
func (c *conn) finish(inf *inflight) {
	c.release(inf.charge)
	if !inf.retainBody && inf.body != nil {
		putBuf(inf.body)
		inf.body = nil
	}
}

func (c *conn) release(n int64) {
	c.local.release(n)
	c.s.budget.release(n)
}

// start parses a request frame and starts handling it.
func (c *conn) start(body []byte) (*inflight, error) {
	r := kbin.Reader{Src: body}
	key, version, corr := r.Int16(), r.Int16(), r.Int32()
	clientID := r.NullableString()
	if !r.Ok() {
		return nil, errors.New("gateway: truncated request header")
	}
	api := lookupAPI(key)
	if api == nil {
		return nil, fmt.Errorf("gateway: unknown api key %d", key)
	}
	inf := &inflight{key: key, version: version, corr: corr}
	if version < api.min || version > api.max {
		if key == apiVersionsKey {
			// KIP-511: answer in v0 so any client can read our ranges.
			inf.version = 0
			inf.answer = done(unsupportedAPIVersions())
			return inf, nil
		}
		return nil, fmt.Errorf("gateway: api key %d version %d outside supported [%d, %d]", key, version, api.min, api.max)
	}
	kreq := kmsg.RequestForKey(key)
	kreq.SetVersion(version)
	if kreq.IsFlexible() {
		kmsg.SkipTags(&r)
		if !r.Ok() {
			return nil, errors.New("gateway: truncated request header tags")
		}
	}
	if err := kreq.ReadFrom(r.Src); err != nil {
		return nil, fmt.Errorf("gateway: decode api key %d v%d: %w", key, version, err)
	}
	cid := ""
	if clientID != nil {
		cid = *clientID
	}
	inf.body = body
	inf.answer = api.start(&request{c: c, inf: inf, kreq: kreq, version: version, clientID: cid})
	return inf, nil
}

func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	var buf, scratch []byte
	failed := false
	for inf := range c.queue {
		if failed {
			// Not answered: an actor may still hold the body's records.
			c.release(inf.charge)
			continue
		}
		resp, err := inf.answer()
		if err != nil {
			c.log.Warn().Err(err).Int16("api_key", inf.key).Msg("closing connection: request failed")
			c.finish(inf)
			failed = true
			c.close()
			continue
		}
		if resp == nil {
			c.finish(inf)
			continue
		}
		resp.SetVersion(inf.version)
		buf = append(buf[:0], 0, 0, 0, 0)
		buf = binary.BigEndian.AppendUint32(buf, uint32(inf.corr))
		if resp.IsFlexible() && inf.key != apiVersionsKey {
			buf = append(buf, 0) // empty tagged fields of response header v1
		}
		if sr, ok := resp.(*splicedResponse); ok {
			var parts []wirePart
			parts, _, err = splice(buf, sr, resp.IsFlexible())
			if err == nil {
				err = writeParts(bw, c.nc, parts, &scratch)
			}
		} else {
			buf = resp.AppendTo(buf)
			binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
			_, err = bw.Write(buf)
		}
		// Flush when nothing else is ready to go, so pipelined responses
		// share a write but none waits for a later one.
		if err == nil && len(c.queue) == 0 {
			err = bw.Flush()
		}
		c.finish(inf)
		if err != nil {
			c.log.Debug().Err(err).Msg("write failed")
			failed = true
			c.close()
		}
		if cap(buf) > 1<<20 {
			buf = nil // don't pin a large response buffer to an idle connection
		}
	}
	if !failed {
		_ = bw.Flush()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// budget is a byte semaphore whose waiters can give up.
type budget struct {
	mu    sync.Mutex
	avail int64
	wake  chan struct{}
}

func newBudget(n int64) *budget { return &budget{avail: n, wake: make(chan struct{})} }

// acquire takes n bytes, waiting until they are free or stop is closed.
// REQUIRES: n <= the budget's size (the server caps frames so it is).
func (b *budget) acquire(n int64, stop <-chan struct{}) bool {
	for {
		b.mu.Lock()
		if b.avail >= n {
			b.avail -= n
			b.mu.Unlock()
			return true
		}
		ch := b.wake
		b.mu.Unlock()
		select {
		case <-ch:
		case <-stop:
			return false
		}
	}
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.avail += n
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
}
