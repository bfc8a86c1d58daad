//! Playing the right frame at the right instant: where playback should be, how far off it is,
//! and the correction — without chopping the sound.
//!
//! The audio callback knows when its first frame will reach the speaker (cpal's `playback`
//! timestamp). [`target_frame`] says which frame of the track *should* sound then, from the host's
//! playback anchor translated through the clock estimate. [`Playout`] compares that with the frame
//! that *will* sound, filters the difference over many callbacks (single timestamps jitter by 1–3 ms
//! on ALSA-over-PulseAudio and spike at xruns), and answers with a [`Correction`]:
//! a jump when the error is beyond a few milliseconds (seek, start, a big xrun), else a rate trim of
//! at most ±500 ppm (Snapcast's 0.05%) on top of the rate the timeline is measured to run at
//! ([`TimelineRate`]), which the engine plays through its [`Varispeed`](crate::varispeed::Varispeed)
//! resampler: the pitch moves by under a cent, and no frame is dropped or repeated.

use std::collections::VecDeque;

use crate::clock::Nanos;

/// The frame (at `rate` Hz) that should be sounding at host instant `host_ns`, for a track that
/// was at `position_ms` at host instant `anchor_ms` and is playing. `nudge_ms` is the listener's
/// offset setting: positive plays earlier, for a device that sounds late (Bluetooth).
pub fn target_frame(position_ms: u64, anchor_ms: u64, host_ns: Nanos, rate: u32, nudge_ms: i64) -> i64 {
    let anchor_ns = i64::try_from(anchor_ms).unwrap_or(i64::MAX).saturating_mul(1_000_000);
    let position_ns = i64::try_from(position_ms).unwrap_or(i64::MAX).saturating_mul(1_000_000);
    let at_ns = position_ns + (host_ns - anchor_ns) + nudge_ms.saturating_mul(1_000_000);
    ((at_ns as i128 * i128::from(rate)) / 1_000_000_000) as i64
}

/// The fastest known timeline rate followed: 1.5 %, for a device 1 % off and some margin. The correction (what the error drives) keeps to
/// [`PlayoutConfig::max_trim_ppm`]; following a rate the device is measured to run at is not a
/// correction and is not held to it: PulseAudio's null sink on this project's VM ran 800 ppm off
/// the system clock, which a 500 ppm cap could only meet with a jump every few seconds. Good sound
/// cards keep within ±100 ppm, but cheap USB and Bluetooth devices have been seen at ±1 %, and
/// resampling follows that as smoothly as 10 ppm (a device 1 % slow makes the timeline run
/// 10,101 ppm fast against it). Beyond it something else is wrong, and jumps deal with it.
pub const MAX_RATE_PPM: f64 = 15_000.0;

/// Tuning of the correction loop.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayoutConfig {
    /// Beyond this (filtered) error, jump instead of trimming.
    pub jump_above: Nanos,
    /// While settling (the first `settle_for` of playing after a start, seek or track change),
    /// jump beyond this smaller error: a deck placed a few milliseconds off (a late callback as
    /// the new track starts decoding) would take 500 ppm seconds to trim, and a jump so close to
    /// the start is the lesser evil. It was 0.3 ms: on Wi-Fi that made two or three skips per
    /// join out of the clock estimate's wander of a few tenths, which trimming removes unheard.
    /// With no settling at all, a 3 ms misplacement after a track change (loopback) was trimmed
    /// for 6 s. At 1 ms: one jump in three Wi-Fi joins (docs/BENCHMARKS.md).
    pub settling_jump_above: Nanos,
    /// How long settling lasts, in played time (not callbacks: a device's period is 21 ms at
    /// 1,024 frames and 64 ms at 3,072, and counted in callbacks the 2.5 s this was tuned at grew
    /// to 7.7 s, long enough that a listener already playing for 5 s still jumped at 1 ms when a
    /// second one joined its LAN and the shared clock estimate moved). One second: with a window
    /// of half a second, a misplaced start is jumped away within the first second, and after it
    /// errors are only trimmed.
    pub settle_for: Nanos,
    /// Never trim faster than this.
    pub max_trim_ppm: f64,
    /// How long a trim should take to remove the current error.
    pub settle_ns: Nanos,
    /// How slowly the learnt rate (the device's own rate error) follows a standing error, in
    /// seconds; `f64::INFINITY` learns nothing.
    pub integral_secs: f64,
    /// Callbacks in the median filter, at most.
    pub window: usize,
    /// And the played time it spans, once full: a device's period is 21 ms at 1,024 frames and
    /// 64 ms at 3,072, and 31 callbacks of 64 ms kept the loop from acting for its first 2 s.
    /// 0: the count alone.
    pub window_for: Nanos,
}

