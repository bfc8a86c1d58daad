//! Which piece of a track to ask whom for next: the pure half of fetching from the room.
//!
//! A track is cut into pieces of [`PIECE_BYTES`]. Every member streams it in order (it is playing
//! from the front), so left alone all of them would ask the host for piece 0 at once, and the
//! host's uplink would carry one copy per listener. The plan keeps the host for what nobody else
//! has yet, and shares even that out:
//!
//! - **Peers first.** A piece some peer holds is asked of that peer (the least busy one, spread by
//!   this member's rank so that holders are not all asked by everyone).
//! - **The host for new pieces, each once.** Each piece has one owner among the members who fetch,
//!   chosen by rendezvous hashing: the member whose key scores highest with the piece's number.
//!   Only the owner asks the host for it, and only inside a small window past the room's
//!   frontier (the first piece nobody holds), so the host sends a few distinct pieces at a time,
//!   not the whole track to everyone. The others take those pieces from whoever got them.
//!   Rendezvous hashing rather than `piece % members == rank`: members learn of joins at
//!   slightly different moments, and with ranks every join moved nearly every piece to another
//!   owner, so while a room filled up, members disagreed on who owned the next pieces: some
//!   were asked for by several, some by nobody until the backup's wait ran out (simulated, 30
//!   joining over 6 s with views up to 1 s late: the host sent 220 pieces of 60, against 126).
//!   With a score per member and piece, a join or leave moves only the pieces the newcomer wins.
//! - **Never starve, and never stampede.** When the piece this member needs next is with nobody
//!   it can ask, its backup owner (the second highest score) asks the host after
//!   [`PlanConfig::urgent_after`], and anyone else only after [`PlanConfig::last_resort_after`].
//!   Letting every stuck member ask the host at the same short wait was tried: when pieces
//!   crossed the room slower than the wait (a busy host link slows its owner's fetch), all of
//!   them asked, the host's link filled further, and the room fetched the whole track from the
//!   host (measured with 30 listeners: 36 copies).
//! - **Liars are out.** A source whose bytes failed the hash is never asked again; one that failed
//!   otherwise (gone, slow) rests a while; a request that takes too long is given up and asked
//!   elsewhere.
//!
//! Time comes in as an argument, so the plan is tested without a clock or a network.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Bytes per piece: 128 BLAKE3 chunks, eight of iroh-blobs' 16 KiB chunk groups (~1 s of FLAC).
pub const PIECE_BYTES: u64 = 128 * 1024;

/// Who a piece is asked of.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source<P> {
    Peer(P),
    Host,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The piece arrived and matched the hash.
    Got,
    /// The source could not give it (gone, refused, did not have it).
    Failed,
    /// The bytes did not match the hash: the source lied or its copy is damaged.
    Lied,
}

/// The plan's knobs.
#[derive(Debug, Clone)]
pub struct PlanConfig {
    /// Requests at once to one source.
    pub per_source: usize,
    /// Requests at once in all.
    pub in_flight: usize,
    /// How many pieces past the room's frontier members may take from the host at once. It paces
    /// the room (a window is fetched by its owners, then spread, before the frontier moves on),
    /// but a wider one is not faster: 16 owners at once shared a 10 Mbit/s link into ~3 s per
    /// piece, backups fired, and the room was slower than with 4 (measured, 30 listeners).
    pub host_window: usize,
    /// How long the next needed piece may be with nobody askable before its backup owner asks
    /// the host.
    pub urgent_after: Duration,
    /// How long before any member asks the host for it (the owners may have left, or be stuck).
    pub last_resort_after: Duration,
    /// How long one request may take before it is asked elsewhere.
    pub request_timeout: Duration,
    /// How long a source that failed is left alone.
    pub rest: Duration,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig {
            per_source: 2,
            in_flight: 8,
            host_window: 4,
            urgent_after: Duration::from_secs(3),
            last_resort_after: Duration::from_secs(8),
            request_timeout: Duration::from_secs(10),
            rest: Duration::from_secs(2),
        }
    }
}

