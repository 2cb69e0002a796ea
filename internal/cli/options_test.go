package cli

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestOptionsBrokers(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
	}{
		{nil, []string{DefaultBrokers}},
		{[]string{""}, []string{DefaultBrokers}},
		{[]string{"a:1"}, []string{"a:1"}},
		{[]string{"a:1, b:2", "c:3"}, []string{"a:1", "b:2", "c:3"}},
	}
	for _, tt := range tests {
		if got := (Options{Brokers: tt.in}).brokers(); !slices.Equal(got, tt.want) {
			t.Errorf("brokers(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestProducerOpts(t *testing.T) {
	tests := []struct {
		acks       string
		idempotent *bool
		ok         bool
	}{
		{"all", nil, true},
		{"-1", ptr(true), true},
		{"all", ptr(false), true},
		{"1", nil, true},
		{"0", ptr(false), true},
		{"1", ptr(true), false},
		{"0", ptr(true), false},
		{"3", nil, false},
	}
	for _, tt := range tests {
		_, err := producerOpts(tt.acks, tt.idempotent, "none")
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidArgument)) {
			t.Errorf("acks=%s idempotent=%v: %v", tt.acks, tt.idempotent, err)
		}
	}
	if _, err := producerOpts("all", nil, "brotli"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("unknown compression: %v", err)
	}
}

func TestKgoLogger(t *testing.T) {
	if l := newKgoLogger(zerolog.Logger{}); l.Level() != kgo.LogLevelNone {
		t.Errorf("zero logger: kgo level %v", l.Level())
	}
	if l := newKgoLogger(zerolog.Nop()); l.Level() != kgo.LogLevelNone {
		t.Errorf("nop logger: kgo level %v", l.Level())
	}
	var buf bytes.Buffer
	levels := map[zerolog.Level]kgo.LogLevel{
		zerolog.TraceLevel: kgo.LogLevelDebug,
		zerolog.DebugLevel: kgo.LogLevelInfo,
		zerolog.InfoLevel:  kgo.LogLevelWarn,
		zerolog.WarnLevel:  kgo.LogLevelWarn,
		zerolog.ErrorLevel: kgo.LogLevelError,
		zerolog.FatalLevel: kgo.LogLevelNone,
	}
	for zl, want := range levels {
		if got := newKgoLogger(zerolog.New(&buf).Level(zl)).Level(); got != want {
			t.Errorf("zerolog %v: kgo level %v, want %v", zl, got, want)
		}
	}
	newKgoLogger(zerolog.New(&buf).Level(zerolog.DebugLevel)).Log(kgo.LogLevelInfo, "connected", "broker", 1)
	if s := buf.String(); !strings.Contains(s, `"level":"debug"`) || !strings.Contains(s, `"broker":1`) || !strings.Contains(s, `"message":"connected"`) {
		t.Errorf("kgo info logged as %q", s)
	}
}
