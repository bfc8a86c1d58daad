//! One track fetched from the room, handed over in order as it arrives so playback can start at
//! once: the IO around a [`Plan`].
//!
//! Each source (the host, and up to [`MESH`] members) is watched over its own QUIC connection:
//! iroh-blobs' observe request streams what it holds as that grows. The plan turns those
//! holdings into requests for pieces, each a verified range request on the same connection;
//! what arrives lands in this member's store, which its own watchers in turn see. The front of
//! the track is read back from the store as soon as it is whole.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bao_tree::ChunkNum;
use futures_util::StreamExt;
use iroh::endpoint::{Connection, ConnectionError};
use iroh::{EndpointAddr, EndpointId};
use iroh_blobs::Hash;
use iroh_blobs::api::proto::Bitfield;
use iroh_blobs::get::GetError;
use iroh_blobs::get::fsm::DecodeError;
use iroh_blobs::protocol::{ChunkRanges, GetRequest, ObserveRequest};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};

use crate::plan::{Outcome, PIECE_BYTES, Plan, PlanConfig, Source, affinity, member_key, mesh, piece_count};
use crate::swarm::NOT_A_MEMBER;
use crate::{Swarm, SwarmError};

/// How many members a fetch watches at once, beside the host: enough that pieces spread fast,
/// few enough that nobody keeps a connection to everyone in a large room.
pub const MESH: usize = 8;

/// How long a source has to answer before it counts as gone.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);

/// How long after a source's watch ended it is reached for again (the host; members five times
/// this).
const REACH_AGAIN: Duration = Duration::from_secs(2);

/// How many times the host may refuse this member before the fetch fails (its presence may
/// reach the host a moment after the fetch starts).
const HOST_REFUSALS: u32 = 10;

/// How often the plan is asked again even when nothing arrived (for its timeouts).
const TICK: Duration = Duration::from_millis(100);

/// Progress of one fetch, for the UI and for measuring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Bytes handed over in order so far.
    pub bytes: u64,
    /// The track's size, once a source told it.
    pub total: Option<u64>,
    /// Bytes that came from other members, and from the host.
    pub from_peers: u64,
    pub from_host: u64,
}

/// How a fetch ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// Every byte arrived, and was handed over.
    Whole,
    /// The receiver stopped wanting it.
    Stopped,
}

type Src = Source<EndpointId>;

/// A member's watch: running (stopped through its handle when the member leaves the mesh), or
/// ended at a time.
enum Watch {
    On(AbortHandle),
    Ended(Instant),
}

enum Event {
    Connected(Src, Connection),
    Holds(Src, Bitfield),
    Gone(Src),
    /// The source said this member is not in the room (the host may not have seen its presence
    /// yet, so the host is asked again a few times).
    Refused(Src),
    Got {
        piece: usize,
        source: Src,
        outcome: Outcome,
        reason: Option<String>,
    },
}

impl Swarm {
    /// Fetches the track `hash` from the room, handing `chunk` its bytes in order with the
    /// progress so far; `chunk` returns whether it still wants the rest. A track already in this
    /// member's store is handed over at once.
    pub async fn fetch(&self, hash: Hash, chunk: impl FnMut(&[u8], Progress) -> bool) -> Result<Fetched, SwarmError> {
        Run::new(self.clone(), hash).go(chunk).await
    }
}

struct Run {
    swarm: Swarm,
    hash: Hash,
    events: mpsc::UnboundedSender<Event>,
    inbox: mpsc::UnboundedReceiver<Event>,
    tasks: JoinSet<()>,
    connections: BTreeMap<Src, Connection>,
    holdings: BTreeMap<Src, Bitfield>,
    /// Members watched, or whose watch ended (tried again after a while).
    watched: BTreeMap<EndpointId, Watch>,
    /// When to reach for the host again, after its watch ended.
    host_again: Option<Instant>,
    host_refusals: u32,
    size: Option<u64>,
    plan: Option<Plan<EndpointId>>,
    progress: Progress,
}

impl Run {
    fn new(swarm: Swarm, hash: Hash) -> Run {
        let (events, inbox) = mpsc::unbounded_channel();
        Run {
            swarm,
            hash,
            events,
            inbox,
            tasks: JoinSet::new(),
            connections: BTreeMap::new(),
            holdings: BTreeMap::new(),
            watched: BTreeMap::new(),
            host_again: None,
            host_refusals: 0,
            size: None,
            plan: None,
            progress: Progress::default(),
        }
    }

