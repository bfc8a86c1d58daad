//! A room hosted on this machine, whole: where its channels live (the embedded hub, serving the
//! host's media on the same port, or an external relay), its identity kept in the data dir, the
//! [`HostRoom`] engine, and the invites. `whatssound-cli host` and the desktop app both start rooms
//! through this, so a room behaves the same whichever started it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use whatssound_clock::Clock;
use whatssound_core::store::HostStore;
use whatssound_core::{CoreError, WsBase, clock_udp, identity};
use whatssound_hub::{Access, Hub, HubConfig, Limits, RoomAccess};
use whatssound_protocol::Invite;
use whatssound_room::{Action, Change, Output, Position, QueueDiff, RoomSettings, TrackId, TrackMeta, TrackSource};
use whatssound_swarm::Swarm;
use whatssound_tunnel::{HostTunnel, NodeKey, RelayChoice, TunnelError};

use crate::host::{HostConfig, HostEvent, HostRoom};
use crate::media::{self, MediaLibrary};
use crate::room_record::{self, RecordError, RoomRecord};

/// An external relay the room's channels go through instead of the embedded hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// Where the relay is (`WsBase::from_endpoint` takes it with or without `/realtime/v1`).
    pub url: WsBase,
    /// The relay's key (`whatssound-cli hub --token`, or a Supabase project's anon key).
    pub key: Option<String>,
}

/// Where a hosted room runs and how listeners reach it: what the app's settings and the CLI's
/// flags choose.
#[derive(Debug, Clone, PartialEq)]
pub struct Venue {
    /// Where the embedded hub listens: `127.0.0.1:0` for this machine only (any free port),
    /// `0.0.0.0:7667` for other machines too.
    pub listen: SocketAddr,
    /// The base URL invites name, when listeners reach this machine by another address
    /// (`ws://my.host:7667`, `wss://music.example.org` behind a proxy).
    pub public_url: Option<WsBase>,
    /// Run on this relay instead of the embedded hub.
    pub relay: Option<Relay>,
    /// Reach listeners whom no address reaches (behind NATs, no port forwarded) through a tunnel
    /// met at this relay server; invites then carry this host's node id (kept in the data dir).
    pub tunnel: Option<RelayChoice>,
}

impl Default for Venue {
    /// This machine only.
    fn default() -> Self {
        Venue { listen: SocketAddr::from(([127, 0, 0, 1], 0)), public_url: None, relay: None, tunnel: None }
    }
}

#[derive(Debug, Clone)]
pub struct HostingConfig {
    /// Where the room's identity, state, uploads and caches live.
    pub data_dir: PathBuf,
    /// The room id to use (a new room gets a random one when `None`).
    pub room: Option<String>,
    /// The host's display name.
    pub name: String,
    /// An image link (or a small `data:` image) the room shows beside the name.
    pub avatar: Option<String>,
    /// Where the room runs and how listeners reach it.
    pub venue: Venue,
    pub limits: Limits,
    /// Start with a new listener token: every earlier invite stops working.
    pub new_invite: bool,
    pub clock: Arc<dyn Clock>,
}

/// Why a room could not be hosted, or a host action failed; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum HostingError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("could not listen on {addr}: {error} (is something else using the port? pick another, or port 0 for a free one)")]
    Bind { addr: SocketAddr, error: std::io::Error },
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Probe(#[from] whatssound_audio::ProbeError),
    #[error("the room refused it: {0}")]
    Refused(String),
    #[error("{0}")]
    NotAllowed(String),
    #[error("the room's hub failed: {0}")]
    Hub(#[from] std::io::Error),
    #[error("a task of the room stopped unexpectedly: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Tunnel(#[from] TunnelError),
}

/// The embedded hub, and how to stop it.
struct EmbeddedHub {
    hub: Hub,
    media: Arc<MediaLibrary>,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<std::io::Result<()>>,
    /// The clock datagram answerer on the same port number, over UDP (none if it was taken).
    clock: Option<AbortOnDrop>,
    /// The tunnel's endpoint, serving listeners across NATs, and how to stop it.
    tunnel: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

/// A task that ends with its owner (the room, however it stops).
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A room running on this machine.
pub struct HostedRoom {
    room: HostRoom,
    record: RoomRecord,
    data_dir: PathBuf,
    /// Where this machine reaches the room's channels, and what invites name.
    ws: WsBase,
    invite_ws: WsBase,
    /// The host's node and relay, when a tunnel serves the room.
    node: Option<whatssound_protocol::NodeRoute>,
    embedded: Option<EmbeddedHub>,
}

impl std::fmt::Debug for HostedRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostedRoom").field("room", &self.record.room).field("ws", &self.ws).finish()
    }
}

