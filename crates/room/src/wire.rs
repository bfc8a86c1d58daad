//! How a room travels over channels: topic names, event names and payload shapes.
//!
//! Every payload is a [`Signed`] envelope whose body is JSON text: listeners sign their intents and
//! activity, the host signs everything it publishes, so a replica can tell the host's diffs from a
//! forgery whatever relay carried them. Event names the host sends start with the hub's authority
//! prefix (`host:`), so the embedded hub refuses them from listener sockets as well.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::identity::{Identity, SignatureError, Signed};
use crate::ids::{IntentId, UserId};
use crate::state::{Change, ChatMessage, Diff, Snapshot};

/// Listener → host, on the main topic: a signed [`crate::Intent`].
pub const INTENT: &str = "intent";
/// Listener → host, on the main topic: send me a snapshot (on my user topic).
pub const SNAPSHOT_REQUEST: &str = "snapshot_request";
/// Listener → everyone, on the reactions topic: fast-changing presence fields.
pub const ACTIVITY: &str = "activity";
/// Listener → host, on the listener's own topic (earlier versions: the playback topic): a signed
/// [`ClockPing`].
pub const CLOCK_PING: &str = "clock_ping";
/// Host → one user: a signed [`ClockPong`] answering a ping.
pub const CLOCK_PONG: &str = "host:clock_pong";
/// Host → everyone: a signed [`Diff`], on the topic of its kind.
pub const DIFF: &str = "host:diff";
/// Host → one user: a signed [`SnapshotMessage`].
pub const SNAPSHOT: &str = "host:snapshot";
/// Host → one user: a signed [`Verdict`] about one of their intents.
pub const VERDICT: &str = "host:verdict";
/// Host → everyone, on the reactions topic: a signed [`ReactionMessage`].
pub const REACTION: &str = "host:reaction";

/// The wire names of one room's channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    pub main: String,
    pub chat: String,
    pub queue: String,
    pub playback: String,
    pub votes: String,
    pub reactions: String,
}

impl Topics {
    pub fn new(room: &str) -> Self {
        let t = |sub: &str| format!("realtime:room:{room}{sub}");
        Topics {
            main: t(""),
            chat: t(":chat"),
            queue: t(":queue"),
            playback: t(":playback"),
            votes: t(":votes"),
            reactions: t(":reactions"),
        }
    }

    /// The channel for one user's private answers.
    pub fn user(&self, user: &UserId) -> String {
        format!("{}:user:{user}", self.main)
    }

    /// Every shared channel, main first.
    pub fn all(&self) -> [&str; 6] {
        [&self.main, &self.chat, &self.queue, &self.playback, &self.votes, &self.reactions]
    }

    /// Where a diff of this kind is published.
    pub fn for_change(&self, change: &Change) -> &str {
        match change {
            Change::Queue { .. } => &self.queue,
            Change::Chat { .. } => &self.chat,
            Change::Tally { .. } => &self.votes,
            Change::Playback { .. } => &self.playback,
            Change::Banned { .. } | Change::Closed | Change::Reopened => &self.main,
        }
    }
}

/// A snapshot with the recent chat a late joiner should see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotMessage {
    pub state: Snapshot,
    /// The host's clock (ms) when the snapshot was taken, for playback position.
    pub host_now_ms: u64,
}

/// The host's answer to one intent, for its sender alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    Refused {
        intent: IntentId,
        reason: String,
    },
    /// Applied earlier; the effect is in the history at or before `seq`.
    AlreadyApplied {
        intent: IntentId,
        seq: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionMessage {
    pub user: UserId,
    pub name: String,
    pub emoji: String,
    pub at_ms: u64,
}

/// Fast presence fields, sent as often as they change (presence itself allows 5 calls per 30 s).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    #[serde(default)]
    pub is_typing: bool,
    pub current_reaction: Option<String>,
    pub listening_position_ms: Option<u64>,
    /// What the member's audio is doing: `playing`, `buffering`, `paused` or `idle`.
    pub audio: Option<String>,
}

