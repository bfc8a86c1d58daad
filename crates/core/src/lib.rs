//! WhatsSound's rooms at work: the pure room model driven over a real connection and stored on
//! disk. Both the desktop shell and `whatssound-cli` use exactly this.
//!
//! - [`host`]: [`HostRoom`], the authority — the engine, fed by intents from the room's channels
//!   and by the host's own actions, publishing signed diffs, saved in SQLite before they go out.
//! - [`listener`]: [`ListenerRoom`], a replica — joins, tracks presence, applies the host's signed
//!   diffs, re-mounts after reconnects, and keeps unconfirmed intents in a persistent outbox.
//! - [`store`]: the SQLite files (the host's `room.db`, a listener's `outbox.db`).
//! - [`identity`]: a user's keypair file.

pub mod host;
pub mod identity;
pub mod listener;
pub mod store;

pub use host::{HostConfig, HostEvent, HostRoom};
pub use listener::{ListenerConfig, ListenerRoom, RoomEvent};

/// The one error type of this crate's operations.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    #[error(transparent)]
    Client(#[from] whatssound_client::ClientError),
    #[error("the invite has no host key (`key=`); ask the host for a new invite")]
    NoHostKey,
    #[error("the invite's `admin` key is not 64 hex digits; copy the host invite again")]
    BadAdminKey,
    #[error("the room refused us: {0}")]
    Refused(String),
    #[error("the room task has stopped")]
    Stopped,
}

/// Milliseconds since `start` on the monotonic clock.
pub(crate) fn ms_since(start: std::time::Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A fresh intent id: 96 random bits, hex.
pub(crate) fn new_intent_id() -> whatssound_room::IntentId {
    let bits: [u8; 12] = rand::random();
    whatssound_room::IntentId(bits.iter().map(|b| format!("{b:02x}")).collect())
}
