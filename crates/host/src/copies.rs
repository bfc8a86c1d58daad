//! Opus copies of the host's tracks, for listeners whose link is too thin for the original
//! (`GET /media/{track}?format=opus&kbps=96`, and `&from_s=N` to start at second N).
//!
//! A copy is made once per track and bitrate (a few fixed ones), on the first request, and kept
//! in the room's `copies/` folder: every later listener (and the same one after a seek) is served
//! the file with Range like any other. Its name carries the source's path, size and modification
//! time, so a file changed on disk is copied again rather than served stale.
//!
//! The first request does not wait for the whole encode (~2 s for a 4-minute FLAC): it is served
//! the copy as it is written ([`OpusCopy::Making`]), a page at a time; requests for a copy being
//! made all follow the one encoder. A copy is written to `.part` and renamed when whole, so a
//! crash or a full disk never leaves a half copy that looks finished.
//!
//! A copy from second N ([`OpusCopy::From`]) is for one listener joining mid-track on a thin link,
//! who would otherwise download everything before where the room is: it is encoded for that
//! request alone, streamed, and not kept. At most [`ENCODERS`] encodes run at once, so listeners
//! asking for many copies cannot take the host's processor from the room.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::StatusCode;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::media::Refusal;

/// Encodes running at once (each takes a core for a second or two per track).
pub const ENCODERS: usize = 2;

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
    /// A copy from a second on, as it is encoded (an error ends a copy that failed).
    From(mpsc::UnboundedReceiver<std::io::Result<bytes::Bytes>>),
}

/// The room's Opus copies, and the ones being made.
#[derive(Debug)]
pub struct OpusCopies {
    dir: PathBuf,
    making: Arc<Mutex<HashMap<PathBuf, Growing>>>,
    encoders: Arc<Semaphore>,
}

impl OpusCopies {
    /// Copies in `dir`; a `.part` left by a host that stopped mid-encode is removed.
    pub fn new(dir: PathBuf) -> Self {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.path().extension().is_some_and(|e| e == "part") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        OpusCopies { dir, making: Arc::default(), encoders: Arc::new(Semaphore::new(ENCODERS)) }
    }

