//! Clock exchanges as UDP datagrams, beside the room's WebSocket on the same port number.
//!
//! Over the WebSocket a clock pong can wait behind a lost TCP segment (head-of-line blocking: a
//! 200 ms retransmit on a 0.5 % lossy Wi-Fi), behind a queue of chat and diffs, and behind the
//! hub's and the room task's scheduling; and each exchange costs two signatures, which keeps them
//! to four a second. As datagrams they go alone, are answered by a task that does nothing else,
//! and cost nothing, so listeners make fifty a second at first and ten after — and a floor
//! estimate (see the audio crate's `ClockOffset`) is as sharp as its quickest packet each way.
//!
//! No signature: a pong's `nonce` is a random 64-bit number only the listener and the path know,
//! so no one off the path can answer for the host, and anyone *on* the path can already delay
//! packets, which moves an estimate as much as a forged timestamp would. The host's clock reading
//! is no secret. A ping is as long as its pong, so the answer amplifies nothing.
//!
//! ```text
//! "WSCK" | version 1 | kind | nonce u64 | t0 i64 | t1 i64 | t2 i64                           (38 bytes)
//!        kind 1 ping, 2 pong: a listener and the host; a ping's t1 and t2 are zero
//! "WSCK" | version 1 | kind | nonce u64 | t0 i64 | t1 i64 | t2 i64 | host i64 | drift i64 | uncertainty i64   (62 bytes)
//!        kind 3 peer ping, 4 peer pong: two listeners on one LAN; a peer ping's fields after t0 are zero
//! ```
//! All big-endian. A peer pong's `t1`/`t2` are on the answering listener's clock, and `host`,
//! `drift` (parts per billion) and `uncertainty` (ns) are its estimate of the host's clock: host
//! instant `host` is its local `t2`. That lets listeners on one LAN share one estimate (see the
//! core crate's `clock_peer`). A peer ping is padded to a peer pong's length, as a ping is to a pong.

/// Every datagram's first bytes.
pub const MAGIC: [u8; 4] = *b"WSCK";
pub const VERSION: u8 = 1;
/// The length of a ping and of a pong.
pub const LEN: usize = 4 + 1 + 1 + 8 * 4;
/// The length of a peer ping and of a peer pong.
pub const PEER_LEN: usize = LEN + 8 * 3;

const PING: u8 = 1;
const PONG: u8 = 2;
const PEER_PING: u8 = 3;
const PEER_PONG: u8 = 4;

/// A listener's estimate of the host's clock, as one line: host instant `host` is local instant
/// `local`, and the host gains `drift_ppb` ns per second on the local clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostLine {
    pub local: i64,
    pub host: i64,
    pub drift_ppb: i64,
    /// ± ns the estimate may be off by (what its owner's sync indicator shows).
    pub uncertainty: i64,
}

impl HostLine {
    /// The host instant of local instant `local`.
    pub fn host_at(&self, local: i64) -> i64 {
        let since = local - self.local;
        self.host + since + (since as f64 * self.drift_ppb as f64 * 1e-9).round() as i64
    }
}

/// One clock datagram; instants in nanoseconds on the sender's (`t0`) or answerer's (`t1`, `t2`)
/// monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockDatagram {
    Ping {
        nonce: u64,
        t0: i64,
    },
    Pong {
        nonce: u64,
        t0: i64,
        t1: i64,
        t2: i64,
    },
    PeerPing {
        nonce: u64,
        t0: i64,
    },
    /// `line.local` is `t2`.
    PeerPong {
        nonce: u64,
        t0: i64,
        t1: i64,
        line: HostLine,
    },
}

/// Why a datagram is not a clock datagram (something else on the port, or a newer version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    #[error("a clock datagram is {LEN} or {PEER_LEN} bytes as its kind says, this one {0}")]
    Length(usize),
    #[error("not a WhatsSound clock datagram (no WSCK mark)")]
    Magic,
    #[error("clock datagram version {0}: this build speaks version {VERSION}; update WhatsSound")]
    Version(u8),
    #[error("clock datagram kind {0} is none of ping (1), pong (2), peer ping (3), peer pong (4)")]
    Kind(u8),
}

/// An encoded datagram: a fixed buffer and the part of it in use (no allocation per packet).
#[derive(Debug, Clone, Copy)]
pub struct Encoded {
    bytes: [u8; PEER_LEN],
    len: usize,
}

impl std::ops::Deref for Encoded {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl ClockDatagram {
    pub fn encode(&self) -> Encoded {
        let (kind, nonce, words) = match *self {
            ClockDatagram::Ping { nonce, t0 } => (PING, nonce, [t0, 0, 0, 0, 0, 0]),
            ClockDatagram::Pong { nonce, t0, t1, t2 } => (PONG, nonce, [t0, t1, t2, 0, 0, 0]),
            ClockDatagram::PeerPing { nonce, t0 } => (PEER_PING, nonce, [t0, 0, 0, 0, 0, 0]),
            ClockDatagram::PeerPong { nonce, t0, t1, line } => {
                (PEER_PONG, nonce, [t0, t1, line.local, line.host, line.drift_ppb, line.uncertainty])
            }
        };
        let mut bytes = [0u8; PEER_LEN];
        bytes[..4].copy_from_slice(&MAGIC);
        bytes[4] = VERSION;
        bytes[5] = kind;
        bytes[6..14].copy_from_slice(&nonce.to_be_bytes());
        for (i, t) in words.into_iter().enumerate() {
            bytes[14 + 8 * i..22 + 8 * i].copy_from_slice(&t.to_be_bytes());
        }
        Encoded { bytes, len: if kind <= PONG { LEN } else { PEER_LEN } }
    }

