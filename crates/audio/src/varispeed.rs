//! Playing a stream a little faster or slower than its rate, smoothly: the sync engine's way of
//! following a device that runs off its nominal rate (up to ±1 %, as cheap USB and Bluetooth
//! devices do) and of trimming away small errors, instead of dropping or repeating whole frames.
//!
//! [`Varispeed`] reads its input at a fractional position that advances by `step` input frames
//! per output frame, and interpolates each output frame with a windowed-sinc kernel (64 taps,
//! Kaiser window, 256 phases with linear interpolation between them). A dropped or repeated frame
//! is a discontinuity in the waveform, a click on sustained tones that a listener hears 40 times a
//! second at 1,000 ppm; resampling changes the pitch by 1.7 cents per 1,000 ppm instead, which no
//! one hears.
//!
//! It is built for the audio callback: [`Varispeed::render`] never allocates or blocks, and reads
//! the samples ahead of it as borrowed slices (the ring's two halves), so the ring's front stays
//! the next whole frame to play and the engine's frame arithmetic is unchanged. At `step == 1` and
//! a whole-frame position, the kernel is an exact delta: nothing is filtered.

/// Frames of the kernel each side of the position: the lookahead the ring must hold.
pub const HALF: usize = 32;
const TAPS: usize = 2 * HALF;
/// Kernel phases per frame; positions between two are interpolated linearly.
const PHASES: usize = 256;
/// Channels summed in one pass over the window (more are done in groups of this many).
const GROUP: usize = 2;
/// Kaiser's β: about 80 dB of stopband with 64 taps.
const BETA: f64 = 8.0;

/// What one call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rendered {
    /// Whole input frames passed (to commit from the ring).
    pub consumed: usize,
    /// Output frames that had no input (silence was played for them): an underrun.
    pub short: usize,
}

/// A variable-ratio reader over interleaved `f32` frames.
#[derive(Debug, Clone)]
pub struct Varispeed {
    channels: usize,
    /// The `HALF` frames before the front of the input, oldest first (already consumed).
    history: Box<[f32]>,
    /// How far past the front the output's position is, in frames, in `[0, 1)`.
    frac: f64,
    /// `PHASES + 1` rows of `TAPS` coefficients; row `p` is the kernel at position `p / PHASES`,
    /// tap `t` weighing input frame `t + 1 − HALF` relative to the front.
    kernel: Box<[f32]>,
}

impl Varispeed {
    /// For frames of `channels` samples. Allocates its tables here, never afterwards.
    pub fn new(channels: usize) -> Self {
        let channels = channels.max(1);
        Varispeed { channels, history: vec![0.0; HALF * channels].into_boxed_slice(), frac: 0.0, kernel: kernel() }
    }

    /// Starts over at a whole frame with silence behind it (after a jump: the old history is not
    /// what comes before the new front).
    pub fn reset(&mut self) {
        self.history.fill(0.0);
        self.frac = 0.0;
    }

    /// The fractional part of the position (how far the sounding position is past the front).
    pub fn fraction(&self) -> f64 {
        self.frac
    }

