package gateway_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataTopic asks for one topic's metadata (Metadata v12, no auto-create).
func metadataTopic(t *testing.T, b *testBroker, name string, version int16, autoCreate bool) kmsg.MetadataResponseTopic {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(version)
	req.AllowAutoTopicCreation = autoCreate
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(name)
	req.Topics = append(req.Topics, rt)
	resp := do[*kmsg.MetadataResponse](t, b, req)
	if len(resp.Topics) != 1 {
		t.Fatalf("metadata v%d for %s: %d topics", version, name, len(resp.Topics))
	}
	return resp.Topics[0]
}

// TestMetadata: brokers, controller, cluster id, topic ids (v10+, the ones
// CreateTopics v7 returned, by id in v12) and leaders, at every version.
func TestMetadata(t *testing.T) {
	b := startBroker(t)
	created := createTopic(t, b, "md", 3, nil)
	if created.ID == [16]byte{} {
		t.Fatal("CreateTopics returned no topic id")
	}
	for v := int16(0); v <= 12; v++ {
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(v)
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("md")
		req.Topics = append(req.Topics, rt)
		resp := do[*kmsg.MetadataResponse](t, b, req)
		if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 1 || resp.Brokers[0].Port != int32(b.Addr().Port) {
			t.Fatalf("v%d: brokers %+v", v, resp.Brokers)
		}
		if v >= 1 && resp.ControllerID != 1 {
			t.Errorf("v%d: controller %d", v, resp.ControllerID)
		}
		if v >= 2 && (resp.ClusterID == nil || *resp.ClusterID == "") {
			t.Errorf("v%d: no cluster id", v)
		}
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 3 {
			t.Fatalf("v%d: topics %+v", v, resp.Topics)
		}
		mt := resp.Topics[0]
		if v >= 10 && mt.TopicID != created.ID {
			t.Errorf("v%d: topic id %x, CreateTopics said %x", v, mt.TopicID, created.ID)
		}
		for _, p := range mt.Partitions {
			if p.ErrorCode != 0 || p.Leader != 1 || len(p.Replicas) != 1 || len(p.ISR) != 1 {
				t.Errorf("v%d: partition %+v", v, p)
			}
		}
	}
	// v12 by topic id; an unknown id is UNKNOWN_TOPIC_ID.
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	for _, id := range [][16]byte{created.ID, {1, 2, 3}} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.TopicID = id
		req.Topics = append(req.Topics, rt)
	}
	resp := do[*kmsg.MetadataResponse](t, b, req)
	if len(resp.Topics) != 2 {
		t.Fatalf("by id: %d topics", len(resp.Topics))
	}
	for _, mt := range resp.Topics {
		switch mt.TopicID {
		case created.ID:
			if mt.ErrorCode != 0 || mt.Topic == nil || *mt.Topic != "md" {
				t.Errorf("by id: %+v", mt)
			}
		default:
			if mt.ErrorCode != kerr.UnknownTopicID.Code {
				t.Errorf("unknown id: error %d", mt.ErrorCode)
			}
		}
	}
	// All topics: v1+ with a null topic list.
	all := kmsg.NewPtrMetadataRequest()
	all.SetVersion(9)
	if r := do[*kmsg.MetadataResponse](t, b, all); len(r.Topics) != 1 {
		t.Errorf("all topics: %d", len(r.Topics))
	}
}

