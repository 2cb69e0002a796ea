package gateway

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startFunc begins handling a decoded request on the connection's reader
// goroutine and returns how to obtain its response.
type startFunc func(r *request) answer

// apiInfo is one supported API key.
type apiInfo struct {
	key      int16
	min, max int16
	start    startFunc
}

const apiVersionsKey = 18

// apis is the one place that says which API keys and versions Troupe
// serves; ApiVersions answers from it. Index: API key.
var apis [128]*apiInfo

// regKey registers an API key's supported version range and handler. It is
// called from the init function of the file that implements the key.
func regKey(key, min, max int16, start startFunc) {
	if apis[key] != nil {
		panic("gateway: api key registered twice: " + kmsg.NameForKey(key))
	}
	if r := kmsg.RequestForKey(key); r == nil || max > r.MaxVersion() {
		panic("gateway: kmsg cannot encode " + kmsg.NameForKey(key) + " at the registered version")
	}
	apis[key] = &apiInfo{key: key, min: min, max: max, start: start}
}

func lookupAPI(key int16) *apiInfo {
	if key < 0 || int(key) >= len(apis) {
		return nil
	}
	return apis[key]
}
