package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
)

func TestNewRejectsUnknownLevelAndFormat(t *testing.T) {
	if _, err := New(&bytes.Buffer{}, "loud", FormatJSON); err == nil {
		t.Fatal("unknown level accepted")
	}
	if _, err := New(&bytes.Buffer{}, "info", "xml"); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func TestAutoFormatIsJSONOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "debug", FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Str("topic", "t").Int32("partition", 3).Msg("hello")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not JSON: %q: %v", buf.String(), err)
	}
	if rec["message"] != "hello" || rec["topic"] != "t" || rec["partition"] != float64(3) || rec["level"] != "info" {
		t.Fatalf("unexpected record %v", rec)
	}
}

func TestSlogHandlerRoutesIntoZerolog(t *testing.T) {
	var buf bytes.Buffer
	zl, err := New(&buf, "info", FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	sl := slog.New(NewSlogHandler(zl)).With("system", "s1").WithGroup("remote")
	sl.Debug("dropped below level")
	sl.Warn("endpoint lost", "address", "127.0.0.1:1", "err", errors.New("boom"), slog.Group("retry", "n", 3))
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 1 {
		t.Fatalf("want exactly one record (debug filtered), got %d: %q", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal(lines[0], &rec); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"level": "warn", "message": "endpoint lost", "system": "s1",
		"remote.address": "127.0.0.1:1", "remote.err": "boom", "remote.retry.n": float64(3)}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("field %s = %v, want %v (record %v)", k, rec[k], v, rec)
		}
	}
}
