//! Clocks and the host-clock estimate.
//!
//! Sync needs instants from a monotonic clock (wall-clock time jumps) and an estimate of how the
//! host's monotonic clock relates to ours. Everything here takes time as an argument or through
//! the [`Clock`] trait, so the math is tested with simulated offset, drift and jitter.
//!
//! The estimate follows NTP's exchange: the listener notes `t0` and sends; the host notes `t1` on
//! arrival and `t2` on reply; the listener notes `t3` on arrival. Then
//! `offset = ((t1 − t0) + (t2 − t3)) / 2` and `round trip = (t3 − t0) − (t2 − t1)`. An exchange whose
//! round trip was short says the most (its error is at most half of it), so [`ClockOffset`] keeps a
//! window of exchanges and fits a line through the ones with the shortest round trips: the line's
//! slope is the drift between the two clocks, which a single offset cannot follow.

use std::collections::VecDeque;
use std::time::Instant;

/// Nanoseconds on some monotonic clock. Signed, so differences between two clocks need no care.
pub type Nanos = i64;

/// A monotonic clock.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Nanos;
}

/// The process's monotonic clock, counted from its creation.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    pub fn new() -> Self {
        MonotonicClock { origin: Instant::now() }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Nanos {
        i64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(i64::MAX)
    }
}

/// Another clock, offset and running fast or slow: `listen --debug-clock-skew-ms/--debug-clock-drift-ppm`
/// use it so sync tests on one machine prove the clock sync rather than inherit the shared clock.
#[derive(Debug, Clone, Copy)]
pub struct SkewedClock<C> {
    pub inner: C,
    pub skew: Nanos,
    pub drift_ppm: f64,
}

impl<C: Clock> Clock for SkewedClock<C> {
    fn now(&self) -> Nanos {
        let t = self.inner.now();
        t + self.skew + (t as f64 * self.drift_ppm * 1e-6) as Nanos
    }
}

/// One NTP-style exchange, all in nanoseconds: `t0`/`t3` on the listener's clock, `t1`/`t2` on the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    pub t0: Nanos,
    pub t1: Nanos,
    pub t2: Nanos,
    pub t3: Nanos,
}

impl Exchange {
    /// Host clock minus local clock, as this exchange sees it.
    pub fn offset(&self) -> Nanos {
        ((self.t1 - self.t0) + (self.t2 - self.t3)) / 2
    }

    pub fn round_trip(&self) -> Nanos {
        (self.t3 - self.t0) - (self.t2 - self.t1)
    }

    /// The local instant the offset belongs to (the exchange's midpoint).
    pub fn midpoint(&self) -> Nanos {
        self.t0 + (self.t3 - self.t0) / 2
    }
}

/// The estimate of the host's clock: `host ≈ local + offset + drift · (local − reference)`.
#[derive(Debug, Clone)]
pub struct ClockOffset {
    window: VecDeque<Exchange>,
    capacity: usize,
    fit: Option<Fit>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Fit {
    /// The local instant the line is anchored at.
    reference: Nanos,
    offset: f64,
    /// Host nanoseconds gained per local nanosecond (100 ppm = 1e-4).
    drift: f64,
    round_trip: Nanos,
}

/// What [`ClockOffset::add`] learned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub offset: Nanos,
    pub drift_ppm: f64,
    /// The round trip of the best exchange used (a bound on the error).
    pub round_trip: Nanos,
    pub samples: usize,
}

impl ClockOffset {
    /// Keeps the last `capacity` exchanges (at one per second, 60 covers a minute of drift).
    pub fn new(capacity: usize) -> Self {
        ClockOffset { window: VecDeque::with_capacity(capacity), capacity: capacity.max(2), fit: None }
    }

    /// Adds an exchange and refits. Exchanges whose clocks run backwards are ignored.
    pub fn add(&mut self, e: Exchange) -> Option<Estimate> {
        if e.t3 < e.t0 || e.t2 < e.t1 || e.round_trip() < 0 {
            return self.estimate();
        }
        if self.window.len() == self.capacity {
            self.window.pop_front();
        }
        self.window.push_back(e);
        self.fit = fit(&self.window);
        self.estimate()
    }

    pub fn estimate(&self) -> Option<Estimate> {
        self.fit.map(|f| Estimate {
            offset: f.offset.round() as Nanos,
            drift_ppm: f.drift * 1e6,
            round_trip: f.round_trip,
            samples: self.window.len(),
        })
    }

    /// The host instant that corresponds to local instant `local`.
    pub fn to_host(&self, local: Nanos) -> Option<Nanos> {
        self.fit.map(|f| local + (f.offset + f.drift * (local - f.reference) as f64).round() as Nanos)
    }

    /// The local instant that corresponds to host instant `host`.
    pub fn to_local(&self, host: Nanos) -> Option<Nanos> {
        // host = local + offset + drift·(local − ref)  ⇒  local = (host − offset + drift·ref) / (1 + drift)
        self.fit.map(|f| ((host as f64 - f.offset + f.drift * f.reference as f64) / (1.0 + f.drift)).round() as Nanos)
    }
}

/// Fits the offset line through the better half of the window (by round trip): queueing delays only
/// ever add to a round trip, so the short ones are the honest ones. With few samples, the best one
/// alone gives the offset and no drift is claimed.
fn fit(window: &VecDeque<Exchange>) -> Option<Fit> {
    let mut best: Vec<&Exchange> = window.iter().collect();
    best.sort_by_key(|e| e.round_trip());
    let min_rtt = best.first()?.round_trip();
    let keep = (best.len() / 2).max(1);
    let best = &best[..keep];
    let reference = best.iter().map(|e| e.midpoint()).max()?;
    if best.len() < 4 {
        let e = best[0];
        return Some(Fit { reference: e.midpoint(), offset: e.offset() as f64, drift: 0.0, round_trip: min_rtt });
    }
    // Least squares of offset against (midpoint − reference), in f64 (spans of minutes in ns fit).
    let n = best.len() as f64;
    let xs: Vec<f64> = best.iter().map(|e| (e.midpoint() - reference) as f64).collect();
    let ys: Vec<f64> = best.iter().map(|e| e.offset() as f64).collect();
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    // A span too short to see drift (the join burst is 0.5 s) would turn jitter into a wild
    // slope; until 3 s and 8 good exchanges the offset alone is used. (At 50 ppm, a mean offset
    // over 3 s lags by 0.075 ms; listeners exchange four times a second then.)
    let span = xs.iter().cloned().fold(f64::INFINITY, f64::min).abs();
    let drift = if sxx > 0.0 && span > 3e9 && best.len() >= 8 { (sxy / sxx).clamp(-1e-3, 1e-3) } else { 0.0 };
    Some(Fit { reference, offset: my - drift * mx, drift, round_trip: min_rtt })
}

#[cfg(test)]
#[path = "clock_tests.rs"]
mod tests;
