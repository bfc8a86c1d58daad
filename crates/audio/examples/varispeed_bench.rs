//! The sync engine's resampler in the audio callback: how long one period takes, per core.
//!
//! ```sh
//! cargo run --release -p whatssound-audio --example varispeed_bench -- [PERIOD_FRAMES] [PPM]
//! ```
//! 60 s of 48 kHz stereo noise is played through [`Varispeed`] in periods of `PERIOD_FRAMES`
//! (default 1,024) at `PPM` off nominal (default 500), three times on this one thread; the best
//! run is reported as multiples of real time and as the worst and median period, in µs (a period
//! of 1,024 frames lasts 21,333 µs). The same at exactly nominal speed, where the kernel is a copy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use whatssound_audio::Varispeed;

const RATE: usize = 48_000;
const CHANNELS: usize = 2;

fn main() {
    let mut args = std::env::args().skip(1);
    let period: usize = args.next().map_or(1_024, |a| a.parse().expect("PERIOD_FRAMES is a number"));
    let ppm: f64 = args.next().map_or(500.0, |a| a.parse().expect("PPM is a number"));
    let mut seed: u32 = 0x1234_5678;
    let input: Vec<f32> = (0..RATE * 61 * CHANNELS)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed as f32 / u32::MAX as f32 - 0.5) * 0.5
        })
        .collect();
    for step in [1.0 + ppm * 1e-6, 1.0] {
        let mut best = (f64::INFINITY, 0.0, 0.0);
        for _ in 0..3 {
            let mut v = Varispeed::new(CHANNELS);
            let mut out = vec![0.0f32; period * CHANNELS];
            let mut front = 0;
            let mut periods = Vec::with_capacity(RATE * 60 / period);
            let t = Instant::now();
            for _ in 0..RATE * 60 / period {
                let p = Instant::now();
                let r = v.render((&input[front * CHANNELS..], &[]), &mut out, step);
                front += r.consumed;
                periods.push(p.elapsed().as_secs_f64() * 1e6);
            }
            let total = t.elapsed().as_secs_f64();
            std::hint::black_box(&out);
            periods.sort_by(f64::total_cmp);
            if total < best.0 {
                best = (total, periods[periods.len() / 2], periods[periods.len() - 1]);
            }
        }
        let (total, median, worst) = best;
        println!(
            "step {step:.6} period {period}: {:.0}x real time, period median {median:.0} us, worst {worst:.0} us (of {:.0} us)",
            60.0 / total,
            period as f64 / RATE as f64 * 1e6
        );
    }
}
