//! A player's decks: one track's engine each, swapped under the output without blocking it, and
//! the thread that decodes a track into its deck's ring.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rtrb::{Consumer, Producer};
use whatssound_audio::{Decoder, Nanos, Render, Resampler, SyncRender};

use crate::player::CHANNELS;

/// Swaps the deck (one track's engine) under the output without blocking it: new decks arrive
/// through one queue, old ones leave through another to be dropped on the control side.
pub(crate) struct Deck {
    pub(crate) incoming: Consumer<Box<SyncRender>>,
    pub(crate) retired: Producer<Box<SyncRender>>,
    pub(crate) current: Option<Box<SyncRender>>,
}

impl Render for Deck {
    fn render(&mut self, out: &mut [f32], sounds_at: Nanos) {
        if let Ok(next) = self.incoming.pop()
            && let Some(old) = self.current.replace(next)
        {
            // If the retire queue is full the old deck is dropped here: rare, and only a free.
            let _ = self.retired.push(old);
        }
        match self.current.as_mut() {
            Some(deck) => deck.render(out, sounds_at),
            None => out.fill(0.0),
        }
    }

    fn frame(&self) -> Option<i64> {
        self.current.as_ref().and_then(|deck| deck.frame())
    }
}

/// Why a deck stopped: its bytes are not audio this build decodes, or could not be resampled to
/// the output's rate. A [`PlayerEvent::Unplayable`] says it to the room in one line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DeckError {
    #[error(transparent)]
    Decode(#[from] whatssound_audio::DecodeError),
    #[error(transparent)]
    Resample(#[from] whatssound_audio::ResampleError),
}

/// The decode thread: keeps the ring full — decoded, mapped to stereo, resampled to the output rate.
/// Decoding is hundreds of times faster than real time, so a deck that starts mid-track decodes
/// from the beginning and discards the first `skip_frames` output frames (no container seeking,
/// whose accuracy varies by format). The discarded audio is dropped before the resampler, which
/// would otherwise do most of the work for nothing.
pub(crate) fn decode_into(
    mut decoder: Decoder,
    mut resampler: Option<Resampler>,
    mut ring: Producer<f32>,
    stop: &AtomicBool,
    skip_frames: i64,
) -> Result<(), DeckError> {
    let skip_frames = u64::try_from(skip_frames).unwrap_or(0);
    let (skip_in, skip_out) = resampler.as_ref().map_or((0, skip_frames), |r| r.split_skip(skip_frames));
    let mut skip_in = usize::try_from(skip_in).unwrap_or(usize::MAX).saturating_mul(usize::from(CHANNELS));
    let mut skip = usize::try_from(skip_out).unwrap_or(usize::MAX).saturating_mul(usize::from(CHANNELS));
    let mut decoded = Vec::new();
    let mut stereo = Vec::new();
    let mut resampled = Vec::new();
    let channels = decoder.channels();
    loop {
        if stop.load(Ordering::Acquire) {
            return Ok(());
        }
        decoded.clear();
        let more = decoder.next_packet(&mut decoded)?;
        stereo.clear();
        whatssound_audio::first_channels(&decoded, channels, 2, &mut stereo);
        let dropped_in = skip_in.min(stereo.len());
        skip_in -= dropped_in;
        let fresh = &stereo[dropped_in..];
        let ready: &[f32] = match resampler.as_mut() {
            Some(r) => {
                resampled.clear();
                let done = if more {
                    r.push(fresh, &mut resampled)
                } else {
                    r.push(fresh, &mut resampled).and_then(|()| r.finish(&mut resampled))
                };
                done?;
                &resampled
            }
            None => fresh,
        };
        let dropped = skip.min(ready.len());
        skip -= dropped;
        let mut rest = &ready[dropped..];
        while !rest.is_empty() {
            if stop.load(Ordering::Acquire) {
                return Ok(());
            }
            let (done, _) = ring.push_partial_slice(rest);
            rest = &rest[done.len()..];
            if !rest.is_empty() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if !more {
            return Ok(());
        }
    }
}