    pub fn decode(bytes: &[u8]) -> Result<ClockDatagram, DatagramError> {
        if bytes.len() != LEN && bytes.len() != PEER_LEN {
            return Err(DatagramError::Length(bytes.len()));
        }
        if bytes[..4] != MAGIC {
            return Err(DatagramError::Magic);
        }
        if bytes[4] != VERSION {
            return Err(DatagramError::Version(bytes[4]));
        }
        let kind = bytes[5];
        let want = match kind {
            PING | PONG => LEN,
            PEER_PING | PEER_PONG => PEER_LEN,
            kind => return Err(DatagramError::Kind(kind)),
        };
        if bytes.len() != want {
            return Err(DatagramError::Length(bytes.len()));
        }
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            b
        };
        let nonce = u64::from_be_bytes(word(6));
        let t = |i: usize| i64::from_be_bytes(word(14 + 8 * i));
        Ok(match kind {
            PING => ClockDatagram::Ping { nonce, t0: t(0) },
            PONG => ClockDatagram::Pong { nonce, t0: t(0), t1: t(1), t2: t(2) },
            PEER_PING => ClockDatagram::PeerPing { nonce, t0: t(0) },
            _ => ClockDatagram::PeerPong {
                nonce,
                t0: t(0),
                t1: t(1),
                line: HostLine { local: t(2), host: t(3), drift_ppb: t(4), uncertainty: t(5) },
            },
        })
    }

    /// The host's answer to a ping that arrived at `t1`, sent at `t2`; `None` for anything else
    /// (a pong is never answered, so two hosts cannot be made to bounce datagrams between them).
    pub fn answer(&self, t1: i64, t2: i64) -> Option<ClockDatagram> {
        match *self {
            ClockDatagram::Ping { nonce, t0 } => Some(ClockDatagram::Pong { nonce, t0, t1, t2 }),
            _ => None,
        }
    }

    /// A listener's answer to a peer ping that arrived at `t1`, with its estimate `line` of the
    /// host's clock at the instant it answers (`line.local`); `None` for anything else.
    pub fn answer_peer(&self, t1: i64, line: HostLine) -> Option<ClockDatagram> {
        match *self {
            ClockDatagram::PeerPing { nonce, t0 } => Some(ClockDatagram::PeerPong { nonce, t0, t1, line }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_and_pongs_round_trip_at_one_length() {
        let ping = ClockDatagram::Ping { nonce: u64::MAX - 3, t0: -5 };
        let pong = ping.answer(1_000, 1_200).unwrap_or_else(|| panic!("a ping is answered"));
        assert_eq!(pong, ClockDatagram::Pong { nonce: u64::MAX - 3, t0: -5, t1: 1_000, t2: 1_200 });
        for d in [ping, pong] {
            assert_eq!(ClockDatagram::decode(&d.encode()), Ok(d));
        }
        assert_eq!(ping.encode().len(), pong.encode().len(), "an answer amplifies nothing");
        assert_eq!(pong.answer(1, 2), None, "pongs are never answered");
    }

    #[test]
    fn peer_pings_and_pongs_round_trip_at_one_length_and_carry_the_line() {
        let ping = ClockDatagram::PeerPing { nonce: 7, t0: 1_000 };
        let line = HostLine { local: 2_000, host: -9_000_000_000, drift_ppb: -41_500, uncertainty: 250_000 };
        let pong = ping.answer_peer(1_900, line).unwrap_or_else(|| panic!("a peer ping is answered"));
        assert_eq!(pong, ClockDatagram::PeerPong { nonce: 7, t0: 1_000, t1: 1_900, line });
        for d in [ping, pong] {
            assert_eq!(ClockDatagram::decode(&d.encode()), Ok(d));
        }
        assert_eq!(ping.encode().len(), PEER_LEN);
        assert_eq!(pong.encode().len(), PEER_LEN, "an answer amplifies nothing");
        assert_eq!(ping.answer(1, 2), None, "the host's answer is for host pings only");
        assert_eq!(ClockDatagram::Ping { nonce: 1, t0: 2 }.answer_peer(3, line), None);
        assert_eq!(pong.answer_peer(3, line), None, "pongs are never answered");
        // A peer kind at the host's length (or the reverse) is refused, not read past its end.
        let mut short = [0u8; LEN];
        short.copy_from_slice(&ping.encode()[..LEN]);
        assert_eq!(ClockDatagram::decode(&short), Err(DatagramError::Length(LEN)));
    }

    #[test]
    fn a_host_line_projects_with_its_drift() {
        let line = HostLine { local: 1_000_000_000, host: 5_000_000_000, drift_ppb: 50_000, uncertainty: 0 };
        assert_eq!(line.host_at(1_000_000_000), 5_000_000_000);
        // 10 s later at +50 ppm: 0.5 ms gained.
        assert_eq!(line.host_at(11_000_000_000), 15_000_500_000);
    }

    #[test]
    fn anything_else_on_the_port_is_refused_with_the_reason() {
        let encoded = ClockDatagram::Ping { nonce: 1, t0: 2 }.encode();
        let mut good = [0u8; LEN];
        good.copy_from_slice(&encoded);
        assert_eq!(ClockDatagram::decode(&good[..10]), Err(DatagramError::Length(10)));
        assert_eq!(ClockDatagram::decode(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\0\0\0\0\0\0\0\0\0\0\0"), Err(DatagramError::Magic));
        let mut newer = good;
        newer[4] = 2;
        assert_eq!(ClockDatagram::decode(&newer), Err(DatagramError::Version(2)));
        assert!(DatagramError::Version(2).to_string().contains("update WhatsSound"));
        let mut odd = good;
        odd[5] = 9;
        assert_eq!(ClockDatagram::decode(&odd), Err(DatagramError::Kind(9)));
    }
}
