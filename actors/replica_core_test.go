package actors

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/troupe-mq/troupe/internal/config"
	"github.com/troupe-mq/troupe/internal/harness"
	"github.com/troupe-mq/troupe/messages"
	"github.com/troupe-mq/troupe/storage"
)

const coreDir = "/data/core-0"

// coreReplica opens the partition log in fs and makes a replica of it,
// leader of epoch 0 with the given replicas and ISR (broker 1 is local).
func coreReplica(t *testing.T, fs storage.FS, overrides map[string]string, replicas, isr []int32) *replica {
	t.Helper()
	b := config.DefaultBroker()
	cfg, err := b.ResolveTopic(overrides)
	if err != nil {
		t.Fatal(err)
	}
	data, err := storage.Open(coreDir, storageConfig(cfg), storage.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	r := newReplica(TopicPartition{"core", 0}, 1, data, cfg, b, 100*time.Millisecond, zerolog.Nop())
	if err := r.rebuildProducers(); err != nil {
		t.Fatal(err)
	}
	drive(r, &applyPartitionState{cfg: cfg, state: &messages.PartitionState{Topic: "core", Partition: 0, Leader: 1, LeaderEpoch: 0,
		Replicas: replicas, Isr: isr}})
	if r.role != roleLeader {
		t.Fatal("not leader")
	}
	return r
}

// drive steps the replica with msg and delivers the answers it returns.
func drive(r *replica, msg any) []effect {
	effects := r.step(msg, nil)
	for _, e := range effects {
		if a, ok := e.(answer); ok {
			a.deliver()
		}
	}
	return effects
}

// idem builds a batch of n records from producer id with sequences seq...
func idem(id int64, seq int32, n int) []byte {
	var rs []harness.Record
	for i := range n {
		rs = append(rs, harness.Record{Value: []byte(fmt.Sprintf("p%d-s%d", id, int(seq)+i))})
	}
	return harness.BuildBatch(harness.Batch{ProducerID: id, ProducerEpoch: 0, BaseSequence: seq, Records: rs})
}

func plain(n int) []byte {
	var rs []harness.Record
	for range n {
		rs = append(rs, harness.Record{Value: []byte("plain")})
	}
	return harness.BuildBatch(harness.Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: rs})
}

// produceNow hands records to the replica and returns its answer, which
// must be immediate (ok=false: none yet, e.g. acks=all waiting).
func produceNow(r *replica, acks int16, batches ...[]byte) (ProduceResult, bool, chan ProduceResult) {
	var records []byte
	for _, b := range batches {
		records = append(records, b...)
	}
	ch := make(chan ProduceResult, 1)
	drive(r, &ProduceRequest{Records: records, Acks: acks, Timeout: 300 * time.Millisecond, Reply: ch})
	select {
	case res := <-ch:
		return res, true, ch
	default:
		return ProduceResult{}, false, ch
	}
}

// TestReplicaIdempotentProduce: duplicates answer with the original
// offset and append nothing, gaps are refused, several batches of one
// producer in one request are checked one after the other (as Kafka
// does), and the state survives reopening the log.
func TestReplicaIdempotentProduce(t *testing.T) {
	fs := storage.NewMemFS()
	r := coreReplica(t, fs, nil, []int32{1}, []int32{1})
	step := func(name string, acks int16, wantErr error, wantBase int64, batches ...[]byte) {
		t.Helper()
		res, ok, _ := produceNow(r, acks, batches...)
		if !ok {
			t.Fatalf("%s: no immediate answer", name)
		}
		if !errors.Is(res.Err, wantErr) || (wantErr == nil && res.BaseOffset != wantBase) {
			t.Fatalf("%s: %v at %d, want %v at %d", name, res.Err, res.BaseOffset, wantErr, wantBase)
		}
	}
	step("first batch", -1, nil, 0, idem(7, 0, 5))
	step("retry", -1, nil, 0, idem(7, 0, 5))
	step("retry acks=1", 1, nil, 0, idem(7, 0, 5))
	step("gap", -1, ErrOutOfOrderSequence, 0, idem(7, 9, 1))
	step("next", -1, nil, 5, idem(7, 5, 2))
	step("two consecutive batches in one request", -1, nil, 7, idem(7, 7, 2), idem(7, 9, 3))
	if leo := r.data.LogEndOffset(); leo != 12 {
		t.Fatalf("log end %d after 12 records", leo)
	}
	step("the same batch twice in one request", -1, ErrOutOfOrderSequence, 0, idem(8, 0, 2), idem(8, 0, 2))
	step("a batch and its gap in one request", -1, ErrOutOfOrderSequence, 0, idem(9, 0, 2), idem(9, 5, 2))
	step("an old batch and a new one in one request", -1, ErrOutOfOrderSequence, 0, idem(7, 9, 3), idem(7, 12, 1))
	step("plain and idempotent batches together", -1, nil, 12, plain(2), idem(10, 0, 1), plain(1))
	if leo := r.data.LogEndOffset(); leo != 16 {
		t.Fatalf("log end %d, want 16: refused requests appended something", leo)
	}
	tx := idem(11, 0, 1)
	tx[22] |= 0x10 // transactional attribute
	harness.FixCRC(tx)
	step("transactional", -1, ErrTransactionsUnsupported, 0, tx)

	// Reopen: the producer state comes back from the log.
	if err := r.data.Close(); err != nil {
		t.Fatal(err)
	}
	r = coreReplica(t, fs, nil, []int32{1}, []int32{1})
	step("retry after reopening", -1, nil, 9, idem(7, 9, 3))
	step("gap after reopening", -1, ErrOutOfOrderSequence, 0, idem(7, 13, 1))
	step("next after reopening", -1, nil, 16, idem(7, 12, 1))
	step("other producer after reopening", -1, nil, 17, idem(10, 1, 1))
}

