package storage

// SetConfig applies a topic's changed configuration to an open log.
// Retention, flush policy and message size limits apply at once; segment
// sizing (segment.bytes, segment.ms, index sizes) applies from the next
// roll, as in Kafka.
func (l *Log) SetConfig(cfg Config) {
	l.cfg = cfg.normalized()
}
