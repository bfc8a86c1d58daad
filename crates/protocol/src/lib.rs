//! The Phoenix Channels / Supabase Realtime wire protocol, as plain data and pure functions.
//!
//! Nothing here touches a socket or a clock, so every rule can be unit-tested and fuzzed:
//!
//! - [`frame`]: what travels — [`Message`] (push, reply or broadcast), the binary-only frame kinds,
//!   and [`Vsn`], the serializer version a socket asked for.
//! - [`codec`]: [`decode`] and [`encode`] between [`WireFrame`]s (a WebSocket text or binary frame)
//!   and [`Frame`]s, for vsn 1.0.0 (JSON objects) and 2.0.0 (JSON arrays and binary kinds 0–4).
//! - [`presence`]: the server's presence table for one topic, returning the `presence_diff` each
//!   change causes, in the exact shape phoenix.js and realtime-js merge.
//! - [`event`]: the vocabulary (`phx_join`, `phx_reply`, …) and reply payload builders.
//! - [`invite`]: the `whatssound://join?…` link a host hands to listeners.
//! - [`ws_base`]: [`WsBase`], where a room's channels and media are: the invite's `ws`, checked
//!   once where it enters.
//!
//! The hub crate drives these from its sockets; the realtime client drives the same codec from the
//! other end, which is why decoding accepts every frame kind in both directions.

pub mod codec;
pub mod event;
pub mod frame;
pub mod invite;
pub mod presence;
pub mod ws_base;

mod binary;
mod json;

pub use codec::{DecodeError, EncodeError, decode, encode};
pub use frame::{
    BinaryBroadcast, BinaryReply, Frame, Message, Payload, PayloadEncoding, UserBroadcast, UserBroadcastPush, Vsn, VsnError, WireFrame,
};
pub use invite::{Invite, InviteError, NodeRoute};
pub use presence::{PresenceDiff, PresenceTable, PresenceView};
pub use ws_base::{BadWsBase, WsBase};
