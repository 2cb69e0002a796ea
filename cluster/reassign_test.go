package cluster

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestReassignmentMailbox: requests merge into /admin/reassign_partitions
// (a later entry for a partition replaces the earlier one), read back in
// Kafka's JSON, and the node goes only at the version read, only for the
// current controller epoch.
func TestReassignmentMailbox(t *testing.T) {
	now := func() time.Time { return time.Unix(1767225600, 0) }
	tree := NewSimulatedTree(1, now, zerolog.Nop())
	s := NewStoreWith(tree.NewSession(), zerolog.Nop(), StoreOptions{Now: now})
	if err := s.EnsureLayout(); err != nil {
		t.Fatal(err)
	}
	rs, v, _, err := s.ReassignmentsW()
	if err != nil || rs != nil || v != -1 {
		t.Fatalf("empty mailbox: %v %d %v", rs, v, err)
	}
	if err := s.SubmitReassignments([]Reassignment{{Topic: "b", Partition: 1, Replicas: []int32{1, 2}}, {Topic: "a", Partition: 0, Replicas: []int32{3}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SubmitReassignments([]Reassignment{{Topic: "b", Partition: 1}}); err != nil { // cancel replaces the move
		t.Fatal(err)
	}
	rs, v, _, err = s.ReassignmentsW()
	if err != nil {
		t.Fatal(err)
	}
	want := []Reassignment{{Topic: "a", Partition: 0, Replicas: []int32{3}}, {Topic: "b", Partition: 1, Replicas: []int32{}}}
	if !reflect.DeepEqual(rs, want) || !rs[1].Cancel() {
		t.Fatalf("mailbox %+v, want %+v", rs, want)
	}
	data, _, err := s.Conn().Get(ReassignPartitionsPath)
	if err != nil || string(data) != `{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[3]},{"topic":"b","partition":1,"replicas":[]}]}` {
		t.Fatalf("json %s %v", data, err)
	}
	if _, _, err := s.TryBecomeController(1); err != nil {
		t.Fatal(err)
	}
	_, est, err := s.Conn().Get(ControllerEpochPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteReassignments(est.Version, v+1); !errors.Is(err, ErrBadVersion) {
		t.Fatalf("delete at another version: %v", err)
	}
	if err := s.DeleteReassignments(est.Version+1, v); !errors.Is(err, ErrControllerMoved) {
		t.Fatalf("delete by an older controller: %v", err)
	}
	if err := s.DeleteReassignments(est.Version, v); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := s.Conn().Exists(ReassignPartitionsPath); ok {
		t.Fatal("mailbox still there")
	}
}
