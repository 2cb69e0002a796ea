package cluster

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// RegistrationOptions tune RegisterBroker.
type RegistrationOptions struct {
	// StaleWait bounds how long to wait for /brokers/ids/<id>, held by a
	// session that is not ours, to disappear before concluding that a live
	// broker holds the id (ErrDuplicateBrokerID). A broker killed without
	// closing its session leaves its node behind until ZooKeeper expires
	// that session, so StaleWait must exceed the brokers' session timeout.
	// Default 20 s.
	StaleWait time.Duration
	// RetryBackoff is the first delay after a failed attempt (connection
	// loss), doubled up to 2 s. Default 100 ms.
	RetryBackoff time.Duration
}

// RegistrationEventType is the kind of a RegistrationEvent.
type RegistrationEventType int

// Registration events.
const (
	// RegistrationRegistered: the node was re-created under SessionID.
	RegistrationRegistered RegistrationEventType = iota + 1
	// RegistrationLost: session SessionID expired (or the node vanished);
	// the broker is not registered until the next RegistrationRegistered.
	RegistrationLost
	// RegistrationFailed: re-registration found the id held by another
	// live session (Err wraps ErrDuplicateBrokerID). The Registration keeps
	// watching and registers if the other holder goes away; the owner
	// decides whether to shut down.
	RegistrationFailed
)

func (t RegistrationEventType) String() string {
	switch t {
	case RegistrationRegistered:
		return "registered"
	case RegistrationLost:
		return "lost"
	case RegistrationFailed:
		return "failed"
	}
	return fmt.Sprintf("RegistrationEventType(%d)", int(t))
}

// RegistrationEvent reports a change of the broker's registration.
type RegistrationEvent struct {
	Type      RegistrationEventType
	SessionID int64
	// BrokerEpoch is the new node's czxid for RegistrationRegistered.
	BrokerEpoch int64
	Err         error
}

// Registration keeps /brokers/ids/<id> present for as long as it runs: it
// watches its session and its node and re-creates the node after a session
// expiry (go-zookeeper does not re-create ephemerals).
//
// Telling a stale node of our own from another live broker: the node's
// Stat.EphemeralOwner is compared with the current session id and with every
// session id this Registration has used before (it learns them from its
// session events). Current session: the node is ours (a create whose answer
// was lost to a connection drop). A previous session of ours: that session is
// dead — we were told it expired — so the node is a leftover of a lagging
// server's view and is deleted and re-created. Any other owner is, as far as
// we can know, another live broker with our id; it is given StaleWait to go
// away (a killed predecessor's session expires within the session timeout)
// and otherwise reported as ErrDuplicateBrokerID.
//
// Concurrency: after RegisterBroker returns, one goroutine owns all fields
// below except session (atomic) and the events queue.
type Registration struct {
	store *Store
	conn  Conn
	log   zerolog.Logger
	info  BrokerInfo
	data  []byte
	path  string
	opts  RegistrationOptions

	events  *queue[RegistrationEvent]
	session atomic.Int64 // session the node currently exists under; 0 when not registered
	epoch   atomic.Int64 // czxid of the node while registered (broker epoch)

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	// ownSessions holds every session id this Registration has run under.
	ownSessions map[int64]bool
}

// RegisterBroker creates /brokers/ids/<info.ID> (ephemeral) and keeps it
// registered until Close. It returns ErrDuplicateBrokerID if another live
// session holds the id after opts.StaleWait. Later changes are reported on
// Events (the initial registration is not). It blocks: call it at start-up,
// not from an actor.
func (s *Store) RegisterBroker(info BrokerInfo, opts RegistrationOptions) (*Registration, error) {
	if opts.StaleWait <= 0 {
		opts.StaleWait = 20 * time.Second
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = 100 * time.Millisecond
	}
	info.SessionID = 0
	r := &Registration{
		store:       s,
		conn:        s.conn,
		log:         s.log.With().Int32("broker", info.ID).Logger(),
		info:        info,
		data:        EncodeBrokerInfo(info),
		path:        BrokerPath(info.ID),
		opts:        opts,
		events:      newQueue[RegistrationEvent](),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
		ownSessions: map[int64]bool{},
	}
	// Subscribe before the first create so that no expiry between the
	// create and the loop's start goes unseen.
	sub, cancel := r.conn.SessionEvents()
	sid, epoch, err := r.register(true)
	if err != nil {
		cancel()
		r.events.finish()
		close(r.done)
		return nil, err
	}
	r.session.Store(sid)
	r.epoch.Store(epoch)
	r.log.Info().Int64("session", sid).Str("path", r.path).Msg("broker registered")
	go r.run(sub, cancel)
	return r, nil
}

// Events delivers registration changes, queued without bound; the channel
// closes after Close.
func (r *Registration) Events() <-chan RegistrationEvent { return r.events.out }

