package gateway_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicConfigs describes a topic's configs (DescribeConfigs v4, synonyms).
func topicConfigs(t *testing.T, b *testBroker, topic string) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.SetVersion(4)
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	req.Resources = append(req.Resources, rr)
	resp := do[*kmsg.DescribeConfigsResponse](t, b, req)
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		t.Fatalf("describe configs of %s: %v", topic, err)
	}
	m := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		m[c.Name] = c
	}
	return m
}

func value(c kmsg.DescribeConfigsResponseResourceConfig) string {
	if c.Value == nil {
		return "<nil>"
	}
	return *c.Value
}

// produceErr produces one record of size bytes and returns the error.
func produceErr(t *testing.T, b *testBroker, topic string, size int) error {
	t.Helper()
	_, err := produce(t, b.raw(t), topic, 0, strings.Repeat("z", size))
	return err
}

// TestConfigsTakeEffect: DescribeConfigs shows overrides, broker settings
// and defaults with their sources; AlterConfigs replaces the overrides and
// IncrementalAlterConfigs edits them, and the partition applies the new
// values (max.message.bytes lowered → MESSAGE_TOO_LARGE, raised again →
// accepted); bad names and values are INVALID_CONFIG and change nothing.
func TestConfigsTakeEffect(t *testing.T) {
	b := startBroker(t, "log.retention.hours=48")
	createTopic(t, b, "cfg", 1, map[string]*string{"max.message.bytes": kmsg.StringPtr("100000")})
	adm := b.admin(t)
	ctx := ctxFor(t, 60*time.Second)

	cfg := topicConfigs(t, b, "cfg")
	if c := cfg["max.message.bytes"]; value(c) != "100000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("max.message.bytes: %q source %v", value(c), c.Source)
	}
	if c := cfg["retention.ms"]; value(c) != "172800000" || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Errorf("retention.ms from log.retention.hours=48: %q source %v", value(c), c.Source)
	}
	if c := cfg["segment.bytes"]; value(c) != "1073741824" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("segment.bytes: %q source %v", value(c), c.Source)
	}
	if err := produceErr(t, b, "cfg", 50000); err != nil {
		t.Fatalf("50 kB record under max.message.bytes 100000: %v", err)
	}

	// IncrementalAlterConfigs SET lowers the limit; it applies.
	alter := func(ops ...kadm.AlterConfig) error {
		t.Helper()
		resp, err := adm.AlterTopicConfigs(ctx, ops, "cfg")
		if err != nil {
			t.Fatal(err)
		}
		return resp[0].Err
	}
	if err := alter(kadm.AlterConfig{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kmsg.StringPtr("2000")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if err := produceErr(t, b, "cfg", 5000); err != kerr.MessageTooLarge {
			return errorf("5 kB record after max.message.bytes=2000: %v", err)
		}
		return nil
	})
	if err := produceErr(t, b, "cfg", 1000); err != nil {
		t.Fatalf("1 kB record under max.message.bytes=2000: %v", err)
	}
	if c := topicConfigs(t, b, "cfg")["max.message.bytes"]; value(c) != "2000" {
		t.Errorf("described as %q after the change", value(c))
	}

	// Invalid changes are refused and change nothing.
	for _, op := range []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kmsg.StringPtr("-5")},
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("tomorrow")},
		{Op: kadm.SetConfig, Name: "no.such.thing", Value: kmsg.StringPtr("1")},
		{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("compact")},
		{Op: kadm.AppendConfig, Name: "retention.ms", Value: kmsg.StringPtr("1")},
	} {
		if err := alter(op); err != kerr.InvalidConfig {
			t.Errorf("%v %s=%v: %v, want INVALID_CONFIG", op.Op, op.Name, *op.Value, err)
		}
	}
	if c := topicConfigs(t, b, "cfg")["max.message.bytes"]; value(c) != "2000" {
		t.Errorf("a refused change altered max.message.bytes to %q", value(c))
	}

	// DELETE returns the config to its default; the limit is lifted.
	if err := alter(kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "max.message.bytes"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error { return produceErr(t, b, "cfg", 5000) })
	if c := topicConfigs(t, b, "cfg")["max.message.bytes"]; value(c) != "1048588" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("after DELETE: %q source %v", value(c), c.Source)
	}

	// AlterConfigs (the legacy, replacing API): what it names is set,
	// everything else returns to defaults.
	legacy := func(validateOnly bool, kv ...string) int16 {
		req := kmsg.NewPtrAlterConfigsRequest()
		req.SetVersion(2)
		req.ValidateOnly = validateOnly
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "cfg"
		for i := 0; i+1 < len(kv); i += 2 {
			c := kmsg.NewAlterConfigsRequestResourceConfig()
			c.Name, c.Value = kv[i], kmsg.StringPtr(kv[i+1])
			rr.Configs = append(rr.Configs, c)
		}
		req.Resources = append(req.Resources, rr)
		return do[*kmsg.AlterConfigsResponse](t, b, req).Resources[0].ErrorCode
	}
	if code := legacy(false, "max.message.bytes", "1500", "retention.ms", "3600000"); code != 0 {
		t.Fatalf("AlterConfigs: %v", kerr.ErrorForCode(code))
	}
	eventually(t, 10*time.Second, func() error {
		if err := produceErr(t, b, "cfg", 3000); err != kerr.MessageTooLarge {
			return errorf("3 kB record after AlterConfigs max.message.bytes=1500: %v", err)
		}
		return nil
	})
	if code := legacy(true, "max.message.bytes", "100"); code != 0 {
		t.Fatalf("AlterConfigs validate_only: %v", kerr.ErrorForCode(code))
	}
	if code := legacy(false, "max.message.bytes", "oops"); code != kerr.InvalidConfig.Code {
		t.Fatalf("AlterConfigs with a bad value: %v", kerr.ErrorForCode(code))
	}
	cfg = topicConfigs(t, b, "cfg")
	if value(cfg["max.message.bytes"]) != "1500" || value(cfg["retention.ms"]) != "3600000" {
		t.Errorf("after AlterConfigs: max.message.bytes %q retention.ms %q", value(cfg["max.message.bytes"]), value(cfg["retention.ms"]))
	}
	if code := legacy(false, "retention.ms", "7200000"); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	eventually(t, 10*time.Second, func() error { return produceErr(t, b, "cfg", 3000) }) // max.message.bytes back to default
	if c := topicConfigs(t, b, "cfg")["max.message.bytes"]; c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("AlterConfigs without max.message.bytes left it at %q (source %v)", value(c), c.Source)
	}

}

