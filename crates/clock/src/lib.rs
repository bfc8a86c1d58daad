//! WhatsSound's time: clocks and the host-clock estimate, with no audio and no IO beyond reading
//! the machine's monotonic clock.
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
#[cfg(not(unix))]
use std::time::Instant;

/// Nanoseconds on some monotonic clock. Signed, so differences between two clocks need no care.
pub type Nanos = i64;

/// A monotonic clock.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Nanos;
}

/// The machine's monotonic clock. On Unix it is CLOCK_MONOTONIC itself, which every process on
/// the machine shares, so a host and listeners on one machine read the same instants: their true
/// offset is then known (zero, or exactly what `--debug-clock-skew-ms/--debug-clock-drift-ppm`
/// make it), and benchmarks judge the clock estimate against it. Elsewhere it counts from its
/// creation (only differences between readings matter to sync).
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    #[cfg(not(unix))]
    origin: Instant,
}

impl MonotonicClock {
    pub fn new() -> Self {
        MonotonicClock {
            #[cfg(not(unix))]
            origin: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock::new()
    }
}

impl Clock for MonotonicClock {
    #[cfg(unix)]
    fn now(&self) -> Nanos {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        t.tv_sec.saturating_mul(1_000_000_000).saturating_add(t.tv_nsec)
    }

