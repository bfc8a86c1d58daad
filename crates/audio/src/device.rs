//! The sound device: an [`Output`] over cpal (ALSA, and through it PulseAudio or PipeWire on
//! Linux; CoreAudio and WASAPI elsewhere).
//!
//! Timing comes from cpal's own timestamps. Each callback says when it was called and when its
//! first frame will reach the DAC (`playback`), on the stream's clock; their difference is the
//! device latency, so the first frame sounds at `clock.now() + (playback − callback)` on *our*
//! clock. One such reading jitters by a few ms, wanders, and spikes at xruns, so none is trusted
//! alone: [`CallbackTimer`](crate::callback_timer) fits the line the frames really sound on.
//!
//! The callback does no locking and no allocation: the render writes into a scratch buffer made
//! before the stream starts, converted to whatever sample format and channel count the device
//! wants on the way out. The stream lives on a thread of its own, because a cpal stream is not
//! `Send` on every platform.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{BufferSize, FromSample, OutputCallbackInfo, SampleFormat, SizedSample, StreamConfig};

use crate::callback_timer::{CallbackTimer, TimerWindows};
use crate::clock::{Clock, Nanos};
use crate::output::{DeviceStats, Output, OutputError, Playing, Render};

/// What the render sees: stereo at the device's rate; the callback maps it to the device's layout.
const RENDER_CHANNELS: u16 = 2;
/// The largest piece rendered at once; a bigger device buffer is filled in several pieces.
const SCRATCH_FRAMES: usize = 8_192;

/// A sound device, opened but not yet playing.
pub struct DeviceOutput {
    clock: Arc<dyn Clock>,
    device: cpal::Device,
    config: StreamConfig,
    format: SampleFormat,
    name: String,
    /// Where to log every callback's readings, for studying a device's timing (see [`trace`]).
    trace: Option<std::path::PathBuf>,
    windows: TimerWindows,
}

impl std::fmt::Debug for DeviceOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceOutput").field("name", &self.name).field("config", &self.config).field("format", &self.format).finish()
    }
}

/// The names of the output devices the system offers, for a settings list.
pub fn device_names() -> Result<Vec<String>, OutputError> {
    let host = cpal::default_host();
    let devices = host.output_devices().map_err(|e| OutputError::NoDevice(e.to_string()))?;
    Ok(devices.filter_map(|d| d.description().ok().map(|d| d.name().to_string())).collect())
}

impl DeviceOutput {
    /// Opens the device called `name` (or the system's default) for playback with a buffer of
    /// `period` frames. A fixed buffer of 1024–2048 frames keeps a busy machine free of xruns.
    pub fn open(clock: Arc<dyn Clock>, name: Option<&str>, period: u32) -> Result<Self, OutputError> {
        let host = cpal::default_host();
        // PulseAudio clients play to `PULSE_SINK` when it is set (libpulse does so for every
        // program); cpal's own PulseAudio client does not, so it is looked up here.
        let pulse_sink =
            (host.id() == cpal::HostId::PulseAudio).then(|| std::env::var("PULSE_SINK").ok()).flatten().filter(|s| !s.is_empty());
        let device = match name.map(str::to_owned).or(pulse_sink) {
            None => host.default_output_device().ok_or_else(|| OutputError::NoDevice("the system has no default output device".into()))?,
            Some(want) => host
                .output_devices()
                .map_err(|e| OutputError::NoDevice(e.to_string()))?
                // By the name a settings list shows, or by the system's own id (a sink's name).
                .find(|d| d.description().is_ok_and(|desc| desc.name() == want) || d.id().is_ok_and(|id| id.id() == want))
                .ok_or_else(|| OutputError::NoDevice(format!("there is no output device called {want:?}")))?,
        };
        let name = device.description().map(|d| d.name().to_string()).unwrap_or_else(|_| "default".into());
        let (config, format) = choose_config(&device)?;
        let config = StreamConfig { buffer_size: BufferSize::Fixed(period), ..config };
        // cpal's PulseAudio client reads latency from the server's own indices; other hosts'
        // reports are treated as smoothed (ALSA over PulseAudio's certainly is).
        let windows = if host.id() == cpal::HostId::PulseAudio { TimerWindows::EXACT_LATENCY } else { TimerWindows::SMOOTHED_LATENCY };
        Ok(DeviceOutput { clock, device, config, format, name, trace: None, windows })
    }

