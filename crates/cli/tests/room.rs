//! A room as users run it: `host`, `listen` and `send` processes talking through the hub.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Running, run, song, temp_dir};
use serde_json::Value;

fn host(dir: &std::path::Path, extra: &[&str]) -> Running {
    let d = dir.to_str().unwrap();
    let mut args = vec!["host", "--listen", "127.0.0.1:0", "--data-dir", d, "--room", "jam"];
    args.extend_from_slice(extra);
    Running::start(&args)
}

fn listen(invite: &str, name: &str, dir: &std::path::Path) -> Running {
    let mut l = Running::spawn(&["listen", invite, "--name", name, "--data-dir", dir.to_str().unwrap()]);
    l.until(|v| v["event"] == "joined");
    l
}

fn send(invite: &str, dir: Option<&std::path::Path>, action: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["send", invite, "--timeout", "8"];
    let d;
    if let Some(dir) = dir {
        d = dir.to_str().unwrap().to_owned();
        args.extend(["--data-dir", &d]);
    }
    args.extend_from_slice(action);
    let (code, stdout, stderr) = run(&args);
    let line = stdout.lines().next().map(|l| serde_json::from_str(l).unwrap()).unwrap_or(Value::Null);
    assert!(stdout.lines().count() <= 1, "one result line: {stdout}");
    (code, line, stderr)
}

#[test]
fn chat_enqueue_vote_and_refusals_reach_every_listener() {
    let base = temp_dir("flow");
    let track = song(&base, "First Song.wav");
    let junk = base.join("shopping list.mp3");
    std::fs::write(&junk, b"eggs, milk").unwrap();
    let h = host(&base.join("host"), &[track.to_str().unwrap(), junk.to_str().unwrap()]);
    let invite = h.field("invite");
    let host_invite = h.field("host_invite");
    let mut ann = listen(&invite, "ann", &base.join("ann"));
    let mut bob = listen(&invite, "bob", &base.join("bob"));
    // The real file is queued with its duration; the file that is not audio was skipped.
    let mut carl = Running::spawn(&["listen", &invite, "--name", "carl", "--data-dir", base.join("carl").to_str().unwrap()]);
    let snapshot = carl.until(|v| v["event"] == "snapshot");
    drop(carl);
    assert_eq!(snapshot["queue"].as_array().map(Vec::len), Some(1), "{snapshot}");
    assert_eq!(snapshot["queue"][0]["title"], "First Song");
    ann.until(|v| v["event"] == "presence" && v["joins"].as_array().unwrap().iter().any(|p| p["username"] == "bob"));

    let (code, ok, _) = send(&invite, Some(&base.join("ann")), &["chat", "hello", "room"]);
    assert_eq!((code, ok["event"].as_str()), (0, Some("ok")), "{ok}");
    for l in [&mut ann, &mut bob] {
        let chat = l.until(|v| v["event"] == "chat");
        assert_eq!(chat["text"], "hello room");
        assert_eq!(chat["name"], "ann", "send with ann's data dir speaks as ann");
        assert!(chat["id"].is_string() && chat["user"].is_string());
    }

    let (code, ok, _) = send(&invite, Some(&base.join("bob")), &["enqueue", "https://example.org/second.ogg"]);
    assert_eq!(code, 0);
    let track_id = ok["track"].as_str().unwrap().to_owned();
    let diff = ann.until(|v| v["event"] == "queue_diff");
    assert_eq!(diff["diff"]["op"], "insert");
    assert_eq!(diff["diff"]["track"]["id"], track_id.as_str());

    let (code, _, _) = send(&invite, Some(&base.join("ann")), &["vote", &track_id, "down"]);
    assert_eq!(code, 0);
    let vote = bob.until(|v| v["event"] == "vote");
    assert_eq!((vote["track"].as_str(), vote["down"].as_u64()), (Some(track_id.as_str()), Some(1)));

    // Host-only with a listener invite: refused, exit 1, the reason on both streams.
    let (code, refused, stderr) = send(&invite, None, &["skip"]);
    assert_eq!((code, refused["event"].as_str()), (1, Some("refused")));
    assert_eq!(refused["reason"], "only the host may skip");
    assert!(stderr.contains("only the host may skip"));
    // Bad intents each get their reason and change nothing.
    for (action, needle) in [(vec!["remove", "t99"], "not in the queue"), (vec!["move", "t1", "0"], "only the host")] {
        let (code, refused, _) = send(&invite, None, &action);
        assert_eq!(code, 1, "{action:?}");
        assert!(refused["reason"].as_str().unwrap().contains(needle), "{refused}");
    }
    let long = "x".repeat(1001);
    let (code, refused, _) = send(&invite, None, &["chat", &long]);
    assert_eq!(code, 1);
    assert!(refused["reason"].as_str().unwrap().contains("at most 1000 characters"));

    // With the host invite the same action is the host's.
    let (code, ok, _) = send(&host_invite, None, &["move", &track_id, "0"]);
    assert_eq!((code, ok["event"].as_str()), (0, Some("ok")));
    ann.until(|v| v["event"] == "queue_diff" && v["diff"]["op"] == "reorder");
    let (code, _, _) = send(&host_invite, None, &["pause"]);
    assert_eq!(code, 0);
    assert_eq!(bob.until(|v| v["event"] == "playback")["playing"], false);

    // The host stops: everyone hears that the room closed, and exits 0.
    assert_eq!(h.terminate(), Some(0));
    ann.until(|v| v["event"] == "room_closed");
    assert_eq!(ann.wait(), Some(0));
    assert_eq!(bob.wait(), Some(0));
}

