package harness

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Errors of the raw connection.
var (
	// ErrCorrelation: a response carried another correlation id than expected.
	ErrCorrelation = errors.New("harness: response correlation id mismatch")
	// ErrNotClosed: the broker kept a connection open that it should have closed.
	ErrNotClosed = errors.New("harness: connection not closed by the broker")
)

// RawConn is a Kafka wire connection without a client library's help:
// tests write any bytes they like (oversized frames, unknown API keys,
// truncated bodies) and read exactly what the broker answers. Requests are
// encoded with kmsg. Not safe for concurrent use.
type RawConn struct {
	nc   net.Conn
	br   *bufio.Reader
	corr int32
	// Timeout bounds each read and write (default 10 s).
	Timeout time.Duration
}

// DialRaw connects to a broker.
func DialRaw(addr string) (*RawConn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("harness: dial %s: %w", addr, err)
	}
	return &RawConn{nc: nc, br: bufio.NewReader(nc), Timeout: 10 * time.Second}, nil
}

// Close closes the connection.
func (c *RawConn) Close() error { return c.nc.Close() }

// Conn is the underlying connection.
func (c *RawConn) Conn() net.Conn { return c.nc }

// RawClientID is the client id of requests encoded by Frame.
const RawClientID = "harness-raw"

var rawFormatter = kmsg.NewRequestFormatter(kmsg.FormatterClientID(RawClientID))

// Frame encodes req (at the version set on it) as a complete request
// frame, size prefix included, with client id RawClientID.
func Frame(req kmsg.Request, corr int32) []byte {
	// AppendRequest writes its size prefix at dst[0]: always start empty.
	return rawFormatter.AppendRequest(nil, req, corr)
}

// Frame is the package-level Frame.
func (c *RawConn) Frame(req kmsg.Request, corr int32) []byte { return Frame(req, corr) }

// Send writes req (at the version set on it) and returns its correlation id.
func (c *RawConn) Send(req kmsg.Request) (int32, error) {
	c.corr++
	return c.corr, c.WriteRaw(c.Frame(req, c.corr))
}

// WriteRaw writes b as is.
func (c *RawConn) WriteRaw(b []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.Timeout))
	_, err := c.nc.Write(b)
	return err
}

