package actors

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/troupe-mq/troupe/cluster"
)

// zkWorker runs the ZooKeeper jobs of an actor that must not block in
// Receive. Jobs run one at a time, in submission order, on the worker's own
// goroutine; each job's result is sent back to the actor as a message, and
// each watch it armed is forwarded when it fires. A job is a plain value:
// it sees only what it carries, never the actor's fields.
type zkWorker struct {
	store  *cluster.Store
	system *actor.ActorSystem
	target *actor.PID

	mu      sync.Mutex
	jobs    []zkJob
	wake    chan struct{}
	stopped bool
}

func newZKWorker(store *cluster.Store, system *actor.ActorSystem, target *actor.PID) *zkWorker {
	w := &zkWorker{store: store, system: system, target: target, wake: make(chan struct{}, 1)}
	go w.run()
	return w
}

// submit queues a job.
func (w *zkWorker) submit(job zkJob) {
	w.mu.Lock()
	if !w.stopped {
		w.jobs = append(w.jobs, job)
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// stop drops queued jobs and ends the goroutine after the running job.
func (w *zkWorker) stop() {
	w.mu.Lock()
	w.stopped = true
	w.jobs = nil
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *zkWorker) run() {
	for {
		w.mu.Lock()
		if w.stopped {
			w.mu.Unlock()
			return
		}
		if len(w.jobs) == 0 {
			w.mu.Unlock()
			<-w.wake
			continue
		}
		job := w.jobs[0]
		w.jobs[0] = nil
		w.jobs = w.jobs[1:]
		w.mu.Unlock()
		res, watches := job.run(w.store)
		for _, wa := range watches {
			forwardWatch(w.system, w.target, wa)
		}
		if res != nil {
			w.system.Root.Send(w.target, res)
		}
	}
}

// forwardWatch turns a one-shot watch into its message to the actor.
func forwardWatch(system *actor.ActorSystem, target *actor.PID, wa watchArm) {
	if wa.ch == nil {
		return
	}
	go func() {
		<-wa.ch // an event or a closed channel: either way, read again
		system.Root.Send(target, wa.fired)
	}()
}
