// Package storage is Troupe's partition log: one Log per partition replica,
// a directory of segments holding Kafka v2 record batches exactly as clients
// sent them (after the leader assigned offsets and its epoch), so the bytes a
// fetch returns are the bytes on disk.
//
// # Concurrency contract
//
// A Log is not safe for concurrent use; the owning partition actor
// serializes access. Regions returned by Read are immutable views that may be
// read concurrently from any goroutine (with sendfile through OSFile): appends
// only add bytes after them, and deleted segment files stay open, renamed
// *.deleted, for Config.FileDeleteDelay (Kafka's file.delete.delay.ms) or
// until the Log closes. The function SyncFunc returns may run on another
// goroutine. FS implementations are safe for concurrent use.
//
// # Directory layout
//
//	<data>/<topic>-<partition>/
//	    00000000000000000000.log        segment: batches with offsets [0, 1234)
//	    00000000000000000000.index      sparse offset index of that segment
//	    00000000000000000000.timeindex  sparse time index of that segment
//	    00000000000000001234.log        the active segment (the last one)
//	    00000000000000001234.index
//	    00000000000000001234.timeindex
//	    partition-checkpoint            recovery point, high watermark, log start
//	    leader-epoch-checkpoint         leader epoch cache (Kafka's format)
//	    *.deleted                       deleted segments waiting for readers
//	    *.tmp                           checkpoint being written
//
// A segment is named by its base offset, zero-padded to 20 digits. Offsets are
// contiguous: each batch starts at the previous batch's last offset + 1, each
// segment at the previous segment's end.
//
// # Segment file (.log): a sequence of Kafka v2 record batches
//
//	+--------------------+--------------------+-----+--------------------+
//	| batch (base B)     | batch (base B+n1)  | ... | batch              |
//	+--------------------+--------------------+-----+--------------------+
//
// Each batch (big-endian integers; the CRC-32C covers attributes..end):
//
//	 0                   8         12        16 17       21    23
//	+-------------------+---------+---------+--+--------+-----+
//	| baseOffset int64  | length  | leader  |m | crc    |attr |
//	|                   | int32   | epoch   |a | uint32 |int16|
//	|                   | (size-12)| int32  |g |        |     |
//	+-------------------+---------+---------+--+--------+-----+
//	 23        27                 35                 43
//	+---------+------------------+------------------+
//	| lastOff | firstTimestamp   | maxTimestamp     |
//	| Delta   | int64            | int64            |
//	+---------+------------------+------------------+
//	 43                 51     53        57        61
//	+------------------+------+---------+---------+----------------------+
//	| producerId int64 |prodEp| baseSeq | count   | records (maybe       |
//	|                  |int16 | int32   | int32   | compressed) ...      |
//	+------------------+------+---------+---------+----------------------+
//	                   |<---------------- CRC-32C range ---- from 21 ---->|
//
// baseOffset and leader epoch are outside the CRC: the leader rewrites them
// in place. Uncompressed records are varint-framed:
//
//	length varint | attributes int8 | timestampDelta varint | offsetDelta varint |
//	keyLen varint | key | valueLen varint | value | headerCount varint | headers
//
// # Offset index (.index): 8-byte entries
//
//	+---------------------------+---------------------------+
//	| relative offset uint32    | position uint32           |  entry 0
//	+---------------------------+---------------------------+
//	| ...                       | ...                       |
//
// An entry is added for the first batch after more than
// index.interval.bytes since the previous entry: "the batch with base offset
// base+rel starts at byte position". Both fields strictly increase, so a
// lookup binary-searches for the floor entry (by offset, or by position when
// cutting a read at maxBytes) and walks batch headers from there.
//
// # Time index (.timeindex): 12-byte entries
//
//	+-------------------------------------------+---------------------------+
//	| timestamp int64                           | relative offset uint32    |
//	+-------------------------------------------+---------------------------+
//
// At each offset-index point, if the segment's largest batch maxTimestamp
// grew, an entry records it with the base offset of the batch that holds it;
// sealing a segment appends one more, so the last entry of a sealed segment
// is its largest timestamp. Timestamps strictly increase. To find the first
// record with timestamp >= T: pick the first segment whose largest timestamp
// is >= T, take the last entry with timestamp < T (every batch before its
// batch is older than T), walk batch headers to the first batch whose
// maxTimestamp >= T, then walk its records.
//
// Index files are append-only and never preallocated. Lookups read them
// through a read-only mmap when the FS offers one (the OS FS does), else with
// ReadAt, so an idle partition keeps no index in the Go heap (about 3 KiB of
// heap per open partition in all). The active segment's new entries are
// buffered (at most 64) and written when the buffer fills, at roll, and before
// every fsync. Every entry a lookup uses is checked against the batch header it
// points at; a mismatch rebuilds the index.
//
// # Resources
//
// Batch headers are read by the owner through a read-only mapping of the
// segment file (Regions always read the file itself, so sendfile works). The
// active segment is mapped at segment.bytes so it grows into the mapping; of the
// sealed segments, only the two most recently read per log stay mapped. All
// mappings share a process-wide budget of half of vm.max_map_count (the Go
// runtime needs the rest); past it, reads fall back to pread(2). A memory fault
// under a mapping (an I/O error) is turned into ErrStorage, never a crash. An
// open partition holds three file descriptors (the active segment's log and
// index files) plus one per sealed segment.
//
// # Checkpoints
//
// partition-checkpoint is text with a CRC-32C line:
//
//	troupe-partition-checkpoint 1
//	recovery-point 1234
//	high-watermark 1200
//	log-start-offset 0
//	active-index 1000 12 9f8e7d6c 9 01234567
//	crc32c 1a2b3c4d
//
// active-index records, as of the last flush, the active segment's base
// offset and, for its offset and time index, the entry count and the CRC-32C
// of all entries.
//
// leader-epoch-checkpoint is Kafka's: "0", the entry count, then
// "epoch startOffset" per line. Both are replaced atomically: write
// name.tmp, fsync it, rename over name, fsync the directory. The epoch file is
// written before the partition file, so the recovery point never covers
// offsets whose epochs are unrecorded.
//
// # Durability and recovery
//
// Append writes to the page cache and never fsyncs. Flush (policy: Kafka's
// flush.messages and flush.ms via MaybeFlush) or SyncFunc+MarkFlushed (group
// commit for "fsync before ack") make data durable and advance the recovery
// point. Open trusts segments below the recovery point, and the segment holding
// it only if it is the last one, its index files are exactly those recorded by
// active-index, and the batches after the last index entry pass their CRCs and
// end at the recovery point (a clean shutdown); otherwise it scans from that
// segment on, verifying each batch's frame, CRC-32C and offset continuity,
// rebuilds the indexes, relearns leader epochs from the batches, and cuts the
// log at the first torn or corrupt batch. A corrupt batch is never served.
// Damage below the recovery point (disk corruption after a successful fsync)
// is not looked for on open, as in Kafka; reads that meet an implausible
// header return a CorruptionError.
package storage