// TestMetadataAutoCreate: an unknown topic is created with num.partitions
// when the request allows it (always before v4), not otherwise; names that
// cannot be topics are INVALID_TOPIC_EXCEPTION; auto.create.topics.enable
// false turns it off.
func TestMetadataAutoCreate(t *testing.T) {
	b := startBroker(t, "num.partitions=4")
	if mt := metadataTopic(t, b, "not-allowed", 12, false); mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("without allow_auto_topic_creation: error %d", mt.ErrorCode)
	}
	for _, c := range []struct {
		name    string
		version int16
		allow   bool
	}{{"auto-v12", 12, true}, {"auto-v4", 4, true}, {"auto-v1", 1, false}} {
		var mt kmsg.MetadataResponseTopic
		harness := func() error {
			mt = metadataTopic(t, b, c.name, c.version, c.allow)
			if mt.ErrorCode != 0 || len(mt.Partitions) != 4 {
				return errorf("%s: error %d, %d partitions", c.name, mt.ErrorCode, len(mt.Partitions))
			}
			return nil
		}
		eventually(t, 10*time.Second, harness)
		if c.version >= 10 && mt.TopicID == [16]byte{} {
			t.Errorf("%s: auto-created topic has no id", c.name)
		}
	}
	if mt := metadataTopic(t, b, "bad name!", 12, true); mt.ErrorCode != kerr.InvalidTopicException.Code {
		t.Errorf("invalid name: error %d", mt.ErrorCode)
	}
	// A producer relying on auto-creation works.
	cl := b.client(t, kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctxFor(t, 20*time.Second), &kgo.Record{Topic: "produced-auto", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	off := startBroker(t, "auto.create.topics.enable=false")
	if mt := metadataTopic(t, off, "never", 12, true); mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("auto.create.topics.enable=false: error %d", mt.ErrorCode)
	}
	if mt := metadataTopic(t, off, "never", 1, false); mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("auto.create.topics.enable=false, v1: error %d", mt.ErrorCode)
	}
}

func createReq(version int16, validateOnly bool, topics ...kmsg.CreateTopicsRequestTopic) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(version)
	req.TimeoutMillis, req.ValidateOnly, req.Topics = 10000, validateOnly, topics
	return req
}

func newTopic(name string, partitions int32, rf int16, configs ...string) kmsg.CreateTopicsRequestTopic {
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = name, partitions, rf
	for i := 0; i+1 < len(configs); i += 2 {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = configs[i], kmsg.StringPtr(configs[i+1])
		t.Configs = append(t.Configs, c)
	}
	return t
}

// TestCreateTopics: validate_only creates nothing; each invalid topic gets
// its own error while valid ones in the same request are created.
func TestCreateTopics(t *testing.T) {
	b := startBroker(t, "num.partitions=2")
	createTopic(t, b, "exists", 1, nil)

	vo := do[*kmsg.CreateTopicsResponse](t, b, createReq(7, true, newTopic("only-validated", 3, 1, "retention.ms", "1000")))
	if vo.Topics[0].ErrorCode != 0 || vo.Topics[0].NumPartitions != 3 {
		t.Fatalf("validate only: %+v", vo.Topics[0])
	}
	if mt := metadataTopic(t, b, "only-validated", 12, false); mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("validate_only created the topic (error %d)", mt.ErrorCode)
	}

	long := strings.Repeat("x", 250)
	req := createReq(7, false,
		newTopic("good", 3, 1, "retention.ms", "3600000"),
		newTopic("defaults", -1, -1),
		newTopic("bad name", 1, 1),
		newTopic("..", 1, 1),
		newTopic(long, 1, 1),
		newTopic("rf-too-big", 1, 2),
		newTopic("zero-partitions", 0, 1),
		newTopic("unknown-config", 1, 1, "no.such.config", "1"),
		newTopic("bad-config-value", 1, 1, "retention.ms", "soon"),
		newTopic("unsupported-config", 1, 1, "cleanup.policy", "compact"),
		newTopic("exists", 1, 1),
		newTopic("twice", 1, 1),
		newTopic("twice", 1, 1),
	)
	resp := do[*kmsg.CreateTopicsResponse](t, b, req)
	want := map[string]int16{
		"good": 0, "defaults": 0,
		"bad name": kerr.InvalidTopicException.Code, "..": kerr.InvalidTopicException.Code, long: kerr.InvalidTopicException.Code,
		"rf-too-big":         kerr.InvalidReplicationFactor.Code,
		"zero-partitions":    kerr.InvalidPartitions.Code,
		"unknown-config":     kerr.InvalidConfig.Code,
		"bad-config-value":   kerr.InvalidConfig.Code,
		"unsupported-config": kerr.InvalidConfig.Code,
		"exists":             kerr.TopicAlreadyExists.Code,
		"twice":              kerr.InvalidRequest.Code,
	}
	if len(resp.Topics) != len(req.Topics) {
		t.Fatalf("%d answers for %d topics", len(resp.Topics), len(req.Topics))
	}
	for _, rt := range resp.Topics {
		name := rt.Topic
		if len(name) > 20 {
			name = name[:20] + "…"
		}
		if rt.ErrorCode != want[rt.Topic] {
			t.Errorf("%s: error %v, want %v", name, kerr.ErrorForCode(rt.ErrorCode), kerr.ErrorForCode(want[rt.Topic]))
		}
		if rt.ErrorCode != 0 && rt.ErrorMessage == nil {
			t.Errorf("%s: error without a message", name)
		}
		switch rt.Topic {
		case "good":
			if rt.TopicID == [16]byte{} || rt.NumPartitions != 3 || rt.ReplicationFactor != 1 {
				t.Errorf("good: %+v", rt)
			}
			found := false
			for _, c := range rt.Configs {
				if c.Name == "retention.ms" && c.Value != nil && *c.Value == "3600000" {
					found = true
				}
			}
			if !found {
				t.Errorf("good: configs %+v lack retention.ms=3600000", rt.Configs)
			}
		case "defaults":
			if rt.NumPartitions != 2 || rt.ReplicationFactor != 1 {
				t.Errorf("defaults: %d partitions, rf %d", rt.NumPartitions, rt.ReplicationFactor)
			}
		}
	}
	for name, code := range want {
		mt := metadataTopic(t, b, name, 12, false)
		if exists := mt.ErrorCode == 0; exists != (code == 0 || name == "exists") {
			t.Errorf("%.20s: exists=%v after CreateTopics", name, exists)
		}
	}
	// Every version of CreateTopics creates.
	for v := int16(0); v <= 7; v++ {
		name := fmt.Sprintf("created-v%d", v)
		r := do[*kmsg.CreateTopicsResponse](t, b, createReq(v, false, newTopic(name, 1, 1)))
		if r.Topics[0].ErrorCode != 0 {
			t.Errorf("v%d: %v", v, kerr.ErrorForCode(r.Topics[0].ErrorCode))
		}
		if mt := metadataTopic(t, b, name, 12, false); mt.ErrorCode != 0 {
			t.Errorf("v%d: topic not there (error %d)", v, mt.ErrorCode)
		}
	}
}

