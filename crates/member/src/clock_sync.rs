//! A listener's estimate of the host's clock, from whichever of its paths is working: the
//! datagram path ([`whatssound_core::clock_udp`]: ten exchanges a second, nothing queued ahead of them)
//! when the host answers there, else the room's WebSocket (four a second, always there, also
//! through a relay). Each path keeps its own [`ClockOffset`]: their delays differ, and each
//! direction's floor means something only among exchanges that took the same way.
//!
//! Above both, a **LAN peer** ([`crate::clock_peer`]): another listener of the room a LAN's
//! round trip away, whose own estimate of the host's clock this one adopts, through its clock.
//! Two listeners that each estimate a far host's clock are each off by their own share of the
//! path's jitter (and by half of its asymmetry, which a two-way exchange cannot see); two that
//! share one estimate are off by the same amount, so they sound together to within the LAN's
//! error, 0.1 ms, however far the host is. A peer is followed only while its estimate agrees with
//! this listener's own within what the two can be wrong by, so a peer that lies (or is simply
//! wrong) cannot move playback further than the direct path already might.

use std::collections::BTreeMap;

use whatssound_clock::{ClockOffset, Estimate, Exchange, Nanos};
use whatssound_room::clock_datagram::HostLine;

/// Which way an exchange went (in the UI's sync indicator: where the clock comes from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum ClockPath {
    /// Through a LAN peer's estimate.
    #[serde(rename = "lan")]
    Peer,
    #[serde(rename = "udp")]
    Datagram,
    #[serde(rename = "websocket")]
    WebSocket,
}

impl ClockPath {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockPath::Peer => "lan",
            ClockPath::Datagram => "udp",
            ClockPath::WebSocket => "websocket",
        }
    }
}

/// A minute of each path's exchanges (the datagram path: 15 s at fifty a second, 45 s at ten).
const WEBSOCKET_WINDOW: usize = 240;
const DATAGRAM_WINDOW: usize = 1_200;
/// The datagram path is believed once it has this many exchanges...
const DATAGRAM_AFTER: usize = 8;
/// ...and while its last one is no older than this (a firewall that starts dropping UDP, a
/// network change): then the WebSocket's estimate, kept warm all along, takes over at once.
const DATAGRAM_SILENT_NS: Nanos = 3_000_000_000;

/// A peer is a LAN away while its quickest round trip is at most this (a home's Wi-Fi: 1–5 ms)...
const PEER_ROUND_TRIP_NS: Nanos = 5_000_000;
/// ...and it is followed while its estimate and ours agree to within what each may be wrong by
/// (half our round trip, both uncertainties) plus this.
const PEER_AGREE_SLACK_NS: Nanos = 1_000_000;
/// Peers not heard from for this long are forgotten.
const PEER_FORGET_NS: Nanos = 60_000_000_000;

/// A clock exchange with a peer, and the peer's estimate of the host's clock at its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerExchange {
    /// The peer's presence key.
    pub peer: String,
    /// `t1`/`t2` on the peer's clock.
    pub exchange: Exchange,
    pub line: HostLine,
}

#[derive(Debug, Clone)]
struct PeerClock {
    /// The peer's clock against ours.
    offsets: ClockOffset,
    line: HostLine,
    last: Nanos,
}

/// What an exchange taught, when it came over the path believed now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Published {
    pub estimate: Estimate,
    pub path: ClockPath,
    /// The host instant of the exchange's arrival (`t3`), on the believed line.
    pub host_at_t3: Nanos,
}

#[derive(Debug, Clone)]
pub struct ClockSync {
    websocket: ClockOffset,
    datagram: ClockOffset,
    datagram_last: Option<Nanos>,
    /// By presence key: the lowest key that qualifies is followed, so listeners on one LAN all
    /// end up on the same one (the lowest has no lower peer, and follows the host).
    peers: BTreeMap<String, PeerClock>,
}

impl Default for ClockSync {
    fn default() -> Self {
        ClockSync {
            websocket: ClockOffset::new(WEBSOCKET_WINDOW),
            datagram: ClockOffset::new(DATAGRAM_WINDOW),
            datagram_last: None,
            peers: BTreeMap::new(),
        }
    }
}

impl ClockSync {
    /// The path believed at local instant `now`.
    pub fn believed(&self, now: Nanos) -> ClockPath {
        if self.followed_peer(now).is_some() { ClockPath::Peer } else { self.direct(now) }
    }

    /// The host-clock path believed at `now`, peers aside.
    fn direct(&self, now: Nanos) -> ClockPath {
        let fresh = self.datagram_last.is_some_and(|at| now - at <= DATAGRAM_SILENT_NS);
        let enough = self.datagram.estimate().is_some_and(|e| e.samples >= DATAGRAM_AFTER);
        if fresh && enough { ClockPath::Datagram } else { ClockPath::WebSocket }
    }

