package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/troupe-mq/troupe/internal/harness"
)

// roundTripRecords is how many records each round trip carries (issue 3).
const roundTripRecords = 100_000

// TestFranzGoRoundTrip: an idempotent acks=all franz-go producer writes
// 100,000 random records (keys, values, headers) over three partitions;
// a consumer reads them back byte for byte, each partition in order with
// contiguous offsets from 0.
func TestFranzGoRoundTrip(t *testing.T) {
	b := harness.StartBroker(t, harness.BrokerOptions{})
	createTopic(t, b.Admin(t), "rt", 3, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	recs := randomRecords(rng, "rt", roundTripRecords)
	start := time.Now()
	prod := b.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(20_000))
	produceAll(t, prod, recs)
	t.Logf("produced %d records in %v", len(recs), time.Since(start))
	for p, rs := range byPartition(recs) {
		if len(rs) == 0 {
			t.Fatalf("partition %d got no records", p)
		}
	}
	start = time.Now()
	got := consumeN(t, b.Addr(), "rt", len(recs), 90*time.Second)
	t.Logf("consumed %d records in %v", len(got), time.Since(start))
	checkRoundTrip(t, recs, got)
}

// kcatAlphabet are the bytes kcat's line-oriented input can carry: all but
// NUL, tab (the key delimiter), newline (the message delimiter) and CR.
var kcatAlphabet = func() []byte {
	var a []byte
	for c := 1; c < 256; c++ {
		if c != '\t' && c != '\n' && c != '\r' {
			a = append(a, byte(c))
		}
	}
	return a
}()

// kcatLine is one record produced through kcat.
type kcatLine struct{ key, value []byte }

// kcatInput makes n unique records as kcat -P -K '\t' input.
func kcatInput(rng *rand.Rand, n int) ([]kcatLine, []byte) {
	lines := make([]kcatLine, n)
	var in bytes.Buffer
	for i := range lines {
		k := make([]byte, 1+rng.IntN(12))
		for j := range k {
			k[j] = kcatAlphabet[rng.IntN(len(kcatAlphabet))]
		}
		v := []byte(fmt.Sprintf("%06d|", i))
		for range rng.IntN(40) {
			v = append(v, kcatAlphabet[rng.IntN(len(kcatAlphabet))])
		}
		lines[i] = kcatLine{k, v}
		in.Write(k)
		in.WriteByte('\t')
		in.Write(v)
		in.WriteByte('\n')
	}
	return lines, in.Bytes()
}

// kcatRecord is one record as kcat -C printed it.
type kcatRecord struct {
	partition int32
	offset    int64
	key       []byte
	value     []byte
}

// kcatConsume runs kcat -C with the given extra arguments and the format
// "%p\t%o\t%k\t%s\n", and parses what it printed.
func kcatConsume(t *testing.T, addr, topic string, args ...string) []kcatRecord {
	t.Helper()
	all := append([]string{"-b", addr, "-C", "-t", topic, "-e", "-q", "-f", `%p\t%o\t%k\t%s\n`, "-X", "check.crcs=true"}, args...)
	cmd := exec.CommandContext(testCtx(t, 90*time.Second), "kcat", all...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat %v: %v\n%s", all, err, stderr.String())
	}
	var recs []kcatRecord
	for len(out) > 0 {
		i := bytes.IndexByte(out, '\n')
		if i < 0 {
			t.Fatalf("kcat output ends without a newline: %q", out)
		}
		line := out[:i]
		out = out[i+1:]
		f := bytes.SplitN(line, []byte("\t"), 4)
		if len(f) != 4 {
			t.Fatalf("kcat printed %q", line)
		}
		p, err1 := strconv.Atoi(string(f[0]))
		o, err2 := strconv.ParseInt(string(f[1]), 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("kcat printed %q", line)
		}
		recs = append(recs, kcatRecord{partition: int32(p), offset: o, key: f[2], value: f[3]})
	}
	return recs
}

// TestKcatRoundTrip: kcat (librdkafka, idempotent, acks=all) produces
// 100,000 random keyed records over three partitions and reads them back
// byte for byte, each partition in produce order with contiguous offsets.
func TestKcatRoundTrip(t *testing.T) {
	b := harness.StartBroker(t, harness.BrokerOptions{})
	createTopic(t, b.Admin(t), "kc", 3, nil)
	lines, input := kcatInput(rand.New(rand.NewPCG(3, 4)), roundTripRecords)

	start := time.Now()
	cmd := exec.CommandContext(testCtx(t, 90*time.Second), "kcat", "-b", b.Addr(), "-P", "-t", "kc", "-K", `\t`,
		"-X", "enable.idempotence=true", "-X", "acks=all", "-X", "linger.ms=5")
	cmd.Stdin = bytes.NewReader(input)
	out, err := cmd.CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("ERROR")) || bytes.Contains(out, []byte("failed")) {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	t.Logf("kcat produced %d records in %v", len(lines), time.Since(start))

	start = time.Now()
	got := kcatConsume(t, b.Addr(), "kc", "-o", "beginning")
	t.Logf("kcat consumed %d records in %v", len(got), time.Since(start))
	if len(got) != len(lines) {
		t.Fatalf("kcat consumed %d records, produced %d", len(got), len(lines))
	}
	seen := make([]bool, len(lines))
	next := map[int32]int64{}  // next expected offset per partition
	lastIdx := map[int32]int{} // last record index per partition (produce order)
	for _, r := range got {
		if r.offset != next[r.partition] {
			t.Fatalf("partition %d: offset %d, want %d (offsets must be contiguous)", r.partition, r.offset, next[r.partition])
		}
		next[r.partition]++
		idx, err := strconv.Atoi(string(r.value[:6]))
		if err != nil || idx >= len(lines) {
			t.Fatalf("partition %d offset %d: stray value %q", r.partition, r.offset, r.value)
		}
		if seen[idx] {
			t.Fatalf("record %d read twice", idx)
		}
		seen[idx] = true
		if last, ok := lastIdx[r.partition]; ok && idx < last {
			t.Fatalf("partition %d: record %d after record %d: not in produce order", r.partition, idx, last)
		}
		lastIdx[r.partition] = idx
		if w := lines[idx]; !bytes.Equal(w.key, r.key) || !bytes.Equal(w.value, r.value) {
			t.Fatalf("record %d: got %x:%x, want %x:%x", idx, r.key, r.value, w.key, w.value)
		}
	}
	if len(next) != 3 {
		t.Fatalf("records landed in partitions %v, want all three", next)
	}
}
