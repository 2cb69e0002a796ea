package cluster

import (
	"fmt"
	"testing"

	"github.com/troupe-mq/troupe/internal/zktest"
)

// BenchmarkUpdatePartitionState measures one fenced partition-state write
// (Multi of an epoch check and a versioned set) — the unit of work of every
// leader election and ISR change — on each implementation.
func BenchmarkUpdatePartitionState(b *testing.B) {
	run := func(b *testing.B, conn Conn) {
		s := NewStore(conn, testLogger(b))
		if err := s.EnsureLayout(); err != nil {
			b.Fatal(err)
		}
		epoch, ezv, err := s.TryBecomeController(1)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.CreateTopic("bench", map[int32][]int32{0: {1}}, nil); err != nil {
			b.Fatal(err)
		}
		if _, err := s.CreatePartitionStates(epoch, ezv, "bench", map[int32]LeaderAndIsr{0: {Leader: 1, ISR: []int32{1}}}); err != nil {
			b.Fatal(err)
		}
		v := int32(0)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			v, err = s.UpdatePartitionState(epoch, ezv, "bench", 0, LeaderAndIsr{Leader: 1, LeaderEpoch: int32(i), ISR: []int32{1}}, v)
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("impl=local-memory", func(b *testing.B) {
		tree, err := NewLocalTree("", testLogger(b))
		if err != nil {
			b.Fatal(err)
		}
		defer tree.Close()
		run(b, tree)
	})
	b.Run("impl=local-disk", func(b *testing.B) {
		tree, err := NewLocalTree(b.TempDir(), testLogger(b))
		if err != nil {
			b.Fatal(err)
		}
		defer tree.Close()
		run(b, tree)
	})
	b.Run("impl=zookeeper", func(b *testing.B) {
		srv := zktest.Start(b)
		c, err := DialZooKeeper(srv.Addr()+"/bench", zkSessionTimeout, testLogger(b))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		run(b, c)
	})
}

// BenchmarkCreateTopicWithStates measures creating a topic and its partition
// states (what the controller does per CreateTopics) at several sizes.
func BenchmarkCreateTopicWithStates(b *testing.B) {
	srv := zktest.Start(b)
	for _, parts := range []int{1, 100} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			// A fresh chroot per invocation: the framework calls this
			// function again for every b.N it tries.
			c, err := DialZooKeeper(srv.Addr()+fmt.Sprintf("/bench-ct-%d-%d", parts, zkNamespace.Add(1)), zkSessionTimeout, testLogger(b))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			s := NewStore(c, testLogger(b))
			if err := s.EnsureLayout(); err != nil {
				b.Fatal(err)
			}
			epoch, ezv, err := s.TryBecomeController(1)
			if err != nil {
				b.Fatal(err)
			}
			brokers := []BrokerMeta{{ID: 1}, {ID: 2}, {ID: 3}}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				a, err := AssignReplicas(brokers, parts, 3, -1, -1)
				if err != nil {
					b.Fatal(err)
				}
				name := fmt.Sprintf("t%d", i)
				if _, err := s.CreateTopic(name, a, nil); err != nil {
					b.Fatal(err)
				}
				states := make(map[int32]LeaderAndIsr, parts)
				for p, r := range a {
					states[p] = LeaderAndIsr{Leader: r[0], ISR: r}
				}
				if _, err := s.CreatePartitionStates(epoch, ezv, name, states); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
