//! The protocol's vocabulary and the server messages built from it.
//!
//! Phoenix has a small, exact set of control events; keeping their spellings in one place (and
//! the shapes of replies next to them) is what keeps the hub and the client agreeing.

use serde_json::{Value, json};

use crate::frame::Message;

/// The socket-level topic that carries heartbeats.
pub const PHOENIX_TOPIC: &str = "phoenix";
/// Supabase Realtime prefixes every channel name with this; phoenix.js clients join
/// `realtime:<name>` to share a channel with realtime-js clients.
pub const REALTIME_PREFIX: &str = "realtime:";

pub const HEARTBEAT: &str = "heartbeat";
pub const PHX_JOIN: &str = "phx_join";
pub const PHX_LEAVE: &str = "phx_leave";
pub const PHX_REPLY: &str = "phx_reply";
pub const PHX_CLOSE: &str = "phx_close";
pub const PHX_ERROR: &str = "phx_error";
pub const BROADCAST: &str = "broadcast";
pub const PRESENCE: &str = "presence";
pub const PRESENCE_STATE: &str = "presence_state";
pub const PRESENCE_DIFF: &str = "presence_diff";
pub const ACCESS_TOKEN: &str = "access_token";
/// Events whose names start with this may be sent only by a room's authority (the host's engine):
/// queue diffs, playback state, tallies, snapshots. The embedded hub refuses them from listener
/// sockets; over a third-party relay the host signs them instead (see docs/protocol.md).
pub const AUTHORITY_PREFIX: &str = "host:";

/// Supabase's server-to-client notices (e.g. an access token that stopped being valid).
pub const SYSTEM: &str = "system";

/// Reply reasons the official clients and their users see.
pub mod reason {
    pub const UNMATCHED_TOPIC: &str = "unmatched topic";
    pub const TOO_MANY_CHANNELS: &str = "too many channels joined";
}

/// `phx_reply` with status ok.
pub fn reply_ok(join_ref: Option<String>, msg_ref: Option<String>, topic: &str, response: Value) -> Message {
    reply(join_ref, msg_ref, topic, "ok", response)
}

/// `phx_reply` with status error and `{"reason": …}`, the shape both clients surface to users.
pub fn reply_error(join_ref: Option<String>, msg_ref: Option<String>, topic: &str, reason: &str) -> Message {
    reply(join_ref, msg_ref, topic, "error", json!({ "reason": reason }))
}

fn reply(join_ref: Option<String>, msg_ref: Option<String>, topic: &str, status: &str, response: Value) -> Message {
    Message::new(topic, PHX_REPLY, json!({ "status": status, "response": response })).with_refs(join_ref, msg_ref)
}

/// `phx_close` for a channel; Phoenix puts the channel's join_ref in both ref slots.
pub fn close(topic: &str, join_ref: Option<String>) -> Message {
    Message::new(topic, PHX_CLOSE, json!({})).with_refs(join_ref.clone(), join_ref)
}

/// `phx_error` for a channel that ended abnormally; clients rejoin after it.
pub fn error(topic: &str, join_ref: Option<String>) -> Message {
    Message::new(topic, PHX_ERROR, json!({})).with_refs(join_ref.clone(), join_ref)
}

/// A push from the server on a joined channel (carries the channel's join_ref, no ref).
pub fn push(topic: &str, join_ref: Option<String>, event: &str, payload: Value) -> Message {
    Message::new(topic, event, payload).with_refs(join_ref, None)
}

/// The JSON form of a broadcast as every subscriber receives it: `{type, event, payload}`.
pub fn broadcast(topic: &str, event: &str, payload: Value) -> Message {
    Message::new(topic, BROADCAST, json!({ "type": BROADCAST, "event": event, "payload": payload }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Frame, Vsn, WireFrame, encode};

    fn v2(m: Message) -> String {
        match encode(Vsn::V2, &Frame::Message(m)) {
            Ok(WireFrame::Text(t)) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn control_messages_match_phoenix() {
        assert_eq!(v2(close("realtime:a", Some("3".into()))), r#"["3","3","realtime:a","phx_close",{}]"#);
        assert_eq!(v2(error("realtime:a", Some("3".into()))), r#"["3","3","realtime:a","phx_error",{}]"#);
        assert_eq!(
            v2(reply_error(Some("1".into()), Some("2".into()), "x", reason::UNMATCHED_TOPIC)),
            r#"["1","2","x","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]"#
        );
        assert_eq!(
            v2(broadcast("realtime:a", "hi", json!({"n":1}))),
            r#"[null,null,"realtime:a","broadcast",{"type":"broadcast","event":"hi","payload":{"n":1}}]"#
        );
    }
}
