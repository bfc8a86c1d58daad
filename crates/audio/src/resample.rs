//! Changing a track's sample rate to the output's (44.1 kHz files on a 48 kHz device), with rubato's
//! FFT resampler — fixed ratio, high quality, ~600× real time per core on this machine's class.
//!
//! Timing matters more here than in most resamplers' uses: the resampler delays its output by
//! [`Resampler::output_delay`] frames, and a listener that kept that delay would play late by it.
//! This wrapper drops exactly that many frames at the start, so output frame `n` is input time
//! `n / to_rate` — the frame arithmetic of the sync engine stays true.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler as _};

/// Why a resampler could not be made or run.
#[derive(Debug, thiserror::Error)]
#[error("resampling {from} Hz to {to} Hz: {reason}")]
pub struct ResampleError {
    pub from: u32,
    pub to: u32,
    pub reason: String,
}

/// A streaming resampler over interleaved `f32`.
pub struct Resampler {
    inner: Fft<f32>,
    from: u32,
    to: u32,
    channels: usize,
    /// Input not yet processed (less than one chunk).
    pending: Vec<f32>,
    /// Output frames still to drop (the resampler's delay).
    drop_frames: usize,
    /// Frames taken in and given out, so the end can be cut to exactly `in · to / from`.
    frames_in: u64,
    frames_out: u64,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler").field("from", &self.from).field("to", &self.to).field("channels", &self.channels).finish()
    }
}

const CHUNK: usize = 1024;

impl Resampler {
    pub fn new(from: u32, to: u32, channels: usize) -> Result<Self, ResampleError> {
        let err = |reason: String| ResampleError { from, to, reason };
        let inner =
            Fft::<f32>::new(from as usize, to as usize, CHUNK, channels.max(1), FixedSync::Input).map_err(|e| err(e.to_string()))?;
        let drop_frames = inner.output_delay();
        Ok(Resampler { inner, from, to, channels: channels.max(1), pending: Vec::new(), drop_frames, frames_in: 0, frames_out: 0 })
    }

    /// Splits a skip of `output_frames` (from the start of the stream) into input frames to drop
    /// before the resampler and output frames to drop after it. Together they drop exactly
    /// `output_frames`, and the resampler does no work for audio that is thrown away: a listener
    /// joining three minutes into a track resampled three minutes to reach its place, and 30
    /// listeners starting at once on one machine underran while they did. Input goes in whole
    /// blocks that are a whole number of output frames (147 in, 160 out for 44.1 to 48 kHz), so no
    /// fraction of a frame shifts the timing.
    pub fn split_skip(&self, output_frames: u64) -> (u64, u64) {
        let (from, to) = (u64::from(self.from.max(1)), u64::from(self.to.max(1)));
        let common = gcd(from, to);
        let (block_in, block_out) = (from / common, to / common);
        let blocks = output_frames / block_out;
        (blocks * block_in, output_frames - blocks * block_out)
    }