    /// Logs every callback's readings to `path` while playing, when given.
    pub fn traced(self, path: Option<std::path::PathBuf>) -> Self {
        DeviceOutput { trace: path, ..self }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Stereo float at 48 kHz when the device takes it (no conversion at all), else its default.
fn choose_config(device: &cpal::Device) -> Result<(StreamConfig, SampleFormat), OutputError> {
    let preferred = device.supported_output_configs().ok().and_then(|mut configs| {
        configs.find_map(|c| {
            (c.channels() == RENDER_CHANNELS && c.sample_format() == SampleFormat::F32).then(|| c.try_with_sample_rate(48_000)).flatten()
        })
    });
    let supported = match preferred {
        Some(c) => c,
        None => device.default_output_config().map_err(|e| OutputError::NoDevice(e.to_string()))?,
    };
    Ok((supported.config(), supported.sample_format()))
}

impl Output for DeviceOutput {
    fn rate(&self) -> u32 {
        self.config.sample_rate
    }

    fn channels(&self) -> u16 {
        RENDER_CHANNELS
    }

    fn start(self: Box<Self>, render: Box<dyn Render>) -> Result<Playing, OutputError> {
        let stop = Arc::new(AtomicBool::new(false));
        let first_frame_at = Arc::new(AtomicI64::new(i64::MIN));
        let device = Arc::new(DeviceStats::default());
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_flag, first, stats) = (stop.clone(), first_frame_at.clone(), device.clone());
        let thread = std::thread::Builder::new()
            .name("whatssound-device".into())
            .spawn(move || {
                let stream = match self.build(render, first, stats) {
                    Ok(stream) => stream,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return Ok(());
                    }
                };
                let _ = ready_tx.send(Ok(()));
                while !stop_flag.load(Ordering::Acquire) {
                    std::thread::park_timeout(Duration::from_millis(200));
                }
                drop(stream);
                Ok(())
            })
            .map_err(OutputError::Thread)?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Playing::new(stop, first_frame_at, device, thread)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(OutputError::Panicked),
        }
    }
}

impl DeviceOutput {
    fn build(self, render: Box<dyn Render>, first: Arc<AtomicI64>, stats: Arc<DeviceStats>) -> Result<cpal::Stream, OutputError> {
        let out_channels = usize::from(self.config.channels.max(1));
        let rate = self.config.sample_rate;
        let mut feed = Feed {
            render,
            clock: self.clock,
            rate,
            scratch: vec![0.0; SCRATCH_FRAMES * 2],
            first,
            timer: CallbackTimer::new(rate, self.windows),
            stats: stats.clone(),
            errors_seen: 0,
            trace: match &self.trace {
                Some(path) => Some(
                    trace::start(path)
                        .map_err(|e| OutputError::NoDevice(format!("cannot write the device trace {}: {e}", path.display())))?,
                ),
                None => None,
            },
        };
        // Errors arrive from the audio thread, sometimes hundreds after one xrun: count them; the
        // player reports the count instead of flooding a log.
        let on_error = move |_e: cpal::Error| {
            stats.errors.fetch_add(1, Ordering::Relaxed);
        };
        let device = self.device;
        let config = self.config;
        macro_rules! stream {
            ($t:ty) => {
                device.build_output_stream::<$t, _, _>(
                    config,
                    move |out: &mut [$t], info: &OutputCallbackInfo| feed.fill(out, out_channels, info),
                    on_error,
                    None,
                )
            };
        }
        let stream = match self.format {
            SampleFormat::F32 => stream!(f32),
            SampleFormat::I16 => stream!(i16),
            SampleFormat::I32 => stream!(i32),
            SampleFormat::U16 => stream!(u16),
            SampleFormat::F64 => stream!(f64),
            other => return Err(OutputError::NoDevice(format!("the device wants {other} samples, which WhatsSound does not write"))),
        }
        .map_err(|e| OutputError::NoDevice(e.to_string()))?;
        stream.play().map_err(|e| OutputError::NoDevice(e.to_string()))?;
        Ok(stream)
    }
}

/// The callback's state: everything it needs, allocated before the stream starts.
struct Feed {
    render: Box<dyn Render>,
    clock: Arc<dyn Clock>,
    rate: u32,
    scratch: Vec<f32>,
    first: Arc<AtomicI64>,
    timer: CallbackTimer,
    /// What the callbacks tell about the device. Its error count matters to the timer too: an
    /// xrun restarts the stream, which breaks the line its frames sound on.
    stats: Arc<DeviceStats>,
    errors_seen: u64,
    trace: Option<trace::Writer>,
}

