//! Opus copies of the host's tracks, for listeners whose link is too thin for the original
//! (`GET /media/{track}?format=opus&kbps=96`).
//!
//! A copy is made once per track and bitrate, on the first request, and kept in the room's
//! `copies/` folder: every later listener (and the same one after a seek) is served the file
//! with Range like any other. Its name carries the source's size and modification time, so a
//! file changed on disk is copied again rather than served stale. Two requests for a copy being
//! made wait for the one encoder. A copy is written to `.part` and renamed when whole, so a crash
//! or a full disk never leaves a half copy that looks finished.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::StatusCode;

use crate::media::Refusal;

/// The bitrates a listener may ask for: below 32 kbit/s stereo music falls apart, above 256 an
/// Opus copy saves little over the original.
pub const KBPS: std::ops::RangeInclusive<u32> = 32..=256;
/// What a listener gets that names no bitrate: transparent for most music.
pub const DEFAULT_KBPS: u32 = 96;

/// The room's Opus copies, and the ones being made.
#[derive(Debug)]
pub struct OpusCopies {
    dir: PathBuf,
    making: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl OpusCopies {
    pub fn new(dir: PathBuf) -> Self {
        OpusCopies { dir, making: Mutex::default() }
    }

    /// The copy of `source` (track `track`) at `kbps`: the file already made, or one made now.
    pub(crate) async fn copy_of(&self, track: &str, source: &Path, kbps: u32) -> Result<PathBuf, Refusal> {
        if !KBPS.contains(&kbps) {
            return Err(Refusal(
                StatusCode::BAD_REQUEST,
                format!("kbps={kbps} is outside what Opus copies are made at ({}–{})", KBPS.start(), KBPS.end()),
            ));
        }
        let gone = |e: std::io::Error| Refusal(StatusCode::GONE, format!("track {track}'s file is no longer readable on the host: {e}"));
        let meta = tokio::fs::metadata(source).await.map_err(gone)?;
        let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs());
        let path = self.dir.join(format!("{}-{}-{modified}-{kbps}.opus", file_safe(track), meta.len()));
        let lock = self.making.lock().unwrap_or_else(PoisonError::into_inner).entry(path.clone()).or_default().clone();
        let _making = lock.lock().await;
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(path);
        }
        let started = std::time::Instant::now();
        let (source_path, target, name) = (source.to_owned(), path.clone(), track.to_owned());
        let made = tokio::task::spawn_blocking(move || make_copy(&source_path, &target, kbps, &name)).await;
        self.making.lock().unwrap_or_else(PoisonError::into_inner).remove(&path);
        match made {
            Ok(Ok(frames)) => {
                let audio_s = frames as f64 / f64::from(whatssound_audio::OPUS_RATE);
                tracing::info!(track, kbps, audio_s, took_ms = started.elapsed().as_millis() as u64, "made an Opus copy");
                Ok(path)
            }
            Ok(Err(refusal)) => Err(refusal),
            Err(e) => Err(Refusal(StatusCode::INTERNAL_SERVER_ERROR, format!("making the Opus copy of track {track} failed: {e}"))),
        }
    }
}

/// Encodes `source` into `target` (through `target.part`); the copy's length in 48 kHz frames.
fn make_copy(source: &Path, target: &Path, kbps: u32, track: &str) -> Result<u64, Refusal> {
    let unplayable = |e: String| Refusal(StatusCode::UNPROCESSABLE_ENTITY, format!("track {track} cannot be made into Opus: {e}"));
    let decoder = whatssound_audio::Decoder::open_file(source).map_err(|e| unplayable(e.to_string()))?;
    let part = target.with_extension("opus.part");
    let unwritable = |e: std::io::Error| {
        let _ = std::fs::remove_file(&part);
        Refusal(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("the host could not write the Opus copy of track {track} ({e}); free space in its data folder or ask for the original"),
        )
    };
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(unwritable)?;
    }
    let file = std::fs::File::create(&part).map_err(unwritable)?;
    let done = whatssound_audio::transcode_to_opus(decoder, kbps, std::io::BufWriter::new(file), track);
    match done {
        Ok(done) => {
            std::fs::rename(&part, target).map_err(unwritable)?;
            Ok(done.frames)
        }
        Err(whatssound_audio::TranscodeError::Write { error, .. }) => Err(unwritable(error)),
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(unplayable(e.to_string()))
        }
    }
}

/// A track id as a file name: ids are the host's own, but a name is never built from anything
/// that could climb out of the folder.
fn file_safe(track: &str) -> String {
    track.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_copy_is_made_once_and_what_cannot_be_copied_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("a.wav");
        std::fs::write(&source, whatssound_audio::wav::sine(44_100, 2, 1.0, 440.0, &Default::default())).unwrap();
        let copies = OpusCopies::new(dir.path().join("copies"));
        let (a, b) = tokio::join!(copies.copy_of("t/1", &source, 64), copies.copy_of("t/1", &source, 64));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a, b, "two requests share one copy");
        assert_eq!(a.parent().unwrap(), dir.path().join("copies"), "the id's slash stays in the name: {a:?}");
        let made = std::fs::metadata(&a).unwrap().modified().unwrap();
        copies.copy_of("t/1", &source, 64).await.unwrap();
        assert_eq!(std::fs::metadata(&a).unwrap().modified().unwrap(), made, "not made again");
        assert!(std::fs::read_dir(dir.path().join("copies")).unwrap().all(|e| !e.unwrap().path().to_string_lossy().ends_with(".part")));

        let err = copies.copy_of("t/1", &source, 999).await.unwrap_err();
        assert_eq!(err.0, StatusCode::BAD_REQUEST, "{}", err.1);
        let junk = dir.path().join("junk.mp3");
        std::fs::write(&junk, b"not audio").unwrap();
        let err = copies.copy_of("t/2", &junk, 96).await.unwrap_err();
        assert_eq!(err.0, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err.1.starts_with("track t/2 cannot be made into Opus: "), "{}", err.1);
        let err = copies.copy_of("t/3", &dir.path().join("gone.wav"), 96).await.unwrap_err();
        assert_eq!(err.0, StatusCode::GONE, "{}", err.1);
    }

    #[tokio::test]
    async fn a_copy_that_cannot_be_written_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("a.wav");
        std::fs::write(&source, whatssound_audio::wav::sine(48_000, 1, 0.5, 440.0, &Default::default())).unwrap();
        // The copies folder is a file: nothing can be written under it, as on a full or read-only disk.
        let blocked = dir.path().join("copies");
        std::fs::write(&blocked, b"").unwrap();
        let err = OpusCopies::new(blocked.clone()).copy_of("t", &source, 96).await.unwrap_err();
        assert_eq!(err.0, StatusCode::INSUFFICIENT_STORAGE, "{}", err.1);
        assert!(err.1.contains("ask for the original"), "{}", err.1);
        assert_eq!(std::fs::read(&blocked).unwrap(), b"", "nothing written");
    }
}
