//! Clock exchanges as UDP datagrams, beside the room's WebSocket on the same port number.
//!
//! Over the WebSocket a clock pong can wait behind a lost TCP segment (head-of-line blocking: a
//! 200 ms retransmit on a 0.5 % lossy Wi-Fi), behind a queue of chat and diffs, and behind the
//! hub's and the room task's scheduling; and each exchange costs two signatures, which keeps them
//! to four a second. As datagrams they go alone, are answered by a task that does nothing else,
//! and cost nothing, so listeners make ten a second — and a floor estimate (see the audio crate's
//! `ClockOffset`) is as sharp as its quickest packet each way.
//!
//! No signature: a pong's `nonce` is a random 64-bit number only the listener and the path know,
//! so no one off the path can answer for the host, and anyone *on* the path can already delay
//! packets, which moves an estimate as much as a forged timestamp would. The host's clock reading
//! is no secret. A ping is as long as its pong, so the answer amplifies nothing.
//!
//! ```text
//! "WSCK" | version 1 | kind (1 ping, 2 pong) | nonce u64 | t0 i64 | t1 i64 | t2 i64   (big-endian, 38 bytes)
//! ```
//! A ping's `t1` and `t2` are zero.

/// Every datagram's first bytes.
pub const MAGIC: [u8; 4] = *b"WSCK";
pub const VERSION: u8 = 1;
/// The length of a ping and of a pong.
pub const LEN: usize = 4 + 1 + 1 + 8 * 4;

const PING: u8 = 1;
const PONG: u8 = 2;

/// One clock datagram; instants in nanoseconds on the sender's (`t0`) or host's (`t1`, `t2`)
/// monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockDatagram {
    Ping { nonce: u64, t0: i64 },
    Pong { nonce: u64, t0: i64, t1: i64, t2: i64 },
}

/// Why a datagram is not a clock datagram (something else on the port, or a newer version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    #[error("a clock datagram is {LEN} bytes, this one {0}")]
    Length(usize),
    #[error("not a WhatsSound clock datagram (no WSCK mark)")]
    Magic,
    #[error("clock datagram version {0}: this build speaks version {VERSION}; update WhatsSound")]
    Version(u8),
    #[error("clock datagram kind {0} is neither a ping (1) nor a pong (2)")]
    Kind(u8),
}

impl ClockDatagram {
    pub fn encode(&self) -> [u8; LEN] {
        let (kind, nonce, t0, t1, t2) = match *self {
            ClockDatagram::Ping { nonce, t0 } => (PING, nonce, t0, 0, 0),
            ClockDatagram::Pong { nonce, t0, t1, t2 } => (PONG, nonce, t0, t1, t2),
        };
        let mut out = [0u8; LEN];
        out[..4].copy_from_slice(&MAGIC);
        out[4] = VERSION;
        out[5] = kind;
        out[6..14].copy_from_slice(&nonce.to_be_bytes());
        for (i, t) in [t0, t1, t2].into_iter().enumerate() {
            out[14 + 8 * i..22 + 8 * i].copy_from_slice(&t.to_be_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<ClockDatagram, DatagramError> {
        if bytes.len() != LEN {
            return Err(DatagramError::Length(bytes.len()));
        }
        if bytes[..4] != MAGIC {
            return Err(DatagramError::Magic);
        }
        if bytes[4] != VERSION {
            return Err(DatagramError::Version(bytes[4]));
        }
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            b
        };
        let nonce = u64::from_be_bytes(word(6));
        let [t0, t1, t2] = [14, 22, 30].map(|at| i64::from_be_bytes(word(at)));
        match bytes[5] {
            PING => Ok(ClockDatagram::Ping { nonce, t0 }),
            PONG => Ok(ClockDatagram::Pong { nonce, t0, t1, t2 }),
            kind => Err(DatagramError::Kind(kind)),
        }
    }

    /// The host's answer to a ping that arrived at `t1`, sent at `t2`; `None` for a pong (never
    /// answered, so two hosts cannot be made to bounce datagrams between them).
    pub fn answer(&self, t1: i64, t2: i64) -> Option<ClockDatagram> {
        match *self {
            ClockDatagram::Ping { nonce, t0 } => Some(ClockDatagram::Pong { nonce, t0, t1, t2 }),
            ClockDatagram::Pong { .. } => None,
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
    fn anything_else_on_the_port_is_refused_with_the_reason() {
        let good = ClockDatagram::Ping { nonce: 1, t0: 2 }.encode();
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