    /// Fills `out` (interleaved, whole frames) from the input ahead, `ahead.0` then `ahead.1`,
    /// advancing `step` input frames per output frame (1.001 plays 1,000 ppm fast). Frames the
    /// kernel reaches beyond the input count as silence; an output frame whose own position is
    /// beyond it is silence and counted as short, and the position then restarts at the input's end.
    pub fn render(&mut self, ahead: (&[f32], &[f32]), out: &mut [f32], step: f64) -> Rendered {
        let ch = self.channels;
        let available = (ahead.0.len() + ahead.1.len()) / ch;
        let frames = out.len() / ch;
        let mut played = 0;
        for k in 0..frames {
            let position = self.frac + k as f64 * step;
            let whole = position.floor();
            if whole as usize >= available {
                break;
            }
            let whole = whole as usize;
            let out_frame = &mut out[k * ch..(k + 1) * ch];
            if position == whole as f64 {
                // On a whole frame the kernel is a delta: no coefficients to work out.
                for (c, sample) in out_frame.iter_mut().enumerate() {
                    *sample = sample_ahead(ahead, whole * ch + c);
                }
            } else {
                let coefficients = self.coefficients(position - whole as f64);
                // The window the kernel covers: borrowed where it lies inside the first slice (all
                // but the first HALF frames of a call and a ring's wrap), gathered otherwise.
                let first = (whole + 1).checked_sub(HALF).map(|start| start * ch);
                for group in (0..ch).step_by(GROUP) {
                    let width = GROUP.min(ch - group);
                    let out_group = &mut out_frame[group..group + width];
                    match first.and_then(|start| ahead.0.get(start + group..(start + TAPS * ch).min(ahead.0.len()))) {
                        Some(window) if window.len() >= (TAPS - 1) * ch + width => convolve(window, ch, &coefficients, out_group),
                        _ => {
                            let mut gathered = [0.0f32; TAPS * GROUP];
                            for (t, frame) in gathered.chunks_exact_mut(width).enumerate() {
                                let at = whole as isize + 1 - HALF as isize + t as isize;
                                for (j, sample) in frame.iter_mut().enumerate() {
                                    *sample = self.sample_at(ahead, at, group + j);
                                }
                            }
                            convolve(&gathered[..TAPS * width], width, &coefficients, out_group);
                        }
                    }
                }
            }
            played = k + 1;
        }
        let short = frames - played;
        out[played * ch..frames * ch].fill(0.0);
        let end = self.frac + frames as f64 * step;
        let consumed = if short > 0 { available } else { (end.floor() as usize).min(available) };
        self.frac = if short > 0 { 0.0 } else { end - consumed as f64 };
        self.remember(ahead, consumed);
        Rendered { consumed, short }
    }

    /// The kernel at `fraction` in `[0, 1)`, interpolated between its two nearest phases.
    fn coefficients(&self, fraction: f64) -> [f32; TAPS] {
        let scaled = fraction * PHASES as f64;
        let p = (scaled.floor() as usize).min(PHASES - 1);
        let w = (scaled - p as f64) as f32;
        let (a, b) = (&self.kernel[p * TAPS..(p + 1) * TAPS], &self.kernel[(p + 1) * TAPS..(p + 2) * TAPS]);
        let mut row = [0.0f32; TAPS];
        for (t, r) in row.iter_mut().enumerate() {
            *r = a[t] + (b[t] - a[t]) * w;
        }
        row
    }

    /// Sample `c` of input frame `frame` relative to the front: from the history behind it (the
    /// kernel reaches at most `HALF` frames back), the input ahead, or silence beyond that.
    fn sample_at(&self, ahead: (&[f32], &[f32]), frame: isize, c: usize) -> f32 {
        match usize::try_from(frame) {
            Ok(frame) => sample_ahead(ahead, frame * self.channels + c),
            Err(_) => {
                let back = (HALF as isize + frame).max(0) as usize;
                self.history.get(back * self.channels + c).copied().unwrap_or(0.0)
            }
        }
    }

    /// Keeps the last `HALF` frames before the new front.
    fn remember(&mut self, ahead: (&[f32], &[f32]), consumed: usize) {
        let ch = self.channels;
        let keep_old = HALF.saturating_sub(consumed);
        self.history.copy_within((HALF - keep_old) * ch.., 0);
        let from_input = HALF - keep_old;
        for n in 0..from_input {
            let frame = consumed - from_input + n;
            for c in 0..ch {
                self.history[(keep_old + n) * ch + c] = sample_ahead(ahead, frame * ch + c);
            }
        }
    }
}

