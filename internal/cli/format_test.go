package cli

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestRecordFormat(t *testing.T) {
	r := &kgo.Record{
		Topic: "orders", Partition: 7, Offset: 1234,
		Key: []byte("k\t1"), Value: []byte("v%\\1\x00"),
		Timestamp: time.UnixMilli(1700000000123),
		Headers:   []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: nil}},
	}
	tests := []struct {
		format string
		want   string
	}{
		{DefaultFormat, "v%\\1\x00\n"},
		{`%k\t%v\n`, "k\t1\tv%\\1\x00\n"},
		{`%t/%p@%o %T`, "orders/7@1234 1700000000123"},
		{`[%h]`, "[a=1,b=]"},
		{`100%% \\ \r\0`, "100% \\ \r\x00"},
		{``, ""},
		{`plain`, "plain"},
	}
	for _, tt := range tests {
		f, err := parseFormat(tt.format)
		if err != nil {
			t.Fatalf("parseFormat(%q): %v", tt.format, err)
		}
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		f.write(w, r)
		w.Flush()
		if got := out.String(); got != tt.want {
			t.Errorf("format %q: got %q, want %q", tt.format, got, tt.want)
		}
	}
}

func TestRecordFormatRejectsTypos(t *testing.T) {
	for _, bad := range []string{`%x`, `%`, `\`, `\q`, `%v\`} {
		if _, err := parseFormat(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("parseFormat(%q) = %v, want ErrInvalidArgument", bad, err)
		}
	}
}

func TestParseFrom(t *testing.T) {
	tests := []struct {
		in   string
		want fromSpec
		bad  bool
	}{
		{"", fromSpec{kind: fromBeginning}, false},
		{"beginning", fromSpec{kind: fromBeginning}, false},
		{"end", fromSpec{kind: fromEnd}, false},
		{"42", fromSpec{kind: fromOffset, n: 42}, false},
		{"0", fromSpec{kind: fromOffset, n: 0}, false},
		{"-5", fromSpec{kind: fromEndMinus, n: 5}, false},
		{"@1700000000000", fromSpec{kind: fromTimestamp, n: 1700000000000}, false},
		{"@", fromSpec{}, true},
		{"@-1", fromSpec{}, true},
		{"soon", fromSpec{}, true},
	}
	for _, tt := range tests {
		got, err := parseFrom(tt.in)
		if tt.bad {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("parseFrom(%q) = %v, want ErrInvalidArgument", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseFrom(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestStartOffset(t *testing.T) {
	// A partition holding offsets [10, 20).
	const logStart, hw = 10, 20
	tests := []struct {
		from   fromSpec
		byTime int64
		want   int64
	}{
		{fromSpec{kind: fromBeginning}, -1, 10},
		{fromSpec{kind: fromEnd}, -1, 20},
		{fromSpec{kind: fromOffset, n: 15}, -1, 15},
		{fromSpec{kind: fromOffset, n: 3}, -1, 10},  // below log start: clamped up
		{fromSpec{kind: fromOffset, n: 99}, -1, 20}, // past the end: clamped down
		{fromSpec{kind: fromEndMinus, n: 4}, -1, 16},
		{fromSpec{kind: fromEndMinus, n: 40}, -1, 10},
		{fromSpec{kind: fromTimestamp, n: 5}, 12, 12},
		{fromSpec{kind: fromTimestamp, n: 5}, -1, 20}, // no record that late
	}
	for _, tt := range tests {
		if got := tt.from.startOffset(logStart, hw, tt.byTime); got != tt.want {
			t.Errorf("%+v (byTime %d): got %d, want %d", tt.from, tt.byTime, got, tt.want)
		}
	}
}
