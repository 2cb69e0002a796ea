package actors

import (
	"github.com/troupe-mq/troupe/messages"
)

// The follower role of the replica core: it answers its fetcher (one per
// leader broker, replica_fetcher.go) with where its log stands, truncates
// by leader epoch after a leader change, and appends what the leader sent.

// becomeFollower applies a LeaderAndIsr that makes this replica a follower
// (or leaves it without a leader when st.Leader is -1).
func (r *replica) becomeFollower(st *messages.PartitionState) {
	prev := r.role
	r.failPending(ErrNotLeader)
	r.wakeWaiters()
	r.applyAssignment(st)
	r.role = roleFollower
	// Keep the followers' broker epochs: leading again, this replica must
	// still refuse a previous incarnation's fetch.
	for _, f := range r.followers {
		f.leo = -1
	}
	r.alter, r.refused = nil, ""
	r.needsTruncation = true
	r.log.Info().Str("from", prev.String()).Int32("epoch", st.LeaderEpoch).Int32("leader", st.Leader).Msg("became follower")
}

// notFollowing is the answer to a fetcher's message for leaderEpoch when
// this replica does not follow under it (nil when it does): notYet when
// its own epoch is older, so the fetcher asks again.
func (r *replica) notFollowing(leaderEpoch int32) *followerState {
	if r.role == roleFollower && r.leaderEpoch == leaderEpoch {
		return nil
	}
	return &followerState{tp: r.tp, leaderEpoch: leaderEpoch, notYet: r.leaderEpoch < leaderEpoch}
}

// followerReady answers a fetcher's followerStateRequest: where to fetch
// from, or that the log must first be checked against the leader's epochs.
func (r *replica) followerReady(leaderEpoch int32) *followerState {
	st := r.notFollowing(leaderEpoch)
	if st != nil {
		return st
	}
	st = &followerState{tp: r.tp, leaderEpoch: leaderEpoch}
	if r.needsTruncation {
		if e, ok := r.data.LatestEpoch(); ok {
			st.ok, st.needsTruncation, st.latestEpoch = true, true, e
			st.logEnd, st.logStart = r.data.LogEndOffset(), r.data.LogStartOffset()
			return st
		}
		// No epoch history to compare (an empty cache, or one lost to
		// damage): keep only what this replica knows was committed, as
		// Kafka does without epochs, and fetch the rest again.
		if err := r.truncate(r.hw); err != nil {
			r.log.Error().Err(err).Int64("to", r.hw).Msg("truncating to the high watermark")
			st.err = err
			return st
		}
		r.needsTruncation = false
	}
	st.ok = true
	st.logEnd, st.logStart = r.data.LogEndOffset(), r.data.LogStartOffset()
	return st
}

// truncateFollower applies the leader's answer to OffsetForLeaderEpoch for
// this follower's latest epoch (KIP-101/KIP-279): truncate to where the
// two logs last agree. When the leader answers with an epoch this log does
// not have, truncate to the end of the largest smaller epoch and ask again;
// the truncation also drops the epochs from there on (even when no batch
// goes), so the next question is about an older epoch and the exchange
// ends.
func (r *replica) truncateFollower(m *truncateFollower) *followerState {
	if st := r.notFollowing(m.leaderEpoch); st != nil {
		return st
	}
	leo := r.data.LogEndOffset()
	a := m.answer
	var to int64
	again := false
	switch {
	case a.LeaderEpoch < 0 || a.EndOffset < 0:
		// The leader knows no epoch at or below ours: keep only what was
		// committed.
		to = min(r.hw, leo)
	default:
		fe, fend := r.data.EndOffsetForEpoch(a.LeaderEpoch)
		switch {
		case fe < 0:
			// Every epoch here is newer than the leader's answer: nothing
			// after the leader's end of that epoch can be shared.
			to = min(a.EndOffset, leo)
		case fe == a.LeaderEpoch:
			to = min(a.EndOffset, fend, leo)
		default:
			to, again = min(fend, leo), true
		}
	}
	if to < leo {
		r.log.Info().Int64("from", leo).Int64("to", to).Int32("leader_epoch", a.LeaderEpoch).Int64("leader_end", a.EndOffset).
			Msg("truncating diverged log to the leader's")
	}
	if err := r.truncate(to); err != nil {
		r.log.Error().Err(err).Int64("to", to).Msg("truncation failed")
		return &followerState{tp: r.tp, leaderEpoch: m.leaderEpoch, err: err}
	}
	r.needsTruncation = again
	return r.followerReady(m.leaderEpoch)
}

// appendFromLeader appends what the fetcher brought and follows the
// leader's high watermark and log start.
func (r *replica) appendFromLeader(m *appendFromLeader) *followerState {
	if st := r.notFollowing(m.leaderEpoch); st != nil {
		return st
	}
	if m.outOfRange {
		if m.fetchOffset < m.leaderStart {
			r.log.Info().Int64("fetch_offset", m.fetchOffset).Int64("leader_log_start", m.leaderStart).Msg("far behind the leader: starting over at its log start")
			if err := r.forgetSnapshot(); err != nil {
				r.log.Error().Err(err).Msg("removing producer snapshot before reset")
				return r.followerReady(m.leaderEpoch)
			}
			if err := r.data.TruncateFullyAndStartAt(m.leaderStart); err != nil {
				r.log.Error().Err(err).Msg("resetting log")
			}
			r.hw = r.data.LogStartOffset()
			r.producers.reset()
		} else {
			r.needsTruncation = true
		}
		return r.followerReady(m.leaderEpoch)
	}
	if len(m.records) > 0 && m.fetchOffset == r.data.LogEndOffset() {
		if _, err := r.data.AppendAsFollower(m.records); err != nil {
			r.log.Error().Err(err).Int64("offset", m.fetchOffset).Msg("appending replicated batches")
			return r.followerReady(m.leaderEpoch)
		}
		r.recordReplicated(m.records)
		// With flush.messages=1 this fsyncs before the next fetch reports
		// the new log end to the leader (as Kafka's fetcher thread does).
		if err := r.data.MaybeFlush(); err != nil {
			r.log.Error().Err(err).Msg("flush failed")
		}
	}
	leo := r.data.LogEndOffset()
	if hw := min(m.leaderHW, leo); hw > r.hw {
		r.hw = hw
		r.data.SetHighWatermark(hw)
	}
	if m.leaderStart > r.data.LogStartOffset() {
		if err := r.data.DeleteRecordsBefore(min(m.leaderStart, leo)); err != nil {
			r.log.Warn().Err(err).Msg("following the leader's log start")
		}
	}
	return r.followerReady(m.leaderEpoch)
}