impl HostedRoom {
    /// Opens (or creates) the room in `config.data_dir` and starts serving it.
    pub async fn start(config: HostingConfig) -> Result<(HostedRoom, mpsc::UnboundedReceiver<HostEvent>), HostingError> {
        let public = config.venue.public_url.clone();
        let mut record = room_record::open_or_create(&config.data_dir, config.room.as_deref())?;
        if config.new_invite {
            room_record::rotate_listener_token(&config.data_dir, &mut record)?;
        }
        let bad_key = |_| HostingError::Record(RecordError::BadKey { path: config.data_dir.join("room.json").display().to_string() });
        let host_identity = identity::from_hex(&record.host_key).ok_or(()).map_err(bad_key)?;
        let admin = identity::from_hex(&record.admin_key).ok_or(()).map_err(bad_key)?;

        let (ws, reach, token, embedded, node, swarm) = match &config.venue.relay {
            None => {
                let listener = TcpListener::bind(config.venue.listen)
                    .await
                    .map_err(|error| HostingError::Bind { addr: config.venue.listen, error })?;
                let local = listener.local_addr().map_err(|error| HostingError::Bind { addr: config.venue.listen, error })?;
                let ws = ws_base(local);
                let reach = reach_base(local);
                let access = Access::Room(RoomAccess {
                    room: record.room.clone(),
                    host_token: record.host_token.clone(),
                    listener_token: record.listener_token.clone(),
                });
                let hub = Hub::new(HubConfig { access, limits: config.limits.clone() });
                // The host's files are served on the same port, by track id, to the room's token holders.
                let store = HostStore::open(&config.data_dir).map_err(CoreError::from)?;
                let tokens = vec![record.listener_token.clone(), record.host_token.clone()];
                let media = Arc::new(MediaLibrary::new(store, tokens, &config.data_dir));
                let (stop, stopped) = oneshot::channel::<()>();
                let serving = tokio::spawn(whatssound_hub::serve_with(listener, hub.clone(), media::router(media.clone()), async move {
                    let _ = stopped.await;
                }));
                // Listeners' clock datagrams, on the UDP port of the same number. Without it (the
                // port taken by another program) they use the WebSocket's exchanges.
                let clock = match tokio::net::UdpSocket::bind(local).await {
                    Ok(socket) => Some(AbortOnDrop(tokio::spawn(clock_udp::answer(socket, config.clock.clone())))),
                    Err(e) => {
                        tracing::warn!("clock datagrams off (UDP {local}: {e}); listeners sync over the WebSocket");
                        None
                    }
                };
                let (tunnel, node, swarm) = match &config.venue.tunnel {
                    Some(relay) => {
                        let (tunnel, node, swarm) = start_tunnel(&config.data_dir, relay, local, clock.is_some()).await?;
                        (Some(tunnel), node, swarm)
                    }
                    None => (None, None, None),
                };
                (ws, reach, Some(record.host_token.clone()), Some(EmbeddedHub { hub, media, stop, serving, clock, tunnel }), node, swarm)
            }
            Some(relay) => {
                let base = relay.url.clone();
                // A relay cannot tell roles apart: everyone presents its key, and authority comes
                // from the host's signatures instead.
                let key = relay.key.clone().unwrap_or_else(|| "-".into());
                record.host_token = key.clone();
                record.listener_token = key;
                (base.clone(), base, relay.key.clone(), None, None, None)
            }
        };
        let host_config = HostConfig {
            room: record.room.clone(),
            identity: host_identity,
            name: config.name.clone(),
            avatar: config.avatar.clone(),
            endpoint: ws.endpoint(),
            token,
            data_dir: config.data_dir.clone(),
            settings: RoomSettings::default(),
            cohosts: vec![admin.user_id()],
            clock: config.clock.clone(),
            check_urls: true,
            swarm,
        };
        let (room, events) = HostRoom::start(host_config).await?;
        let invite_ws = public.unwrap_or(reach);
        Ok((HostedRoom { room, record, data_dir: config.data_dir, ws, invite_ws, node, embedded }, events))
    }

    /// The running room: act in it, snapshot it, describe its tracks.
    pub fn room(&self) -> &HostRoom {
        &self.room
    }