    fn failed(&self, reason: impl std::fmt::Display) -> SwarmError {
        SwarmError::Fetch { hash: self.hash.to_hex(), reason: reason.to_string() }
    }

    async fn go(mut self, mut chunk: impl FnMut(&[u8], Progress) -> bool) -> Result<Fetched, SwarmError> {
        let local = self.swarm.store().observe(self.hash).await.map_err(|e| self.failed(e))?;
        if local.is_complete() {
            self.size = Some(local.size());
        }
        if let Some(host) = self.swarm.host().cloned() {
            self.watch(Source::Host, host);
        }
        let mut members = self.swarm.members();
        self.fill_mesh(&members.borrow_and_update().clone());
        let mut tick = tokio::time::interval(TICK);
        let mut handed: usize = 0;
        loop {
            if self.plan.is_none()
                && let Some(size) = self.size
            {
                let mut plan = Plan::new(size, PlanConfig::default());
                plan.set_local(&pieces_held(&local, size));
                self.plan = Some(plan);
                self.rank(&members.borrow().clone());
                for (source, bits) in self.holdings.clone() {
                    self.tell_plan(source, &bits);
                }
            }
            if let (Some(plan), Some(size)) = (self.plan.as_mut(), self.size) {
                // Hand over the front of the track as far as it is whole.
                while handed < plan.pieces() && plan.next_needed().is_none_or(|n| n > handed) {
                    let start = handed as u64 * PIECE_BYTES;
                    let end = (start + PIECE_BYTES).min(size);
                    let exported = self.swarm.store().export_ranges(self.hash, start..end).concatenate().await;
                    let bytes = exported.map_err(|e| SwarmError::Fetch { hash: self.hash.to_hex(), reason: e.to_string() })?;
                    self.progress.bytes = end;
                    self.progress.total = Some(size);
                    handed += 1;
                    if !chunk(&bytes, self.progress) {
                        return Ok(Fetched::Stopped);
                    }
                }
                if handed == plan.pieces() {
                    if size == 0 && !chunk(&[], Progress { total: Some(0), ..self.progress }) {
                        return Ok(Fetched::Stopped);
                    }
                    let Progress { from_peers, from_host, .. } = self.progress;
                    let host_link = self.connections.get(&Source::Host).map(|c| {
                        let s = c.stats();
                        (s.udp_rx.bytes, s.udp_tx.bytes, s.lost_packets, s.lost_bytes)
                    });
                    tracing::debug!(hash = %self.hash.fmt_short(), from_peers, from_host, ?host_link, "a track arrived whole");
                    return Ok(Fetched::Whole);
                }
                for (piece, source) in plan.next(Instant::now()) {
                    self.request(piece, source, size);
                }
            }
            if self.sources_left() == 0 && self.inbox.is_empty() {
                return Err(self.failed("no member of the room and not the host could be reached; is the host still running?"));
            }
            tokio::select! {
                Some(event) = self.inbox.recv() => self.on(event)?,
                Ok(()) = members.changed() => {
                    let now = members.borrow_and_update().clone();
                    self.rank(&now);
                    self.fill_mesh(&now);
                }
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
                _ = tick.tick() => {
                    if self.host_again.is_some_and(|t| Instant::now() >= t)
                        && let Some(host) = self.swarm.host().cloned()
                    {
                        self.host_again = None;
                        self.watch(Source::Host, host);
                    }
                    self.fill_mesh(&members.borrow().clone());
                }
            }
        }
    }

    /// Sources being tried or watched, or to be tried again.
    fn sources_left(&self) -> usize {
        self.tasks.len() + usize::from(self.host_again.is_some())
    }

