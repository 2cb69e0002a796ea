package actors

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/internal/config"
	"github.com/troupe-mq/troupe/messages"
)

// TestHostIgnoresLateAlterAnswer (bug 6): an AlterPartition answer that
// comes late (to an earlier proposal, or from a deposed controller) must
// not replace a newer state on record: a partition actor that restarts is
// given the recorded state, and must not lead at an old epoch.
func TestHostIgnoresLateAlterAnswer(t *testing.T) {
	h := newReplicaHost(replicaHostConfig{brokerID: 1, broker: config.DefaultBroker(), tickEvery: 100 * time.Millisecond, log: zerolog.Nop()})
	tp := TopicPartition{"t", 0}
	st := func(epoch, pepoch int32) *messages.PartitionState {
		return &messages.PartitionState{Topic: "t", Partition: 0, Leader: 1, LeaderEpoch: epoch, PartitionEpoch: pepoch,
			Isr: []int32{1, 2}, Replicas: []int32{1, 2}}
	}
	h.step(&messages.LeaderAndIsrRequest{ControllerEpoch: 3, Partitions: []*messages.PartitionState{st(5, 9)}}, nil)
	h.step(&replicaStarted{tp: tp, inc: h.partitions[tp].inc}, nil)
	h.step(&messages.AlterPartitionResponse{Topic: "t", Partition: 0, State: st(4, 12)}, nil)
	h.step(&messages.AlterPartitionResponse{Topic: "t", Partition: 0, State: st(5, 7)}, nil)
	// The partition actor restarts and asks for its state.
	var applied *messages.PartitionState
	for _, e := range h.step(&replicaStarted{tp: tp, inc: h.partitions[tp].inc}, nil) {
		if m, ok := e.(toReplica); ok {
			if a, ok := m.msg.(*applyPartitionState); ok {
				applied = a.state
			}
		}
	}
	if applied == nil || applied.LeaderEpoch != 5 || applied.PartitionEpoch != 9 {
		t.Fatalf("restarted partition given %v, want leader epoch 5 partition epoch 9", applied)
	}
	// A newer answer of the same epoch is taken.
	h.step(&messages.AlterPartitionResponse{Topic: "t", Partition: 0, State: st(5, 10)}, nil)
	if got := h.partitions[tp].state.PartitionEpoch; got != 10 {
		t.Fatalf("partition epoch %d after a newer answer, want 10", got)
	}
}

// TestHostResendsProposalsToNewController: a proposal the controller did
// not answer goes to the next controller the metadata names at once, not
// after a timeout; NOT_CONTROLLER keeps it for that one.
func TestHostResendsProposalsToNewController(t *testing.T) {
	h := newReplicaHost(replicaHostConfig{brokerID: 1, broker: config.DefaultBroker(), tickEvery: 100 * time.Millisecond, log: zerolog.Nop()})
	md := func(ctrl int32, epoch int32, version int64) *messages.UpdateMetadataRequest {
		return &messages.UpdateMetadataRequest{ControllerId: ctrl, ControllerEpoch: epoch, Full: true, Version: version,
			Brokers: []*messages.Broker{{Id: 1, ActorAddress: "a1"}, {Id: 2, ActorAddress: "a2"}, {Id: 3, ActorAddress: "a3"}}}
	}
	sentTo := func(effects []effect) []int32 {
		var out []int32
		for _, e := range effects {
			if m, ok := e.(toController); ok {
				out = append(out, m.to.Id)
			}
		}
		return out
	}
	h.step(md(2, 1, 1), nil)
	req := &messages.AlterPartitionRequest{BrokerId: 1, Topic: "t", Partition: 0, LeaderEpoch: 0}
	if got := sentTo(h.step(req, nil)); len(got) != 1 || got[0] != 2 {
		t.Fatalf("proposal sent to %v, want [2]", got)
	}
	h.step(&messages.AlterPartitionResponse{Topic: "t", Partition: 0, ErrorCode: codeNotController}, nil)
	if got := sentTo(h.step(md(3, 2, 1), nil)); len(got) != 1 || got[0] != 3 {
		t.Fatalf("after the controller moved the proposal went to %v, want [3]", got)
	}
	h.step(&messages.AlterPartitionResponse{Topic: "t", Partition: 0, ErrorCode: codeInvalidUpdateVersion}, nil)
	if len(h.alters) != 0 {
		t.Fatal("an answered proposal is still kept")
	}
}

// TestHostRechecksDownPeer (bug 4): a peer whose link went down is pinged
// until it answers, and watched again then. Before, the link stayed known
// down until some probe happened to ping it, and a probe long after a
// blip was answered "unreachable" at once: a false second opinion, which
// let one bad link of the controller's evict a healthy broker.
func TestHostRechecksDownPeer(t *testing.T) {
	h := newReplicaHost(replicaHostConfig{brokerID: 1, broker: config.DefaultBroker(), tickEvery: 100 * time.Millisecond, log: zerolog.Nop()})
	h.step(&messages.UpdateMetadataRequest{ControllerId: 2, ControllerEpoch: 1, Full: true, Version: 1,
		Brokers: []*messages.Broker{{Id: 1, ActorAddress: "a1", Epoch: 10}, {Id: 3, ActorAddress: "a3", Epoch: 30}}}, nil)
	h.step(linkDown{addr: "a3"}, nil)
	pinged, rewatched := false, false
	for range 10 { // one second of ticks
		for _, e := range h.step(managerTick{}, nil) {
			if m, ok := e.(toPeer); ok && m.addr == "a3" {
				_, pinged = m.msg.(*messages.Ping)
			}
		}
	}
	if !pinged {
		t.Fatal("a peer whose link is down was not pinged within a second")
	}
	for _, e := range h.step(&messages.Pong{BrokerId: 3, BrokerEpoch: 30}, nil) {
		if m, ok := e.(watchLink); ok && m.addr == "a3" {
			rewatched = true
		}
	}
	if !rewatched {
		t.Fatal("a peer that answered again is not watched again")
	}
	// A probe now waits for the peer's answer instead of saying "down".
	for _, e := range h.step(&messages.ProbeRequest{TargetId: 3, TargetAddress: "a3", TargetEpoch: 30, RequesterId: 2}, "ctrl") {
		if m, ok := e.(reply); ok {
			if r, ok := m.msg.(*messages.ProbeResponse); ok && !r.Reachable {
				t.Fatal("probe answered unreachable on a link that came back")
			}
		}
	}
}
