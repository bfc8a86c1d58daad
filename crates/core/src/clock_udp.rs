//! The UDP side of clock sync: the one module that owns the clock datagram sockets. The host
//! answers pings on the UDP port of the same number as its WebSocket; a listener pings it there
//! and hands each completed [`Exchange`] to its room task. The datagrams, and why they need no
//! signature, are in `whatssound_room::clock_datagram`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use whatssound_clock::{Clock, Exchange};
use whatssound_room::clock_datagram::{ClockDatagram, LEN};

/// Answers every clock ping on `socket` with the host's clock, for as long as the task runs
/// (the hosting aborts it with the hub). Anything that is not a ping is ignored: the port is
/// open to the world, and a reply to garbage would make it a reflector.
pub async fn answer(socket: UdpSocket, clock: Arc<dyn Clock>) {
    let mut buf = [0u8; LEN + 1];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            // An ICMP error for an earlier reply surfaces here on some systems: not ours to mend.
            Err(_) => continue,
        };
        let t1 = clock.now();
        let Ok(ping) = ClockDatagram::decode(&buf[..n]) else { continue };
        if let Some(pong) = ping.answer(t1, clock.now()) {
            let _ = socket.send_to(&pong.encode(), from).await;
        }
    }
}

/// How often a listener pings: fifty a second for its first 15 s, then ten a second. Datagrams
/// cost no signature, and the estimate is as sharp as its quickest packets: until a drift is
/// claimed (15 s of exchanges on a jittery path) only the last few seconds' floors count, and
/// five times the packets make those floors sharper by about as much.
fn interval(sent: u64) -> Duration {
    if sent < 750 { Duration::from_millis(20) } else { Duration::from_millis(100) }
}

/// Pings kept waiting for their pong; a later pong than this many pings is dropped as stale.
const OUTSTANDING: usize = 64;

/// Pings the host at `to` until the receiver is dropped, sending each completed exchange on.
/// Gives up quietly if no socket can be had: the WebSocket exchanges go on regardless.
pub async fn ping(to: SocketAddr, clock: Arc<dyn Clock>, exchanges: mpsc::UnboundedSender<Exchange>) {
    let Ok(socket) = UdpSocket::bind(any_port_for(to)).await else { return };
    if socket.connect(to).await.is_err() {
        return;
    }
    // (nonce, t0) of recent pings, a ring: a pong must name one exactly.
    let mut waiting = [(0u64, 0i64); OUTSTANDING];
    let mut sent = 0u64;
    let mut buf = [0u8; LEN + 1];
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {
                let (nonce, t0) = (rand::random(), clock.now());
                waiting[(sent % OUTSTANDING as u64) as usize] = (nonce, t0);
                // Unreachable or refused now and then is a lost ping, not a reason to stop.
                let _ = socket.send(&ClockDatagram::Ping { nonce, t0 }.encode()).await;
                next += interval(sent);
                sent += 1;
            }
            got = socket.recv(&mut buf) => {
                let t3 = clock.now();
                let Ok(n) = got else { continue };
                if let Ok(ClockDatagram::Pong { nonce, t0, t1, t2 }) = ClockDatagram::decode(&buf[..n])
                    && waiting.contains(&(nonce, t0))
                    && exchanges.send(Exchange { t0, t1, t2, t3 }).is_err()
                {
                    return;
                }
            }
            () = exchanges.closed() => return,
        }
    }
}

/// Any local address and port of `to`'s family: where a socket that will talk to `to` binds.
pub fn any_port_for(to: SocketAddr) -> SocketAddr {
    if to.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() }
}

#[cfg(test)]
mod tests {
    use whatssound_clock::MonotonicClock;

    use super::*;

    #[tokio::test]
    async fn a_listener_gets_exchanges_from_the_host_and_garbage_gets_nothing() {
        let host = UdpSocket::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let at = host.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let clock: Arc<dyn Clock> = Arc::new(MonotonicClock::new());
        let answering = tokio::spawn(answer(host, clock.clone()));
        // Garbage first: no answer comes back.
        let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        stranger.send_to(b"hello, is this DNS?", at).await.unwrap_or_else(|e| panic!("{e}"));
        let mut buf = [0u8; 64];
        let silent = tokio::time::timeout(Duration::from_millis(200), stranger.recv_from(&mut buf)).await;
        assert!(silent.is_err(), "garbage was answered");

        let (tx, mut rx) = mpsc::unbounded_channel();
        let pinging = tokio::spawn(ping(at, clock.clone(), tx));
        for _ in 0..5 {
            let e = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await.ok().flatten().unwrap_or_else(|| panic!("no exchange"));
            assert!(e.t0 <= e.t1 && e.t1 <= e.t2 && e.t2 <= e.t3, "one clock, in order: {e:?}");
            assert!(e.round_trip() < 50_000_000, "{e:?}");
        }
        drop(rx);
        tokio::time::timeout(Duration::from_secs(1), pinging).await.unwrap_or_else(|_| panic!("the pinger stops with its receiver")).ok();
        answering.abort();
    }
}
