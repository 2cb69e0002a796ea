// Package e2e holds Troupe's end-to-end tests: real clients (franz-go and
// kcat, which is librdkafka) against real `troupe serve` processes started
// by internal/harness, plus in-process brokers where a test must reach
// inside (crashing one partition actor). They prove what issue 3 promises
// of a single broker: records round-trip byte for byte, reads start from
// an offset or a timestamp, every acknowledged record survives kill -9,
// SIGTERM and restarts, and bad input is refused without hurting anyone
// else.
//
// The package has no non-test code; this file only documents it.
package e2e
