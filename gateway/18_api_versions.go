package gateway

// ApiVersions (key 18), versions 0–3.
//
// Answers the ranges registered in versions.go. A request above version 3
// is answered in the v0 format with UNSUPPORTED_VERSION and our ranges
// (KIP-511), and its response header never carries the flexible tag byte,
// so a client of any age can read it and retry at a version we speak.
// Feature flags (v3 tagged fields) are not advertised.
//
// Produce is advertised from v0 although only v3+ is served (v0–v2 close
// the connection, like any version outside the registered range), as
// Kafka 4 does (KAFKA-18659): librdkafka before 2.11.1 sends gzip, snappy
// and lz4 batches uncompressed to a broker whose Produce range does not
// reach down to v0 (librdkafka issue 4956). Clients pick the highest
// version both sides know, which is v3+ for every client that writes
// record batch v2.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { regKey(apiVersionsKey, 0, 3, handleAPIVersions) }

func handleAPIVersions(r *request) answer {
	resp := r.kreq.ResponseKind().(*kmsg.ApiVersionsResponse)
	fillAPIKeys(resp)
	return done(resp)
}

func fillAPIKeys(resp *kmsg.ApiVersionsResponse) {
	for _, a := range apis {
		if a == nil {
			continue
		}
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.min, a.max
		if a.key == produceKey {
			k.MinVersion = 0 // advertised only; see the file comment
		}
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
}

func unsupportedAPIVersions() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	fillAPIKeys(resp)
	return resp
}