// ReadFrame reads one response frame and returns its body (without the
// size prefix).
func (c *RawConn) ReadFrame() ([]byte, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.Timeout))
	var size [4]byte
	if _, err := io.ReadFull(c.br, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 1<<30 {
		return nil, fmt.Errorf("harness: response frame of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return nil, err
	}
	return body, nil
}

// Receive reads the response to req, sent with correlation id corr.
func (c *RawConn) Receive(req kmsg.Request, corr int32) (kmsg.Response, error) {
	body, err := c.ReadFrame()
	if err != nil {
		return nil, err
	}
	return ParseResponse(req, corr, body)
}

// Do sends req and reads its response.
func (c *RawConn) Do(req kmsg.Request) (kmsg.Response, error) {
	corr, err := c.Send(req)
	if err != nil {
		return nil, err
	}
	return c.Receive(req, corr)
}

// ParseResponse decodes a response frame body to req: correlation id,
// the flexible header's tags (never for ApiVersions, KIP-511) and the body
// at req's version.
func ParseResponse(req kmsg.Request, corr int32, body []byte) (kmsg.Response, error) {
	if len(body) < 4 {
		return nil, fmt.Errorf("harness: response of %d bytes", len(body))
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corr {
		return nil, fmt.Errorf("%w: got %d, want %d", ErrCorrelation, got, corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != 18 {
		if len(body) < 1 || body[0] != 0 {
			return nil, fmt.Errorf("harness: flexible response header with tag bytes %x", body[:min(len(body), 1)])
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("harness: decode %s v%d response: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp, nil
}

// ExpectClosed reads until the broker closes the connection. It fails
// (ErrNotClosed) if the broker sends a response or keeps the connection
// open for timeout.
func (c *RawConn) ExpectClosed(timeout time.Duration) error {
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	var buf [512]byte
	n, err := c.br.Read(buf[:])
	switch {
	case n > 0:
		return fmt.Errorf("%w: it answered %d bytes (%x)", ErrNotClosed, n, buf[:min(n, 32)])
	case errors.Is(err, io.EOF), isReset(err):
		return nil
	case err != nil:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("%w: still open after %v", ErrNotClosed, timeout)
		}
		return nil // any other read error means the connection is gone
	}
	return fmt.Errorf("%w: empty read", ErrNotClosed)
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe)
}

// Record is one record of a batch built by BuildBatch.
type Record struct {
	Key, Value []byte
	Headers    []kmsg.Header
	// TimestampDelta is the offset from the batch's first timestamp (ms).
	TimestampDelta int64
}

// Batch describes a Kafka v2 record batch for BuildBatch. Zero values give
// a plain, non-idempotent, uncompressed batch (ProducerID -1 must be set
// explicitly; see NoProducer).
type Batch struct {
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	// FirstTimestamp is the batch's first timestamp in ms (default: now).
	FirstTimestamp int64
	Attributes     int16
	// Magic defaults to 2.
	Magic   int8
	Records []Record
}

// NoProducer is the producer id of a batch from a non-idempotent producer.
const NoProducer int64 = -1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BuildBatch encodes a v2 record batch with a correct length and CRC-32C,
// as a producer would send it (base offset 0, partition leader epoch -1).
func BuildBatch(b Batch) []byte {
	if b.Magic == 0 {
		b.Magic = 2
	}
	if b.FirstTimestamp == 0 {
		b.FirstTimestamp = time.Now().UnixMilli()
	}
	var records []byte
	maxDelta := int64(0)
	for i, r := range b.Records {
		kr := kmsg.Record{TimestampDelta64: r.TimestampDelta, OffsetDelta: int32(i), Key: r.Key, Value: r.Value, Headers: r.Headers}
		body := kr.AppendTo(nil)[1:] // encoded with Length 0: a one-byte varint
		kr.Length = int32(len(body))
		records = binary.AppendVarint(records, int64(kr.Length))
		records = append(records, body...)
		maxDelta = max(maxDelta, r.TimestampDelta)
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                b.Magic,
		Attributes:           b.Attributes,
		LastOffsetDelta:      int32(len(b.Records) - 1),
		FirstTimestamp:       b.FirstTimestamp,
		MaxTimestamp:         b.FirstTimestamp + maxDelta,
		ProducerID:           b.ProducerID,
		ProducerEpoch:        b.ProducerEpoch,
		FirstSequence:        b.BaseSequence,
		NumRecords:           int32(len(b.Records)),
		Records:              records,
	}
	out := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	FixCRC(out)
	return out
}

// FixCRC recomputes the CRC-32C of the v2 batch at the start of b (after
// a test changed its bytes on purpose).
func FixCRC(b []byte) {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
}

// ProduceRequest wraps batches (concatenated) for one partition in a
// Produce request of the given version and acks.
func ProduceRequest(version int16, acks int16, topic string, partition int32, batches ...[]byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(version)
	req.Acks = acks
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	for _, b := range batches {
		rp.Records = append(rp.Records, b...)
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// Pipeline writes all requests back to back in one write, then reads
// their responses in order. It is how tests check that a connection
// answers pipelined requests in request order.
func (c *RawConn) Pipeline(reqs ...kmsg.Request) ([]kmsg.Response, error) {
	var buf []byte
	first := c.corr + 1
	for _, r := range reqs {
		c.corr++
		// AppendRequest writes its size prefix at dst[0], so each frame
		// must be encoded on its own before joining them.
		buf = append(buf, c.Frame(r, c.corr)...)
	}
	var werr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // write while reading, so a large pipeline cannot deadlock on socket buffers
		defer wg.Done()
		werr = c.WriteRaw(buf)
	}()
	resps := make([]kmsg.Response, 0, len(reqs))
	var rerr error
	for i, r := range reqs {
		resp, err := c.Receive(r, first+int32(i))
		if err != nil {
			rerr = fmt.Errorf("response %d of %d: %w", i+1, len(reqs), err)
			break
		}
		resps = append(resps, resp)
	}
	wg.Wait()
	return resps, errors.Join(werr, rerr)
}

// BatchValues returns the record values of one uncompressed v2 batch, in
// offset order (nil for a batch that does not parse).
func BatchValues(batch []byte) [][]byte {
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(batch); err != nil || rb.Attributes&0x07 != 0 {
		return nil
	}
	out := make([][]byte, 0, rb.NumRecords)
	for src := rb.Records; len(src) > 0 && len(out) < int(rb.NumRecords); {
		n, w := binary.Varint(src)
		if w <= 0 || n < 0 || int(n) > len(src)-w {
			return out
		}
		var r kmsg.Record
		if err := r.ReadFrom(src[:w+int(n)]); err != nil {
			return out
		}
		out = append(out, r.Value)
		src = src[w+int(n):]
	}
	return out
}
