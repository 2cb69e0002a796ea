package gateway

// ApiVersions (key 18), versions 0–3.
//
// Answers the ranges registered in versions.go. A request above version 3
// is answered in the v0 format with UNSUPPORTED_VERSION and our ranges
// (KIP-511), and its response header never carries the flexible tag byte,
// so a client of any age can read it and retry at a version we speak.
// Feature flags (v3 tagged fields) are not advertised.

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