    #[cfg(not(unix))]
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
    uncertainty: f64,
    /// Whether `drift` was read off the floors (else it is 0 because it is not known yet).
    drift_claimed: bool,
}

/// What [`ClockOffset::add`] learned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub offset: Nanos,
    pub drift_ppm: f64,
    /// The shortest round trip in the window. Half of it bounds the error whatever the path:
    /// no two-way exchange can tell how it splits between the two directions.
    pub round_trip: Nanos,
    /// How far the estimate may move as exchanges come and go (± this), on a path whose
    /// directions are as quick as each other: what the sync indicator shows.
    pub uncertainty: Nanos,
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
        let claimed = self.fit.is_some_and(|f| f.drift_claimed);
        self.fit = fit(&self.window, claimed);
        self.estimate()
    }

    pub fn estimate(&self) -> Option<Estimate> {
        self.fit.map(|f| Estimate {
            offset: f.offset.round() as Nanos,
            drift_ppm: f.drift * 1e6,
            round_trip: f.round_trip,
            uncertainty: f.uncertainty.round() as Nanos,
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

/// Fits the line `host − local = offset + drift · (local − reference)` from each direction's own
/// floor:
///
/// ```text
/// t1 − t0 = offset(t) + up        t3 − t2 = down − offset(t)
/// ```
///
/// Queueing, Wi-Fi stalls and TCP retransmits only ever add delay, so each direction's quickest
/// packets lie on a floor line under all the others, and the two floors are the offset line
/// shifted by each way's fixed delay. Reading the two floors separately needs one quick packet
/// each way now and then, where an exchange-by-exchange filter (NTP's, or the best half by round
/// trip) needs both of one exchange's packets to be quick at once: with 20 ± 5 ms each way, the
/// best half's offsets scatter by ±3 ms, the floors by ±0.2 ms (Moon, Skelly and Towsley's
/// lower-envelope estimate of clock skew, per direction). What no two-way exchange can see is how
/// the fixed delay splits between the ways: that asymmetry stays in the estimate, bounded by half
/// the round trip ([`Estimate::round_trip`]).
///
/// 1. The drift is the mean of the two floors' slopes (opposite in sign), each the lower hull's
///    edge over the middle of the window — claimed once the window spans 15 s (over 5 s, 3 ms of
///    jitter reads as a slope 140 ppm wrong: median, simulated; 10 ppm over 20 s), or sooner
///    where the floors are so sharp that their width over the span is under 10 ppm: a LAN's
///    0.02 ms after 2 s. Once claimed it stays claimed (a momentarily wider floor must not
///    swap a good slope for none), unless the slope read is beyond what clocks do
///    ([`PLAUSIBLE_DRIFT`]): that is a queue's edge in a floor, and the recent floors serve better. Until then, two clocks 100 ppm apart (the bound below) tie an old
///    exchange with a new one in one direction, and its floor may be seconds stale.
/// 2. With the drift taken out, each floor is its direction's lowest delay — where an older
///    exchange counts as a little slower, by how far the drift may be wrong times its age (NTP's
///    dispersion, which grows with a sample's age). Until a drift is claimed that is 100 ppm, the
///    most two computers' clocks differ by; then half the floors' width over the span. So early
///    on the floors come from the last few seconds, and later from the whole minute.
/// 3. The offset is half the difference of the two floors.
fn fit(window: &VecDeque<Exchange>, claimed: bool) -> Option<Fit> {
    let reference = window.iter().map(|e| e.midpoint()).max()?;
    let min_rtt = window.iter().map(|e| e.round_trip()).min()?;
    let xs: Vec<f64> = window.iter().map(|e| (e.midpoint() - reference) as f64).collect();
    let up: Vec<f64> = window.iter().map(|e| (e.t1 - e.t0) as f64).collect();
    let down: Vec<f64> = window.iter().map(|e| (e.t3 - e.t2) as f64).collect();
    let span = -xs.iter().cloned().fold(0.0, f64::min);
    let floors = |drift: f64, wander: f64| {
        let aged = |ys: &[f64], sign: f64| -> Vec<(f64, f64)> {
            let mut v: Vec<(f64, f64)> =
                ys.iter().zip(&xs).map(|(y, x)| (y - sign * drift * x - wander * x, y - sign * drift * x)).collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            v
        };
        let (up, down) = (aged(&up, 1.0), aged(&down, -1.0));
        // How sharp the floors are: the distance from each minimum to its direction's 1-in-8
        // delay. A floor that many exchanges nearly touch is known well; one that a single lucky
        // packet set may move by this much when the window next drops or gains its low point.
        let k = (up.len() / 8).min(up.len() - 1);
        let width = ((up[k].0 - up[0].0) + (down[k].0 - down[0].0)) / 4.0;
        ((up[0].1 - down[0].1) / 2.0, width)
    };
    let (mut offset, mut uncertainty) = floors(0.0, MAX_DRIFT);
    let (mut drift, mut drift_claimed) = (0.0, false);
    if span >= CLAIM_SHARP_DRIFT_AFTER && window.len() >= 8 {
        let slope = ((floor_slope(&xs, &up) - floor_slope(&xs, &down)) / 2.0).clamp(-1e-3, 1e-3);
        // The floors' width about the sloped line: the jitter alone, not a drift left in.
        let (_, width) = floors(slope, MAX_DRIFT);
        // A slope no two computers' clocks run at is a queue filling or draining (a download
        // filling a thin link, then held back): claimed, it would carry the estimate off by a
        // millisecond a second for as long as the queue's edge sits mid-window.
        let plausible = slope.abs() <= PLAUSIBLE_DRIFT;
        if plausible && (claimed || span >= CLAIM_DRIFT_AFTER || width <= CLAIM_SLOPE_ERROR * span) {
            (drift, drift_claimed) = (slope, true);
            (offset, uncertainty) = floors(drift, (width / 2.0 / span).clamp(1e-6, MAX_DRIFT));
        }
    }
    Some(Fit { reference, offset, drift, round_trip: min_rtt, uncertainty, drift_claimed })
}

/// How far apart two computers' clocks may run before a drift is measured (100 ppm).
const MAX_DRIFT: f64 = 1e-4;
/// The largest drift believed once measured: two listeners sharing a LAN estimate may each be
/// 100 ppm off the host, so 200 ppm apart, plus what jitter leaves in a slope.
const PLAUSIBLE_DRIFT: f64 = 3e-4;

/// The span of exchanges (ns) before a drift is claimed...
const CLAIM_DRIFT_AFTER: f64 = 15e9;
/// ...or, on a path whose floors are sharp, this span, once their width over it is below
/// `CLAIM_SLOPE_ERROR` (what a slope read off floors that wide may be wrong by).
const CLAIM_SHARP_DRIFT_AFTER: f64 = 2e9;
const CLAIM_SLOPE_ERROR: f64 = 1e-5;

/// The slope of the lower convex hull of `(x, y)` where it passes the middle of the xs: the
/// line under every point that is highest there (which minimises the points' total height
/// above it). `xs` come in time order.
fn floor_slope(xs: &[f64], ys: &[f64]) -> f64 {
    let mut hull: Vec<(f64, f64)> = Vec::with_capacity(xs.len());
    for p in xs.iter().cloned().zip(ys.iter().cloned()) {
        // Andrew's monotone chain, lower half: drop points that the new one shows are above it.
        while let [.., a, b] = hull[..] {
            if (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0) <= 0.0 {
                hull.pop();
            } else {
                break;
            }
        }
        hull.push(p);
    }
    let mid = xs.iter().sum::<f64>() / xs.len().max(1) as f64;
    hull.windows(2).find(|w| w[1].0 >= mid && w[1].0 > w[0].0).map_or(0.0, |w| (w[1].1 - w[0].1) / (w[1].0 - w[0].0))
}

#[cfg(test)]
#[path = "lib_tests.rs"]
mod tests;
