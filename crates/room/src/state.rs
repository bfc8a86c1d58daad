//! The room's state and the diffs that change it.
//!
//! The authority and every replica hold a [`RoomState`] and change it only through
//! [`RoomState::apply`], so they cannot drift apart by applying the same diff differently. Each diff
//! carries the room-wide `seq` it creates; a snapshot carries the `seq` it is at.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::ids::{IntentId, TrackId, UserId};
use crate::queue::{Queue, QueueDiff, QueueError};

/// How many chat messages the state (and so a snapshot) keeps; the host's store keeps them all.
pub const CHAT_IN_STATE: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: String,
    pub user: UserId,
    /// The name the author had when writing (names can change; the id cannot).
    pub name: String,
    pub text: String,
    /// Host clock, ms.
    pub at_ms: u64,
}

/// What is playing, anchored to an instant of the host's monotonic clock: at `at_ms` the position
/// was `position_ms`; while playing it advances in real time from there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Playback {
    pub track: Option<TrackId>,
    pub playing: bool,
    pub position_ms: u64,
    pub at_ms: u64,
}

impl Playback {
    /// The position at host instant `now_ms`.
    pub fn position_at(&self, now_ms: u64) -> u64 {
        if self.playing { self.position_ms + now_ms.saturating_sub(self.at_ms) } else { self.position_ms }
    }
}

/// Up and down votes on one track.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub up: u32,
    pub down: u32,
}

/// One change to the room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Queue {
        diff: QueueDiff,
    },
    Chat {
        message: ChatMessage,
    },
    Tally {
        track: TrackId,
        up: u32,
        down: u32,
    },
    Playback {
        playback: Playback,
    },
    /// A user was kicked; their key is banned from this room.
    Banned {
        user: UserId,
    },
    /// The host closed the room.
    Closed,
    /// The host started the room again (same data dir, same invites) after closing it.
    Reopened,
}

/// A change with its place in the room's history, and the intent it confirms (if any).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    pub seq: u64,
    pub intent: Option<IntentId>,
    pub by: Option<UserId>,
    pub change: Change,
}

/// The room as everyone sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoomState {
    pub seq: u64,
    pub queue: Queue,
    pub chat: VecDeque<ChatMessage>,
    pub tallies: BTreeMap<TrackId, Tally>,
    pub playback: Playback,
    pub banned: BTreeSet<UserId>,
    pub closed: bool,
}

/// A whole state, sent to late joiners and to replicas that lost track.
pub type Snapshot = RoomState;

/// Why a diff was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("diff {got} arrived but {expected} was next")]
    OutOfOrder { expected: u64, got: u64 },
    #[error("queue diff does not fit: {0}")]
    Queue(#[from] QueueError),
    #[error("tally or playback names track {0}, which is not in the queue")]
    UnknownTrack(TrackId),
}

impl RoomState {
    /// Applies the next diff; on error nothing changed.
    pub fn apply(&mut self, diff: &Diff) -> Result<(), ApplyError> {
        let expected = self.seq + 1;
        if diff.seq != expected {
            return Err(ApplyError::OutOfOrder { expected, got: diff.seq });
        }
        self.apply_change(&diff.change)?;
        self.seq = diff.seq;
        Ok(())
    }

    fn apply_change(&mut self, change: &Change) -> Result<(), ApplyError> {
        match change {
            Change::Queue { diff } => {
                self.queue.apply(diff)?;
                if let QueueDiff::Delete { id } = diff {
                    self.tallies.remove(id);
                }
            }
            Change::Chat { message } => {
                self.chat.push_back(message.clone());
                while self.chat.len() > CHAT_IN_STATE {
                    self.chat.pop_front();
                }
            }
            Change::Tally { track, up, down } => {
                if self.queue.get(track).is_none() {
                    return Err(ApplyError::UnknownTrack(track.clone()));
                }
                self.tallies.insert(track.clone(), Tally { up: *up, down: *down });
            }
            Change::Playback { playback } => {
                if let Some(track) = playback.track.as_ref().filter(|t| self.queue.get(t).is_none()) {
                    return Err(ApplyError::UnknownTrack(track.clone()));
                }
                self.playback = playback.clone();
            }
            Change::Banned { user } => {
                self.banned.insert(user.clone());
            }
            Change::Closed => self.closed = true,
            Change::Reopened => self.closed = false,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::track;

    fn diff(seq: u64, change: Change) -> Diff {
        Diff { seq, intent: None, by: None, change }
    }

    #[test]
    fn diffs_apply_only_in_order_and_a_bad_one_changes_nothing() {
        let mut s = RoomState::default();
        s.apply(&diff(1, Change::Queue { diff: QueueDiff::Insert { at: 0, track: track("a") } })).unwrap();
        assert_eq!(s.apply(&diff(3, Change::Closed)), Err(ApplyError::OutOfOrder { expected: 2, got: 3 }));
        assert_eq!(s.apply(&diff(1, Change::Closed)), Err(ApplyError::OutOfOrder { expected: 2, got: 1 }));
        let before = s.clone();
        assert!(s.apply(&diff(2, Change::Tally { track: "zz".into(), up: 1, down: 0 })).is_err());
        assert_eq!(s, before);
        s.apply(&diff(2, Change::Tally { track: "a".into(), up: 1, down: 0 })).unwrap();
        s.apply(&diff(3, Change::Queue { diff: QueueDiff::Delete { id: "a".into() } })).unwrap();
        assert!(s.tallies.is_empty(), "a deleted track's tally goes with it");
        assert_eq!(s.seq, 3);
    }

    #[test]
    fn playback_position_advances_only_while_playing() {
        let p = Playback { track: None, playing: true, position_ms: 1_000, at_ms: 50_000 };
        assert_eq!(p.position_at(52_500), 3_500);
        assert_eq!(Playback { playing: false, ..p }.position_at(52_500), 1_000);
    }

    #[test]
    fn snapshots_round_trip_as_json() {
        let mut s = RoomState::default();
        s.apply(&diff(1, Change::Queue { diff: QueueDiff::Insert { at: 0, track: track("a") } })).unwrap();
        s.apply(&diff(2, Change::Queue { diff: QueueDiff::Insert { at: 0, track: track("b") } })).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        let back: RoomState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert!(json.contains(r#""queue":[{"id":"b""#), "the queue travels as an ordered list: {json}");
    }
}
