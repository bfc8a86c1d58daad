//! One socket's protocol state, as a pure state machine.
//!
//! [`Session::handle`] takes a decoded frame and returns [`Effect`]s — replies to this socket,
//! subscriptions, broadcasts, presence changes — that the socket task carries out against the
//! shared registry. Nothing here knows about tokio, so each Phoenix and Supabase rule below has a
//! unit test that runs in microseconds.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{Map, Value, json};
use whatssound_protocol::event::{self, reason};
use whatssound_protocol::{Frame, Message, Payload, PayloadEncoding, UserBroadcast, UserBroadcastPush};

use crate::access::{Access, Role};
use crate::limits::{Limits, RateLimiter};

/// Which endpoint a socket came in on. Only realtime-js (on `/realtime/v1/websocket`) reads binary
/// kind 4; phoenix.js decodes kinds 0–2 only and must get the JSON text form of user broadcasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Phoenix,
    Realtime,
}

/// A channel's options from the realtime-js join payload `config`; phoenix.js sends none, which
/// gives Supabase's defaults (no self-broadcast, no ack, presence on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    pub broadcast_self: bool,
    pub broadcast_ack: bool,
    pub presence_key: String,
    pub presence_enabled: bool,
    pub private: bool,
}

#[derive(Debug, Clone)]
struct Channel {
    join_ref: Option<String>,
    config: ChannelConfig,
    role: Role,
}

/// A broadcast on its way to subscribers.
#[derive(Debug, Clone, PartialEq)]
pub enum Broadcast {
    /// From a JSON push: the whole `{type, event, payload, …}` object, forwarded as it came.
    Json(Value),
    /// From a binary kind 3 push: the bytes as sent, plus the JSON form when the payload is JSON
    /// (a binary payload has none, and JSON-only subscribers do not get it — as in Supabase).
    User { raw: UserBroadcast, json: Option<Value> },
}

/// What the socket task must do after a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send to this socket only.
    Send(Message),
    /// Subscribe this socket to a topic.
    Subscribe {
        topic: String,
        join_ref: Option<String>,
        config: ChannelConfig,
    },
    /// Send this socket the topic's `presence_state`.
    SendPresenceState {
        topic: String,
        join_ref: Option<String>,
    },
    /// Unsubscribe (and untrack) this socket from a topic.
    Unsubscribe {
        topic: String,
    },
    Broadcast {
        topic: String,
        body: Broadcast,
        include_self: bool,
    },
    Track {
        topic: String,
        key: String,
        meta: Map<String, Value>,
    },
    Untrack {
        topic: String,
    },
    /// Close the socket with this WebSocket close code and reason.
    Close {
        code: u16,
        reason: String,
    },
}

/// Close code for frames that break the protocol (RFC 6455 "policy violation").
pub const CLOSE_POLICY: u16 = 1008;

/// The protocol state of one socket.
#[derive(Debug)]
pub struct Session {
    socket_id: u64,
    token: Option<String>,
    channels: HashMap<String, Channel>,
    max_channels: usize,
    rate: RateLimiter,
    rate_text: String,
    anonymous_keys: u64,
}

impl Session {
    /// `token` is the socket's query token (`token` or `apikey`), used when a join has no
    /// `access_token` of its own.
    pub fn new(socket_id: u64, token: Option<String>, limits: &Limits, now: Instant) -> Self {
        Session {
            socket_id,
            token,
            channels: HashMap::new(),
            max_channels: limits.max_channels,
            rate: RateLimiter::new(limits.messages_per_second, limits.message_burst, now),
            rate_text: format!("rate limit exceeded: at most {} messages per second per socket; slow down", limits.messages_per_second),
            anonymous_keys: 0,
        }
    }

