//! Logs what the default sound device's callbacks report, to see how far cpal's timestamps can be
//! trusted on a machine: one line per callback, `called_ns latency_ns frames` (`called_ns` from
//! the start), then one `error …` line per stream error on stderr. It plays silence.
//!
//!   cargo run --release -p whatssound-audio --example device_timing -- 15 > timing.txt
//!
//! This is how the sawtooth in PulseAudio's latency reports was found (see `callback_timer.rs`):
//! the callback instants stayed on a line while `latency` ramped and snapped back.

use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

fn main() -> Result<(), Box<dyn Error>> {
    let secs: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(15);
    let device = cpal::default_host().default_output_device().ok_or("no default output device")?;
    let config = cpal::StreamConfig { channels: 2, sample_rate: 48_000, buffer_size: cpal::BufferSize::Fixed(1536) };
    let start = Instant::now();
    // A diagnostic, not the player: a lock in the callback is fine here.
    let readings = Arc::new(Mutex::new(Vec::with_capacity(100_000)));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let (r, e) = (readings.clone(), errors.clone());
    let stream = device.build_output_stream::<f32, _, _>(
        config,
        move |out: &mut [f32], info: &cpal::OutputCallbackInfo| {
            let ts = info.timestamp();
            let latency = ts.playback.checked_duration_since(ts.callback).map_or(-1, |d| d.as_nanos() as i64);
            out.fill(0.0);
            if let Ok(mut r) = r.lock() {
                r.push((start.elapsed().as_nanos(), latency, out.len() / 2));
            }
        },
        move |err| {
            if let Ok(mut e) = e.lock() {
                e.push((start.elapsed().as_nanos(), err.to_string()));
            }
        },
        None,
    )?;
    stream.play()?;
    std::thread::sleep(Duration::from_secs(secs));
    drop(stream);
    for (called, latency, frames) in readings.lock().map_err(|_| "poisoned")?.iter() {
        println!("{called} {latency} {frames}");
    }
    for (at, err) in errors.lock().map_err(|_| "poisoned")?.iter() {
        eprintln!("error {at} {err}");
    }
    Ok(())
}