// TestConfigsOfUnknownTopic: describing or altering the configs of a topic
// that does not exist is UNKNOWN_TOPIC_OR_PARTITION, and writes nothing a
// topic created later under that name would inherit; a deleted topic's
// overrides do not outlive it either.
func TestConfigsOfUnknownTopic(t *testing.T) {
	b := startBroker(t, "auto.create.topics.enable=false")
	adm := b.admin(t)
	ctx := ctxFor(t, 60*time.Second)
	set := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("1234")}}
	if resp, err := adm.AlterTopicConfigs(ctx, set, "later"); err != nil || resp[0].Err != kerr.UnknownTopicOrPartition {
		t.Errorf("IncrementalAlterConfigs of an unknown topic: %v %+v", err, resp)
	}
	if resp, err := adm.AlterTopicConfigsState(ctx, set, "later"); err != nil || resp[0].Err != kerr.UnknownTopicOrPartition {
		t.Errorf("AlterConfigs of an unknown topic: %v %+v", err, resp)
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "later"
	req.Resources = append(req.Resources, rr)
	if code := do[*kmsg.DescribeConfigsResponse](t, b, req).Resources[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("DescribeConfigs of an unknown topic: %v", kerr.ErrorForCode(code))
	}
	createTopic(t, b, "later", 1, nil)
	if c := topicConfigs(t, b, "later")["retention.ms"]; c.Source == kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("a new topic inherited retention.ms=%s set before it existed", value(c))
	}

	// Overrides die with their topic.
	createTopic(t, b, "reborn", 1, map[string]*string{"retention.ms": kmsg.StringPtr("4321")})
	if resp, err := adm.DeleteTopics(ctx, "reborn"); err != nil || resp.Error() != nil {
		t.Fatalf("delete: %v %v", err, resp.Error())
	}
	createTopic(t, b, "reborn", 1, nil)
	if c := topicConfigs(t, b, "reborn")["retention.ms"]; c.Source == kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("a recreated topic inherited its predecessor's retention.ms=%s", value(c))
	}
}

