package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Record decoding and encoding for the cleaner and for the key check of
// compacted topics: the records of a v2 batch, decompressed, and a batch
// rebuilt from some of them with the original's header and codec.
//
// Codecs are those of Kafka, through the field's libraries: gzip and zstd
// from klauspost/compress, snappy as plain blocks (s2 reads and writes
// them) or in the xerial framing Java clients write, lz4 in the frame
// format (pierrec/lz4).

// Record is one record of a v2 batch, as decoded from its records section.
type Record struct {
	Raw            []byte // the whole record as framed: length varint through headers
	OffsetDelta    int32
	TimestampDelta int64
	Key            []byte // nil when the key is null; a sub-slice of Raw
	Value          []byte // nil when the value is null (a tombstone); a sub-slice of Raw
}

// xerialMagic starts xerial-framed snappy (snappy-java's stream format).
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

// RecordReader decodes batches, keeping its buffers and decoders for reuse.
// Not safe for concurrent use.
type RecordReader struct {
	max  int
	buf  []byte
	recs []Record
	zstd *zstd.Decoder
	lz   *lz4.Reader
	gz   *gzip.Reader
	src  bytes.Reader
}

// NewRecordReader returns a reader that refuses records sections that
// decompress to more than maxBytes (ErrCorruptMessage).
func NewRecordReader(maxBytes int) *RecordReader { return &RecordReader{max: maxBytes} }

// Records returns the records of batch (header and records, as stored),
// decompressed as its attributes say. The slices stay valid until the next
// call. It checks the count against the header and every record's framing,
// not the CRC.
func (r *RecordReader) Records(batch []byte) ([]Record, error) {
	h, err := ParseBatchHeader(batch)
	if err != nil {
		return nil, err
	}
	if h.Size() > int64(len(batch)) || h.Size() < BatchHeaderSize {
		return nil, errTruncated
	}
	if h.NumRecords < 0 {
		return nil, fmt.Errorf("%w: %d records", ErrCorruptMessage, h.NumRecords)
	}
	body := batch[BatchHeaderSize:h.Size()]
	if c := h.Compression(); c != 0 {
		if body, err = r.decompress(c, body); err != nil {
			return nil, err
		}
	}
	r.recs = r.recs[:0]
	p := 0
	for i := int32(0); i < h.NumRecords; i++ {
		rec, n, err := parseRecord(body[p:])
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		r.recs = append(r.recs, rec)
		p += n
	}
	if p != len(body) {
		return nil, fmt.Errorf("%w: %d bytes after the last record", ErrCorruptMessage, len(body)-p)
	}
	return r.recs, nil
}

var errRecord = fmt.Errorf("%w: malformed record", ErrCorruptMessage)

// parseRecord decodes the record at the start of b and its framed size.
func parseRecord(b []byte) (Record, int, error) {
	length, q := readVarint(b, 0)
	if q < 0 || length <= 0 || length > int64(len(b)-q) {
		return Record{}, 0, errRecord
	}
	end := q + int(length)
	rec := b[:end]
	q++ // attributes
	ts, q := readVarint(rec, q)
	if q < 0 {
		return Record{}, 0, errRecord
	}
	od, q := readVarint(rec, q)
	if q < 0 || od < 0 || od > 1<<31-1 {
		return Record{}, 0, errRecord
	}
	r := Record{Raw: rec, OffsetDelta: int32(od), TimestampDelta: ts}
	for _, f := range []*[]byte{&r.Key, &r.Value} {
		n, nq := readVarint(rec, q)
		if nq < 0 || n < -1 || n > int64(end-nq) {
			return Record{}, 0, errRecord
		}
		q = nq
		if n >= 0 {
			*f = rec[q : q+int(n) : q+int(n)]
			q += int(n)
		}
	}
	hc, q := readVarint(rec, q)
	if q < 0 || hc < 0 || hc > int64(end-q) {
		return Record{}, 0, errRecord
	}
	for i := int64(0); i < hc; i++ {
		if q = skipField(rec, q, false); q < 0 {
			return Record{}, 0, errRecord
		}
		if q = skipField(rec, q, true); q < 0 {
			return Record{}, 0, errRecord
		}
	}
	if q != end {
		return Record{}, 0, errRecord
	}
	return r, end, nil
}