/// How many times a peer may fail to give a piece it says it holds before it is no longer asked
/// for that piece. A peer whose own copy is damaged says it holds the piece, and its store,
/// checking the bytes as it reads them, resets the stream rather than send them: that is no lie
/// this side can catch, so without a limit the piece was asked of it every rest, for ever, and
/// nobody asked the host (seen in the damaged-copy loopback test).
const FAILURES_PER_PIECE: u8 = 2;

#[derive(Debug, Default)]
struct PeerState {
    has: Vec<bool>,
    busy: usize,
    resting_until: Option<Instant>,
    /// Pieces it said it holds but failed to give, and how often.
    failed: BTreeMap<usize, u8>,
}

impl PeerState {
    /// Whether the peer holds `piece` as far as this member will ask it.
    fn gives(&self, piece: usize) -> bool {
        self.has.get(piece) == Some(&true) && self.failed.get(&piece).is_none_or(|n| *n < FAILURES_PER_PIECE)
    }
}

/// The state of one track's fetch, as this member sees the room.
#[derive(Debug)]
pub struct Plan<P: Ord + Clone> {
    config: PlanConfig,
    have: Vec<bool>,
    in_flight: BTreeMap<usize, (Source<P>, Instant)>,
    peers: BTreeMap<P, PeerState>,
    banned: BTreeSet<P>,
    host_busy: usize,
    host_resting_until: Option<Instant>,
    /// Whether the host can be asked (connected, and telling what it holds).
    host_here: bool,
    /// This member's key, and the other fetching members' (see [`Plan::set_fetchers`]).
    me: u64,
    others: Vec<u64>,
    /// The piece needed next that nobody askable holds, and since when.
    stuck: Option<(usize, Instant)>,
}

/// How strongly `me` prefers to watch `other`: members watch the peers they score highest, up to
/// a mesh of a few. The score is a hash of both ids in order, so each member's choice is its own
/// and looks random. (Ordering by XOR distance, as a DHT does, made the room split into clusters
/// of ids that share a prefix: every member's nearest were each other's, no piece crossed between
/// clusters, and every member ended up asking the host for half the track.)
pub fn affinity(me: &[u8], other: &[u8]) -> u64 {
    let hash = iroh_blobs::Hash::new([me, other].concat());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_be_bytes(first)
}

/// The `size` candidates with the highest affinity: the peers a member watches.
pub fn mesh<P>(mut candidates: Vec<P>, size: usize, affinity_of: impl Fn(&P) -> u64) -> Vec<P> {
    candidates.sort_by_cached_key(|p| std::cmp::Reverse(affinity_of(p)));
    candidates.truncate(size);
    candidates
}

/// A member's key for [`Plan::set_fetchers`]: the first eight bytes of its node id (a public key,
/// so already spread evenly).
pub fn member_key(id: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    for (to, from) in first.iter_mut().zip(id) {
        *to = *from;
    }
    u64::from_be_bytes(first)
}

