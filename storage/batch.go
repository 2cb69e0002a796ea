package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Kafka v2 record batch header layout (all integers big-endian). See doc.go.
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57

	// BatchHeaderSize is the size of a v2 record batch header; records follow it.
	BatchHeaderSize = 61
	// batchLogOverhead is the part of a batch not counted by its length field
	// (baseOffset and batchLength themselves).
	batchLogOverhead = 12
	// scanHeaderSize is what the read path needs of a header: base offset,
	// length, epoch, magic, CRC, attributes and last offset delta.
	scanHeaderSize = offFirstTimestamp

	// Attribute bits.
	attrCompressionMask = 0x07
	attrTimestampType   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20

	// NoTimestamp is Kafka's "no timestamp" value (-1).
	NoTimestamp int64 = -1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the decoded 61-byte header of a Kafka v2 record batch.
type BatchHeader struct {
	BaseOffset           int64
	BatchLength          int32 // bytes after the length field: total size - 12
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the batch's total size in bytes, header included.
func (h BatchHeader) Size() int64 { return int64(h.BatchLength) + batchLogOverhead }

// LastOffset is the offset of the batch's last record.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is LastOffset()+1.
func (h BatchHeader) NextOffset() int64 { return h.LastOffset() + 1 }

// Compression is the codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
func (h BatchHeader) Compression() int8 { return int8(h.Attributes & attrCompressionMask) }

// IsLogAppendTime reports whether the batch's timestamps are log-append time.
func (h BatchHeader) IsLogAppendTime() bool { return h.Attributes&attrTimestampType != 0 }

// IsTransactional reports the transactional attribute bit.
func (h BatchHeader) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// IsControl reports the control attribute bit (transaction markers).
func (h BatchHeader) IsControl() bool { return h.Attributes&attrControl != 0 }

// Errors for the header parser; they wrap ErrCorruptMessage.
var (
	errShortHeader = fmt.Errorf("%w: batch shorter than its 61-byte header", ErrCorruptMessage)
	errBadLength   = fmt.Errorf("%w: batch length field out of range", ErrCorruptMessage)
	errBadCRC      = fmt.Errorf("%w: CRC-32C mismatch", ErrCorruptMessage)
	errTruncated   = fmt.Errorf("%w: batch truncated: length field exceeds the bytes supplied", ErrCorruptMessage)
)

// ParseBatchHeader decodes the 61-byte v2 header at the start of b. It checks
// only that b holds a whole header; it does not check the CRC, the magic or the
// length field against len(b).
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) < BatchHeaderSize {
		return BatchHeader{}, errShortHeader
	}
	return BatchHeader{
		BaseOffset:           int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		BatchLength:          int32(binary.BigEndian.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  binary.BigEndian.Uint32(b[offCRC:]),
		Attributes:           int16(binary.BigEndian.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:       int64(binary.BigEndian.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(binary.BigEndian.Uint32(b[offNumRecords:])),
	}, nil
}

// scanHeader is the part of a header the read and recovery paths use.
type scanHeader struct {
	base    int64
	size    int64 // total size
	lastOff int64
	epoch   int32
	magic   int8
}

// parseScanHeader decodes the first scanHeaderSize bytes of a header.
// REQUIRES: len(b) >= scanHeaderSize.
func parseScanHeader(b []byte) scanHeader {
	base := int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
	return scanHeader{
		base:    base,
		size:    int64(int32(binary.BigEndian.Uint32(b[offBatchLength:]))) + batchLogOverhead,
		lastOff: base + int64(int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))),
		epoch:   int32(binary.BigEndian.Uint32(b[offLeaderEpoch:])),
		magic:   int8(b[offMagic]),
	}
}

// batchCRC computes the CRC-32C Kafka stores in a batch: over attributes..end.
// REQUIRES: len(b) >= BatchHeaderSize.
func batchCRC(b []byte) uint32 { return crc32.Checksum(b[offAttributes:], castagnoli) }

// frameBatch checks that b starts with a complete v2 batch frame and returns
// its total size. It checks magic, the length field and the CRC, nothing else:
// it is what recovery needs to decide whether bytes on disk form a batch.
func frameBatch(b []byte) (int, error) {
	if len(b) < BatchHeaderSize {
		return 0, errShortHeader
	}
	if m := int8(b[offMagic]); m != 2 {
		return 0, fmt.Errorf("%w: magic %d", ErrCorruptMessage, m)
	}
	length := int64(int32(binary.BigEndian.Uint32(b[offBatchLength:])))
	size := length + batchLogOverhead
	if size < BatchHeaderSize {
		return 0, errBadLength
	}
	if size > int64(len(b)) {
		return 0, errTruncated
	}
	if binary.BigEndian.Uint32(b[offCRC:]) != batchCRC(b[:size]) {
		return 0, errBadCRC
	}
	if delta := int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])); delta < 0 {
		return 0, fmt.Errorf("%w: negative last offset delta %d", ErrCorruptMessage, delta)
	}
	return int(size), nil
}

