// Package harness runs real Troupe broker processes (and, for cluster
// tests, a real ZooKeeper) for end-to-end tests, and gives those tests
// what they need to drive them: Kafka clients, a raw wire connection for
// malformed input, and a polling helper.
//
// # Processes
//
// Binary builds bin/troupe-harness once per test binary. StartBroker runs
// `troupe serve` on a free 127.0.0.1 port with its own data directory
// (t.TempDir), its output appended to a log file, and returns once a Kafka
// Metadata request succeeds. A Broker can be killed (SIGKILL), stopped
// (SIGTERM; the exit code must be 0), paused and resumed (SIGSTOP /
// SIGCONT) and started again with the same id, port and data directory.
// Everything still running is killed at t.Cleanup, and when the test
// failed the tail of each broker's log is printed.
//
// StartCluster starts a ZooKeeper (internal/zktest) and N brokers joined
// to it with --zookeeper; it waits until every broker sees all the others.
//
// # Synchronization
//
// Tests never sleep to synchronize: Eventually polls a condition until it
// holds or a deadline passes, and reports the condition's last error.
//
// # Concurrency
//
// Broker and Cluster methods may be called from any goroutine, but the
// methods that fail the test (those taking no error return) must run on
// the test's goroutine, as testing.T requires for FailNow.
package harness
