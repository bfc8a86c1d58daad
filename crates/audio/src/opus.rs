//! Opus for thin links: a track re-encoded by libopus into an Ogg Opus stream that plays in sync
//! with the original.
//!
//! A FLAC of ~1 Mbit/s does not fit a listener's 600 kbit/s link; the same track as 96 kbit/s
//! Opus does, ten times over. What must not change is time: a listener playing the Opus copy and
//! one playing the FLAC must hear frame `n` at the same instant. So:
//! - the source is resampled to 48 kHz (Opus's own rate) by [`Resampler`], which removes its own
//!   delay, so 48 kHz frame `n` is source time `n / 48,000`;
//! - the encoder's look-ahead is written as the stream's pre-skip (RFC 7845), which the decoder
//!   drops, so decoded frame `n` is encoded frame `n`;
//! - the last page's granule position ends the stream at the source's last frame, so the copy is
//!   exactly as long as the original (the last 20 ms packet's padding is cut).
//!
//! Pages are written about once a second, so a reader that follows the file as it grows (a
//! listener's download) can start playing from the first ones while the rest is encoded.
//!
//! A copy may start at a whole second `from_s` of the source (for a listener joining mid-track on
//! a thin link, who would otherwise download everything before it): its frame 0 is then source
//! time `from_s`, exactly, at any source rate.

use std::io::Write;

use ogg::writing::{PacketWriteEndInfo, PacketWriter};
use opusic_c::{Application, Bitrate, Channels, Encoder, SampleRate};

use crate::{DecodeError, Decoder, ResampleError, Resampler};

/// Opus always decodes at 48 kHz here; the source is resampled to it before encoding.
pub const OPUS_RATE: u32 = 48_000;
/// 20 ms packets: Opus's usual size for music, and a page of 50 is one second.
const FRAME: usize = 960;
const PACKETS_PER_PAGE: u64 = 50;
/// The stream's serial number; one logical stream per file, so any value does.
const SERIAL: u32 = 0x5753_4f50;
/// Room for the largest Opus packet (RFC 6716 caps one at 1,275 bytes per frame).
const MAX_PACKET: usize = 4_000;
/// The bitrates copies are made at (kbit/s): below 32 stereo music falls apart, above 256 a copy
/// saves little over the original. A request between two is served the lower, so a track has
/// at most this many copies however many bitrates are asked for.
pub const OPUS_KBPS: [u32; 8] = [32, 48, 64, 96, 128, 160, 192, 256];
/// The bitrate asked for unless told otherwise: transparent for most music, a tenth of a FLAC.
pub const OPUS_DEFAULT_KBPS: u32 = 96;

/// The bitrate a copy asked at `kbps` is made at; `None` outside [`OPUS_KBPS`].
pub fn opus_bitrate(kbps: u32) -> Option<u32> {
    let lowest = OPUS_KBPS[0];
    let highest = OPUS_KBPS[OPUS_KBPS.len() - 1];
    (lowest..=highest).contains(&kbps).then(|| OPUS_KBPS.iter().copied().filter(|k| *k <= kbps).max().unwrap_or(lowest))
}

/// Why a track could not be re-encoded; each message names the track.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("{name}: {error}")]
    Resample { name: String, error: ResampleError },
    #[error("{name}: the Opus encoder refused it: {reason}")]
    Encoder { name: String, reason: String },
    #[error("{name}: writing the Opus copy: {error}")]
    Write { name: String, error: std::io::Error },
}

/// What a finished re-encode holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transcoded {
    /// 48 kHz frames the copy plays (the source's length at 48 kHz).
    pub frames: u64,
    pub channels: usize,
}

