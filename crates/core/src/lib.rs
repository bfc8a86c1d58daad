//! What a room's host and its members both stand on, below the `whatssound-host`,
//! `whatssound-member` and `whatssound-session` crates: the files they keep, the address of a room,
//! tracks over HTTP, the clock datagram sockets, presence, and [`CoreError`].
//!
//! - [`store`]: the SQLite files (the host's `room.db`, a listener's `outbox.db`).
//! - [`identity`]: a user's keypair file.
//! - [`ws_base`]: [`WsBase`], the address of a room's channels and media, checked where it enters.
//! - [`fetch`]: a track's bytes from the members who have it or the host's media server, with
//!   progress, resumed where a download broke off, cached whole; a URL track's description.
//! - [`clock_udp`]: the host's clock datagram socket and a listener's pings to it.
//! - presence: what a member's presence carries ([`presence_meta`], [`check_avatar`]) and which
//!   members pass tracks on ([`presence_nodes`]).
//! - [`Authority`]: what a member that hosts the room tells the room's authority.

pub mod clock_udp;
pub mod fetch;
pub mod identity;
pub mod store;
pub mod ws_base;

pub use ws_base::{BadWsBase, WsBase};

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
    Refused(String),
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

/// The presence meta key of a member's node in the room's swarm (when it passes tracks on).
pub const NODE_META: &str = "node";

/// The swarm nodes a room's presence shows (members that pass tracks on).
pub fn presence_nodes(presence: &whatssound_protocol::PresenceView) -> whatssound_swarm::Members {
    presence
        .by_key
        .values()
        .flatten()
        .filter_map(|m| m.get(NODE_META).and_then(serde_json::Value::as_str))
        .filter_map(|id| id.parse().ok())
        .map(|id| (id, Vec::new()))
        .collect()
}

/// The longest avatar a member's presence carries (a URL, or a small image as a `data:` URL).
/// Presence goes to everyone in the room on every change, so a bigger one is refused where it is
/// set ([`check_avatar`]), and left out of presence, with a warning, if it comes from elsewhere.
pub const MAX_AVATAR_BYTES: usize = 32 * 1024;

/// An avatar too big to send to everyone in a room.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the avatar is {bytes} bytes, over {} KiB (everyone in the room is sent it); pick a smaller image or a link", MAX_AVATAR_BYTES / 1024)]
pub struct AvatarTooBig {
    pub bytes: usize,
}

/// Whether `avatar` may go into presence; the edges (the app's settings, the CLI's `--avatar`)
/// refuse one that may not, with this error.
pub fn check_avatar(avatar: &str) -> Result<(), AvatarTooBig> {
    let bytes = avatar.trim().len();
    if bytes > MAX_AVATAR_BYTES { Err(AvatarTooBig { bytes }) } else { Ok(()) }
}

/// The slow presence fields a room member tracks on the main topic (the fast ones travel as
/// `activity` broadcasts): who (id, name, avatar if small enough), in which role, since when.
/// `joined_at` is wall-clock ms: it is for display, not for sync.
pub fn presence_meta(
    user: &whatssound_room::UserId,
    name: &str,
    avatar: Option<&str>,
    role: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let avatar = avatar.map(str::trim).filter(|a| !a.is_empty()).filter(|a| match check_avatar(a) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("{e}; left out of presence");
            false
        }
    });
    let joined_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let meta = serde_json::json!({
        "user_id": user,
        "username": name,
        "avatar_url": avatar,
        "role": role,
        "joined_at": u64::try_from(joined_at).unwrap_or(0),
        "audio_state": "paused",
    });
    meta.as_object().cloned().unwrap_or_default()
}
