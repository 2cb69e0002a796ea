package gateway

// InitProducerId (key 22), versions 0–4.
//
// Gives an idempotent producer a new producer id with epoch 0, from the
// block this broker holds (blocks come from /latest_producer_id_block, so
// ids are unique across the cluster). A producer that asks again with its
// current id and epoch (KIP-360, v3+) also gets a fresh id, as Kafka does
// for non-transactional producers. Difference from Kafka: transactional
// ids are refused with COORDINATOR_NOT_AVAILABLE (no transaction
// coordinator yet).

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { regKey(22, 0, 4, handleInitProducerID) }

func handleInitProducerID(r *request) answer {
	return func() (kmsg.Response, error) {
		req := r.kreq.(*kmsg.InitProducerIDRequest)
		resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		if req.TransactionalID != nil {
			resp.ErrorCode = errorCode(fmt.Errorf("%w: transactions are not supported", kerr.CoordinatorNotAvailable))
			return resp, nil
		}
		id, err := r.c.s.backend.ProducerIDs().NextProducerID()
		if err != nil {
			r.c.log.Warn().Err(err).Msg("cannot allocate a producer id")
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp, nil
		}
		resp.ProducerID, resp.ProducerEpoch = id, 0
		return resp, nil
	}
}
