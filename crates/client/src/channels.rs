//! What the client wants to be joined to, independent of whether the socket is up right now.
//!
//! The connection task consults this on every (re)connect: join everything, then re-track the
//! presence metas — Phoenix forgets a channel's presence when the channel goes, so a client that
//! does not re-track after a rejoin silently vanishes from everyone's list.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

/// A channel's join options (the realtime-js `config`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinOptions {
    /// Receive our own broadcasts.
    pub broadcast_self: bool,
    /// Have the server acknowledge each broadcast.
    pub broadcast_ack: bool,
    /// The presence key; `None` disables presence on this channel.
    pub presence_key: Option<String>,
}

impl JoinOptions {
    pub fn join_payload(&self, token: Option<&str>) -> Value {
        let mut payload = json!({
            "config": {
                "broadcast": {"self": self.broadcast_self, "ack": self.broadcast_ack},
                "presence": {"key": self.presence_key.clone().unwrap_or_default(), "enabled": self.presence_key.is_some()},
                "private": false,
            }
        });
        if let (Some(t), Some(obj)) = (token, payload.as_object_mut()) {
            obj.insert("access_token".into(), Value::String(t.to_owned()));
        }
        payload
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    pub options: JoinOptions,
    /// The meta to track after each join, if any.
    pub presence: Option<Map<String, Value>>,
    /// The join_ref of the current join on the current socket, once sent.
    pub join_ref: Option<String>,
    pub joined: bool,
    /// Broadcasts made before the join was confirmed, sent right after it (as phoenix.js buffers
    /// pushes on a joining channel).
    pub queued: Vec<(String, Value)>,
}

impl Wanted {
    pub fn new(options: JoinOptions, presence: Option<Map<String, Value>>) -> Self {
        Wanted { options, presence, join_ref: None, joined: false, queued: Vec::new() }
    }
}

/// What a pending ref is waiting for.
#[derive(Debug)]
pub(crate) enum Pending<A> {
    Join {
        topic: String,
    },
    Heartbeat,
    /// A broadcast or presence call whose reply someone awaits.
    Reply(A),
}

/// The wanted channels and the refs in flight.
#[derive(Debug)]
pub(crate) struct ChannelSet<A> {
    pub wanted: BTreeMap<String, Wanted>,
    pending: HashMap<String, Pending<A>>,
    next_ref: u64,
}

impl<A> Default for ChannelSet<A> {
    fn default() -> Self {
        ChannelSet { wanted: BTreeMap::new(), pending: HashMap::new(), next_ref: 0 }
    }
}

impl<A> ChannelSet<A> {
    pub fn next_ref(&mut self) -> String {
        self.next_ref += 1;
        self.next_ref.to_string()
    }

    pub fn expect(&mut self, r: String, what: Pending<A>) {
        self.pending.insert(r, what);
    }

    pub fn take(&mut self, r: &str) -> Option<Pending<A>> {
        self.pending.remove(r)
    }

    /// Forgets everything tied to the old socket; returns the replies that will never come.
    pub fn disconnected(&mut self) -> Vec<A> {
        for w in self.wanted.values_mut() {
            w.joined = false;
            w.join_ref = None;
            // Not re-sent by the client: what must survive a disconnect is the application's to
            // keep (the room's outbox does).
            w.queued.clear();
        }
        self.pending
            .drain()
            .filter_map(|(_, p)| match p {
                Pending::Reply(a) => Some(a),
                _ => None,
            })
            .collect()
    }

    /// Heartbeats still unanswered (more than one means the connection is dead).
    pub fn heartbeats_in_flight(&self) -> usize {
        self.pending.values().filter(|p| matches!(p, Pending::Heartbeat)).count()
    }

    pub fn all_joined(&self) -> bool {
        self.wanted.values().all(|w| w.joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_payload_matches_realtime_js() {
        let o = JoinOptions { broadcast_self: true, broadcast_ack: false, presence_key: Some("u1".into()) };
        assert_eq!(
            o.join_payload(Some("tok")),
            json!({"config":{"broadcast":{"self":true,"ack":false},"presence":{"key":"u1","enabled":true},"private":false},"access_token":"tok"})
        );
        assert_eq!(JoinOptions::default().join_payload(None)["config"]["presence"]["enabled"], false);
    }

    #[test]
    fn a_disconnect_fails_pending_replies_and_unjoins() {
        let mut set: ChannelSet<u8> = ChannelSet::default();
        set.wanted.insert("t".into(), Wanted { join_ref: Some("1".into()), joined: true, ..Wanted::new(JoinOptions::default(), None) });
        let r = set.next_ref();
        set.expect(r, Pending::Reply(7));
        let hb = set.next_ref();
        set.expect(hb, Pending::Heartbeat);
        assert_eq!(set.heartbeats_in_flight(), 1);
        assert_eq!(set.disconnected(), vec![7]);
        assert!(!set.all_joined());
        assert_eq!(set.heartbeats_in_flight(), 0);
    }
}