    fn direct_offsets(&self, now: Nanos) -> &ClockOffset {
        if self.direct(now) == ClockPath::Datagram { &self.datagram } else { &self.websocket }
    }

    /// The peer followed at `now`: the lowest key that is fresh, a LAN away, quicker than the
    /// host, and agrees with our own estimate.
    fn followed_peer(&self, now: Nanos) -> Option<(&String, &PeerClock)> {
        let direct = self.direct_offsets(now);
        let ours = direct.estimate()?;
        let host_now = direct.to_host(now)?;
        self.peers.iter().find(|(_, p)| {
            let Some(e) = p.offsets.estimate() else { return false };
            let Some(peer_now) = p.offsets.to_host(now) else { return false };
            let bound = ours.round_trip / 2 + ours.uncertainty + p.line.uncertainty + e.round_trip / 2 + PEER_AGREE_SLACK_NS;
            now - p.last <= DATAGRAM_SILENT_NS
                && e.samples >= DATAGRAM_AFTER
                && e.round_trip <= PEER_ROUND_TRIP_NS
                && e.round_trip < ours.round_trip
                && (p.line.host_at(peer_now) - host_now).abs() <= bound
        })
    }

    /// Adds an exchange with a LAN peer; returns what to publish if that peer is followed.
    pub fn add_peer(&mut self, p: PeerExchange) -> Option<Published> {
        let now = p.exchange.t3;
        self.peers.retain(|key, peer| *key == p.peer || now - peer.last <= PEER_FORGET_NS);
        let peer = self.peers.entry(p.peer.clone()).or_insert_with(|| PeerClock {
            offsets: ClockOffset::new(DATAGRAM_WINDOW),
            line: p.line,
            last: now,
        });
        peer.line = p.line;
        peer.last = now;
        let lan = peer.offsets.add(p.exchange)?;
        let peer_at_t3 = peer.offsets.to_host(now)?;
        let line = peer.line;
        // Published only when the peer that answered is the one followed.
        if self.followed_peer(now).map(|(key, _)| key) != Some(&p.peer) {
            return None;
        }
        let host_at_t3 = line.host_at(peer_at_t3);
        let estimate = Estimate {
            offset: host_at_t3 - now,
            // Host per peer per ours: the two rates compose (their product is below a ppm's ppm).
            drift_ppm: lan.drift_ppm + line.drift_ppb as f64 * 1e-3,
            round_trip: lan.round_trip,
            uncertainty: lan.uncertainty + line.uncertainty,
            samples: lan.samples,
        };
        Some(Published { estimate, path: ClockPath::Peer, host_at_t3 })
    }

