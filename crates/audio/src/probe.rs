//! What a file is: its tags, duration and cover art, read by symphonia's probe.

use std::fs::File;
use std::path::Path;

use symphonia::core::formats::{FormatReader, TrackType};
use symphonia::core::io::MediaSource;
use symphonia::core::meta::{StandardTag, StandardVisualKey};

use crate::decode::open_format;

/// A track's embedded picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cover {
    /// The picture's media type, e.g. `image/jpeg`.
    pub media_type: String,
    pub data: Vec<u8>,
}

/// What the queue shows for a track.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackInfo {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub duration_ms: Option<u64>,
}

/// Why a file cannot be queued; each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: not a supported audio file ({reason}); use mp3, flac, ogg/vorbis, wav or m4a/aac")]
    Unsupported { path: String, reason: String },
    #[error("{path}: the file has no audio track")]
    NoAudio { path: String },
}

/// Reads `path`'s tags and duration. Only the container is parsed, not the audio.
pub fn probe_file(path: &Path) -> Result<TrackInfo, ProbeError> {
    let (mut format, shown) = open_file(path)?;
    info_of(format.as_mut(), &shown)
}

/// Reads the tags and duration of a file held in memory (a download, an upload); `name` names it
/// in errors, `extension` hints at its format.
pub fn probe_bytes(bytes: Vec<u8>, extension: Option<&str>, name: &str) -> Result<TrackInfo, ProbeError> {
    let source: Box<dyn MediaSource> = Box::new(std::io::Cursor::new(bytes));
    let mut format = open_format(source, extension).map_err(|reason| ProbeError::Unsupported { path: name.to_owned(), reason })?;
    info_of(format.as_mut(), name)
}

/// `path`'s embedded picture: the front cover if it says which one that is, else the first.
pub fn cover_of_file(path: &Path) -> Result<Option<Cover>, ProbeError> {
    let (mut format, _) = open_file(path)?;
    let mut metadata = format.metadata();
    let Some(revision) = metadata.skip_to_latest() else { return Ok(None) };
    let visuals = &revision.media.visuals;
    let chosen = visuals.iter().find(|v| v.usage == Some(StandardVisualKey::FrontCover)).or_else(|| visuals.first());
    Ok(chosen
        .filter(|v| !v.data.is_empty())
        .map(|v| Cover { media_type: v.media_type.clone().unwrap_or_else(|| "application/octet-stream".into()), data: v.data.to_vec() }))
}

fn open_file(path: &Path) -> Result<(Box<dyn FormatReader>, String), ProbeError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|error| ProbeError::Io { path: shown.clone(), error })?;
    let format = open_format(Box::new(file), path.extension().and_then(|e| e.to_str()))
        .map_err(|reason| ProbeError::Unsupported { path: shown.clone(), reason })?;
    Ok((format, shown))
}

