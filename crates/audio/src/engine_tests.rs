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
    // 0.5 s (24,000 frames) in: the engine must start there, then follow.
    let (mut control, mut render) = engine(ramp(RATE as usize * 2), RATE, 1, PlayoutConfig { window: 3, ..PlayoutConfig::default() }, 0);
    control.set(timeline(5_000_000_000, 5_000_000_000));
    let firsts = run(&mut render, 500_000_000, 12);
    // From the very first period (no waiting for the median window), the frame at each period's
    // output instant is the one the timeline names, to the frame; placing it was not a correction.
    for (n, frame) in firsts.iter().enumerate() {
        let want = 24_000 + n as i64 * PERIOD as i64;
        assert!((*frame as i64 - want).abs() <= 1, "period {n}: frame {frame}, want {want}");
    }
    assert_eq!(control.stats.jumps.load(Ordering::Relaxed), 0);
}

#[test]
fn a_deck_waits_in_silence_for_its_decoder_and_for_a_start_in_the_future() {
    // The ring holds frames 0..1,000 only, but the target is frame 24,000: silence, nothing consumed.
    let (mut p, c) = RingBuffer::new(RATE as usize * 2);
    for i in 0..1_000 {
        let _ = p.push(i as f32);
    }
    let (mut control, mut render) = engine(c, RATE, 1, PlayoutConfig::default(), 0);
    control.set(timeline(5_000_000_000, 5_000_000_000));
    let mut out = vec![1.0f32; PERIOD];
    render.render(&mut out, 500_000_000);
    assert!(out.iter().all(|s| *s == 0.0));
    assert_eq!(render.samples.slots(), 0, "what comes before the target is dropped, making room for the decoder");
    // Once decoded that far, it starts exactly on time.
    for i in 1_000..80_000 {
        let _ = p.push(i as f32);
    }
    render.render(&mut out, 510_000_000);
    assert_eq!(out[0] as i64, 24_480);
    // A start 25 ms ahead of the period's instant: silence until then, then frame 0 on the dot.
    let (mut control, mut render) = engine(ramp(10_000), RATE, 1, PlayoutConfig::default(), 0);
    control.set(timeline(25_000_000, 0));
    let firsts = run(&mut render, 0, 3);
    assert_eq!(firsts[..2], [0.0, 0.0]);
    assert_eq!(out.len(), PERIOD);
    let mut out = vec![0.0f32; PERIOD];
    let (mut control, mut render) = engine(ramp(10_000), RATE, 1, PlayoutConfig::default(), 0);
    control.set(timeline(25_000_000, 0));
    render.render(&mut out, 0);
    render.render(&mut out, 10_000_000);
    render.render(&mut out, 20_000_000);
    // This period starts at 20 ms; frame 0 belongs at 25 ms = 240 frames in.
    assert!(out[..240].iter().all(|s| *s == 0.0) && out[240] == 0.0 && out[241] == 1.0, "{:?}", &out[238..243]);
}

#[test]
fn a_deck_starts_with_a_cushion_so_a_decoder_that_falls_behind_at_once_is_not_heard() {
    // The target is frame 24,000. One period past it is decoded: not enough to start on.
    let (mut p, c) = RingBuffer::new(RATE as usize * 2);
    for i in 0..24_480 + PERIOD {
        let _ = p.push(i as f32);
    }
    let (mut control, mut render) = engine(c, RATE, 1, PlayoutConfig::default(), 0);
    control.set(timeline(5_000_000_000, 5_000_000_000));
    let mut out = vec![1.0f32; PERIOD];
    render.render(&mut out, 500_000_000);
    assert!(out.iter().all(|s| *s == 0.0), "one period in hand is no cushion: silence still");
    // The cushion arrives, then the decoder stalls for all of it but a period: the cushion plays
    // through, on time.
    let cushion = (super::START_CUSHION_MS * i64::from(RATE) / 1000) as usize;
    for i in 24_480 + PERIOD..24_480 + PERIOD + cushion {
        let _ = p.push(i as f32);
    }
    let periods = cushion / PERIOD;
    let firsts = run(&mut render, 510_000_000, periods);
    assert_eq!(firsts[0] as i64, 24_480);
    assert_eq!(firsts[periods - 1] as i64, 24_480 + (periods as i64 - 1) * PERIOD as i64);
    assert_eq!(control.stats.underruns.load(Ordering::Relaxed), 0);
}

#[test]
fn a_small_steady_error_is_played_away_a_little_faster_not_by_a_jump() {
    // 1 ms behind (48 frames) from the start: within the jump threshold.
    let (mut control, mut render) = engine(
        ramp(RATE as usize * 10),
        RATE,
        1,
        PlayoutConfig { window: 5, settle_ns: 500_000_000, settle_for: 0, ..PlayoutConfig::default() },
        0,
    );
    // Placed on the timeline first; then the clock estimate moves by 1 ms (same anchor: no re-placing).
    control.set(timeline(0, 0));
    run(&mut render, 0, 1);
    control.set(timeline(-1_000_000, 0));
    let firsts = run(&mut render, 10_000_000, 400);
    assert_eq!(control.stats.jumps.load(Ordering::Relaxed), 0);
    let trimmed = control.stats.trimmed_frames.load(Ordering::Relaxed);
    assert!((40..=56).contains(&trimmed), "played {trimmed} frames beyond nominal to remove 48 frames of lag");
    let last = *firsts.last().unwrap() as i64;
    let want = 48 + 400 * PERIOD as i64;
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
    assert_eq!(control.stats.underruns.load(Ordering::Relaxed), 0, "not started: waiting for the decoder is not an underrun");
    let (mut control, mut render) = engine(ramp(1_000), RATE, 1, PlayoutConfig { window: 1, ..PlayoutConfig::default() }, 0);
    control.set(timeline(0, 0));
    run(&mut render, 0, 3);
    assert_eq!(control.stats.underruns.load(Ordering::Relaxed), 1, "1,000 frames cannot fill three 480-frame periods");
}

