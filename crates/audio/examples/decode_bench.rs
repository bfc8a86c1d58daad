//! Decode and resample speed, per core, in multiples of real time.
//!
//! ```sh
//! cargo run --release -p whatssound-audio --example decode_bench -- music.mp3 music.flac music.ogg music.wav
//! ```
//! Each file is decoded whole (in memory, so disk speed does not count) three times on this one
//! thread; the best run is reported, then the same audio is resampled 44.1 → 48 kHz.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use whatssound_audio::{Decoder, Resampler};

fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("readable file");
        let ext = std::path::Path::new(&path).extension().and_then(|e| e.to_str()).map(str::to_owned);
        let mut best = f64::INFINITY;
        let mut decoded = Vec::new();
        let mut rate = 0;
        let mut channels = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let mut d = Decoder::open_bytes(bytes.clone(), ext.as_deref(), &path).expect("decodable");
            decoded.clear();
            while d.next_packet(&mut decoded).expect("decodes") {}
            best = best.min(t.elapsed().as_secs_f64());
            rate = d.rate();
            channels = d.channels();
        }
        let seconds = decoded.len() as f64 / channels as f64 / f64::from(rate);
        println!("{path}: {seconds:.1} s of audio decoded in {:.1} ms: {:.0}x real time", best * 1e3, seconds / best);
        if rate != 48_000 {
            let t = Instant::now();
            let mut r = Resampler::new(rate, 48_000, channels).unwrap();
            let mut out = Vec::new();
            for piece in decoded.chunks(4_096 * channels) {
                r.push(piece, &mut out).unwrap();
            }
            r.finish(&mut out).unwrap();
            let took = t.elapsed().as_secs_f64();
            println!("  resampled {rate} -> 48000 Hz in {:.1} ms: {:.0}x real time", took * 1e3, seconds / took);
        }
    }
}