/// Re-encodes what `decoder` holds from second `from_s` on as Ogg Opus at `kbps` (clamped to
/// [`OPUS_KBPS`]) into `out`, page by page. More than two channels keep the first two, as the
/// player does.
pub fn transcode_to_opus(mut decoder: Decoder, kbps: u32, from_s: u64, out: impl Write, name: &str) -> Result<Transcoded, TranscodeError> {
    let kbps = kbps.clamp(OPUS_KBPS[0], OPUS_KBPS[OPUS_KBPS.len() - 1]);
    let resample_error = |error: ResampleError| TranscodeError::Resample { name: name.to_owned(), error };
    let encoder_error = |reason: String| TranscodeError::Encoder { name: name.to_owned(), reason };
    let write_error = |error: std::io::Error| TranscodeError::Write { name: name.to_owned(), error };
    let source_channels = decoder.channels();
    let channels = source_channels.min(2);
    let mut encoder = Encoder::new(if channels == 1 { Channels::Mono } else { Channels::Stereo }, SampleRate::Hz48000, Application::Audio)
        .map_err(|e| encoder_error(format!("{e:?}")))?;
    encoder.set_bitrate(Bitrate::Value(kbps.saturating_mul(1000))).map_err(|e| encoder_error(format!("bitrate {kbps} kbit/s: {e:?}")))?;
    let pre_skip = encoder.get_look_ahead().map_err(|e| encoder_error(format!("{e:?}")))?;

    let mut ogg = PacketWriter::new(out);
    ogg.write_packet(opus_head(channels, pre_skip, decoder.rate()), SERIAL, PacketWriteEndInfo::EndPage, 0).map_err(write_error)?;
    ogg.write_packet(opus_tags(), SERIAL, PacketWriteEndInfo::EndPage, 0).map_err(write_error)?;

    let mut resampler = match decoder.rate() {
        OPUS_RATE => None,
        rate => Some(Resampler::new(rate, OPUS_RATE, channels).map_err(resample_error)?),
    };
    // Dropped before the resampler, whose first output is then source time `from_s` exactly.
    let mut skip = usize::try_from(from_s.saturating_mul(u64::from(decoder.rate()))).unwrap_or(usize::MAX).saturating_mul(channels);
    let mut stream = Packets { encoder, pending: Vec::new(), channels, packet: Vec::with_capacity(MAX_PACKET), sent: 0, frames_in: 0 };
    let (mut decoded, mut picked, mut resampled) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        decoded.clear();
        let more = decoder.next_packet(&mut decoded)?;
        picked.clear();
        crate::first_channels(&decoded, source_channels, channels, &mut picked);
        let dropped = skip.min(picked.len());
        skip -= dropped;
        let fresh = &picked[dropped..];
        let ready = match resampler.as_mut() {
            Some(r) => {
                resampled.clear();
                r.push(fresh, &mut resampled).map_err(resample_error)?;
                if !more {
                    r.finish(&mut resampled).map_err(resample_error)?;
                }
                &resampled
            }
            None => fresh,
        };
        stream.frames_in += (ready.len() / channels) as u64;
        stream.pending.extend_from_slice(ready);
        stream.encode_whole_frames(&mut ogg, pre_skip, false, name)?;
        if !more {
            break;
        }
    }
    // The encoder holds its look-ahead: feed that much silence, padded to whole packets, so the
    // source's last frame comes out, then cut the stream there by the last granule position.
    stream.pending.resize(stream.pending.len() + pre_skip as usize * channels, 0.0);
    let whole = stream.pending.len().div_ceil(FRAME * channels) * FRAME * channels;
    stream.pending.resize(whole.max(FRAME * channels), 0.0);
    stream.encode_whole_frames(&mut ogg, pre_skip, true, name)?;
    ogg.into_inner().flush().map_err(write_error)?;
    Ok(Transcoded { frames: stream.frames_in, channels })
}

/// The encoder's side of the stream: 48 kHz samples waiting to fill a packet, and how many
/// packets have gone into pages.
struct Packets {
    encoder: Encoder,
    pending: Vec<f32>,
    channels: usize,
    packet: Vec<u8>,
    sent: u64,
    frames_in: u64,
}

