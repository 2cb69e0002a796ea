package gateway_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/troupe-mq/troupe/internal/harness"
)

// issue3Keys are the API keys issue 3 asks for.
var issue3Keys = []int16{0, 1, 2, 3, 18, 19, 20, 21, 22, 23, 32, 33, 37, 44, 60}

// TestApiVersionsCoverKafka28: every API issue 3 lists is offered over at
// least the range Apache Kafka 2.8 supports (Produce from v3, Fetch from
// v4, as the issue allows), at every ApiVersions version.
func TestApiVersionsCoverKafka28(t *testing.T) {
	b := startBroker(t)
	v28 := kversion.V2_8_0()
	for v := int16(0); v <= 3; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(v)
		if v >= 3 {
			req.ClientSoftwareName, req.ClientSoftwareVersion = "troupe-test", "1.0"
		}
		resp := do[*kmsg.ApiVersionsResponse](t, b, req)
		if resp.ErrorCode != 0 {
			t.Fatalf("ApiVersions v%d: %v", v, kerr.ErrorForCode(resp.ErrorCode))
		}
		ours := map[int16]kmsg.ApiVersionsResponseApiKey{}
		for _, k := range resp.ApiKeys {
			if _, dup := ours[k.ApiKey]; dup {
				t.Errorf("v%d: key %d listed twice", v, k.ApiKey)
			}
			ours[k.ApiKey] = k
			if k.MinVersion > k.MaxVersion || k.MaxVersion > kmsg.RequestForKey(k.ApiKey).MaxVersion() {
				t.Errorf("v%d: %s range [%d, %d] is not sane", v, kmsg.NameForKey(k.ApiKey), k.MinVersion, k.MaxVersion)
			}
		}
		for _, key := range issue3Keys {
			k, ok := ours[key]
			if !ok {
				t.Errorf("v%d: %s (key %d) is not offered", v, kmsg.NameForKey(key), key)
				continue
			}
			want, ok := v28.LookupMaxKeyVersion(key)
			if !ok {
				t.Errorf("kversion has no %s in Kafka 2.8", kmsg.NameForKey(key))
				continue
			}
			min := map[int16]int16{0: 3, 1: 4}[key]
			if k.MinVersion > min || k.MaxVersion < want {
				t.Errorf("%s: offered [%d, %d], need at least [%d, %d] (Kafka 2.8)", kmsg.NameForKey(key), k.MinVersion, k.MaxVersion, min, want)
			}
		}
	}
}

// TestEveryVersionAnswers sends every offered API at every offered
// version, with the request's default (mostly empty) body, and decodes the
// answer at that version: no version may close the connection or answer
// in a shape the client cannot read.
func TestEveryVersionAnswers(t *testing.T) {
	b := startBroker(t)
	c := b.raw(t)
	resp, err := c.Do(kmsg.NewPtrApiVersionsRequest())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range resp.(*kmsg.ApiVersionsResponse).ApiKeys {
		if k.ApiKey == 0 {
			k.MinVersion = 3 // v0–v2 are advertised for librdkafka, not served (TestProduceV0AdvertisedNotServed)
		}
		for v := k.MinVersion; v <= k.MaxVersion; v++ {
			req := kmsg.RequestForKey(k.ApiKey)
			req.SetVersion(v)
			switch r := req.(type) {
			case *kmsg.ProduceRequest:
				r.Acks = 1 // acks=0 has no response
			case *kmsg.FetchRequest:
				r.ReplicaID, r.SessionEpoch = -1, -1
			case *kmsg.DescribeClusterRequest:
				r.EndpointType = 1
			}
			if _, err := c.Do(req); err != nil {
				t.Fatalf("%s v%d: %v", kmsg.NameForKey(k.ApiKey), v, err)
			}
		}
	}
}

// TestApiVersionsUnsupportedVersion: KIP-511. ApiVersions above our range
// is answered in v0 with UNSUPPORTED_VERSION and our ranges, no tag byte
// in the header, and the connection stays usable.
func TestApiVersionsUnsupportedVersion(t *testing.T) {
	b := startBroker(t)
	c := b.raw(t)
	for _, version := range []int16{4, 5, 127, 32767} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(3)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "future-client", "9.9"
		frame := harness.Frame(req, int32(version))
		binary.BigEndian.PutUint16(frame[6:], uint16(version))
		if err := c.WriteRaw(frame); err != nil {
			t.Fatal(err)
		}
		body, err := c.ReadFrame()
		if err != nil {
			t.Fatalf("v%d: %v", version, err)
		}
		v0 := kmsg.NewPtrApiVersionsRequest() // parse as v0: no tags anywhere
		r, err := harness.ParseResponse(v0, int32(version), body)
		if err != nil {
			t.Fatalf("v%d: %v", version, err)
		}
		av := r.(*kmsg.ApiVersionsResponse)
		n := int(binary.BigEndian.Uint32(body[6:]))
		if av.ErrorCode != kerr.UnsupportedVersion.Code || n != len(av.ApiKeys) || len(body) != 4+2+4+6*n {
			t.Fatalf("v%d: error %d, %d keys in %d bytes: not a v0 UNSUPPORTED_VERSION answer", version, av.ErrorCode, n, len(body))
		}
		found := false
		for _, k := range av.ApiKeys {
			if k.ApiKey == 18 && k.MinVersion == 0 && k.MaxVersion >= 3 {
				found = true
			}
		}
		if !found {
			t.Fatalf("v%d: the answer does not offer ApiVersions v0–v3: %+v", version, av.ApiKeys)
		}
	}
	// Same connection, supported version.
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	resp, err := c.Do(req)
	if err != nil || resp.(*kmsg.ApiVersionsResponse).ErrorCode != 0 {
		t.Fatalf("ApiVersions v3 after the unsupported ones: %v", err)
	}
}

// TestProduceV0AdvertisedNotServed: ApiVersions offers Produce from v0, as
// Kafka 4 does so that librdkafka < 2.11.1 compresses with gzip, snappy
// and lz4; a Produce v0–v2 request (message sets) still closes the
// connection, and v3 is served.
func TestProduceV0AdvertisedNotServed(t *testing.T) {
	b := startBroker(t)
	c := b.raw(t)
	resp, err := c.Do(kmsg.NewPtrApiVersionsRequest())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range resp.(*kmsg.ApiVersionsResponse).ApiKeys {
		if k.ApiKey == 0 && k.MinVersion != 0 {
			t.Fatalf("Produce advertised from v%d, want v0", k.MinVersion)
		}
	}
	for v := int16(0); v <= 2; v++ {
		c := b.raw(t)
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(v)
		req.Acks = 1
		if err := c.WriteRaw(harness.Frame(req, 1)); err != nil {
			t.Fatal(err)
		}
		if err := c.ExpectClosed(5 * time.Second); err != nil {
			t.Fatalf("Produce v%d: %v", v, err)
		}
	}
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(3)
	req.Acks = 1
	if _, err := b.raw(t).Do(req); err != nil {
		t.Fatalf("Produce v3: %v", err)
	}
}
