package storage

import (
	"math"
	"time"

	"github.com/rs/zerolog"
)

// Config holds the per-topic log settings, named after Kafka's topic configs.
type Config struct {
	// SegmentBytes (segment.bytes): roll to a new segment before an append
	// would make the active one larger. Default 1 GiB; at most 2 GiB-1 because
	// index positions are 32-bit.
	SegmentBytes int64
	// SegmentMs (segment.ms): roll when the active segment's first batch (its
	// max timestamp, or the segment's creation time if it has none) is older
	// than this. Default 7 days.
	SegmentMs int64
	// IndexIntervalBytes (index.interval.bytes): add an offset (and time)
	// index entry after at least this many bytes. Default 4096.
	IndexIntervalBytes int32
	// SegmentIndexBytes (segment.index.bytes): maximum size of an index file;
	// roll when either index is full. Default 10 MiB.
	SegmentIndexBytes int32
	// MaxMessageBytes (max.message.bytes): limit on one batch's total size.
	// Default 1048588.
	MaxMessageBytes int32
	// RetentionBytes (retention.bytes): delete old segments while the log is
	// larger. -1 (default) means unlimited.
	RetentionBytes int64
	// RetentionMs (retention.ms): delete segments whose newest timestamp is
	// older. Default 7 days; -1 means unlimited.
	RetentionMs int64
	// FlushMessages (flush.messages): MaybeFlush fsyncs when this many
	// messages are unflushed. Default math.MaxInt64 (leave it to the page
	// cache and to replication).
	FlushMessages int64
	// FlushMs (flush.ms): MaybeFlush fsyncs when the last flush is this old.
	// Default math.MaxInt64.
	FlushMs int64
	// FileDeleteDelay (file.delete.delay.ms): how long a deleted segment's
	// files stay open (renamed *.deleted) so Regions handed out before the
	// deletion stay readable. Default 60s.
	FileDeleteDelay time.Duration

	// CleanupPolicy (cleanup.policy): "delete" (the default: retention
	// applies), "compact" (the cleaner keeps the latest record per key;
	// retention does not apply) or "compact,delete" (both).
	CleanupPolicy string
	// DeleteRetentionMs (delete.retention.ms): how long the cleaner keeps
	// a tombstone (a null value), counted from its batch's max timestamp.
	// Default 1 day; 0 drops tombstones at the second cleaning that sees
	// them.
	DeleteRetentionMs int64
	// MinCompactionLagMs (min.compaction.lag.ms): a segment whose newest
	// record is younger is not cleaned yet. Default 0.
	MinCompactionLagMs int64
	// MaxCompactionLagMs (max.compaction.lag.ms): a log whose oldest dirty
	// record is older is cleaned whatever its dirty ratio. Default (0)
	// means never.
	MaxCompactionLagMs int64
	// MinCleanableDirtyRatio (min.cleanable.dirty.ratio): the share of
	// the cleanable bytes not yet cleaned above which the log is cleaned.
	// Default 0.5.
	MinCleanableDirtyRatio float64
}

// Compacts reports whether the cleaner works on the log.
func (c Config) Compacts() bool {
	return c.CleanupPolicy == "compact" || c.CleanupPolicy == "compact,delete" || c.CleanupPolicy == "delete,compact"
}

// Deletes reports whether retention deletes old segments.
func (c Config) Deletes() bool { return c.CleanupPolicy != "compact" }

const (
	day              = 24 * 60 * 60 * 1000
	maxSegmentBytes  = math.MaxInt32
	minSegmentBytes  = BatchHeaderSize * 2
	offsetEntrySize  = 8
	timeEntrySize    = 12
	minIndexBytes    = 4 * timeEntrySize
	defaultDelay     = 60 * time.Second
	defaultIdxBytes  = 10 << 20
	defaultMaxMsg    = 1048588
	defaultIdxIntvl  = 4096
	defaultSegBytes  = 1 << 30
	defaultRetention = 7 * day
)

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       defaultSegBytes,
		SegmentMs:          7 * day,
		IndexIntervalBytes: defaultIdxIntvl,
		SegmentIndexBytes:  defaultIdxBytes,
		MaxMessageBytes:    defaultMaxMsg,
		RetentionBytes:     -1,
		RetentionMs:        defaultRetention,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,
		FileDeleteDelay:    defaultDelay,

		CleanupPolicy:          "delete",
		DeleteRetentionMs:      day,
		MinCleanableDirtyRatio: 0.5,
	}
}

// normalized fills zero fields with defaults and clamps out-of-range ones.
func (c Config) normalized() Config {
	d := DefaultConfig()
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	c.SegmentBytes = min(max(c.SegmentBytes, minSegmentBytes), maxSegmentBytes)
	if c.SegmentMs <= 0 {
		c.SegmentMs = d.SegmentMs
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = d.IndexIntervalBytes
	}
	if c.SegmentIndexBytes <= 0 {
		c.SegmentIndexBytes = d.SegmentIndexBytes
	}
	c.SegmentIndexBytes = max(c.SegmentIndexBytes, minIndexBytes)
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = d.MaxMessageBytes
	}
	if c.RetentionBytes == 0 {
		c.RetentionBytes = d.RetentionBytes
	}
	if c.RetentionMs == 0 {
		c.RetentionMs = d.RetentionMs
	}
	if c.FlushMessages <= 0 {
		c.FlushMessages = d.FlushMessages
	}
	if c.FlushMs <= 0 {
		c.FlushMs = d.FlushMs
	}
	if c.FileDeleteDelay < 0 {
		c.FileDeleteDelay = 0
	}
	if c.CleanupPolicy == "" {
		c.CleanupPolicy = d.CleanupPolicy
	}
	if c.MaxCompactionLagMs <= 0 {
		c.MaxCompactionLagMs = math.MaxInt64
	}
	c.DeleteRetentionMs = max(c.DeleteRetentionMs, 0)
	c.MinCompactionLagMs = max(c.MinCompactionLagMs, 0)
	if !(c.MinCleanableDirtyRatio >= 0 && c.MinCleanableDirtyRatio <= 1) { // also NaN
		c.MinCleanableDirtyRatio = d.MinCleanableDirtyRatio
	}
	return c
}

// Options are the log's collaborators.
type Options struct {
	// FS is the filesystem; nil means OSFS().
	FS FS
	// Logger receives recovery reports and warnings; the zero value discards.
	Logger zerolog.Logger
	// Clock is the wall clock for segment.ms, retention.ms and flush.ms;
	// nil means time.Now.
	Clock func() time.Time
}