// SessionID returns the session the node currently exists under, 0 while
// the broker is not registered.
func (r *Registration) SessionID() int64 { return r.session.Load() }

// BrokerEpoch returns the czxid of the current registration (Kafka's broker
// epoch), 0 while the broker is not registered.
func (r *Registration) BrokerEpoch() int64 { return r.epoch.Load() }

// Close stops maintaining the registration and deletes the node if it is
// held by the current session (so a controlled shutdown is seen at once,
// not after the session timeout).
func (r *Registration) Close() error {
	r.closeOnce.Do(func() { close(r.stop) })
	<-r.done
	ok, st, err := r.conn.Exists(r.path)
	if err != nil || !ok {
		if errors.Is(err, ErrClosed) {
			return nil
		}
		return err
	}
	if st.EphemeralOwner != r.conn.SessionID() {
		return nil
	}
	if err := r.conn.Delete(r.path, st.Version); err != nil && !errors.Is(err, ErrNoNode) && !errors.Is(err, ErrBadVersion) {
		return err
	}
	return nil
}

func (r *Registration) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// sleep waits d or until Close; false means closed.
func (r *Registration) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.stop:
		return false
	}
}

func (r *Registration) nextBackoff(b time.Duration) time.Duration {
	b *= 2
	if b > 2*time.Second {
		b = 2 * time.Second
	}
	return b
}

// register creates the node, resolving a node that is already there as
// described on Registration. It returns the owning session.
func (r *Registration) register(startup bool) (session, epoch int64, err error) {
	deadline := time.Now().Add(r.opts.StaleWait)
	backoff := r.opts.RetryBackoff
	for {
		if r.stopped() {
			return 0, 0, ErrClosed
		}
		if cur := r.conn.SessionID(); cur != 0 {
			r.ownSessions[cur] = true
		}
		res, err := r.store.RegisterOnce(r.info, func(owner int64, held BrokerInfo) bool {
			switch {
			case r.ownSessions[owner]:
				r.log.Info().Int64("stale_session", owner).Msg("replacing registration left by our expired session")
				return true
			case startup && r.info.DirectoryID != "" && held.DirectoryID == r.info.DirectoryID:
				// This process holds the data directory's lock, so the
				// process that registered with its id is dead: its session
				// just has not expired yet. Only at start-up: a running
				// broker displaced by a successor on the same directory
				// reports the duplicate instead of fighting back.
				r.log.Warn().Int64("stale_session", owner).Str("directory_id", held.DirectoryID).
					Msg("replacing registration of a previous process on this data directory")
				return true
			}
			return false
		})
		if err == nil {
			return res.SessionID, res.Epoch, nil
		}
		if errors.Is(err, ErrClosed) {
			return 0, 0, err
		}
		if !errors.Is(err, ErrDuplicateBrokerID) {
			if !errors.Is(err, ErrConnectionLoss) && !errors.Is(err, ErrSessionExpired) && !errors.Is(err, ErrNodeChanging) {
				return 0, 0, err
			}
			if startup && time.Now().After(deadline) {
				return 0, 0, fmt.Errorf("cluster: register broker %d: %w", r.info.ID, err)
			}
			if !r.sleep(backoff) {
				return 0, 0, ErrClosed
			}
			backoff = r.nextBackoff(backoff)
			continue
		}
		// Another live session holds the id, as far as we can know (a
		// killed predecessor's session expires within the session timeout).
		ok, st, ch, werr := r.conn.ExistsW(r.path)
		if werr != nil || !ok {
			continue // gone already, or transient: try again
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%w: broker %d is held by session 0x%x (waited %v for it to expire)",
				ErrDuplicateBrokerID, r.info.ID, st.EphemeralOwner, r.opts.StaleWait)
		}
		r.log.Info().Int64("holder_session", st.EphemeralOwner).Dur("wait", time.Until(deadline)).
			Msg("broker id held by another session; waiting for it to expire")
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-ch:
		case <-t.C:
		case <-r.stop:
			t.Stop()
			return 0, 0, ErrClosed
		}
		t.Stop()
	}
}

// RegisterResult is a registration made: its session and broker epoch.
type RegisterResult struct {
	SessionID int64
	// Epoch is the node's czxid (the broker epoch, KIP-380).
	Epoch int64
}

