package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// troupe runs the root command with args and returns stdout and stderr.
func troupe(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append(args, "--log-level", "warn", "--log-format", "json"))
	err := root.Execute()
	return out.String(), errOut.String(), err
}

// TestClientCommandsWiring checks that flags reach internal/cli: the
// commands' behavior is tested there.
func TestClientCommandsWiring(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	brokers := "--brokers=" + strings.Join(c.ListenAddrs(), ",")

	must := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := troupe(t, stdin, args...)
		if err != nil {
			t.Fatalf("troupe %v: %v (stderr %q)", args, err, errOut)
		}
		return out
	}
	if out := must("", "topic", "create", "t", "--partitions", "2", "--replication-factor", "1", "--config", "retention.ms=5000", brokers); !strings.Contains(out, "created topic t (partitions 2") {
		t.Fatalf("create: %q", out)
	}
	if out := must("", "topic", "list", brokers); out != "t\n" {
		t.Fatalf("list: %q", out)
	}
	must("", "topic", "alter-config", "t", "--set", "retention.ms=7000", brokers)
	if out := must("", "topic", "describe", "t", brokers); !strings.Contains(out, "Partitions: 2") || !strings.Contains(out, "retention.ms=7000") {
		t.Fatalf("describe: %q", out)
	}

	_, errOut, err := troupe(t, "a=1\nb=2\nc=3\n", "produce", "t", "--key-separator", "=", "--partition", "1", "--acks", "1", brokers)
	if err != nil || errOut != "produced 3 records to t\n" {
		t.Fatalf("produce: %v, stderr %q", err, errOut)
	}
	if out := must("", "consume", "t", "--partition", "1", "--from", "1", "--count", "1", "--format", `%p/%o %k=%v\n`, brokers); out != "1/1 b=2\n" {
		t.Fatalf("consume: %q", out)
	}
	if _, _, err := troupe(t, "x\n", "produce", "t", "--acks", "1", "--idempotent", brokers); err == nil {
		t.Fatal("--idempotent with --acks 1 accepted")
	}

	out := must("", "bench", "produce", "--topic", "b", "--records", "500", "--size", "64", "--partitions", "3", "--json", brokers)
	var res struct {
		Records    int64 `json:"records"`
		Partitions int   `json:"partitions"`
		RecordSize int   `json:"record_size"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Records != 500 || res.Partitions != 3 || res.RecordSize != 64 {
		t.Fatalf("bench produce --json: %q (%v)", out, err)
	}
	if out := must("", "bench", "consume", "--topic", "b", brokers); !strings.Contains(out, "records 500 (failed 0)") {
		t.Fatalf("bench consume: %q", out)
	}

	must("", "topic", "delete", "t", "b", brokers)
	if _, _, err := troupe(t, "", "topic", "describe", "t", brokers); err == nil || !strings.Contains(err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("describe after delete: %v", err)
	}
}
