//! The output side of synced playback: a [`Render`] that plays the frame the host's timeline says
//! should sound at each period's output instant.
//!
//! It runs on the output's thread, so it never blocks, locks or allocates: timing arrives as small
//! `Copy` messages through a wait-free queue from the control side (which owns the clock estimate
//! and the room's playback state), samples through the [`ring`](crate::ring). Each period it
//! translates the period's output instant into host time, asks [`Playout`] how far off the frame it
//! is about to play is, and either jumps (drops samples, or plays silence until the target catches
//! up) or plays a little faster or slower through [`Varispeed`] until the error is gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use rtrb::{Consumer, Producer, RingBuffer};

use crate::clock::Nanos;
use crate::output::Render;
use crate::playout::{Correction, Playout, PlayoutConfig, TimelineRate};
use crate::varispeed::Varispeed;

/// Decoded audio a deck needs past the target's period before it starts: 1 s (or what the ring
/// can hold). Starting with one period in hand left nothing for a decoder that fell behind for a
/// moment: 30 listeners on one 2-core machine, all starting at the same instant (they are in sync)
/// while fetching and passing on the track at full speed, each underran for 6–12 periods right
/// after its first sound (measured in `bench/nat/upload.py`), and never again. 250 ms still left
/// 2–27 periods of silence in half the runs, each with the track's bytes a second ahead of it: the
/// decoder had the data but not the processor. A cushion costs nothing where decoding keeps up
/// (it fills in milliseconds), and where it does not, a later first sound beats a stutter.
pub(crate) const START_CUSHION_MS: i64 = 1_000;

/// The timeline to follow, from the control side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeline {
    /// At host instant `anchor_host_ns` the track was at frame `anchor_frame` (of the ring's stream).
    pub anchor_host_ns: Nanos,
    pub anchor_frame: i64,
    pub playing: bool,
    /// Host clock minus local clock at local instant `offset_at`, and the drift (host ns per local ns).
    pub offset_ns: Nanos,
    pub offset_at: Nanos,
    pub drift: f64,
    /// The listener's nudge in frames (positive plays earlier).
    pub nudge_frames: i64,
}

impl Timeline {
    fn target(&self, sounds_at_local: Nanos, rate: u32) -> i64 {
        let host = sounds_at_local + self.offset_ns + (self.drift * (sounds_at_local - self.offset_at) as f64) as Nanos;
        let elapsed = if self.playing { host - self.anchor_host_ns } else { 0 };
        self.anchor_frame + (elapsed as i128 * i128::from(rate) / 1_000_000_000) as i64 + self.nudge_frames
    }
}

/// Counters for the UI and `sync` events, readable from any thread.
#[derive(Debug)]
pub struct EngineStats {
    /// The last filtered error, ns (positive: behind).
    pub error_ns: AtomicI64,
    pub jumps: AtomicU64,
    /// Frames played beyond or short of the nominal rate, in all (how much the varispeed moved).
    pub trimmed_frames: AtomicU64,
    pub underruns: AtomicU64,
    /// The local instant the first frame placed on a timeline sounded (`i64::MIN` until then).
    pub started_at: AtomicI64,
}

impl Default for EngineStats {
    fn default() -> Self {
        EngineStats {
            error_ns: AtomicI64::new(0),
            jumps: AtomicU64::new(0),
            trimmed_frames: AtomicU64::new(0),
            underruns: AtomicU64::new(0),
            started_at: AtomicI64::new(i64::MIN),
        }
    }
}

impl EngineStats {
    /// When the first placed frame sounded, once it has.
    pub fn started_at(&self) -> Option<Nanos> {
        Some(self.started_at.load(Ordering::Relaxed)).filter(|t| *t != i64::MIN)
    }
}

/// The control side's handle.
#[derive(Debug)]
pub struct EngineControl {
    timelines: Producer<Timeline>,
    pub stats: Arc<EngineStats>,
}

impl EngineControl {
    /// Sends a new timeline; returns false if the queue was full (the previous one still pending).
    pub fn set(&mut self, timeline: Timeline) -> bool {
        self.timelines.push(timeline).is_ok()
    }
}

/// The output side: plays `samples` (a ring of interleaved frames, `channels` wide, starting at
/// stream frame 0) on the timeline.
#[derive(Debug)]
pub struct SyncRender {
    timelines: Consumer<Timeline>,
    samples: Consumer<f32>,
    timeline: Option<Timeline>,
    rate: u32,
    channels: usize,
    /// The stream frame the ring's front holds.
    next_frame: i64,
    playout: Playout,
    varispeed: Varispeed,
    /// How much faster than nominal the stream plays now.
    ppm: f64,
    /// Frames played beyond or short of nominal, in all ([`EngineStats::trimmed_frames`]).
    trimmed: f64,
    timeline_rate: TimelineRate,
    /// Whether playback has been placed on the current timeline yet (see [`SyncRender::align`]).
    aligned: bool,
    stats: Arc<EngineStats>,
}

/// An engine for a stream at `rate` with `channels`, reading samples from `samples`, whose first
/// frame is stream frame `start_frame` (a deck started mid-track, after a seek).
pub fn engine(samples: Consumer<f32>, rate: u32, channels: usize, config: PlayoutConfig, start_frame: i64) -> (EngineControl, SyncRender) {
    let (producer, consumer) = RingBuffer::new(8);
    let stats = Arc::new(EngineStats::default());
    let control = EngineControl { timelines: producer, stats: stats.clone() };
    let render = SyncRender {
        timelines: consumer,
        samples,
        timeline: None,
        rate,
        channels: channels.max(1),
        next_frame: start_frame,
        playout: Playout::new(config),
        varispeed: Varispeed::new(channels.max(1)),
        ppm: 0.0,
        trimmed: 0.0,
        timeline_rate: TimelineRate::new(rate),
        aligned: false,
        stats,
    };
    (control, render)
}