fn info_of(format: &mut dyn FormatReader, shown: &str) -> Result<TrackInfo, ProbeError> {
    let track = format.default_track(TrackType::Audio).ok_or_else(|| ProbeError::NoAudio { path: shown.to_owned() })?;
    let duration_ms = track
        .time_base
        .zip(track.duration)
        .and_then(|(base, duration)| base.calc_duration(duration))
        .map(|t| t.as_secs_f64())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| (s * 1000.0).round() as u64);
    let mut info = TrackInfo { duration_ms, ..TrackInfo::default() };
    let mut metadata = format.metadata();
    if let Some(revision) = metadata.skip_to_latest() {
        for tag in &revision.media.tags {
            let (slot, value) = match &tag.std {
                Some(StandardTag::TrackTitle(v)) => (&mut info.title, v),
                Some(StandardTag::Artist(v)) => (&mut info.artist, v),
                Some(StandardTag::Album(v)) => (&mut info.album, v),
                _ => continue,
            };
            let value = value.trim();
            if slot.is_none() && !value.is_empty() {
                *slot = Some(value.to_owned());
            }
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wav;

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("whatssound-probe-{}-{name}", std::process::id()))
    }

    #[test]
    fn reads_the_duration_of_a_wav() {
        // symphonia 0.6.1's WAV reader parses LIST/INFO but drops it (it keeps only the probe's
        // external metadata), so WAV titles fall back to the file name; the duration is exact.
        let path = temp("tone.wav");
        std::fs::write(&path, wav::sine(48_000, 2, 1.5, 440.0, &wav::Tags::default())).unwrap();
        assert_eq!(probe_file(&path).unwrap(), TrackInfo { duration_ms: Some(1500), ..TrackInfo::default() });
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn reads_id3v2_tags_of_an_mp3() {
        let path = temp("tagged.mp3");
        std::fs::write(&path, silent_mp3_with_id3("Morning Light", "The Testers", "Fixtures")).unwrap();
        let info = probe_file(&path).unwrap();
        assert_eq!(info.title.as_deref(), Some("Morning Light"));
        assert_eq!(info.artist.as_deref(), Some("The Testers"));
        assert_eq!(info.album.as_deref(), Some("Fixtures"));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn reads_an_embedded_cover_and_probes_bytes_in_memory() {
        let path = temp("cover.mp3");
        let picture = b"\x89PNG\r\n\x1a\nnot really a png but bytes".to_vec();
        std::fs::write(&path, silent_mp3_with_picture("Covered", &picture)).unwrap();
        let cover = cover_of_file(&path).unwrap().expect("a cover");
        assert_eq!(cover, Cover { media_type: "image/png".into(), data: picture });
        let plain = temp("plain.mp3");
        std::fs::write(&plain, silent_mp3_with_id3("a", "b", "c")).unwrap();
        assert_eq!(cover_of_file(&plain).unwrap(), None);
        let info = probe_bytes(std::fs::read(&path).unwrap(), Some("mp3"), "upload").unwrap();
        assert_eq!(info.title.as_deref(), Some("Covered"));
        let err = probe_bytes(b"hello".to_vec(), None, "upload.bin").unwrap_err().to_string();
        assert!(err.starts_with("upload.bin: not a supported audio file"), "{err}");
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&plain);
    }

    /// An ID3v2.3 tag, then 40 silent MPEG-1 Layer III frames (128 kbit/s, 44.1 kHz).
    fn silent_mp3_with_id3(title: &str, artist: &str, album: &str) -> Vec<u8> {
        let frames: Vec<(&[u8; 4], Vec<u8>)> =
            [(b"TIT2", title), (b"TPE1", artist), (b"TALB", album)].into_iter().map(|(id, text)| (id, text_frame(text))).collect();
        mp3_with_frames(&frames)
    }

    /// A title and an `APIC` front cover (PNG).
    fn silent_mp3_with_picture(title: &str, picture: &[u8]) -> Vec<u8> {
        let mut apic = vec![0u8]; // encoding
        apic.extend_from_slice(b"image/png\0");
        apic.push(3); // front cover
        apic.extend_from_slice(b"\0"); // empty description
        apic.extend_from_slice(picture);
        mp3_with_frames(&[(b"TIT2", text_frame(title)), (b"APIC", apic)])
    }

    /// A text frame's body: encoding 0 (Latin-1), then the text.
    fn text_frame(text: &str) -> Vec<u8> {
        let mut body = vec![0u8];
        body.extend_from_slice(text.as_bytes());
        body
    }

    fn mp3_with_frames(id3_frames: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let mut frames = Vec::new();
        for (id, body) in id3_frames {
            frames.extend_from_slice(*id);
            frames.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
            frames.extend_from_slice(&[0, 0]); // flags
            frames.extend_from_slice(body);
        }
        let size = u32::try_from(frames.len()).unwrap();
        let syncsafe = [(size >> 21) & 0x7f, (size >> 14) & 0x7f, (size >> 7) & 0x7f, size & 0x7f].map(|b| b as u8);
        let mut out = b"ID3\x03\x00\x00".to_vec();
        out.extend_from_slice(&syncsafe);
        out.extend_from_slice(&frames);
        for _ in 0..40 {
            let mut frame = vec![0u8; 417];
            frame[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
            out.extend_from_slice(&frame);
        }
        out
    }

    #[test]
    fn bad_files_say_what_is_wrong_in_one_line() {
        let text = temp("notes.mp3");
        std::fs::write(&text, b"this is a shopping list, not a song").unwrap();
        let truncated = temp("cut.wav");
        std::fs::write(&truncated, &wav::sine(8_000, 1, 0.1, 440.0, &wav::Tags::default())[..20]).unwrap();
        for (path, needle) in
            [(&text, "not a supported audio file"), (&truncated, "not a supported audio file"), (&temp("missing.flac"), "No such file")]
        {
            let err = probe_file(path).unwrap_err().to_string();
            assert!(err.contains(needle) && err.contains(&path.display().to_string()), "{err}");
            assert!(!err.contains('\n'));
        }
        let _ = std::fs::remove_file(&text);
        let _ = std::fs::remove_file(&truncated);
    }
}