// TestDescribeBrokerConfigs: the broker's own settings, with sources.
func TestDescribeBrokerConfigs(t *testing.T) {
	b := startBroker(t, "num.partitions=7")
	req := kmsg.NewPtrDescribeConfigsRequest()
	for _, name := range []string{"1", ""} {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, name
		req.Resources = append(req.Resources, rr)
	}
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, "2"
	req.Resources = append(req.Resources, rr)
	for v := int16(0); v <= 4; v++ {
		req.SetVersion(v)
		resp := do[*kmsg.DescribeConfigsResponse](t, b, req)
		for i, res := range resp.Resources[:2] {
			if res.ErrorCode != 0 {
				t.Fatalf("v%d resource %d: %v", v, i, kerr.ErrorForCode(res.ErrorCode))
			}
			found := false
			for _, c := range res.Configs {
				if c.Name == "num.partitions" {
					found = value(c) == "7" && c.ReadOnly
				}
			}
			if !found {
				t.Errorf("v%d: num.partitions=7 not described", v)
			}
		}
		if resp.Resources[2].ErrorCode == 0 {
			t.Errorf("v%d: broker 1 described broker 2", v)
		}
	}
}

// TestRetentionTakesEffect: retention.bytes set on a topic removes its
// oldest segments; the log start moves, a fetch below it is
// OFFSET_OUT_OF_RANGE, and a consumer starting at the earliest offset reads
// what is left.
func TestRetentionTakesEffect(t *testing.T) {
	b := startBroker(t, "log.retention.check.interval.ms=50")
	createTopic(t, b, "ret", 1, map[string]*string{"segment.bytes": kmsg.StringPtr("2048")})
	c := b.raw(t)
	for i := range 100 {
		mustProduce(t, c, "ret", 0, fmt.Sprintf("%03d-%s", i, strings.Repeat("r", 100)))
	}
	if p := listOffset(t, c, 7, "ret", 0, -2); p.Offset != 0 {
		t.Fatalf("log start %d before retention applies", p.Offset)
	}
	resp, err := b.admin(t).AlterTopicConfigs(ctxFor(t, 10*time.Second),
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: kmsg.StringPtr("4096")}}, "ret")
	if err != nil || resp[0].Err != nil {
		t.Fatalf("set retention.bytes: %v %v", err, resp)
	}
	var start int64
	eventually(t, 10*time.Second, func() error {
		start = listOffset(t, c, 7, "ret", 0, -2).Offset
		if start < 50 {
			return errorf("log start %d: retention.bytes=4096 not applied", start)
		}
		return nil
	})
	if p, _ := fetch(t, c, fetchReq("ret", 0, 0, 0, 1)); p.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch at 0 after retention: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	p, recs := fetch(t, c, fetchReq("ret", 0, start, 0, 1))
	if p.ErrorCode != 0 || len(recs) == 0 || recs[0].Offset != start || string(recs[0].Value[:3]) != fmt.Sprintf("%03d", start) {
		t.Fatalf("fetch at the new log start %d: %v, %d records", start, kerr.ErrorForCode(p.ErrorCode), len(recs))
	}
	if off := mustProduce(t, c, "ret", 0, "after"); off != 100 {
		t.Fatalf("produce after retention at %d, want 100", off)
	}
}
