//! The frames of the protocol, independent of how they are serialized.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde_json::Value;

/// The serializer a socket asked for with its `vsn` query parameter.
///
/// Phoenix treats a missing `vsn` as 1.0.0; both official clients send 2.0.0 today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vsn {
    /// JSON objects `{topic, event, payload, ref, join_ref}`; text frames only.
    V1,
    /// JSON arrays `[join_ref, ref, topic, event, payload]` plus binary frames.
    V2,
}

/// An unsupported `vsn` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported vsn {0:?}: use 1.0.0 or 2.0.0")]
pub struct VsnError(pub String);

impl Vsn {
    /// Parses the query parameter; `None` (no parameter) means 1.0.0, as in Phoenix.
    pub fn from_query(value: Option<&str>) -> Result<Self, VsnError> {
        value.map_or(Ok(Vsn::V1), str::parse)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Vsn::V1 => "1.0.0",
            Vsn::V2 => "2.0.0",
        }
    }
}

impl FromStr for Vsn {
    type Err = VsnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1.0.0" => Ok(Vsn::V1),
            "2.0.0" => Ok(Vsn::V2),
            other => Err(VsnError(other.to_owned())),
        }
    }
}

impl fmt::Display for Vsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One WebSocket data frame, before decoding or after encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireFrame {
    Text(String),
    Binary(Bytes),
}

/// A message's payload: JSON, or raw bytes carried by a binary frame (kind 0 push).
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Json(Value),
    Binary(Bytes),
}

impl Payload {
    /// The JSON payload, if this is one.
    pub fn as_json(&self) -> Option<&Value> {
        match self {
            Payload::Json(v) => Some(v),
            Payload::Binary(_) => None,
        }
    }
}

impl From<Value> for Payload {
    fn from(v: Value) -> Self {
        Payload::Json(v)
    }
}

/// The general message: a client push, a server push, a reply or a broadcast.
///
/// Refs are strings on the wire in both official clients; an empty ref in a binary frame and a JSON
/// `null` both decode to `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub join_ref: Option<String>,
    pub msg_ref: Option<String>,
    pub topic: String,
    pub event: String,
    pub payload: Payload,
}

impl Message {
    pub fn new(topic: impl Into<String>, event: impl Into<String>, payload: impl Into<Payload>) -> Self {
        Message { join_ref: None, msg_ref: None, topic: topic.into(), event: event.into(), payload: payload.into() }
    }

    pub fn with_refs(mut self, join_ref: Option<String>, msg_ref: Option<String>) -> Self {
        self.join_ref = join_ref;
        self.msg_ref = msg_ref;
        self
    }
}

/// Binary kind 1: a reply whose response is raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryReply {
    pub join_ref: Option<String>,
    pub msg_ref: Option<String>,
    pub topic: String,
    pub status: String,
    pub payload: Bytes,
}

/// Binary kind 2: a server broadcast with a raw-bytes payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryBroadcast {
    pub topic: String,
    pub event: String,
    pub payload: Bytes,
}

/// How a Supabase user broadcast carries its payload bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadEncoding {
    /// Opaque bytes (an `ArrayBuffer` in realtime-js). Such a payload has no JSON form.
    Binary = 0,
    /// UTF-8 JSON text.
    Json = 1,
}

/// A Supabase user broadcast as the server sends it (binary kind 4): the user event, optional JSON
/// metadata, and the payload bytes exactly as the sender encoded them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserBroadcast {
    pub topic: String,
    pub event: String,
    /// Raw JSON metadata text; empty when there is none.
    pub meta: Bytes,
    pub encoding: PayloadEncoding,
    pub payload: Bytes,
}

/// A Supabase user broadcast as a client pushes it (binary kind 3): a [`UserBroadcast`] plus refs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserBroadcastPush {
    pub join_ref: Option<String>,
    pub msg_ref: Option<String>,
    pub broadcast: UserBroadcast,
}

/// Every frame either side may send.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// Text frames of either vsn, and binary kind 0 (a push whose payload is bytes).
    Message(Message),
    /// Binary kind 1.
    BinaryReply(BinaryReply),
    /// Binary kind 2.
    BinaryBroadcast(BinaryBroadcast),
    /// Binary kind 3 (client → server).
    UserBroadcastPush(UserBroadcastPush),
    /// Binary kind 4 (server → client).
    UserBroadcast(UserBroadcast),
}

impl Frame {
    /// The topic the frame is addressed to.
    pub fn topic(&self) -> &str {
        match self {
            Frame::Message(m) => &m.topic,
            Frame::BinaryReply(r) => &r.topic,
            Frame::BinaryBroadcast(b) => &b.topic,
            Frame::UserBroadcastPush(p) => &p.broadcast.topic,
            Frame::UserBroadcast(b) => &b.topic,
        }
    }
}

impl From<Message> for Frame {
    fn from(m: Message) -> Self {
        Frame::Message(m)
    }
}
