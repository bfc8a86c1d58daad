//! A listener's copy of the room.
//!
//! It applies diffs strictly in `seq` order. Anything else — a gap (a diff was lost), a duplicate
//! (a diff seen twice), a diff that does not fit — means this copy can no longer be trusted, so it
//! says [`ReplicaEvent::NeedSnapshot`] and ignores diffs until a snapshot arrives: the LiveView
//! re-mount, instead of guessing.
//!
//! The copy is shared ([`Replica::shared`]): the member's player and its view read the state this
//! replica accepted rather than each folding the diffs again. A diff applied while they still
//! hold the last state copies it once (copy on write); none of them can see a half-applied diff.

use std::sync::Arc;

use crate::state::{Diff, RoomState, Snapshot};

#[derive(Debug, Clone, Default)]
pub struct Replica {
    state: Option<Arc<RoomState>>,
    waiting_for_snapshot: bool,
}

/// What a received message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaEvent {
    /// The diff was applied.
    Applied,
    /// The copy cannot go on from here; fetch a snapshot (the reason is for logs).
    NeedSnapshot(String),
    /// Ignored while a snapshot is on its way (or before the first one).
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
        self.state = Some(Arc::new(snapshot));
        self.waiting_for_snapshot = false;
        ReplicaEvent::Replaced
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
        assert_eq!(r.receive_diff(&insert(1, "a")), ReplicaEvent::Ignored, "nothing before the first snapshot");
        assert_eq!(r.receive_snapshot(RoomState::default()), ReplicaEvent::Replaced);
        assert_eq!(r.receive_diff(&insert(1, "a")), ReplicaEvent::Applied);
        assert!(matches!(r.receive_diff(&insert(1, "a")), ReplicaEvent::NeedSnapshot(_)), "duplicate");
        assert_eq!(r.receive_diff(&insert(2, "b")), ReplicaEvent::Ignored, "waiting for the snapshot");

        let mut fresh = RoomState::default();
        fresh.apply(&insert(1, "a")).unwrap();
        fresh.apply(&insert(2, "b")).unwrap();
        assert_eq!(r.receive_snapshot(fresh), ReplicaEvent::Replaced);
        assert!(matches!(r.receive_diff(&insert(4, "c")), ReplicaEvent::NeedSnapshot(_)), "gap");

        let mut r = Replica::default();
        r.receive_snapshot(RoomState::default());
        assert!(matches!(r.receive_diff(&insert(1, "a")), ReplicaEvent::Applied));
        assert!(matches!(r.receive_diff(&insert(2, "a")), ReplicaEvent::NeedSnapshot(_)), "does not fit");
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