    fn on(&mut self, event: Event) -> Result<(), SwarmError> {
        let now = Instant::now();
        match event {
            Event::Refused(Source::Host) => {
                self.host_refusals += 1;
                if self.host_refusals >= HOST_REFUSALS {
                    return Err(self.failed(
                        "the host refused to share it: this member is not in the room's presence; join the room (with presence) first",
                    ));
                }
                return self.on(Event::Gone(Source::Host));
            }
            Event::Refused(peer) => return self.on(Event::Gone(peer)),
            Event::Connected(source, conn) => {
                self.connections.insert(source, conn);
            }
            Event::Holds(source, diff) => {
                let bits = self.holdings.entry(source.clone()).or_insert_with(Bitfield::empty);
                bits.update(&diff);
                let bits = bits.clone();
                if self.size.is_none() && (source == Source::Host || bits.is_validated()) {
                    self.size = bits.validated_size();
                }
                self.tell_plan(source, &bits);
            }
            Event::Gone(source) => {
                self.forget(&source);
                match &source {
                    Source::Host => {
                        self.host_again = Some(now + REACH_AGAIN);
                        if let Some(plan) = self.plan.as_mut() {
                            plan.set_host(false);
                        }
                    }
                    Source::Peer(p) => {
                        self.watched.insert(*p, Watch::Ended(now));
                        self.rank(&self.swarm.members().borrow().clone());
                    }
                }
            }
            Event::Got { piece, source, outcome, reason } => {
                match &reason {
                    Some(reason) => tracing::debug!(piece, ?source, %reason, "a piece request failed"),
                    None => tracing::trace!(piece, host = source == Source::Host, "a piece arrived"),
                }
                let bytes = self.piece_len(piece);
                match (&outcome, &source) {
                    (Outcome::Got, Source::Host) => self.progress.from_host += bytes,
                    (Outcome::Got, Source::Peer(_)) => self.progress.from_peers += bytes,
                    (Outcome::Lied, Source::Peer(p)) => {
                        self.swarm.ban(*p);
                        self.holdings.remove(&source);
                        if let Some(conn) = self.connections.remove(&source) {
                            conn.close(0u32.into(), b"bytes failed the hash");
                        }
                    }
                    _ => {}
                }
                if let Some(plan) = self.plan.as_mut() {
                    plan.done(piece, &source, outcome, now);
                }
                if outcome == Outcome::Lied {
                    self.rank(&self.swarm.members().borrow().clone());
                }
            }
        }
        Ok(())
    }

    fn piece_len(&self, piece: usize) -> u64 {
        let start = piece as u64 * PIECE_BYTES;
        self.size.map_or(PIECE_BYTES, |s| s.saturating_sub(start).min(PIECE_BYTES))
    }

    fn tell_plan(&mut self, source: Src, bits: &Bitfield) {
        let (Some(plan), Some(size)) = (self.plan.as_mut(), self.size) else { return };
        match source {
            Source::Host => plan.set_host(true),
            Source::Peer(p) => plan.set_peer(p, pieces_held(bits, size)),
        }
    }

    /// Tells the plan who fetches beside this member (who shares the host's pieces out), leaving
    /// out members that lied or could not be reached (their share would wait on them).
    fn rank(&mut self, members: &crate::Members) {
        let fetching: Vec<u64> = members
            .keys()
            .filter(|id| !self.swarm.is_banned(id) && !matches!(self.watched.get(*id), Some(Watch::Ended(_))))
            .map(|id| member_key(id.as_bytes()))
            .collect();
        let me = member_key(self.swarm.id().as_bytes());
        if let Some(plan) = self.plan.as_mut() {
            plan.set_fetchers(me, fetching);
        }
    }

    /// Watches the [`MESH`] members this member has most [`affinity`] for (an order that differs
    /// from member to member, so the room's watching forms one mesh), and stops watching those
    /// that fell out of it. Keeping the mesh to the best of the *current* members matters: a
    /// mesh filled once and kept left the first joiners watching only each other (nobody else
    /// was there yet), a clique no piece from the later joiners reached, so each of them asked
    /// the host for half the track (measured: 30 listeners split 17/13).
    fn fill_mesh(&mut self, members: &crate::Members) {
        let me = self.swarm.id();
        let now = Instant::now();
        let eligible: Vec<EndpointId> = members
            .keys()
            .filter(|id| !self.swarm.is_banned(id))
            .filter(|id| !matches!(self.watched.get(*id), Some(Watch::Ended(at)) if now.duration_since(*at) < REACH_AGAIN * 5))
            .copied()
            .collect();
        let want = mesh(eligible, MESH, |id| affinity(me.as_bytes(), id.as_bytes()));
        let left: Vec<EndpointId> =
            self.watched.iter().filter(|(id, w)| matches!(w, Watch::On(_)) && !want.contains(id)).map(|(id, _)| *id).collect();
        for id in left {
            if let Some(Watch::On(handle)) = self.watched.remove(&id) {
                handle.abort();
            }
            self.forget(&Source::Peer(id));
        }
        for id in want {
            if !matches!(self.watched.get(&id), Some(Watch::On(_))) {
                let addr = self.swarm.addr_of(id, members.get(&id).map_or(&[][..], Vec::as_slice));
                let handle = self.watch(Source::Peer(id), addr);
                self.watched.insert(id, Watch::On(handle));
            }
        }
    }