impl Packets {
    fn encode_whole_frames(
        &mut self,
        ogg: &mut PacketWriter<'_, impl Write>,
        pre_skip: u32,
        last: bool,
        name: &str,
    ) -> Result<(), TranscodeError> {
        let step = FRAME * self.channels;
        let whole = self.pending.len() / step * step;
        let count = whole / step;
        for (i, frame) in self.pending[..whole].chunks(step).enumerate() {
            self.packet.clear();
            self.encoder
                .encode_float_to_vec(frame, &mut self.packet)
                .map_err(|e| TranscodeError::Encoder { name: name.to_owned(), reason: format!("{e:?}") })?;
            self.sent += 1;
            let end_of_stream = last && i + 1 == count;
            // A granule position counts decoded frames, pre-skip included; the last one ends the
            // stream at the source's last frame, cutting the padding of the last packet.
            let granule = if end_of_stream { self.frames_in + u64::from(pre_skip) } else { self.sent * FRAME as u64 };
            let end = match (end_of_stream, self.sent.is_multiple_of(PACKETS_PER_PAGE)) {
                (true, _) => PacketWriteEndInfo::EndStream,
                (false, true) => PacketWriteEndInfo::EndPage,
                (false, false) => PacketWriteEndInfo::NormalPacket,
            };
            ogg.write_packet(self.packet.clone(), SERIAL, end, granule)
                .map_err(|error| TranscodeError::Write { name: name.to_owned(), error })?;
        }
        self.pending.drain(..whole);
        Ok(())
    }
}

/// The identification header (RFC 7845 §5.1): channel mapping family 0 (mono or stereo).
fn opus_head(channels: usize, pre_skip: u32, input_rate: u32) -> Vec<u8> {
    let mut head = b"OpusHead".to_vec();
    head.push(1);
    head.push(channels as u8);
    head.extend_from_slice(&u16::try_from(pre_skip).unwrap_or(u16::MAX).to_le_bytes());
    head.extend_from_slice(&input_rate.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes());
    head.push(0);
    head
}

