package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/harness"
)

// idempotentSession is a raw idempotent producer: a producer id and epoch
// from InitProducerId, and batches with explicit sequence numbers.
type idempotentSession struct {
	id    int64
	epoch int16
}

func initProducer(t *testing.T, c *harness.RawConn) idempotentSession {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.SetVersion(4)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ip := resp.(*kmsg.InitProducerIDResponse)
	if err := kerr.ErrorForCode(ip.ErrorCode); err != nil || ip.ProducerID < 0 {
		t.Fatalf("InitProducerId: %v, id %d", err, ip.ProducerID)
	}
	return idempotentSession{ip.ProducerID, ip.ProducerEpoch}
}

// produce sends n records with sequences seq.. to topic-partition and
// returns the broker's answer.
func (s idempotentSession) produce(t *testing.T, c *harness.RawConn, topic string, partition int32, seq int32, n int) (int64, error) {
	t.Helper()
	var rs []harness.Record
	for i := range n {
		rs = append(rs, harness.Record{Value: []byte(fmt.Sprintf("pid%d-seq%d", s.id, int(seq)+i))})
	}
	b := harness.BuildBatch(harness.Batch{ProducerID: s.id, ProducerEpoch: s.epoch, BaseSequence: seq, Records: rs})
	resp, err := c.Do(harness.ProduceRequest(9, -1, topic, partition, b))
	if err != nil {
		t.Fatal(err)
	}
	p := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	return p.BaseOffset, kerr.ErrorForCode(p.ErrorCode)
}

