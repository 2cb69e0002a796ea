package gateway_test

import (
	"errors"
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

// TestDescribeBrokerConfigs: the broker's own settings, with sources;
// another broker's id is refused; the empty name lists only the
// cluster-wide dynamic defaults (none here).
func TestDescribeBrokerConfigs(t *testing.T) {
	b := startBroker(t, "num.partitions=7")
	req := kmsg.NewPtrDescribeConfigsRequest()
	for _, name := range []string{"1", "", "2"} {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, name
		req.Resources = append(req.Resources, rr)
	}
	for v := int16(0); v <= 4; v++ {
		req.SetVersion(v)
		resp := do[*kmsg.DescribeConfigsResponse](t, b, req)
		if res := resp.Resources[0]; res.ErrorCode != 0 {
			t.Fatalf("v%d: %v", v, kerr.ErrorForCode(res.ErrorCode))
		}
		got := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
		for _, c := range resp.Resources[0].Configs {
			got[c.Name] = c
		}
		if c := got["num.partitions"]; value(c) != "7" || !c.ReadOnly {
			t.Errorf("v%d: num.partitions %s read-only %v, want 7 read-only", v, value(c), c.ReadOnly)
		}
		if c := got["follower.replication.throttled.rate"]; c.ReadOnly || value(c) != "9223372036854775807" {
			t.Errorf("v%d: follower.replication.throttled.rate %s read-only %v, want unlimited and dynamic", v, value(c), c.ReadOnly)
		}
		if res := resp.Resources[1]; res.ErrorCode != 0 || len(res.Configs) != 0 {
			t.Errorf("v%d: cluster default: %v, %d configs, want none set", v, kerr.ErrorForCode(res.ErrorCode), len(res.Configs))
		}
		if resp.Resources[2].ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("v%d: broker 1 described broker 2: %v", v, kerr.ErrorForCode(resp.Resources[2].ErrorCode))
		}
	}
}

func brokerConfigs(t *testing.T, b *testBroker, name string) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.SetVersion(4)
	req.IncludeSynonyms = true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, name
	req.Resources = append(req.Resources, rr)
	resp := do[*kmsg.DescribeConfigsResponse](t, b, req)
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		t.Fatalf("describe broker %q: %v", name, err)
	}
	m := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		m[c.Name] = c
	}
	return m
}

// alterBroker sends one IncrementalAlterConfigs on a broker resource.
func alterBroker(t *testing.T, b *testBroker, name string, op kmsg.IncrementalAlterConfigOp, key string, val *string) error {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, name
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = key, op, val
	rr.Configs = append(rr.Configs, c)
	req.Resources = append(req.Resources, rr)
	resp := do[*kmsg.IncrementalAlterConfigsResponse](t, b, req)
	return kerr.ErrorForCode(resp.Resources[0].ErrorCode)
}

