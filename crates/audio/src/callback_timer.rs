//! When each sound-device callback's first frame really sounds.
//!
//! A device plays frames at a steady rate, so the instants its frames sound lie on a line:
//! `base + n / rate`, broken only where an xrun loses or inserts audio. Each callback gives two
//! readings: when it was called, and cpal's latency (`playback − callback`) to the speaker. Their
//! sum is that line plus error, and the error is not only jitter: on ALSA-over-PulseAudio the
//! latency comes from libpulse's interpolating smoother, which wanders in ramps of several
//! milliseconds over seconds and snaps back (measured on a remap sink: a ±4 ms sawtooth with a
//! period of about 5 s, while the same stream's callbacks kept a straight line). A short median
//! follows such a ramp as if the audio had moved, and the engine then "corrects" audio that was
//! on time. So [`CallbackTimer`] takes the two apart: the callback instants, which the device's
//! consumption paces, are fitted with a least-squares line (its slope is the device's own rate
//! error), and the latency is averaged over the whole window (~20 s), where the ramps cancel. A
//! real step — readings standing far off the model for a whole short window — starts over.
//!
//! How long those windows are depends on where the latency comes from ([`TimerWindows`]): a
//! smoothed report needs ~20 s to average out; an exact one (cpal's PulseAudio host reads the
//! server's indices) needs none, and there the device's own rate is what moves — PulseAudio's null
//! sink on this project's VM ramped from 0 to 800 ppm off the system clock within 15 s, by 40–70
//! ppm a second. A line fitted over 20 s of such a ramp sounds 0.4–0.6 ms late at its end
//! (measured on traced runs); one over the last second, 0.01 ms.

use crate::clock::Nanos;

/// Readings kept: ~20 s of 1,024-frame callbacks at 48 kHz.
const WINDOW: usize = 960;

/// Over how much of the recent past the callback line and the latency are read, by how the
/// backend reports latency (the table `DeviceOutput` picks from).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TimerWindows {
    /// The callback line is fitted over the readings of the last this many seconds.
    pub line_secs: f64,
    /// The latency is the mean of the last this many seconds.
    pub latency_secs: f64,
    /// No slope is fitted over less than this span: shorter, the callbacks' jitter would read as
    /// a rate error of hundreds of ppm; until then the mean of the last `RECENT_SECS` places it.
    pub slope_after_secs: f64,
}

impl TimerWindows {
    /// Latency read from the sound server's own play and write indices (cpal's PulseAudio host,
    /// also PipeWire's pulse server): within ±0.3 ms from the first second, so only the device's
    /// rate is left to follow, and the last second says best where it is now. On traced runs
    /// the next callback's sounding instant was predicted to 0.055 ms (median; 0.16 ms p95) with
    /// one-second windows, 0.12 ms (0.35 ms) with two, 0.3 ms with ten.
    pub const EXACT_LATENCY: TimerWindows = TimerWindows { line_secs: 1.0, latency_secs: 1.0, slope_after_secs: 0.5 };
    /// Latency smoothed by the client library (ALSA over PulseAudio: libpulse's interpolation
    /// wanders in ±4 ms ramps over ~5 s): averaged over the whole window, where the ramps cancel.
    pub const SMOOTHED_LATENCY: TimerWindows = TimerWindows { line_secs: 20.0, latency_secs: 20.0, slope_after_secs: 2.0 };
}
/// Half a second of readings before any instant is given: fewer say too little to place audio by,
/// and more only delay the first sound (counted in time, as a device's period sets how many
/// readings that is).
const READY_MS: i64 = 500;
/// Recent deviations from the model, whose median detects a step.
const SHORT: usize = 31;
/// A median deviation this large means the stream itself moved (an xrun): start over.
const STEP_ABOVE: Nanos = 10_000_000;
/// Readings further than this from the first fit are left out of the second (wild single readings).
const OUTLIER: f64 = 8e6;
/// Until a slope is fitted, the callbacks of the last this many seconds give the line's place: recent enough
/// that the device's own rate error (which a mean over more would lag behind) moves it little.
const RECENT_SECS: f64 = 1.0;

/// Smooths callback readings into the instants frames sound (see the module docs).
#[derive(Debug)]
pub(crate) struct CallbackTimer {
    rate: i64,
    windows: TimerWindows,
    /// The callback instant the nominal line starts from, and the frames played since.
    base: Option<Nanos>,
    frames: i64,
    /// Per reading: frame index (since `base`), callback instant minus the nominal line, latency.
    xs: [i64; WINDOW],
    calls: [Nanos; WINDOW],
    latencies: [Nanos; WINDOW],
    len: usize,
    next: usize,
    /// Recent deviations of readings from the model.
    recent: [Nanos; SHORT],
    recent_len: usize,
    recent_next: usize,
    warmup: u8,
    ready: bool,
    /// The model the last instant came from: the device's rate against our clock (ppm, once a
    /// slope is fitted) and its mean latency.
    model: Option<(i64, Nanos)>,
}

