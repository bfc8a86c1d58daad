//! The room: what a listening room is, and the rules that change it — plain Rust, no IO.
//!
//! - [`ids`]: the names of things ([`UserId`], [`TrackId`], [`IntentId`]).
//! - [`identity`]: a user's ed25519 key; a user id *is* the public key, so a [`Signed`] envelope
//!   proves who sent an intent (and that the host sent an authority event) whatever relay carried it.
//! - [`queue`]: the play queue as a stream — an ordered map of tracks changed only by [`QueueDiff`]s.
//! - [`state`]: [`RoomState`] (queue, chat, tallies, playback) and the [`Diff`]s, each with a
//!   room-wide `seq`, that both the authority and every replica apply the same way.
//! - [`intent`]: what listeners and the host ask for ([`Intent`], [`Action`]).
//! - [`engine`]: the authority ([`Engine`]): validates intents, applies each intent id at most once,
//!   and answers with diffs, refusals for the sender alone, and ephemeral reactions.
//! - [`wire`]: topic and event names, and signed envelopes, for running a room over channels.
//! - [`clock_datagram`]: clock exchanges as UDP datagrams beside the WebSocket, and why unsigned.
//! - [`replica`]: a listener's copy ([`Replica`]): applies diffs in order and asks for a snapshot on
//!   a gap, a duplicate or a diff that does not apply, instead of guessing.
//!
//! Time comes in as arguments (milliseconds on the host's monotonic clock), never from a clock read
//! here, so every rule is tested with exact instants.

pub mod clock_datagram;
pub mod engine;
pub mod identity;
pub mod ids;
pub mod intent;
pub mod queue;
pub mod replica;
pub mod state;
pub mod wire;

pub use engine::{Engine, Output, RoomSettings};
pub use identity::{Identity, SignatureError, Signed};
pub use ids::{IntentId, TrackId, UserId};
pub use intent::{Action, Intent, Position};
pub use queue::{Queue, QueueDiff, QueueError, Track, TrackMeta, TrackPatch, TrackSource};
pub use replica::{Replica, ReplicaEvent};
pub use state::{ApplyError, Change, ChatMessage, Diff, Playback, RoomState, Snapshot};