func (r *RecordReader) tooLarge() error {
	return fmt.Errorf("%w: records decompress to more than %d bytes", ErrCorruptMessage, r.max)
}

// readAllBounded reads src into r.buf, at most r.max bytes.
func (r *RecordReader) readAllBounded(src io.Reader) ([]byte, error) {
	r.buf = r.buf[:0]
	var chunk [32 << 10]byte
	for {
		n, err := src.Read(chunk[:])
		r.buf = append(r.buf, chunk[:n]...)
		if len(r.buf) > r.max {
			return nil, r.tooLarge()
		}
		if err == io.EOF {
			return r.buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorruptMessage, err)
		}
	}
}

func (r *RecordReader) decompress(codec int8, in []byte) ([]byte, error) {
	switch codec {
	case 1:
		r.src.Reset(in)
		var err error
		if r.gz == nil {
			r.gz, err = gzip.NewReader(&r.src)
		} else {
			err = r.gz.Reset(&r.src)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrCorruptMessage, err)
		}
		return r.readAllBounded(r.gz)
	case 2:
		if bytes.HasPrefix(in, xerialMagic) {
			return r.unxerial(in)
		}
		return r.unsnappy(r.buf[:0], in)
	case 3:
		r.src.Reset(in)
		if r.lz == nil {
			r.lz = lz4.NewReader(&r.src)
		} else {
			r.lz.Reset(&r.src)
		}
		return r.readAllBounded(r.lz)
	case 4:
		if r.zstd == nil {
			d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(r.max)+1))
			if err != nil {
				return nil, fmt.Errorf("zstd: %w", err)
			}
			r.zstd = d
		}
		out, err := r.zstd.DecodeAll(in, r.buf[:0])
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrCorruptMessage, err)
		}
		if len(out) > r.max {
			return nil, r.tooLarge()
		}
		r.buf = out
		return out, nil
	}
	return nil, fmt.Errorf("%w: unknown compression codec %d", ErrCorruptMessage, codec)
}

// unsnappy appends the decoded snappy block in to dst.
func (r *RecordReader) unsnappy(dst, in []byte) ([]byte, error) {
	n, err := s2.DecodedLen(in)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %v", ErrCorruptMessage, err)
	}
	if len(dst)+n > r.max {
		return nil, r.tooLarge()
	}
	out := append(dst, make([]byte, n)...)
	if _, err := s2.Decode(out[len(dst):], in); err != nil {
		return nil, fmt.Errorf("%w: snappy: %v", ErrCorruptMessage, err)
	}
	r.buf = out
	return out, nil
}

// unxerial decodes xerial framing: a 16-byte header, then chunks of a
// big-endian length and a snappy block.
func (r *RecordReader) unxerial(in []byte) ([]byte, error) {
	if len(in) < xerialHeaderSize {
		return nil, fmt.Errorf("%w: short xerial snappy header", ErrCorruptMessage)
	}
	in = in[xerialHeaderSize:]
	out := r.buf[:0]
	for len(in) > 0 {
		if len(in) < 4 {
			return nil, fmt.Errorf("%w: torn xerial snappy chunk", ErrCorruptMessage)
		}
		n := int(binary.BigEndian.Uint32(in))
		in = in[4:]
		if n < 0 || n > len(in) {
			return nil, fmt.Errorf("%w: xerial snappy chunk overruns the batch", ErrCorruptMessage)
		}
		var err error
		if out, err = r.unsnappy(out, in[:n]); err != nil {
			return nil, err
		}
		in = in[n:]
	}
	return out, nil
}

// RecordWriter builds batches, keeping its buffers and encoders for reuse.
// Not safe for concurrent use.
type RecordWriter struct {
	raw  bytes.Buffer
	comp bytes.Buffer
	zstd *zstd.Encoder
	gz   *gzip.Writer
	lz   *lz4.Writer
}

// NewRecordWriter returns a RecordWriter.
func NewRecordWriter() *RecordWriter { return &RecordWriter{} }

