//! A room's tracks passed on by the members who have them, so the host's uplink carries each
//! track about once however many listen.
//!
//! A track is named by the BLAKE3 hash of its bytes, and travels as iroh-blobs' verified
//! streams: every 16 KiB group of a piece is checked against the hash as it arrives, so a member
//! cannot pass on audio that is not the host's (it is caught, dropped, and asked for elsewhere).
//! Members find each other through the room's presence (each puts its node id there); only node
//! ids in the room may fetch, and the connections are the same end-to-end authenticated QUIC the
//! tunnel uses.
//!
//! The parts:
//! - [`plan`]: which piece to ask whom for next (pure, tested with an injected clock): peers
//!   first, the host only for pieces nobody holds, shared out by rank.
//! - [`swarm`]: a member's store and who is in the room ([`Swarm`]), serving peers who are.
//! - [`fetch`]: one track fetched in order from the room, for the player to stream from.

pub mod fetch;
pub mod plan;
pub mod swarm;

pub use fetch::Progress;
pub use iroh_blobs::{ALPN, Hash};
pub use swarm::{Members, Swarm};

/// Why the swarm could not do something; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    #[error("the track store at {path} could not be opened ({reason}); check that the folder is writable, or remove it to start afresh")]
    Store { path: String, reason: String },
    #[error("{path} could not be hashed for sharing ({reason})")]
    Add { path: String, reason: String },
    #[error("{0:?} is not a track's content hash (64 hex digits)")]
    BadHash(String),
    #[error("track {hash}: {reason}")]
    Fetch { hash: String, reason: String },
}

/// Parses a track's content hash as it travels in the room (64 hex digits).
pub fn parse_hash(text: &str) -> Result<Hash, SwarmError> {
    text.parse().map_err(|_| SwarmError::BadHash(text.to_owned()))
}