    /// Resamples `input` (interleaved), appending whatever whole chunks produce to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), ResampleError> {
        self.frames_in += (input.len() / self.channels) as u64;
        self.pending.extend_from_slice(input);
        loop {
            let need = self.inner.input_frames_next() * self.channels;
            if self.pending.len() < need {
                return Ok(());
            }
            let chunk: Vec<f32> = self.pending.drain(..need).collect();
            self.run(&chunk, None, out)?;
        }
    }

    /// Flushes the last partial chunk and the resampler's tail.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), ResampleError> {
        let need = self.inner.input_frames_next() * self.channels;
        let have = self.pending.len() / self.channels;
        let mut chunk = std::mem::take(&mut self.pending);
        chunk.resize(need, 0.0);
        self.run(&chunk, Some(have), out)?;
        // The delay's worth of output is still inside the resampler: push silence through it.
        let silence = vec![0.0; need];
        let tail = self.inner.output_delay();
        let mut flushed = Vec::new();
        while flushed.len() / self.channels < tail {
            self.run(&silence, None, &mut flushed)?;
        }
        out.extend_from_slice(&flushed);
        // The padding of the last chunk made output beyond the input's end: cut it there.
        let expected = (self.frames_in * u64::from(self.to)).div_ceil(u64::from(self.from.max(1)));
        let extra = self.frames_out.saturating_sub(expected);
        let keep = out.len().saturating_sub(usize::try_from(extra).unwrap_or(0) * self.channels);
        out.truncate(keep);
        self.frames_out -= extra;
        Ok(())
    }

    fn run(&mut self, chunk: &[f32], partial: Option<usize>, out: &mut Vec<f32>) -> Result<(), ResampleError> {
        let (from, to) = (self.from, self.to);
        let err = |reason: String| ResampleError { from, to, reason };
        let frames = chunk.len() / self.channels;
        let input = InterleavedSlice::new(chunk, self.channels, frames).map_err(|e| err(e.to_string()))?;
        let indexing = partial.map(|n| Indexing { input_offset: 0, output_offset: 0, partial_len: Some(n), active_channels_mask: None });
        let produced = self.inner.process(&input, indexing.as_ref()).map_err(|e| err(e.to_string()))?.take_data();
        let skip = (self.drop_frames * self.channels).min(produced.len());
        self.drop_frames -= skip / self.channels;
        out.extend_from_slice(&produced[skip..]);
        self.frames_out += ((produced.len() - skip) / self.channels) as u64;
        Ok(())
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_split_around_the_resampler_drops_exactly_the_frames_asked() {
        let r = Resampler::new(44_100, 48_000, 2).unwrap();
        assert_eq!(r.split_skip(0), (0, 0));
        assert_eq!(r.split_skip(159), (0, 159));
        assert_eq!(r.split_skip(160), (147, 0));
        assert_eq!(r.split_skip(48_000 * 180 + 7), (44_100 * 180, 7), "three minutes in");
    }

    #[test]
    fn input_dropped_before_the_resampler_keeps_the_timing_of_what_follows() {
        let (from, to) = (44_100u32, 48_000u32);
        // Mono silence with a click at exactly 1.0 s; the first 0.75 s (36,000 output frames) skipped.
        let mut input = vec![0.0f32; from as usize * 2];
        input[44_100] = 1.0;
        let mut r = Resampler::new(from, to, 1).unwrap();
        let (drop_in, drop_out) = r.split_skip(36_000);
        let mut out = Vec::new();
        r.push(&input[drop_in as usize..], &mut out).unwrap();
        r.finish(&mut out).unwrap();
        let out = &out[drop_out as usize..];
        let peak = out.iter().enumerate().fold((0, 0.0f32), |best, (i, v)| if v.abs() > best.1 { (i, v.abs()) } else { best }).0;
        assert!((peak as i64 - 12_000).abs() <= 1, "click at output frame {peak}, not 1.0 s - 0.75 s = 12,000");
        assert!((out.len() as i64 - 60_000).abs() <= 2, "{} frames left of 2 s - 0.75 s", out.len());
    }

    #[test]
    fn a_second_at_44_1_khz_becomes_a_second_at_48_khz_with_its_timing_intact() {
        let (from, to) = (44_100u32, 48_000u32);
        // Mono: silence with a click at exactly 0.1 s, then a 1 kHz tone from 0.5 s.
        let mut input: Vec<f32> = (0..from as usize)
            .map(|i| if i >= 22_050 { (std::f32::consts::TAU * 1000.0 * i as f32 / from as f32).sin() * 0.5 } else { 0.0 })
            .collect();
        input[4_410] = 1.0;
        let mut r = Resampler::new(from, to, 1).unwrap();
        let mut out = Vec::new();
        for piece in input.chunks(777) {
            r.push(piece, &mut out).unwrap();
        }
        r.finish(&mut out).unwrap();
        assert!((out.len() as i64 - 48_000).abs() <= 2, "{} frames", out.len());
        // The click lands at 0.1 s of output, not 0.1 s plus the resampler's delay.
        let peak = out[..20_000].iter().enumerate().fold((0, 0.0f32), |best, (i, v)| if v.abs() > best.1 { (i, v.abs()) } else { best }).0;
        assert!((peak as i64 - 4_800).abs() <= 1, "click at output frame {peak}");
        // The tone is still 1 kHz: 2 zero crossings per ms over the last 0.4 s.
        let tail = &out[26_400..45_600];
        let crossings = tail.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
        assert!((crossings as i64 - 800).abs() <= 2, "{crossings} crossings in 0.4 s");
    }

    #[test]
    fn a_bad_rate_is_a_clear_error() {
        let err = Resampler::new(0, 48_000, 2).unwrap_err().to_string();
        assert!(err.starts_with("resampling 0 Hz to 48000 Hz"), "{err}");
    }
}
