package storage

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package that a caller may act on
// wraps exactly one of them; test with errors.Is. The gateway maps them to Kafka
// error codes (CORRUPT_MESSAGE, INVALID_RECORD, MESSAGE_TOO_LARGE,
// OFFSET_OUT_OF_RANGE, KAFKA_STORAGE_ERROR).
var (
	// ErrCorruptMessage: a batch whose CRC does not match, whose length field
	// disagrees with the bytes supplied, or which is truncated or garbled.
	ErrCorruptMessage = errors.New("storage: corrupt message")
	// ErrInvalidRecord: a well-formed batch that breaks a rule (magic other than 2,
	// record count not lastOffsetDelta+1, empty batch, bad inner record framing,
	// unknown compression codec, a control batch from a client).
	ErrInvalidRecord = errors.New("storage: invalid record")
	// ErrMessageTooLarge: a batch larger than max.message.bytes, or one append
	// larger than a segment.
	ErrMessageTooLarge = errors.New("storage: message too large")
	// ErrOffsetOutOfRange: a read or a log-start move outside [logStart, logEnd].
	ErrOffsetOutOfRange = errors.New("storage: offset out of range")
	// ErrOffsetMismatch: a follower append whose first batch does not start at the
	// log end offset, or whose batches do not have increasing offsets.
	ErrOffsetMismatch = errors.New("storage: offset mismatch")
	// ErrStorage wraps an IO error (KAFKA_STORAGE_ERROR). After a failed write that
	// could not be rolled back the log refuses further writes with ErrStorage until
	// it is reopened; reads keep working.
	ErrStorage = errors.New("storage: storage error")
	// ErrClosed: the log was closed or deleted.
	ErrClosed = errors.New("storage: log closed")
	// ErrCorruptIndex marks an index file that failed a sanity check. Open and the
	// read path rebuild such an index from its segment; callers normally never see it.
	ErrCorruptIndex = errors.New("storage: corrupt index")
)

// CorruptionError describes corrupt bytes found in a segment: which file, the
// byte position and the offset where the damage starts. It wraps ErrCorruptMessage
// (or ErrCorruptIndex) plus the detailed cause, so errors.Is works on both.
type CorruptionError struct {
	Path     string // segment or index file
	Position int64  // byte position in Path
	Offset   int64  // offset at which the damage starts (-1 if unknown)
	Kind     error  // ErrCorruptMessage or ErrCorruptIndex
	Reason   error  // what exactly is wrong
}

// Error describes the damage.
func (e *CorruptionError) Error() string {
	return fmt.Sprintf("%v: %s at position %d (offset %d): %v", e.Kind, e.Path, e.Position, e.Offset, e.Reason)
}

// Unwrap returns the kind sentinel and the reason.
func (e *CorruptionError) Unwrap() []error { return []error{e.Kind, e.Reason} }

// storageErr wraps an IO error as ErrStorage with context.
func storageErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %s: %w", ErrStorage, op, err)
}
