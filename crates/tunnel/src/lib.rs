//! Reaching a host across NATs, with nothing forwarded on any router.
//!
//! Each listener keeps one QUIC connection (iroh) to the host, authenticated end to end by the
//! host's key: it starts through a relay server both can reach, and moves to a direct UDP path in
//! place once hole punching finds one (it never does between two symmetric NATs, and then stays
//! on the relay, which sees only ciphertext). Over it travels exactly what a forwarded port would
//! carry, so nothing above needs to know:
//!
//! - each TCP connection a listener makes to its local end becomes one stream to the host's port:
//!   the Phoenix WebSocket, media downloads with Range, and uploads, byte for byte;
//! - each UDP datagram becomes one QUIC datagram to the host's clock socket, so clock exchanges
//!   stay unreliable and unordered, and never queue behind a lost packet.
//!
//! The parts:
//! - [`endpoint`]: either side's QUIC endpoint: its key, its relay, how it trusts that relay.
//! - [`serve`]: the host's side ([`HostTunnel`]): accepts listeners, hands their streams and
//!   datagrams to the host's ports.
//! - [`dial`]: a listener's side ([`Tunnel`]): a local port (TCP and UDP) that leads to the host,
//!   and which path it takes now ([`PathKind`]).
//! - [`pipe`]: one stream carried both ways.
//! - `relay_server` (feature `relay-server`): a relay server to self-host.

pub mod dial;
pub mod endpoint;
pub mod pipe;
#[cfg(feature = "relay-server")]
pub mod relay_server;
pub mod serve;

pub use dial::{PathKind, Tunnel};
pub use endpoint::{NodeKey, RelayChoice};
pub use serve::HostTunnel;

/// Why a tunnel could not be made or kept; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("{url:?} is not a relay server's URL ({reason}); give one like http://relay.example.org:3340 or https://relay.example.org")]
    RelayUrl { url: String, reason: String },
    #[error("{0:?} is not a host's node id (64 hex digits); copy the whole invite again")]
    NodeId(String),
    #[error("the node key {path}: {reason} (delete it to make a new one: invites that name this host's node change)")]
    Key { path: String, reason: String },
    #[error("could not start the peer-to-peer endpoint: {0}")]
    Bind(String),
    #[error(
        "could not reach host {node} (tried its direct addresses, hole punching and the relay {relay}): {reason}; is the host running, and can this machine reach that relay?"
    )]
    Connect { node: String, relay: String, reason: String },
    #[error("could not open a local port for the tunnel: {0}")]
    Local(std::io::Error),
    #[error("the relay server could not start: {0}")]
    RelayServer(String),
}