    /// Adds an exchange that went over `path` (the datagram path or the WebSocket); returns what to
    /// publish if that path is believed.
    pub fn add(&mut self, path: ClockPath, e: Exchange) -> Option<Published> {
        let offsets = match path {
            ClockPath::Datagram => {
                self.datagram_last = Some(e.t3);
                &mut self.datagram
            }
            ClockPath::WebSocket => &mut self.websocket,
            // A peer's exchange means nothing without its line: `add_peer`.
            ClockPath::Peer => return None,
        };
        let estimate = offsets.add(e)?;
        if self.believed(e.t3) != path {
            return None;
        }
        let offsets = self.direct_offsets(e.t3);
        Some(Published { estimate, path, host_at_t3: offsets.to_host(e.t3).unwrap_or(e.t3 + estimate.offset) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Nanos = 1_000_000;

    /// An exchange at local `t0` with a host `offset` ahead and `one_way` each way.
    fn exchange(t0: Nanos, offset: Nanos, one_way: Nanos) -> Exchange {
        Exchange { t0, t1: t0 + one_way + offset, t2: t0 + one_way + offset, t3: t0 + 2 * one_way }
    }

    #[test]
    fn the_websocket_serves_until_datagrams_answer_and_again_when_they_stop() {
        let mut sync = ClockSync::default();
        let ws = sync.add(ClockPath::WebSocket, exchange(0, 40 * MS, 5 * MS));
        assert_eq!(ws.map(|p| (p.path, p.estimate.offset)), Some((ClockPath::WebSocket, 40 * MS)));
        // Datagrams start: not believed until eight have come.
        for i in 0..8 {
            let got = sync.add(ClockPath::Datagram, exchange(100 * MS + i * 20 * MS, 40 * MS, MS));
            assert_eq!(got.is_some(), i == 7, "datagram {i}");
        }
        assert_eq!(sync.believed(300 * MS), ClockPath::Datagram);
        assert_eq!(sync.add(ClockPath::WebSocket, exchange(300 * MS, 40 * MS, 5 * MS)), None, "kept warm, not published");
        // Silent for over 3 s: the WebSocket's estimate takes over.
        assert_eq!(sync.believed(5_000 * MS), ClockPath::WebSocket);
        let back = sync.add(ClockPath::WebSocket, exchange(5_000 * MS, 40 * MS, 5 * MS));
        assert_eq!(back.map(|p| p.path), Some(ClockPath::WebSocket));
    }

    /// An exchange with a peer whose clock is `peer_offset` ahead of ours, `one_way` each way,
    /// which believes the host is `host_offset` ahead of its own clock.
    fn peer_exchange(peer: &str, t0: Nanos, peer_offset: Nanos, one_way: Nanos, host_offset: Nanos) -> PeerExchange {
        let t1 = t0 + one_way + peer_offset;
        PeerExchange {
            peer: peer.to_owned(),
            exchange: Exchange { t0, t1, t2: t1, t3: t0 + 2 * one_way },
            line: HostLine { local: t1, host: t1 + host_offset, drift_ppb: 0, uncertainty: MS / 10 },
        }
    }

    /// A listener that knows the host (40 ms ahead) over a 20 ms-each-way datagram path.
    fn synced() -> ClockSync {
        let mut sync = ClockSync::default();
        for i in 0..10 {
            sync.add(ClockPath::Datagram, exchange(i * 50 * MS, 40 * MS, 20 * MS));
        }
        assert_eq!(sync.believed(500 * MS), ClockPath::Datagram);
        sync
    }

    #[test]
    fn a_lan_peer_that_agrees_is_followed_and_its_estimate_adopted() {
        let mut sync = synced();
        // The peer's clock is 3 ms ahead of ours; it puts the host 37.6 ms ahead of itself, so
        // 40.6 ms ahead of us: 0.6 ms off the truth, which is what both will then share.
        let mut last = None;
        for i in 0..8 {
            last = sync.add_peer(peer_exchange("b", 500 * MS + i * 20 * MS, 3 * MS, MS / 10, 37_600_000));
            assert_eq!(last.is_some(), i == 7, "peer exchange {i}");
        }
        let p = last.unwrap_or_else(|| panic!("followed"));
        assert_eq!(p.path, ClockPath::Peer);
        assert_eq!(p.estimate.offset, 40_600_000);
        assert_eq!(p.estimate.round_trip, MS / 5);
        assert_eq!(sync.believed(700 * MS), ClockPath::Peer);
        // Direct exchanges go on, kept warm but not published while the peer is followed.
        assert_eq!(sync.add(ClockPath::Datagram, exchange(700 * MS, 40 * MS, 20 * MS)), None);
        // The peer falls silent: after 3 s the host's own path is believed, and published, again.
        let back = sync.add(ClockPath::Datagram, exchange(3_700 * MS, 40 * MS, 20 * MS));
        assert_eq!(back.map(|p| p.path), Some(ClockPath::Datagram));
    }

    #[test]
    fn a_peer_is_not_followed_when_it_disagrees_is_far_away_or_is_slower_than_the_host() {
        for (what, one_way, host_offset, direct_one_way) in [
            // 30 ms off, where both can be wrong by 20 + 0.1 + 0.1 + 1 ms at most.
            ("disagrees", MS / 10, 67 * MS, 20 * MS),
            ("is across the internet", 15 * MS, 37 * MS, 20 * MS),
            ("is no quicker than the host", MS, 37 * MS, MS / 2),
        ] {
            let mut sync = ClockSync::default();
            for i in 0..10 {
                sync.add(ClockPath::Datagram, exchange(i * 50 * MS, 40 * MS, direct_one_way));
            }
            for i in 0..20 {
                let got = sync.add_peer(peer_exchange("b", 500 * MS + i * 40 * MS, 3 * MS, one_way, host_offset));
                assert_eq!(got, None, "a peer that {what} was followed");
            }
            assert_eq!(sync.believed(1_400 * MS), ClockPath::Datagram, "{what}");
        }
    }

    #[test]
    fn of_several_lan_peers_the_lowest_key_is_followed() {
        let mut sync = synced();
        for i in 0..10 {
            let t0 = 500 * MS + i * 20 * MS;
            // Both qualify, and "a" sorts first: everyone on the LAN picks "a".
            let a = sync.add_peer(peer_exchange("a", t0, -2 * MS, MS / 10, 42_300_000));
            assert_eq!(a.map(|p| p.estimate.offset), (i >= 7).then_some(40_300_000), "round {i}");
            let c = sync.add_peer(peer_exchange("c", t0 + MS, 3 * MS, MS / 10, 37 * MS));
            assert_eq!(c.map(|p| p.path), None, "round {i}: c was published");
        }
    }
}
