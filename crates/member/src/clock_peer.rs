//! Listeners on one LAN as each other's time reference: the one module that owns the peer clock
//! socket. Each listener answers peer pings with its estimate of the host's clock, and pings the
//! room's other listeners that sort below it (their addresses come from presence, where each
//! listener puts this socket's LAN address as `clock_peer`). Which peer, if any, is followed is
//! decided in [`crate::clock_sync`]; this task only moves datagrams.
//!
//! Why not mDNS or multicast: the room's presence already tells every listener who else is in
//! the room and where they say they are, including across a VPN or a LAN that filters
//! multicast (many Wi-Fi access points do), and it needs no port that every listener must agree
//! on. A peer on another LAN answers too slowly to count (or its private address is not
//! reachable at all), and the nonce means a pong from anyone else is ignored.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use whatssound_clock::{Clock, Exchange};
use whatssound_room::clock_datagram::{ClockDatagram, HostLine, PEER_LEN};

use crate::clock_sync::PeerExchange;

/// A room member to ping: its presence key and its `clock_peer` address.
pub type Peer = (String, SocketAddr);

/// At most this many peers are pinged (the lowest keys: the one followed is the lowest that
/// qualifies, and a LAN rarely holds more listeners of one room).
pub const MAX_PEERS: usize = 8;

/// Pings kept waiting for their pong.
const OUTSTANDING: usize = 64 * MAX_PEERS;

/// A peer that has not answered this many rounds in a row is pinged only every this many rounds
/// (once a second at first, then every 5 s): an address in presence is a member's word, and a
/// wrong one must not draw fifty datagrams a second from every listener.
const SILENT_ROUNDS: u32 = 50;