impl Default for PlayoutConfig {
    fn default() -> Self {
        PlayoutConfig {
            jump_above: 5_000_000,
            settling_jump_above: 1_000_000,
            settle_for: 1_000_000_000,
            max_trim_ppm: 500.0,
            settle_ns: 2_000_000_000,
            integral_secs: 10.0,
            window: 31,
            window_for: 500_000_000,
        }
    }
}

/// What the audio path should do now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Correction {
    /// Not enough measurements yet, and no rate known: play on.
    Wait,
    /// Continue from this frame (skip ahead, or insert silence when it is in the future).
    Jump { to_frame: i64 },
    /// Play this much faster (positive) or slower (negative), in parts per million.
    Trim { ppm: f64 },
}

/// The filtered comparison of where playback is and where it should be.
#[derive(Debug, Clone)]
pub struct Playout {
    config: PlayoutConfig,
    /// Recent errors, each with `played` when it was measured.
    errors: VecDeque<(Nanos, i64)>,
    /// Room to take their median in, without allocating in the audio callback.
    scratch: Vec<Nanos>,
    /// That median, once the window is full.
    median: Option<Nanos>,
    /// The output's rate at the last update (frames per second).
    rate: i64,
    /// Frames played since the last start, seek or track change (read from the frames between
    /// callbacks; a jump's are not counted).
    played: i64,
    /// The rate error of the output learnt so far, ppm. A sound card's crystal (or a sound server)
    /// runs some hundred ppm off the system clock; a proportional trim alone would follow that
    /// only with a standing error of rate × settle time (200 ppm × 2 s = 0.4 ms), so the trim
    /// also learns it, slowly, like a PI controller's integral. (Learning it faster from the first
    /// second's trend was tried: the clock estimate still moves by tenths of a millisecond then,
    /// which made the trend wrong by hundreds of ppm.) Kept across resets: it belongs to the
    /// device, not the track.
    learnt_ppm: f64,
    last_frame: Option<i64>,
}

impl Playout {
    pub fn new(config: PlayoutConfig) -> Self {
        let window = config.window.max(1);
        Playout {
            config,
            errors: VecDeque::with_capacity(window),
            scratch: Vec::with_capacity(window),
            median: None,
            rate: 48_000,
            played: 0,
            learnt_ppm: 0.0,
            last_frame: None,
        }
    }

    /// The median error now, if the window is full (positive: playback is behind where it should be).
    pub fn filtered_error(&self) -> Option<Nanos> {
        self.median
    }

    /// The window's median, once it is full. Called from the audio callback: it selects in a
    /// buffer kept for the purpose instead of sorting a new one.
    fn window_median(&mut self) -> Option<Nanos> {
        let spanned = match (self.errors.front(), self.errors.back()) {
            (Some((_, first)), Some((_, last))) => last - first,
            _ => 0,
        };
        let timed_full =
            self.config.window_for > 0 && i128::from(spanned) * 1_000_000_000 >= i128::from(self.config.window_for) * i128::from(self.rate);
        if self.errors.len() < self.config.window.max(1) && !timed_full {
            return None;
        }
        self.scratch.clear();
        self.scratch.extend(self.errors.iter().map(|(e, _)| *e));
        let middle = self.scratch.len() / 2;
        Some(*self.scratch.select_nth_unstable(middle).1)
    }

