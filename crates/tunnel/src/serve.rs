//! The host's side: every listener's connection is accepted, each of its streams becomes a TCP
//! connection to the host's port, and its datagrams go to and from the host's clock socket
//! through a UDP socket of the connection's own — so the clock answerer, which replies to
//! whoever asked, needs no idea of tunnels.

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use iroh::endpoint::Connection;
use iroh::protocol::DynProtocolHandler;
use iroh::{Endpoint, Watcher};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinSet;

use crate::endpoint::{self, NodeKey, RelayChoice};
use crate::{TunnelError, pipe};

/// How many of its addresses a host puts in an invite (each is ~20 characters of the link).
const MAX_ADDRS: usize = 4;

/// How long a host waits for its relay before giving invites without one.
const ONLINE_WITHIN: Duration = Duration::from_secs(10);

/// The host's endpoint, bound and online.
#[derive(Debug, Clone)]
pub struct HostTunnel {
    endpoint: Endpoint,
    node_id: String,
    relay: Option<String>,
    guest: Option<Guest>,
}

/// Another protocol served on the host's endpoint beside the tunnel (the room's track swarm):
/// connections that ask for its ALPN go to its handler.
#[derive(Debug, Clone)]
struct Guest {
    alpn: Vec<u8>,
    handler: Arc<dyn DynProtocolHandler>,
}

impl HostTunnel {
    /// Binds the host's endpoint with its `key` and waits (a while) until its relay has it, so
    /// the relay invites name is one that will carry a listener's first packets.
    pub async fn bind(key: NodeKey, relay: &RelayChoice) -> Result<HostTunnel, TunnelError> {
        let node_id = key.node_id();
        let endpoint = endpoint::bind(key, relay, true).await?;
        let online = tokio::time::timeout(ONLINE_WITHIN, endpoint.online()).await.is_ok();
        let secs = ONLINE_WITHIN.as_secs();
        let relay = match relay {
            RelayChoice::Own(_) => {
                if !online {
                    tracing::warn!(
                        "the relay {relay} did not answer within {secs} s; listeners not on this network cannot reach this room until it does"
                    );
                }
                Some(relay.to_string())
            }
            // Which public relay is home is only known once one answered, and invites must name it.
            RelayChoice::Public => {
                let home = endpoint.addr().relay_urls().next().map(|u| u.as_str().trim_end_matches('/').to_owned());
                if home.is_none() {
                    tracing::warn!(
                        "no public relay answered within {secs} s, so invites carry no tunnel: check this machine's internet connection, or give a relay of your own (--tunnel http://HOST:PORT)"
                    );
                }
                home
            }
        };
        Ok(HostTunnel { endpoint, node_id, relay, guest: None })
    }

    /// The endpoint, for protocols that share it (their connections come in through
    /// [`HostTunnel::with_guest`]).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Serves `handler` beside the tunnel to connections that ask for `alpn`.
    pub fn with_guest(mut self, alpn: &[u8], handler: Arc<dyn DynProtocolHandler>) -> HostTunnel {
        self.endpoint.set_alpns(vec![endpoint::ALPN.to_vec(), alpn.to_vec()]);
        self.guest = Some(Guest { alpn: alpn.to_vec(), handler });
        self
    }

    /// The node id invites carry.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The relay invites name, if the host has one.
    pub fn relay(&self) -> Option<&str> {
        self.relay.as_deref()
    }

    /// The addresses this endpoint is known by now (its own, and what its NAT shows the world),
    /// at most `MAX_ADDRS` of them: for invites, so a listener on the host's LAN needs no relay.
    pub fn direct_addrs(&self) -> Vec<SocketAddr> {
        self.endpoint.watch_addr().get().ip_addrs().copied().take(MAX_ADDRS).collect()
    }

    /// Serves listeners until `shutdown`: their streams to `tcp`, their datagrams to `udp`.
    pub async fn run(self, tcp: SocketAddr, udp: Option<SocketAddr>, shutdown: impl std::future::Future<Output = ()>) {
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                incoming = self.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    let guest = self.guest.clone();
                    connections.spawn(async move {
                        match incoming.await {
                            Ok(connection) => match guest {
                                Some(g) if connection.alpn() == g.alpn.as_slice() => {
                                    if let Err(e) = g.handler.accept(connection).await {
                                        tracing::debug!("a guest connection failed: {e}");
                                    }
                                }
                                _ => serve(connection, tcp, udp).await,
                            },
                            Err(e) => tracing::debug!("a tunnel connection failed: {e}"),
                        }
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        connections.abort_all();
        self.endpoint.close().await;
    }
}

async fn serve(connection: Connection, tcp: SocketAddr, udp: Option<SocketAddr>) {
    tracing::debug!(listener = %connection.remote_id().fmt_short(), "a listener connected through the tunnel");
    let mut tasks = JoinSet::new();
    if let Some(udp) = udp {
        tasks.spawn(datagrams(connection.clone(), udp));
    }
    while let Ok((send, mut recv)) = connection.accept_bi().await {
        tasks.spawn(async move {
            match pipe::read_header(&mut recv).await {
                Ok(true) => {}
                _ => return,
            }
            let result = match TcpStream::connect(tcp).await {
                Ok(stream) => pipe::carry(send, recv, stream).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::debug!("a tunnelled connection ended: {e}");
            }
        });
    }
    tasks.abort_all();
}

/// A listener's datagrams to the host's clock socket and its answers back, through a socket of
/// this connection's own (the answerer replies to the address that asked).
async fn datagrams(connection: Connection, udp: SocketAddr) {
    let any: SocketAddr = if udp.is_ipv4() { ([127, 0, 0, 1], 0).into() } else { (std::net::Ipv6Addr::LOCALHOST, 0).into() };
    let Ok(socket) = UdpSocket::bind(any).await else { return };
    if socket.connect(udp).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 2048];
    loop {
        tokio::select! {
            datagram = connection.read_datagram() => {
                let Ok(datagram) = datagram else { return };
                let _ = socket.send(&datagram).await;
            }
            got = socket.recv(&mut buf) => {
                if let Ok(n) = got {
                    // Dropped when the path is full, as UDP would be.
                    let _ = connection.send_datagram(bytes::Bytes::copy_from_slice(&buf[..n]));
                }
            }
        }
    }
}