// RegisterOnce makes one attempt to create the ephemeral /brokers/ids/<id>
// for the current session. A node the current session already owns (a
// create whose answer was lost) counts as made. A node of another session
// is deleted and the create tried again if replaceable says so — nil means:
// when it carries this broker's directory id, which only a previous process
// on the same data directory can have written — and otherwise makes it
// return ErrDuplicateBrokerID. Registration is built on it; the simulator
// calls it directly.
func (s *Store) RegisterOnce(info BrokerInfo, replaceable func(owner int64, held BrokerInfo) bool) (RegisterResult, error) {
	if replaceable == nil {
		replaceable = func(_ int64, held BrokerInfo) bool {
			return info.DirectoryID != "" && held.DirectoryID == info.DirectoryID
		}
	}
	info.SessionID = 0
	path := BrokerPath(info.ID)
	data := EncodeBrokerInfo(info)
	for attempt := 0; attempt < 5; attempt++ {
		cur := s.conn.SessionID()
		if _, err := s.conn.Create(path, data, ModeEphemeral); err != nil && !errors.Is(err, ErrNodeExists) {
			return RegisterResult{}, err
		}
		ok, st, err := s.conn.Exists(path)
		if err != nil {
			return RegisterResult{}, err
		}
		if !ok {
			continue // gone between the create and the read
		}
		if st.EphemeralOwner == cur && cur == s.conn.SessionID() {
			return RegisterResult{SessionID: cur, Epoch: st.Czxid}, nil
		}
		held, err := s.Broker(info.ID)
		if errors.Is(err, ErrNoNode) {
			continue
		}
		if err != nil {
			return RegisterResult{}, err
		}
		if held.SessionID != st.EphemeralOwner || !replaceable(held.SessionID, held) {
			return RegisterResult{}, fmt.Errorf("%w: broker %d is held by session 0x%x", ErrDuplicateBrokerID, info.ID, held.SessionID)
		}
		if err := s.conn.Delete(path, st.Version); err != nil && !errors.Is(err, ErrNoNode) && !errors.Is(err, ErrBadVersion) {
			return RegisterResult{}, err
		}
	}
	return RegisterResult{}, fmt.Errorf("%w: /brokers/ids/%d", ErrNodeChanging, info.ID)
}

// run keeps the node registered until Close.
func (r *Registration) run(sub <-chan SessionEvent, cancel func()) {
	defer close(r.done)
	defer r.events.finish()
	defer cancel()
	backoff := r.opts.RetryBackoff
	// onSession handles one session event; false means stop.
	onSession := func(ev SessionEvent) bool {
		switch ev.State {
		case StateExpired:
			r.ownSessions[ev.SessionID] = true
			if r.session.Load() == ev.SessionID {
				r.lost(ev.SessionID)
			}
		case StateClosed:
			return false
		}
		return true
	}
	// wait blocks until a watch fires, a session event arrives, d passes
	// (if > 0) or Close; false means stop.
	wait := func(ch <-chan WatchEvent, d time.Duration) bool {
		var tc <-chan time.Time
		if d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			tc = t.C
		}
		select {
		case <-ch: // nil channel blocks
			return true
		case ev, ok := <-sub:
			return ok && onSession(ev)
		case <-tc:
			return true
		case <-r.stop:
			return false
		}
	}
	for !r.stopped() {
		ok, st, ch, err := r.conn.ExistsW(r.path)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return
			}
			if !wait(nil, backoff) {
				return
			}
			backoff = r.nextBackoff(backoff)
			continue
		}
		backoff = r.opts.RetryBackoff
		cur := r.conn.SessionID()
		if ok && st.EphemeralOwner == cur && cur != 0 {
			if r.session.Load() != cur {
				r.registered(cur, st.Czxid)
			}
			if !wait(ch, 0) {
				return
			}
			continue
		}
		// Not registered under the current session.
		if old := r.session.Load(); old != 0 {
			r.ownSessions[old] = true
			r.lost(old)
		}
		sid, epoch, err := r.register(false)
		switch {
		case err == nil:
			r.registered(sid, epoch)
		case errors.Is(err, ErrClosed):
			return
		case errors.Is(err, ErrDuplicateBrokerID):
			r.log.Error().Err(err).Msg("cannot re-register broker")
			r.events.push(RegistrationEvent{Type: RegistrationFailed, Err: err})
			// Wait for the holder's node to change before trying again.
			if !wait(ch, 0) {
				return
			}
		default:
			if !wait(nil, backoff) {
				return
			}
			backoff = r.nextBackoff(backoff)
		}
	}
}

func (r *Registration) registered(sid, epoch int64) {
	r.ownSessions[sid] = true
	r.session.Store(sid)
	r.epoch.Store(epoch)
	r.log.Info().Int64("session", sid).Int64("broker_epoch", epoch).Msg("broker re-registered")
	r.events.push(RegistrationEvent{Type: RegistrationRegistered, SessionID: sid, BrokerEpoch: epoch})
}

func (r *Registration) lost(sid int64) {
	r.session.Store(0)
	r.epoch.Store(0)
	r.log.Warn().Int64("session", sid).Msg("broker registration lost")
	r.events.push(RegistrationEvent{Type: RegistrationLost, SessionID: sid})
}
