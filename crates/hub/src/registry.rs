//! The shared topic table: who is subscribed where, presence per topic, and the fan-out.
//!
//! One lock guards the table. A broadcast holds it only to encode the frame once per serializer
//! (vsn 1 JSON, vsn 2 JSON, vsn 2 binary kind 4) and to `try_send` a reference-counted copy into
//! each subscriber's bounded queue; it never waits on a socket. A subscriber whose queue is full is
//! told to close instead of slowing everyone else down.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::ws::Message as WsMessage;
use serde_json::{Map, Value};
use tokio::sync::{Notify, mpsc};
use whatssound_protocol::event::{self, PRESENCE_DIFF};
use whatssound_protocol::{Frame, Message, PresenceDiff, PresenceTable, Vsn, WireFrame, encode};

use crate::session::{Broadcast, ChannelConfig, Dialect};

/// A frame on its way to a socket. Shared rather than copied: one encoding serves every subscriber,
/// and a queue slot holds a pointer, which keeps an idle socket's queue small.
pub(crate) type Outgoing = Arc<WsMessage>;

/// Where a socket's outbound frames go.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    /// Signalled when the queue is full: the socket closes itself as too slow.
    overflow: Arc<Notify>,
}

impl Outbox {
    pub(crate) fn new(tx: mpsc::Sender<Outgoing>, overflow: Arc<Notify>) -> Self {
        Outbox { tx, overflow }
    }

    fn deliver(&self, m: Outgoing) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(m) {
            self.overflow.notify_one();
        }
    }
}

#[derive(Debug)]
struct Subscriber {
    socket: u64,
    vsn: Vsn,
    dialect: Dialect,
    presence: bool,
    outbox: Outbox,
}

#[derive(Debug, Default)]
struct Topic {
    subscribers: Vec<Subscriber>,
    presence: PresenceTable<u64>,
}

/// Counts for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    pub topics: usize,
    pub subscriptions: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    topics: Mutex<HashMap<String, Topic>>,
    next_ref: AtomicU64,
}

impl Registry {
    fn table(&self) -> MutexGuard<'_, HashMap<String, Topic>> {
        // A panic elsewhere must not take every socket down with it; the table stays usable.
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Subscribes (or re-subscribes with new options) one socket to a topic.
    pub(crate) fn subscribe(&self, topic: &str, socket: u64, vsn: Vsn, dialect: Dialect, config: &ChannelConfig, outbox: Outbox) {
        let mut table = self.table();
        let t = table.entry(topic.to_owned()).or_default();
        t.subscribers.retain(|s| s.socket != socket);
        t.subscribers.push(Subscriber { socket, vsn, dialect, presence: config.presence_enabled, outbox });
    }

    /// Unsubscribes a socket from a topic, untracking its presence.
    pub(crate) fn unsubscribe(&self, topic: &str, socket: u64) {
        let mut table = self.table();
        let Some(t) = table.get_mut(topic) else { return };
        t.subscribers.retain(|s| s.socket != socket);
        let diff = t.presence.untrack(&socket);
        fan_out_presence(topic, t, &diff);
        if t.subscribers.is_empty() && t.presence.is_empty() {
            table.remove(topic);
        }
    }

    pub(crate) fn presence_state(&self, topic: &str) -> Value {
        self.table().get(topic).map_or_else(|| Value::Object(Map::new()), |t| t.presence.state())
    }

    pub(crate) fn track(&self, topic: &str, socket: u64, key: &str, meta: Map<String, Value>) {
        let phx_ref = self.new_ref();
        let mut table = self.table();
        let Some(t) = table.get_mut(topic) else { return };
        let diff = t.presence.track(socket, key, meta, phx_ref);
        fan_out_presence(topic, t, &diff);
    }

    pub(crate) fn untrack(&self, topic: &str, socket: u64) {
        let mut table = self.table();
        let Some(t) = table.get_mut(topic) else { return };
        let diff = t.presence.untrack(&socket);
        fan_out_presence(topic, t, &diff);
    }

