package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/harness"
)

// TestKillDuringTopicAdmin: a broker killed -9 right after it accepted a
// topic deletion (or creation) finishes the job after a restart: a deleted
// topic ends up gone with its logs, a created one ends up complete, and the
// name can be used again, starting empty.
func TestKillDuringTopicAdmin(t *testing.T) {
	b := harness.StartBroker(t, harness.BrokerOptions{Overrides: map[string]string{"auto.create.topics.enable": "false"}})
	for round := range 4 {
		name := fmt.Sprintf("phoenix-%d", round%2)
		createTopic(t, b.Admin(t), name, 3, nil)
		conn := dial(t, b.Addr())
		rawRoundTrip(t, conn, name)

		// Delete without waiting, and kill at once.
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.SetVersion(5)
		req.TopicNames, req.TimeoutMillis = []string{name}, 0
		resp, err := conn.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if code := resp.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode; code != 0 {
			t.Fatalf("round %d: delete: %v", round, kerr.ErrorForCode(code))
		}
		b.Kill()
		b.Restart()
		harness.Eventually(t, 20*time.Second, func() error {
			md, err := b.Admin(t).Metadata(testCtx(t, 5*time.Second), name)
			if err != nil {
				return err
			}
			if _, ok := md.Topics[name]; ok && md.Topics[name].Err == nil {
				return errorf("round %d: %s still exists after the restart", round, name)
			}
			for p := range 3 {
				if _, err := os.Stat(filepath.Join(b.DataDir(), fmt.Sprintf("%s-%d", name, p))); !os.IsNotExist(err) {
					return errorf("round %d: log dir of %s-%d still there (%v)", round, name, p, err)
				}
			}
			return nil
		})

		// Create without waiting, and kill at once: after the restart the
		// topic exists with all its partitions led.
		creq := kmsg.NewPtrCreateTopicsRequest()
		creq.SetVersion(7)
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic, ct.NumPartitions, ct.ReplicationFactor = name, 3, 1
		creq.Topics, creq.TimeoutMillis = append(creq.Topics, ct), 0
		cresp, err := dial(t, b.Addr()).Do(creq)
		if err != nil {
			t.Fatal(err)
		}
		if code := cresp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; code != 0 {
			t.Fatalf("round %d: create: %v", round, kerr.ErrorForCode(code))
		}
		b.Kill()
		b.Restart()
		harness.Eventually(t, 20*time.Second, func() error {
			c, err := harness.DialRaw(b.Addr())
			if err != nil {
				return err
			}
			defer c.Close()
			for p := range int32(3) {
				off, err := produceOnce(c, name, p)
				if err != nil {
					return errorf("round %d: %s-%d: %w", round, name, p, err)
				}
				if off != 0 {
					return errorf("round %d: recreated %s-%d starts at %d", round, name, p, off)
				}
			}
			return nil
		})
		// Clean up for the next round of this name.
		if resp, err := b.Admin(t).DeleteTopics(testCtx(t, 20*time.Second), name); err != nil || resp.Error() != nil {
			t.Fatalf("round %d: delete: %v %v", round, err, resp.Error())
		}
	}
}

// produceOnce writes one record to topic-partition (acks=all) and returns
// its offset, or the error the broker answered.
func produceOnce(c *harness.RawConn, topic string, partition int32) (int64, error) {
	batch := harness.BuildBatch(harness.Batch{ProducerID: harness.NoProducer, ProducerEpoch: -1, BaseSequence: -1,
		Records: []harness.Record{{Value: []byte("once")}}})
	resp, err := c.Do(harness.ProduceRequest(9, -1, topic, partition, batch))
	if err != nil {
		return -1, err
	}
	p := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	return p.BaseOffset, kerr.ErrorForCode(p.ErrorCode)
}
