//! The hand-over between the decoder's thread and the output: a wait-free single-producer,
//! single-consumer ring of samples (rtrb). The output side never blocks, locks or allocates: it
//! takes what is there and plays silence for what is missing, counting each underrun.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rtrb::{Consumer, Producer, RingBuffer};

use crate::clock::Nanos;
use crate::output::Render;

/// Underrun and played-frame counters, readable from any thread.
#[derive(Debug, Default)]
pub struct RingStats {
    pub underruns: AtomicU64,
    pub frames_played: AtomicU64,
}

/// The decoder's end: push interleaved samples as space allows.
#[derive(Debug)]
pub struct Feed {
    producer: Producer<f32>,
}

impl Feed {
    /// Pushes as much of `samples` as fits (whole frames only); returns how many samples went in.
    pub fn push(&mut self, samples: &[f32], channels: usize) -> usize {
        let room = self.producer.slots() / channels.max(1) * channels.max(1);
        let n = room.min(samples.len() / channels.max(1) * channels.max(1));
        let (pushed, _) = self.producer.push_partial_slice(&samples[..n]);
        pushed.len()
    }

    /// Free space, in samples.
    pub fn space(&self) -> usize {
        self.producer.slots()
    }
}

/// The output's end, as a [`Render`].
#[derive(Debug)]
pub struct RingRender {
    consumer: Consumer<f32>,
    stats: Arc<RingStats>,
}

/// A ring of `capacity_frames` frames of `channels` samples.
pub fn ring(capacity_frames: usize, channels: usize) -> (Feed, RingRender, Arc<RingStats>) {
    let (producer, consumer) = RingBuffer::new(capacity_frames * channels.max(1));
    let stats = Arc::new(RingStats::default());
    (Feed { producer }, RingRender { consumer, stats: stats.clone() }, stats)
}

impl Render for RingRender {
    fn render(&mut self, out: &mut [f32], _sounds_at: Nanos) {
        let (filled, missing) = self.consumer.pop_partial_slice(out);
        let played = filled.len();
        if !missing.is_empty() {
            missing.fill(0.0);
            self.stats.underruns.fetch_add(1, Ordering::Relaxed);
        }
        self.stats.frames_played.fetch_add(played as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_pass_through_and_an_underrun_plays_silence_and_counts() {
        let (mut feed, mut render, stats) = ring(4, 2);
        assert_eq!(feed.push(&[0.1, 0.1, 0.2, 0.2, 0.3, 0.3], 2), 6);
        assert_eq!(feed.push(&[0.4, 0.4, 0.5, 0.5], 2), 2, "only the frame that fits");
        let mut out = [9.0f32; 6];
        render.render(&mut out, 0);
        assert_eq!(out, [0.1, 0.1, 0.2, 0.2, 0.3, 0.3]);
        assert_eq!(stats.underruns.load(Ordering::Relaxed), 0);
        render.render(&mut out, 0);
        assert_eq!(out, [0.4, 0.4, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(stats.underruns.load(Ordering::Relaxed), 1);
        assert_eq!(feed.space(), 8);
    }
}