    /// The topics this socket has joined.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.channels.keys().map(String::as_str)
    }

    pub fn handle(&mut self, frame: Frame, access: &Access, now: Instant) -> Vec<Effect> {
        if !access.is_host_token(self.token.as_deref()) && !self.rate.allow(now) {
            return match &frame {
                Frame::Message(Message { join_ref, msg_ref: Some(r), topic, .. }) => {
                    vec![Effect::Send(event::reply_error(join_ref.clone(), Some(r.clone()), topic, &self.rate_text))]
                }
                Frame::UserBroadcastPush(UserBroadcastPush { join_ref, msg_ref: Some(r), broadcast }) => {
                    vec![Effect::Send(event::reply_error(join_ref.clone(), Some(r.clone()), &broadcast.topic, &self.rate_text))]
                }
                _ => Vec::new(),
            };
        }
        match frame {
            Frame::Message(m) => self.handle_message(m, access),
            Frame::UserBroadcastPush(p) => self.handle_user_broadcast(p),
            Frame::BinaryReply(_) => server_only(1),
            Frame::BinaryBroadcast(_) => server_only(2),
            Frame::UserBroadcast(_) => server_only(4),
        }
    }

    fn handle_message(&mut self, m: Message, access: &Access) -> Vec<Effect> {
        if m.topic == event::PHOENIX_TOPIC && m.event == event::HEARTBEAT {
            return vec![Effect::Send(event::reply_ok(m.join_ref, m.msg_ref, event::PHOENIX_TOPIC, json!({})))];
        }
        if m.event == event::PHX_JOIN {
            return self.join(m, access);
        }
        let Some(channel) = self.channels.get(&m.topic) else {
            return vec![Effect::Send(event::reply_error(m.join_ref, m.msg_ref, &m.topic, reason::UNMATCHED_TOPIC))];
        };
        let join_ref = channel.join_ref.clone();
        let reply_error = |text: &str| Effect::Send(event::reply_error(join_ref.clone(), m.msg_ref.clone(), &m.topic, text));
        let Payload::Json(payload) = m.payload else {
            return vec![reply_error("binary payloads are accepted only as broadcasts (binary kind 3)")];
        };
        match m.event.as_str() {
            event::PHX_LEAVE => {
                self.channels.remove(&m.topic);
                vec![
                    Effect::Unsubscribe { topic: m.topic.clone() },
                    Effect::Send(event::reply_ok(join_ref.clone(), m.msg_ref, &m.topic, json!({}))),
                    Effect::Send(event::close(&m.topic, join_ref)),
                ]
            }
            event::BROADCAST => {
                let Some(user_event) = payload.get("event").and_then(Value::as_str) else {
                    return vec![reply_error("a broadcast payload must be {\"type\":\"broadcast\",\"event\":NAME,\"payload\":…}")];
                };
                if let Some(refusal) = authority_refusal(channel.role, user_event) {
                    return vec![reply_error(&refusal)];
                }
                let config = &channel.config;
                let mut effects =
                    vec![Effect::Broadcast { topic: m.topic.clone(), body: Broadcast::Json(payload), include_self: config.broadcast_self }];
                if config.broadcast_ack {
                    effects.push(Effect::Send(event::reply_ok(join_ref, m.msg_ref, &m.topic, json!({}))));
                }
                effects
            }
            event::PRESENCE => self.presence(m.topic, join_ref, m.msg_ref, &payload),
            event::ACCESS_TOKEN => self.access_token(m.topic, &payload, access),
            other => vec![reply_error(&format!(
                "unknown event {other:?}: a realtime channel takes broadcast, presence, access_token and phx_leave"
            ))],
        }
    }

    fn join(&mut self, m: Message, access: &Access) -> Vec<Effect> {
        let topic = m.topic;
        let reply_error = |text: &str| Effect::Send(event::reply_error(m.join_ref.clone(), m.msg_ref.clone(), &topic, text));
        if topic.strip_prefix(event::REALTIME_PREFIX).is_none_or(str::is_empty) {
            return vec![reply_error(reason::UNMATCHED_TOPIC)];
        }
        let empty = Value::Object(Map::new());
        let payload = m.payload.as_json().filter(|p| p.is_object()).unwrap_or(&empty);
        let mut effects = Vec::new();
        // A second join of a joined topic closes the first, as Phoenix does.
        if let Some(old) = self.channels.remove(&topic) {
            effects.push(Effect::Send(event::close(&topic, old.join_ref)));
            effects.push(Effect::Unsubscribe { topic: topic.clone() });
        }
        if self.channels.len() >= self.max_channels {
            effects.push(reply_error(reason::TOO_MANY_CHANNELS));
            return effects;
        }
        let token = payload.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty()).or(self.token.as_deref());
        let role = match access.authorize(&topic, token) {
            Ok(role) => role,
            Err(refusal) => {
                effects.push(reply_error(&refusal.to_string()));
                return effects;
            }
        };
        let config = self.config(payload.get("config"));
        let presence = config.presence_enabled;
        self.channels.insert(topic.clone(), Channel { join_ref: m.join_ref.clone(), config: config.clone(), role });
        effects.push(Effect::Subscribe { topic: topic.clone(), join_ref: m.join_ref.clone(), config });
        effects.push(Effect::Send(event::reply_ok(m.join_ref.clone(), m.msg_ref, &topic, json!({}))));
        if presence {
            effects.push(Effect::SendPresenceState { topic, join_ref: m.join_ref });
        }
        effects
    }

    fn config(&mut self, config: Option<&Value>) -> ChannelConfig {
        let flag = |path: &[&str], default: bool| {
            let mut v = config;
            for p in path {
                v = v.and_then(|v| v.get(p));
            }
            v.and_then(Value::as_bool).unwrap_or(default)
        };
        let key = config.and_then(|c| c.get("presence")).and_then(|p| p.get("key")).and_then(Value::as_str).unwrap_or("");
        let presence_key = if key.is_empty() {
            // Supabase makes a key for an empty one; ours is unique per socket and join.
            self.anonymous_keys += 1;
            format!("anon-{:x}-{}", self.socket_id, self.anonymous_keys)
        } else {
            key.to_owned()
        };
        ChannelConfig {
            broadcast_self: flag(&["broadcast", "self"], false),
            broadcast_ack: flag(&["broadcast", "ack"], false),
            presence_key,
            presence_enabled: flag(&["presence", "enabled"], true),
            private: flag(&["private"], false),
        }
    }

    fn presence(&mut self, topic: String, join_ref: Option<String>, msg_ref: Option<String>, payload: &Value) -> Vec<Effect> {
        let reply_error = |text: &str| Effect::Send(event::reply_error(join_ref.clone(), msg_ref.clone(), &topic, text));
        let Some(channel) = self.channels.get_mut(&topic) else {
            return vec![reply_error(reason::UNMATCHED_TOPIC)];
        };
        match payload.get("event").and_then(Value::as_str) {
            Some("track") => {
                let meta = match payload.get("payload") {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(m)) => m.clone(),
                    Some(_) => {
                        return vec![reply_error(
                            "presence track needs an object payload: {\"type\":\"presence\",\"event\":\"track\",\"payload\":{…}}",
                        )];
                    }
                };
                let mut effects = vec![Effect::Track { topic: topic.clone(), key: channel.config.presence_key.clone(), meta }];
                // Tracking turns presence on for a channel that joined with it off (as Supabase does).
                if !channel.config.presence_enabled {
                    channel.config.presence_enabled = true;
                    effects
                        .insert(0, Effect::Subscribe { topic: topic.clone(), join_ref: join_ref.clone(), config: channel.config.clone() });
                    effects.push(Effect::SendPresenceState { topic: topic.clone(), join_ref: join_ref.clone() });
                }
                effects.push(Effect::Send(event::reply_ok(join_ref, msg_ref, &topic, json!({}))));
                effects
            }
            Some("untrack") => {
                vec![Effect::Untrack { topic: topic.clone() }, Effect::Send(event::reply_ok(join_ref, msg_ref, &topic, json!({})))]
            }
            _ => vec![reply_error("a presence payload must be {\"type\":\"presence\",\"event\":\"track\"|\"untrack\",\"payload\":{…}}")],
        }
    }

    /// realtime-js refreshes its token with an `access_token` push and expects no reply. A token
    /// that is no longer good ends the channel, with a `system` notice saying why.
    fn access_token(&mut self, topic: String, payload: &Value, access: &Access) -> Vec<Effect> {
        let token = payload.get("access_token").and_then(Value::as_str);
        let Some(channel) = self.channels.get_mut(&topic) else { return Vec::new() };
        match access.authorize(&topic, token) {
            Ok(role) => {
                channel.role = role;
                Vec::new()
            }
            Err(refusal) => {
                let join_ref = channel.join_ref.clone();
                self.channels.remove(&topic);
                let name = topic.strip_prefix(event::REALTIME_PREFIX).unwrap_or(&topic).to_owned();
                vec![
                    Effect::Send(event::push(
                        &topic,
                        join_ref.clone(),
                        event::SYSTEM,
                        json!({"status": "error", "extension": "system", "channel": name, "message": refusal.to_string()}),
                    )),
                    Effect::Send(event::close(&topic, join_ref)),
                    Effect::Unsubscribe { topic },
                ]
            }
        }
    }

    fn handle_user_broadcast(&mut self, p: UserBroadcastPush) -> Vec<Effect> {
        let UserBroadcastPush { join_ref, msg_ref, broadcast: raw } = p;
        let topic = raw.topic.clone();
        let reply_error = |text: &str| Effect::Send(event::reply_error(join_ref.clone(), msg_ref.clone(), &topic, text));
        let Some(channel) = self.channels.get(&topic) else {
            return vec![reply_error(reason::UNMATCHED_TOPIC)];
        };
        if let Some(refusal) = authority_refusal(channel.role, &raw.event) {
            return vec![reply_error(&refusal)];
        }
        let meta = if raw.meta.is_empty() {
            None
        } else {
            match serde_json::from_slice::<Value>(&raw.meta) {
                Ok(v) => Some(v),
                Err(e) => return vec![reply_error(&format!("broadcast metadata is not valid JSON: {e}"))],
            }
        };
        let json = match raw.encoding {
            PayloadEncoding::Binary => None,
            PayloadEncoding::Json => match serde_json::from_slice::<Value>(&raw.payload) {
                Ok(payload) => {
                    let mut form = json!({"type": event::BROADCAST, "event": raw.event, "payload": payload});
                    if let (Some(meta), Some(obj)) = (meta, form.as_object_mut()) {
                        obj.insert("meta".into(), meta);
                    }
                    Some(form)
                }
                Err(e) => return vec![reply_error(&format!("broadcast payload is marked JSON but is not valid JSON: {e}"))],
            },
        };
        let config = &channel.config;
        let ack = config.broadcast_ack.then(|| Effect::Send(event::reply_ok(join_ref.clone(), msg_ref.clone(), &topic, json!({}))));
        let mut effects =
            vec![Effect::Broadcast { topic: topic.clone(), body: Broadcast::User { raw, json }, include_self: config.broadcast_self }];
        effects.extend(ack);
        effects
    }
}

fn authority_refusal(role: Role, user_event: &str) -> Option<String> {
    (user_event.starts_with(event::AUTHORITY_PREFIX) && !role.may_send_authority_events()).then(|| {
        format!("Forbidden: {user_event:?} is an authority event (prefix {:?}); only the room's host may send it", event::AUTHORITY_PREFIX)
    })
}

fn server_only(kind: u8) -> Vec<Effect> {
    vec![Effect::Close { code: CLOSE_POLICY, reason: format!("malformed frame: binary kind {kind} is sent by servers only") }]
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