/// Weighs `TAPS` frames of `window` (each `stride` samples apart, the group's samples first in each)
/// by `coefficients` into `out`, one sum per sample of the group.
fn convolve(window: &[f32], stride: usize, coefficients: &[f32; TAPS], out: &mut [f32]) {
    match out {
        [one] => *one = convolve_group::<1>(window, stride, coefficients)[0],
        [left, right] => [*left, *right] = convolve_group::<2>(window, stride, coefficients),
        _ => {}
    }
}

/// The sums for a group of `W` samples. Each is taken relative to the kernel's centre sample
/// (the rows sum to exactly 1, so adding it back is exact): in f32, 64 products of large values,
/// as the engine tests' ramps to 500,000 are, would otherwise lose whole tenths of a frame.
/// Eight partial sums keep the additions from being one chain of 64 the CPU must run in order.
fn convolve_group<const W: usize>(window: &[f32], stride: usize, coefficients: &[f32; TAPS]) -> [f32; W] {
    let centre: [f32; W] = std::array::from_fn(|j| window.get((HALF - 1) * stride + j).copied().unwrap_or(0.0));
    let mut sums = [[0.0f32; W]; 8];
    // A frame short of `W` samples is only ever the window's last, cut by the input's end.
    let mut frames = window.chunks(stride).map(|frame| frame.get(..W).and_then(|f| <&[f32; W]>::try_from(f).ok()));
    for eight in coefficients.chunks_exact(8) {
        for (w, sum) in eight.iter().zip(sums.iter_mut()) {
            if let Some(Some(frame)) = frames.next() {
                for ((s, x), c) in sum.iter_mut().zip(frame).zip(&centre) {
                    *s += w * (x - c);
                }
            }
        }
    }
    std::array::from_fn(|j| {
        let lanes: [f32; 8] = std::array::from_fn(|l| sums[l][j]);
        ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])) + centre[j]
    })
}

/// Sample `i` of the input ahead (its two slices end to end); silence beyond it.
fn sample_ahead(ahead: (&[f32], &[f32]), i: usize) -> f32 {
    match ahead.0.get(i) {
        Some(v) => *v,
        None => ahead.1.get(i - ahead.0.len()).copied().unwrap_or(0.0),
    }
}

/// The windowed-sinc table, each row normalised to a gain of exactly 1 at DC so a constant (and a
/// ramp, which the engine's tests play) passes unchanged.
fn kernel() -> Box<[f32]> {
    let mut table = vec![0.0f32; (PHASES + 1) * TAPS];
    let i0_beta = bessel_i0(BETA);
    for p in 0..=PHASES {
        let fraction = p as f64 / PHASES as f64;
        let row = &mut table[p * TAPS..(p + 1) * TAPS];
        let mut weights = [0.0f64; TAPS];
        for (t, w) in weights.iter_mut().enumerate() {
            // Distance from the position to input frame `t + 1 − HALF`.
            let x = fraction - (t as f64 + 1.0 - HALF as f64);
            let sinc = if x == 0.0 { 1.0 } else { (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x) };
            let r = x / HALF as f64;
            let window = if r.abs() >= 1.0 { 0.0 } else { bessel_i0(BETA * (1.0 - r * r).sqrt()) / i0_beta };
            *w = sinc * window;
        }
        if p == 0 || p == PHASES {
            // Whole-frame positions: an exact delta (sin(πn) is only nearly 0 in floating point).
            let at = if p == 0 { HALF - 1 } else { HALF };
            weights = [0.0; TAPS];
            weights[at] = 1.0;
        }
        let sum: f64 = weights.iter().sum();
        for (r, w) in row.iter_mut().zip(weights) {
            *r = (w / sum) as f32;
        }
    }
    table.into_boxed_slice()
}

