package gateway

// DescribeCluster (key 60), versions 0–1.
//
// The live brokers, cluster id and controller id from this broker's
// metadata cache. v1's endpoint_type must be 1 (brokers); controller
// endpoints (KRaft) do not exist here (UNSUPPORTED_ENDPOINT_TYPE).
// Authorized operations are not computed.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { regKey(60, 0, 1, handleDescribeCluster) }

func handleDescribeCluster(r *request) answer {
	return func() (kmsg.Response, error) {
		req := r.kreq.(*kmsg.DescribeClusterRequest)
		resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
		resp.EndpointType = 1
		if r.version >= 1 && req.EndpointType != 1 {
			resp.ErrorCode = kerr.UnsupportedEndpointType.Code
			return resp, nil
		}
		md := r.c.s.backend.Replicas().Metadata()
		resp.ClusterID = md.ClusterID
		resp.ControllerID = md.ControllerID
		resp.ClusterAuthorizedOperations = -2147483648
		for _, b := range md.SortedBrokers() {
			rb := kmsg.NewDescribeClusterResponseBroker()
			rb.NodeID, rb.Host, rb.Port = b.Id, b.Host, b.Port
			if b.Rack != "" {
				rack := b.Rack
				rb.Rack = &rack
			}
			resp.Brokers = append(resp.Brokers, rb)
		}
		return resp, nil
	}
}
