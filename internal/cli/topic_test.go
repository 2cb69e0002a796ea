package cli

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestTopicLifecycle(t *testing.T) {
	opts := newCluster(t, 3)
	ctx := testCtx(t)
	run := func(name string, fn func(*bytes.Buffer) error) string {
		t.Helper()
		var out bytes.Buffer
		if err := fn(&out); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return out.String()
	}

	out := run("create", func(w *bytes.Buffer) error {
		return CreateTopic(ctx, opts, CreateTopicConfig{Name: "orders", Partitions: 4, ReplicationFactor: 3,
			Configs: []string{"retention.ms=60000", "cleanup.policy=delete"}}, w)
	})
	if out != "created topic orders (partitions 4, replication factor 3)\n" {
		t.Fatalf("create printed %q", out)
	}
	run("create second", func(w *bytes.Buffer) error {
		return CreateTopic(ctx, opts, CreateTopicConfig{Name: "audit", Partitions: 1, ReplicationFactor: 1}, w)
	})

	err := CreateTopic(ctx, opts, CreateTopicConfig{Name: "orders", Partitions: 1, ReplicationFactor: 1}, &bytes.Buffer{})
	if !errors.Is(err, kerr.TopicAlreadyExists) || !strings.Contains(err.Error(), "TOPIC_ALREADY_EXISTS") {
		t.Fatalf("duplicate create: %v, want TOPIC_ALREADY_EXISTS", err)
	}
	if err := CreateTopic(ctx, opts, CreateTopicConfig{Name: "bad", Partitions: 1, ReplicationFactor: 1, Configs: []string{"retention.ms"}}, &bytes.Buffer{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("config without '=': %v", err)
	}

	if out := run("list", func(w *bytes.Buffer) error { return ListTopics(ctx, opts, w) }); out != "audit\norders\n" {
		t.Fatalf("list printed %q", out)
	}

	desc := run("describe", func(w *bytes.Buffer) error {
		return DescribeTopics(ctx, opts, DescribeTopicsConfig{Names: []string{"orders"}}, w)
	})
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^Topic: orders\s+ID: \S+\s+Partitions: 4\s+ReplicationFactor: 3$`),
		regexp.MustCompile(`(?m)^  Partition: 0\s+Leader: \d\s+LeaderEpoch: \d+\s+Replicas: \d,\d,\d\s+ISR: \d,\d,\d\s+Offline: -$`),
		regexp.MustCompile(`(?m)^  Partition: 3\s`),
		regexp.MustCompile(`(?m)^    retention.ms=60000\s+\(dynamic_topic_config\)$`),
		regexp.MustCompile(`(?m)^    cleanup.policy=delete\s`),
	} {
		if !want.MatchString(desc) {
			t.Errorf("describe output lacks %v:\n%s", want, desc)
		}
	}
	if strings.Contains(desc, "segment.bytes") {
		t.Errorf("describe shows a default config:\n%s", desc)
	}
	all := run("describe all", func(w *bytes.Buffer) error {
		return DescribeTopics(ctx, opts, DescribeTopicsConfig{Names: []string{"orders"}, AllConfigs: true}, w)
	})
	if !strings.Contains(all, "segment.bytes=") {
		t.Errorf("describe --all-configs lacks defaults:\n%s", all)
	}

	run("alter", func(w *bytes.Buffer) error {
		return AlterTopicConfigs(ctx, opts, AlterTopicConfig{Name: "orders", Set: []string{"retention.ms=1000", "max.message.bytes=2048"}, Delete: []string{"cleanup.policy"}}, w)
	})
	desc = run("describe after alter", func(w *bytes.Buffer) error {
		return DescribeTopics(ctx, opts, DescribeTopicsConfig{Names: []string{"orders"}}, w)
	})
	if !strings.Contains(desc, "retention.ms=1000") || !strings.Contains(desc, "max.message.bytes=2048") || strings.Contains(desc, "cleanup.policy") {
		t.Fatalf("alter not reflected:\n%s", desc)
	}
	if err := AlterTopicConfigs(ctx, opts, AlterTopicConfig{Name: "orders"}, &bytes.Buffer{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty alter: %v", err)
	}
	err = AlterTopicConfigs(ctx, opts, AlterTopicConfig{Name: "nosuch", Set: []string{"retention.ms=1"}}, &bytes.Buffer{})
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("alter of a missing topic: %v", err)
	}

	// describe reports what it can and fails for the missing one.
	var partial bytes.Buffer
	err = DescribeTopics(ctx, opts, DescribeTopicsConfig{Names: []string{"nosuch", "audit"}}, &partial)
	if !errors.Is(err, kerr.UnknownTopicOrPartition) || !strings.Contains(err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("describe of a missing topic: %v", err)
	}
	if !strings.Contains(partial.String(), "Topic: audit") {
		t.Fatalf("describe skipped the topic that exists:\n%s", partial.String())
	}

	if out := run("delete", func(w *bytes.Buffer) error { return DeleteTopics(ctx, opts, []string{"orders"}, w) }); out != "deleted topic orders\n" {
		t.Fatalf("delete printed %q", out)
	}
	if out := run("list after delete", func(w *bytes.Buffer) error { return ListTopics(ctx, opts, w) }); out != "audit\n" {
		t.Fatalf("list after delete printed %q", out)
	}
	err = DeleteTopics(ctx, opts, []string{"orders"}, &bytes.Buffer{})
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("deleting twice: %v", err)
	}
}

func TestAdminErrorsWhenNoBroker(t *testing.T) {
	opts := Options{Brokers: []string{"127.0.0.1:1"}, Timeout: 300 * 1e6}
	if err := ListTopics(testCtx(t), opts, &bytes.Buffer{}); err == nil {
		t.Fatal("list against no broker succeeded")
	}
}
