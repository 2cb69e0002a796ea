package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/harness"
)

// TestCompressionRoundTrip: batches compressed with every codec Kafka
// has, by franz-go and by kcat, are stored as sent and read back by both
// clients.
func TestCompressionRoundTrip(t *testing.T) {
	b := harness.StartBroker(t, harness.BrokerOptions{})
	codecs := map[string]kgo.CompressionCodec{"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(),
		"snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression()}
	const n = 2000
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			topic := "z-" + name
			createTopic(t, b.Admin(t), topic, 2, nil)
			recs := randomRecords(newRand(uint64(len(name))), topic, n)
			// franz-go writes partition 0, kcat partition 1 (its output is text).
			produceAll(t, b.Client(t, kgo.ProducerBatchCompression(codec), kgo.RecordPartitioner(kgo.ManualPartitioner())), recs)
			checkRoundTrip(t, recs, consumeN(t, b.Addr(), topic, n, 30*time.Second))

			// kcat writes the same codec and reads everything back.
			var in bytes.Buffer
			for i := range n {
				fmt.Fprintf(&in, "kcat-%d-%s\n", i, strings.Repeat(name, 5))
			}
			cmd := exec.CommandContext(testCtx(t, 30*time.Second), "kcat", "-b", b.Addr(), "-P", "-t", topic, "-z", name, "-p", "1")
			cmd.Stdin = &in
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kcat -P -z %s: %v\n%s", name, err, out)
			}
			// The batches are stored as sent: compressed with the codec.
			// librdkafka (before 2.11.1) sends gzip and snappy only to a
			// broker whose ApiVersions reach down to Produce v0, and lz4
			// only to one that also has FindCoordinator (group coordinator,
			// a later issue); so lz4 from kcat is not checked yet.
			wantCodec := map[string]int16{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}[name]
			conn := dial(t, b.Addr())
			for part := int32(0); part < 2; part++ {
				if part == 1 && name == "lz4" {
					continue
				}
				if got := storedCodecs(t, conn, topic, part); len(got) == 0 || got[0] != wantCodec {
					t.Errorf("partition %d (written by %s): stored batch codecs %v, want %d", part, map[int32]string{0: "franz-go", 1: "kcat"}[part], got, wantCodec)
				}
			}
			got := kcatConsume(t, b.Addr(), topic, "-p", "1", "-o", "beginning")
			kc := 0
			for _, r := range got {
				if bytes.HasPrefix(r.value, []byte("kcat-")) {
					if want := fmt.Sprintf("kcat-%d-%s", kc, strings.Repeat(name, 5)); string(r.value) != want {
						t.Fatalf("kcat record %d: %q, want %q", kc, r.value, want)
					}
					kc++
				}
			}
			if kc != n {
				t.Fatalf("kcat read back %d of its %d records", kc, n)
			}
		})
	}
}

// storedCodecs fetches a partition from offset 0 and returns the
// compression codec of each stored batch, read from the batch headers.
func storedCodecs(t *testing.T, c *harness.RawConn, topic string, partition int32) []int16 {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.ReplicaID, req.MaxBytes, req.MinBytes, req.SessionEpoch = -1, 1<<24, 1, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = partition, 1<<24, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var codecs []int16
	b := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0].RecordBatches
	for len(b) >= 61 {
		size := int(binary.BigEndian.Uint32(b[8:])) + 12
		codecs = append(codecs, int16(binary.BigEndian.Uint16(b[21:]))&7)
		if size > len(b) {
			break
		}
		b = b[size:]
	}
	return codecs
}
