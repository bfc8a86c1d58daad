//! Running `whatssound-cli` as a user does, reading its JSON lines as they come.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::Value;

pub mod bed;

pub const BIN: &str = env!("CARGO_BIN_EXE_whatssound-cli");
pub const WAIT: Duration = Duration::from_secs(10);

/// A running CLI process; killed if the test ends without stopping it.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<Value>,
    /// The last lines of its log (stderr), shown when a wait fails: the why, on a CI machine.
    log: Arc<Mutex<VecDeque<String>>>,
    pub ready: Value,
}

/// How many of a process's last log lines a failed wait shows.
const LOG_LINES: usize = 40;

impl Running {
    /// Starts a command whose first line is `ready` (hub, host).
    pub fn start(args: &[&str]) -> Running {
        let mut r = Running::spawn(args);
        r.ready = r.next().unwrap_or_else(|| panic!("no ready line from {args:?}"));
        assert_eq!(r.ready["event"], "ready", "{}", r.ready);
        r
    }

    /// Starts a command without waiting for anything.
    pub fn spawn(args: &[&str]) -> Running {
        Running::spawn_with_env(args, &[])
    }

    /// Starts a command with extra environment variables, without waiting for anything.
    pub fn spawn_with_env(args: &[&str], env: &[(String, String)]) -> Running {
        let mut command = Command::new(BIN);
        command.args(args).envs(env.iter().cloned());
        Running::spawn_command(command)
    }

    /// Starts a prepared command (e.g. one run in another network namespace) whose stdout is
    /// JSON lines, without waiting for anything.
    pub fn spawn_command(mut command: Command) -> Running {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let tail = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut tail = tail.lock().unwrap();
                if tail.len() == LOG_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout line {line:?} is not JSON: {e}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Running { child, lines, log, ready: Value::Null }
    }

    pub fn ws(&self) -> String {
        self.ready["ws"].as_str().unwrap().to_owned()
    }

    pub fn field(&self, name: &str) -> String {
        self.ready[name].as_str().unwrap_or_else(|| panic!("{name} in {}", self.ready)).to_owned()
    }

    /// The next line, or None at exit or after [`WAIT`].
    pub fn next(&mut self) -> Option<Value> {
        self.lines.recv_timeout(WAIT).ok()
    }

    /// Lines until one matches; panics (with what was seen) if none does in time.
    pub fn until(&mut self, want: impl FnMut(&Value) -> bool) -> Value {
        self.until_within(WAIT, want)
    }

    /// [`Running::until`] with a wait of its own.
    pub fn until_within(&mut self, wait: Duration, mut want: impl FnMut(&Value) -> bool) -> Value {
        // One deadline for the whole wait: a process that keeps printing other lines must not
        // keep a test waiting forever.
        let deadline = std::time::Instant::now() + wait;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if want(&v) => return v,
                Ok(v) => seen.push(v),
                Err(_) => {
                    let log = self.log.lock().unwrap().iter().cloned().collect::<Vec<_>>().join("\n");
                    panic!("no matching line within {wait:?}; saw {seen:#?}\nits log ends:\n{log}")
                }
            }
        }
    }

    /// The lines printed so far and not yet read.
    pub fn drain(&mut self) -> Vec<Value> {
        self.lines.try_iter().collect()
    }

    pub fn signal(&self, sig: &str) {
        assert!(Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap().success());
    }

    /// Waits for the exit code (None if killed by a signal). A process that has not exited within
    /// 20 s is killed and the test fails saying so, rather than hanging the suite.
    pub fn wait(mut self) -> Option<i32> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let unread: Vec<Value> = self.lines.try_iter().collect();
                panic!("whatssound-cli (pid {}) did not exit within 20 s; its unread lines: {unread:#?}", self.child.id());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        std::mem::forget(self);
        status.code()
    }

    pub fn terminate(self) -> Option<i32> {
        self.signal("-TERM");
        self.wait()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs to completion; returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// A test's scratch directory, removed when dropped, so a failing test leaves nothing behind
/// either. It derefs to its path.
pub struct Scratch(tempfile::TempDir);

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        self.0.path()
    }
}

impl AsRef<std::path::Path> for Scratch {
    fn as_ref(&self) -> &std::path::Path {
        self.0.path()
    }
}

pub fn temp_dir(name: &str) -> Scratch {
    Scratch(tempfile::Builder::new().prefix(&format!("whatssound-cli-test-{name}-")).tempdir().unwrap())
}

/// A short real audio file (a WAV tone) for `host FILE…`.
pub fn song(dir: &std::path::Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, whatssound_audio::wav::sine(44_100, 2, 2.0, 440.0, &whatssound_audio::wav::Tags::default())).unwrap();
    path
}