/// The modified Bessel function of the first kind, order 0 (its power series converges fast for
/// the arguments a Kaiser window needs).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term) = (1.0, 1.0);
    for k in 1..50 {
        term *= (x / (2.0 * k as f64)).powi(2);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders `input` (mono) through a varispeed at `step`, in periods of `period` frames, the
    /// way the engine does: each call sees what is left ahead.
    fn play(input: &[f32], step: f64, period: usize, periods: usize) -> (Vec<f32>, Varispeed, usize) {
        let mut v = Varispeed::new(1);
        let mut front = 0;
        let mut out = vec![0.0f32; period];
        let mut all = Vec::new();
        for _ in 0..periods {
            let r = v.render((&input[front..], &[]), &mut out, step);
            front += r.consumed;
            all.extend_from_slice(&out);
        }
        (all, v, front)
    }

    #[test]
    fn at_step_one_the_input_passes_bit_for_bit() {
        let input: Vec<f32> = (0..10_000).map(|i| ((i * 7_919) % 1_000) as f32 / 1_000.0 - 0.5).collect();
        let (out, _, front) = play(&input, 1.0, 480, 20);
        assert_eq!(front, 9_600);
        assert_eq!(out, input[..9_600]);
    }

    #[test]
    fn a_sine_played_fast_or_slow_stays_a_clean_sine_at_the_new_positions() {
        // 1 kHz and 15 kHz at 48 kHz, played at ±1 % and at 1,000 ppm. Each output frame must be
        // the sine at its exact fractional position: the error is the interpolation's distortion.
        for freq in [1_000.0, 15_000.0] {
            let input: Vec<f32> = (0..60_000).map(|i| (std::f64::consts::TAU * freq * i as f64 / 48_000.0).sin() as f32 * 0.5).collect();
            for step in [1.01, 0.99, 1.001] {
                let (out, _, _) = play(&input, step, 512, 100);
                let err: f64 = out[1_000..]
                    .iter()
                    .enumerate()
                    .map(|(k, y)| {
                        let position = (k + 1_000) as f64 * step;
                        let want = (std::f64::consts::TAU * freq * position / 48_000.0).sin() * 0.5;
                        (f64::from(*y) - want).powi(2)
                    })
                    .sum::<f64>()
                    / (out.len() - 1_000) as f64;
                let db = 10.0 * (err / 0.125).log10();
                assert!(db < -70.0, "{freq} Hz at {step}: error {db:.1} dB below the signal");
            }
        }
    }

    #[test]
    fn the_position_advances_by_exactly_step_frames_across_calls() {
        // A ramp (each frame's value is its index) shows the position itself.
        let input: Vec<f32> = (0..100_000).map(|i| i as f32).collect();
        for (step, period) in [(1.003, 480), (0.997, 441), (1.0001, 1_024)] {
            let (out, v, front) = play(&input, step, period, 50);
            let frames = 50 * period;
            let end = frames as f64 * step;
            assert_eq!(front, end.floor() as usize, "{step}");
            assert!((v.fraction() - end.fract()).abs() < 1e-6);
            for k in [100, frames / 2, frames - 1] {
                let want = k as f64 * step;
                assert!((f64::from(out[k]) - want).abs() < 0.05, "{step}: frame {k} is {}, want {want}", out[k]);
            }
        }
    }

    #[test]
    fn past_the_input_it_plays_silence_counts_it_short_and_restarts_at_the_end() {
        let input = vec![0.25f32; 2 * 300];
        let mut v = Varispeed::new(2);
        let mut out = vec![1.0f32; 2 * 480];
        let r = v.render((&input[..200], &input[200..]), &mut out, 1.0005);
        assert_eq!(r, Rendered { consumed: 300, short: 180 });
        // Away from the edges (silence behind the start, none ahead of the end) it is the input.
        assert!(out[2 * HALF..2 * (300 - HALF)].iter().all(|s| (*s - 0.25).abs() < 0.001));
        assert!(out[2 * 300..].iter().all(|s| *s == 0.0));
        assert_eq!(v.fraction(), 0.0);
    }

    #[test]
    fn each_phase_of_the_kernel_has_unit_gain() {
        let table = kernel();
        for row in table.chunks(TAPS) {
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5, "{sum}");
        }
    }
}