    pub fn room_id(&self) -> &str {
        &self.record.room
    }

    /// Where this machine reaches the room (`ws://127.0.0.1:PORT`).
    pub fn ws(&self) -> &str {
        self.ws.as_str()
    }

    pub fn listener_token(&self) -> &str {
        &self.record.listener_token
    }

    pub fn host_token(&self) -> &str {
        &self.record.host_token
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The invite for listeners.
    pub fn invite(&self) -> String {
        self.make_invite(&self.record.listener_token, None)
    }

    /// The host's own invite: the host token and the co-host key, for acting with the host's rights
    /// from another process (`whatssound-cli send`, the desktop app's own view of its room).
    pub fn host_invite(&self) -> String {
        self.make_invite(&self.record.host_token, Some(&self.record.admin_key))
    }

    /// The host's own seat, for this machine's session in its room: the room as this machine
    /// reaches it (no tunnel), the host token, and the host's own key, so the session's intents
    /// are the host's. Never shown to anyone.
    pub fn own_invite(&self) -> Invite {
        let own = self.invite_with(&self.record.host_token, Some(&self.record.host_key));
        Invite { ws: self.ws.clone(), node: None, ..own }
    }

    fn make_invite(&self, token: &str, admin: Option<&str>) -> String {
        self.invite_with(token, admin).to_string()
    }

    fn invite_with(&self, token: &str, admin: Option<&str>) -> Invite {
        let extra = admin.map(|a| vec![("admin".to_owned(), a.to_owned())]).unwrap_or_default();
        let key = identity::from_hex(&self.record.host_key).map(|i| i.user_id().0);
        Invite { ws: self.invite_ws.clone(), room: self.record.room.clone(), token: token.to_owned(), key, node: self.node.clone(), extra }
    }

    /// A new listener invite: the old one stops working at once, for joining and for media
    /// (listeners already in the room stay).
    pub fn new_invite(&mut self) -> Result<String, HostingError> {
        let Some(embedded) = &self.embedded else {
            return Err(HostingError::NotAllowed("a room on a relay cannot change its invite: the relay's key is the invite".into()));
        };
        room_record::rotate_listener_token(&self.data_dir, &mut self.record)?;
        embedded.hub.set_access(Access::Room(RoomAccess {
            room: self.record.room.clone(),
            host_token: self.record.host_token.clone(),
            listener_token: self.record.listener_token.clone(),
        }));
        embedded.media.set_tokens(vec![self.record.listener_token.clone(), self.record.host_token.clone()]);
        Ok(self.invite())
    }

    /// Queues one of this machine's files with its tags: only its name travels; the path stays in
    /// the host's store. A file that is not playable audio is refused with the reason.
    pub async fn add_file(&self, path: &Path) -> Result<TrackId, HostingError> {
        let probe_path = path.to_owned();
        let info = tokio::task::spawn_blocking(move || whatssound_audio::probe_file(&probe_path)).await??;
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let stem = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| file_name.clone());
        let absolute =
            std::fs::canonicalize(path).map_err(|error| whatssound_audio::ProbeError::Io { path: path.display().to_string(), error })?;
        let track = TrackMeta {
            title: info.title.unwrap_or(stem),
            artist: info.artist,
            album: info.album,
            duration_ms: info.duration_ms,
            source: TrackSource::HostFile { file_name },
            hash: None,
        };
        let outputs = self.room.act(Action::Enqueue { track, position: Position::Append }, Some(absolute)).await?;
        outputs
            .iter()
            .find_map(|o| match o {
                Output::Diff(d) => match &d.change {
                    Change::Queue { diff: QueueDiff::Insert { track, .. } } => Some(Ok(track.id.clone())),
                    _ => None,
                },
                Output::Refused { reason, .. } => Some(Err(HostingError::Refused(reason.clone()))),
                _ => None,
            })
            .unwrap_or_else(|| Err(HostingError::Refused("the room did not queue it".into())))
    }

    /// Closes the room (everyone is told), then stops the hub.
    pub async fn stop(self) -> Result<(), HostingError> {
        self.room.close().await;
        if let Some(embedded) = self.embedded {
            drop(embedded.clock);
            if let Some((stop, running)) = embedded.tunnel {
                let _ = stop.send(());
                let _ = running.await;
            }
            let _ = embedded.stop.send(());
            embedded.serving.await??;
        }
        Ok(())
    }
}

