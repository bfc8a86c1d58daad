//! A member's side of the swarm: its track store, who is in the room, and serving the room's
//! members (and nobody else) what it holds.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use iroh::endpoint::Connection;
use iroh::protocol::{AcceptError, ProtocolHandler};
use iroh::{Endpoint, EndpointAddr, EndpointId, RelayUrl, TransportAddr};
use iroh_blobs::api::Store;
use iroh_blobs::api::blobs::{AddPathOptions, ImportMode};
use iroh_blobs::store::fs::FsStore;
use iroh_blobs::store::mem::MemStore;
use iroh_blobs::{BlobFormat, BlobsProtocol, Hash};
use tokio::sync::watch;

use crate::SwarmError;

/// The room's members other than this one who can pass tracks on: node id → the addresses it
/// gave (beside the room's relay, which every member shares).
pub type Members = BTreeMap<EndpointId, Vec<SocketAddr>>;

/// QUIC close code for a connection from a node that is not in the room.
pub(crate) const NOT_A_MEMBER: u32 = 403;

/// A member's swarm: cheap to clone, one per member.
#[derive(Debug, Clone)]
pub struct Swarm {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    endpoint: Endpoint,
    /// Kept so a disk store's actor lives as long as the swarm.
    _backing: Backing,
    store: Store,
    blobs: BlobsProtocol,
    relay: Option<RelayUrl>,
    /// The host, for a listener; `None` on the host itself.
    host: Option<EndpointAddr>,
    members: watch::Sender<Members>,
    /// Sources whose bytes failed the hash: never asked again, in any fetch.
    banned: Mutex<BTreeSet<EndpointId>>,
}

#[derive(Debug)]
enum Backing {
    Disk(FsStore),
    Memory(MemStore),
}

impl Swarm {
    /// A swarm on `endpoint`, its store in `dir` (kept between runs, so tracks heard before come
    /// from disk); in memory if that store is taken by another process of this user. `host` is
    /// the host's node for a listener, `None` for the host; `relay` the room's relay.
    pub async fn open(endpoint: Endpoint, dir: &Path, relay: Option<RelayUrl>, host: Option<EndpointAddr>) -> Result<Swarm, SwarmError> {
        let backing = match FsStore::load(dir).await {
            Ok(store) => Backing::Disk(store),
            Err(e) if dir.join("blobs.db").exists() => {
                // Two members on one machine with one cache: the second keeps its pieces in memory.
                tracing::info!("the track store at {} is in use ({e}); this member keeps its tracks in memory", dir.display());
                Backing::Memory(MemStore::new())
            }
            Err(e) => return Err(SwarmError::Store { path: dir.display().to_string(), reason: e.to_string() }),
        };
        let store: Store = match &backing {
            Backing::Disk(s) => Store::from(s.clone()),
            Backing::Memory(s) => Store::from(s.clone()),
        };
        let blobs = BlobsProtocol::new(&store, None);
        let (members, _) = watch::channel(Members::new());
        Ok(Swarm { inner: Arc::new(Inner { endpoint, _backing: backing, store, blobs, relay, host, members, banned: Mutex::default() }) })
    }

    /// This member's node id.
    pub fn id(&self) -> EndpointId {
        self.inner.endpoint.id()
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn host(&self) -> Option<&EndpointAddr> {
        self.inner.host.as_ref()
    }

    /// Who is in the room now (from its presence), this member left out.
    pub fn set_members(&self, members: Members) {
        let me = self.id();
        let host = self.inner.host.as_ref().map(|h| h.id);
        self.inner.members.send_replace(members.into_iter().filter(|(id, _)| *id != me && Some(*id) != host).collect());
    }

    pub(crate) fn members(&self) -> watch::Receiver<Members> {
        self.inner.members.subscribe()
    }

    /// How to reach a member: the addresses it gave, and the room's relay.
    pub(crate) fn addr_of(&self, id: EndpointId, addrs: &[SocketAddr]) -> EndpointAddr {
        let relay = self.inner.relay.iter().map(|r| TransportAddr::Relay(r.clone()));
        EndpointAddr::from_parts(id, addrs.iter().map(|a| TransportAddr::Ip(*a)).chain(relay))
    }

    pub(crate) fn ban(&self, id: EndpointId) {
        tracing::warn!(peer = %id.fmt_short(), "a member sent track bytes that do not match the track's hash; it is not asked again");
        if let Ok(mut banned) = self.inner.banned.lock() {
            banned.insert(id);
        }
    }

    pub(crate) fn is_banned(&self, id: &EndpointId) -> bool {
        self.inner.banned.lock().map(|b| b.contains(id)).unwrap_or(false)
    }

    /// Whether `id` may fetch from this member: the host, or someone in the room's presence.
    pub fn admits(&self, id: &EndpointId) -> bool {
        self.inner.host.as_ref().is_some_and(|h| h.id == *id) || self.inner.members.borrow().contains_key(id)
    }

    /// Hashes a file for sharing and keeps it in the store (by reference where the store can,
    /// so a host's library is not copied). Returns its content hash, the track's name in the room.
    pub async fn add_file(&self, path: &Path) -> Result<Hash, SwarmError> {
        let add = |reason: String| SwarmError::Add { path: path.display().to_string(), reason };
        let path: PathBuf = std::path::absolute(path).map_err(|e| add(e.to_string()))?;
        let options = AddPathOptions { path, format: BlobFormat::Raw, mode: ImportMode::TryReference };
        let tag = self.inner.store.add_path_with_opts(options).with_tag().await.map_err(|e| add(e.to_string()))?;
        Ok(tag.hash)
    }

    /// Serves the room's members on this member's endpoint until `shutdown` (a listener's
    /// endpoint takes no other connections; the host's tunnel hands these over instead).
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        self.inner.endpoint.set_alpns(vec![iroh_blobs::ALPN.to_vec()]);
        let mut connections = tokio::task::JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                incoming = self.inner.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    let me = self.clone();
                    connections.spawn(async move {
                        if let Ok(conn) = incoming.await {
                            let _ = me.accept(conn).await;
                        }
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        connections.abort_all();
    }
}

impl ProtocolHandler for Swarm {
    /// Serves a member what this one holds; refuses a node that is not in the room.
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let peer = conn.remote_id();
        if !self.admits(&peer) {
            tracing::debug!(peer = %peer.fmt_short(), "refused a track request from a node not in the room");
            conn.close(NOT_A_MEMBER.into(), b"not in the room");
            return Ok(());
        }
        self.inner.blobs.accept(conn).await
    }
}