// TestReplicaMinInsyncReplicas: acks=all with an ISR smaller than
// min.insync.replicas is NOT_ENOUGH_REPLICAS with nothing appended;
// acks=1 still goes in.
func TestReplicaMinInsyncReplicas(t *testing.T) {
	r := coreReplica(t, storage.NewMemFS(), map[string]string{"min.insync.replicas": "2"}, []int32{1, 2}, []int32{1})
	res, ok, _ := produceNow(r, -1, plain(3))
	if !ok || !errors.Is(res.Err, ErrNotEnoughReplicas) {
		t.Fatalf("acks=all: %v (answered %v), want NOT_ENOUGH_REPLICAS", res.Err, ok)
	}
	if leo := r.data.LogEndOffset(); leo != 0 {
		t.Fatalf("log end %d: refused batch appended", leo)
	}
	if res, ok, _ := produceNow(r, 1, plain(3)); !ok || res.Err != nil || res.BaseOffset != 0 {
		t.Fatalf("acks=1: %v at %d", res.Err, res.BaseOffset)
	}
}

// TestReplicaDeleteRecords: the log start moves up to at most the high
// watermark.
func TestReplicaDeleteRecords(t *testing.T) {
	r := coreReplica(t, storage.NewMemFS(), nil, []int32{1}, []int32{1})
	produceNow(r, -1, plain(10))
	for _, c := range []struct {
		offset, low int64
		err         error
	}{{4, 4, nil}, {2, 4, nil}, {11, -1, ErrOffsetOutOfRange}, {-1, 10, nil}} {
		ch := make(chan DeleteRecordsResult, 1)
		drive(r, &DeleteRecordsRequest{Offset: c.offset, Reply: ch})
		res := <-ch
		if !errors.Is(res.Err, c.err) || res.LowWatermark != c.low {
			t.Fatalf("delete before %d: %v, low %d; want %v, %d", c.offset, res.Err, res.LowWatermark, c.err, c.low)
		}
	}
}

// TestReplicaValidatesBeforeSequences: a damaged batch is CORRUPT_MESSAGE
// (and one of another format INVALID_RECORD) even when its producer
// sequence would make it a duplicate or a gap: as in Kafka, a batch is
// validated before the producer state is consulted, so a retry damaged in
// transit is not acknowledged as stored, nor taken for a sequence error.
func TestReplicaValidatesBeforeSequences(t *testing.T) {
	r := coreReplica(t, storage.NewMemFS(), nil, []int32{1}, []int32{1})
	if res, _, _ := produceNow(r, -1, idem(7, 0, 3)); res.Err != nil {
		t.Fatal(res.Err)
	}
	damaged := func(b []byte) []byte { b[len(b)-1] ^= 0x01; return b }
	otherMagic := func(b []byte) []byte { b[16] = 1; harness.FixCRC(b); return b }
	for _, c := range []struct {
		name  string
		batch []byte
		want  error
	}{
		{"damaged retry", damaged(idem(7, 0, 3)), storage.ErrCorruptMessage},
		{"damaged batch after a gap", damaged(idem(7, 8, 1)), storage.ErrCorruptMessage},
		{"damaged batch of an unknown producer", damaged(idem(8, 4, 1)), storage.ErrCorruptMessage},
		{"magic 1 retry", otherMagic(idem(7, 0, 3)), storage.ErrInvalidRecord},
		{"magic 1 after a gap", otherMagic(idem(7, 8, 1)), storage.ErrInvalidRecord},
	} {
		res, ok, _ := produceNow(r, -1, c.batch)
		if !ok || !errors.Is(res.Err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, res.Err, c.want)
		}
	}
	if leo := r.data.LogEndOffset(); leo != 3 {
		t.Fatalf("log end %d, want 3", leo)
	}
}
