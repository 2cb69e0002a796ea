package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// randomLines returns n distinct "key<TAB>value" lines whose values hold
// arbitrary bytes other than '\n' (tabs, NULs, high bytes, empty values).
func randomLines(n int) []string {
	rng := rand.New(rand.NewPCG(7, 8))
	lines := make([]string, n)
	for i := range lines {
		v := make([]byte, rng.IntN(200))
		for j := range v {
			for v[j] = byte(rng.UintN(256)); v[j] == '\n'; v[j] = byte(rng.UintN(256)) {
			}
		}
		lines[i] = fmt.Sprintf("key-%05d\t%s", i, v)
	}
	return lines
}

// consumeLines runs Consume and splits its output into lines.
func consumeLines(t *testing.T, opts Options, cfg ConsumeConfig) []string {
	t.Helper()
	var out bytes.Buffer
	res, err := Consume(testCtx(t), opts, cfg, &out)
	if err != nil {
		t.Fatalf("consume %+v: %v", cfg, err)
	}
	if out.Len() == 0 {
		if res.Records != 0 {
			t.Fatalf("consume %+v: %d records but no output", cfg, res.Records)
		}
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if int64(len(lines)) != res.Records {
		t.Fatalf("consume %+v: %d lines for %d records", cfg, len(lines), res.Records)
	}
	return lines
}

func TestProduceConsumeRoundTrip(t *testing.T) {
	opts := newCluster(t, 1)
	ctx := testCtx(t)
	if err := CreateTopic(ctx, opts, CreateTopicConfig{Name: "lines", Partitions: 3, ReplicationFactor: 1}, io.Discard); err != nil {
		t.Fatal(err)
	}
	lines := randomLines(10000)
	input := strings.Join(lines, "\n") + "\n"
	var report bytes.Buffer
	res, err := Produce(ctx, opts, ProduceConfig{Topic: "lines", KeySeparator: "\t", Partition: -1, Acks: "all"}, strings.NewReader(input), &report)
	if err != nil {
		t.Fatal(err)
	}
	if res.Produced != 10000 || res.Failed != 0 || report.String() != "produced 10000 records to lines\n" {
		t.Fatalf("produce: %+v, report %q", res, report.String())
	}

	// Everything, byte for byte: key and value come back as sent.
	got := consumeLines(t, opts, ConsumeConfig{Topic: "lines", Partition: -1, Format: `%k\t%v\n`})
	want := slices.Clone(lines)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("round trip differs: got %d lines, want %d", len(got), len(want))
	}

	// The layout: offsets per partition are dense from 0, keys hash to a
	// fixed partition, and all three partitions are used.
	layout := consumeLines(t, opts, ConsumeConfig{Topic: "lines", Partition: -1, Format: `%p %o %k %t\n`})
	next := map[int32]int64{}
	partOf := map[string]int32{}
	for _, l := range layout {
		f := strings.Fields(l)
		p, _ := strconv.Atoi(f[0])
		o, _ := strconv.ParseInt(f[1], 10, 64)
		if o != next[int32(p)] || f[3] != "lines" {
			t.Fatalf("partition %d: line %q, want offset %d", p, l, next[int32(p)])
		}
		next[int32(p)]++
		partOf[f[2]] = int32(p)
	}
	if len(next) != 3 {
		t.Fatalf("records landed in %d partitions, want 3", len(next))
	}

	// One partition from an offset, with a count, and the tail.
	p1 := consumeLines(t, opts, ConsumeConfig{Topic: "lines", Partition: 1, Format: `%o %k\n`})
	if int64(len(p1)) != next[1] {
		t.Fatalf("partition 1: %d records, want %d", len(p1), next[1])
	}
	tests := []struct {
		name string
		cfg  ConsumeConfig
		want []string
	}{
		{"offset", ConsumeConfig{From: "100"}, p1[100:]},
		{"offset+count", ConsumeConfig{From: "100", Count: 7}, p1[100:107]},
		{"tail", ConsumeConfig{From: "-5"}, p1[len(p1)-5:]},
		{"end", ConsumeConfig{From: "end"}, nil},
		{"past end", ConsumeConfig{From: "999999"}, nil},
		{"count", ConsumeConfig{Count: 3}, p1[:3]},
	}
	for _, tt := range tests {
		cfg := tt.cfg
		cfg.Topic, cfg.Partition, cfg.Format = "lines", 1, `%o %k\n`
		if got := consumeLines(t, opts, cfg); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %d lines (first %q), want %d", tt.name, len(got), first(got), len(tt.want))
		}
	}
	// A count across every partition stops at exactly that many.
	if got := consumeLines(t, opts, ConsumeConfig{Topic: "lines", Partition: -1, Count: 2500}); len(got) != 2500 {
		t.Fatalf("count 2500 over all partitions gave %d", len(got))
	}

	// A manual partition puts every record there.
	res, err = Produce(ctx, opts, ProduceConfig{Topic: "lines", Partition: 2, Acks: "1"}, strings.NewReader("x\ny\n"), io.Discard)
	if err != nil || res.Produced != 2 {
		t.Fatalf("produce to partition 2: %+v %v", res, err)
	}
	if got := consumeLines(t, opts, ConsumeConfig{Topic: "lines", Partition: 2, From: "-2", Format: `%p:%k:%v\n`}); !slices.Equal(got, []string{"2::x", "2::y"}) {
		t.Fatalf("manual partition: %q", got)
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func TestConsumeFromTimestampAndHeaders(t *testing.T) {
	opts := newCluster(t, 1)
	ctx := testCtx(t)
	if err := CreateTopic(ctx, opts, CreateTopicConfig{Name: "ts", Partitions: 2, ReplicationFactor: 1}, io.Discard); err != nil {
		t.Fatal(err)
	}
	// Records with explicit create times 1000, 2000, 3000 ms in both partitions.
	cl, err := opts.newClient(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, ms := range []int64{1000, 2000, 3000} {
		for p := int32(0); p < 2; p++ {
			recs = append(recs, &kgo.Record{Topic: "ts", Partition: p, Timestamp: time.UnixMilli(ms),
				Value: fmt.Appendf(nil, "p%d@%d", p, ms), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(strconv.FormatInt(ms, 10))}}})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		from string
		want []string
	}{
		{"@2000", []string{"p0@2000 2000 h=2000", "p0@3000 3000 h=3000", "p1@2000 2000 h=2000", "p1@3000 3000 h=3000"}},
		{"@2500", []string{"p0@3000 3000 h=3000", "p1@3000 3000 h=3000"}},
		{"@0", []string{"p0@1000 1000 h=1000", "p0@2000 2000 h=2000", "p0@3000 3000 h=3000", "p1@1000 1000 h=1000", "p1@2000 2000 h=2000", "p1@3000 3000 h=3000"}},
		{"@9999", nil},
	}
	for _, tt := range tests {
		got := consumeLines(t, opts, ConsumeConfig{Topic: "ts", Partition: -1, From: tt.from, Format: `%v %T %h\n`})
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("from %s: got %q, want %q", tt.from, got, tt.want)
		}
	}
}