/// The host's tunnel, running, with what invites say of it and the room's swarm on its endpoint.
type TunnelStarted = ((oneshot::Sender<()>, JoinHandle<()>), Option<whatssound_protocol::NodeRoute>, Option<Swarm>);

/// Starts the host's end of the tunnel (its node key kept in `data_dir`): listeners' streams go
/// to the hub at `local`, their datagrams to the clock answerer on the same port when there is one;
/// and the room's swarm beside it (its store in `data_dir/swarm`), from which members pass
/// tracks on.
async fn start_tunnel(data_dir: &Path, relay: &RelayChoice, local: SocketAddr, clock: bool) -> Result<TunnelStarted, HostingError> {
    let key = NodeKey::load_or_create(&data_dir.join("node.key"))?;
    let mut tunnel = HostTunnel::bind(key, relay).await?;
    let swarm = match Swarm::open(tunnel.endpoint().clone(), &data_dir.join("swarm"), None, None).await {
        Ok(swarm) => {
            tunnel = tunnel.with_guest(whatssound_swarm::ALPN, Arc::new(swarm.clone()));
            Some(swarm)
        }
        Err(e) => {
            tracing::warn!("listeners fetch every track from this host: {e}");
            None
        }
    };
    let node = tunnel.relay().map(|relay| whatssound_protocol::NodeRoute {
        id: tunnel.node_id().to_owned(),
        relay: relay.to_owned(),
        addrs: tunnel.direct_addrs(),
    });
    // The hub and clock answerer as this machine reaches them (an unspecified address: loopback).
    let target = locally(local);
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(tunnel.run(target, clock.then_some(target), async move {
        let _ = stopped.await;
    }));
    Ok(((stop, running), node, swarm))
}

/// The URL a client on this machine can connect to: an unspecified address (0.0.0.0, ::) is
/// reachable through loopback.
pub fn ws_base(local: SocketAddr) -> WsBase {
    WsBase::from_addr(locally(local))
}

/// Where this machine reaches a socket bound at `local`: an unspecified address is loopback.
fn locally(local: SocketAddr) -> SocketAddr {
    match local.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), local.port()),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), local.port()),
        _ => local,
    }
}

/// The URL other machines use, for invites: a hub listening on every interface is named by this
/// machine's own network address (the one its default route leaves from), so an invite works
/// across the LAN without `--public-url`; one on a single address is named by that address.
pub fn reach_base(local: SocketAddr) -> WsBase {
    if !local.ip().is_unspecified() {
        return ws_base(local);
    }
    match lan_address(local.is_ipv6()) {
        Some(ip) => ws_base(SocketAddr::new(ip, local.port())),
        None => ws_base(local),
    }
}

/// This machine's address on the network its default route leads to. Connecting a UDP socket
/// sends nothing; it only asks the kernel which interface would be used. `None` without a route.
fn lan_address(v6: bool) -> Option<std::net::IpAddr> {
    // Documentation addresses (RFC 5737 / RFC 3849): routed like any other, never answered.
    let (bind, probe) = if v6 { ("[::]:0", "[2001:db8::1]:9") } else { ("0.0.0.0:0", "192.0.2.1:9") };
    let socket = std::net::UdpSocket::bind(bind).ok()?;
    socket.connect(probe).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_become_loopback() {
        assert_eq!(ws_base("0.0.0.0:7667".parse().unwrap()).as_str(), "ws://127.0.0.1:7667");
        assert_eq!(ws_base("[::]:80".parse().unwrap()).as_str(), "ws://[::1]:80");
        assert_eq!(ws_base("10.0.0.2:5".parse().unwrap()).as_str(), "ws://10.0.0.2:5");
    }

    #[test]
    fn invites_name_an_address_other_machines_can_use() {
        // One address: that one. Every interface: this machine's network address, or loopback
        // on a machine with no route anywhere — never 0.0.0.0.
        assert_eq!(reach_base("10.0.0.2:5".parse().unwrap()).as_str(), "ws://10.0.0.2:5");
        assert_eq!(reach_base("127.0.0.1:5".parse().unwrap()).as_str(), "ws://127.0.0.1:5");
        let all = reach_base("0.0.0.0:7667".parse().unwrap()).to_string();
        assert!(all.starts_with("ws://") && all.ends_with(":7667") && !all.contains("0.0.0.0"), "{all}");
        if let Some(ip) = lan_address(false) {
            assert_eq!(all, format!("ws://{ip}:7667"));
        }
    }
}