/// Whether `at` can be a peer on this LAN: a private, link-local or loopback address. Others
/// are not pinged, so a member cannot point the room's listeners at a host on the internet.
pub fn is_lan(at: &SocketAddr) -> bool {
    match at.ip() {
        std::net::IpAddr::V4(ip) => ip.is_private() || ip.is_link_local() || ip.is_loopback(),
        // Unique local (fc00::/7) and unicast link-local (fe80::/10).
        std::net::IpAddr::V6(ip) => ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00 || (ip.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// How often each peer is pinged: as the host is ([`whatssound_core::clock_udp`]: fifty a second for
/// 15 s, then ten), counted afresh whenever the peers change, so a new one is followed within a
/// second and a LAN on Wi-Fi, as jittery as any uplink, gets as sharp an estimate.
fn interval(round: u64) -> Duration {
    if round < 750 { Duration::from_millis(20) } else { Duration::from_millis(100) }
}

/// A socket for LAN peers' clock pings, and the address to tell them (in presence): the one this
/// machine reaches the host at `host` from, which is where a peer on the same LAN can reach it
/// (the kernel picks the route; nothing is sent). `None` if there is none: the LAN clock is then
/// simply not offered.
pub async fn bind(host: SocketAddr) -> Option<(UdpSocket, SocketAddr)> {
    let probe = UdpSocket::bind(whatssound_core::clock_udp::any_port_for(host)).await.ok()?;
    probe.connect(host).await.ok()?;
    let ip = probe.local_addr().ok()?.ip();
    let socket = UdpSocket::bind((ip, 0)).await.ok()?;
    let at = socket.local_addr().ok()?;
    Some((socket, at))
}

/// Answers peer pings with `line` (once there is one) and pings `peers`, sending each completed
/// exchange on, until the receiver of `exchanges` is dropped.
pub async fn run(
    socket: UdpSocket,
    clock: Arc<dyn Clock>,
    line: watch::Receiver<Option<HostLine>>,
    mut peers: watch::Receiver<Vec<Peer>>,
    exchanges: mpsc::UnboundedSender<PeerExchange>,
) {
    // (nonce, t0, peer) of recent pings: a pong must name one exactly, from that peer's address.
    let mut waiting: VecDeque<(u64, i64, Peer)> = VecDeque::with_capacity(OUTSTANDING);
    // Rounds since each peer last answered.
    let mut silent: std::collections::HashMap<SocketAddr, u32> = std::collections::HashMap::new();
    let mut buf = [0u8; PEER_LEN + 1];
    let mut rounds = 0u64;
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {
                let now: Vec<Peer> = peers.borrow().iter().take(MAX_PEERS).cloned().collect();
                silent.retain(|at, _| now.iter().any(|p| p.1 == *at));
                for peer in now {
                    let quiet = silent.entry(peer.1).or_insert(0);
                    *quiet = quiet.saturating_add(1);
                    if *quiet > SILENT_ROUNDS && !quiet.is_multiple_of(SILENT_ROUNDS) {
                        continue;
                    }
                    let (nonce, t0) = (rand::random(), clock.now());
                    if waiting.len() == OUTSTANDING {
                        waiting.pop_front();
                    }
                    // A peer that is unreachable now and then is a lost ping, not a reason to stop.
                    let _ = socket.send_to(&ClockDatagram::PeerPing { nonce, t0 }.encode(), peer.1).await;
                    waiting.push_back((nonce, t0, peer));
                }
                next += interval(rounds);
                rounds += 1;
            }
            got = socket.recv_from(&mut buf) => {
                let t_in = clock.now();
                // An ICMP error for an earlier ping surfaces here on some systems: a lost ping.
                let Ok((n, from)) = got else { continue };
                match ClockDatagram::decode(&buf[..n]) {
                    Ok(ping @ ClockDatagram::PeerPing { .. }) => {
                        // Nothing to tell before this listener knows the host's clock itself.
                        let Some(ours) = *line.borrow() else { continue };
                        let t2 = clock.now();
                        let answer = HostLine { local: t2, host: ours.host_at(t2), ..ours };
                        if let Some(pong) = ping.answer_peer(t_in, answer) {
                            let _ = socket.send_to(&pong.encode(), from).await;
                        }
                    }
                    Ok(ClockDatagram::PeerPong { nonce, t0, t1, line }) => {
                        let Some(at) = waiting.iter().position(|(n, t, p)| *n == nonce && *t == t0 && p.1 == from) else { continue };
                        let Some((_, _, (peer, _))) = waiting.remove(at) else { continue };
                        silent.insert(from, 0);
                        let exchange = Exchange { t0, t1, t2: line.local, t3: t_in };
                        if exchanges.send(PeerExchange { peer, exchange, line }).is_err() {
                            return;
                        }
                    }
                    // Host datagrams and garbage: not for this socket.
                    _ => {}
                }
            }
            changed = peers.changed() => {
                if changed.is_err() {
                    return;
                }
                // A new peer gets the first-second burst (the others a few extra pings).
                rounds = 0;
                next = tokio::time::Instant::now();
            }
            () = exchanges.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use whatssound_clock::MonotonicClock;

    use super::*;

    async fn bound() -> (UdpSocket, SocketAddr) {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let at = s.local_addr().unwrap_or_else(|e| panic!("{e}"));
        (s, at)
    }

    #[tokio::test]
    async fn a_listener_that_knows_the_host_answers_its_peers_with_its_estimate() {
        let clock: Arc<dyn Clock> = Arc::new(MonotonicClock::new());
        let ((reference, at), (follower, _)) = (bound().await, bound().await);
        // The reference knows the host to be 40 ms ahead; the follower knows nothing yet.
        let (line_tx, line_rx) = watch::channel(None);
        let (_no_peers, no_peers) = watch::channel(Vec::new());
        let (ref_tx, _ref_rx) = mpsc::unbounded_channel();
        let answering = tokio::spawn(run(reference, clock.clone(), line_rx, no_peers, ref_tx));
        let (_none, none) = watch::channel(None);
        let (_peers_tx, peers) = watch::channel(vec![("a".to_owned(), at)]);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let pinging = tokio::spawn(run(follower, clock.clone(), none, peers, tx));
        // Unanswered while the reference has no estimate of its own.
        let silent = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
        assert!(silent.is_err(), "a listener with no estimate answered");
        let now = clock.now();
        line_tx.send_replace(Some(HostLine { local: now, host: now + 40_000_000, drift_ppb: 0, uncertainty: 120_000 }));
        for _ in 0..5 {
            let got = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await.ok().flatten().unwrap_or_else(|| panic!("no exchange"));
            assert_eq!(got.peer, "a");
            let e = got.exchange;
            assert!(e.t0 <= e.t1 && e.t1 <= e.t2 && e.t2 <= e.t3, "one clock, in order: {e:?}");
            assert_eq!(got.line.host - got.line.local, 40_000_000, "the line, moved to the answer's instant");
            assert_eq!(got.line.local, e.t2);
        }
        drop(rx);
        tokio::time::timeout(Duration::from_secs(1), pinging).await.unwrap_or_else(|_| panic!("the pinger stops with its receiver")).ok();
        answering.abort();
    }

    #[test]
    fn only_lan_addresses_are_peers() {
        for lan in
            ["192.168.1.3:4000", "10.0.0.2:1", "172.16.5.5:2", "127.0.0.1:3", "169.254.1.1:4", "[fd00::1]:5", "[fe80::1]:6", "[::1]:7"]
        {
            assert!(is_lan(&lan.parse().unwrap_or_else(|e| panic!("{lan}: {e}"))), "{lan}");
        }
        for far in ["8.8.8.8:53", "100.64.0.1:1", "[2001:db8::1]:2", "203.0.113.9:3"] {
            assert!(!is_lan(&far.parse().unwrap_or_else(|e| panic!("{far}: {e}"))), "{far}");
        }
    }

    // Paused: the rounds' timers fire in order on a clock that jumps when the task is idle, so the
    // count depends on the back-off alone, not on how busy the machine is.
    #[tokio::test(start_paused = true)]
    async fn a_peer_that_never_answers_is_pinged_ever_more_rarely() {
        let clock: Arc<dyn Clock> = Arc::new(MonotonicClock::new());
        let ((socket, _), (mute, mute_at)) = (bound().await, bound().await);
        let (_line, line) = watch::channel(None);
        let (_peers, peers) = watch::channel(vec![("a".to_owned(), mute_at)]);
        let (tx, _rx) = mpsc::unbounded_channel();
        let pinging = tokio::spawn(run(socket, clock, line, peers, tx));
        // Three seconds of 20 ms rounds: 150 pings if it never let up, 52 with the back-off.
        let mut buf = [0u8; 128];
        let mut got = 0;
        let until = tokio::time::Instant::now() + Duration::from_secs(3);
        while let Ok(Ok(_)) = tokio::time::timeout_at(until, mute.recv_from(&mut buf)).await {
            got += 1;
        }
        pinging.abort();
        assert!((40..90).contains(&got), "{got} pings to a peer that never answered");
    }

    #[tokio::test]
    async fn garbage_and_host_pings_get_no_answer_from_a_peer_socket() {
        let clock: Arc<dyn Clock> = Arc::new(MonotonicClock::new());
        let (socket, at) = bound().await;
        let now = clock.now();
        let (_line, line) = watch::channel(Some(HostLine { local: now, host: now, drift_ppb: 0, uncertainty: 0 }));
        let (_peers, peers) = watch::channel(Vec::new());
        let (tx, _rx) = mpsc::unbounded_channel();
        let answering = tokio::spawn(run(socket, clock, line, peers, tx));
        let (stranger, _) = bound().await;
        stranger.send_to(b"hello, is this DNS?", at).await.unwrap_or_else(|e| panic!("{e}"));
        stranger.send_to(&ClockDatagram::Ping { nonce: 1, t0: 2 }.encode(), at).await.unwrap_or_else(|e| panic!("{e}"));
        let mut buf = [0u8; 128];
        let silent = tokio::time::timeout(Duration::from_millis(200), stranger.recv_from(&mut buf)).await;
        assert!(silent.is_err(), "a peer socket answered garbage or a host ping");
        answering.abort();
    }
}