    /// One callback's measurement: the frame that will sound at the callback's output instant, and
    /// the frame that should ([`target_frame`]), at `rate` Hz; `feed_ppm` is the rate the timeline
    /// is known to run at against the output ([`TimelineRate`]), trimmed at before any error shows.
    pub fn update(&mut self, actual_frame: i64, target: i64, rate: u32, feed_ppm: f64) -> Correction {
        let error = (target - actual_frame) as i128 * 1_000_000_000 / i128::from(rate.max(1));
        let error = error.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as Nanos;
        // The time since the previous update, from the frames played in between (a jump's
        // frames make it implausible, and it is skipped).
        let between = self.last_frame.map(|last| actual_frame - last).filter(|f| *f > 0 && *f < i64::from(rate.max(1)));
        let elapsed = between.map(|f| f as f64 / f64::from(rate.max(1)));
        self.played = self.played.saturating_add(between.unwrap_or(0));
        self.last_frame = Some(actual_frame);
        self.rate = i64::from(rate.max(1));
        // One wild callback (an xrun) must not trigger a jump: a huge error only counts once the
        // median of a full window agrees. Seeks and track changes do not wait for that: the
        // engine starts them at the target frame and calls `reset`. The window: at most `window`
        // errors, spanning no more of playing than `window_for` (the oldest kept is the last one
        // at or before that far back, so a full window spans it).
        let cut = self.played - self.config.window_for.saturating_mul(self.rate) / 1_000_000_000;
        let timed = self.config.window_for > 0;
        while self.errors.len() >= self.config.window.max(1) || (timed && self.errors.get(1).is_some_and(|(_, at)| *at <= cut)) {
            self.errors.pop_front();
        }
        self.errors.push_back((error, self.played));
        self.median = self.window_median();
        let max = self.config.max_trim_ppm;
        let Some(median) = self.median else {
            // No error measured yet (a start, or just after a jump): play on at the rates already
            // known. Waiting without them let a device 800 ppm off drift 1.6 ms per refill.
            let known = self.learnt_ppm.clamp(-max, max) + feed_ppm.clamp(-MAX_RATE_PPM, MAX_RATE_PPM);
            return if known == 0.0 { Correction::Wait } else { Correction::Trim { ppm: known } };
        };
        let settling = i128::from(self.played) * 1_000_000_000 < i128::from(self.config.settle_for) * i128::from(rate.max(1));
        let jump_above = if settling { self.config.settling_jump_above } else { self.config.jump_above };
        if median.abs() > jump_above {
            self.errors.clear();
            self.median = None;
            return Correction::Jump { to_frame: target };
        }
        let ppm = median as f64 / self.config.settle_ns as f64 * 1e6;
        if let Some(dt) = elapsed {
            self.learnt_ppm = (self.learnt_ppm + ppm * dt / self.config.integral_secs).clamp(-max, max);
        }
        Correction::Trim { ppm: (ppm + self.learnt_ppm).clamp(-max, max) + feed_ppm.clamp(-MAX_RATE_PPM, MAX_RATE_PPM) }
    }

    /// Forget the history (after a seek or a track change the old errors mean nothing).
    pub fn reset(&mut self) {
        self.errors.clear();
        self.median = None;
        self.played = 0;
    }
}

/// How much faster than the output's frames the timeline runs, in ppm: the output's own rate
/// error and the host clock's drift together, read from how far the target moved over the last
/// second of callbacks against the frames played meanwhile. Known, it is trimmed at from the
/// start, so the error never has to grow to drive the trim (a proportional trim needs a standing
/// error of rate × settle time: 600 ppm × 2 s = 1.2 ms; the slow integral takes ten seconds to take
/// that over). Over a second, not callback to callback: each callback's instant moves a little as
/// the callback timer refits its line, and over 64 ms that reads as hundreds of ppm. Kept across
/// tracks and seeks: it belongs to the device and the clocks.
#[derive(Debug, Clone)]
pub struct TimelineRate {
    /// Frames per second of the output.
    rate: i64,
    /// Recent callbacks' (target, frames played before it), oldest first from `next - len`.
    marks: [(i64, i64); RATE_MARKS],
    len: usize,
    next: usize,
    /// Frames played since the marks began, and the last callback's target and size.
    played: i64,
    last: Option<(i64, usize)>,
    /// The rate read, once one has been (`None` before).
    ppm: Option<f64>,
    /// The rates of the last steps that were off the rate read, in a row (see [`RATE_ADOPT`]).
    odd: [f64; RATE_ADOPT],
    odd_len: usize,
}

/// Callbacks remembered: a second of 3,072-frame periods, a third of one of 480.
const RATE_MARKS: usize = 32;
/// The span read over, at most.
const RATE_SECS: i64 = 1;
/// A step this much off the rate already read (and a frame) is a seek, a new line in the callback
/// timer or a clock step, not a rate: the marks start again.
const RATE_PLAUSIBLE_PPM: f64 = 2_000.0;
/// So many steps in a row off the rate read, but at one rate among themselves, are that rate: a
/// device far off (1 % is 10 frames a 1,024-frame period) is read within its first few periods,
/// where one step of a clock estimate converging (0.3 ms: 14 frames) must not pass for a rate.
const RATE_ADOPT: usize = 3;