impl CallbackTimer {
    pub(crate) fn new(rate: u32, windows: TimerWindows) -> Self {
        CallbackTimer {
            rate: i64::from(rate.max(1)),
            windows,
            base: None,
            frames: 0,
            xs: [0; WINDOW],
            calls: [0; WINDOW],
            latencies: [0; WINDOW],
            len: 0,
            next: 0,
            recent: [0; SHORT],
            recent_len: 0,
            recent_next: 0,
            // The first callbacks only prefill the device's buffer and report latencies that are
            // not yet true (0, 10, 21 ms on ALSA-over-PulseAudio): the line starts after them.
            warmup: 4,
            ready: false,
            model: None,
        }
    }

    /// Forgets the readings after the stream broke (an xrun): the next ones start a new line,
    /// after a short warm-up of their own (placed by their raw readings) as the device refills.
    pub(crate) fn restart(&mut self) {
        self.base = None;
        self.frames = 0;
        self.forget_readings();
        self.warmup = 2;
    }

    /// Empties the long and the short window (the line they drew no longer holds).
    fn forget_readings(&mut self) {
        self.len = 0;
        self.next = 0;
        self.recent_len = 0;
        self.recent_next = 0;
    }

    /// The smoothed instant the first of this callback's `frames` frames sounds, given when the
    /// callback was called and the latency it reported; `None` until enough readings are in.
    pub(crate) fn sounds_at(&mut self, called_at: Nanos, latency: Nanos, frames: usize) -> Option<Nanos> {
        if self.warmup > 0 {
            self.warmup -= 1;
            // After a restart the audio goes on: the raw reading places it until the line is back
            // (one wild period is no more than the engine's median filter already ignores).
            return self.ready.then_some(called_at + latency);
        }
        let base = *self.base.get_or_insert(called_at);
        let x = self.frames;
        let nominal = base + self.frames_to_ns(x);
        self.frames += frames as i64;
        self.xs[self.next] = x;
        self.calls[self.next] = called_at - nominal;
        self.latencies[self.next] = latency;
        self.next = (self.next + 1) % WINDOW;
        self.len = (self.len + 1).min(WINDOW);
        self.ready |= self.frames * 1000 >= self.rate * READY_MS;
        if !self.ready {
            return None;
        }
        let (at, slope) = self.call_line_at(x);
        let latency = self.mean_latency(x);
        // Callbacks falling behind the nominal line (a positive slope, ns per second) mean a
        // device playing slower than nominal.
        self.model = slope.map(|b| (-(b / 1e3).round() as i64, latency));
        let modelled = nominal + at + latency;
        if self.stepped(called_at + latency - modelled) {
            // Start over from this reading; until the window refills, the model is short but true.
            self.base = Some(called_at - self.frames_to_ns(x));
            self.forget_readings();
            return Some(called_at + latency);
        }
        Some(modelled)
    }

    fn frames_to_ns(&self, frames: i64) -> Nanos {
        (i128::from(frames) * 1_000_000_000 / i128::from(self.rate)) as Nanos
    }

    /// Records a deviation; true when the recent ones agree the stream has moved.
    fn stepped(&mut self, deviation: Nanos) -> bool {
        self.recent[self.recent_next] = deviation;
        self.recent_next = (self.recent_next + 1) % SHORT;
        self.recent_len = (self.recent_len + 1).min(SHORT);
        if self.recent_len < SHORT {
            return false;
        }
        // A stack copy sorted: 31 values, no allocation on the audio thread.
        let mut sorted = self.recent;
        sorted.sort_unstable();
        sorted[SHORT / 2].abs() > STEP_ABOVE
    }

    /// The device's rate against our clock (ppm) and its mean latency, once a slope is fitted.
    pub(crate) fn model(&self) -> Option<(i64, Nanos)> {
        self.model
    }