// partitionDirs lists the partition directories of a topic in dataDir.
func partitionDirs(t *testing.T, dataDir, topic string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dataDir, topic+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	return matches
}

// TestDeleteTopics: a deleted topic leaves metadata and its logs leave the
// disk; deleting an unknown topic is UNKNOWN_TOPIC_OR_PARTITION; a topic
// recreated under the same name starts empty, with a new id, and keeps
// its records across a restart of its partition actors.
func TestDeleteTopics(t *testing.T) {
	b := startBroker(t, "auto.create.topics.enable=false")
	c := b.raw(t)
	for round := range 5 {
		created := createTopic(t, b, "doomed", 2, nil)
		if off := mustProduce(t, c, "doomed", 0, fmt.Sprintf("round-%d", round)); off != 0 {
			t.Fatalf("round %d: a recreated topic starts at offset %d", round, off)
		}
		// Partition 0 took a record; partition 1's actor opens its log on
		// its own time (each partition is created by its own message).
		eventually(t, 10*time.Second, func() error {
			if dirs := partitionDirs(t, b.dataDir, "doomed"); len(dirs) != 2 {
				return errorf("round %d: partition dirs %v", round, dirs)
			}
			return nil
		})
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.SetVersion(int16(round % 7))
		req.TimeoutMillis = 10000
		if round%7 >= 6 {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.TopicID = created.ID
			req.Topics = append(req.Topics, rt)
		} else {
			req.TopicNames = []string{"doomed"}
		}
		resp := do[*kmsg.DeleteTopicsResponse](t, b, req)
		if resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("round %d: delete: %v", round, kerr.ErrorForCode(resp.Topics[0].ErrorCode))
		}
		if mt := metadataTopic(t, b, "doomed", 12, false); mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("round %d: deleted topic still in metadata (error %d)", round, mt.ErrorCode)
		}
		eventually(t, 10*time.Second, func() error {
			if dirs := partitionDirs(t, b.dataDir, "doomed"); len(dirs) != 0 {
				return errorf("round %d: logs of the deleted topic remain: %v", round, dirs)
			}
			return nil
		})
	}
	// The last incarnation survives on disk and in the log.
	createTopic(t, b, "doomed", 2, nil)
	mustProduce(t, c, "doomed", 0, "last")
	_, recs := fetch(t, c, fetchReq("doomed", 0, 0, 0, 1))
	if len(recs) != 1 || string(recs[0].Value) != "last" {
		t.Fatalf("recreated topic holds %d records", len(recs))
	}

	req := kmsg.NewPtrDeleteTopicsRequest()
	req.SetVersion(6)
	req.TimeoutMillis = 5000
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr("never-was")
	rt2 := kmsg.NewDeleteTopicsRequestTopic()
	rt2.TopicID = [16]byte{9, 9, 9}
	req.Topics = append(req.Topics, rt, rt2)
	resp := do[*kmsg.DeleteTopicsResponse](t, b, req)
	if resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code || resp.Topics[1].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("unknown topics: %v, %v", kerr.ErrorForCode(resp.Topics[0].ErrorCode), kerr.ErrorForCode(resp.Topics[1].ErrorCode))
	}
}

