package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateTopicValue(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{"retention.ms", "1000", true},
		{"retention.ms", "-1", true},
		{"retention.ms", "-2", false},
		{"retention.ms", "soon", false},
		{"segment.bytes", "13", false},
		{"segment.bytes", "1048576", true},
		{"cleanup.policy", "delete", true},
		{"cleanup.policy", "compact", false},
		{"unclean.leader.election.enable", "true", true},
		{"unclean.leader.election.enable", "yes", false},
		{"min.insync.replicas", "0", false},
		{"no.such.config", "1", false},
	} {
		err := ValidateTopicValue(tc.name, tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("%s=%s: err=%v, want ok=%v", tc.name, tc.value, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s=%s: error %v is not ErrInvalidConfig", tc.name, tc.value, err)
		}
	}
}

func TestResolveTopicPrecedence(t *testing.T) {
	b, err := NewBroker(map[string]string{"log.retention.hours": "1", "log.segment.bytes": "2048", "min.insync.replicas": "2"})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := b.ResolveTopic(map[string]string{"segment.bytes": "4096"})
	if err != nil {
		t.Fatal(err)
	}
	if tc.RetentionMs != 3_600_000 || tc.SegmentBytes != 4096 || tc.MinInsyncReplicas != 2 || tc.MaxMessageBytes != 1048588 {
		t.Fatalf("resolved %+v", tc)
	}
	if tc.FileDeleteDelay != time.Minute {
		t.Fatalf("file delete delay %v", tc.FileDeleteDelay)
	}
	src := map[string]Source{}
	for _, v := range b.TopicValues(map[string]string{"segment.bytes": "4096"}) {
		src[v.Key.Name] = v.Source
	}
	if src["segment.bytes"] != SourceTopic || src["retention.ms"] != SourceStaticBroker || src["retention.bytes"] != SourceDefault {
		t.Fatalf("sources %v", src)
	}
	// log.retention.ms wins over hours, as in Kafka.
	b2, _ := NewBroker(map[string]string{"log.retention.hours": "1", "log.retention.ms": "5"})
	tc2, _ := b2.ResolveTopic(nil)
	if tc2.RetentionMs != 5 {
		t.Fatalf("retention.ms %d, want 5", tc2.RetentionMs)
	}
}

func TestNewBrokerRejectsUnknownAndBadValues(t *testing.T) {
	for _, s := range []map[string]string{
		{"num.partition": "3"},
		{"num.partitions": "0"},
		{"auto.create.topics.enable": "maybe"},
		{"log.cleanup.policy": "compact"},
	} {
		if _, err := NewBroker(s); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%v: err=%v, want ErrInvalidConfig", s, err)
		}
	}
	b := DefaultBroker()
	if b.NumPartitions != 1 || !b.AutoCreateTopics || b.SocketRequestMaxBytes != 104857600 || b.ReplicaLagTimeMax != 30*time.Second {
		t.Fatalf("defaults %+v", b)
	}
}

func TestParseProperties(t *testing.T) {
	props, err := ParseProperties(strings.NewReader("# comment\n\nnum.partitions=3\nlog.retention.ms : 100\n! other\n"))
	if err != nil {
		t.Fatal(err)
	}
	if props["num.partitions"] != "3" || props["log.retention.ms"] != "100" || len(props) != 2 {
		t.Fatalf("props %v", props)
	}
	if _, err := ParseProperties(strings.NewReader("novalue\n")); err == nil {
		t.Fatal("line without = accepted")
	}
	if _, err := LoadBroker("", []string{"num.partitions=4", "num.partitions=6"}); err != nil {
		t.Fatal(err)
	}
	b, _ := LoadBroker("", []string{"num.partitions=4", "num.partitions=6"})
	if b.NumPartitions != 6 {
		t.Fatalf("later override should win, got %d", b.NumPartitions)
	}
}