    /// The fitted callback residual at frame `x`, and the fit's slope (ns per second) when the
    /// readings span enough to fit one: least squares over the window, then again without the
    /// readings far off the first fit (a late wake-up). Coordinates are relative to `x`, in
    /// seconds and nanoseconds, so f64 keeps them exact enough.
    fn call_line_at(&self, x: i64) -> (Nanos, Option<f64>) {
        let since = -self.windows.line_secs;
        let points = || {
            self.xs[..self.len]
                .iter()
                .zip(&self.calls[..self.len])
                .map(move |(&px, &py)| ((px - x) as f64 / self.rate as f64, py as f64))
                .filter(move |&(px, _)| px >= since)
        };
        let after = self.windows.slope_after_secs;
        let Some((a, b)) = fit(points(), after, |_, _| true) else { return (0, None) };
        let (a, b) = fit(points(), after, |px, py| (py - (a + b * px)).abs() <= OUTLIER).unwrap_or((a, b));
        (a.round() as Nanos, (b != 0.0).then_some(b))
    }

    /// The mean latency over the latency window before frame `x`, without readings far from the
    /// first mean.
    fn mean_latency(&self, x: i64) -> Nanos {
        let since = x - (self.windows.latency_secs * self.rate as f64) as i64;
        let latencies =
            || self.xs[..self.len].iter().zip(&self.latencies[..self.len]).filter(move |(px, _)| **px >= since).map(|(_, &l)| l as f64);
        let Some(first) = mean(latencies()) else { return 0 };
        mean(latencies().filter(|l| (l - first).abs() <= OUTLIER)).unwrap_or(first).round() as Nanos
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (n, sum) = values.fold((0usize, 0.0), |(n, sum), v| (n + 1, sum + v));
    (n > 0).then(|| sum / n as f64)
}

/// Least squares of `y = a + b·x` over the points `keep` accepts, as `(a, b)`. No slope when the
/// points span less than `slope_after` seconds: then `a` is the mean of the last [`RECENT_SECS`].
fn fit(points: impl Iterator<Item = (f64, f64)> + Clone, slope_after: f64, keep: impl Fn(f64, f64) -> bool) -> Option<(f64, f64)> {
    let (mut n, mut sx, mut sy, mut lo, mut hi) = (0.0, 0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in points.clone().filter(|&(x, y)| keep(x, y)) {
        n += 1.0;
        sx += x;
        sy += y;
        lo = lo.min(x);
        hi = hi.max(x);
    }
    if n == 0.0 {
        return None;
    }
    let (mx, my) = (sx / n, sy / n);
    if hi - lo < slope_after {
        let recent = points.filter(|&(x, y)| x >= hi - RECENT_SECS && keep(x, y)).map(|(_, y)| y);
        let (k, sum) = recent.fold((0.0, 0.0), |(k, sum), y| (k + 1.0, sum + y));
        return Some((if k > 0.0 { sum / k } else { my }, 0.0));
    }
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (x, y) in points.filter(|&(x, y)| keep(x, y)) {
        sxx += (x - mx) * (x - mx);
        sxy += (x - mx) * (y - my);
    }
    let b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    Some((my - b * mx, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD_FRAMES: usize = 1_024;

    fn period_ns(n: i64) -> Nanos {
        n * PERIOD_FRAMES as i64 * 1_000_000_000 / 48_000
    }

    const LATENCY: Nanos = 43_000_000;

    #[test]
    fn callback_jitter_is_smoothed_and_a_shift_is_followed() {
        let mut timer = CallbackTimer::new(48_000, TimerWindows::SMOOTHED_LATENCY);
        let jitter = [0, 3_000_000, -2_000_000, 1_000_000, -3_000_000, 2_500_000, -500_000];
        let called = |n: i64| 5_000_000_000 + period_ns(n);
        let truth = |n: i64| called(n) + LATENCY;
        // Prefill callbacks with wild readings are passed through and do not start the line.
        for wild in [0, 10_000_000, 21_000_000, 3_000_000] {
            assert_eq!(timer.sounds_at(wild, wild, PERIOD_FRAMES), None);
        }
        let mut worst = 0;
        for n in 0..300 {
            let j = jitter[n as usize % jitter.len()];
            let got = timer.sounds_at(called(n) + j / 3, LATENCY + j, PERIOD_FRAMES);
            // 24 callbacks of 1,024 frames are the first to span half a second.
            assert_eq!(got.is_some(), n >= 23, "instants only once enough readings are in (callback {n})");
            if n >= 24 {
                worst = worst.max((got.unwrap_or(0) - truth(n)).abs());
            }
        }
        assert!(worst < 600_000, "smoothed to within 0.6 ms of the truth: {worst} ns");
        // An xrun: from now on every frame sounds 40 ms later. Followed within a short window.
        let mut last = 0;
        for n in 300..340 {
            let j = jitter[n as usize % jitter.len()];
            last = timer.sounds_at(called(n) + 40_000_000 + j / 3, LATENCY + j, PERIOD_FRAMES).unwrap_or(0) - truth(n);
        }
        assert!((last - 40_000_000).abs() < 3_100_000, "{last}");
    }

    #[test]
    fn after_an_xrun_the_new_line_is_taken_at_once() {
        let mut timer = CallbackTimer::new(48_000, TimerWindows::SMOOTHED_LATENCY);
        let called = |n: i64| 2_000_000_000 + period_ns(n);
        for n in 0..200 {
            timer.sounds_at(called(n), LATENCY, PERIOD_FRAMES);
        }
        // The stream restarts 6 ms later: too small a step to detect, but the device said so.
        timer.restart();
        let got: Vec<Option<Nanos>> = (200..204).map(|n| timer.sounds_at(called(n) + 6_000_000, LATENCY, PERIOD_FRAMES)).collect();
        assert_eq!(
            got[..2],
            [Some(called(200) + 6_000_000 + LATENCY), Some(called(201) + 6_000_000 + LATENCY)],
            "raw readings while the device refills"
        );
        assert_eq!(got[2..], [Some(called(202) + 6_000_000 + LATENCY), Some(called(203) + 6_000_000 + LATENCY)]);
    }

    #[test]
    fn a_wandering_latency_report_is_averaged_out_and_the_device_rate_kept() {
        // As measured on PulseAudio: the device consumes 650 ppm fast against our clock, callbacks
        // jitter by a millisecond, and the latency reading ramps up 7 ms over 5 s and snaps back.
        let mut timer = CallbackTimer::new(48_000, TimerWindows::SMOOTHED_LATENCY);
        let called = |n: i64| 1_000_000_000 + period_ns(n) - period_ns(n) * 650 / 1_000_000;
        let cycle = 5 * 48_000 / PERIOD_FRAMES as i64;
        let sawtooth = |n: i64| (n % cycle) * 7_000_000 / cycle - 3_500_000;
        let jitter = [0, 1_000_000, -700_000, 300_000, -1_000_000];
        let mut worst_late = 0;
        let mut worst_early = 0;
        for n in 0..1_500 {
            let got = timer.sounds_at(called(n) + jitter[n as usize % jitter.len()], LATENCY + sawtooth(n), PERIOD_FRAMES);
            let error = (got.unwrap_or(0) - called(n) - LATENCY).abs();
            match n {
                // The first seconds, before the window spans even one ramp.
                40..=500 => worst_early = worst_early.max(error),
                501.. => worst_late = worst_late.max(error),
                _ => {}
            }
        }
        assert!(worst_early < 3_600_000, "never worse than following the ramp: {worst_early} ns");
        let (rate_ppm, latency) = timer.model().unwrap_or_default();
        assert!((620..=680).contains(&rate_ppm), "the device's rate is reported: {rate_ppm} ppm");
        assert!((latency - LATENCY).abs() < 500_000, "and its mean latency: {latency} ns");
        assert!(worst_late < 500_000, "the ±3.5 ms ramps average out to under 0.5 ms: {worst_late} ns");
    }

    #[test]
    fn an_exact_latency_report_lets_a_ramping_device_rate_be_followed() {
        // As traced on this VM's PulseAudio null sink: exact latency readings, callbacks jittering
        // by 0.1 ms, and the device's rate ramping by 50 ppm a second.
        let period = 3_072usize;
        let mut calls = Vec::new();
        let mut t = 1_000_000_000f64;
        for n in 0..400 {
            calls.push(t as Nanos + [0, 100_000, -80_000, 40_000][n % 4]);
            let ppm = 50.0 * (t - 1e9) / 1e9;
            t += period as f64 * 1e9 / 48_000.0 * (1.0 - ppm * 1e-6);
        }
        let worst = |windows| {
            let mut timer = CallbackTimer::new(48_000, windows);
            let mut worst: Nanos = 0;
            for (n, &called) in calls.iter().enumerate() {
                let got = timer.sounds_at(called, LATENCY, period);
                // Past the first 5 s, against the sounding instant without the jitter.
                if n >= 80 {
                    let truth = called - [0, 100_000, -80_000, 40_000][n % 4] + LATENCY;
                    worst = worst.max((got.unwrap_or(0) - truth).abs());
                }
            }
            worst
        };
        let exact = worst(TimerWindows::EXACT_LATENCY);
        let smoothed = worst(TimerWindows::SMOOTHED_LATENCY);
        assert!(exact < 150_000, "the last second's line follows the ramp: {exact} ns");
        assert!(smoothed > 2 * exact, "a 20 s line lags it ({smoothed} ns), which is why the windows differ");
    }
}