// plausibleCount reports whether a stored batch's record count fits its
// offset range: n == lastOffsetDelta+1 for a batch as produced, fewer
// (down to 0, an empty batch) once the cleaner removed records (Kafka keeps
// compacted batches' offset ranges).
func plausibleCount(h BatchHeader) bool {
	return h.NumRecords >= 0 && int64(h.NumRecords) <= int64(h.LastOffsetDelta)+1
}

// batchSummary is what validation learns about one batch.
type batchSummary struct {
	size         int
	numRecords   int32
	lastDelta    int32
	maxTimestamp int64
	epoch        int32
	base         int64
	control      bool
}

// validateBatch checks one client or follower batch at the start of b, as
// Kafka's LogValidator does for magic 2: framing, CRC, magic, record count
// against lastOffsetDelta, size limit, codec, and for uncompressed batches the
// framing of every inner record (lengths add up, offset deltas run 0..n-1).
// It never modifies b. It is allocation-free.
func validateBatch(b []byte, maxBytes int32) (batchSummary, error) {
	if len(b) < BatchHeaderSize {
		return batchSummary{}, errShortHeader
	}
	length := int64(int32(binary.BigEndian.Uint32(b[offBatchLength:])))
	size := length + batchLogOverhead
	if size < BatchHeaderSize {
		return batchSummary{}, errBadLength
	}
	if size > int64(len(b)) {
		return batchSummary{}, errTruncated
	}
	if m := int8(b[offMagic]); m != 2 {
		// Kafka answers a magic it cannot handle with INVALID_RECORD when the
		// frame is intact; we cannot check a CRC of an unknown format.
		return batchSummary{}, fmt.Errorf("%w: magic %d, only v2 batches are supported", ErrInvalidRecord, m)
	}
	if maxBytes > 0 && size > int64(maxBytes) {
		return batchSummary{}, fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", ErrMessageTooLarge, size, maxBytes)
	}
	batch := b[:size]
	if binary.BigEndian.Uint32(batch[offCRC:]) != batchCRC(batch) {
		return batchSummary{}, errBadCRC
	}
	attrs := int16(binary.BigEndian.Uint16(batch[offAttributes:]))
	lastDelta := int32(binary.BigEndian.Uint32(batch[offLastOffsetDelta:]))
	n := int32(binary.BigEndian.Uint32(batch[offNumRecords:]))
	if n <= 0 {
		return batchSummary{}, fmt.Errorf("%w: batch has %d records", ErrInvalidRecord, n)
	}
	if lastDelta != n-1 {
		return batchSummary{}, fmt.Errorf("%w: %d records but last offset delta %d", ErrInvalidRecord, n, lastDelta)
	}
	codec := attrs & attrCompressionMask
	if codec > 4 {
		return batchSummary{}, fmt.Errorf("%w: unknown compression codec %d", ErrInvalidRecord, codec)
	}
	if codec == 0 {
		if err := walkRecords(batch, n, true, nil); err != nil {
			return batchSummary{}, err
		}
	}
	return batchSummary{
		size:         int(size),
		numRecords:   n,
		lastDelta:    lastDelta,
		maxTimestamp: int64(binary.BigEndian.Uint64(batch[offMaxTimestamp:])),
		epoch:        int32(binary.BigEndian.Uint32(batch[offLeaderEpoch:])),
		base:         int64(binary.BigEndian.Uint64(batch[offBaseOffset:])),
		control:      attrs&attrControl != 0,
	}, nil
}

var errRecordFraming = fmt.Errorf("%w: inner record framing", ErrInvalidRecord)

