use rtrb::RingBuffer;

use super::*;

const RATE: u32 = 48_000;
const PERIOD: usize = 480; // 10 ms

/// A ring preloaded with frames whose single sample is their own stream index (mono).
fn ramp(frames: usize) -> Consumer<f32> {
    let (mut p, c) = RingBuffer::new(frames);
    for i in 0..frames {
        let _ = p.push(i as f32);
    }
    c
}

fn timeline(anchor_host_ns: Nanos, offset_ns: Nanos) -> Timeline {
    Timeline { anchor_host_ns, anchor_frame: 0, playing: true, offset_ns, offset_at: 0, drift: 0.0, nudge_frames: 0 }
}

/// Runs `periods` periods starting at local instant `start`; returns the first sample of each.
fn run(render: &mut SyncRender, start: Nanos, periods: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; PERIOD];
    (0..periods)
        .map(|n| {
            render.render(&mut out, start + n as Nanos * 10_000_000);
            out[0]
        })
        .collect()
}

#[test]
fn plays_the_frame_the_host_timeline_names_through_a_clock_offset() {
    // Host clock = local + 5 s. Playback started at host 5.0 s, so at local 0.5 s the track is
    // 0.5 s (24,000 frames) in: the engine must jump there, then follow.
    let (mut control, mut render) = engine(ramp(RATE as usize * 2), RATE, 1, PlayoutConfig { window: 3, ..PlayoutConfig::default() }, 0);
    control.set(timeline(5_000_000_000, 5_000_000_000));
    let firsts = run(&mut render, 500_000_000, 12);
    // The first periods wait for the median window, then jump; after that the frame at each
    // period's output instant is the one the timeline names, to the frame.
    let settled: Vec<i64> = firsts[3..].iter().map(|f| *f as i64).collect();
    for (k, frame) in settled.iter().enumerate() {
        let n = (k + 3) as i64;
        let want = 24_000 + n * PERIOD as i64;
        assert!((frame - want).abs() <= 1, "period {n}: frame {frame}, want {want}");
    }
    assert_eq!(control.stats.jumps.load(Ordering::Relaxed), 1);
}

#[test]
fn a_small_steady_error_is_trimmed_away_by_single_frames_not_a_jump() {
    // 1 ms behind (48 frames) from the start: within the jump threshold.
    let (mut control, mut render) =
        engine(ramp(RATE as usize * 10), RATE, 1, PlayoutConfig { window: 5, settle_ns: 500_000_000, ..PlayoutConfig::default() }, 0);
    control.set(timeline(-1_000_000, 0));
    let firsts = run(&mut render, 0, 400);
    assert_eq!(control.stats.jumps.load(Ordering::Relaxed), 0);
    let trimmed = control.stats.trimmed_frames.load(Ordering::Relaxed);
    assert!((40..=56).contains(&trimmed), "dropped {trimmed} single frames to remove 48 frames of lag");
    let last = *firsts.last().unwrap() as i64;
    let want = 48 + 399 * PERIOD as i64;
    assert!((last - want).abs() <= 8, "after 4 s the error is under 8 frames: {last} vs {want}");
}

#[test]
fn paused_plays_silence_and_an_empty_ring_counts_underruns() {
    let (mut control, mut render) = engine(ramp(100), RATE, 1, PlayoutConfig { window: 1, ..PlayoutConfig::default() }, 0);
    let mut out = vec![1.0f32; PERIOD];
    render.render(&mut out, 0);
    assert!(out.iter().all(|s| *s == 0.0), "no timeline yet: silence");
    control.set(Timeline { playing: false, ..timeline(0, 0) });
    render.render(&mut out, 0);
    assert!(out.iter().all(|s| *s == 0.0), "paused: silence");
    control.set(timeline(0, 0));
    render.render(&mut out, 0);
    assert_eq!(control.stats.underruns.load(Ordering::Relaxed), 1, "100 frames cannot fill a 480-frame period");
}
