//! The invite a host hands out: one string a person can paste, and a link the app opens.
//!
//! `whatssound://join?ws=<url-encoded ws base>&room=<room id>&token=<token>[&key=<host public key>]
//! [&node=<host's node id>&node_relay=<its relay's URL>[&node_addrs=<ip:port>,…]]`
//!
//! `node` and `node_relay` reach a host that no address reaches (behind a NAT, no port
//! forwarded): a tunnel to that node id, met at that relay, carries what `ws` would.
//! `node_addrs` are the host's own addresses when the invite was made, tried beside the relay:
//! on one LAN they connect even when the relay cannot be reached.
//!
//! Parameters this version does not know are kept and written back, so an older app can pass a
//! newer invite along unchanged.

use std::fmt;
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::ws_base::WsBase;

const SCHEME_AND_PATH: &str = "whatssound://join?";

/// Everything but RFC 3986 unreserved characters is escaped in a query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A parsed invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// The hub's base WebSocket URL, with no path (`ws://host:port` or `wss://…`).
    pub ws: WsBase,
    pub room: String,
    pub token: String,
    /// The host's public key, for rooms whose authority events are signed.
    pub key: Option<String>,
    /// Where the host's node is, for a tunnel to it across NATs.
    pub node: Option<NodeRoute>,
    /// Parameters this version does not interpret, in their original order.
    pub extra: Vec<(String, String)>,
}

/// A host's node (its id, 64 hex digits) and the relay server it keeps as home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRoute {
    pub id: String,
    pub relay: String,
    /// Addresses the host's node had, to try directly.
    pub addrs: Vec<std::net::SocketAddr>,
}

/// Why an invite could not be read; each says which part is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    #[error("invite must start with `whatssound://join?`; got {0:?}")]
    Scheme(String),
    #[error("invite is missing `{0}=`")]
    Missing(&'static str),
    #[error("invite parameter `{0}` is empty")]
    Empty(&'static str),
    #[error("invite parameter `{0}` appears twice")]
    Duplicate(String),
    #[error("invite parameter `{0}` is not valid percent-encoded UTF-8")]
    Encoding(String),
    #[error("invite `ws` must be a ws:// or wss:// address with no path (ws://host:port); got {0:?}")]
    WsUrl(String),
    #[error("invite `room` may hold only letters, digits, `-` and `_`; got {0:?}")]
    RoomId(String),
    #[error("invite `node` must be 64 hex digits; got {0:?}")]
    NodeId(String),
    #[error("invite `node_relay` must be an http:// or https:// URL; got {0:?}")]
    NodeRelay(String),
    #[error("invite `node_addrs` must be IP:PORT addresses joined by commas; got {0:?}")]
    NodeAddrs(String),
}

/// Percent-encodes a URL query value (everything but RFC 3986's unreserved characters): the one
/// encoder for invites, socket tokens and media URLs.
pub fn encode_query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

impl Invite {
    /// Whether `room` is a usable room id (it becomes part of channel topics).
    pub fn is_valid_room_id(room: &str) -> bool {
        !room.is_empty() && room.len() <= 64 && room.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }
}

impl fmt::Display for Invite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let enc = encode_query_value;
        write!(f, "{SCHEME_AND_PATH}ws={}&room={}&token={}", enc(self.ws.as_str()), enc(&self.room), enc(&self.token))?;
        if let Some(key) = &self.key {
            write!(f, "&key={}", enc(key))?;
        }
        if let Some(node) = &self.node {
            write!(f, "&node={}&node_relay={}", enc(&node.id), enc(&node.relay))?;
            if !node.addrs.is_empty() {
                let addrs: Vec<String> = node.addrs.iter().map(ToString::to_string).collect();
                write!(f, "&node_addrs={}", enc(&addrs.join(",")))?;
            }
        }
        for (k, v) in &self.extra {
            write!(f, "&{}={}", enc(k), enc(v))?;
        }
        Ok(())
    }
}

impl FromStr for Invite {
    type Err = InviteError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let query = s.strip_prefix(SCHEME_AND_PATH).ok_or_else(|| InviteError::Scheme(s.chars().take(40).collect()))?;
        let (mut ws, mut room, mut token, mut key, mut node, mut node_relay, mut node_addrs) = (None, None, None, None, None, None, None);
        let mut extra = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = decode(k)?;
            let v = decode(v)?;
            let slot = match k.as_str() {
                "ws" => &mut ws,
                "room" => &mut room,
                "token" => &mut token,
                "key" => &mut key,
                "node" => &mut node,
                "node_relay" => &mut node_relay,
                "node_addrs" => &mut node_addrs,
                _ => {
                    extra.push((k, v));
                    continue;
                }
            };
            if slot.replace(v).is_some() {
                return Err(InviteError::Duplicate(k));
            }
        }
        let ws = required(ws, "ws")?;
        let room = required(room, "room")?;
        let token = required(token, "token")?;
        let ws: WsBase = ws.parse().map_err(|_| InviteError::WsUrl(ws))?;
        if !Invite::is_valid_room_id(&room) {
            return Err(InviteError::RoomId(room));
        }
        let key = match key {
            Some(k) if k.is_empty() => return Err(InviteError::Empty("key")),
            other => other,
        };
        let node = match (node, node_relay) {
            (None, None) => None,
            (Some(_), None) => return Err(InviteError::Missing("node_relay")),
            (None, Some(_)) => return Err(InviteError::Missing("node")),
            (Some(id), Some(relay)) => {
                if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(InviteError::NodeId(id));
                }
                let rest = relay.strip_prefix("http://").or_else(|| relay.strip_prefix("https://"));
                if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
                    return Err(InviteError::NodeRelay(relay));
                }
                let addrs = match node_addrs.as_deref() {
                    None | Some("") => Vec::new(),
                    Some(list) => {
                        list.split(',').map(str::parse).collect::<Result<_, _>>().map_err(|_| InviteError::NodeAddrs(list.to_owned()))?
                    }
                };
                Some(NodeRoute { id, relay, addrs })
            }
        };
        Ok(Invite { ws, room, token, key, node, extra })
    }
}

