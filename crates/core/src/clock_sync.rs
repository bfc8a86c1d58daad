//! A listener's estimate of the host's clock, from whichever of its two paths is working: the
//! datagram path ([`crate::clock_udp`]: ten exchanges a second, nothing queued ahead of them)
//! when the host answers there, else the room's WebSocket (four a second, always there, also
//! through a relay). Each path keeps its own [`ClockOffset`]: their delays differ, and each
//! direction's floor means something only among exchanges that took the same way.

use whatssound_audio::{ClockOffset, Estimate, Exchange, Nanos};

/// Which way an exchange went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockPath {
    Datagram,
    WebSocket,
}

impl ClockPath {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockPath::Datagram => "udp",
            ClockPath::WebSocket => "websocket",
        }
    }
}

/// A minute of each path's exchanges.
const WEBSOCKET_WINDOW: usize = 240;
const DATAGRAM_WINDOW: usize = 600;
/// The datagram path is believed once it has this many exchanges...
const DATAGRAM_AFTER: usize = 8;
/// ...and while its last one is no older than this (a firewall that starts dropping UDP, a
/// network change): then the WebSocket's estimate, kept warm all along, takes over at once.
const DATAGRAM_SILENT_NS: Nanos = 3_000_000_000;

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
}

impl Default for ClockSync {
    fn default() -> Self {
        ClockSync { websocket: ClockOffset::new(WEBSOCKET_WINDOW), datagram: ClockOffset::new(DATAGRAM_WINDOW), datagram_last: None }
    }
}

impl ClockSync {
    /// The path believed at local instant `now`.
    pub fn believed(&self, now: Nanos) -> ClockPath {
        let fresh = self.datagram_last.is_some_and(|at| now - at <= DATAGRAM_SILENT_NS);
        let enough = self.datagram.estimate().is_some_and(|e| e.samples >= DATAGRAM_AFTER);
        if fresh && enough { ClockPath::Datagram } else { ClockPath::WebSocket }
    }

    /// Adds an exchange that went over `path`; returns what to publish if that path is believed.
    pub fn add(&mut self, path: ClockPath, e: Exchange) -> Option<Published> {
        let offsets = match path {
            ClockPath::Datagram => {
                self.datagram_last = Some(e.t3);
                &mut self.datagram
            }
            ClockPath::WebSocket => &mut self.websocket,
        };
        let estimate = offsets.add(e)?;
        if self.believed(e.t3) != path {
            return None;
        }
        let offsets = if path == ClockPath::Datagram { &self.datagram } else { &self.websocket };
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
}
