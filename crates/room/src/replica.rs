//! A listener's copy of the room.
//!
//! It applies diffs strictly in `seq` order. Anything else — a gap (a diff was lost), a duplicate
//! (a diff seen twice), a diff that does not fit — means this copy can no longer be trusted, so it
//! says [`ReplicaEvent::NeedSnapshot`] and holds diffs until a snapshot arrives: the LiveView
//! re-mount, instead of guessing. A snapshot can be older than diffs that came before it (the
//! host answered the request, then changed the room, and the diff overtook nothing but the
//! request's round trip): the held diffs newer than the snapshot are applied after it
//! ([`Replica::take_replayed`]), so none is lost between a join and its first snapshot.
//!
//! The copy is shared ([`Replica::shared`]): the member's player and its view read the state this
//! replica accepted rather than each folding the diffs again. A diff applied while they still
//! hold the last state copies it once (copy on write); none of them can see a half-applied diff.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::state::{Diff, RoomState, Snapshot};

/// The most diffs held while a snapshot is on its way; past it the oldest go (and a gap they
/// leave is found like any other: the next diff does not fit, and a snapshot is asked for).
const MAX_HELD: usize = 1024;

#[derive(Debug, Clone, Default)]
pub struct Replica {
    state: Option<Arc<RoomState>>,
    waiting_for_snapshot: bool,
    /// Diffs received while waiting for a snapshot.
    held: VecDeque<Diff>,
    /// Held diffs the last snapshot was followed by, applied after it, for the caller to report.
    replayed: Vec<Diff>,
}

/// What a received message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaEvent {
    /// The diff was applied.
    Applied,
    /// The copy cannot go on from here; fetch a snapshot (the reason is for logs).
    NeedSnapshot(String),
    /// Held while a snapshot is on its way (or before the first one), to be applied after it if
    /// it is newer.
    Ignored,
    /// A snapshot replaced the copy.
    Replaced,
    /// A snapshot no newer than the healthy copy was ignored.
    Stale,
}

impl Replica {
    /// The current copy, once a snapshot arrived.
    pub fn state(&self) -> Option<&RoomState> {
        self.state.as_deref()
    }

    /// The current copy, to hold while the replica goes on.
    pub fn shared(&self) -> Option<Arc<RoomState>> {
        self.state.clone()
    }

    pub fn seq(&self) -> Option<u64> {
        self.state.as_ref().map(|s| s.seq)
    }

    pub fn needs_snapshot(&self) -> bool {
        self.state.is_none() || self.waiting_for_snapshot
    }

    pub fn receive_diff(&mut self, diff: &Diff) -> ReplicaEvent {
        let Some(state) = self.state.as_mut().filter(|_| !self.waiting_for_snapshot) else {
            if self.held.len() == MAX_HELD {
                self.held.pop_front();
            }
            self.held.push_back(diff.clone());
            return ReplicaEvent::Ignored;
        };
        match Arc::make_mut(state).apply(diff) {
            Ok(()) => ReplicaEvent::Applied,
            Err(e) => {
                self.waiting_for_snapshot = true;
                ReplicaEvent::NeedSnapshot(e.to_string())
            }
        }
    }

    /// Takes a snapshot unless the healthy copy is already there or ahead (a late answer to an old
    /// request, or one meant for another device of the same user).
    pub fn receive_snapshot(&mut self, snapshot: Snapshot) -> ReplicaEvent {
        if self.state.as_ref().is_some_and(|current| snapshot.seq <= current.seq && !self.waiting_for_snapshot) {
            return ReplicaEvent::Stale;
        }
        let mut held: Vec<Diff> = std::mem::take(&mut self.held).into();
        held.sort_by_key(|d| d.seq);
        held.dedup_by_key(|d| d.seq);
        let mut state = snapshot;
        self.replayed.clear();
        self.waiting_for_snapshot = false;
        let from = state.seq;
        for diff in held.into_iter().filter(|d| d.seq > from) {
            if state.apply(&diff).is_err() {
                // A gap among the held ones: this copy is good up to here; the next snapshot
                // (the caller asks, seeing `needs_snapshot`) covers the rest.
                self.waiting_for_snapshot = true;
                break;
            }
            self.replayed.push(diff);
        }
        self.state = Some(Arc::new(state));
        ReplicaEvent::Replaced
    }

