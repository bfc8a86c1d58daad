//! What users ask the room to do. Listeners send intents; only the authority turns them into diffs.

use serde::{Deserialize, Serialize};

use crate::ids::{IntentId, TrackId, UserId};
use crate::queue::TrackMeta;

/// One request, with the id its sender chose (re-sending it is safe: it applies at most once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub id: IntentId,
    /// The display name the sender uses now (chat messages keep it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub action: Action,
}

/// Where to put a new track. Listeners may only append.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    #[default]
    Append,
    Prepend,
    At(usize),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    Enqueue {
        /// Described already: the host's IO edge reads tags before the engine sees a file.
        track: TrackMeta,
        #[serde(default)]
        position: Position,
    },
    /// Remove a track: your own, or any (host).
    Remove {
        track: TrackId,
    },
    /// Move a track to a 0-based index (host).
    Move {
        track: TrackId,
        to: usize,
    },
    Vote {
        track: TrackId,
        up: bool,
    },
    Chat {
        text: String,
    },
    React {
        emoji: String,
    },
    Play,
    Pause,
    /// Seek the current track to an absolute position.
    Seek {
        ms: u64,
    },
    Skip,
    /// Ban a user's key from the room (host).
    Kick {
        user: UserId,
    },
}

impl Action {
    /// Actions only the host may take, whatever the arguments.
    pub fn is_host_only(&self) -> bool {
        matches!(self, Action::Move { .. } | Action::Play | Action::Pause | Action::Seek { .. } | Action::Skip | Action::Kick { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn intents_have_a_readable_wire_form() {
        let i: Intent = serde_json::from_value(json!({
            "id": "i1", "name": "ann",
            "action": {"type": "enqueue", "track": {"title": "Song", "source": {"type": "url", "url": "https://x/y.ogg"}}}
        }))
        .unwrap();
        assert!(matches!(&i.action, Action::Enqueue { position: Position::Append, .. }));
        let v: Action = serde_json::from_value(json!({"type":"vote","track":"t1","up":false})).unwrap();
        assert_eq!(v, Action::Vote { track: "t1".into(), up: false });
        let m: Action =
            serde_json::from_value(json!({"type":"enqueue","track":{"title":"a","source":{"type":"url","url":"u"}},"position":{"at":2}}))
                .unwrap();
        assert!(matches!(m, Action::Enqueue { position: Position::At(2), .. }));
        assert!(serde_json::from_value::<Action>(json!({"type":"dance"})).is_err());
    }
}
