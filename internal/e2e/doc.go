// Package e2e holds Troupe's end-to-end tests: real clients (franz-go and
// kcat, which is librdkafka) against real `troupe serve` processes started
// by internal/harness, plus in-process brokers where a test must reach
// inside (crashing one partition actor).
//
// Single broker (roundtrip, offsets, durability, crash, restart, bad
// input, compression, concurrency): records round-trip byte for byte,
// reads start from an offset or a timestamp, every acknowledged record
// survives kill -9, SIGTERM and restarts, and bad input is refused without
// hurting anyone else.
//
// Cluster (cluster_*): a real ZooKeeper and three broker processes. Leaders
// killed and restarted under an acks=all producer, the controller killed,
// a leader frozen past its session and fenced, followers lost and
// rejoining the ISR, two of three replicas down, ZooKeeper stopped,
// controlled shutdown and rolling restarts, duplicate broker ids, unclean
// election where allowed, topic changes under load. After each, every
// acknowledged record is read back exactly once and all replicas of a
// partition hold identical batches (read from their segment files).
//
// Rebalancing (cluster_reassign_test.go, cluster_balance_test.go,
// cluster_cli_test.go): reassignment and its cancel, ElectLeaders, a
// broker joining, decommissioned or lost for good, skewed load, a move
// interrupted by killing the controller, and `troupe cluster rebalance`.
//
// Measurements are benchmarks, never assertions: BenchmarkFailover (kill
// -9 of a leader's broker to the first acks=all write accepted by its
// successor), BenchmarkReplicatedProduce (RF 3 on three brokers against
// RF 1 on one, interleaved) and BenchmarkPartitionMove (1 GiB moved with
// and without a 50 MB/s throttle, and produce throughput during moves).
//
// The package has no non-test code; this file only documents it.
package e2e