impl Feed {
    fn fill<T: SizedSample + FromSample<f32>>(&mut self, out: &mut [T], out_channels: usize, info: &OutputCallbackInfo) {
        let ts = info.timestamp();
        let latency = ts.playback.checked_duration_since(ts.callback).unwrap_or_default();
        let latency = i64::try_from(latency.as_nanos()).unwrap_or(0);
        let errors = self.stats.errors.load(Ordering::Relaxed);
        if errors != self.errors_seen {
            self.errors_seen = errors;
            self.timer.restart();
        }
        let called_at = self.clock.now();
        let frames = out.len() / out_channels.max(1);
        let Some(sounds_at) = self.timer.sounds_at(called_at, latency, frames) else {
            // The first second of a stream: silence while its timing settles (a user hears the
            // track start ~1 s after joining, on time, rather than at once and off).
            out.fill(T::EQUILIBRIUM);
            self.log([called_at, latency, frames as i64, i64::MIN, i64::MIN]);
            return;
        };
        if let Some((rate_ppm, latency)) = self.timer.model() {
            self.stats.rate_ppm.store(rate_ppm, Ordering::Relaxed);
            self.stats.latency_ns.store(latency, Ordering::Relaxed);
        }
        if self.first.load(Ordering::Relaxed) == i64::MIN {
            self.first.store(sounds_at, Ordering::Release);
        }
        let rate = i64::from(self.rate.max(1));
        let mut at = sounds_at;
        for piece in out.chunks_mut(SCRATCH_FRAMES * out_channels) {
            let frames = piece.len() / out_channels;
            let stereo = &mut self.scratch[..frames * 2];
            self.render.render(stereo, at);
            for (frame, lr) in piece.chunks_exact_mut(out_channels).zip(stereo.chunks_exact(2)) {
                map_frame(frame, lr[0], lr[1]);
            }
            at += frames as Nanos * 1_000_000_000 / rate;
        }
        if self.trace.is_some() {
            // The track frame that sounded at `sounds_at`: where the render ended, less this
            // period (a trimmed frame makes it one off, 0.02 ms).
            let played = self.render.frame().map_or(i64::MIN, |f| f - frames as i64);
            self.log([called_at, latency, frames as i64, sounds_at, played]);
        }
    }

    /// Adds a line to the device trace, if one is being kept (a wait-free push; a full ring drops it).
    fn log(&mut self, line: [i64; 5]) {
        if let Some(trace) = &mut self.trace {
            let _ = trace.push(line);
        }
    }
}

mod trace {
    //! A log of every callback's readings — `called_at latency frames sounds_at played` (ns,
    //! frames; `sounds_at` is the timer's answer and `played` the track frame the engine put
    //! there, `-` while there is none) — for studying how far a device's timestamps can be
    //! trusted. The callback only pushes into a wait-free ring made beforehand; a thread of its
    //! own writes the file, and stops when the stream is dropped.

    use std::io::Write;
    use std::path::Path;
    use std::time::Duration;

    pub type Writer = rtrb::Producer<[i64; 5]>;

    pub fn start(path: &Path) -> std::io::Result<Writer> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        // A minute of 1,024-frame callbacks between drains would still fit.
        let (writer, mut reader) = rtrb::RingBuffer::<[i64; 5]>::new(1 << 14);
        std::thread::Builder::new().name("whatssound-device-trace".into()).spawn(move || {
            loop {
                let done = reader.is_abandoned();
                let shown = |v: i64| if v == i64::MIN { "-".to_owned() } else { v.to_string() };
                while let Ok([called, latency, frames, sounds, played]) = reader.pop() {
                    let _ = writeln!(file, "{called} {latency} {frames} {} {}", shown(sounds), shown(played));
                }
                let _ = file.flush();
                if done {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })?;
        Ok(writer)
    }
}

/// One stereo frame into a device frame of any width: mono gets the mix, extra channels silence.
fn map_frame<T: FromSample<f32>>(frame: &mut [T], l: f32, r: f32) {
    match frame {
        [mono] => *mono = T::from_sample_((l + r) * 0.5),
        [a, b, rest @ ..] => {
            *a = T::from_sample_(l);
            *b = T::from_sample_(r);
            for s in rest {
                *s = T::from_sample_(0.0);
            }
        }
        [] => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_map_to_any_device_layout() {
        let mut mono = [0.0f32];
        map_frame(&mut mono, 0.5, 0.25);
        assert_eq!(mono, [0.375]);
        let mut quad = [9i16; 4];
        map_frame(&mut quad, 1.0, -1.0);
        assert!(quad[0] > 32_000 && quad[1] < -32_000 && quad[2..] == [0, 0], "{quad:?}");
    }
}