    /// The held diffs applied after the last snapshot, oldest first (each once).
    pub fn take_replayed(&mut self) -> Vec<Diff> {
        std::mem::take(&mut self.replayed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{QueueDiff, track};
    use crate::state::Change;

    fn insert(seq: u64, id: &str) -> Diff {
        Diff { seq, intent: None, by: None, change: Change::Queue { diff: QueueDiff::Insert { at: 0, track: track(id) } } }
    }

    #[test]
    fn gaps_duplicates_and_misfits_ask_for_a_snapshot() {
        let mut r = Replica::default();
        assert_eq!(r.receive_diff(&insert(1, "a")), ReplicaEvent::Ignored, "held until the first snapshot");
        assert_eq!(r.receive_snapshot(RoomState::default()), ReplicaEvent::Replaced);
        assert_eq!(r.take_replayed(), [insert(1, "a")], "the held diff came after the snapshot");
        assert!(matches!(r.receive_diff(&insert(1, "a")), ReplicaEvent::NeedSnapshot(_)), "duplicate");
        assert_eq!(r.receive_diff(&insert(2, "b")), ReplicaEvent::Ignored, "waiting for the snapshot");

        let mut fresh = RoomState::default();
        fresh.apply(&insert(1, "a")).unwrap();
        fresh.apply(&insert(2, "b")).unwrap();
        assert_eq!(r.receive_snapshot(fresh), ReplicaEvent::Replaced);
        assert_eq!(r.take_replayed(), [], "the held diff is in the snapshot already");
        assert!(matches!(r.receive_diff(&insert(4, "c")), ReplicaEvent::NeedSnapshot(_)), "gap");

        let mut r = Replica::default();
        r.receive_snapshot(RoomState::default());
        assert!(matches!(r.receive_diff(&insert(1, "a")), ReplicaEvent::Applied));
        assert!(matches!(r.receive_diff(&insert(2, "a")), ReplicaEvent::NeedSnapshot(_)), "does not fit");
    }

    #[test]
    fn a_diff_that_overtakes_the_first_snapshot_is_applied_after_it() {
        // The host answered the snapshot request at seq 2, then queued a track (seq 3); the diff
        // reached the listener before the answer did.
        let mut r = Replica::default();
        let mut at_two = RoomState::default();
        at_two.apply(&insert(1, "a")).unwrap();
        at_two.apply(&insert(2, "b")).unwrap();
        for seq in [1, 2, 3] {
            assert_eq!(r.receive_diff(&insert(seq, "x")), ReplicaEvent::Ignored);
        }
        assert_eq!(r.receive_snapshot(at_two), ReplicaEvent::Replaced);
        assert_eq!(r.seq(), Some(3));
        assert_eq!(r.take_replayed(), [insert(3, "x")]);
        assert!(!r.needs_snapshot());
        assert_eq!(r.receive_diff(&insert(4, "y")), ReplicaEvent::Applied);
    }

    #[test]
    fn a_gap_among_held_diffs_keeps_what_fits_and_asks_again() {
        let mut r = Replica::default();
        r.receive_diff(&insert(1, "a"));
        r.receive_diff(&insert(3, "c"));
        assert_eq!(r.receive_snapshot(RoomState::default()), ReplicaEvent::Replaced);
        assert_eq!(r.take_replayed(), [insert(1, "a")]);
        assert_eq!(r.seq(), Some(1));
        assert!(r.needs_snapshot(), "seq 2 never came: a snapshot must say the rest");
    }

    #[test]
    fn an_old_snapshot_does_not_roll_back_a_healthy_copy() {
        let mut r = Replica::default();
        r.receive_snapshot(RoomState::default());
        r.receive_diff(&insert(1, "a"));
        assert_eq!(r.receive_snapshot(RoomState::default()), ReplicaEvent::Stale);
        assert_eq!(r.seq(), Some(1));
    }
}