// walkRecords checks the framing of the n records of an uncompressed batch
// and, if fn is not nil, calls it with each record's offset delta and
// timestamp delta. Returning false from fn stops the walk early. It decodes
// with positions rather than subslices and an inlined one-byte varint path:
// it runs for every record an Append accepts.
//
// strict (a produced batch) requires offset deltas 0..n-1; otherwise (a
// stored batch, maybe compacted) they must increase from 0 or more.
func walkRecords(batch []byte, n int32, strict bool, fn func(offsetDelta int32, tsDelta int64) bool) error {
	b := batch
	p := BatchHeaderSize
	prevDelta := int64(-1)
	for i := int32(0); i < n; i++ {
		recLen, q := readVarint(b, p)
		if q < 0 || recLen <= 0 || recLen > int64(len(b)-q) {
			return errRecordFraming
		}
		end := q + int(recLen)
		rec := b[:end]
		// attributes int8, timestampDelta varlong, offsetDelta varint,
		// key, value, headers.
		tsDelta, q := readVarint(rec, q+1)
		if q < 0 {
			return errRecordFraming
		}
		offDelta, q := readVarint(rec, q)
		if q < 0 || (strict && offDelta != int64(i)) || (!strict && (offDelta <= prevDelta || offDelta > math.MaxInt32)) {
			return fmt.Errorf("%w: record %d has offset delta %d", ErrInvalidRecord, i, offDelta)
		}
		prevDelta = offDelta
		if q = skipField(rec, q, true); q < 0 { // key
			return errRecordFraming
		}
		if q = skipField(rec, q, true); q < 0 { // value
			return errRecordFraming
		}
		hc, q := readVarint(rec, q)
		if q < 0 || hc < 0 || hc > int64(end-q) {
			return errRecordFraming
		}
		for h := int64(0); h < hc; h++ {
			if q = skipField(rec, q, false); q < 0 { // header key
				return errRecordFraming
			}
			if q = skipField(rec, q, true); q < 0 { // header value
				return errRecordFraming
			}
		}
		if q != end {
			return errRecordFraming
		}
		p = end
		if fn != nil && !fn(int32(offDelta), tsDelta) {
			return nil
		}
	}
	if p != len(b) {
		return fmt.Errorf("%w: %d bytes after the last record", ErrInvalidRecord, len(b)-p)
	}
	return nil
}

// readVarint decodes the zigzag varint at b[p:], returning it and the
// position after it, or a negative position if it is truncated or overlong.
// The one-byte case (most record fields) is inlined.
func readVarint(b []byte, p int) (int64, int) {
	if uint(p) < uint(len(b)) {
		if c := b[p]; c < 0x80 {
			return int64(c>>1) ^ -int64(c&1), p + 1
		}
	}
	return readVarintSlow(b, p)
}

func readVarintSlow(b []byte, p int) (int64, int) {
	if p < 0 || p >= len(b) {
		return 0, -1
	}
	v, k := binary.Varint(b[p:])
	if k <= 0 {
		return 0, -1
	}
	return v, p + k
}

// skipField skips a varint-length-prefixed byte field at b[p:], returning
// the position after it or -1; a length of -1 (null) is allowed when
// nullable.
func skipField(b []byte, p int, nullable bool) int {
	l, q := readVarint(b, p)
	if q < 0 {
		return -1
	}
	if l == -1 && nullable {
		return q
	}
	if l < 0 || l > int64(len(b)-q) {
		return -1
	}
	return q + int(l)
}

// findRecordAtOrAfterTimestamp returns the offset and timestamp of the first
// record in batch whose timestamp is >= ts. For compressed batches (whose
// records we do not decode) and log-append-time batches it answers at batch
// granularity: the base offset and the batch's max timestamp.
func findRecordAtOrAfterTimestamp(batch []byte, ts int64) (int64, int64, bool) {
	h, err := ParseBatchHeader(batch)
	if err != nil || h.MaxTimestamp < ts {
		return -1, -1, false
	}
	if h.Compression() != 0 || h.IsLogAppendTime() {
		return h.BaseOffset, h.MaxTimestamp, true
	}
	off, rts := int64(-1), int64(-1)
	err = walkRecords(batch, h.NumRecords, false, func(od int32, tsd int64) bool {
		if t := h.FirstTimestamp + tsd; t >= ts {
			off, rts = h.BaseOffset+int64(od), t
			return false
		}
		return true
	})
	if err != nil || off < 0 {
		return h.BaseOffset, h.MaxTimestamp, true
	}
	return off, rts, true
}

// findMaxTimestampRecord returns the offset of the first record in batch that
// carries the batch's max timestamp (batch granularity for compressed and
// log-append-time batches: the base offset).
func findMaxTimestampRecord(batch []byte) int64 {
	h, err := ParseBatchHeader(batch)
	if err != nil {
		return -1
	}
	if h.Compression() != 0 || h.IsLogAppendTime() {
		return h.BaseOffset
	}
	off := h.BaseOffset
	_ = walkRecords(batch, h.NumRecords, false, func(od int32, tsd int64) bool {
		if h.FirstTimestamp+tsd == h.MaxTimestamp {
			off = h.BaseOffset + int64(od)
			return false
		}
		return true
	})
	return off
}
