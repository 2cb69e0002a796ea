package gateway

import (
	"time"

	"github.com/troupe-mq/troupe/actors"
)

// ask sends a request built around a fresh reply channel to the local
// actor of tp. It returns nil when no replica of tp lives here, with the
// error to report.
func ask[T any](s *Server, tp actors.TopicPartition, build func(reply chan<- T) any) (chan T, error) {
	reps := s.backend.Replicas()
	pid, ok := reps.Partition(tp)
	if !ok {
		return nil, unknownOrNotLeader(reps, tp)
	}
	ch := make(chan T, 1)
	s.backend.Send(pid, build(ch))
	return ch, nil
}

// pendingPartition is an asked partition and where its answer goes.
type pendingPartition[T any] struct {
	reply chan T
	err   error // set when the partition could not be asked
	fill  func(res T, err error)
}

// collect waits (until timeout) for every asked partition and fills the
// response through each one's fill function; a partition not answered in
// time is filled with actors.ErrTimeout.
func collect[T any](pending []pendingPartition[T], timeout time.Duration) {
	d := newDeadline(timeout)
	defer d.stop()
	var zero T
	for _, p := range pending {
		if p.reply == nil {
			p.fill(zero, p.err)
			continue
		}
		res, ok := awaitReply(p.reply, d)
		if !ok {
			p.fill(zero, actors.ErrTimeout)
			continue
		}
		p.fill(res, nil)
	}
}
