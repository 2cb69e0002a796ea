package gateway

import "time"

// deadline is a one-shot timer shared by the waits of one request.
type deadline struct {
	t       *time.Timer
	expired bool
}

func newDeadline(d time.Duration) *deadline { return &deadline{t: time.NewTimer(d)} }

func (d *deadline) stop() { d.t.Stop() }

// awaitReply waits for an actor's answer until the deadline. Once the
// deadline has passed it still takes answers that are already there.
func awaitReply[T any](ch <-chan T, d *deadline) (T, bool) {
	if !d.expired {
		select {
		case v := <-ch:
			return v, true
		case <-d.t.C:
			d.expired = true
		}
	}
	select {
	case v := <-ch:
		return v, true
	default:
		var zero T
		return zero, false
	}
}