/// How strongly a member with `key` claims `piece` (rendezvous hashing): SplitMix64's finaliser
/// over both, so that neighbouring keys and pieces score unrelated.
fn score(key: u64, piece: usize) -> u64 {
    let mut z = key ^ (piece as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How many pieces a blob of `size` bytes has.
pub fn piece_count(size: u64) -> usize {
    usize::try_from(size.div_ceil(PIECE_BYTES)).unwrap_or(usize::MAX)
}

impl<P: Ord + Clone> Plan<P> {
    /// A plan for a blob of `size` bytes, for a member alone until [`Plan::set_fetchers`] says
    /// who else fetches.
    pub fn new(size: u64, config: PlanConfig) -> Self {
        Plan {
            config,
            have: vec![false; piece_count(size)],
            in_flight: BTreeMap::new(),
            peers: BTreeMap::new(),
            banned: BTreeSet::new(),
            host_busy: 0,
            host_resting_until: None,
            host_here: false,
            me: 0,
            others: Vec::new(),
            stuck: None,
        }
    }

    /// How many pieces the blob has.
    pub fn pieces(&self) -> usize {
        self.have.len()
    }

    /// The room changed: `me` is this member's key and `others` the keys of the other members
    /// who fetch (not the host). A key is any number a member is known by in every member's
    /// view (the fetch takes it from the node id, see [`member_key`]).
    pub fn set_fetchers(&mut self, me: u64, others: impl IntoIterator<Item = u64>) {
        self.me = me;
        self.others = others.into_iter().filter(|k| *k != me).collect();
    }

    /// The piece's owner and its backup: the fetching members whose keys score highest with it.
    pub fn owners(&self, piece: usize) -> (u64, Option<u64>) {
        let mut best = (score(self.me, piece), self.me);
        let mut second: Option<(u64, u64)> = None;
        for key in &self.others {
            let s = (score(*key, piece), *key);
            if s > best {
                second = Some(best);
                best = s;
            } else if second.is_none_or(|b| s > b) {
                second = Some(s);
            }
        }
        (best.1, second.map(|s| s.1))
    }

    /// Whether the host can be asked now.
    pub fn set_host(&mut self, here: bool) {
        self.host_here = here;
    }

    /// What this member holds now (its own store's view, which also counts pieces that arrived
    /// through a request given up on).
    pub fn set_local(&mut self, have: &[bool]) {
        for (mine, now) in self.have.iter_mut().zip(have) {
            *mine |= *now;
        }
    }

    /// What `peer` holds now.
    pub fn set_peer(&mut self, peer: P, has: Vec<bool>) {
        if self.banned.contains(&peer) {
            return;
        }
        self.peers.entry(peer).or_default().has = has;
    }

    /// `peer` left, or its connection ended.
    pub fn remove_peer(&mut self, peer: &P) {
        self.peers.remove(peer);
    }

    /// Sources never to ask again (they sent bytes that failed the hash, in this fetch or before).
    pub fn ban(&mut self, peer: P) {
        self.peers.remove(&peer);
        self.banned.insert(peer);
    }

    /// A request ended. Answers for requests already given up on only count their bytes.
    pub fn done(&mut self, piece: usize, from: &Source<P>, outcome: Outcome, now: Instant) {
        if outcome == Outcome::Got
            && let Some(have) = self.have.get_mut(piece)
        {
            *have = true;
        }
        let ours = matches!(self.in_flight.get(&piece), Some((s, _)) if s == from);
        if ours {
            self.in_flight.remove(&piece);
            self.release(from);
        }
        match (outcome, from) {
            (Outcome::Lied, Source::Peer(p)) => self.ban(p.clone()),
            (Outcome::Failed, _) if ours => self.rest(from, now),
            _ => {}
        }
        if let (Outcome::Failed, Source::Peer(p)) = (outcome, from)
            && let Some(state) = self.peers.get_mut(p)
        {
            let n = state.failed.entry(piece).or_default();
            *n = n.saturating_add(1);
        }
    }

    /// Whether every piece is here.
    pub fn is_complete(&self) -> bool {
        self.have.iter().all(|h| *h)
    }

    /// The first piece this member lacks (where its in-order stream waits).
    pub fn next_needed(&self) -> Option<usize> {
        self.have.iter().position(|h| !*h)
    }

    /// The requests to start now: requests that took too long are given up first (their
    /// sources rest), then free slots are filled.
    pub fn next(&mut self, now: Instant) -> Vec<(usize, Source<P>)> {
        let timeout = self.config.request_timeout;
        let late: Vec<(usize, Source<P>)> = self
            .in_flight
            .iter()
            .filter(|(_, (_, since))| now.duration_since(*since) >= timeout)
            .map(|(p, (s, _))| (*p, s.clone()))
            .collect();
        for (piece, source) in late {
            self.done(piece, &source, Outcome::Failed, now);
        }
        let needed = self.next_needed();
        let frontier = self.frontier();
        let mut starts = Vec::new();
        let candidates: Vec<usize> = (0..self.have.len()).filter(|p| !self.have[*p] && !self.in_flight.contains_key(p)).collect();
        for piece in candidates {
            if self.in_flight.len() >= self.config.in_flight {
                break;
            }
            let source = match self.holder(piece, now) {
                Some(peer) => Some(Source::Peer(peer)),
                None if self.host_free(now) && self.host_may_send(piece, frontier, needed, now) => Some(Source::Host),
                None => None,
            };
            if Some(piece) == needed {
                self.note_stuck(piece, source.is_none(), now);
            }
            if let Some(source) = source {
                self.take(&source);
                self.in_flight.insert(piece, (source.clone(), now));
                starts.push((piece, source));
            }
        }
        starts
    }

    /// The first piece nobody this member knows of holds: where new data enters the room.
    fn frontier(&self) -> usize {
        (0..self.have.len()).find(|p| !self.have[*p] && !self.peers.values().any(|s| s.gives(*p))).unwrap_or(self.have.len())
    }

    fn host_may_send(&self, piece: usize, frontier: usize, needed: Option<usize>, now: Instant) -> bool {
        let (owner, backup) = self.owners(piece);
        let mine = owner == self.me && piece < frontier + self.config.host_window;
        let backup = backup == Some(self.me);
        let waited = |wait: Duration| {
            Some(piece) == needed && matches!(self.stuck, Some((p, since)) if p == piece && now.duration_since(since) >= wait)
        };
        mine || (backup && waited(self.config.urgent_after)) || waited(self.config.last_resort_after)
    }

    fn note_stuck(&mut self, piece: usize, stuck: bool, now: Instant) {
        match (stuck, self.stuck) {
            (false, _) => self.stuck = None,
            (true, Some((p, _))) if p == piece => {}
            (true, _) => self.stuck = Some((piece, now)),
        }
    }

    /// The peer to ask for `piece`: one that holds it and has a free slot, the least busy, ties
    /// spread by rank.
    fn holder(&self, piece: usize, now: Instant) -> Option<P> {
        let free: Vec<(&P, &PeerState)> = self
            .peers
            .iter()
            .filter(|(_, s)| s.gives(piece) && s.busy < self.config.per_source && s.resting_until.is_none_or(|t| now >= t))
            .collect();
        let least = free.iter().map(|(_, s)| s.busy).min()?;
        let tied: Vec<&P> = free.iter().filter(|(_, s)| s.busy == least).map(|(p, _)| *p).collect();
        tied.get(score(self.me, piece) as usize % tied.len()).map(|p| (*p).clone())
    }

    fn host_free(&self, now: Instant) -> bool {
        self.host_here && self.host_busy < self.config.per_source && self.host_resting_until.is_none_or(|t| now >= t)
    }

    fn take(&mut self, source: &Source<P>) {
        match source {
            Source::Host => self.host_busy += 1,
            Source::Peer(p) => {
                if let Some(s) = self.peers.get_mut(p) {
                    s.busy += 1;
                }
            }
        }
    }

    fn release(&mut self, source: &Source<P>) {
        match source {
            Source::Host => self.host_busy = self.host_busy.saturating_sub(1),
            Source::Peer(p) => {
                if let Some(s) = self.peers.get_mut(p) {
                    s.busy = s.busy.saturating_sub(1);
                }
            }
        }
    }

    fn rest(&mut self, source: &Source<P>, now: Instant) {
        let until = Some(now + self.config.rest);
        match source {
            Source::Host => self.host_resting_until = until,
            Source::Peer(p) => {
                if let Some(s) = self.peers.get_mut(p) {
                    s.resting_until = until;
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