// TestCreatePartitions: a topic grows; new partitions lead and take
// records; shrinking or keeping the count is INVALID_PARTITIONS;
// validate_only changes nothing.
func TestCreatePartitions(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "grow", 1, nil)
	c := b.raw(t)
	mustProduce(t, c, "grow", 0, "first")

	cp := func(version int16, count int32, validateOnly bool) kmsg.CreatePartitionsResponseTopic {
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.SetVersion(version)
		req.TimeoutMillis, req.ValidateOnly = 10000, validateOnly
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = "grow", count
		req.Topics = append(req.Topics, rt)
		return do[*kmsg.CreatePartitionsResponse](t, b, req).Topics[0]
	}
	if r := cp(3, 5, true); r.ErrorCode != 0 {
		t.Fatalf("validate only: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if n := len(metadataTopic(t, b, "grow", 12, false).Partitions); n != 1 {
		t.Fatalf("validate_only grew the topic to %d partitions", n)
	}
	if r := cp(0, 3, false); r.ErrorCode != 0 {
		t.Fatalf("grow to 3: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := cp(3, 4, false); r.ErrorCode != 0 {
		t.Fatalf("grow to 4: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	mt := metadataTopic(t, b, "grow", 12, false)
	if len(mt.Partitions) != 4 {
		t.Fatalf("%d partitions after growing to 4", len(mt.Partitions))
	}
	for p := int32(1); p < 4; p++ {
		if off := mustProduce(t, c, "grow", p, "new"); off != 0 {
			t.Errorf("new partition %d starts at %d", p, off)
		}
	}
	for _, count := range []int32{4, 2, 0, -1} {
		if r := cp(3, count, false); r.ErrorCode != kerr.InvalidPartitions.Code {
			t.Errorf("count %d: %v, want INVALID_PARTITIONS", count, kerr.ErrorForCode(r.ErrorCode))
		}
	}
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = 1000
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = "no-such-topic", 3
	req.Topics = append(req.Topics, rt)
	if r := do[*kmsg.CreatePartitionsResponse](t, b, req).Topics[0]; r.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown topic: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// The old partition kept its record.
	if _, recs := fetch(t, c, fetchReq("grow", 0, 0, 0, 1)); len(recs) != 1 || string(recs[0].Value) != "first" {
		t.Errorf("partition 0 after growing: %d records", len(recs))
	}
}

// TestLongTopicName: Kafka's longest topic name (249) works end to end,
// including deletion of its logs.
func TestLongTopicName(t *testing.T) {
	b := startBroker(t)
	name := strings.Repeat("n", 249)
	createTopic(t, b, name, 1, nil)
	c := b.raw(t)
	mustProduce(t, c, name, 0, "long")
	if _, recs := fetch(t, c, fetchReq(name, 0, 0, 0, 1)); len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	resp, err := b.admin(t).DeleteTopics(ctxFor(t, 10*time.Second), name)
	if err != nil || resp.Error() != nil {
		t.Fatalf("delete: %v %v", err, resp.Error())
	}
	eventually(t, 10*time.Second, func() error {
		if _, err := os.Stat(filepath.Join(b.dataDir, name+"-0")); !os.IsNotExist(err) {
			return errorf("log dir still there: %v", err)
		}
		return nil
	})
}
