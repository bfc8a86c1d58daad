//! An embeddable realtime hub that speaks the Phoenix Channels / Supabase Realtime wire protocol,
//! so that the official `phoenix` and `@supabase/realtime-js` clients work against it unchanged.
//!
//! The parts, from pure to IO:
//! - [`access`]: who may join which topic, and as which [`Role`].
//! - [`limits`]: per-socket limits and the token bucket behind the message rate.
//! - [`session`]: one socket's protocol state machine (joins, leaves, broadcasts, presence), pure:
//!   frames in, [`session::Effect`]s out.
//! - `registry` (private): the shared topic table — subscribers and presence — and the fan-out that
//!   encodes each broadcast once per serializer, not once per subscriber.
//! - `socket` (private): the one task that owns a WebSocket, carrying out a session's effects.
//! - [`Hub`] and [`serve`]: the axum endpoints (`/socket/websocket`, `/realtime/v1/websocket`) and
//!   a `serve(listener, hub, shutdown)` whose shutdown closes every socket with a close frame.
//!
//! The hub interprets nothing of a room: it relays, tracks presence and enforces access. The room
//! engine is a client like any other (see docs/protocol.md).

pub mod access;
pub mod limits;
pub mod session;

mod registry;
mod server;
mod socket;

pub use access::{Access, Refusal, Role, RoomAccess};
pub use limits::Limits;
pub use server::{Hub, HubConfig, HubStats, serve, serve_with};
