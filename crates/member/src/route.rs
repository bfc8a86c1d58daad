//! How a member reaches the host: straight at the invite's address, or — when the invite names
//! the host's node — through a tunnel ([`whatssound_tunnel`]) that makes the host's port a port
//! on this machine. Everything after (the realtime client, media downloads, uploads, clock
//! datagrams) is given [`Route::ws`] and works the same either way.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use whatssound_core::CoreError;
use whatssound_protocol::{Invite, WsBase};
use whatssound_swarm::Swarm;
use whatssound_tunnel::dial::HostAddr;
use whatssound_tunnel::{PathKind, Tunnel};

/// The way to the host, for as long as it is held (a tunnel closes with its last holder).
#[derive(Debug, Clone)]
pub struct Route {
    ws: WsBase,
    tunnel: Option<Arc<Tunnel>>,
    /// Through a tunnel, the room's swarm on the same endpoint: tracks passed on between members.
    swarm: Option<Arc<Sharing>>,
}

/// A member's swarm and the task serving it to the room; the task stops with the last holder.
#[derive(Debug)]
struct Sharing {
    swarm: Swarm,
    serving: tokio::task::JoinHandle<()>,
}

impl Drop for Sharing {
    fn drop(&mut self) {
        self.serving.abort();
    }
}

/// Which way a member's bytes go to the host, now (in the UI's sync indicator: "via relay").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Reach {
    /// Straight to the address the invite names.
    Address,
    /// Through the tunnel, on a direct path (NATs punched through, or none in the way).
    Direct,
    /// Through the tunnel, by way of the relay server (no direct path found, yet or at all).
    Relay,
    /// Through the tunnel, which is reconnecting.
    Lost,
}

impl Reach {
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Address => "address",
            Reach::Direct => "direct",
            Reach::Relay => "relay",
            Reach::Lost => "lost",
        }
    }
}

impl Route {
    /// Straight to the invite's address when it names no node; else a tunnel to the node,
    /// failing (with what was tried) if the host cannot be reached at all.
    pub async fn open(invite: &Invite) -> Result<Route, CoreError> {
        let Some(node) = &invite.node else { return Ok(Route::to_address(&invite.ws)) };
        let tunnel = Tunnel::open(HostAddr::parse(&node.id, &node.relay)?.with_addrs(&node.addrs)).await?;
        Ok(Route { ws: WsBase::from_addr(tunnel.local_addr()), tunnel: Some(Arc::new(tunnel)), swarm: None })
    }

    /// Through a tunnel, also passes tracks on with the room's other members (a store of them in
    /// `dir`), so the host's uplink carries each about once. Without a tunnel, or if the store
    /// cannot be opened (said in the log), tracks come from the host alone, as before.
    pub async fn sharing(self, dir: &Path) -> Route {
        let Some(tunnel) = &self.tunnel else { return self };
        let host = tunnel.host_addr();
        match Swarm::open(tunnel.endpoint().clone(), dir, Some(tunnel.relay().clone()), Some(host)).await {
            Ok(swarm) => {
                let serving = tokio::spawn(swarm.clone().serve(std::future::pending()));
                Route { swarm: Some(Arc::new(Sharing { swarm, serving })), ..self }
            }
            Err(e) => {
                tracing::warn!("tracks come from the host alone: {e}");
                self
            }
        }
    }

    /// The room's swarm, when this member passes tracks on.
    pub fn swarm(&self) -> Option<&Swarm> {
        self.swarm.as_ref().map(|s| &s.swarm)
    }

    /// Straight to `ws`.
    pub fn to_address(ws: &WsBase) -> Route {
        Route { ws: ws.clone(), tunnel: None, swarm: None }
    }

    /// The host's base URL as this member reaches it (`ws://127.0.0.1:PORT` through a tunnel).
    pub fn ws(&self) -> &str {
        self.ws.as_str()
    }

    pub fn reach(&self) -> Reach {
        match self.tunnel.as_ref().map(|t| *t.path().borrow()) {
            None => Reach::Address,
            Some(PathKind::Direct) => Reach::Direct,
            Some(PathKind::Relay) => Reach::Relay,
            Some(PathKind::None) => Reach::Lost,
        }
    }

    /// The address of the room's WebSocket, and whether the host answers clock datagrams there
    /// (`ws://` only: behind `wss://` a TLS proxy stands in between, and UDP would not reach the
    /// host; a tunnel's local port carries them as QUIC datagrams).
    pub async fn host_address(&self) -> Option<(SocketAddr, bool)> {
        let uri: hyper::Uri = self.ws.as_str().parse().ok()?;
        let plain = uri.scheme_str() == Some("ws");
        let port = uri.port_u16().unwrap_or(if plain { 80 } else { 443 });
        // `host()` keeps an IPv6 literal's brackets, which a lookup takes as given.
        let host = uri.host()?.to_owned();
        let at = tokio::net::lookup_host((host.trim_start_matches('[').trim_end_matches(']'), port)).await.ok()?.next()?;
        Some((at, plain))
    }

    /// Closes the tunnel, if any, telling the host (else it waits for the connection to time out).
    pub async fn close(&self) {
        if let Some(tunnel) = &self.tunnel {
            tunnel.close().await;
        }
    }

    /// Through a tunnel, an address outside this machine (the relay's): the local address that
    /// reaches it is this machine's on its network, which LAN peers can use. `None` otherwise.
    pub fn outside(&self) -> Option<SocketAddr> {
        self.tunnel.as_ref().and_then(|t| t.outside())
    }
}