    /// The copy of `source` (track `track`) at `kbps` (the step at or below it) from second
    /// `from_s`: the file already made, the one being made (started now if nobody asked before),
    /// or one made for this request.
    pub(crate) async fn copy_of(&self, track: &str, source: &Path, kbps: u32, from_s: u64) -> Result<OpusCopy, Refusal> {
        let steps = whatssound_audio::OPUS_KBPS;
        let kbps = whatssound_audio::opus_bitrate(kbps).ok_or_else(|| {
            Refusal(
                StatusCode::BAD_REQUEST,
                format!("kbps={kbps} is outside what Opus copies are made at ({}–{})", steps[0], steps[steps.len() - 1]),
            )
        })?;
        let meta = tokio::fs::metadata(source).await.map_err(|e| Refusal::gone(track, e))?;
        if from_s > 0 {
            let decoder = open_source(track, source).await?;
            return Ok(OpusCopy::From(self.encode_for_one(decoder, kbps, from_s, track)));
        }
        let path = self.dir.join(copy_name(track, source, &meta, kbps));
        if let Some(growing) = self.making.lock().unwrap_or_else(PoisonError::into_inner).get(&path) {
            return Ok(OpusCopy::Making(growing.clone()));
        }
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(OpusCopy::Made(path));
        }
        let decoder = open_source(track, source).await?;
        tokio::fs::create_dir_all(&self.dir).await.map_err(|e| unwritable(track, &e))?;
        let part = path.with_extension("opus.part");
        let (tx, written) = watch::channel(Written::Partly(0));
        let growing = Growing { part: part.clone(), whole: path.clone(), written };
        {
            let mut making = self.making.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(growing) = making.get(&path) {
                return Ok(OpusCopy::Making(growing.clone()));
            }
            // Another request's encode may have finished (renamed, then left the map) while this
            // one opened the source: one stat, under the lock, so the copy is never made twice.
            if path.exists() {
                return Ok(OpusCopy::Made(path));
            }
            making.insert(path.clone(), growing.clone());
        }
        let file = match tokio::fs::File::create(&part).await {
            Ok(f) => f.into_std().await,
            Err(e) => {
                self.making.lock().unwrap_or_else(PoisonError::into_inner).remove(&path);
                return Err(unwritable(track, &e));
            }
        };
        let (map, encoders, name) = (self.making.clone(), self.encoders.clone(), track.to_owned());
        tokio::spawn(async move {
            let _turn = encoders.acquire_owned().await;
            let started = std::time::Instant::now();
            let encoded = tokio::task::spawn_blocking(move || {
                let mut out = Counting { file, written: 0, tx };
                let done = encode(decoder, kbps, 0, &mut out, &name)
                    .and_then(|d| std::fs::rename(&part, &path).map(|()| d).map_err(|e| e.to_string()));
                if done.is_err() {
                    let _ = std::fs::remove_file(&part);
                }
                // Out of the map before its readers hear it is done: a request after that finds
                // the file (or makes it again, if it failed).
                map.lock().unwrap_or_else(PoisonError::into_inner).remove(&path);
                match done {
                    Ok(d) => {
                        let audio_s = d.frames as f64 / f64::from(whatssound_audio::OPUS_RATE);
                        tracing::info!(track = name, kbps, audio_s, took_ms = started.elapsed().as_millis() as u64, "made an Opus copy");
                        out.tx.send_replace(Written::Whole(out.written));
                    }
                    Err(e) => {
                        tracing::warn!(track = name, kbps, "the Opus copy failed: {e}");
                        out.tx.send_replace(Written::Failed);
                    }
                }
            })
            .await;
            if let Err(e) = encoded {
                tracing::warn!("the Opus encoder's task failed: {e}");
            }
        });
        Ok(OpusCopy::Making(growing))
    }

    /// Encodes a copy from `from_s` into a channel, for one request.
    fn encode_for_one(
        &self,
        decoder: whatssound_audio::Decoder,
        kbps: u32,
        from_s: u64,
        track: &str,
    ) -> mpsc::UnboundedReceiver<std::io::Result<bytes::Bytes>> {
        // Unbounded: the encoder never waits for the listener (who reads at its link's pace, or
        // slower on purpose), so it finishes in a second or two and gives its turn back; the
        // copy waits in memory meanwhile (at most ~8 MB: 4 minutes at 256 kbit/s).
        let (tx, rx) = mpsc::unbounded_channel();
        let (encoders, name) = (self.encoders.clone(), track.to_owned());
        tokio::spawn(async move {
            let _turn = encoders.acquire_owned().await;
            let _ = tokio::task::spawn_blocking(move || {
                let mut out = Sending(tx);
                if let Err(e) = encode(decoder, kbps, from_s, &mut out, &name) {
                    // A listener that went away is not a failure worth a word.
                    if !out.0.is_closed() {
                        tracing::warn!(track = name, kbps, from_s, "the Opus copy failed: {e}");
                        let _ = out.0.send(Err(std::io::Error::other(e)));
                    }
                }
            })
            .await;
        });
        rx
    }
}

/// Opens the source before anything is served, so a file that is not audio is a refusal with its
/// reason, not a stream that breaks.
async fn open_source(track: &str, source: &Path) -> Result<whatssound_audio::Decoder, Refusal> {
    let path = source.to_owned();
    tokio::task::spawn_blocking(move || whatssound_audio::Decoder::open_file(&path))
        .await
        .map_err(|e| Refusal(StatusCode::INTERNAL_SERVER_ERROR, format!("making the Opus copy of track {track} failed: {e}")))?
        .map_err(|e| Refusal(StatusCode::UNPROCESSABLE_ENTITY, format!("track {track} cannot be made into Opus: {e}")))
}

/// Runs the encoder; a panic in it (a decoder's bug on a strange file) is an error like any other,
/// so the copy is cleaned up and its readers told, instead of waiting on a copy nobody makes.
fn encode(
    decoder: whatssound_audio::Decoder,
    kbps: u32,
    from_s: u64,
    out: &mut impl Write,
    name: &str,
) -> Result<whatssound_audio::Transcoded, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| whatssound_audio::transcode_to_opus(decoder, kbps, from_s, out, name)))
        .map_err(|_| format!("{name}: the Opus encoder stopped on an internal error"))?
        .map_err(|e| e.to_string())
}

