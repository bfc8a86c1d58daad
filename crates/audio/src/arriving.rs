//! Bytes still arriving: a download the decoder reads while it grows, so a track starts playing
//! once its first packets are here instead of once all of it is.
//!
//! One [`Arrival`] writes (the download), any number of [`ArrivingReader`]s read (a deck's decoder;
//! a seek opens another reader on the same bytes, so nothing is fetched twice). A reader that gets
//! ahead of the download waits for it; that is a decode thread waiting, never the audio callback,
//! which only ever sees the ring the decoder fills. If the download fails, or is dropped unfinished,
//! readers get its reason as an error rather than a quiet end, so a cut download is never mistaken
//! for a short track.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use symphonia::core::io::MediaSource;

/// A new download's two ends: the writer, and a handle that opens readers.
pub fn arriving() -> (Arrival, ArrivingBytes) {
    let shared = Arc::new(Shared { state: Mutex::new(State::default()), grew: Condvar::new() });
    (Arrival { shared: shared.clone() }, ArrivingBytes { shared })
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Signalled whenever bytes arrive or the download ends.
    grew: Condvar,
}

#[derive(Debug, Default)]
struct State {
    bytes: Vec<u8>,
    /// The length the server announced, if it did.
    total: Option<u64>,
    end: End,
    /// The furthest any reader has read: how far ahead of its reader a download is.
    read_to: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
enum End {
    #[default]
    Open,
    Complete,
    Failed(String),
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A reader or writer that panicked leaves consistent bytes behind: appends are whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn end(&self, end: End) {
        let mut state = self.lock();
        if state.end == End::Open {
            state.end = end;
        }
        drop(state);
        self.grew.notify_all();
    }
}

/// The writing end of a download.
#[derive(Debug)]
pub struct Arrival {
    shared: Arc<Shared>,
}

impl Arrival {
    /// The length the server announced; room for it is reserved at once.
    pub fn expect(&self, total: Option<u64>) {
        let mut state = self.shared.lock();
        state.total = total;
        if let Some(n) = total.and_then(|n| usize::try_from(n).ok()) {
            let more = n.saturating_sub(state.bytes.len());
            state.bytes.reserve(more);
        }
    }

    pub fn append(&self, data: &[u8]) {
        self.shared.lock().bytes.extend_from_slice(data);
        self.shared.grew.notify_all();
    }

    /// All bytes are here.
    pub fn finish(self) {
        self.shared.end(End::Complete);
    }

    /// The download failed: readers get `reason` once they have read what did arrive.
    pub fn fail(self, reason: String) {
        self.shared.end(End::Failed(reason));
    }

    /// Whether every reader and handle is gone (nobody will read what would arrive next).
    pub fn abandoned(&self) -> bool {
        Arc::strong_count(&self.shared) == 1
    }
}

impl Drop for Arrival {
    fn drop(&mut self) {
        // Unfinished: a download task that ended without saying how must not leave readers waiting.
        self.shared.end(End::Failed("the download stopped before the end".into()));
    }
}

/// A handle on a download's bytes, for opening readers and asking how it went.
#[derive(Debug, Clone)]
pub struct ArrivingBytes {
    shared: Arc<Shared>,
}

impl ArrivingBytes {
    /// Bytes that are all here already (a cached track).
    pub fn complete(bytes: Vec<u8>) -> Self {
        let (arrival, handle) = arriving();
        arrival.expect(Some(bytes.len() as u64));
        arrival.shared.lock().bytes = bytes;
        arrival.finish();
        handle
    }

    /// A reader from the first byte.
    pub fn reader(&self) -> ArrivingReader {
        ArrivingReader { shared: self.shared.clone(), position: 0, seekable: true }
    }

    /// A reader from the first byte that tells the demuxer it cannot seek. An Ogg reader that
    /// may seek reads the last page first (for the length), so it would wait for the whole
    /// download before the first sound; the host's Opus copies are Ogg, and are fetched on
    /// links too thin to wait for that.
    pub fn forward_reader(&self) -> ArrivingReader {
        ArrivingReader { seekable: false, ..self.reader() }
    }

    /// Why the download failed, if it has.
    pub fn failure(&self) -> Option<String> {
        match &self.shared.lock().end {
            End::Failed(reason) => Some(reason.clone()),
            _ => None,
        }
    }

    /// (bytes here, total announced), for progress.
    pub fn progress(&self) -> (u64, Option<u64>) {
        let state = self.shared.lock();
        (state.bytes.len() as u64, state.total)
    }