    /// Drops what is known of a source whose watch ended.
    fn forget(&mut self, source: &Src) {
        self.connections.remove(source);
        self.holdings.remove(source);
        if let (Source::Peer(p), Some(plan)) = (source, self.plan.as_mut()) {
            plan.remove_peer(p);
        }
    }

    /// Connects to a source and streams what it holds into the inbox, until it ends.
    fn watch(&mut self, source: Src, addr: EndpointAddr) -> AbortHandle {
        let (endpoint, store, events, hash) = (self.swarm.endpoint().clone(), self.swarm.store().clone(), self.events.clone(), self.hash);
        self.tasks.spawn(async move {
            let conn = match tokio::time::timeout(CONNECT_WITHIN, endpoint.connect(addr, iroh_blobs::ALPN)).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => {
                    tracing::debug!(?source, "could not reach a source: {e}");
                    let _ = events.send(Event::Gone(source));
                    return;
                }
                Err(_) => {
                    tracing::debug!(?source, "a source did not answer in time");
                    let _ = events.send(Event::Gone(source));
                    return;
                }
            };
            tracing::debug!(?source, "watching a source");
            let _ = events.send(Event::Connected(source.clone(), conn.clone()));
            let holdings = store.remote().observe(conn.clone(), ObserveRequest::new(hash));
            tokio::pin!(holdings);
            while let Some(Ok(bits)) = holdings.next().await {
                if events.send(Event::Holds(source.clone(), bits)).is_err() {
                    return;
                }
            }
            let refused = matches!(conn.close_reason(), Some(ConnectionError::ApplicationClosed(c)) if c.error_code == NOT_A_MEMBER.into());
            tracing::debug!(?source, refused, reason = ?conn.close_reason(), "a source's watch ended");
            let _ = events.send(if refused { Event::Refused(source) } else { Event::Gone(source) });
        })
    }

    /// Asks `source` for one piece; what arrives is checked against the hash as it lands.
    fn request(&mut self, piece: usize, source: Src, size: u64) {
        let Some(conn) = self.connections.get(&source).cloned() else {
            let _ = self.events.send(Event::Got { piece, source, outcome: Outcome::Failed, reason: Some("not connected".into()) });
            return;
        };
        let ranges = piece_chunks(piece as u64, size);
        let (store, events, hash) = (self.swarm.store().clone(), self.events.clone(), self.hash);
        // Detached from the run's own tasks: a slow answer finishing after the fetch still
        // leaves its bytes in the store, and the plan has already asked elsewhere.
        tokio::spawn(async move {
            let asked = Instant::now();
            let got = store.remote().execute_get(conn, GetRequest::blob_ranges(hash, ranges)).complete().await;
            tracing::trace!(piece, ?source, took_ms = asked.elapsed().as_millis() as u64, ok = got.is_ok(), "a piece request ended");
            let (outcome, reason) = match got {
                Ok(_) => (Outcome::Got, None),
                Err(e) => (if lied(&e) { Outcome::Lied } else { Outcome::Failed }, Some(e.to_string())),
            };
            let _ = events.send(Event::Got { piece, source, outcome, reason });
        });
    }
}

/// Whether a failed request failed because the bytes did not match the hash.
fn lied(error: &GetError) -> bool {
    matches!(error, GetError::Decode { source: DecodeError::LeafHashMismatch { .. } | DecodeError::ParentHashMismatch { .. }, .. })
}

/// Which pieces a bitfield holds whole.
fn pieces_held(bits: &Bitfield, size: u64) -> Vec<bool> {
    (0..piece_count(size) as u64).map(|p| bits.is_complete() || bits.ranges.is_superset(&piece_chunks(p, size))).collect()
}

/// The BLAKE3 chunks of piece `p` of a blob of `size` bytes (an empty blob's one empty chunk for
/// piece 0).
fn piece_chunks(p: u64, size: u64) -> ChunkRanges {
    let first = ChunkNum::full_chunks(p * PIECE_BYTES);
    let end = ChunkNum::chunks(((p + 1) * PIECE_BYTES).min(size)).max(ChunkNum::chunks(1).max(first + 1));
    ChunkRanges::from(first..end)
}
