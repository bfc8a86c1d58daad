//! Decoding a track to interleaved `f32` samples with symphonia.
//!
//! One packet at a time, so the caller decides how far ahead to decode (a listener decodes just
//! ahead of the output's ring buffer, never the whole file). A damaged packet is skipped and
//! counted — one bad frame in a long file should not end the song — while a file that cannot be
//! opened as audio at all is refused with the reason.

use std::fs::File;
use std::path::Path;
use std::sync::OnceLock;

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::codecs::registry::CodecRegistry;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

/// Why a track cannot be decoded; each message names the track.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{name}: {error}")]
    Io { name: String, error: std::io::Error },
    #[error("{name}: not playable audio ({reason})")]
    Unsupported { name: String, reason: String },
}

/// Opens a container with symphonia's probe (the one place both reading tags and decoding start);
/// the error is symphonia's reason.
pub(crate) fn open_format(source: Box<dyn MediaSource>, extension: Option<&str>) -> Result<Box<dyn FormatReader>, String> {
    let stream = MediaSourceStream::new(source, Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = extension {
        hint.with_extension(ext);
    }
    symphonia::default::get_probe().probe(&hint, stream, FormatOptions::default(), MetadataOptions::default()).map_err(|e| e.to_string())
}

/// Symphonia's decoders and libopus's: symphonia reads Ogg Opus but has no Opus decoder of its
/// own, and the Opus copies the host makes for thin links must play.
fn codecs() -> &'static CodecRegistry {
    static CODECS: OnceLock<CodecRegistry> = OnceLock::new();
    CODECS.get_or_init(|| {
        let mut registry = CodecRegistry::new();
        symphonia::default::register_enabled_codecs(&mut registry);
        registry.register_audio_decoder::<symphonia_adapter_libopus::OpusDecoder>();
        registry
    })
}

/// A decoder positioned in one track.
pub struct Decoder {
    name: String,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track: u32,
    rate: u32,
    channels: usize,
    skipped: u64,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").field("name", &self.name).field("rate", &self.rate).field("channels", &self.channels).finish()
    }
}

impl Decoder {
    pub fn open_file(path: &Path) -> Result<Self, DecodeError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|error| DecodeError::Io { name: name.clone(), error })?;
        Decoder::open(Box::new(file), path.extension().and_then(|e| e.to_str()), name)
    }

    /// Bytes already in memory (a downloaded or cached track); `extension` helps the probe.
    pub fn open_bytes(bytes: Vec<u8>, extension: Option<&str>, name: &str) -> Result<Self, DecodeError> {
        Decoder::open(Box::new(std::io::Cursor::new(bytes)), extension, name.to_owned())
    }

    /// Any source of a track's bytes (one still downloading: [`crate::ArrivingReader`]).
    pub fn open(source: Box<dyn MediaSource>, extension: Option<&str>, name: String) -> Result<Self, DecodeError> {
        let unsupported = |reason: String| DecodeError::Unsupported { name: name.clone(), reason };
        let format = open_format(source, extension).map_err(unsupported)?;
        let track = format.default_track(TrackType::Audio).ok_or_else(|| unsupported("no audio track".into()))?;
        let params = track.codec_params.as_ref().and_then(|p| p.audio()).ok_or_else(|| unsupported("no audio codec parameters".into()))?;
        let rate = params.sample_rate.ok_or_else(|| unsupported("no sample rate".into()))?;
        let channels =
            params.channels.as_ref().map(|c| c.count()).filter(|c| *c > 0).ok_or_else(|| unsupported("no channel layout".into()))?;
        let decoder = codecs().make_audio_decoder(params, &AudioDecoderOptions::default()).map_err(|e| unsupported(e.to_string()))?;
        let track = track.id;
        Ok(Decoder { name, format, decoder, track, rate, channels, skipped: 0 })
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Damaged packets skipped so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Decodes the next packet, appending its frames (interleaved) to `out`. `false` at the end.
    pub fn next_packet(&mut self, out: &mut Vec<f32>) -> Result<bool, DecodeError> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(false),
                // A file cut short ends where it ends: play what is there.
                Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
                Err(SymphoniaError::IoError(error)) => return Err(DecodeError::Io { name: self.name.clone(), error }),
                Err(e) => return Err(DecodeError::Unsupported { name: self.name.clone(), reason: e.to_string() }),
            };
            if packet.track_id != self.track {
                continue;
            }
            match self.decoder.decode(&packet) {
                Ok(buf) => {
                    let mut samples = Vec::new();
                    buf.copy_to_vec_interleaved(&mut samples);
                    out.extend_from_slice(&samples);
                    return Ok(true);
                }
                Err(SymphoniaError::DecodeError(_)) => self.skipped += 1,
                Err(e) => return Err(DecodeError::Unsupported { name: self.name.clone(), reason: e.to_string() }),
            }
        }
    }
}

/// Appends `interleaved` (frames of `channels`) to `out` as `keep` channels (1 or 2): the left,
/// then the right, or the left again where a frame has none (a decoder may hand over fewer
/// channels than its track said: an MP3 with mono frames). More channels than two are dropped.
/// The player plays stereo this way and the Opus copies are made this way, so both hear alike.
pub fn first_channels(interleaved: &[f32], channels: usize, keep: usize, out: &mut Vec<f32>) {
    for frame in interleaved.chunks(channels.max(1)) {
        let left = frame[0];
        out.push(left);
        if keep == 2 {
            out.push(*frame.get(1).unwrap_or(&left));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wav;

    #[test]
    fn a_wav_decodes_to_the_samples_it_was_made_of() {
        let samples: Vec<i16> = (0..4_800).map(|i| ((i * 37) % 20_000 - 10_000) as i16).collect();
        let bytes = wav::pcm16(48_000, 2, &samples, &wav::Tags::default());
        let mut d = Decoder::open_bytes(bytes, Some("wav"), "test.wav").unwrap();
        assert_eq!((d.rate(), d.channels()), (48_000, 2));
        let mut out = Vec::new();
        while d.next_packet(&mut out).unwrap() {}
        assert_eq!(out.len(), samples.len());
        for (got, want) in out.iter().zip(&samples) {
            assert!((got - f32::from(*want) / 32_768.0).abs() < 1e-4, "{got} vs {want}");
        }
        assert_eq!(d.skipped(), 0);
    }

    #[test]
    fn a_truncated_file_plays_what_is_there_and_junk_is_refused() {
        let bytes = wav::sine(8_000, 1, 1.0, 440.0, &wav::Tags::default());
        let cut = bytes[..bytes.len() / 2].to_vec();
        let mut d = Decoder::open_bytes(cut, Some("wav"), "cut.wav").unwrap();
        let mut out = Vec::new();
        while d.next_packet(&mut out).unwrap() {}
        assert!(out.len() > 3_000 && out.len() < 4_000, "about half a second: {}", out.len());

        let err = Decoder::open_bytes(b"not audio at all".to_vec(), Some("mp3"), "notes.mp3").unwrap_err().to_string();
        assert!(err.starts_with("notes.mp3: not playable audio"), "{err}");
    }
}
