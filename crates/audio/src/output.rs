//! Where the audio goes: an [`Output`] trait and the backends that need no sound card.
//!
//! An output owns its timing: once per period it asks a [`Render`] for the frames that will sound
//! at a given instant of the output's clock, the way a cpal callback does with its `playback`
//! timestamp. The null output is paced by a real clock, so everything upstream behaves as with a
//! device; the WAV output is the same plus a file, and records the instant its first frame
//! "sounded", which lets tests compare two listeners sample by sample. The sound device itself is
//! [`DeviceOutput`](crate::device::DeviceOutput), in `device.rs`.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock::{Clock, Nanos};
use crate::wav;

/// Fills output periods. Runs on the output's thread (or audio callback): it must not block,
/// lock or allocate.
pub trait Render: Send + 'static {
    /// Fill `out` (interleaved) with the frames whose first will sound at `sounds_at`.
    fn render(&mut self, out: &mut [f32], sounds_at: Nanos);

    /// The stream frame the next period starts from, for a render that follows a track (device
    /// traces log it, to compare where the audio was with where the recording heard it).
    fn frame(&self) -> Option<i64> {
        None
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("could not write {path}: {error}")]
    Wav { path: String, error: std::io::Error },
    #[error("the output thread could not start: {0}")]
    Thread(std::io::Error),
    #[error("the output thread panicked")]
    Panicked,
    /// No usable sound device, or it refused the stream.
    #[error("no usable sound device: {0}")]
    NoDevice(String),
}

/// An audio destination.
pub trait Output: Send {
    fn rate(&self) -> u32;
    fn channels(&self) -> u16;
    /// Starts pulling periods from `render` until [`Playing::stop`].
    fn start(self: Box<Self>, render: Box<dyn Render>) -> Result<Playing, OutputError>;
}

/// What a sound device's callbacks tell about it, written by the audio thread (atomics only) and
/// read by anyone. Outputs with no device leave it at its default: no errors, nothing known.
#[derive(Debug)]
pub struct DeviceStats {
    /// Errors the device reported (xruns and the like).
    pub errors: AtomicU64,
    /// How much faster than nominal the device plays against our clock, in ppm (`i64::MIN`: not
    /// yet known). A sound card's crystal is tens of ppm off; a sound server can be hundreds.
    pub rate_ppm: AtomicI64,
    /// The device's mean latency to the speaker, ns (`i64::MIN`: not yet known).
    pub latency_ns: AtomicI64,
}

impl Default for DeviceStats {
    fn default() -> Self {
        DeviceStats { errors: AtomicU64::new(0), rate_ppm: AtomicI64::new(i64::MIN), latency_ns: AtomicI64::new(i64::MIN) }
    }
}

/// A running output.
#[derive(Debug)]
pub struct Playing {
    stop: Arc<AtomicBool>,
    first_frame_at: Arc<AtomicI64>,
    device: Arc<DeviceStats>,
    thread: Option<JoinHandle<Result<(), OutputError>>>,
}

impl Playing {
    pub(crate) fn new(
        stop: Arc<AtomicBool>,
        first_frame_at: Arc<AtomicI64>,
        device: Arc<DeviceStats>,
        thread: JoinHandle<Result<(), OutputError>>,
    ) -> Self {
        Playing { stop, first_frame_at, device, thread: Some(thread) }
    }

    /// Errors the device reported while playing (xruns and the like); 0 for outputs with no device.
    pub fn device_errors(&self) -> u64 {
        self.device.errors.load(Ordering::Relaxed)
    }

    /// The device's rate against our clock, ppm, once its callbacks have shown it.
    pub fn device_rate_ppm(&self) -> Option<i64> {
        Some(self.device.rate_ppm.load(Ordering::Relaxed)).filter(|r| *r != i64::MIN)
    }

    /// The device's mean latency to the speaker, ns, once known.
    pub fn device_latency_ns(&self) -> Option<i64> {
        Some(self.device.latency_ns.load(Ordering::Relaxed)).filter(|l| *l != i64::MIN)
    }

    /// The clock instant the first frame sounded (or will), once playback began.
    pub fn first_frame_at(&self) -> Option<Nanos> {
        Some(self.first_frame_at.load(Ordering::Acquire)).filter(|t| *t != i64::MIN)
    }

    /// Stops, finishing the file of a WAV output.
    pub fn stop(mut self) -> Result<(), OutputError> {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(OutputError::Panicked),
            None => Ok(()),
        }
    }
}

