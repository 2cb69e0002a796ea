// Package cluster is Troupe's coordination layer: the znode interface (Conn)
// with its two implementations, Kafka's ZooKeeper layout on top of it
// (Store), broker registration, controller election with epoch fencing, and
// replica placement (pure functions).
//
// # Implementations of Conn
//
//   - DialZooKeeper: a real ZooKeeper ensemble through go-zookeeper/zk,
//     with chroot support ("h:p,h:p/chroot"), go-zookeeper's log routed to
//     zerolog, and session events that say when a session expired (the
//     library silently starts a new session; ephemerals must be re-created
//     by their owners — Registration does it for /brokers/ids/<id>).
//   - NewLocalTree: an in-process tree with the same semantics, persisted
//     to a directory in embedded mode (single broker, no ZooKeeper) and held
//     in memory for unit tests. Its sessions can be expired, disconnected
//     and reconnected to simulate a server.
//
// A conformance suite runs the same script against both.
//
// # ZooKeeper layout
//
// The layout and JSON are Apache Kafka's (ZkData.scala, Kafka 2.8–3.x), so
// zkCli.sh and Kafka operators' habits carry over. Fields Troupe adds are
// marked (troupe). "E" = ephemeral, "S" = sequential, others persistent.
//
//	/brokers/ids/<id>                    E  broker registration
//	    {"version":5,"host":"h","port":9092,
//	     "endpoints":["PLAINTEXT://h:9092"],
//	     "listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},
//	     "jmx_port":-1,"timestamp":"<ms>","rack":"r1","features":{},
//	     "actor_address":"h:8090",                    (troupe: actor_address,
//	     "directory_id":"<22-char base64url uuid>"}    directory_id)
//	/brokers/topics/<t>                     replica assignment
//	    {"version":3,"topic_id":"<22-char base64url uuid>",
//	     "partitions":{"0":[1,2,3],"1":[2,3,1]},
//	     "adding_replicas":{},"removing_replicas":{}}
//	/brokers/topics/<t>/partitions/<p>/state   leader and ISR
//	    {"controller_epoch":7,"leader":1,"version":1,"leader_epoch":4,"isr":[1,2],
//	     "leader_broker_epoch":4294967310}             (troupe: leader_broker_epoch)
//	/brokers/seqid                          (created, unused)
//	/controller                          E  {"version":2,"brokerid":1,"timestamp":"<ms>","kraftControllerEpoch":-1}
//	/controller_epoch                       "7"  (decimal text)
//	/config/topics/<t>                      {"version":1,"config":{"retention.ms":"1000"}}
//	/config/changes/config_change_<seq>  S  {"version":2,"entity_path":"topics/<t>"}
//	/admin/delete_topics/<t>                (empty) topic marked for deletion
//	/admin/reassign_partitions              {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}
//	/admin/preferred_replica_election       {"version":1,"partitions":[{"topic":"t","partition":0}]}
//	/isr_change_notification/isr_change_<seq>  S  {"version":1,"partitions":[{"topic":"t","partition":0}]}
//	/latest_producer_id_block               {"version":1,"broker":1,"block_start":"0","block_end":"999"}
//	/cluster/id                             {"version":"1","id":"<22-char base64url uuid>"}
//
// A broker's epoch (KIP-380) is the czxid of its /brokers/ids/<id> node:
// BrokerInfo.Epoch and Registration.BrokerEpoch. A broker that restarts fast
// may reappear in /brokers/ids before the controller's watch fires, so the
// controller detects bounces by comparing epochs, not by presence alone.
//
// Sequence suffixes are ZooKeeper's: %010d of the number of children ever
// created under the parent.
// /latest_producer_id_block may exist empty (EnsureLayout creates it, as
// Kafka does); empty means no block was handed out yet. Producer id blocks
// are [block_start, block_end], end inclusive.
//
// # Fencing
//
// Only the controller writes partition states, and every such write is
// Multi(CheckVersion(/controller_epoch, v), SetData(state, expectedVersion)),
// where v is the zkVersion of /controller_epoch that the writer's own
// election produced. An election is itself one Multi: create the ephemeral
// /controller and SetData(/controller_epoch, epoch+1, versionRead). So:
//
//  1. Every successful election bumps /controller_epoch's zkVersion, and two
//     elections cannot both succeed from the same read (the second one's
//     SetData carries a stale version), nor while /controller exists (the
//     create fails).
//  2. After controller A (epoch zkVersion v) is replaced by B, the node's
//     zkVersion is > v and stays so; ZooKeeper applies a Multi atomically
//     and in one total order, so any later Multi of A fails at its check,
//     before its SetData, whatever A believes (paused by SIGSTOP, cut off,
//     its session expired but the news not yet delivered).
//  3. The check and the write are in the same transaction, so there is no
//     window between "still controller?" and "write".
//
// The same fence guards topic deletion (DeleteTopicZNodes), state creation
// (CreatePartitionStates) and reassignment (UpdateTopicAssignment). A fenced
// write returns ErrControllerMoved; a stale partition state (another write
// since the caller read it) returns ErrBadVersion, which the two callers
// treat differently: the first resigns, the second re-reads. Commands sent
// to brokers carry the controller epoch, and brokers ignore older epochs,
// which fences a stale controller's remoting messages the same way.
//
// # Watches and actors
//
// ZooKeeper watches are one-shot; here they are channels that receive exactly
// one WatchEvent and close. Session changes are a subscription
// (Conn.SessionEvents) that queues without dropping. The rule for every
// consumer: the goroutine that receives an event only turns it into a
// message to the owning actor's mailbox; the actor re-reads (through an IO
// goroutine), re-watches, and changes its state. No callback or watch
// receiver changes state itself. Store methods block on ZooKeeper and are
// never called from Receive.
//
// # Concurrency
//
// Conn implementations and Store are safe for concurrent use. Registration
// runs one goroutine that owns its state. Placement functions are pure.
package cluster
