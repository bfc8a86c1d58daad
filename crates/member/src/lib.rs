//! A room's member: how a listener (or the host, hearing its own room) takes part.
//!
//! - [`listener`]: [`ListenerRoom`], a replica — joins, tracks presence, applies the host's signed
//!   diffs, re-mounts after reconnects, keeps unconfirmed intents in a persistent outbox, and
//!   shares the state it accepted ([`ListenerRoom::state`]).
//! - [`clock_sync`]: which of a listener's clock paths to believe (the host's datagrams, the
//!   WebSocket, or a LAN peer's estimate); [`clock_peer`] owns the socket listeners on one LAN
//!   share their estimates over.
//! - [`route`]: [`Route`], how a member reaches the host: the invite's address, or a tunnel to
//!   the host's node across NATs (its path, direct or relayed, is [`Reach`]).
//! - [`player`]: a member's audio — fetch, decode, and play the room's timeline in sync; its
//!   decks (one track's engine each, and the thread decoding into it) are in `deck`.
//! - [`quality`]: the host's originals or its Opus copies ([`Quality`]), and [`quality::LinkMeter`],
//!   which judges from a download whether the link can carry the original.
//! - [`member`]: [`member::Member`], a member wired once — its replica and its player, the room's
//!   state reaching the player and what the player cannot play reaching the room's authority. The
//!   desktop session and the CLI's `listen` and `host` are each this, shown their own way.

pub mod clock_peer;
pub mod clock_sync;
mod deck;
pub mod listener;
pub mod member;
pub mod player;
pub mod quality;
pub mod route;

pub use listener::{ListenerConfig, ListenerRoom, RoomEvent, SyncStats};
pub use member::{Member, MemberConfig, MemberEvent};
pub use quality::Quality;
pub use route::{Reach, Route};
