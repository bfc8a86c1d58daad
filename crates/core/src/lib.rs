//! WhatsSound's rooms at work: the pure room model driven over a real connection and stored on
//! disk. Both the desktop shell and `whatssound-cli` use exactly this.
//!
//! - [`host`]: [`HostRoom`], the authority — the engine, fed by intents from the room's channels
//!   and by the host's own actions, publishing signed diffs, saved in SQLite before they go out.
//! - [`hosting`]: [`HostedRoom`], a whole room on this machine — the embedded hub (or a relay),
//!   the media server, the room's identity ([`room_record`]) and its invites.
//! - [`listener`]: [`ListenerRoom`], a replica — joins, tracks presence, applies the host's signed
//!   diffs, re-mounts after reconnects, and keeps unconfirmed intents in a persistent outbox.
//! - [`clock_sync`]: which of a listener's clock paths to believe (the host's datagrams, the
//!   WebSocket, or a LAN peer's estimate); [`clock_udp`] owns the host's datagram sockets (the
//!   host answering, a listener pinging), [`clock_peer`] the socket listeners on one LAN share
//!   their estimates over.
//! - [`route`]: [`Route`], how a member reaches the host: the invite's address, or a tunnel to
//!   the host's node across NATs (its path, direct or relayed, is [`Reach`]).
//! - [`fetch`]: a listener downloads a track (with progress) into its cache.
//! - [`media`]: the host's files over HTTP with Range, by track id, for the room's token holders,
//!   with each track's cover art.
//! - [`uploads`]: listeners' own files, uploaded to the host, checked, and queued by id.
//! - [`member`]: [`member::Member`], a member wired once — its replica and its player, the room's
//!   events reaching the player and what the player cannot play reaching the room. The desktop
//!   session and the CLI's `listen` and `host` are each this, shown their own way.
//! - [`player`]: a listener's audio — fetch, decode, and play the room's timeline in sync.
//! - [`store`]: the SQLite files (the host's `room.db`, a listener's `outbox.db`).
//! - [`identity`]: a user's keypair file.
//! - [`ws_base`]: [`WsBase`], the address of a room's channels and media, checked where it enters.
//! - [`session`]: [`session::Session`], the desktop app's whole time in a room — host or join,
//!   act, add files, leave — with what happens as ready-to-show events.
//! - [`view`]: [`view::RoomModel`], the room folded into what a UI shows ([`view::RoomView`]).

pub mod clock_peer;
pub mod clock_sync;
pub mod clock_udp;
pub mod fetch;
pub mod host;
pub mod hosting;
pub mod identity;
pub mod listener;
pub mod media;
pub mod member;
pub mod player;
pub mod room_record;
pub mod route;
pub mod session;
pub mod store;
pub mod uploads;
pub mod view;
pub mod ws_base;

pub use host::{HostConfig, HostEvent, HostRoom};
pub use hosting::{HostedRoom, HostingConfig, HostingError, Relay};
pub use listener::{ListenerConfig, ListenerRoom, RoomEvent, SyncStats};
pub use route::{Reach, Route};
pub use ws_base::{BadWsBase, WsBase};

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
    #[error(transparent)]
    Tunnel(#[from] whatssound_tunnel::TunnelError),
    #[error("could not start the audio output: {0}")]
    Output(#[from] whatssound_audio::OutputError),
}

/// FNV-1a: a tiny hash that is the same in every build (std's is not), for names that must stay
/// stable across runs (cache files) and for spreading users over sockets.
pub(crate) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A fresh intent id: 96 random bits, hex.
pub(crate) fn new_intent_id() -> whatssound_room::IntentId {
    let bits: [u8; 12] = rand::random();
    whatssound_room::IntentId(bits.iter().map(|b| format!("{b:02x}")).collect())
}

/// The slow presence fields a room member tracks on the main topic (the fast ones travel as
/// `activity` broadcasts). `joined_at` is wall-clock ms: it is for display, not for sync.
/// The presence meta key of a member's node in the room's swarm (when it passes tracks on).
pub(crate) const NODE_META: &str = "node";

/// The swarm nodes a room's presence shows (members that pass tracks on).
pub(crate) fn presence_nodes(presence: &whatssound_protocol::PresenceView) -> whatssound_swarm::Members {
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

pub(crate) fn presence_meta(
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
