// Package sim is Troupe's deterministic cluster simulator.
//
// One goroutine, one seeded random source, simulated time. A World runs N
// brokers — each an actors.Node: the same replica, replica host, fetcher
// and controller cores the actors run — against
//
//   - a simulated ZooKeeper (cluster.LocalTree, the conformance-tested
//     in-process tree, behind a Conn that injects faults): sessions that
//     expire when their broker is silent past the session timeout,
//     ephemeral nodes, versioned writes and multi, watches, and faults —
//     the reply of a committed write lost, connection loss, outage;
//   - a simulated network for remoting and replica fetches: delay,
//     per-connection order, drop, one-way and two-way cuts, and link
//     failure detection (a crashed peer resets its connections at once, a
//     cut one is noticed after a keepalive timeout);
//   - simulated disks (storage.MemFS): a process crash keeps the page cache,
//     a power loss keeps what was fsynced and a random prefix of each
//     file's unsynced appends (torn batches at segment ends);
//   - clients: idempotent producers with acks=all, plain producers with
//     acks=1, consumers reading to the high watermark;
//   - a nemesis that draws a fault schedule from the seed (nemesis.go).
//
// Every message between actors is an event: the simulator decides when it
// is delivered (and, across brokers, whether). Two messages between the
// same two actors keep their order, as a mailbox and a gRPC stream do;
// messages on different connections (remoting and a replica fetch) do not.
//
// After the faults stop the world heals, and the checker (checker.go)
// asserts Kafka's guarantees: every record acknowledged with acks=all (ISR
// at least min.insync.replicas, no unclean election) is in the final log;
// no two records share an offset; replicas are byte-identical below the
// high watermark; the high watermark a consumer sees never goes back; at
// most one leader accepts writes per leader epoch; no duplicates from
// idempotent producers; no broker held failed and no controller deposed
// on one link's word; deleted topics leave no znode, replica or directory;
// and liveness — every partition has a leader and a full ISR within a
// bounded simulated time after the faults stop.
//
// A failing run prints its seed, a one-line replay command and the trace.
// Seeds that found bugs are kept as regression cases (sim_test.go).
package sim
