//! What a member's presence says of it, in the room's vocabulary.
//!
//! Phoenix presence carries free JSON per connection (a "meta"), and the hub keeps it so (the
//! official clients track whatever they like). A room's members all track a [`PresenceMeta`]:
//! it is parsed once, where presence arrives, and everything past that point reads fields, not
//! string keys. A meta that is not one (a stranger's client on the topic) is left out.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use whatssound_room::UserId;

/// The longest avatar a member's presence carries (a URL, or a small image as a `data:` URL).
/// Presence goes to everyone in the room on every change, so a bigger one is refused where it is
/// set ([`check_avatar`]), and left out of presence, with a warning, if it comes from elsewhere.
pub const MAX_AVATAR_BYTES: usize = 32 * 1024;

/// An avatar too big to send to everyone in a room.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the avatar is {bytes} bytes, over {} KiB (everyone in the room is sent it); pick a smaller image or a link", MAX_AVATAR_BYTES / 1024)]
pub struct AvatarTooBig {
    pub bytes: usize,
}

/// Whether `avatar` may go into presence; the edges (the app's settings, the CLI's `--avatar`)
/// refuse one that may not, with this error.
pub fn check_avatar(avatar: &str) -> Result<(), AvatarTooBig> {
    let bytes = avatar.trim().len();
    if bytes > MAX_AVATAR_BYTES { Err(AvatarTooBig { bytes }) } else { Ok(()) }
}

/// Who a member is in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceRole {
    Host,
    Listener,
}

/// The slow presence fields a room member tracks on the main topic (the fast ones, typing and
/// audio, travel as `activity` broadcasts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceMeta {
    pub user_id: UserId,
    pub username: String,
    #[serde(default)]
    pub avatar_url: Option<String>,
    pub role: PresenceRole,
    /// Wall-clock ms: for display, not for sync.
    #[serde(default)]
    pub joined_at: u64,
    /// What its audio was doing when it joined (`activity` says it since).
    #[serde(default)]
    pub audio_state: Option<String>,
    /// Its node in the room's swarm, when it passes tracks on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Where it answers LAN clock pings, when it offers its estimate to listeners beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_peer: Option<SocketAddr>,
}

impl PresenceMeta {
    /// This member's meta, joining now. An avatar too big for presence is left out, with a warning.
    pub fn new(user: &UserId, name: &str, avatar: Option<&str>, role: PresenceRole) -> Self {
        let avatar = avatar.map(str::trim).filter(|a| !a.is_empty()).filter(|a| match check_avatar(a) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("{e}; left out of presence");
                false
            }
        });
        let joined_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        PresenceMeta {
            user_id: user.clone(),
            username: name.to_owned(),
            avatar_url: avatar.map(str::to_owned),
            role,
            joined_at: u64::try_from(joined_at).unwrap_or(0),
            audio_state: Some("paused".into()),
            node: None,
            clock_peer: None,
        }
    }

    /// A meta as presence carries it, if it is a room member's (the hub's own keys, such as
    /// `phx_ref`, are ignored).
    pub fn from_map(meta: &Map<String, Value>) -> Option<Self> {
        serde_json::from_value(Value::Object(meta.clone())).ok()
    }

    /// The meta to track.
    pub fn to_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }
}

/// The room's members as presence shows them, by presence key, each meta parsed once (what is
/// not a member's meta is left out).
pub fn presence_members(presence: &whatssound_protocol::PresenceView) -> Vec<(&str, PresenceMeta)> {
    presence.by_key.iter().flat_map(|(key, metas)| metas.iter().filter_map(|m| Some((key.as_str(), PresenceMeta::from_map(m)?)))).collect()
}

/// The swarm nodes among `members` (the ones that pass tracks on).
pub fn presence_nodes<'a>(members: impl IntoIterator<Item = &'a PresenceMeta>) -> whatssound_swarm::Members {
    members.into_iter().filter_map(|m| m.node.as_deref()?.parse().ok()).map(|id| (id, Vec::new())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meta_goes_out_and_comes_back_with_the_hubs_keys_ignored() {
        let mut meta = PresenceMeta::new(&UserId::from("u1"), "Ann", Some(" https://x.org/a.png "), PresenceRole::Listener);
        meta.clock_peer = Some("192.168.1.5:7667".parse().unwrap());
        let mut map = meta.to_map();
        assert_eq!(map["role"], "listener");
        assert!(!map.contains_key("node"), "absent fields are not sent");
        map.insert("phx_ref".into(), Value::String("F1".into()));
        let back = PresenceMeta::from_map(&map).unwrap();
        assert_eq!(back, meta);
        assert_eq!(back.avatar_url.as_deref(), Some("https://x.org/a.png"));
    }

    #[test]
    fn a_strangers_meta_and_an_oversized_avatar_are_left_out() {
        let stranger = serde_json::json!({"online_at": 1}).as_object().cloned().unwrap();
        assert_eq!(PresenceMeta::from_map(&stranger), None);
        let huge = "x".repeat(MAX_AVATAR_BYTES + 1);
        assert_eq!(PresenceMeta::new(&UserId::from("u"), "u", Some(&huge), PresenceRole::Host).avatar_url, None);
        assert!(check_avatar(&huge).is_err() && check_avatar("https://x.org/a.png").is_ok());
    }
}
