//! Seeing the bed from inside: a UDP echo that also says whom it saw, and a prober that measures
//! round trips and loss through it. Tests use them to prove the bed does what its profile says
//! (delay, loss, NAT) before anything of WhatsSound runs on it.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::NetbedError;

const SEQ: usize = 8;

/// Answers every datagram with its first 8 bytes and the address it came from.
pub fn echo(socket: &UdpSocket) -> Result<(), NetbedError> {
    let mut buf = [0u8; 2048];
    loop {
        let (n, from) = socket.recv_from(&mut buf).map_err(|e| NetbedError::Io(format!("echo: {e}")))?;
        if n < SEQ {
            continue;
        }
        let mut reply = buf[..SEQ].to_vec();
        reply.extend_from_slice(from.to_string().as_bytes());
        // A full send buffer loses the reply, as the path might: the prober counts it as lost.
        let _ = socket.send_to(&reply, from);
    }
}

/// What a probe run saw.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProbeReport {
    pub sent: u32,
    pub received: u32,
    pub loss: f64,
    pub rtt_min_ms: f64,
    pub rtt_median_ms: f64,
    pub rtt_p99_ms: f64,
    pub rtt_max_ms: f64,
    /// The address the echo saw us as (a NAT's outside address, behind one).
    pub seen_as: Option<String>,
}

/// Sends `count` datagrams `interval` apart, then waits `linger` for stragglers. From local port
/// `from` when given (0: any): two probes from one port to two places show how a NAT maps it.
pub fn probe(to: SocketAddr, from: u16, count: u32, interval: Duration, linger: Duration) -> Result<ProbeReport, NetbedError> {
    let io = |what: &str, e: std::io::Error| NetbedError::Io(format!("probe {what} {to}: {e}"));
    let bind: SocketAddr = if to.is_ipv4() { ([0, 0, 0, 0], from).into() } else { ([0u16; 8], from).into() };
    let socket = UdpSocket::bind(bind).map_err(|e| io("binding for", e))?;
    socket.connect(to).map_err(|e| io("connecting to", e))?;
    let origin = Instant::now();
    let mut sent_at = vec![None; count as usize];
    let mut rtts = Vec::with_capacity(count as usize);
    let mut seen_as = None;
    let mut buf = [0u8; 256];
    let end_of_sending = interval * count;
    let mut next = 0u32;
    loop {
        let elapsed = origin.elapsed();
        if next < count && elapsed >= interval * next {
            sent_at[next as usize] = Some(Instant::now());
            // A send refused (no route yet) is a lost probe, not a failed run.
            let _ = socket.send(&u64::from(next).to_be_bytes());
            next += 1;
            continue;
        }
        let deadline = if next < count { interval * next } else { end_of_sending + linger };
        let Some(wait) = deadline.checked_sub(elapsed).filter(|w| !w.is_zero()) else {
            if next < count {
                continue;
            }
            break;
        };
        socket.set_read_timeout(Some(wait)).map_err(|e| io("timing", e))?;
        match socket.recv(&mut buf) {
            Ok(n) if n >= SEQ => {
                let mut seq = [0u8; SEQ];
                seq.copy_from_slice(&buf[..SEQ]);
                let seq = u64::from_be_bytes(seq) as usize;
                if let Some(at) = sent_at.get_mut(seq).and_then(Option::take) {
                    rtts.push(at.elapsed().as_secs_f64() * 1e3);
                    seen_as = std::str::from_utf8(&buf[SEQ..n]).ok().map(str::to_owned);
                }
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            // ICMP unreachable comes back as a refused receive: that probe is lost.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(io("reading from", e)),
        }
    }
    Ok(report(count, rtts, seen_as))
}

fn report(sent: u32, mut rtts: Vec<f64>, seen_as: Option<String>) -> ProbeReport {
    rtts.sort_by(f64::total_cmp);
    let at = |q: f64| if rtts.is_empty() { f64::NAN } else { rtts[((rtts.len() - 1) as f64 * q).round() as usize] };
    let received = rtts.len() as u32;
    ProbeReport {
        sent,
        received,
        loss: if sent == 0 { 0.0 } else { f64::from(sent - received) / f64::from(sent) },
        rtt_min_ms: at(0.0),
        rtt_median_ms: at(0.5),
        rtt_p99_ms: at(0.99),
        rtt_max_ms: at(1.0),
        seen_as,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_through_loopback_sees_every_reply_and_its_own_address() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = server.local_addr().unwrap_or_else(|e| panic!("{e}"));
        std::thread::spawn(move || echo(&server));
        let r = probe(addr, 0, 20, Duration::from_millis(2), Duration::from_millis(200)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.sent, r.received, r.loss), (20, 20, 0.0));
        assert!(r.rtt_min_ms >= 0.0 && r.rtt_min_ms <= r.rtt_median_ms && r.rtt_median_ms <= r.rtt_max_ms, "{r:?}");
        assert!(r.seen_as.as_deref().is_some_and(|s| s.starts_with("127.0.0.1:")), "{r:?}");
    }

    #[test]
    fn the_report_orders_round_trips_and_counts_loss() {
        let r = report(4, vec![3.0, 1.0, 2.0], None);
        assert_eq!((r.received, r.loss, r.rtt_min_ms, r.rtt_median_ms, r.rtt_max_ms), (3, 0.25, 1.0, 2.0, 3.0));
        assert!(report(2, vec![], None).rtt_median_ms.is_nan());
    }
}