// Rebuild appends to dst a batch with orig's header (base offset, leader
// epoch, attributes, last offset delta, timestamps, producer fields) and
// the records recs, compressed with orig's codec (snappy in orig's
// framing); count, length and CRC are recomputed. With no records it is an
// empty batch (codec none).
func (w *RecordWriter) Rebuild(dst, orig []byte, recs []Record) ([]byte, error) {
	h, err := ParseBatchHeader(orig)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return w.Empty(dst, h), nil
	}
	w.raw.Reset()
	for _, r := range recs {
		w.raw.Write(r.Raw)
	}
	body := w.raw.Bytes()
	if c := h.Compression(); c != 0 {
		xerial := c == 2 && h.Size() >= BatchHeaderSize+int64(len(xerialMagic)) &&
			bytes.HasPrefix(orig[BatchHeaderSize:], xerialMagic)
		if body, err = w.compress(c, body, orig, xerial); err != nil {
			return nil, err
		}
	}
	start := len(dst)
	dst = append(dst, orig[:BatchHeaderSize]...)
	dst = append(dst, body...)
	b := dst[start:]
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-batchLogOverhead))
	b[offMagic] = 2
	binary.BigEndian.PutUint32(b[offNumRecords:], uint32(len(recs)))
	binary.BigEndian.PutUint32(b[offCRC:], batchCRC(b))
	return dst, nil
}

func (w *RecordWriter) compress(codec int8, in, orig []byte, xerial bool) ([]byte, error) {
	w.comp.Reset()
	switch codec {
	case 1:
		if w.gz == nil {
			w.gz = gzip.NewWriter(&w.comp)
		} else {
			w.gz.Reset(&w.comp)
		}
		if _, err := w.gz.Write(in); err != nil {
			return nil, err
		}
		if err := w.gz.Close(); err != nil {
			return nil, err
		}
	case 2:
		if !xerial {
			return s2.EncodeSnappy(nil, in), nil
		}
		// Keep the original's 16-byte header (magic, version, compatible).
		w.comp.Write(orig[BatchHeaderSize : BatchHeaderSize+xerialHeaderSize])
		const chunk = 32 << 10
		for len(in) > 0 {
			n := min(len(in), chunk)
			blk := s2.EncodeSnappy(nil, in[:n])
			var l [4]byte
			binary.BigEndian.PutUint32(l[:], uint32(len(blk)))
			w.comp.Write(l[:])
			w.comp.Write(blk)
			in = in[n:]
		}
	case 3:
		if w.lz == nil {
			w.lz = lz4.NewWriter(&w.comp)
		} else {
			w.lz.Reset(&w.comp)
		}
		if _, err := w.lz.Write(in); err != nil {
			return nil, err
		}
		if err := w.lz.Close(); err != nil {
			return nil, err
		}
	case 4:
		if w.zstd == nil {
			e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
			if err != nil {
				return nil, err
			}
			w.zstd = e
		}
		return w.zstd.EncodeAll(in, nil), nil
	default:
		return nil, fmt.Errorf("%w: unknown compression codec %d", ErrCorruptMessage, codec)
	}
	return w.comp.Bytes(), nil
}

// Empty appends to dst an empty batch (header only, codec none) with h's
// base offset, last offset delta, leader epoch, timestamps, producer fields
// and timestamp type.
func (w *RecordWriter) Empty(dst []byte, h BatchHeader) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, BatchHeaderSize)...)
	b := dst[start:]
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(h.BaseOffset))
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(BatchHeaderSize-batchLogOverhead))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[offMagic] = 2
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(h.Attributes&attrTimestampType))
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	binary.BigEndian.PutUint64(b[offFirstTimestamp:], uint64(h.FirstTimestamp))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(h.MaxTimestamp))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(h.ProducerID))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(h.ProducerEpoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(h.BaseSequence))
	binary.BigEndian.PutUint32(b[offNumRecords:], 0)
	binary.BigEndian.PutUint32(b[offCRC:], batchCRC(b))
	return dst
}

// s2EncodeSnappy is a plain snappy block (for tests of the xerial framing).
func s2EncodeSnappy(b []byte) []byte { return s2.EncodeSnappy(nil, b) }