fn decode(v: &str) -> Result<String, InviteError> {
    // `+` is a space in form encoding; browsers and chat apps produce it, so accept it.
    let v = v.replace('+', " ");
    percent_decode_str(&v).decode_utf8().map(|c| c.into_owned()).map_err(|_| InviteError::Encoding(v.clone()))
}

fn required(v: Option<String>, name: &'static str) -> Result<String, InviteError> {
    match v {
        None => Err(InviteError::Missing(name)),
        Some(v) if v.is_empty() => Err(InviteError::Empty(name)),
        Some(v) => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_escapes_the_ws_url() {
        let invite = Invite {
            ws: "ws://127.0.0.1:7667".parse().unwrap(),
            room: "jam-1".into(),
            token: "abc_DEF".into(),
            key: Some("k".into()),
            node: None,
            extra: vec![("x".into(), "1 2".into())],
        };
        let text = invite.to_string();
        assert_eq!(text, "whatssound://join?ws=ws%3A%2F%2F127.0.0.1%3A7667&room=jam-1&token=abc_DEF&key=k&x=1%202");
        assert_eq!(text.parse::<Invite>(), Ok(invite));
    }

    #[test]
    fn a_node_and_its_relay_travel_together() {
        let id = "ab".repeat(32);
        let invite = Invite {
            ws: "ws://127.0.0.1:7667".parse().unwrap(),
            room: "jam".into(),
            token: "t".into(),
            key: None,
            node: Some(NodeRoute { id: id.clone(), relay: "http://10.77.0.1:3340".into(), addrs: vec![] }),
            extra: vec![],
        };
        let text = invite.to_string();
        assert!(text.ends_with(&format!("&node={id}&node_relay=http%3A%2F%2F10.77.0.1%3A3340")), "{text}");
        assert_eq!(text.parse::<Invite>(), Ok(invite.clone()));
        // With the host's own addresses, v4 and v6.
        let addrs = vec![
            "192.168.1.5:40000".parse().unwrap_or_else(|e| panic!("{e}")),
            "[fd00::5]:40000".parse().unwrap_or_else(|e| panic!("{e}")),
        ];
        let with = Invite { node: Some(NodeRoute { id: id.clone(), relay: "http://r:1".into(), addrs }), ..invite };
        assert_eq!(with.to_string().parse::<Invite>(), Ok(with));
        // An invite of before knows no node, and still reads.
        let old = "whatssound://join?ws=ws%3A%2F%2Fh%3A1&room=a&token=t".parse::<Invite>().map(|i| i.node);
        assert_eq!(old, Ok(None));
    }

    #[test]
    fn each_bad_part_is_named() {
        let cases = [
            ("https://x", "start with"),
            ("whatssound://join?room=a&token=t", "missing `ws=`"),
            ("whatssound://join?ws=ws%3A%2F%2Fh&token=t", "missing `room=`"),
            ("whatssound://join?ws=ws%3A%2F%2Fh&room=a", "missing `token=`"),
            ("whatssound://join?ws=ws%3A%2F%2Fh&room=a&token=", "`token` is empty"),
            ("whatssound://join?ws=http%3A%2F%2Fh&room=a&token=t", "ws:// or wss://"),
            ("whatssound://join?ws=ws%3A%2F%2Fh%2Fsocket&room=a&token=t", "with no path"),
            ("whatssound://join?ws=ws%3A%2F%2Fh&room=a%2Fb&token=t", "`room` may hold"),
            ("whatssound://join?ws=ws%3A%2F%2Fh&room=a&room=b&token=t", "appears twice"),
            ("whatssound://join?ws=ws%3A%2F%2Fh&room=a&token=%FF", "percent-encoded"),
            ("whatssound://join?ws=ws%3A%2F%2Fh&room=a&token=t&node=abc&node_relay=http%3A%2F%2Fr", "64 hex digits"),
            ("whatssound://join?ws=ws%3A%2F%2Fh&room=a&token=t&node=abc", "missing `node_relay=`"),
            (
                "whatssound://join?ws=ws%3A%2F%2Fh&room=a&token=t&node=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef&node_relay=http%3A%2F%2Fr&node_addrs=nowhere",
                "IP:PORT addresses",
            ),
            (
                "whatssound://join?ws=ws%3A%2F%2Fh&room=a&token=t&node=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef&node_relay=ws%3A%2F%2Fr",
                "http:// or https://",
            ),
            ("whatssound://join?ws=ws%3A%2F%2Fh&room=a&token=t&node_relay=x", "missing `node=`"),
        ];
        for (text, needle) in cases {
            let err = text.parse::<Invite>().expect_err(text).to_string();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(!err.contains('\n'));
        }
    }
}