#[test]
fn a_device_slower_than_the_clock_is_followed_from_the_start_without_jumps() {
    // The device plays 400 ppm slow against the local clock, so each 10 ms period's first frame
    // sounds 4 µs later than nominal: the timeline runs 400 ppm ahead of the frames played. The
    // engine must keep up by trimming at that rate, without the error first growing to drive it.
    let (mut control, mut render) = engine(ramp(RATE as usize * 8), RATE, 1, PlayoutConfig::default(), 0);
    control.set(timeline(0, 0));
    let mut out = vec![0.0f32; PERIOD];
    let mut worst_after_2s: Nanos = 0;
    for n in 0..600 {
        render.render(&mut out, n * 10_004_000);
        if n >= 200 {
            worst_after_2s = worst_after_2s.max(control.stats.error_ns.load(Ordering::Relaxed).abs());
        }
    }
    assert_eq!(control.stats.jumps.load(Ordering::Relaxed), 0, "never far enough off to jump");
    assert!(worst_after_2s < 150_000, "within 0.15 ms from 2 s on: {worst_after_2s} ns");
    let trimmed = control.stats.trimmed_frames.load(Ordering::Relaxed);
    assert!((100..=125).contains(&trimmed), "about 400 ppm of 288,000 frames played beyond nominal: {trimmed}");
}

/// Plays `secs` of `frames`-frame periods on a device whose periods sound `device_ppm` sooner
/// than nominal (it runs that much fast), on a still timeline; returns the jumps, the worst error
/// from `settled_secs` on (ns), and the worst step between neighbouring output frames off 1 (each
/// sample is its own frame index, so a dropped frame steps 2 and a repeated one 0).
fn follow(device_ppm: f64, frames: usize, secs: f64, settled_secs: f64) -> (u64, Nanos, f32) {
    let (mut control, mut render) = engine(ramp((f64::from(RATE) * (secs + 1.0)) as usize), RATE, 1, PlayoutConfig::default(), 0);
    control.set(timeline(0, 0));
    let mut out = vec![0.0f32; frames];
    let period_ns = frames as f64 * 1e9 / f64::from(RATE) / (1.0 + device_ppm * 1e-6);
    let (mut worst, mut roughest) = (0, 0.0f32);
    let periods = (secs * 1e9 / period_ns) as i64;
    for n in 0..periods {
        render.render(&mut out, (n as f64 * period_ns) as Nanos);
        if n as f64 * period_ns >= settled_secs * 1e9 {
            worst = worst.max(control.stats.error_ns.load(Ordering::Relaxed).abs());
            roughest = out.windows(2).map(|w| (w[1] - w[0] - 1.0).abs()).fold(roughest, f32::max);
        }
    }
    (control.stats.jumps.load(Ordering::Relaxed), worst, roughest)
}

#[test]
fn a_device_off_its_rate_is_followed_smoothly_with_no_frame_dropped_or_repeated() {
    // 800 ppm fast with 3,072-frame periods, as PulseAudio's null sink on this VM; +3,000 ppm and
    // −1 % (a cheap USB or Bluetooth device) with 1,024. All past the 500 ppm correction cap, yet
    // followed without jumps: the rate is read within the first second and played by resampling.
    for (device_ppm, frames) in [(800.0, 3_072), (3_000.0, 1_024), (-10_000.0, 1_024)] {
        let (jumps, worst, roughest) = follow(device_ppm, frames, 10.0, 3.0);
        assert_eq!(jumps, 0, "{device_ppm} ppm: never far enough off to jump");
        assert!(worst < 300_000, "{device_ppm} ppm: within 0.3 ms from 3 s on: {worst} ns");
        // Neighbouring frames step by 1 ± the rate (and f32's precision at frame 500,000).
        assert!(roughest < 0.1, "{device_ppm} ppm: a step of {roughest} frames off 1 between neighbours");
    }
}

#[test]
fn one_frame_periods_with_trims_owed_play_on() {
    // A timeline 1% slower than the output, in one-frame periods (the position crosses a frame
    // boundary only every hundred periods). It must play on, not panic or underrun.
    let (mut control, mut render) = engine(ramp(RATE as usize), RATE, 1, PlayoutConfig { window: 1, ..PlayoutConfig::default() }, 0);
    control.set(timeline(0, 0));
    let mut out = [0.0f32; 1];
    for n in 0..5_000 {
        render.render(&mut out, n * 21_040);
    }
    assert!(control.stats.underruns.load(Ordering::Relaxed) == 0);
}
