//! Per-socket limits, and the token bucket that enforces the message rate.

use std::time::{Duration, Instant};

/// Limits that keep one socket from hurting the others. Each refusal carries a readable reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest WebSocket message accepted; a bigger one closes the socket (1009).
    pub max_frame_bytes: usize,
    /// Channels one socket may have joined at once (Phoenix's default is 100).
    pub max_channels: usize,
    /// Sustained inbound messages per second per socket.
    pub messages_per_second: u32,
    /// Inbound messages a socket may send in a burst above the sustained rate.
    pub message_burst: u32,
    /// A socket that sends nothing (not even a heartbeat) for this long is closed.
    pub idle_timeout: Duration,
    /// Outbound messages queued for a socket that does not read; beyond this it is closed.
    pub outbound_queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 1024 * 1024,
            max_channels: 100,
            messages_per_second: 100,
            message_burst: 200,
            idle_timeout: Duration::from_secs(60),
            outbound_queue: 1024,
        }
    }
}

/// A token bucket driven by injected instants (so tests need no sleeping).
#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_second: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    pub fn new(per_second: u32, burst: u32, now: Instant) -> Self {
        let capacity = f64::from(burst.max(1));
        RateLimiter { per_second: f64::from(per_second), capacity, tokens: capacity, last: now }
    }

    /// Takes one token; `false` when the socket is over its rate.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills_at_the_sustained_rate() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(10, 5, t0);
        assert_eq!((0..8).filter(|_| r.allow(t0)).count(), 5, "the burst, then refusals");
        assert!(!r.allow(t0 + Duration::from_millis(50)), "half a token is not enough");
        assert!(r.allow(t0 + Duration::from_millis(100)));
        let later = t0 + Duration::from_secs(10);
        assert_eq!((0..20).filter(|_| r.allow(later)).count(), 5, "refill is capped at the burst");
    }
}
