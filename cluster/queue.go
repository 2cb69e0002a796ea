package cluster

import "sync"

// queue is an unbounded FIFO drained through a channel by its own goroutine.
// push never blocks, so a producer that holds a lock (a ZooKeeper event
// callback, the LocalTree's mutex) can hand events to a slow consumer without
// stalling or dropping them. It is used only for rare events (session changes,
// registration changes), never on a data path, so "unbounded" stays small.
type queue[T any] struct {
	out    chan T
	signal chan struct{} // capacity 1: "items or finished changed"
	done   chan struct{} // closed by cancel: the consumer left

	mu struct {
		sync.Mutex
		items    []T
		finished bool // producer is done: close out after the last item
	}
	cancelOnce sync.Once
}

func newQueue[T any]() *queue[T] {
	q := &queue[T]{out: make(chan T), signal: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q
}

func (q *queue[T]) push(v T) {
	q.mu.Lock()
	if !q.mu.finished {
		q.mu.items = append(q.mu.items, v)
	}
	q.mu.Unlock()
	q.poke()
}

// finish delivers what is queued, then closes the channel.
func (q *queue[T]) finish() {
	q.mu.Lock()
	q.mu.finished = true
	q.mu.Unlock()
	q.poke()
}

// cancel closes the channel now, dropping what is queued.
func (q *queue[T]) cancel() { q.cancelOnce.Do(func() { close(q.done) }) }

func (q *queue[T]) poke() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *queue[T]) run() {
	defer close(q.out)
	for {
		q.mu.Lock()
		if len(q.mu.items) == 0 {
			finished := q.mu.finished
			q.mu.Unlock()
			if finished {
				return
			}
			select {
			case <-q.signal:
				continue
			case <-q.done:
				return
			}
		}
		v := q.mu.items[0]
		var zero T
		q.mu.items[0] = zero
		q.mu.items = q.mu.items[1:]
		q.mu.Unlock()
		select {
		case q.out <- v:
		case <-q.done:
			return
		}
	}
}

// sessionHub fans session events out to subscribers, each with its own queue.
type sessionHub struct {
	mu struct {
		sync.Mutex
		subs   map[int]*queue[SessionEvent]
		next   int
		closed bool
	}
}

func newSessionHub() *sessionHub {
	h := &sessionHub{}
	h.mu.subs = make(map[int]*queue[SessionEvent])
	return h
}

func (h *sessionHub) subscribe() (<-chan SessionEvent, func()) {
	q := newQueue[SessionEvent]()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.closed {
		q.push(SessionEvent{State: StateClosed})
		q.finish()
		return q.out, q.cancel
	}
	id := h.mu.next
	h.mu.next++
	h.mu.subs[id] = q
	return q.out, func() {
		h.mu.Lock()
		delete(h.mu.subs, id)
		h.mu.Unlock()
		q.cancel()
	}
}

func (h *sessionHub) publish(ev SessionEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.closed {
		return
	}
	for _, q := range h.mu.subs {
		q.push(ev)
	}
}

// close publishes StateClosed and ends every subscription after delivery.
func (h *sessionHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.closed {
		return
	}
	h.mu.closed = true
	for id, q := range h.mu.subs {
		q.push(SessionEvent{State: StateClosed})
		q.finish()
		delete(h.mu.subs, id)
	}
}
