//! WhatsSound's audio: reading what a track is, decoding it, and playing it in sync with the room
//! through a sound device (or a null or WAV output that behaves like one).
//!
//! - [`probe`]: [`probe_file`] reads a file's title, artist, album and duration, or says in one
//!   line why it cannot be played.
//! - [`decode`]: [`Decoder`] turns a track into interleaved `f32`, a packet at a time, skipping
//!   damaged packets and refusing what is not audio.
//! - [`opus`]: [`transcode_to_opus`] re-encodes a track as Ogg Opus (libopus) for listeners on thin
//!   links, timed exactly as the original; the [`Decoder`] plays such copies too.
//! - [`arriving`]: a download the decoder reads while it grows ([`Arrival`] writes,
//!   [`ArrivingReader`]s wait for bytes not yet here), so a track plays before it is all fetched.
//! - [`engine`]: [`SyncRender`], the output side of synced playback: each period it plays the frame
//!   the host's timeline names at that period's output instant, jumping or trimming to get there.
//! - [`output`]: the [`Output`] trait and [`PacedOutput`] (null or WAV file, paced in real time,
//!   reporting when its first frame sounded); a [`Render`] fills each period; [`Volume`].
//! - [`device`]: [`DeviceOutput`], the sound device through cpal, timed by cpal's own timestamps,
//!   smoothed by `callback_timer` (a least-squares line through ~10 s of readings).
//! - [`resample`]: a track's rate to the output's (rubato FFT), with its delay removed so frame
//!   arithmetic stays exact.
//! - [`ring`]: the wait-free hand-over from the decoder to the output ([`Feed`] → [`RingRender`]),
//!   silence and a count on underrun.
//! - [`wav`]: writes small PCM WAV files (with INFO tags), for tests and demo tracks.
//! - [`clock`]: re-exported from `whatssound-clock`: monotonic clocks and [`ClockOffset`], the
//!   estimate of the host's clock.
//! - [`playout`]: which frame should sound when, and the correction (a jump beyond a few ms,
//!   else a trim of at most ±500 ppm on top of the device's measured rate).
//! - [`varispeed`]: plays the stream that much faster or slower, by windowed-sinc interpolation
//!   in the audio callback (no dropped or repeated frames).

pub mod arriving;
mod callback_timer;
pub mod decode;
pub mod device;
pub mod engine;
pub mod opus;
pub mod output;
pub mod playout;
pub mod probe;
pub mod resample;
pub mod ring;
pub mod varispeed;
pub mod wav;

pub use arriving::{Arrival, ArrivingBytes, ArrivingReader, arriving};
// Time lives below audio (the room's authority and replicas tell time too, and play nothing);
// it is re-exported here for the player's users.
pub use decode::{DecodeError, Decoder, first_channels};
pub use device::{DeviceOutput, device_names};
pub use engine::{EngineControl, EngineStats, SyncRender, Timeline, engine};
pub use opus::{OPUS_DEFAULT_KBPS, OPUS_KBPS, OPUS_RATE, TranscodeError, Transcoded, opus_bitrate, transcode_to_opus};
pub use output::{DeviceStats, Gain, Output, OutputError, PacedOutput, Playing, Render, Volume};
pub use playout::{Correction, Playout, PlayoutConfig, TimelineRate, target_frame};
pub use probe::{Cover, ProbeError, TrackInfo, cover_of_file, probe_bytes, probe_file};
pub use resample::{ResampleError, Resampler};
pub use ring::{Feed, RingRender, RingStats, ring};
pub use varispeed::Varispeed;
pub use whatssound_clock as clock;
pub use whatssound_clock::{Clock, ClockOffset, Estimate, Exchange, MonotonicClock, Nanos, SkewedClock};