func TestConsumeFollow(t *testing.T) {
	opts := newCluster(t, 1)
	ctx := testCtx(t)
	if err := CreateTopic(ctx, opts, CreateTopicConfig{Name: "live", Partitions: 2, ReplicationFactor: 1}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := Produce(ctx, opts, ProduceConfig{Topic: "live", Partition: -1}, strings.NewReader("a\nb\n"), io.Discard); err != nil {
		t.Fatal(err)
	}
	followCtx, stop := context.WithCancel(ctx)
	defer stop()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		_, err := Consume(followCtx, opts, ConsumeConfig{Topic: "live", Partition: -1, Follow: true}, &out)
		done <- err
	}()
	eventually(t, 10*time.Second, "the first two records", func() bool { return strings.Count(out.String(), "\n") == 2 })
	if _, err := Produce(ctx, opts, ProduceConfig{Topic: "live", Partition: -1}, strings.NewReader("c\nd\ne\n"), io.Discard); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "records produced while following", func() bool { return strings.Count(out.String(), "\n") == 5 })
	stop()
	if err := <-done; err != nil {
		t.Fatalf("interrupted follow returned %v", err)
	}
	got := strings.Fields(out.String())
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) {
		t.Fatalf("follow output %q", got)
	}

	// A follow with a count ends by itself.
	res, err := Consume(ctx, opts, ConsumeConfig{Topic: "live", Partition: -1, Follow: true, Count: 4}, io.Discard)
	if err != nil || res.Records != 4 {
		t.Fatalf("follow with count: %+v %v", res, err)
	}
}

