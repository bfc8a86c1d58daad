//! What a room's host and its members both stand on, below the `whatssound-host`,
//! `whatssound-member` and `whatssound-session` crates: the files they keep, the address of a room,
//! tracks over HTTP, the clock datagram sockets, presence, and [`CoreError`].
//!
//! - [`store`]: the SQLite files (the host's `room.db`, a listener's `outbox.db`).
//! - [`identity`]: a user's keypair file.
//! - [`fetch`]: a track's bytes from the members who have it or the host's media server, with
//!   progress, resumed where a download broke off, cached whole; a URL track's description.
//! - [`clock_udp`]: the host's clock datagram socket and a listener's pings to it.
//! - [`presence`]: [`PresenceMeta`], what a member's presence says of it, parsed once where it
//!   arrives; [`check_avatar`]; which members pass tracks on ([`presence_nodes`]).
//! - [`Authority`]: what a member that hosts the room tells the room's authority.

pub mod clock_udp;
pub mod fetch;
pub mod identity;
pub mod presence;
pub mod store;

pub use presence::{AvatarTooBig, MAX_AVATAR_BYTES, PresenceMeta, PresenceRole, check_avatar, presence_members, presence_nodes};
pub use whatssound_protocol::{BadWsBase, WsBase};

/// The room's authority, as the member that hosts the room reaches it: what the host cannot play,
/// nobody can, so that member marks it and the room moves past it. (`whatssound-host`'s
/// `HostRoom` is one; a member needs no more of it than this.)
pub trait Authority: Send + Sync + std::fmt::Debug {
    fn unplayable(&self, track: whatssound_room::TrackId, reason: String);
}

/// The one error type of a room's operations, on the host's side and a member's.
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
    JoinRefused(String),
    #[error("the room did not answer the join within {0} s; check the connection and the invite")]
    JoinTimeout(u64),
    #[error("the room task has stopped")]
    Stopped,
    #[error(transparent)]
    Tunnel(#[from] whatssound_tunnel::TunnelError),
    #[error("could not start the audio output: {0}")]
    Output(#[from] whatssound_audio::OutputError),
}

/// FNV-1a: a tiny hash that is the same in every build (std's is not), for names that must stay
/// stable across runs (cache files) and for spreading users over sockets.
pub fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A fresh intent id: 96 random bits, hex.
pub fn new_intent_id() -> whatssound_room::IntentId {
    let bits: [u8; 12] = rand::random();
    whatssound_room::IntentId(bits.iter().map(|b| format!("{b:02x}")).collect())
}
