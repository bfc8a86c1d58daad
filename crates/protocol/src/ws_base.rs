//! [`WsBase`]: where a room's channels and media are, parsed once where it enters (a flag, a
//! setting), so nothing past that edge checks or trims a URL string again.

use std::fmt;
use std::str::FromStr;

/// A `ws://` or `wss://` URL with a host and no path (`ws://my.host:7667`,
/// `wss://music.example.org`), with no trailing slash. The Phoenix socket, the realtime-js
/// endpoint and the media server all hang off it.
/// It is written as its URL (in JSON lines, in settings); it is only ever read by parsing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct WsBase(String);

/// Why a URL is not a [`WsBase`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a ws:// or wss:// address with no path, like ws://my.host:7667 or wss://music.example.org")]
pub struct BadWsBase(pub String);

/// The path realtime-js appends `/websocket` to.
const REALTIME: &str = "/realtime/v1";

impl FromStr for WsBase {
    type Err = BadWsBase;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let trimmed = url.trim().trim_end_matches('/');
        match trimmed.strip_prefix("ws://").or_else(|| trimmed.strip_prefix("wss://")) {
            Some(rest) if !rest.is_empty() && !rest.contains('/') => Ok(WsBase(trimmed.to_owned())),
            _ => Err(BadWsBase(url.to_owned())),
        }
    }
}

impl WsBase {
    /// A relay's URL as people copy it: the realtime-js endpoint (`ws://HOST:PORT/realtime/v1`,
    /// what Supabase shows) or its base.
    pub fn from_endpoint(url: &str) -> Result<WsBase, BadWsBase> {
        url.trim().trim_end_matches('/').trim_end_matches(REALTIME).parse().map_err(|_| BadWsBase(url.to_owned()))
    }

    /// The plain-WebSocket base of a socket address (`ws://10.0.0.2:7667`, `ws://[::1]:80`).
    pub fn from_addr(addr: std::net::SocketAddr) -> WsBase {
        WsBase(format!("ws://{addr}"))
    }

    /// The realtime-js endpoint on this base.
    pub fn endpoint(&self) -> String {
        format!("{}{REALTIME}", self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WsBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_is_a_ws_or_wss_url_with_a_host_and_no_path() {
        assert_eq!("ws://my.host:7667/".parse::<WsBase>().unwrap().as_str(), "ws://my.host:7667");
        assert_eq!(" wss://music.example.org ".parse::<WsBase>().unwrap().as_str(), "wss://music.example.org");
        for bad in ["http://x", "ws://", "ws://x/room", "x:7667", ""] {
            let err = bad.parse::<WsBase>().unwrap_err().to_string();
            assert!(err.contains("ws:// or wss://"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_relay_may_be_named_by_its_realtime_endpoint_or_its_base() {
        for url in ["ws://relay:4000/realtime/v1", "ws://relay:4000/realtime/v1/", "ws://relay:4000"] {
            let base = WsBase::from_endpoint(url).unwrap();
            assert_eq!(base.as_str(), "ws://relay:4000", "{url}");
            assert_eq!(base.endpoint(), "ws://relay:4000/realtime/v1");
        }
        assert!(WsBase::from_endpoint("ws://relay:4000/socket").is_err());
    }
}