// TestDynamicBrokerConfigs: Kafka's dynamic broker configs. A setting
// Kafka marks dynamic can be set for one broker or as the cluster default,
// through IncrementalAlterConfigs and AlterConfigs; the broker applies it
// from ZooKeeper's change notification without a restart (with the source
// DescribeConfigs reports, the per-broker value winning), topic defaults
// among them (log.retention.bytes here removes old segments); read-only,
// unknown and badly valued settings are INVALID_REQUEST.
func TestDynamicBrokerConfigs(t *testing.T) {
	b := startBroker(t, "log.retention.check.interval.ms=50")
	for _, bad := range []struct{ key, val string }{
		{"num.partitions", "3"}, {"no.such.setting", "1"}, {"follower.replication.throttled.rate", "fast"},
	} {
		if err := alterBroker(t, b, "1", kmsg.IncrementalAlterConfigOpSet, bad.key, kmsg.StringPtr(bad.val)); !errors.Is(err, kerr.InvalidRequest) {
			t.Errorf("SET %s=%s: %v, want INVALID_REQUEST", bad.key, bad.val, err)
		}
	}
	if err := alterBroker(t, b, "one", kmsg.IncrementalAlterConfigOpSet, "log.retention.ms", kmsg.StringPtr("1")); !errors.Is(err, kerr.InvalidRequest) {
		t.Errorf("broker resource \"one\": %v, want INVALID_REQUEST", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(alterBroker(t, b, "1", kmsg.IncrementalAlterConfigOpSet, "follower.replication.throttled.rate", kmsg.StringPtr("1000")))
	must(alterBroker(t, b, "", kmsg.IncrementalAlterConfigOpSet, "log.retention.ms", kmsg.StringPtr("86400000")))
	eventually(t, 10*time.Second, func() error {
		got := brokerConfigs(t, b, "1")
		if c := got["follower.replication.throttled.rate"]; value(c) != "1000" || c.Source != kmsg.ConfigSourceDynamicBrokerConfig {
			return errorf("follower rate %s from %v", value(c), c.Source)
		}
		if c := got["log.retention.ms"]; value(c) != "86400000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
			return errorf("log.retention.ms %s from %v", value(c), c.Source)
		}
		return nil
	})
	if def := brokerConfigs(t, b, ""); len(def) != 1 || value(def["log.retention.ms"]) != "86400000" {
		t.Fatalf("cluster defaults %v", def)
	}
	// The per-broker value wins over the cluster default, for topics too.
	createTopic(t, b, "dyn", 1, map[string]*string{"segment.bytes": kmsg.StringPtr("2048")})
	must(alterBroker(t, b, "1", kmsg.IncrementalAlterConfigOpSet, "log.retention.ms", kmsg.StringPtr("3600000")))
	eventually(t, 10*time.Second, func() error {
		c := topicConfigs(t, b, "dyn")["retention.ms"]
		if value(c) != "3600000" || c.Source != kmsg.ConfigSourceDynamicBrokerConfig {
			return errorf("topic retention.ms %s from %v", value(c), c.Source)
		}
		var levels []kmsg.ConfigSource
		for _, sy := range c.ConfigSynonyms {
			levels = append(levels, sy.Source)
		}
		if len(levels) != 3 || levels[0] != kmsg.ConfigSourceDynamicBrokerConfig || levels[1] != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
			return errorf("synonyms %v", levels)
		}
		return nil
	})
	// A dynamic topic default reaches the replicas: retention by size.
	conn := b.raw(t)
	for i := range 100 {
		mustProduce(t, conn, "dyn", 0, fmt.Sprintf("%03d-%s", i, strings.Repeat("d", 100)))
	}
	adm := b.admin(t)
	ac, err := adm.AlterBrokerConfigs(ctxFor(t, 10*time.Second),
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.bytes", Value: kmsg.StringPtr("4096")}})
	if err != nil || ac[0].Err != nil {
		t.Fatalf("set the cluster default log.retention.bytes: %v %v", err, ac)
	}
	eventually(t, 10*time.Second, func() error {
		if start := listOffset(t, conn, 7, "dyn", 0, -2).Offset; start < 50 {
			return errorf("log start %d: dynamic log.retention.bytes=4096 not applied", start)
		}
		return nil
	})
	// DELETE returns to the static value; AlterConfigs replaces the set.
	must(alterBroker(t, b, "1", kmsg.IncrementalAlterConfigOpDelete, "follower.replication.throttled.rate", nil))
	eventually(t, 10*time.Second, func() error {
		if c := brokerConfigs(t, b, "1")["follower.replication.throttled.rate"]; c.Source != kmsg.ConfigSourceDefaultConfig {
			return errorf("follower rate %s from %v after DELETE", value(c), c.Source)
		}
		return nil
	})
	legacy := kmsg.NewPtrAlterConfigsRequest()
	lr := kmsg.NewAlterConfigsRequestResource()
	lr.ResourceType, lr.ResourceName = kmsg.ConfigResourceTypeBroker, ""
	lc := kmsg.NewAlterConfigsRequestResourceConfig()
	lc.Name, lc.Value = "num.concurrent.partition.movements.per.broker", kmsg.StringPtr("2")
	lr.Configs = append(lr.Configs, lc)
	legacy.Resources = append(legacy.Resources, lr)
	if resp := do[*kmsg.AlterConfigsResponse](t, b, legacy); resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("AlterConfigs on the cluster default: %v", kerr.ErrorForCode(resp.Resources[0].ErrorCode))
	}
	eventually(t, 10*time.Second, func() error {
		def := brokerConfigs(t, b, "")
		if len(def) != 1 || value(def["num.concurrent.partition.movements.per.broker"]) != "2" {
			return errorf("cluster defaults after AlterConfigs: %v", def)
		}
		return nil
	})
}

// TestThrottledReplicasList: the topic configs naming throttled replicas
// are lists: validated, and edited by APPEND and SUBTRACT.
func TestThrottledReplicasList(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "thr", 2, nil)
	adm := b.admin(t)
	alter := func(op kadm.IncrementalOp, v string) error {
		resp, err := adm.AlterTopicConfigs(ctxFor(t, 10*time.Second),
			[]kadm.AlterConfig{{Op: op, Name: "leader.replication.throttled.replicas", Value: kmsg.StringPtr(v)}}, "thr")
		if err != nil {
			return err
		}
		return resp[0].Err
	}
	for _, step := range []struct {
		op kadm.IncrementalOp
		v  string
	}{{kadm.AppendConfig, "0:1"}, {kadm.AppendConfig, "1:1,0:1"}, {kadm.SubtractConfig, "0:1"}} {
		if err := alter(step.op, step.v); err != nil {
			t.Fatalf("%v %s: %v", step.op, step.v, err)
		}
	}
	if c := topicConfigs(t, b, "thr")["leader.replication.throttled.replicas"]; value(c) != "1:1" || c.ConfigType != kmsg.ConfigTypeList {
		t.Fatalf("list after APPEND, APPEND, SUBTRACT: %s (%v)", value(c), c.ConfigType)
	}
	for _, bad := range []string{"1", "a:b", "0:1:2"} {
		if err := alter(kadm.SetConfig, bad); !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("SET %q: %v, want INVALID_CONFIG", bad, err)
		}
	}
	if err := alter(kadm.SetConfig, "*"); err != nil {
		t.Fatalf("SET *: %v", err)
	}
	resp, err := adm.AlterTopicConfigs(ctxFor(t, 10*time.Second),
		[]kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "retention.ms", Value: kmsg.StringPtr("5")}}, "thr")
	if err != nil || !errors.Is(resp[0].Err, kerr.InvalidConfig) {
		t.Fatalf("APPEND to a single-valued config: %v %v", err, resp)
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