/// One NTP-style clock exchange, listener side: `t0` on the listener's monotonic clock (ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockPing {
    pub nonce: u64,
    pub t0: i64,
}

/// The host's answer: `t1` when the ping arrived, `t2` when the pong left, on the host's
/// monotonic clock (ns; the same clock as playback's `at_ms`, in ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockPong {
    pub nonce: u64,
    pub t0: i64,
    pub t1: i64,
    pub t2: i64,
}

/// Why a received payload was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("payload is not a signed envelope {{user, body, sig}}: {0}")]
    Envelope(String),
    #[error("bad signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("signed body is not a valid {what}: {error}")]
    Body { what: &'static str, error: String },
}

/// Signs `body` as JSON.
pub fn seal<T: Serialize>(identity: &Identity, body: &T) -> serde_json::Value {
    let text = serde_json::to_string(body).unwrap_or_default();
    serde_json::to_value(identity.sign(text)).unwrap_or_default()
}

/// Opens an envelope signed by anyone; returns the signer and the body.
pub fn open<T: DeserializeOwned>(payload: &serde_json::Value, what: &'static str) -> Result<(UserId, T), WireError> {
    let signed: Signed = serde_json::from_value(payload.clone()).map_err(|e| WireError::Envelope(e.to_string()))?;
    signed.verify()?;
    let body = serde_json::from_str(&signed.body).map_err(|e| WireError::Body { what, error: e.to_string() })?;
    Ok((signed.user, body))
}

/// Opens an envelope that must be signed by `host`.
pub fn open_from_host<T: DeserializeOwned>(payload: &serde_json::Value, host: &UserId, what: &'static str) -> Result<T, WireError> {
    let (signer, body) = open(payload, what)?;
    if &signer != host {
        return Err(WireError::Signature(SignatureError::Mismatch));
    }
    Ok(body)
}

/// A chat message as listeners print it (kept here so every client formats it the same way).
pub fn chat_of(diff: &Diff) -> Option<&ChatMessage> {
    match &diff.change {
        Change::Chat { message } => Some(message),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Change;

    #[test]
    fn topics_follow_the_original_design() {
        let t = Topics::new("jam");
        assert_eq!(
            t.all(),
            [
                "realtime:room:jam",
                "realtime:room:jam:chat",
                "realtime:room:jam:queue",
                "realtime:room:jam:playback",
                "realtime:room:jam:votes",
                "realtime:room:jam:reactions"
            ]
        );
        assert_eq!(t.user(&"abc".into()), "realtime:room:jam:user:abc");
        assert_eq!(t.for_change(&Change::Closed), "realtime:room:jam");
    }

    #[test]
    fn only_the_host_key_opens_a_host_envelope() {
        let host = Identity::from_secret([7; 32]);
        let mallory = Identity::from_secret([8; 32]);
        let diff = Diff { seq: 1, intent: None, by: None, change: Change::Closed };
        let sealed = seal(&host, &diff);
        assert_eq!(open_from_host::<Diff>(&sealed, &host.user_id(), "diff"), Ok(diff.clone()));
        let forged = seal(&mallory, &diff);
        assert!(open_from_host::<Diff>(&forged, &host.user_id(), "diff").is_err());
        let mut tampered = sealed.clone();
        tampered["body"] = serde_json::Value::String(tampered["body"].as_str().unwrap().replace("\"seq\":1", "\"seq\":2"));
        assert!(matches!(open_from_host::<Diff>(&tampered, &host.user_id(), "diff"), Err(WireError::Signature(_))));
        assert!(matches!(open::<Diff>(&serde_json::json!({"seq": 1}), "diff"), Err(WireError::Envelope(_))));
        let not_a_diff = seal(&host, &"hello");
        assert!(matches!(open_from_host::<Diff>(&not_a_diff, &host.user_id(), "diff"), Err(WireError::Body { .. })));
    }
}