    /// Bytes here that no reader has read yet.
    pub fn unread(&self) -> u64 {
        let state = self.shared.lock();
        (state.bytes.len() as u64).saturating_sub(state.read_to)
    }
}

/// Reads a download from a position of its own, waiting for bytes not yet here.
#[derive(Debug)]
pub struct ArrivingReader {
    shared: Arc<Shared>,
    position: u64,
    seekable: bool,
}

impl Read for ArrivingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut state = self.shared.lock();
        loop {
            let here = state.bytes.len() as u64;
            if self.position < here {
                let start = usize::try_from(self.position).unwrap_or(usize::MAX);
                let n = buf.len().min(state.bytes.len() - start);
                buf[..n].copy_from_slice(&state.bytes[start..start + n]);
                self.position += n as u64;
                state.read_to = state.read_to.max(self.position);
                return Ok(n);
            }
            match &state.end {
                End::Complete => return Ok(0),
                End::Failed(reason) => return Err(io::Error::other(reason.clone())),
                // Past the announced end nothing more will come, whatever the wait.
                End::Open if state.total.is_some_and(|t| self.position >= t) => return Ok(0),
                End::Open => state = self.shared.grew.wait(state).unwrap_or_else(PoisonError::into_inner),
            }
        }
    }
}

impl Seek for ArrivingReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
            SeekFrom::End(d) => self.len()?.checked_add_signed(d),
        };
        self.position = target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the track"))?;
        Ok(self.position)
    }
}

impl ArrivingReader {
    /// The whole length: announced, or known once the download ends (waits for that).
    fn len(&self) -> io::Result<u64> {
        let mut state = self.shared.lock();
        loop {
            if let Some(total) = state.total {
                return Ok(total);
            }
            match &state.end {
                End::Complete => return Ok(state.bytes.len() as u64),
                End::Failed(reason) => return Err(io::Error::other(reason.clone())),
                End::Open => state = self.shared.grew.wait(state).unwrap_or_else(PoisonError::into_inner),
            }
        }
    }
}

impl MediaSource for ArrivingReader {
    fn is_seekable(&self) -> bool {
        self.seekable
    }

    fn byte_len(&self) -> Option<u64> {
        let state = self.shared.lock();
        state.total.or_else(|| (state.end == End::Complete).then_some(state.bytes.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_reader_gets_what_is_here_and_waits_for_the_rest() {
        let (arrival, bytes) = arriving();
        arrival.expect(Some(6));
        arrival.append(b"abc");
        let mut reader = bytes.reader();
        let mut buf = [0u8; 8];
        assert_eq!(reader.read(&mut buf).unwrap(), 3, "a short read of what is here, no wait");
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            arrival.append(b"def");
            arrival.finish();
        });
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        writer.join().unwrap();
        assert_eq!(rest, b"def");
        assert_eq!(bytes.progress(), (6, Some(6)));
    }

    #[test]
    fn a_failed_download_is_an_error_after_the_bytes_that_came_never_a_quiet_end() {
        let (arrival, bytes) = arriving();
        arrival.append(b"ab");
        arrival.fail("the host went away".into());
        let mut got = Vec::new();
        let err = bytes.reader().read_to_end(&mut got).unwrap_err();
        assert_eq!(got, b"ab");
        assert_eq!(err.to_string(), "the host went away");
        assert_eq!(bytes.failure().as_deref(), Some("the host went away"));
    }

    #[test]
    fn unread_bytes_are_counted_from_the_furthest_reader() {
        let (arrival, bytes) = arriving();
        arrival.append(&[0; 100]);
        let (mut a, mut b) = (bytes.reader(), bytes.reader());
        assert_eq!(bytes.unread(), 100);
        a.read_exact(&mut [0; 30]).unwrap();
        b.read_exact(&mut [0; 10]).unwrap();
        assert_eq!(bytes.unread(), 70);
    }

    #[test]
    fn a_dropped_writer_fails_its_readers_instead_of_leaving_them_waiting() {
        let (arrival, bytes) = arriving();
        drop(arrival);
        let err = bytes.reader().read(&mut [0u8; 4]).unwrap_err();
        assert!(err.to_string().contains("stopped before the end"), "{err}");
    }

    #[test]
    fn seeks_from_the_end_wait_for_the_length_and_readers_are_independent() {
        let (arrival, bytes) = arriving();
        let mut reader = bytes.reader();
        let writer = std::thread::spawn(move || {
            arrival.append(b"0123456789");
            std::thread::sleep(Duration::from_millis(20));
            arrival.finish();
        });
        assert_eq!(reader.seek(SeekFrom::End(-3)).unwrap(), 7);
        writer.join().unwrap();
        let mut tail = String::new();
        reader.read_to_string(&mut tail).unwrap();
        assert_eq!(tail, "789");
        let mut other = bytes.reader();
        let mut head = [0u8; 2];
        other.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"01");
        assert!(reader.seek(SeekFrom::Current(-20)).is_err());
        assert_eq!(ArrivingBytes::complete(b"xyz".to_vec()).reader().byte_len(), Some(3));
    }
}