/// The comment header (RFC 7845 §5.2): a vendor string and no tags (the room knows the track's).
fn opus_tags() -> Vec<u8> {
    let vendor = b"WhatsSound (libopus)";
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor);
    tags.extend_from_slice(&0u32.to_le_bytes());
    tags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wav;

    /// Frames of 48 kHz audio decoded from an Opus copy of `source`, and the copy's size.
    fn round_trip(source: Vec<u8>, kbps: u32) -> (Vec<f32>, usize, usize, Transcoded) {
        let decoder = Decoder::open_bytes(source, Some("wav"), "source.wav").unwrap();
        let mut copy = Vec::new();
        let done = transcode_to_opus(decoder, kbps, 0, &mut copy, "source.wav").unwrap();
        let size = copy.len();
        let mut back = Decoder::open_bytes(copy, Some("opus"), "copy.opus").unwrap();
        assert_eq!(back.rate(), OPUS_RATE);
        let channels = back.channels();
        let mut out = Vec::new();
        while back.next_packet(&mut out).unwrap() {}
        (out, channels, size, done)
    }

    fn peak(samples: impl Iterator<Item = f32>) -> usize {
        samples.enumerate().fold((0, 0.0f32), |best, (i, v)| if v.abs() > best.1 { (i, v.abs()) } else { best }).0
    }

    #[test]
    fn a_44_1_khz_track_plays_from_its_opus_copy_at_the_same_instants_and_length() {
        // Stereo, 3 s of quiet noise with a click at exactly 1.0 s in both channels.
        let rate = 44_100;
        let mut seed = 1u32;
        let mut samples: Vec<i16> = (0..rate * 3 * 2)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((seed >> 16) as i16) / 64
            })
            .collect();
        samples[rate * 2] = 30_000;
        samples[rate * 2 + 1] = 30_000;
        let (out, channels, size, done) = round_trip(wav::pcm16(rate as u32, 2, &samples, &wav::Tags::default()), 96);
        assert_eq!((channels, done.channels), (2, 2));
        let frames = out.len() / 2;
        assert_eq!(done.frames, 144_000, "3 s at 48 kHz");
        assert_eq!(frames, 144_000, "the copy is as long as the source, padding cut");
        let click = peak(out.iter().step_by(2).copied());
        assert!((click as i64 - 48_000).abs() <= 2, "the click sounds at frame {click}, not 48,000 (1.0 s)");
        // 96 kbit/s for 3 s is ~36 KB; the WAV was 529 KB.
        assert!(size < 45_000, "{size} bytes");
    }

    #[test]
    fn a_copy_from_a_whole_second_starts_at_that_instant_of_the_source() {
        // 44.1 kHz mono, 4 s, a click at 2.5 s: a copy from second 2 has it at 0.5 s.
        let mut samples = vec![0i16; 44_100 * 4];
        samples[110_250] = 30_000;
        let source = wav::pcm16(44_100, 1, &samples, &wav::Tags::default());
        let mut copy = Vec::new();
        let done = transcode_to_opus(Decoder::open_bytes(source, Some("wav"), "s.wav").unwrap(), 64, 2, &mut copy, "s.wav").unwrap();
        assert_eq!(done.frames, 96_000, "the last 2 s");
        let mut back = Decoder::open_bytes(copy, Some("opus"), "copy.opus").unwrap();
        let mut out = Vec::new();
        while back.next_packet(&mut out).unwrap() {}
        assert_eq!(out.len(), 96_000);
        let click = peak(out.iter().copied());
        assert!((click as i64 - 24_000).abs() <= 2, "click at {click}, not 24,000 (0.5 s)");
    }

    #[test]
    fn three_channels_keep_the_first_two_and_bitrates_snap_to_the_steps() {
        let samples: Vec<i16> = (0..48_000 * 3).map(|i| if i % 3 == 2 { 20_000 } else { 0 }).collect();
        let (out, channels, _, done) = round_trip(wav::pcm16(48_000, 3, &samples, &wav::Tags::default()), 64);
        assert_eq!((channels, done.channels, out.len() / 2), (2, 2, 48_000));
        assert!(out.iter().all(|v| v.abs() < 0.05), "the third channel (loud) is not in the copy");
        assert_eq!((opus_bitrate(96), opus_bitrate(100), opus_bitrate(32), opus_bitrate(256)), (Some(96), Some(96), Some(32), Some(256)));
        assert_eq!((opus_bitrate(31), opus_bitrate(257)), (None, None));
    }

    #[test]
    fn a_mono_48_khz_track_stays_mono_and_in_time() {
        let mut samples = vec![0i16; 48_000];
        samples[12_345] = 30_000;
        let (out, channels, _, done) = round_trip(wav::pcm16(48_000, 1, &samples, &wav::Tags::default()), 64);
        assert_eq!((channels, done.channels, out.len()), (1, 1, 48_000));
        let click = peak(out.iter().copied());
        assert!((click as i64 - 12_345).abs() <= 2, "click at {click}");
    }

    #[test]
    fn a_copy_plays_from_its_first_pages_while_the_rest_is_on_its_way_and_to_where_it_was_cut() {
        let source = wav::sine(48_000, 2, 4.0, 440.0, &wav::Tags::default());
        let mut copy = Vec::new();
        transcode_to_opus(Decoder::open_bytes(source, Some("wav"), "s.wav").unwrap(), 96, 0, &mut copy, "s.wav").unwrap();
        let (arrival, bytes) = crate::arriving();
        arrival.expect(Some(copy.len() as u64));
        arrival.append(&copy[..copy.len() / 2]);
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = bytes.forward_reader();
        std::thread::spawn(move || {
            let mut back = Decoder::open(Box::new(reader), Some("opus"), "half.opus".into()).unwrap();
            let mut out = Vec::new();
            for _ in 0..25 {
                back.next_packet(&mut out).unwrap();
            }
            let _ = tx.send(out.len() / 2);
            while back.next_packet(&mut out).unwrap() {}
            let _ = tx.send(out.len() / 2);
        });
        let first = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the first half second decodes with half the copy here");
        assert!(first >= 20_000, "{first} frames");
        // The download stops there: the copy plays the whole pages that came, and ends.
        arrival.finish();
        let all = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        // Pages are a second each; half the bytes hold the first one or two of them whole.
        assert!((47_000..=97_000).contains(&all), "one or two seconds of four: {all} frames");
    }
}