/// A copy's name: the track, a hash of the source's path, and the source's size and modification
/// time to the nanosecond (a file replaced by another is copied again), and the bitrate.
fn copy_name(track: &str, source: &Path, meta: &std::fs::Metadata, kbps: u32) -> String {
    let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    let mut hasher = std::hash::DefaultHasher::new();
    source.hash(&mut hasher);
    format!("{}-{:016x}-{}-{modified}-{kbps}.opus", file_safe(track), hasher.finish(), meta.len())
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

/// A copy for one request: each write goes to its response as it is made.
struct Sending(mpsc::UnboundedSender<std::io::Result<bytes::Bytes>>);

impl Write for Sending {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .send(Ok(bytes::Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the listener went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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
            other => panic!("not made: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_copy_is_made_once_and_what_cannot_be_copied_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("a.wav");
        std::fs::write(&source, whatssound_audio::wav::sine(44_100, 2, 1.0, 440.0, &Default::default())).unwrap();
        let copies = OpusCopies::new(dir.path().join("copies"));
        let (a, b) = tokio::join!(copies.copy_of("t/1", &source, 64, 0), copies.copy_of("t/1", &source, 64, 0));
        let (OpusCopy::Making(a), OpusCopy::Making(b)) = (a.unwrap(), b.unwrap()) else { panic!("the first requests follow the encoder") };
        assert_eq!(a.part, b.part, "two requests share one encoder");
        let size = a.clone().finished().await.expect("made");
        let path = made(copies.copy_of("t/1", &source, 64, 0).await.unwrap());
        assert_eq!((path.clone(), std::fs::metadata(&path).unwrap().len()), (a.whole.clone(), size));
        assert_eq!(path.parent().unwrap(), dir.path().join("copies"), "the id's slash stays in the name: {path:?}");
        assert!(!a.part.exists(), "the part file was renamed");

        let err = copies.copy_of("t/1", &source, 999, 0).await.unwrap_err();
        assert_eq!(err.0, StatusCode::BAD_REQUEST, "{}", err.1);
        let junk = dir.path().join("junk.mp3");
        std::fs::write(&junk, b"not audio").unwrap();
        let err = copies.copy_of("t/2", &junk, 96, 0).await.unwrap_err();
        assert_eq!(err.0, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err.1.starts_with("track t/2 cannot be made into Opus: "), "{}", err.1);
        let err = copies.copy_of("t/3", &dir.path().join("gone.wav"), 96, 0).await.unwrap_err();
        assert_eq!(err.0, StatusCode::GONE, "{}", err.1);
    }

    #[tokio::test]
    async fn a_copy_from_a_second_on_is_made_for_its_request_alone() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("a.wav");
        std::fs::write(&source, whatssound_audio::wav::sine(44_100, 2, 3.0, 440.0, &Default::default())).unwrap();
        let copies = OpusCopies::new(dir.path().join("copies"));
        let OpusCopy::From(mut pages) = copies.copy_of("t", &source, 100, 2).await.unwrap() else { panic!("made for the request") };
        let mut copy = Vec::new();
        while let Some(page) = pages.recv().await {
            copy.extend_from_slice(&page.unwrap());
        }
        let mut back = whatssound_audio::Decoder::open_bytes(copy, Some("opus"), "from.opus").unwrap();
        let mut out = Vec::new();
        while back.next_packet(&mut out).unwrap() {}
        assert_eq!(out.len() / 2, 48_000, "the last second of three");
        assert!(!dir.path().join("copies").exists(), "nothing kept");

        // Past the end (a position from a stale clock, or a hand-made request): an empty copy
        // that plays nothing, not an error.
        let OpusCopy::From(mut pages) = copies.copy_of("t", &source, 96, 3_600).await.unwrap() else { panic!("made for the request") };
        let mut copy = Vec::new();
        while let Some(page) = pages.recv().await {
            copy.extend_from_slice(&page.unwrap());
        }
        let mut back = whatssound_audio::Decoder::open_bytes(copy, Some("opus"), "past.opus").unwrap();
        let mut out = Vec::new();
        while back.next_packet(&mut out).unwrap() {}
        assert!(out.is_empty(), "{} samples past the end", out.len());
    }

    #[tokio::test]
    async fn a_copy_that_cannot_be_written_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("a.wav");
        std::fs::write(&source, whatssound_audio::wav::sine(48_000, 1, 0.5, 440.0, &Default::default())).unwrap();
        // The copies folder is a file: nothing can be written under it, as on a full or read-only disk.
        let blocked = dir.path().join("copies");
        std::fs::write(&blocked, b"").unwrap();
        let err = OpusCopies::new(blocked.clone()).copy_of("t", &source, 96, 0).await.unwrap_err();
        assert_eq!(err.0, StatusCode::INSUFFICIENT_STORAGE, "{}", err.1);
        assert!(err.1.contains("ask for the original"), "{}", err.1);
        assert_eq!(std::fs::read(&blocked).unwrap(), b"", "nothing written");
    }
}