// TestRestartServesEverything: after a SIGTERM and then after a kill -9,
// a broker restarted on its data dir serves every acknowledged record and
// remembers its metadata: topics and their IDs, config overrides, deleted
// topics, log start offsets moved by DeleteRecords, idempotent producer
// state and the producer ids it handed out.
func TestRestartServesEverything(t *testing.T) {
	b := harness.StartBroker(t, harness.BrokerOptions{})
	adm := b.Admin(t)
	ctx := testCtx(t, 90*time.Second)
	createTopic(t, adm, "keep", 2, map[string]*string{"retention.ms": kmsg.StringPtr("86400123"), "max.message.bytes": kmsg.StringPtr("4096")})
	createTopic(t, adm, "gone", 1, nil)
	if resp, err := adm.DeleteTopics(ctx, "gone"); err != nil || resp.Error() != nil {
		t.Fatalf("delete topic: %v %v", err, resp.Error())
	}

	recs := randomRecords(newRand(5), "keep", 2000)
	for _, r := range recs {
		r.Value = r.Value[:min(len(r.Value), 200)]
	}
	produceAll(t, b.Client(t, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerBatchMaxBytes(4000)), recs)
	dr, err := adm.DeleteRecords(ctx, kadm.Offsets{"keep": {0: {Topic: "keep", Partition: 0, At: 5}}})
	if err != nil || dr.Error() != nil {
		t.Fatalf("delete records: %v %v", err, dr.Error())
	}

	conn := dial(t, b.Addr())
	prod := initProducer(t, conn)
	first, err := prod.produce(t, conn, "keep", 1, 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	second, err := prod.produce(t, conn, "keep", 1, 5, 3)
	if err != nil {
		t.Fatal(err)
	}

	md, err := adm.Metadata(ctx, "keep")
	if err != nil {
		t.Fatal(err)
	}
	topicID := md.Topics["keep"].ID

	for _, how := range []string{"SIGTERM", "kill -9"} {
		if how == "SIGTERM" {
			b.Stop()
		} else {
			b.Kill()
		}
		b.Restart()
		if how == "SIGTERM" {
			checkCleanOpen(t, b, "keep-0", "keep-1")
		}
		t.Run("after "+how, func(t *testing.T) {
			adm := b.Admin(t)
			ctx := testCtx(t, 60*time.Second)
			md, err := adm.Metadata(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := md.Topics["keep"]; got.ID != topicID || len(got.Partitions) != 2 {
				t.Fatalf("topic keep: id %v with %d partitions, was %v with 2", got.ID, len(got.Partitions), topicID)
			}
			// Its first answer already names the leaders: the broker serves
			// once the elections of its restart are done, not in between.
			for _, p := range md.Topics["keep"].Partitions.Sorted() {
				if p.Leader != 1 || p.Err != nil {
					t.Errorf("first metadata after the restart: keep-%d led by %d (%v)", p.Partition, p.Leader, p.Err)
				}
			}
			if _, ok := md.Topics["gone"]; ok {
				t.Fatal("deleted topic is back")
			}
			rc, err := adm.DescribeTopicConfigs(ctx, "keep")
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := rc.On("keep", nil)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"retention.ms": "86400123", "max.message.bytes": "4096"}
			for _, c := range cfg.Configs {
				if w, ok := want[c.Key]; ok {
					if c.MaybeValue() != w || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
						t.Errorf("%s = %q (source %v), want %q from the topic", c.Key, c.MaybeValue(), c.Source, w)
					}
					delete(want, c.Key)
				}
			}
			if len(want) > 0 {
				t.Errorf("configs missing: %v", want)
			}
			starts, err := adm.ListStartOffsets(ctx, "keep")
			if err != nil {
				t.Fatal(err)
			}
			if o, _ := starts.Lookup("keep", 0); o.Offset != 5 {
				t.Errorf("log start of keep-0 is %d, want 5 (DeleteRecords)", o.Offset)
			}

			// Every record: the franz-go ones from offset 5 of partition 0
			// on, and the idempotent producer's in partition 1.
			got := byPartition(consumeN(t, b.Addr(), "keep", len(recs)-5+8, 60*time.Second))
			want0 := byPartition(recs)[0][5:]
			if len(got[0]) != len(want0) {
				t.Fatalf("partition 0: %d records, want %d", len(got[0]), len(want0))
			}
			for i, w := range want0 {
				if err := sameRecord(w, got[0][i]); err != nil || got[0][i].Offset != w.Offset {
					t.Fatalf("partition 0 offset %d: %v", w.Offset, err)
				}
			}
			c := dial(t, b.Addr())
			fetched := rawFetch(t, c, "keep", 1, first)
			if len(fetched) < 8 || string(fetched[7].Value) != fmt.Sprintf("pid%d-seq7", prod.id) {
				t.Fatalf("idempotent records at %d: %d fetched", first, len(fetched))
			}
			// Idempotent state came back from the log: a retry is a
			// duplicate, a gap is refused.
			end := logEnd(t, c, "keep", 1)
			if off, err := prod.produce(t, c, "keep", 1, 5, 3); err != nil || off != second {
				t.Errorf("retry of sequence 5 after the restart: %v at %d, want offset %d", err, off, second)
			}
			if _, err := prod.produce(t, c, "keep", 1, 10, 1); err != kerr.OutOfOrderSequenceNumber {
				t.Errorf("sequence 10 after 7: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", err)
			}
			if after := logEnd(t, c, "keep", 1); after != end {
				t.Errorf("log end moved from %d to %d", end, after)
			}
			// Producer ids are never handed out twice.
			if again := initProducer(t, c); again.id == prod.id {
				t.Errorf("InitProducerId handed out %d again", again.id)
			}
		})
	}
}

// checkCleanOpen checks, in the log of the broker's latest start, that
// each partition directory opened from the checkpoint its clean shutdown
// wrote (SIGTERM flushes and checkpoints): nothing to recover.
func checkCleanOpen(t *testing.T, b *harness.Broker, dirs ...string) {
	t.Helper()
	log := b.Log()
	log = log[strings.LastIndex(log, "=== harness: start"):]
	for _, dir := range dirs {
		found := false
		for _, line := range strings.Split(log, "\n") {
			if !strings.Contains(line, "storage: log opened") || !strings.Contains(line, "/"+dir+" ") {
				continue
			}
			found = true
			if !strings.Contains(line, "checkpoint_found=true") || !strings.Contains(line, "segments_recovered=0") ||
				!strings.Contains(line, "batches_recovered=0") {
				t.Errorf("%s did not open cleanly after SIGTERM: %s", dir, line)
			}
		}
		if !found {
			t.Errorf("no 'storage: log opened' line for %s in the broker log", dir)
		}
	}
}