func TestProduceEdgeCases(t *testing.T) {
	opts := newCluster(t, 1)
	ctx := testCtx(t)
	if err := CreateTopic(ctx, opts, CreateTopicConfig{Name: "one", Partitions: 1, ReplicationFactor: 1}, io.Discard); err != nil {
		t.Fatal(err)
	}
	// No trailing newline, empty lines, CRLF kept, a key separator of
	// several bytes, a line without the separator, and a long line.
	long := strings.Repeat("z", 300_000)
	input := "k1::v1\n\n::empty key\nno separator\r\n" + long + "\nk2::v::2"
	if _, err := Produce(ctx, opts, ProduceConfig{Topic: "one", Partition: -1, KeySeparator: "::", Acks: "all", Idempotent: ptr(true)}, strings.NewReader(input), io.Discard); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := Consume(ctx, opts, ConsumeConfig{Topic: "one", Partition: -1, Format: `[%k|%v]`}, &out); err != nil {
		t.Fatal(err)
	}
	want := "[k1|v1][|][|empty key][|no separator\r][|" + long + "][k2|v::2]"
	if out.String() != want {
		t.Fatalf("got %.200q, want %.200q", out.String(), want)
	}

	if _, err := Produce(ctx, opts, ProduceConfig{Topic: "one", Partition: -1, Acks: "1", Idempotent: ptr(true)}, strings.NewReader("x\n"), io.Discard); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("idempotent with acks=1: %v", err)
	}
	if _, err := Produce(ctx, opts, ProduceConfig{Topic: "one", Partition: -1, Acks: "2"}, strings.NewReader("x\n"), io.Discard); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("acks=2: %v", err)
	}
	// acks=0 works and turns idempotence off by itself.
	if res, err := Produce(ctx, opts, ProduceConfig{Topic: "one", Partition: -1, Acks: "0"}, strings.NewReader("x\ny\n"), io.Discard); err != nil || res.Produced != 2 {
		t.Fatalf("acks=0: %+v %v", res, err)
	}
}

func TestLineReader(t *testing.T) {
	long := strings.Repeat("0123456789", 10) // longer than the 16-byte buffer below
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"\n", []string{""}},
		{"a", []string{"a"}},
		{"a\nb\n", []string{"a", "b"}},
		{"a\n\nb", []string{"a", "", "b"}},
		{"a\r\n", []string{"a\r"}},
		{long + "\n" + long, []string{long, long}},
		{"x\n" + long + "\ny\n", []string{"x", long, "y"}},
	}
	for _, tt := range tests {
		lr := newLineReader(strings.NewReader(tt.in), 16)
		var got [][]byte
		for {
			l, err := lr.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if l == nil {
				t.Fatalf("%q: nil line (would be a null value)", tt.in)
			}
			got = append(got, l)
		}
		// Lines stay intact after later reads: they do not share a buffer.
		var s []string
		for _, l := range got {
			s = append(s, string(l))
		}
		if !slices.Equal(s, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.in, s, tt.want)
		}
	}
}

func TestProduceFailureIsReported(t *testing.T) {
	opts := newCluster(t, 1) // kfake does not auto-create topics by default
	opts.Timeout = 3 * time.Second
	var report bytes.Buffer
	res, err := Produce(testCtx(t), opts, ProduceConfig{Topic: "missing", Partition: -1}, strings.NewReader("a\nb\nc\n"), &report)
	if !errors.Is(err, ErrProduceFailed) || !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("produce to a missing topic: %v", err)
	}
	if res.Produced != 0 || res.Failed == 0 || !strings.Contains(report.String(), "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("result %+v, report %q", res, report.String())
	}

	if _, err := Consume(testCtx(t), opts, ConsumeConfig{Topic: "missing", Partition: -1}, io.Discard); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("consume of a missing topic: %v", err)
	}
	if err := CreateTopic(testCtx(t), opts, CreateTopicConfig{Name: "two", Partitions: 2, ReplicationFactor: 1}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := Consume(testCtx(t), opts, ConsumeConfig{Topic: "two", Partition: 5}, io.Discard); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("consume of a missing partition: %v", err)
	}
}