impl TimelineRate {
    /// For an output playing `rate` frames per second.
    pub fn new(rate: u32) -> Self {
        TimelineRate {
            rate: i64::from(rate.max(1)),
            marks: [(0, 0); RATE_MARKS],
            len: 0,
            next: 0,
            played: 0,
            last: None,
            ppm: None,
            odd: [0.0; RATE_ADOPT],
            odd_len: 0,
        }
    }

    /// A callback that plays `frames` frames from its `target`; the rate so far.
    pub fn observe(&mut self, target: i64, frames: usize) -> f64 {
        if let Some((last, before)) = self.last {
            let before = before as i64;
            // Whole-frame targets make one step off by up to a frame.
            let tolerance = before as f64 * RATE_PLAUSIBLE_PPM * 1e-6 + 1.0;
            let step_ppm = ((target - last) - before) as f64 / before.max(1) as f64 * 1e6;
            let off = (step_ppm - self.ppm.unwrap_or(0.0)).abs() * before as f64 * 1e-6;
            if before == 0 {
                self.break_off();
            } else if off <= tolerance {
                self.played += before;
                self.odd_len = 0;
            } else {
                self.break_off();
                self.odd[self.odd_len % RATE_ADOPT] = step_ppm;
                self.odd_len += 1;
                let odd = &self.odd[..self.odd_len.min(RATE_ADOPT)];
                let (low, high) = odd.iter().fold((f64::MAX, f64::MIN), |(l, h), p| (l.min(*p), h.max(*p)));
                // Two frames of spread: each step's whole-frame error, both ways.
                let consistent = (high - low) * before as f64 * 1e-6 <= tolerance + 1.0;
                let mean = odd.iter().sum::<f64>() / odd.len() as f64;
                if odd.len() == RATE_ADOPT && consistent && mean.abs() <= MAX_RATE_PPM {
                    self.ppm = Some(mean);
                    self.odd_len = 0;
                }
            }
        }
        self.marks[self.next] = (target, self.played);
        self.next = (self.next + 1) % RATE_MARKS;
        self.len = (self.len + 1).min(RATE_MARKS);
        // The oldest mark within the last second.
        let mut oldest = (self.next + RATE_MARKS - self.len) % RATE_MARKS;
        while self.played - self.marks[oldest].1 > self.rate * RATE_SECS {
            oldest = (oldest + 1) % RATE_MARKS;
        }
        let (then, played_then) = self.marks[oldest];
        let span = self.played - played_then;
        // Under a quarter second, whole frames and refits (a frame or two) still read as hundreds
        // of ppm.
        if span * 4 >= self.rate {
            self.ppm = Some(((target - then) - span) as f64 / span as f64 * 1e6);
        }
        self.last = Some((target, frames));
        self.ppm.unwrap_or(0.0)
    }

