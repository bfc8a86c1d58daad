//! How a listener keeps the host's time: clock pings on its own channel, exchanges completed on
//! any path (the WebSocket, the host's datagrams, a LAN peer), and each new estimate published to
//! the player and to the LAN peers this listener answers.

use whatssound_clock::Exchange;
use whatssound_room::clock_datagram::HostLine;
use whatssound_room::wire::{self, ClockPing, ClockPong};

use super::{RoomEvent, SyncStats, Task};
use crate::clock_sync::{ClockPath, Published};

/// How often to exchange clocks, by how many exchanges completed: a burst at join (24 in half a
/// second; playback is first placed by it), then four a second for good. Counted by answers, not
/// pings: the host starts hearing a listener's channel when its presence arrives, and pings sent
/// before that are lost, so the burst lasts until 24 were answered. The estimate reads each
/// direction's floor (see `ClockOffset`), which is as sharp as the quickest packet in the window:
/// with 10 ms of jitter, four a second over a minute put it within 0.4 ms (p99, simulated) where
/// one a second left 1.4 ms. An exchange is two small signed messages; the hub allows 100 a second.
pub(super) fn ping_interval(sent: u64) -> std::time::Duration {
    match sent {
        0..24 => std::time::Duration::from_millis(20),
        _ => std::time::Duration::from_millis(250),
    }
}

impl Task {
    pub(super) fn send_ping(&mut self) {
        self.pings_sent += 1;
        let ping = ClockPing { nonce: self.pings_sent, t0: self.clock.now() };
        // On this listener's own channel, which only the host hears (see host.rs: pings on the
        // shared playback channel reached every member).
        let topic = self.topics.user(&self.identity.user_id());
        self.client.broadcast(&topic, wire::CLOCK_PING, wire::seal(&self.identity, &ping));
    }

    pub(super) fn on_pong(&mut self, pong: ClockPong, t3: i64) {
        self.pongs += 1;
        self.on_exchange(ClockPath::WebSocket, Exchange { t0: pong.t0, t1: pong.t1, t2: pong.t2, t3 });
    }

    pub(super) fn on_exchange(&mut self, path: ClockPath, e: Exchange) {
        if let Some(p) = self.clock_sync.add(path, e) {
            self.publish(p, e.t3);
        }
    }

    /// A new estimate of the host's clock, from the exchange that completed at local `t3`: to
    /// the player (through the event) and to the LAN peers this listener answers.
    pub(super) fn publish(&mut self, p: Published, t3: i64) {
        let stats = SyncStats {
            clock_offset_ns: p.estimate.offset,
            round_trip_ns: p.estimate.round_trip,
            uncertainty_ns: p.estimate.uncertainty,
            path: p.path,
            reach: self.route.reach(),
            drift_ppm: p.estimate.drift_ppm,
            samples: p.estimate.samples,
            local_ns: t3,
            host_ns: p.host_at_t3,
        };
        self.host_line.send_replace(Some(HostLine {
            local: t3,
            host: p.host_at_t3,
            drift_ppb: (p.estimate.drift_ppm * 1e3).round() as i64,
            uncertainty: p.estimate.uncertainty,
        }));
        self.emit(RoomEvent::Sync(stats));
    }
}

impl SyncStats {
    /// The host's instant at local instant `local_ns`, by this estimate (its point and drift).
    pub fn host_at(&self, local_ns: i64) -> i64 {
        self.host_ns + ((local_ns - self.local_ns) as f64 * (1.0 + self.drift_ppm * 1e-6)) as i64
    }
}
