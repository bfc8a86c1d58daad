//! Who may join which topic, and with what role.
//!
//! The hub is a relay: it does not interpret room state, but it does decide who gets in. Three
//! policies cover its uses — an open relay for local experiments, a shared-token relay
//! (`whatssound-cli hub --token`), and a single room with a host token and a listener token (the
//! host's embedded hub). Refusals are strings that start with `Unauthorized: `, because that is what
//! the official clients show their users when a join fails.

use whatssound_protocol::event::REALTIME_PREFIX;

/// What a joined socket may do on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Presented the room's host token: may send authority events.
    Host,
    /// Presented the room's listener token.
    Listener,
    /// Joined a relay that does not tell roles apart; authority events must be signed instead.
    Peer,
}

impl Role {
    /// Whether this role may send events named with [`whatssound_protocol::event::AUTHORITY_PREFIX`].
    pub fn may_send_authority_events(self) -> bool {
        !matches!(self, Role::Listener)
    }
}

/// The access policy of a hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone may join any `realtime:` topic.
    Open,
    /// Every join must present this token.
    Token(String),
    /// One room: its topics only, with a host token and a listener token.
    Room(RoomAccess),
}

/// The tokens of one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomAccess {
    pub room: String,
    pub host_token: String,
    pub listener_token: String,
}

impl RoomAccess {
    /// Whether `topic` is one of this room's channels: `realtime:room:ID` or `realtime:room:ID:…`.
    pub fn owns_topic(&self, topic: &str) -> bool {
        let Some(rest) = topic.strip_prefix(REALTIME_PREFIX).and_then(|t| t.strip_prefix("room:")) else {
            return false;
        };
        match rest.strip_prefix(self.room.as_str()) {
            Some("") => true,
            Some(sub) => sub.starts_with(':'),
            None => false,
        }
    }
}

impl Access {
    /// Whether `token` is a room's host token. The host's socket carries the whole room's traffic
    /// (every diff, every clock answer), so the per-socket message rate does not apply to it.
    pub fn is_host_token(&self, token: Option<&str>) -> bool {
        match (self, token) {
            (Access::Room(room), Some(t)) => constant_time_eq(t, &room.host_token),
            _ => false,
        }
    }

    /// Decides a join of `topic` by a socket presenting `token`.
    pub fn authorize(&self, topic: &str, token: Option<&str>) -> Result<Role, Refusal> {
        match self {
            Access::Open => Ok(Role::Peer),
            Access::Token(expected) => match token {
                Some(t) if constant_time_eq(t, expected) => Ok(Role::Peer),
                Some(_) => Err(Refusal::WrongHubToken),
                None => Err(Refusal::NoHubToken),
            },
            Access::Room(room) => {
                if !room.owns_topic(topic) {
                    return Err(Refusal::OtherRoom(room.room.clone()));
                }
                match token {
                    Some(t) if constant_time_eq(t, &room.host_token) => Ok(Role::Host),
                    Some(t) if constant_time_eq(t, &room.listener_token) => Ok(Role::Listener),
                    Some(_) => Err(Refusal::WrongRoomToken),
                    None => Err(Refusal::NoRoomToken),
                }
            }
        }
    }
}

/// Why a join (or a channel's new token) was refused. The text goes back to the client as the
/// join's error reply, so it starts with `Unauthorized:` as Supabase Realtime's do, and says what
/// to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Unauthorized: wrong token for this hub")]
    WrongHubToken,
    #[error("Unauthorized: this hub needs a token (query `token` or `apikey`, or `access_token` in the join)")]
    NoHubToken,
    #[error("Unauthorized: this hub serves room {0} only; join realtime:room:{0} or its sub-topics")]
    OtherRoom(String),
    #[error("Unauthorized: wrong or expired token for this room; ask the host for a new invite")]
    WrongRoomToken,
    #[error("Unauthorized: this room needs a token (the invite's `token`)")]
    NoRoomToken,
}

/// Compares without an early exit, so response timing does not reveal how much of a token matched.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> Access {
        Access::Room(RoomAccess { room: "jam".into(), host_token: "H".into(), listener_token: "L".into() })
    }

    #[test]
    fn room_tokens_give_roles_and_only_its_topics() {
        let a = room();
        assert_eq!(a.authorize("realtime:room:jam", Some("H")), Ok(Role::Host));
        assert_eq!(a.authorize("realtime:room:jam:chat", Some("L")), Ok(Role::Listener));
        assert_eq!(a.authorize("realtime:room:jam", Some("x")), Err(Refusal::WrongRoomToken));
        assert!(a.authorize("realtime:room:jam", None).unwrap_err().to_string().starts_with("Unauthorized: "));
        assert!(a.authorize("realtime:room:jammy", Some("H")).is_err(), "a room id that merely starts alike");
        assert!(a.authorize("realtime:other", Some("H")).is_err());
    }

    #[test]
    fn token_and_open_relays() {
        let t = Access::Token("s3cret".into());
        assert_eq!(t.authorize("realtime:any", Some("s3cret")), Ok(Role::Peer));
        assert!(t.authorize("realtime:any", Some("s3cre")).is_err());
        assert!(t.authorize("realtime:any", None).is_err());
        assert_eq!(Access::Open.authorize("realtime:any", None), Ok(Role::Peer));
        assert!(Role::Peer.may_send_authority_events() && Role::Host.may_send_authority_events());
        assert!(!Role::Listener.may_send_authority_events());
    }
}
