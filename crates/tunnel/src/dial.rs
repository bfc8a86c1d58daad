//! A listener's side: a local port, TCP and UDP on one number, that leads to the host. Whatever
//! connects there is carried to the host's port; whatever is sent there, to its clock socket.
//! Those who use it are given `ws://127.0.0.1:PORT` in place of the host's address and need to
//! know nothing more.
//!
//! One connection to the host serves every stream. When it is lost (the host restarted, the
//! network went away) the next local connection makes a new one, so the realtime client's own
//! reconnecting is what brings the tunnel back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use iroh::endpoint::Connection;
use iroh::{Endpoint, EndpointAddr, EndpointId, RelayUrl};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinSet;

use crate::endpoint::{self, ALPN, NodeKey, RelayChoice};
use crate::{TunnelError, pipe};

/// How long one attempt to reach the host may take (iroh gives up on a dead relay in ~10 s).
const CONNECT_WITHIN: Duration = Duration::from_secs(20);

/// Which way a tunnel's bytes go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// Not connected (yet, or any more).
    None,
    /// Through the relay server: no direct path (yet); hole punching goes on.
    Relay,
    /// Straight to the host, over UDP (the NATs were punched through, or there were none).
    Direct,
}

impl PathKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PathKind::None => "none",
            PathKind::Relay => "relay",
            PathKind::Direct => "direct",
        }
    }
}

/// Where a host is: its node id and the relay it keeps as home, as an invite carries them.
#[derive(Debug, Clone)]
pub struct HostAddr {
    id: EndpointId,
    relay: RelayUrl,
    /// The host's own addresses, tried beside the relay (on one LAN, enough without it).
    addrs: Vec<SocketAddr>,
}

impl HostAddr {
    pub fn parse(node: &str, relay: &str) -> Result<HostAddr, TunnelError> {
        let id: EndpointId = node.trim().parse().map_err(|_| TunnelError::NodeId(node.to_owned()))?;
        let relay = match relay.parse::<RelayChoice>()? {
            RelayChoice::Own(url) => url,
            RelayChoice::Public => {
                return Err(TunnelError::RelayUrl { url: relay.to_owned(), reason: "an invite names the host's own relay".into() });
            }
        };
        Ok(HostAddr { id, relay, addrs: Vec::new() })
    }

    /// How iroh reaches the host: its relay and its own addresses.
    fn endpoint_addr(&self) -> EndpointAddr {
        self.addrs.iter().fold(EndpointAddr::new(self.id).with_relay_url(self.relay.clone()), |a, ip| a.with_ip_addr(*ip))
    }

    /// The host's own addresses too, to try directly.
    pub fn with_addrs(self, addrs: &[SocketAddr]) -> HostAddr {
        HostAddr { addrs: addrs.to_vec(), ..self }
    }
}

/// A tunnel to a host; closed when dropped.
#[derive(Debug)]
pub struct Tunnel {
    local: SocketAddr,
    path: watch::Receiver<PathKind>,
    relay: RelayUrl,
    host: HostAddr,
    endpoint: Endpoint,
    tasks: JoinSet<()>,
}

impl Tunnel {
    /// Reaches the host (failing, with what was tried, if it cannot) and opens the local port.
    pub async fn open(host: HostAddr) -> Result<Tunnel, TunnelError> {
        let endpoint = endpoint::bind(NodeKey::ephemeral(), &RelayChoice::Own(host.relay.clone()), false).await?;
        let (path_tx, path) = watch::channel(PathKind::None);
        let dialer = Arc::new(Dialer { endpoint: endpoint.clone(), host: host.clone(), current: Mutex::new(None), path: path_tx });
        let first = match dialer.connection().await {
            Ok(c) => c,
            Err(e) => {
                endpoint.close().await;
                return Err(e);
            }
        };
        let (tcp, udp) = bind_pair().await.map_err(TunnelError::Local)?;
        let local = tcp.local_addr().map_err(TunnelError::Local)?;
        let mut tasks = JoinSet::new();
        tasks.spawn(streams(tcp, dialer.clone()));
        tasks.spawn(datagrams(udp, dialer, first));
        Ok(Tunnel { local, path, relay: host.relay.clone(), host, endpoint, tasks })
    }

    /// The local end: `127.0.0.1:PORT`, TCP and UDP.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The endpoint, for protocols that share it (a listener's track swarm).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The host's node, as the tunnel reaches it (for protocols that share the endpoint).
    pub fn host_addr(&self) -> EndpointAddr {
        self.host.endpoint_addr()
    }

    /// The relay this tunnel keeps as home (the host's).
    pub fn relay(&self) -> &RelayUrl {
        &self.relay
    }

    /// Which way the bytes go now, and every change.
    pub fn path(&self) -> watch::Receiver<PathKind> {
        self.path.clone()
    }

