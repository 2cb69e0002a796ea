package storage

// SetConfig applies a topic's changed configuration to an open log.
// Retention, flush policy, message size limits and the segment delete
// delay apply at once; segment sizing (segment.bytes, segment.ms, index
// sizes) applies from the next roll, as in Kafka.
//
// REQUIRES: the log's owner calls it (like every mutating method).
func (l *Log) SetConfig(cfg Config) {
	l.cfg = cfg.normalized()
	l.deleter.delay = l.cfg.FileDeleteDelay
}