    /// Sends a broadcast to a topic's subscribers (the sender too when `include_self`).
    pub(crate) fn broadcast(&self, topic: &str, from: u64, body: &Broadcast, include_self: bool) {
        let table = self.table();
        let Some(t) = table.get(topic) else { return };
        let mut frames = Encoded::new(topic, body);
        for s in &t.subscribers {
            if s.socket == from && !include_self {
                continue;
            }
            if let Some(m) = frames.for_subscriber(s.vsn, s.dialect) {
                s.outbox.deliver(m);
            }
        }
    }

    pub(crate) fn stats(&self) -> TableStats {
        let table = self.table();
        TableStats { topics: table.len(), subscriptions: table.values().map(|t| t.subscribers.len()).sum() }
    }

    /// A presence ref: unique within this hub's life, opaque to clients (as Phoenix's are).
    fn new_ref(&self) -> String {
        format!("F{:x}", self.next_ref.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

fn fan_out_presence(topic: &str, t: &Topic, diff: &PresenceDiff) {
    if diff.is_empty() {
        return;
    }
    let message = Message::new(topic, PRESENCE_DIFF, diff.to_json());
    let mut v1 = None;
    let mut v2 = None;
    for s in t.subscribers.iter().filter(|s| s.presence) {
        let slot = match s.vsn {
            Vsn::V1 => &mut v1,
            Vsn::V2 => &mut v2,
        };
        if let Some(m) = slot.get_or_insert_with(|| to_ws(s.vsn, &Frame::Message(message.clone()))) {
            s.outbox.deliver(m.clone());
        }
    }
}

/// One broadcast, encoded lazily at most once per serializer.
struct Encoded<'a> {
    topic: &'a str,
    body: &'a Broadcast,
    v1: Option<Option<Outgoing>>,
    v2_text: Option<Option<Outgoing>>,
    v2_binary: Option<Option<Outgoing>>,
}

impl<'a> Encoded<'a> {
    fn new(topic: &'a str, body: &'a Broadcast) -> Self {
        Encoded { topic, body, v1: None, v2_text: None, v2_binary: None }
    }

    fn for_subscriber(&mut self, vsn: Vsn, dialect: Dialect) -> Option<Outgoing> {
        let (topic, body) = (self.topic, self.body);
        // Only realtime-js on vsn 2.0.0 reads binary kind 4; everyone else gets the JSON form.
        let binary = matches!((body, vsn, dialect), (Broadcast::User { .. }, Vsn::V2, Dialect::Realtime));
        let slot = match (vsn, binary) {
            (Vsn::V1, _) => &mut self.v1,
            (Vsn::V2, false) => &mut self.v2_text,
            (Vsn::V2, true) => &mut self.v2_binary,
        };
        slot.get_or_insert_with(|| {
            let frame = match body {
                Broadcast::User { raw, .. } if binary => Frame::UserBroadcast(raw.clone()),
                Broadcast::User { json: Some(json), .. } | Broadcast::Json(json) => {
                    Frame::Message(Message::new(topic, event::BROADCAST, json.clone()))
                }
                // A binary payload has no JSON form: JSON-only subscribers do not get it.
                Broadcast::User { json: None, .. } => return None,
            };
            to_ws(vsn, &frame)
        })
        .clone()
    }
}

fn to_ws(vsn: Vsn, frame: &Frame) -> Option<Outgoing> {
    match encode(vsn, frame) {
        Ok(WireFrame::Text(t)) => Some(Arc::new(WsMessage::Text(t.into()))),
        Ok(WireFrame::Binary(b)) => Some(Arc::new(WsMessage::Binary(b))),
        Err(e) => {
            tracing::warn!(topic = frame.topic(), error = %e, "frame could not be encoded for a subscriber; skipped");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use serde_json::json;
    use whatssound_protocol::{PayloadEncoding, UserBroadcast};

    fn config() -> ChannelConfig {
        ChannelConfig { broadcast_self: false, broadcast_ack: false, presence_key: "k".into(), presence_enabled: true, private: false }
    }

    fn sub(r: &Registry, topic: &str, socket: u64, vsn: Vsn, dialect: Dialect) -> mpsc::Receiver<Outgoing> {
        let (tx, rx) = mpsc::channel(8);
        r.subscribe(topic, socket, vsn, dialect, &config(), Outbox::new(tx, Arc::new(Notify::new())));
        rx
    }

    fn drain(rx: &mut mpsc::Receiver<Outgoing>) -> Vec<WsMessage> {
        std::iter::from_fn(|| rx.try_recv().ok()).map(Arc::unwrap_or_clone).collect()
    }

    #[test]
    fn user_broadcast_reaches_each_dialect_in_the_form_it_reads() {
        let r = Registry::default();
        let mut rt = sub(&r, "realtime:t", 1, Vsn::V2, Dialect::Realtime);
        let mut px = sub(&r, "realtime:t", 2, Vsn::V2, Dialect::Phoenix);
        let mut v1 = sub(&r, "realtime:t", 3, Vsn::V1, Dialect::Realtime);
        let raw = UserBroadcast {
            topic: "realtime:t".into(),
            event: "e".into(),
            meta: Bytes::new(),
            encoding: PayloadEncoding::Json,
            payload: Bytes::from_static(b"{\"a\":1}"),
        };
        let body = Broadcast::User { raw: raw.clone(), json: Some(json!({"type":"broadcast","event":"e","payload":{"a":1}})) };
        r.broadcast("realtime:t", 9, &body, false);
        assert!(matches!(&drain(&mut rt)[..], [WsMessage::Binary(b)] if b[0] == 4 && b.ends_with(b"{\"a\":1}")));
        assert!(
            matches!(&drain(&mut px)[..], [WsMessage::Text(t)] if t.as_str() == r#"[null,null,"realtime:t","broadcast",{"type":"broadcast","event":"e","payload":{"a":1}}]"#)
        );
        assert!(
            matches!(&drain(&mut v1)[..], [WsMessage::Text(t)] if t.as_str().starts_with(r#"{"topic":"realtime:t","event":"broadcast""#))
        );

        // An opaque binary payload reaches only the reader of kind 4.
        let opaque = Broadcast::User { raw: UserBroadcast { encoding: PayloadEncoding::Binary, ..raw }, json: None };
        r.broadcast("realtime:t", 9, &opaque, false);
        assert_eq!((drain(&mut rt).len(), drain(&mut px).len(), drain(&mut v1).len()), (1, 0, 0));
    }

    #[test]
    fn self_is_skipped_unless_asked_and_presence_leaves_on_unsubscribe() {
        let r = Registry::default();
        let mut a = sub(&r, "realtime:t", 1, Vsn::V2, Dialect::Phoenix);
        let mut b = sub(&r, "realtime:t", 2, Vsn::V2, Dialect::Phoenix);
        let body = Broadcast::Json(json!({"type":"broadcast","event":"x","payload":{}}));
        r.broadcast("realtime:t", 1, &body, false);
        assert_eq!((drain(&mut a).len(), drain(&mut b).len()), (0, 1));
        r.broadcast("realtime:t", 1, &body, true);
        assert_eq!((drain(&mut a).len(), drain(&mut b).len()), (1, 1));

        r.track("realtime:t", 1, "alice", Map::new());
        assert_eq!(r.presence_state("realtime:t")["alice"]["metas"][0]["phx_ref"], json!("F1"));
        assert_eq!((drain(&mut a).len(), drain(&mut b).len()), (1, 1), "both see the join diff");
        r.unsubscribe("realtime:t", 1);
        let leaves = drain(&mut b);
        assert!(matches!(&leaves[..], [WsMessage::Text(t)] if t.as_str().contains("\"leaves\":{\"alice\"")));
        r.unsubscribe("realtime:t", 2);
        assert_eq!(r.stats(), TableStats::default(), "empty topics are dropped");
    }

    #[test]
    fn a_full_queue_signals_overflow_instead_of_blocking() {
        let r = Registry::default();
        let (tx, _rx) = mpsc::channel(1);
        let overflow = Arc::new(Notify::new());
        r.subscribe("realtime:t", 1, Vsn::V2, Dialect::Phoenix, &config(), Outbox::new(tx, overflow.clone()));
        let body = Broadcast::Json(json!({"type":"broadcast","event":"x","payload":{}}));
        r.broadcast("realtime:t", 2, &body, false);
        r.broadcast("realtime:t", 2, &body, false);
        let notified = overflow.notified();
        tokio::pin!(notified);
        // notify_one stored a permit, so the future completes at once.
        assert!(futures_util::FutureExt::now_or_never(notified).is_some());
    }
}