impl SyncRender {
    /// Drops up to `frames` frames from the ring; returns how many went.
    fn skip(&mut self, frames: i64) -> i64 {
        let want = usize::try_from(frames.max(0)).unwrap_or(0) * self.channels;
        let available = self.samples.slots() / self.channels * self.channels;
        let n = want.min(available);
        if let Ok(chunk) = self.samples.read_chunk(n) {
            chunk.commit_all();
        }
        (n / self.channels) as i64
    }

    /// Fills `out` from the ring at `step` input frames per output frame (1 is nominal).
    fn play(&mut self, out: &mut [f32], step: f64) {
        let slots = self.samples.slots() / self.channels * self.channels;
        let frames = out.len() / self.channels;
        let Ok(chunk) = self.samples.read_chunk(slots) else {
            out.fill(0.0);
            return;
        };
        let played = self.varispeed.render(chunk.as_slices(), out, step);
        chunk.commit(played.consumed * self.channels);
        self.next_frame += played.consumed as i64;
        if played.short > 0 {
            self.stats.underruns.fetch_add(1, Ordering::Relaxed);
        } else if step != 1.0 {
            // Counted from the speed, not from whole frames consumed: a position that dithers
            // across a frame boundary would count each crossing.
            self.trimmed += (step - 1.0).abs() * frames as f64;
            self.stats.trimmed_frames.store(self.trimmed as u64, Ordering::Relaxed);
        }
    }
}

impl SyncRender {
    /// Places playback on a new timeline at once, from this one period's target: a start, a seek
    /// or a late join must not play a second of wrong audio while the median window fills. Until
    /// the ring holds the target frame and a [`START_CUSHION_MS`] cushion past its period (a deck
    /// whose decoder is still catching up), it plays silence and drops what comes before the
    /// target; a target still in the future gets silence until it arrives.
    /// Returns whether `out` is filled.
    fn align(&mut self, out: &mut [f32], target: i64, sounds_at: Nanos) -> bool {
        let frames = (out.len() / self.channels) as i64;
        let available = (self.samples.slots() / self.channels) as i64;
        let room = (self.samples.buffer().capacity() / self.channels) as i64 - frames;
        let cushion = (START_CUSHION_MS * i64::from(self.rate) / 1000).min(room).max(0);
        let skip = target - self.next_frame;
        if skip + frames + cushion > available || -skip >= frames {
            // Not there yet. Drop what is decoded short of the target, so a full ring can never
            // hold the decoder back from reaching it.
            if skip > 0 {
                let dropped = self.skip(skip.min(available));
                self.next_frame += dropped;
            }
            out.fill(0.0);
            return true;
        }
        self.aligned = true;
        self.playout.reset();
        self.varispeed.reset();
        let lead = (-skip).max(0) as i128 * 1_000_000_000 / i128::from(self.rate.max(1));
        let _ = self.stats.started_at.compare_exchange(i64::MIN, sounds_at + lead as Nanos, Ordering::Relaxed, Ordering::Relaxed);
        if skip >= 0 {
            let skipped = self.skip(skip);
            self.next_frame += skipped;
            return false;
        }
        let wait = usize::try_from((-skip).min(frames)).unwrap_or(0) * self.channels;
        out[..wait].fill(0.0);
        self.play(&mut out[wait..], 1.0);
        true
    }
}

impl Render for SyncRender {
    fn render(&mut self, out: &mut [f32], sounds_at: Nanos) {
        while let Ok(t) = self.timelines.pop() {
            if self.timeline.is_none_or(|old| old.anchor_frame != t.anchor_frame || old.playing != t.playing) {
                self.playout.reset();
                self.aligned = false;
                self.timeline_rate.break_off();
            }
            self.timeline = Some(t);
        }
        let Some(timeline) = self.timeline.filter(|t| t.playing) else {
            out.fill(0.0);
            return;
        };
        let frames = (out.len() / self.channels) as i64;
        let target = timeline.target(sounds_at, self.rate);
        let feed_ppm = self.timeline_rate.observe(target, usize::try_from(frames).unwrap_or(0));
        if !self.aligned && self.align(out, target, sounds_at) {
            return;
        }
        match self.playout.update(self.next_frame, target, self.rate, feed_ppm) {
            Correction::Jump { to_frame } => {
                self.stats.jumps.fetch_add(1, Ordering::Relaxed);
                self.ppm = 0.0;
                self.varispeed.reset();
                if to_frame > self.next_frame {
                    let skipped = self.skip(to_frame - self.next_frame);
                    self.next_frame += skipped;
                } else {
                    // Ahead of the timeline: silence until it catches up (at most this period).
                    let wait = usize::try_from((self.next_frame - to_frame).min(frames)).unwrap_or(0) * self.channels;
                    out[..wait].fill(0.0);
                    self.play(&mut out[wait..], 1.0);
                    return;
                }
            }
            Correction::Trim { ppm } => self.ppm = ppm,
            Correction::Wait => {}
        }
        if let Some(e) = self.playout.filtered_error() {
            self.stats.error_ns.store(e, Ordering::Relaxed);
        }
        self.play(out, 1.0 + self.ppm * 1e-6);
    }

    fn frame(&self) -> Option<i64> {
        self.aligned.then_some(self.next_frame)
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
