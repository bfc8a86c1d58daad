//! `whatssound-cli hub` and `host` as a user runs them: the ready line, tokens that survive a
//! restart, signals, and one readable line for each bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Ws;
use whatssound_protocol::Invite;

mod common;

use common::{BIN, run, temp_dir};

/// A running CLI process, killed if a test fails before stopping it.
struct Running {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
    ready: Value,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(BIN).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("first line {line:?} is not JSON: {e}"));
        assert_eq!(ready["event"], "ready");
        Running { child, stdout, ready }
    }

    fn ws(&self) -> &str {
        self.ready["ws"].as_str().unwrap()
    }

    /// SIGTERM, then the exit status and the rest of stdout.
    fn terminate(mut self) -> (i32, Vec<Value>) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = self.child.wait().unwrap();
        let rest = (&mut self.stdout).lines().map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect();
        (status.code().unwrap_or(-1), rest)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn join(
    url: &str,
    topic: &str,
    payload: Value,
) -> (Value, tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Ws::text(json!(["1", "1", topic, "phx_join", payload]).to_string())).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap();
    (serde_json::from_str(reply.to_text().unwrap()).unwrap(), ws)
}

#[tokio::test]
async fn hub_prints_ready_checks_its_token_and_closes_sockets_on_sigterm() {
    let hub = Running::start(&["hub", "--listen", "127.0.0.1:0", "--token", "s3cret"]);
    assert!(hub.ws().starts_with("ws://127.0.0.1:") && !hub.ws().ends_with(":0"), "{}", hub.ready);
    let base = format!("{}/realtime/v1/websocket?vsn=2.0.0", hub.ws());

    let (refused, _) = join(&base, "realtime:any", json!({})).await;
    assert!(refused[4]["response"]["reason"].as_str().unwrap().starts_with("Unauthorized: "), "{refused}");
    let (ok, mut ws) = join(&format!("{base}&apikey=s3cret"), "realtime:any", json!({})).await;
    assert_eq!(ok[4]["status"], "ok");

    let (code, rest) = hub.terminate();
    assert_eq!(code, 0);
    assert_eq!(rest, vec![json!({"event": "stopped"})]);
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap() {
            Some(Ok(Ws::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close, Some(1001));
}

#[tokio::test]
async fn host_keeps_its_room_and_tokens_in_the_data_dir() {
    let dir = temp_dir("keep");
    let d = dir.to_str().unwrap();
    let first = Running::start(&["host", "--listen", "127.0.0.1:0", "--data-dir", d, "--room", "jam"]);
    let ready = first.ready.clone();
    for field in ["ws", "room", "invite", "host_invite", "listener_token", "host_token"] {
        assert!(ready[field].as_str().is_some_and(|s| !s.is_empty()), "{field} in {ready}");
    }
    let invite: Invite = ready["invite"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        (invite.ws.as_str(), invite.room.as_str(), invite.token.as_str()),
        (first.ws(), "jam", ready["listener_token"].as_str().unwrap())
    );
    let host_invite: Invite = ready["host_invite"].as_str().unwrap().parse().unwrap();
    assert_eq!(host_invite.token, ready["host_token"].as_str().unwrap());
    assert_ne!(ready["listener_token"], ready["host_token"]);

    // The listener token joins the room's topics; it does not open other topics.
    let url = format!("{}/socket/websocket?vsn=2.0.0&token={}", first.ws(), invite.token);
    let (ok, _) = join(&url, "realtime:room:jam:chat", json!({})).await;
    assert_eq!(ok[4]["status"], "ok");
    let (no, _) = join(&url, "realtime:elsewhere", json!({})).await;
    assert_eq!(no[4]["status"], "error");
    assert_eq!(first.terminate().0, 0);

    let again = Running::start(&["host", "--listen", "127.0.0.1:0", "--data-dir", d]);
    for field in ["room", "listener_token", "host_token"] {
        assert_eq!(again.ready[field], ready[field], "{field} survives a restart");
    }
    drop(again);
    let other_dir = temp_dir("other");
    let other = Running::start(&["host", "--listen", "127.0.0.1:0", "--data-dir", other_dir.to_str().unwrap()]);
    assert_ne!(other.ready["listener_token"], ready["listener_token"], "a new data dir is a new room");
    drop(other);
}

#[test]
fn public_url_goes_into_the_invites() {
    let dir = temp_dir("public");
    let host =
        Running::start(&["host", "--listen", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap(), "--public-url", "wss://jam.example.org/"]);
    let invite: Invite = host.ready["invite"].as_str().unwrap().parse().unwrap();
    assert_eq!(invite.ws.as_str(), "wss://jam.example.org");
    assert!(host.ws().starts_with("ws://127.0.0.1:"), "ws stays the connectable local URL");
    drop(host);
}

#[test]
fn a_port_in_use_is_one_line_and_exit_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for cmd in ["hub", "host"] {
        let dir = temp_dir(&format!("port-{cmd}"));
        let d = dir.to_str().unwrap();
        let args: Vec<&str> = if cmd == "hub" { vec![cmd, "--listen", &addr] } else { vec![cmd, "--listen", &addr, "--data-dir", d] };
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 1, "{cmd}: {stderr}");
        assert!(stdout.is_empty());
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("could not listen on") && stderr.contains("in use"), "{stderr}");
    }
}

#[test]
fn bad_usage_exits_2_and_bad_values_exit_1_with_one_line() {
    let (code, _, stderr) = run(&["hub", "--bogus"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, _) = run(&["hub", "--listen", "not-an-address"]);
    assert_eq!(code, 2);
    let huge = "x".repeat(whatssound_core::MAX_AVATAR_BYTES + 1);
    let (code, _, stderr) = run(&["listen", "whatssound://join?ws=ws%3A%2F%2F127.0.0.1%3A1&room=r&token=t", "--avatar", &huge]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("the avatar is") && stderr.contains("pick a smaller image or a link"), "{stderr}");
    let dir = temp_dir("bad");
    let d = dir.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["host", "--listen", "127.0.0.1:0", "--data-dir", d, "--public-url", "http://x"], "--public-url must be"),
        (&["host", "--listen", "127.0.0.1:0", "--data-dir", d, "--relay", "ws://relay:4000/socket"], "--relay must be"),
        (&["host", "--listen", "127.0.0.1:0", "--data-dir", d, "--room", "no/slash"], "not a valid room id"),
        (&["hub", "--listen", "127.0.0.1:0", "--token", ""], "--token must not be empty"),
        (&["hub", "--listen", "127.0.0.1:0", "--idle-timeout-secs", "0"], "--idle-timeout-secs"),
    ];
    for (args, needle) in cases {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn a_corrupt_room_file_is_reported_and_kept() {
    let dir = temp_dir("corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("room.json"), "{\"room\": ").unwrap();
    let (code, _, stderr) = run(&["host", "--listen", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("corrupt") && stderr.contains("room.json"), "{stderr}");
    assert_eq!(std::fs::read_to_string(dir.join("room.json")).unwrap(), "{\"room\": ");
}
