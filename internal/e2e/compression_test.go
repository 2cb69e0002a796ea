package e2e

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

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