#[test]
fn bad_invites_dead_hosts_and_silent_rooms_exit_with_one_line() {
    let (code, _, stderr) = run(&["listen", "https://nope"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("bad invite") && stderr.contains("whatssound://join?"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1);

    // Nobody listening on that port.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dead = format!("whatssound://join?ws=ws%3A%2F%2F{free}&room=jam&token=t&key=k");
    let (code, _, stderr) = run(&["listen", &dead]);
    assert_eq!(code, 1);
    assert!(stderr.contains("could not join the room") && stderr.contains("could not connect"), "{stderr}");

    // A bare relay with no host in it: nothing ever confirms, so `send` times out with exit 3.
    let hub = Running::start(&["hub", "--listen", "127.0.0.1:0"]);
    let ws = hub.ws().replace(':', "%3A").replace('/', "%2F");
    let silent = format!("whatssound://join?ws={ws}&room=jam&token=t&key=k");
    let (code, _, stderr) = run(&["send", &silent, "--timeout", "1", "chat", "hi"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("timed out"));
    let (code, _, stderr) = run(&["send", &silent, "dance"]);
    assert_eq!(code, 2, "{stderr}");
    drop(hub);
}

#[test]
fn a_host_killed_and_restarted_serves_the_same_room_and_listeners_come_back_by_themselves() {
    let base = temp_dir("restart");
    let host_dir = base.join("host");
    let h = host(&host_dir, &[]);
    let invite = h.field("invite");
    let addr = h.ws().trim_start_matches("ws://").to_owned();
    let mut ann = listen(&invite, "ann", &base.join("ann"));
    for i in 0..5 {
        assert_eq!(send(&invite, None, &["chat", &format!("before {i}")]).0, 0);
    }
    assert_eq!(send(&invite, None, &["enqueue", "https://example.org/a.ogg"]).0, 0);
    let before = ann.until(|v| v["event"] == "queue_diff")["seq"].as_u64().unwrap();

    h.signal("-KILL");
    h.wait();
    ann.until(|v| v["event"] == "connection" && v["status"] == "reconnecting");

    let d = host_dir.to_str().unwrap();
    let again = Running::start(&["host", "--listen", &addr, "--data-dir", d]);
    assert_eq!(again.field("invite"), invite, "the same invite");
    // Ann comes back by herself. Wait for it before the room moves on: a chat sent while she is
    // still between attempts reaches her inside her re-mount snapshot, not as a `chat` line.
    ann.until(|v| v["event"] == "connection" && v["status"] == "connected");
    // The restarted host serves the whole room: a newcomer's snapshot has everything. (Ann's own
    // re-mount snapshot is printed only if the room moved on while she was away: a replica that
    // is already current, because the host's first diff after the restart reached her first,
    // takes the snapshot silently.)
    let mut cat = Running::spawn(&["listen", &invite, "--name", "cat", "--data-dir", base.join("cat").to_str().unwrap()]);
    let snap = cat.until(|v| v["event"] == "snapshot");
    assert!(snap["seq"].as_u64().unwrap() >= before, "{snap}");
    assert_eq!(snap["chat"], 5);
    assert_eq!(snap["queue"].as_array().unwrap().len(), 1);
    assert_eq!(cat.terminate(), Some(0));
    // The room goes on from the same seq, and Ann hears it live.
    assert_eq!(send(&invite, None, &["chat", "after"]).0, 0);
    let chat = ann.until(|v| v["event"] == "chat");
    assert_eq!(chat["text"], "after");
    assert!(chat["seq"].as_u64().unwrap() > before);
    assert_eq!(again.terminate(), Some(0));
}

#[test]
fn over_an_external_relay_forged_diffs_are_ignored() {
    let base = temp_dir("relay");
    let relay = Running::start(&["hub", "--listen", "127.0.0.1:0", "--token", "relay-key"]);
    let endpoint = format!("{}/realtime/v1", relay.ws());
    let h = host(&base.join("host"), &["--relay", &endpoint, "--relay-key", "relay-key"]);
    let invite = h.field("invite");
    assert!(invite.contains("token=relay-key"), "{invite}");
    let mut ann = listen(&invite, "ann", &base.join("ann"));
    assert_eq!(send(&invite, None, &["chat", "through the relay"]).0, 0);
    assert_eq!(ann.until(|v| v["event"] == "chat")["text"], "through the relay");

    // Mallory has the relay key (as every listener does) and sends a diff signed by herself.
    let forged = forge_diff(&relay.ws());
    assert!(forged);
    let error = ann.until(|v| v["event"] == "error");
    assert!(error["message"].as_str().unwrap().contains("not signed by the host"), "{error}");
    // The room goes on, and the forged diff changed nothing.
    assert_eq!(send(&invite, None, &["chat", "still here"]).0, 0);
    let chat = ann.until(|v| v["event"] == "chat" || v["event"] == "queue_diff");
    assert_eq!(chat["text"], "still here");
    // Nothing answers clock datagrams at a relay: the clock is kept over the WebSocket.
    let sync = ann.until(|v| v["event"] == "sync" && v["samples"].as_u64() >= Some(10));
    assert_eq!(sync["clock_path"], "websocket", "{sync}");
    assert_eq!(h.terminate(), Some(0));
}

/// Joins the room's queue topic on the relay and broadcasts a `host:diff` signed by a stranger.
fn forge_diff(ws: &str) -> bool {
    use std::io::{Read, Write};
    let addr = ws.trim_start_matches("ws://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    write!(s, "GET /socket/websocket?vsn=2.0.0&token=relay-key HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 101"));
    let mallory = whatssound_room::Identity::from_secret([66; 32]);
    let diff = serde_json::json!({"seq": 999, "change": {"kind": "closed"}});
    let envelope = serde_json::to_value(mallory.sign(diff.to_string())).unwrap();
    let topic = "realtime:room:jam:queue";
    for frame in [
        serde_json::json!(["1", "1", topic, "phx_join", {}]),
        serde_json::json!(["1", "2", topic, "broadcast", {"type": "broadcast", "event": "host:diff", "payload": envelope}]),
    ] {
        write_masked_text(&mut s, frame.to_string().as_bytes());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    true
}

/// A client frame (masked, as RFC 6455 requires of clients) carrying text.
fn write_masked_text(s: &mut std::net::TcpStream, payload: &[u8]) {
    use std::io::Write;
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&frame).unwrap();
}

#[test]
fn a_new_invite_retires_the_old_one() {
    let base = temp_dir("rotate");
    let dir = base.join("host");
    let first = host(&dir, &[]);
    let old = first.field("invite");
    let addr = first.ws().trim_start_matches("ws://").to_owned();
    assert_eq!(first.terminate(), Some(0));
    let d = dir.to_str().unwrap();
    let again = Running::start(&["host", "--listen", &addr, "--data-dir", d, "--new-invite"]);
    let new = again.field("invite");
    assert_ne!(new, old);
    let (code, _, stderr) = run(&["listen", &old, "--data-dir", base.join("ann").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("Unauthorized"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let mut ok = Running::spawn(&["listen", &new, "--data-dir", base.join("bob").to_str().unwrap()]);
    ok.until(|v| v["event"] == "joined");
    drop(ok);
    assert_eq!(again.terminate(), Some(0));
}

#[test]
fn a_host_killed_mid_stream_loses_and_duplicates_nothing() {
    use whatssound_member::{ListenerConfig, ListenerRoom, RoomEvent};
    use whatssound_room::Action;
    let base = temp_dir("midstream");
    let host_dir = base.join("host");
    let h = host(&host_dir, &[]);
    let invite: whatssound_protocol::Invite = h.field("invite").parse().unwrap();
    let addr = h.ws().trim_start_matches("ws://").to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let total = 60;
    let confirmed = rt.block_on(async {
        let clock = std::sync::Arc::new(whatssound_audio::MonotonicClock::new());
        let config = ListenerConfig {
            invite: invite.clone(),
            route: whatssound_member::Route::to_address(&invite.ws),
            name: "ann".into(),
            avatar: None,
            data_dir: base.join("ann"),
            track_presence: true,
            lan_clock: true,
            clock,
        };
        let (ann, mut events) = ListenerRoom::join(config).await.unwrap();
        while !matches!(events.recv().await, Some(RoomEvent::Joined { .. })) {}
        // Everything is queued at once; the outbox sends one at a time while the host dies and
        // comes back underneath it.
        for n in 0..total {
            ann.send(Action::Chat { text: format!("m{n:03}") }).await.unwrap();
        }
        let mut confirmed = 0;
        let mut host = Some(h);
        let mut restarted = None;
        while confirmed < total {
            match tokio::time::timeout(std::time::Duration::from_secs(20), events.recv()).await.expect("progress").unwrap() {
                RoomEvent::Confirmed { .. } => {
                    confirmed += 1;
                    if confirmed == 10 {
                        let h = host.take().unwrap();
                        h.signal("-KILL");
                        h.wait();
                        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                        let d = host_dir.to_str().unwrap();
                        restarted = Some(Running::start(&["host", "--listen", &addr, "--data-dir", d]));
                    }
                }
                RoomEvent::Refused { reason, .. } => panic!("refused: {reason}"),
                _ => {}
            }
        }
        ann.close();
        (confirmed, restarted)
    });
    let (confirmed, restarted) = confirmed;
    assert_eq!(confirmed, total);
    // A newcomer's snapshot holds each message exactly once, in order.
    let mut carl = Running::spawn(&["listen", &invite.to_string(), "--name", "carl", "--data-dir", base.join("carl").to_str().unwrap()]);
    let snap = carl.until(|v| v["event"] == "snapshot");
    assert_eq!(snap["chat"], total, "{snap}");
    drop(carl);
    let store = whatssound_core::store::HostStore::open(&host_dir).unwrap();
    let texts: Vec<String> = store.chat_history(1000).unwrap().into_iter().map(|m| m.text).collect();
    let expected: Vec<String> = (0..total).map(|n| format!("m{n:03}")).collect();
    assert_eq!(texts, expected, "every message once, in order, across the crash");
    drop(restarted);
}

/// A plain HTTP/1.1 GET; returns (status, headers in lowercase, body).
#[test]
fn listen_plays_the_room_into_a_wav_file() {
    let base = temp_dir("play");
    let tone = tone_44k(&base, 10.0);
    let h = host(&base.join("host"), &[tone.to_str().unwrap()]);
    let invite = h.field("invite");
    let out = base.join("out.wav");
    let spec = format!("wav:{}", out.display());
    let mut l = Running::spawn(&["listen", &invite, "--data-dir", base.join("ann").to_str().unwrap(), "--output", &spec]);
    l.until(|v| v["event"] == "track_ready");
    l.until(|v| v["event"] == "sync");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(l.terminate(), Some(0));
    // The file holds the tone (a 440 Hz sine at half scale), not silence.
    let peak = tail_peak(&out);
    assert!(peak > 0.4, "the end of the recording is the tone (peak {peak})");
    let (code, _, stderr) = run(&["listen", &invite, "--output", "speakers"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--output must be default, device:NAME, null or wav:PATH"), "{stderr}");
    // A sound device that is not there: one line, and the way around it.
    let (code, _, stderr) = run(&["listen", &invite, "--data-dir", base.join("bob").to_str().unwrap(), "--output", "device:No Such Card"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.trim().lines().filter(|l| l.starts_with("whatssound-cli: error:")).count(), 1, "{stderr}");
    assert!(stderr.contains("no output device called \"No Such Card\"") && stderr.contains("use --output null"), "{stderr}");
    assert_eq!(h.terminate(), Some(0));
}

#[test]
fn the_host_hears_its_own_room() {
    let base = temp_dir("host-hears");
    let tone = tone_44k(&base, 10.0);
    let out = base.join("host.wav");
    let spec = format!("wav:{}", out.display());
    let mut h = host(&base.join("host"), &["--output", &spec, tone.to_str().unwrap()]);
    h.until(|v| v["event"] == "track_ready");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(h.terminate(), Some(0));
    let peak = tail_peak(&out);
    assert!(peak > 0.4, "the host's recording ends in the tone (peak {peak})");
    let (code, _, stderr) = run(&["host", "--relay", "ws://127.0.0.1:1/realtime/v1", "--output", "null"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn a_room_stopped_cleanly_opens_again_on_restart() {
    let base = temp_dir("reopen");
    let dir = base.join("host");
    let first = host(&dir, &[]);
    let invite = first.field("invite");
    assert_eq!(send(&invite, None, &["chat", "before the stop"]).0, 0);
    let addr = first.ws().trim_start_matches("ws://").to_owned();
    assert_eq!(first.terminate(), Some(0), "a clean stop closes the room for everyone");
    let again = Running::start(&["host", "--listen", &addr, "--data-dir", dir.to_str().unwrap()]);
    // The same invite works, the history is there, and the room takes new actions.
    let mut ann = Running::spawn(&["listen", &invite, "--data-dir", base.join("ann").to_str().unwrap()]);
    let snapshot = ann.until(|v| v["event"] == "snapshot");
    assert_eq!(snapshot["chat"], 1, "{snapshot}");
    // A late joiner reads what was said before it came, once, marked as history.
    let said = ann.until(|v| v["event"] == "chat");
    assert_eq!((said["text"].as_str(), said["history"].as_bool()), (Some("before the stop"), Some(true)), "{said}");
    let (code, ok, stderr) = send(&invite, None, &["chat", "after the restart"]);
    assert_eq!((code, ok["event"].as_str()), (0, Some("ok")), "{stderr}");
    assert_eq!(ann.until(|v| v["event"] == "chat")["text"], "after the restart");
    drop(ann);
    assert_eq!(again.terminate(), Some(0));
}

/// A 44.1 kHz tone at half scale (so players resample it to their 48 kHz), `seconds` long.
fn tone_44k(dir: &std::path::Path, seconds: f64) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let tone = dir.join("tone.wav");
    std::fs::write(&tone, whatssound_audio::wav::sine(44_100, 2, seconds, 440.0, &whatssound_audio::wav::Tags::default())).unwrap();
    tone
}

/// The loudest sample of a recording's last 0.1 s.
fn tail_peak(path: &std::path::Path) -> f32 {
    let mut d = whatssound_audio::Decoder::open_file(path).unwrap();
    let mut samples = Vec::new();
    while d.next_packet(&mut samples).unwrap() {}
    samples[samples.len().saturating_sub(9_600)..].iter().fold(0.0f32, |m, s| m.max(s.abs()))
}

#[test]
fn while_a_track_plays_the_next_one_is_fetched_into_the_cache() {
    let base = temp_dir("prefetch");
    let first = tone_44k(&base, 10.0);
    let second = song(&base, "second.wav");
    let h = host(&base.join("host"), &[first.to_str().unwrap(), second.to_str().unwrap()]);
    let invite = h.field("invite");
    let cache = base.join("ann").join("cache");
    let mut l = Running::spawn(&["listen", &invite, "--data-dir", base.join("ann").to_str().unwrap(), "--output", "null"]);
    let snapshot = l.until(|v| v["event"] == "snapshot");
    // A `buffering` line for t2 (the second track queued): the next one, whole, in the cache —
    // before that track comes up. It may come before or after t1's first sound.
    let mut started_next = false;
    let next = l.until(|v| {
        started_next |= v["event"] == "track_ready" && v["track"] == "t2";
        v["event"] == "buffering" && v["track"] == "t2"
    });
    assert!(!started_next, "the next track was fetched only when it came up: {next}");
    assert_eq!(next["bytes"], next["total"], "{next}");
    let cached =
        std::fs::read_dir(&cache).unwrap().filter_map(Result::ok).filter(|e| e.path().extension().is_none_or(|x| x != "part")).count();
    assert_eq!(cached, 2, "both tracks are in the cache while the first plays ({snapshot})");
    assert_eq!(l.terminate(), Some(0));
    assert_eq!(h.terminate(), Some(0));
}

#[test]
fn a_listeners_avatar_reaches_the_others_presence() {
    let base = temp_dir("avatar");
    let h = host(&base.join("host"), &[]);
    let invite = h.field("invite");
    let mut ann = listen(&invite, "ann", &base.join("ann"));
    let face = "https://example.org/bob.png";
    let bob = Running::spawn(&["listen", &invite, "--name", "bob", "--avatar", face, "--data-dir", base.join("bob").to_str().unwrap()]);
    let joined = ann.until(|v| v["event"] == "presence" && v["joins"].as_array().unwrap().iter().any(|p| p["username"] == "bob"));
    let bobs = joined["joins"].as_array().unwrap().iter().find(|p| p["username"] == "bob").cloned().unwrap();
    assert_eq!(bobs["avatar_url"], face, "{joined}");
    drop(bob);
    drop(ann);
    drop(h);
}
