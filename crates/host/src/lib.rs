//! A room's host: the one authority over a room, on this machine.
//!
//! - [`host`]: [`HostRoom`], the authority — the engine, fed by intents from the room's channels
//!   and by the host's own actions, publishing signed diffs, saved in SQLite before they go out.
//! - [`hosting`]: [`HostedRoom`], a whole room on this machine — the embedded hub (or a relay),
//!   the media server, the room's identity ([`room_record`]) and its invites.
//! - [`media`]: the host's files over HTTP with Range, by track id, for the room's token holders,
//!   with each track's cover art.
//! - [`copies`]: Opus copies of those files for listeners on thin links, made once per bitrate.
//! - [`uploads`]: listeners' own files, uploaded to the host, checked, and queued by id (the
//!   receiving end, and the client that sends one).
//! - [`room_record`]: the room's id, tokens and keys in `room.json`, so invites outlive restarts.

pub mod copies;
pub mod host;
pub mod hosting;
pub mod media;
pub mod room_record;
pub mod uploads;

pub use host::{HostConfig, HostEvent, HostRoom};
pub use hosting::{HostedRoom, HostingConfig, HostingError, Relay, Venue};