    /// The next target does not follow from the last (a new timeline): the marks start again.
    pub fn break_off(&mut self) {
        self.len = 0;
        self.played = 0;
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Nanos = 1_000_000;

    #[test]
    fn target_frames_follow_the_anchor_and_the_nudge() {
        // 10 s into the track at host 100 s; at host 101.5 s it is 11.5 s in: frame 552,000 at 48 kHz.
        assert_eq!(target_frame(10_000, 100_000, 101_500 * MS, 48_000, 0), 552_000);
        // A nudge of +20 ms plays 20 ms of material earlier.
        assert_eq!(target_frame(10_000, 100_000, 101_500 * MS, 48_000, 20), 552_960);
        assert_eq!(target_frame(0, 5_000, 5_000 * MS, 44_100, 0), 0);
    }

    #[test]
    fn jitter_is_filtered_and_small_errors_trim_within_the_cap() {
        let mut p = Playout::new(PlayoutConfig { window: 5, settle_for: 0, ..PlayoutConfig::default() });
        let rate = 48_000;
        // Behind by 1 ms (48 frames), with ±0.2 ms of timestamp jitter and one 40 ms spike (an xrun).
        let jitter = [0, 10, -10, 1_920, 5];
        let mut last = Correction::Wait;
        for (i, j) in jitter.iter().enumerate() {
            let target = 48_000 + i as i64 * 1_024;
            last = p.update(target - 48 + j, target, rate, 0.0);
        }
        let Correction::Trim { ppm } = last else { panic!("{last:?}") };
        assert!(ppm > 300.0 && ppm <= 500.0, "{ppm}");
        let median = p.filtered_error().unwrap();
        assert!((700_000..1_100_000).contains(&median), "the median ignores the spike: {median}");
    }

    #[test]
    fn a_seek_sized_error_jumps_then_starts_over() {
        let mut p = Playout::new(PlayoutConfig { window: 3, ..PlayoutConfig::default() });
        for _ in 0..2 {
            assert_eq!(p.update(0, 48_000, 48_000, 0.0), Correction::Wait);
        }
        assert_eq!(p.update(0, 48_000, 48_000, 0.0), Correction::Jump { to_frame: 48_000 });
        assert_eq!(p.filtered_error(), None, "history cleared after a jump");
    }

    #[test]
    fn while_settling_a_small_error_jumps_and_afterwards_it_is_trimmed() {
        const PERIOD: i64 = 3_072;
        let config = PlayoutConfig { window: 3, settle_for: 500_000_000, ..PlayoutConfig::default() };
        let mut p = Playout::new(config);
        let mut at = 0;
        let mut step = |p: &mut Playout, behind: i64| {
            at += PERIOD;
            p.update(at, at + behind, 48_000, 0.0)
        };
        // 2 ms behind (96 frames) just after a start: jumped away once the window agrees.
        for _ in 0..2 {
            assert_eq!(step(&mut p, 96), Correction::Wait);
        }
        assert!(matches!(step(&mut p, 96), Correction::Jump { .. }));
        // Settled (half a second played): the same error is now trimmed.
        for _ in 0..8 {
            step(&mut p, 0);
        }
        step(&mut p, 96);
        step(&mut p, 96);
        assert!(matches!(step(&mut p, 96), Correction::Trim { ppm } if ppm > 0.0));
        // A reset (seek, track change) settles again.
        p.reset();
        for _ in 0..2 {
            step(&mut p, 96);
        }
        assert!(matches!(step(&mut p, 96), Correction::Jump { .. }));
    }

    #[test]
    fn the_window_fills_after_half_a_second_of_playing_whatever_the_period() {
        for period in [1_024i64, 3_072] {
            let mut p = Playout::new(PlayoutConfig::default());
            let mut at = 0;
            let mut first = None;
            while first.is_none() {
                at += period;
                if matches!(p.update(at, at + 96, 48_000, 0.0), Correction::Jump { .. }) {
                    first = Some(at);
                }
            }
            // 2 ms behind from the start: jumped once half a second shows it, inside the first second.
            let ms = first.map(|f| f * 1000 / 48_000).unwrap_or(0);
            assert!((500..1000).contains(&ms), "{period}-frame periods: jumped after {ms} ms");
        }
    }

    #[test]
    fn settling_lasts_as_long_whatever_the_devices_period() {
        for period in [1_024i64, 3_072] {
            let mut p = Playout::new(PlayoutConfig { window: 3, settle_for: 1_000_000_000, ..PlayoutConfig::default() });
            let mut at = 0;
            // 1.5 s played on time, then 2 ms behind: past settling, trimmed rather than jumped.
            while at < 72_000 {
                at += period;
                p.update(at, at, 48_000, 0.0);
            }
            for _ in 0..3 {
                at += period;
                let c = p.update(at, at + 96, 48_000, 0.0);
                assert!(matches!(c, Correction::Trim { .. }), "{period}-frame periods: {c:?}");
            }
        }
    }

    /// Plays `secs` of 1,024-frame periods on an output that consumes `device_ppm` faster than
    /// the timeline advances; returns the standing error at the end, ns.
    fn standing_error(config: PlayoutConfig, device_ppm: f64, secs: usize) -> Nanos {
        let mut p = Playout::new(config);
        let (mut actual, mut target) = (0.0f64, 0.0f64);
        let mut ppm = 0.0;
        for _ in 0..secs * 48_000 / 1_024 {
            // A trim of +1,000 ppm plays 1,024.001 frames of the stream in a 1,024-frame period.
            actual += 1_024.0 * (1.0 + ppm * 1e-6);
            target += 1_024.0 * (1.0 - device_ppm * 1e-6);
            if let Correction::Trim { ppm: p2 } = p.update(actual.floor() as i64, target.round() as i64, 48_000, 0.0) {
                ppm = p2;
            }
        }
        p.filtered_error().unwrap_or(0)
    }

    #[test]
    fn a_device_running_fast_is_learnt_and_leaves_no_standing_error() {
        let config = PlayoutConfig { window: 9, settle_for: 0, ..PlayoutConfig::default() };
        // Without learning, 200 ppm leaves the proportional trim 0.4 ms behind the timeline…
        let proportional = standing_error(PlayoutConfig { integral_secs: f64::INFINITY, ..config.clone() }, 200.0, 60);
        assert!((-450_000..-350_000).contains(&proportional), "{proportional}");
        // …learning the rate takes it to within a frame, either way.
        for device_ppm in [200.0, -150.0] {
            let learnt = standing_error(config.clone(), device_ppm, 60);
            assert!(learnt.abs() < 25_000, "{device_ppm} ppm: {learnt}");
        }
    }

    #[test]
    fn before_an_error_is_measured_the_known_rate_is_played_at() {
        let mut p = Playout::new(PlayoutConfig { window: 3, ..PlayoutConfig::default() });
        assert_eq!(p.update(0, 0, 48_000, 0.0), Correction::Wait, "nothing known: play on");
        assert_eq!(p.update(1_024, 1_024, 48_000, 320.0), Correction::Trim { ppm: 320.0 }, "the timeline's rate, before the window fills");
        assert_eq!(
            p.update(2_048, 2_048, 48_000, 900.0),
            Correction::Trim { ppm: 900.0 },
            "a measured rate is followed past the correction cap"
        );
        assert_eq!(p.update(3_072, 3_072, 48_000, 29_000.0), Correction::Trim { ppm: MAX_RATE_PPM }, "up to a plausible one");
    }

    #[test]
    fn the_timeline_rate_is_read_through_whole_frame_targets_and_ignores_jumps() {
        let mut rate = TimelineRate::new(48_000);
        let mut ppm = 0.0;
        // 1,536-frame callbacks; the timeline runs 250 ppm fast, so targets step by 1,536.384 frames
        // (whole frames each time, and a frame either way as the callback timer refits); a seek of
        // 30 s in the middle is not a rate.
        for n in 0..400i64 {
            let seek = if n >= 200 { 1_440_000 } else { 0 };
            let refit = (n * 7_919) % 3 - 1;
            ppm = rate.observe((n as f64 * 1_536.384).floor() as i64 + refit + seek, 1_536);
            // Once a second of callbacks is in (again, after the seek), to within a few frames.
            if (32..200).contains(&n) || n >= 232 {
                assert!((ppm - 250.0).abs() < 70.0, "callback {n}: {ppm}");
            }
        }
        rate.break_off();
        assert!((rate.observe(0, 1_536) - ppm).abs() < f64::EPSILON, "a new timeline keeps the rate, takes no reading");
    }

    #[test]
    fn a_device_1_percent_off_is_read_within_its_first_periods_and_a_clock_step_is_not_a_rate() {
        // The timeline runs 1 % fast (or 0.5 % slow) against the output: every step is off the
        // frames played by far more than a plausible step, but consistently, so it is the rate.
        for off_ppm in [10_000.0, -5_000.0] {
            let mut rate = TimelineRate::new(48_000);
            let at = |n: i64| (n as f64 * 1_024.0 * (1.0 + off_ppm * 1e-6)).floor() as i64;
            let readings: Vec<f64> = (0..40).map(|n| rate.observe(at(n), 1_024)).collect();
            assert!((readings[4] - off_ppm).abs() < 1_000.0, "{off_ppm}: read by the fifth period: {readings:?}");
            assert!((readings[39] - off_ppm).abs() < 20.0, "{off_ppm}: {}", readings[39]);
        }
        // A nominal device whose clock estimate steps by 0.3 ms (14 frames) once: no rate.
        let mut rate = TimelineRate::new(48_000);
        for n in 0..40i64 {
            let ppm = rate.observe(n * 1_024 + if n >= 10 { 14 } else { 0 }, 1_024);
            assert!(ppm.abs() < 1e-9, "period {n}: {ppm}");
        }
    }

    #[test]
    fn the_correction_is_capped() {
        let mut p = Playout::new(PlayoutConfig { window: 1, settle_for: 0, ..PlayoutConfig::default() });
        // 4 ms behind: beyond what 500 ppm removes in 2 s (1 ms), so the cap holds.
        assert_eq!(p.update(0, 192, 48_000, 0.0), Correction::Trim { ppm: 500.0 });
        assert_eq!(p.update(0, -192, 48_000, 0.0), Correction::Trim { ppm: -500.0 });
    }
}
