package cluster_test

import (
	"fmt"

	"github.com/rs/zerolog"
	"github.com/troupe-mq/troupe/cluster"
)

// Embedded mode: one broker, metadata in a LocalTree ("" keeps it in memory;
// `troupe serve` passes a directory under --data-dir).
func Example_embedded() {
	tree, err := cluster.NewLocalTree("", zerolog.Nop())
	if err != nil {
		panic(err)
	}
	defer tree.Close()
	store := cluster.NewStore(tree, zerolog.Nop())
	if err := store.EnsureLayout(); err != nil {
		panic(err)
	}
	reg, err := store.RegisterBroker(cluster.BrokerInfo{ID: 1, Host: "127.0.0.1", Port: 9092}, cluster.RegistrationOptions{})
	if err != nil {
		panic(err)
	}
	defer reg.Close()
	epoch, epochZkVersion, err := store.TryBecomeController(1)
	if err != nil {
		panic(err)
	}

	assignment, err := cluster.AssignReplicas([]cluster.BrokerMeta{{ID: 1}}, 3, 1, -1, -1)
	if err != nil {
		panic(err)
	}
	if _, err := store.CreateTopic("orders", assignment, map[string]string{"retention.ms": "604800000"}); err != nil {
		panic(err)
	}
	states := map[int32]cluster.LeaderAndIsr{}
	for p, replicas := range assignment {
		states[p] = cluster.LeaderAndIsr{Leader: replicas[0], ISR: replicas}
	}
	if _, err := store.CreatePartitionStates(epoch, epochZkVersion, "orders", states); err != nil {
		panic(err)
	}
	topic, _ := store.Topic("orders")
	state, _, _ := store.PartitionState("orders", 0)
	fmt.Println(topic.NumPartitions(), "partitions; partition 0 leader", state.Leader, "controller epoch", state.ControllerEpoch)
	// Output: 3 partitions; partition 0 leader 1 controller epoch 1
}

// The watch pattern: the goroutine that receives a watch event only turns it
// into a message for the owning actor (here a plain channel stands in for
// the mailbox); the actor re-reads and re-watches.
func ExampleStore_BrokerIDsW() {
	tree, _ := cluster.NewLocalTree("", zerolog.Nop())
	defer tree.Close()
	store := cluster.NewStore(tree, zerolog.Nop())
	_ = store.EnsureLayout()

	type brokersChanged struct{} // the actor's message
	mailbox := make(chan any, 1)

	ids, watch, _ := store.BrokerIDsW()
	fmt.Println("brokers:", ids)
	go func() {
		<-watch // one event, then the channel closes
		mailbox <- brokersChanged{}
	}()

	other := tree.NewSession() // another broker joins
	_, _ = cluster.NewStore(other, zerolog.Nop()).RegisterBroker(cluster.BrokerInfo{ID: 2, Host: "h", Port: 9092}, cluster.RegistrationOptions{})

	<-mailbox // the actor handles brokersChanged: re-read and re-watch
	ids, _, _ = store.BrokerIDsW()
	fmt.Println("brokers:", ids)
	// Output:
	// brokers: []
	// brokers: [2]
}
