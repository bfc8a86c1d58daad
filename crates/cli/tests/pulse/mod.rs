//! A private PulseAudio with a clocked null sink, a recorder of what it plays, and the
//! cross-correlation that says how far apart its two channels are.
//!
//! Learned the hard way (and why each step is here): a fresh null sink renders in 2 s blocks, so a
//! silent low-latency stream keeps it rendering in ~1 ms blocks and the first 2.2 s are waited
//! out; running without a desktop session needs `HOME`, `PULSE_RUNTIME_PATH` and
//! `autospawn = no`; ALSA's own `null` device is not clocked, which is why PulseAudio is used at all.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

pub struct Pulse {
    dir: PathBuf,
    daemon: Child,
    keepalive: Child,
}

impl Pulse {
    /// Starts the daemon with sink `sync` (48 kHz stereo) and the mono sinks `left` and `right`
    /// that feed its two channels.
    pub fn start(dir: &Path) -> Pulse {
        assert!(
            Command::new("pulseaudio").arg("--version").output().is_ok_and(|o| o.status.success()),
            "PulseAudio is missing: run scripts/setup (it installs pulseaudio, pulseaudio-utils and libasound2-plugins)"
        );
        std::fs::create_dir_all(dir.join("home")).unwrap();
        let dir = dir.canonicalize().unwrap();
        let socket = dir.join("native");
        std::fs::write(
            dir.join("daemon.pa"),
            format!(
                "load-module module-native-protocol-unix auth-anonymous=1 socket={socket}\n\
                 load-module module-null-sink sink_name=sync format=s16le rate=48000 channels=2 channel_map=front-left,front-right\n\
                 load-module module-remap-sink sink_name=left master=sync channels=1 master_channel_map=front-left channel_map=mono remix=no\n\
                 load-module module-remap-sink sink_name=right master=sync channels=1 master_channel_map=front-right channel_map=mono remix=no\n\
                 set-default-sink sync\n",
                socket = socket.display()
            ),
        )
        .unwrap();
        std::fs::write(dir.join("client.conf"), format!("autospawn = no\ndefault-server = unix:{}\n", socket.display())).unwrap();
        let mut pulse = Pulse {
            dir: dir.clone(),
            daemon: spawn_quiet(Command::new("pulseaudio").args(daemon_args(&dir)).envs(env(&dir))),
            keepalive: placeholder(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(socket.exists() && pulse.ctl(&["info"])) {
            assert!(Instant::now() < deadline, "PulseAudio did not start; see {}", dir.join("pulse.log").display());
            std::thread::sleep(Duration::from_millis(50));
        }
        pulse.keepalive = spawn_quiet(
            Command::new("pacat")
                .args(["--playback", "-d", "sync", "--raw", "--format=s16le", "--rate=48000", "--channels=2", "--latency-msec=5"])
                .stdin(std::fs::File::open("/dev/zero").unwrap())
                .envs(env(&dir)),
        );
        std::thread::sleep(Duration::from_millis(2_200));
        pulse
    }

    fn ctl(&self, args: &[&str]) -> bool {
        Command::new("pactl")
            .args(args)
            .envs(env(&self.dir))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The environment a player needs to play into `sink` (`left` or `right`).
    pub fn env(&self, sink: &str) -> Vec<(String, String)> {
        let mut e = env(&self.dir);
        e.push(("PULSE_SINK".into(), sink.into()));
        e
    }

    /// Records the sink's monitor for `length`: (left, right) in −1..1.
    pub fn record(&self, length: Duration) -> (Vec<f32>, Vec<f32>) {
        let mut rec = Command::new("parec")
            .args(["--device=sync.monitor", "--raw", "--format=s16le", "--rate=48000", "--channels=2", "--latency-msec=10"])
            .envs(env(&self.dir))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = rec.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stdout.read_to_end(&mut bytes);
            bytes
        });
        std::thread::sleep(length);
        let _ = rec.kill();
        let _ = rec.wait();
        let bytes = reader.join().unwrap();
        let samples: Vec<f32> = bytes.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0).collect();
        samples.chunks_exact(2).map(|f| (f[0], f[1])).unzip()
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        for child in [&mut self.keepalive, &mut self.daemon] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn daemon_args(dir: &Path) -> Vec<String> {
    [
        "-n".to_string(),
        "-F".into(),
        dir.join("daemon.pa").display().to_string(),
        "--daemonize=no".into(),
        "--system=no".into(),
        "--exit-idle-time=-1".into(),
        "--disallow-exit".into(),
        "--use-pid-file=no".into(),
        format!("--log-target=file:{}", dir.join("pulse.log").display()),
    ]
    .to_vec()
}

fn env(dir: &Path) -> Vec<(String, String)> {
    let d = |p: &str| dir.join(p).display().to_string();
    vec![
        ("HOME".into(), d("home")),
        ("PULSE_RUNTIME_PATH".into(), d("")),
        ("PULSE_STATE_PATH".into(), d("")),
        ("PULSE_CLIENTCONFIG".into(), d("client.conf")),
        ("PULSE_SERVER".into(), format!("unix:{}", d("native"))),
    ]
}

fn spawn_quiet(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap_or_else(|e| panic!("could not start {cmd:?}: {e}"))
}

/// A child that has already exited, so a half-built `Pulse` can be dropped safely.
fn placeholder() -> Child {
    let mut c = Command::new("true").spawn().unwrap();
    let _ = c.wait();
    c
}

/// How much later `b` is than `a` (ms, positive: `b` late), searched within ±`max_lag_ms`, with the
/// normalised height of the correlation peak (1.0: identical). FFT cross-correlation, the peak
/// refined between samples by a parabola.
pub fn lag_ms(a: &[f32], b: &[f32], rate: u32, max_lag_ms: f64) -> (f64, f64) {
    let n = (a.len() + b.len()).next_power_of_two();
    let mut planner = FftPlanner::<f64>::new();
    let (forward, inverse) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
    let spectrum = |x: &[f32]| {
        let mut buf: Vec<Complex<f64>> = x.iter().map(|s| Complex::new(f64::from(*s), 0.0)).collect();
        buf.resize(n, Complex::new(0.0, 0.0));
        forward.process(&mut buf);
        buf
    };
    let (fa, fb) = (spectrum(a), spectrum(b));
    let mut c: Vec<Complex<f64>> = fa.iter().zip(&fb).map(|(x, y)| x.conj() * y).collect();
    inverse.process(&mut c);
    // c[k] = Σ a[i]·b[i+k]: a positive k means b lags a.
    let at = |k: i64| c[k.rem_euclid(n as i64) as usize].re;
    let max_lag = (max_lag_ms * f64::from(rate) / 1000.0) as i64;
    let best = (-max_lag..=max_lag).max_by(|x, y| at(*x).total_cmp(&at(*y))).unwrap_or(0);
    let (y0, y1, y2) = (at(best - 1), at(best), at(best + 1));
    let denom = y0 - 2.0 * y1 + y2;
    let frac = if denom == 0.0 { 0.0 } else { 0.5 * (y0 - y2) / denom };
    let energy = |x: &[f32]| x.iter().map(|s| f64::from(*s) * f64::from(*s)).sum::<f64>();
    // rustfft does not scale its inverse: the sums come out n times too large.
    let norm = y1 / n as f64 / (energy(a) * energy(b)).sqrt().max(1e-20);
    ((best as f64 + frac) * 1000.0 / f64::from(rate), norm)
}

#[test]
fn the_cross_correlation_finds_a_known_delay() {
    // Noise, and the same noise 37 ms (1,776 frames) later.
    let mut seed = 1u32;
    let a: Vec<f32> = (0..48_000)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 16) as f32 / 65_536.0 - 0.5
        })
        .collect();
    let mut b = vec![0.0; 1_776];
    b.extend_from_slice(&a[..48_000 - 1_776]);
    let (lag, strength) = lag_ms(&a, &b, 48_000, 200.0);
    assert!((lag - 37.0).abs() < 0.01, "{lag}");
    assert!(strength > 0.9 && strength <= 1.0, "{strength}");
    let (back, _) = lag_ms(&b, &a, 48_000, 200.0);
    assert!((back + 37.0).abs() < 0.01, "{back}");
}
