//! Reconnect delays: exponential, capped, with jitter so that a room full of listeners cut off at
//! the same moment does not reconnect at the same moment.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { first: Duration::from_millis(50), max: Duration::from_secs(10) }
    }
}

impl Backoff {
    /// The delay before attempt `attempt` (1 = the first retry); `unit` is a random number in
    /// [0, 1) that spreads it over [half, full].
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let exp = self.first.saturating_mul(1u32.checked_shl(attempt.saturating_sub(1).min(20)).unwrap_or(u32::MAX));
        let capped = exp.min(self.max);
        capped.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_doubling_to_the_cap_with_jitter_in_the_upper_half() {
        let b = Backoff { first: Duration::from_millis(100), max: Duration::from_secs(1) };
        assert_eq!(b.delay(1, 1.0), Duration::from_millis(100));
        assert_eq!(b.delay(2, 1.0), Duration::from_millis(200));
        assert_eq!(b.delay(3, 0.0), Duration::from_millis(200));
        assert_eq!(b.delay(10, 1.0), Duration::from_secs(1));
        assert_eq!(b.delay(u32::MAX, 0.0), Duration::from_millis(500));
    }
}
