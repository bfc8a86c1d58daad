//! Opus copies of the host's tracks, for listeners whose link is too thin for the original
//! (`GET /media/{track}?format=opus&kbps=96`).
//!
//! A copy is made once per track and bitrate, on the first request, and kept in the room's
//! `copies/` folder: every later listener (and the same one after a seek) is served the file
//! with Range like any other. Its name carries the source's size and modification time, so a
//! file changed on disk is copied again rather than served stale.
//!
//! The first request does not wait for the whole encode (~2 s for a 4-minute FLAC): it is served
//! the copy as it is written ([`OpusCopy::Making`]), a page at a time, so a listener that changed
//! to Opus mid-track hears it as soon as the first pages exist; requests for a copy being made
//! all follow the one encoder. A copy is written to `.part` and renamed when whole, so a crash or
//! a full disk never leaves a half copy that looks finished.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::StatusCode;
use tokio::sync::watch;

use crate::media::Refusal;

/// The bitrates a listener may ask for: below 32 kbit/s stereo music falls apart, above 256 an
/// Opus copy saves little over the original.
pub const KBPS: std::ops::RangeInclusive<u32> = 32..=256;
/// What a listener gets that names no bitrate: transparent for most music.
pub const DEFAULT_KBPS: u32 = 96;

/// How much of a copy being made is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    Partly(u64),
    Whole(u64),
    Failed,
}

/// A copy being made: what is written so far is in `part` (in `whole` once done: a reader that
/// opens it after the rename finds it there).
#[derive(Debug, Clone)]
pub(crate) struct Growing {
    pub(crate) part: PathBuf,
    pub(crate) whole: PathBuf,
    pub(crate) written: watch::Receiver<Written>,
}

impl Growing {
    /// Waits for the encoder: the copy's size, or `None` if it failed.
    #[cfg(test)]
    async fn finished(mut self) -> Option<u64> {
        let done = self.written.wait_for(|w| !matches!(w, Written::Partly(_))).await.ok().map(|w| *w);
        match done {
            Some(Written::Whole(n)) => Some(n),
            _ => None,
        }
    }
}

/// A copy to serve.
#[derive(Debug)]
pub(crate) enum OpusCopy {
    Made(PathBuf),
    Making(Growing),
}

/// The room's Opus copies, and the ones being made.
#[derive(Debug)]
pub struct OpusCopies {
    dir: PathBuf,
    making: Arc<Mutex<HashMap<PathBuf, Growing>>>,
}

impl OpusCopies {
    pub fn new(dir: PathBuf) -> Self {
        OpusCopies { dir, making: Arc::default() }
    }

    /// The copy of `source` (track `track`) at `kbps`: the file already made, or the one being
    /// made (started now if nobody asked before).
    pub(crate) async fn copy_of(&self, track: &str, source: &Path, kbps: u32) -> Result<OpusCopy, Refusal> {
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
        if let Some(growing) = self.making.lock().unwrap_or_else(PoisonError::into_inner).get(&path) {
            return Ok(OpusCopy::Making(growing.clone()));
        }
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(OpusCopy::Made(path));
        }
        // Opened before anything is served, so a file that is not audio is a refusal with its
        // reason, not a stream that breaks.
        let (source_path, name) = (source.to_owned(), track.to_owned());
        let decoder = tokio::task::spawn_blocking(move || whatssound_audio::Decoder::open_file(&source_path))
            .await
            .map_err(|e| Refusal(StatusCode::INTERNAL_SERVER_ERROR, format!("making the Opus copy of track {track} failed: {e}")))?
            .map_err(|e| Refusal(StatusCode::UNPROCESSABLE_ENTITY, format!("track {track} cannot be made into Opus: {e}")))?;
        let mut making = self.making.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(growing) = making.get(&path) {
            return Ok(OpusCopy::Making(growing.clone()));
        }
        let part = path.with_extension("opus.part");
        let file = std::fs::create_dir_all(&self.dir).and_then(|()| std::fs::File::create(&part)).map_err(|e| unwritable(track, &e))?;
        let (tx, written) = watch::channel(Written::Partly(0));
        let growing = Growing { part: part.clone(), whole: path.clone(), written };
        making.insert(path.clone(), growing.clone());
        drop(making);
        let map = self.making.clone();
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let mut out = Counting { file, written: 0, tx };
            let done = whatssound_audio::transcode_to_opus(decoder, kbps, &mut out, &name);
            let Counting { written, tx, .. } = out;
            let done = done.map_err(|e| e.to_string()).and_then(|d| std::fs::rename(&part, &path).map(|()| d).map_err(|e| e.to_string()));
            match done {
                Ok(d) => {
                    let audio_s = d.frames as f64 / f64::from(whatssound_audio::OPUS_RATE);
                    tracing::info!(track = name, kbps, audio_s, took_ms = started.elapsed().as_millis() as u64, "made an Opus copy");
                    tx.send_replace(Written::Whole(written));
                }
                Err(e) => {
                    tracing::warn!(track = name, kbps, "the Opus copy failed: {e}");
                    let _ = std::fs::remove_file(&part);
                    tx.send_replace(Written::Failed);
                }
            }
            map.lock().unwrap_or_else(PoisonError::into_inner).remove(&path);
        });
        Ok(OpusCopy::Making(growing))
    }
}

/// The copy's file, telling its readers how far it is written after every write.
struct Counting {
    file: std::fs::File,
    written: u64,
    tx: watch::Sender<Written>,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        self.tx.send_replace(Written::Partly(self.written));
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

fn unwritable(track: &str, e: &std::io::Error) -> Refusal {
    Refusal(
        StatusCode::INSUFFICIENT_STORAGE,
        format!("the host could not write the Opus copy of track {track} ({e}); free space in its data folder or ask for the original"),
    )
}

/// A track id as a file name: ids are the host's own, but a name is never built from anything
/// that could climb out of the folder.
fn file_safe(track: &str) -> String {
    track.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(copy: OpusCopy) -> PathBuf {
        match copy {
            OpusCopy::Made(path) => path,
            OpusCopy::Making(g) => panic!("still being made: {g:?}"),
        }
    }

    #[tokio::test]
    async fn a_copy_is_made_once_and_what_cannot_be_copied_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("a.wav");
        std::fs::write(&source, whatssound_audio::wav::sine(44_100, 2, 1.0, 440.0, &Default::default())).unwrap();
        let copies = OpusCopies::new(dir.path().join("copies"));
        let (a, b) = tokio::join!(copies.copy_of("t/1", &source, 64), copies.copy_of("t/1", &source, 64));
        let (OpusCopy::Making(a), OpusCopy::Making(b)) = (a.unwrap(), b.unwrap()) else { panic!("the first requests follow the encoder") };
        assert_eq!(a.part, b.part, "two requests share one encoder");
        let size = a.clone().finished().await.expect("made");
        let path = made(copies.copy_of("t/1", &source, 64).await.unwrap());
        assert_eq!((path.clone(), std::fs::metadata(&path).unwrap().len()), (a.whole.clone(), size));
        assert_eq!(path.parent().unwrap(), dir.path().join("copies"), "the id's slash stays in the name: {path:?}");
        assert!(!a.part.exists(), "the part file was renamed");

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