    /// An address outside this machine (the relay's), to ask the kernel which local address
    /// this machine's network traffic leaves from.
    pub fn outside(&self) -> Option<SocketAddr> {
        let host = self.relay.host_str()?.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = self.relay.port_or_known_default().unwrap_or(443);
        std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)).ok()?.next()
    }

    /// Closes the connection to the host, telling it (the local port closes when dropped).
    pub async fn close(&self) {
        self.endpoint.close().await;
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.tasks.abort_all();
        // Closing tells the host at once; without it the host waits for the connection to time out.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let endpoint = self.endpoint.clone();
            runtime.spawn(async move { endpoint.close().await });
        }
    }
}

/// The connection to the host: the live one, or a new one.
#[derive(Debug)]
struct Dialer {
    endpoint: Endpoint,
    host: HostAddr,
    current: Mutex<Option<Connection>>,
    path: watch::Sender<PathKind>,
}

impl Dialer {
    async fn connection(&self) -> Result<Connection, TunnelError> {
        let mut current = self.current.lock().await;
        if let Some(c) = current.as_ref().filter(|c| c.close_reason().is_none()) {
            return Ok(c.clone());
        }
        let addr = self.host.endpoint_addr();
        let failed = |reason: String| TunnelError::Connect {
            node: self.host.id.fmt_short().to_string(),
            relay: self.host.relay.to_string(),
            reason,
        };
        let connection = match tokio::time::timeout(CONNECT_WITHIN, self.endpoint.connect(addr, ALPN)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(failed(e.to_string())),
            Err(_) => return Err(failed(format!("no answer within {} s", CONNECT_WITHIN.as_secs()))),
        };
        tokio::spawn(follow_path(connection.clone(), self.path.clone()));
        *current = Some(connection.clone());
        Ok(connection)
    }
}

/// Publishes which path `connection` takes, until it closes.
async fn follow_path(connection: Connection, path: watch::Sender<PathKind>) {
    let follow = async {
        let mut lists = connection.paths_stream();
        while let Some(list) = lists.next().await {
            let kind = match list.iter().find(|p| p.is_selected()) {
                Some(p) if p.is_ip() => PathKind::Direct,
                Some(_) => PathKind::Relay,
                None => PathKind::None,
            };
            path.send_if_modified(|k| std::mem::replace(k, kind) != kind);
        }
    };
    tokio::select! {
        () = follow => {}
        _ = connection.closed() => {}
    }
    path.send_replace(PathKind::None);
}

/// A TCP listener and a UDP socket on one loopback port (a few tries: the UDP port of the number
/// the kernel gave TCP may be taken).
async fn bind_pair() -> std::io::Result<(TcpListener, UdpSocket)> {
    let mut last = None;
    for _ in 0..16 {
        let tcp = TcpListener::bind(("127.0.0.1", 0)).await?;
        match UdpSocket::bind(tcp.local_addr()?).await {
            Ok(udp) => return Ok((tcp, udp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free port")))
}

async fn streams(tcp: TcpListener, dialer: Arc<Dialer>) {
    loop {
        let stream = match tcp.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, say: wait for some to free up rather than spin.
                tracing::warn!("the tunnel's local port could not accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let dialer = dialer.clone();
        tokio::spawn(async move {
            let result = async {
                let connection = dialer.connection().await.map_err(std::io::Error::other)?;
                let (mut send, recv) = connection.open_bi().await.map_err(std::io::Error::other)?;
                pipe::write_header(&mut send).await?;
                pipe::carry(send, recv, stream).await
            };
            if let Err(e) = result.await {
                tracing::debug!("a tunnelled connection ended: {e}");
            }
        });
    }
}

/// Local datagrams to the host, and its answers to whoever sent the last one.
async fn datagrams(udp: UdpSocket, dialer: Arc<Dialer>, mut connection: Connection) {
    let mut buf = vec![0u8; 2048];
    let mut sender: Option<SocketAddr> = None;
    loop {
        tokio::select! {
            got = udp.recv_from(&mut buf) => {
                let Ok((n, from)) = got else { continue };
                sender = Some(from);
                if connection.close_reason().is_some() {
                    // The streams reconnect; follow them, rather than dial from here too.
                    if let Some(c) = dialer.current.lock().await.clone() {
                        connection = c;
                    }
                }
                let _ = connection.send_datagram(bytes::Bytes::copy_from_slice(&buf[..n]));
            }
            datagram = connection.read_datagram() => {
                match datagram {
                    Ok(d) => if let Some(to) = sender { let _ = udp.send_to(&d, to).await; },
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        if let Some(c) = dialer.current.lock().await.clone() {
                            connection = c;
                        }
                    }
                }
            }
        }
    }
}