impl Drop for Playing {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// A volume the UI can change while playing: a linear gain the output thread reads without locking.
#[derive(Debug, Clone)]
pub struct Volume(Arc<AtomicU32>);

impl Volume {
    pub fn new(gain: f32) -> Self {
        Volume(Arc::new(AtomicU32::new(gain.clamp(0.0, 1.0).to_bits())))
    }

    /// Sets the gain, clamped to 0..=1.
    pub fn set(&self, gain: f32) {
        self.0.store(gain.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    pub fn get(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }
}

impl Default for Volume {
    fn default() -> Self {
        Volume::new(1.0)
    }
}

/// A render at a volume: sync decides *which* frames play, volume only how loud.
#[derive(Debug)]
pub struct Gain<R> {
    pub inner: R,
    pub volume: Volume,
}

impl<R: Render> Render for Gain<R> {
    fn render(&mut self, out: &mut [f32], sounds_at: Nanos) {
        self.inner.render(out, sounds_at);
        let gain = self.volume.get();
        if gain < 1.0 {
            out.iter_mut().for_each(|s| *s *= gain);
        }
    }

    fn frame(&self) -> Option<i64> {
        self.inner.frame()
    }
}

/// A device-like output with no device: periods paced in real time on `clock`, the samples
/// discarded — or written to a WAV file.
#[derive(Debug)]
pub struct PacedOutput {
    pub clock: Arc<dyn Clock>,
    pub rate: u32,
    pub channels: u16,
    /// Frames per period (a device's buffer size).
    pub period: usize,
    /// Write what is played here (16-bit PCM WAV), or discard it.
    pub wav: Option<PathBuf>,
}

impl Output for PacedOutput {
    fn rate(&self) -> u32 {
        self.rate
    }

    fn channels(&self) -> u16 {
        self.channels
    }

    fn start(self: Box<Self>, mut render: Box<dyn Render>) -> Result<Playing, OutputError> {
        let stop = Arc::new(AtomicBool::new(false));
        let first_frame_at = Arc::new(AtomicI64::new(i64::MIN));
        let mut file = match &self.wav {
            Some(path) => Some(WavFile::create(path.clone(), self.rate, self.channels)?),
            None => None,
        };
        let (stop_flag, first) = (stop.clone(), first_frame_at.clone());
        let thread = std::thread::Builder::new()
            .name("whatssound-output".into())
            .spawn(move || {
                let period_ns = (self.period as i128 * 1_000_000_000 / i128::from(self.rate.max(1))) as Nanos;
                let mut buf = vec![0.0f32; self.period * usize::from(self.channels)];
                // One period of lead, like a device buffer: period n is rendered while n−1 plays.
                let start = self.clock.now() + period_ns;
                let mut n: i64 = 0;
                while !stop_flag.load(Ordering::Acquire) {
                    let sounds_at = start + n * period_ns;
                    render.render(&mut buf, sounds_at);
                    if n == 0 {
                        first.store(sounds_at, Ordering::Release);
                    }
                    if let Some(f) = file.as_mut() {
                        f.write(&buf)?;
                    }
                    n += 1;
                    let wait = sounds_at - self.clock.now();
                    if wait > 0 {
                        std::thread::sleep(Duration::from_nanos(wait.unsigned_abs()));
                    }
                }
                match file {
                    Some(f) => f.finish(),
                    None => Ok(()),
                }
            })
            .map_err(OutputError::Thread)?;
        Ok(Playing::new(stop, first_frame_at, Arc::default(), thread))
    }
}

/// A WAV file written as it plays; the sizes in its header are patched at the end.
struct WavFile {
    path: PathBuf,
    out: BufWriter<File>,
    data_len: u32,
}

impl WavFile {
    fn create(path: PathBuf, rate: u32, channels: u16) -> Result<Self, OutputError> {
        let err = |error| OutputError::Wav { path: path.display().to_string(), error };
        let mut out = BufWriter::new(File::create(&path).map_err(err)?);
        out.write_all(&wav::header(rate, channels, 0, &wav::Tags::default())).map_err(err)?;
        Ok(WavFile { path, out, data_len: 0 })
    }

    fn write(&mut self, samples: &[f32]) -> Result<(), OutputError> {
        for s in samples {
            let v = (s.clamp(-1.0, 1.0) * 32_767.0).round() as i16;
            self.out.write_all(&v.to_le_bytes()).map_err(|error| OutputError::Wav { path: self.path.display().to_string(), error })?;
        }
        self.data_len = self.data_len.saturating_add(u32::try_from(samples.len() * 2).unwrap_or(u32::MAX));
        Ok(())
    }

    fn finish(mut self) -> Result<(), OutputError> {
        let path = self.path.display().to_string();
        let err = |error| OutputError::Wav { path: path.clone(), error };
        let header_len = wav::header(1, 1, 0, &wav::Tags::default()).len() as u64;
        self.out.seek(SeekFrom::Start(wav::RIFF_SIZE_AT)).map_err(err)?;
        self.out.write_all(&(u32::try_from(header_len - 8).unwrap_or(0).saturating_add(self.data_len)).to_le_bytes()).map_err(err)?;
        self.out.seek(SeekFrom::Start(header_len - 4)).map_err(err)?;
        self.out.write_all(&self.data_len.to_le_bytes()).map_err(err)?;
        self.out.flush().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MonotonicClock;
    use crate::decode::Decoder;
    use std::sync::Mutex;

    /// Renders a counter, and records the instants it was asked for.
    struct Counter {
        next: i64,
        asked: Arc<Mutex<Vec<Nanos>>>,
    }

    impl Render for Counter {
        fn render(&mut self, out: &mut [f32], sounds_at: Nanos) {
            for frame in out.chunks_mut(2) {
                let v = (self.next % 1000) as f32 / 1000.0;
                frame.fill(v);
                self.next += 1;
            }
            if let Ok(mut a) = self.asked.try_lock() {
                a.push(sounds_at);
            }
        }
    }

    #[test]
    fn a_wav_output_plays_in_real_time_and_keeps_every_frame() {
        let path = std::env::temp_dir().join(format!("whatssound-out-{}.wav", std::process::id()));
        let clock = Arc::new(MonotonicClock::new());
        let out = Box::new(PacedOutput { clock: clock.clone(), rate: 8_000, channels: 2, period: 400, wav: Some(path.clone()) });
        let asked = Arc::new(Mutex::new(Vec::new()));
        let started = clock.now();
        let playing = out.start(Box::new(Counter { next: 0, asked: asked.clone() })).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let first = playing.first_frame_at().unwrap();
        playing.stop().unwrap();
        let elapsed = clock.now() - started;
        let asked = asked.lock().unwrap().clone();
        // Periods are 50 ms apart on the clock, the first one period after start.
        assert!(first >= started + 50_000_000, "{first} vs {started}");
        assert!(asked.windows(2).all(|w| w[1] - w[0] == 50_000_000), "{asked:?}");
        // Real-time pacing: never more periods than the time that passed holds (plus the one
        // rendered ahead and the one in progress), however slow or fast this machine is.
        let most = usize::try_from(elapsed / 50_000_000).unwrap() + 2;
        assert!(!asked.is_empty() && asked.len() <= most, "{} periods in {elapsed} ns", asked.len());
        // The file is a valid WAV holding exactly what was rendered.
        let mut d = Decoder::open_file(&path).unwrap();
        let mut samples = Vec::new();
        while d.next_packet(&mut samples).unwrap() {}
        assert_eq!(samples.len(), asked.len() * 400 * 2);
        for (i, frame) in samples.chunks(2).enumerate() {
            assert!((frame[0] - (i % 1000) as f32 / 1000.0).abs() < 1e-3, "frame {i}: {frame:?}");
        }
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn volume_scales_what_plays_and_is_clamped() {
        struct Ones;
        impl Render for Ones {
            fn render(&mut self, out: &mut [f32], _: Nanos) {
                out.fill(1.0);
            }
        }
        let volume = Volume::new(0.25);
        let mut gain = Gain { inner: Ones, volume: volume.clone() };
        let mut buf = [0.0f32; 4];
        gain.render(&mut buf, 0);
        assert_eq!(buf, [0.25; 4]);
        volume.set(7.0);
        gain.render(&mut buf, 0);
        assert_eq!(buf, [1.0; 4]);
        volume.set(-1.0);
        gain.render(&mut buf, 0);
        assert_eq!(buf, [0.0; 4]);
    }

    #[test]
    fn an_unwritable_wav_path_is_a_clear_error() {
        let out = Box::new(PacedOutput {
            clock: Arc::new(MonotonicClock::new()),
            rate: 8_000,
            channels: 1,
            period: 80,
            wav: Some("/nonexistent/dir/out.wav".into()),
        });
        let err = out.start(Box::new(Counter { next: 0, asked: Arc::default() })).unwrap_err().to_string();
        assert!(err.starts_with("could not write /nonexistent/dir/out.wav"), "{err}");
    }
}
