//! The host's media as users meet it: its files by track id, listeners' uploads, URL tracks that
//! turn out not to be audio, and cover art — each bad case a clear answer, and the room goes on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};

use common::{Running, run, song, temp_dir};
use serde_json::Value;

fn host(dir: &std::path::Path, files: &[&str]) -> Running {
    let mut args = vec!["host", "--listen", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap()];
    args.extend_from_slice(files);
    Running::start(&args)
}

fn send(invite: &str, dir: &std::path::Path, action: &[&str]) -> (i32, Value, String) {
    let d = dir.to_str().unwrap().to_owned();
    let mut args = vec!["send", invite, "--timeout", "8", "--data-dir", &d];
    args.extend_from_slice(action);
    let (code, stdout, stderr) = run(&args);
    (code, stdout.lines().next().map(|l| serde_json::from_str(l).unwrap()).unwrap_or(Value::Null), stderr)
}

/// One HTTP/1.1 request over a plain socket: (status, lower-cased head, body).
fn http(ws: &str, method: &str, path: &str, headers: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let addr = ws.trim_start_matches("ws://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

fn http_get(ws: &str, path: &str, range: Option<&str>) -> (u16, String, Vec<u8>) {
    let range = range.map(|r| format!("Range: {r}\r\n")).unwrap_or_default();
    http(ws, "GET", path, &range, b"")
}

/// The body of a chunked response, its framing taken off.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line]).unwrap().trim(), 16).unwrap();
        raw = &raw[line + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// A web server that answers every request with 200 and `body`, for `count` requests.
fn plain_server(body: &'static [u8], count: usize) -> (u16, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = s.write_all(body);
        }
    });
    (port, serving)
}

#[test]
fn the_host_serves_its_files_by_track_id_with_ranges_and_only_to_the_room() {
    let base = temp_dir("media");
    let file = song(&base, "Tone.wav");
    let bytes = std::fs::read(&file).unwrap();
    let h = host(&base.join("host"), &[file.to_str().unwrap()]);
    let ws = h.ws();
    let token = h.field("listener_token");

    let (status, head, body) = http_get(&ws, &format!("/media/t1?token={token}"), None);
    assert_eq!(status, 200);
    assert!(head.contains("content-type: audio/wav") && head.contains("accept-ranges: bytes"), "{head}");
    assert_eq!(body, bytes);

    let (status, head, body) = http_get(&ws, &format!("/media/t1?token={token}"), Some("bytes=100-199"));
    assert_eq!(status, 206);
    assert!(head.contains(&format!("content-range: bytes 100-199/{}", bytes.len())), "{head}");
    assert_eq!(body, &bytes[100..200]);
    let (_, _, tail) = http_get(&ws, &format!("/media/t1?token={token}"), Some("bytes=-16"));
    assert_eq!(tail, &bytes[bytes.len() - 16..]);

    for (path, range, status, needle) in [
        ("/media/t1".to_owned(), None, 401, "needs the room's token"),
        ("/media/t1?token=nope".to_owned(), None, 401, "wrong or expired token"),
        (format!("/media/t9?token={token}"), None, 404, "no host file for track"),
        (format!("/media/..%2F..%2Fetc%2Fpasswd?token={token}"), None, 404, "no host file for track"),
        (format!("/media/t1?token={token}"), Some(format!("bytes={}-", bytes.len())), 416, "outside the file"),
    ] {
        let (got, head, body) = http_get(&ws, &path, range.as_deref());
        let text = String::from_utf8_lossy(&body);
        assert_eq!(got, status, "{path}: {head} {text}");
        assert!(text.contains(needle), "{path}: {text}");
    }
    assert_eq!(h.terminate(), Some(0));
}

#[test]
fn a_listener_on_a_thin_link_can_ask_for_an_opus_copy_that_plays_as_long_as_the_original() {
    let base = temp_dir("media-opus");
    let file = song(&base, "Tone.wav");
    let original = std::fs::read(&file).unwrap();
    let h = host(&base.join("host"), &[file.to_str().unwrap()]);
    let (ws, token) = (h.ws(), h.field("listener_token"));

    // The first request follows the encoder, a page at a time (its length not yet known)...
    let (status, head, streamed) = http_get(&ws, &format!("/media/t1?token={token}&format=opus&kbps=64"), None);
    assert_eq!(status, 200, "{head} {}", String::from_utf8_lossy(&streamed));
    assert!(head.contains("content-type: audio/ogg; codecs=opus") && head.contains("transfer-encoding: chunked"), "{head}");
    let copy = dechunk(&streamed);
    // ...and later ones get the file it made, with ranges.
    let (status, head, made) = http_get(&ws, &format!("/media/t1?token={token}&format=opus&kbps=64"), None);
    assert_eq!(status, 200);
    assert!(head.contains("content-type: audio/ogg; codecs=opus") && head.contains("accept-ranges: bytes"), "{head}");
    assert_eq!(made, copy, "what was streamed is what was kept");
    assert!(copy.len() * 5 < original.len(), "{} bytes against {}", copy.len(), original.len());
    let frames = |bytes: Vec<u8>, ext: &str| {
        let mut d = whatssound_audio::Decoder::open_bytes(bytes, Some(ext), ext).unwrap();
        let mut out = Vec::new();
        while d.next_packet(&mut out).unwrap() {}
        (out.len() / d.channels()) as f64 / f64::from(d.rate())
    };
    let (copy_s, original_s) = (frames(copy.clone(), "opus"), frames(original, "wav"));
    assert!((copy_s - original_s).abs() < 0.001, "the copy plays {copy_s} s, the original {original_s} s");
    // Made once: a seek's Range reads the same copy.
    let (status, _, part) = http_get(&ws, &format!("/media/t1?token={token}&format=opus&kbps=64"), Some("bytes=100-199"));
    assert_eq!((status, part.as_slice()), (206, &copy[100..200]));

    for (path, status, needle) in [
        (format!("/media/t1?token={token}&format=mp3"), 400, "format=mp3 is not one the host makes"),
        (format!("/media/t1?token={token}&format=opus&kbps=8"), 400, "outside what Opus copies are made at"),
        (format!("/media/t1?token={token}&format=opus&kbps=lots"), 400, "kbps"),
        (format!("/media/t1?token={token}&format=opus&from_s=-3"), 400, "from_s"),
        ("/media/t1?format=opus".to_owned(), 401, "needs the room's token"),
    ] {
        let (got, head, body) = http_get(&ws, &path, None);
        let text = String::from_utf8_lossy(&body);
        assert_eq!(got, status, "{path}: {head} {text}");
        assert!(text.contains(needle), "{path}: {text}");
    }
    assert_eq!(h.terminate(), Some(0));
}

#[test]
fn a_listener_joining_late_on_opus_fetches_the_copy_from_near_the_room_and_plays_it_in_time() {
    let base = temp_dir("media-opus-late");
    std::fs::create_dir_all(&base).unwrap();
    // 30 s at 44.1 kHz: 440 Hz until 22.0 s, then 880 Hz.
    let samples: Vec<i16> = (0..44_100 * 30)
        .flat_map(|i| {
            let hz = if i < 44_100 * 22 { 440.0 } else { 880.0 };
            let v = ((std::f64::consts::TAU * hz * f64::from(i) / 44_100.0).sin() * 12_000.0) as i16;
            [v, v]
        })
        .collect();
    let track = base.join("two tones.wav");
    std::fs::write(&track, whatssound_audio::wav::pcm16(44_100, 2, &samples, &Default::default())).unwrap();
    let h = host(&base.join("host"), &[track.to_str().unwrap()]);
    let (invite, admin) = (h.field("invite"), h.field("host_invite"));
    for action in [&["pause"][..], &["seek", "20000"]] {
        let (code, out, err) = send(&admin, &base.join("admin"), action);
        assert_eq!(code, 0, "{action:?}: {out} {err}");
    }
    let recording = base.join("ann.wav");
    let output = format!("wav:{}", recording.display());
    let mut ann =
        Running::spawn(&["listen", &invite, "--data-dir", base.join("ann").to_str().unwrap(), "--quality", "opus", "--output", &output]);
    assert_eq!(ann.until(|v| v["event"] == "track_ready")["rate"], 48_000);
    // The copy from 17 s (3 s before the room) is all here: 13 s of it, not 30.
    let whole = ann.until(|v| v["event"] == "buffering" && v["track"] == "t1");
    let bytes = whole["bytes"].as_u64().unwrap();
    assert!((120_000..220_000).contains(&bytes), "13 s at 96 kbit/s is ~156 KB: {whole}");
    let (code, out, err) = send(&admin, &base.join("admin"), &["play"]);
    assert_eq!(code, 0, "{out} {err}");
    ann.until(|v| v["event"] == "playing");
    std::thread::sleep(std::time::Duration::from_millis(3_000));
    assert_eq!(ann.terminate(), Some(0));

    // The recording starts at the room's 20.0 s, or as much later as the play took to arrive (the
    // listener joins the timeline where it is): the tone changes at most 2.0 s after the first
    // sound. A copy misplaced on the timeline would be off by its 17 s, or its 3 s lead.
    let mut d = whatssound_audio::Decoder::open_file(&recording).unwrap();
    let (rate, channels) = (d.rate() as usize, d.channels());
    let mut pcm = Vec::new();
    while d.next_packet(&mut pcm).unwrap() {}
    let left: Vec<f32> = pcm.iter().step_by(channels).copied().collect();
    let first = left.iter().position(|v| v.abs() > 0.05).expect("the recording has sound");
    let window = rate / 100;
    let crossings = |w: &[f32]| w.windows(2).filter(|p| (p[0] < 0.0) != (p[1] < 0.0)).count();
    let change =
        (first..left.len() - window).step_by(window / 4).find(|i| crossings(&left[*i..*i + window]) > 13).expect("the 880 Hz tone came");
    let after = (change - first) as f64 / rate as f64;
    assert!((1.6..2.03).contains(&after), "the tone changed {after:.3} s after the first sound, not up to 2.0 s");
}

#[test]
fn a_copy_is_fetched_no_further_ahead_than_it_needs_to_be() {
    let base = temp_dir("media-opus-paced");
    std::fs::create_dir_all(&base).unwrap();
    // 90 s: its copy (~1 MB) would be here in a second or two on loopback if fetched at full speed.
    let track = base.join("long.wav");
    std::fs::write(&track, whatssound_audio::wav::sine(22_050, 1, 90.0, 440.0, &Default::default())).unwrap();
    let h = host(&base.join("host"), &[track.to_str().unwrap()]);
    let invite = h.field("invite");
    let mut ann =
        Running::spawn(&["listen", &invite, "--data-dir", base.join("ann").to_str().unwrap(), "--quality", "opus", "--output", "null"]);
    ann.until(|v| v["event"] == "playing");
    std::thread::sleep(std::time::Duration::from_secs(6));
    let lines = ann.drain();
    // Held ~20 s ahead of what plays: the copy is not whole (its `buffering` line comes when it is),
    // and what plays never ran dry.
    assert!(!lines.iter().any(|v| v["event"] == "buffering" && v["track"] == "t1"), "{lines:#?}");
    let sync = lines.iter().rev().find(|v| v["event"] == "sync").expect("sync lines");
    assert_eq!(sync["underruns"], 0, "{sync}");
    assert_eq!(h.terminate(), Some(0));
}

#[test]
fn a_listener_uploads_a_file_and_the_room_plays_it_from_the_host() {
    let base = temp_dir("upload");
    let first = song(&base, "First.wav");
    let h = host(&base.join("host"), &[first.to_str().unwrap()]);
    let invite = h.field("invite");
    let token = h.field("listener_token");
    let mut ann = Running::spawn(&["listen", &invite, "--name", "ann", "--data-dir", base.join("ann").to_str().unwrap()]);
    ann.until(|v| v["event"] == "joined");

    let mine = song(&base, "My Song.wav");
    let (code, ok, stderr) = send(&invite, &base.join("bob"), &["enqueue", mine.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ok["track"], "t2");
    let insert = ann.until(|v| v["event"] == "queue_diff" && v["diff"]["op"] == "insert");
    assert_eq!(insert["diff"]["track"]["title"], "My Song");
    assert_eq!(insert["diff"]["track"]["source"]["type"], "upload");
    // Everyone fetches it from the host by track id, byte for byte what was uploaded.
    let (status, _, body) = http_get(&h.ws(), &format!("/media/t2?token={token}"), None);
    assert_eq!(status, 200);
    assert_eq!(body, std::fs::read(&mine).unwrap());

    // A file that is not audio is refused before the room sees it, named as the uploader knows it.
    let notes = base.join("notes.mp3");
    std::fs::write(&notes, b"this is a shopping list, not a song").unwrap();
    let (code, _, stderr) = send(&invite, &base.join("bob"), &["enqueue", notes.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("422") && stderr.contains("notes.mp3: not a supported audio file"), "{stderr}");
    assert!(!stderr.contains("uploads/"), "no host paths leak: {stderr}");
    // Raw requests: a wrong token, no name, an empty body.
    for (path, body, status, needle) in [
        ("/media/uploads?name=a.wav&token=nope".to_owned(), &b"x"[..], 401, "wrong or expired token"),
        (format!("/media/uploads?token={token}"), &b"x"[..], 400, "needs the file's name"),
        (format!("/media/uploads?name=a.wav&token={token}"), &b""[..], 400, "the upload is empty"),
    ] {
        let (got, _, text) = http(&h.ws(), "POST", &path, "", body);
        let text = String::from_utf8_lossy(&text);
        assert_eq!(got, status, "{path}: {text}");
        assert!(text.contains(needle), "{path}: {text}");
    }
    assert_eq!(ann.terminate(), Some(0));
    assert_eq!(h.terminate(), Some(0));
}

#[test]
fn url_tracks_that_are_missing_or_not_audio_are_marked_unplayable_and_the_room_moves_on() {
    let base = temp_dir("unplayable");
    let h = host(&base.join("host"), &[]);
    let invite = h.field("invite");
    let mut ann = Running::spawn(&["listen", &invite, "--name", "ann", "--data-dir", base.join("ann").to_str().unwrap()]);
    ann.until(|v| v["event"] == "joined");
    let (text_port, text_server) = plain_server(b"hello, this is not audio", 1);
    let missing = format!("{}/media/nope.mp3?token=x", h.ws().replace("ws://", "http://"));
    let not_audio = format!("http://127.0.0.1:{text_port}/song.mp3");
    // https to a server that speaks plain http: the TLS handshake fails, with the reason.
    let (tls_port, tls_server) = plain_server(b"", 1);
    let not_tls = format!("https://127.0.0.1:{tls_port}/song.mp3");
    for (n, (url, needle)) in [(&missing, "401"), (&not_audio, "not a supported audio file"), (&not_tls, "127.0.0.1")].iter().enumerate() {
        let (code, ok, stderr) = send(&invite, &base.join("bob"), &["enqueue", url]);
        assert_eq!(code, 0, "{stderr}");
        let id = ok["track"].as_str().unwrap().to_owned();
        assert_eq!(id, format!("t{}", n + 1));
        let update = ann.until(|v| v["event"] == "queue_diff" && v["diff"]["op"] == "update" && v["diff"]["id"] == id.as_str());
        let reason = update["diff"]["patch"]["unplayable"].as_str().unwrap_or_default().to_owned();
        assert!(reason.contains(needle) && !reason.contains('\n'), "{url}: {reason}");
        assert!(!reason.contains("not supported yet"), "{reason}");
    }
    // The first was current when it was found unplayable: the room moved past all three.
    let (code, _, stderr) = send(&invite, &base.join("bob"), &["play"]);
    assert_eq!(code, 1, "nothing playable is left to play: {stderr}");
    assert!(stderr.contains("the queue is empty") || stderr.contains("refused"), "{stderr}");
    text_server.join().unwrap();
    tls_server.join().unwrap();
    assert_eq!(ann.terminate(), Some(0));
    assert_eq!(h.terminate(), Some(0));
}

#[test]
fn a_track_without_cover_art_says_so() {
    let base = temp_dir("cover");
    let file = song(&base, "Tone.wav");
    let h = host(&base.join("host"), &[file.to_str().unwrap()]);
    let token = h.field("listener_token");
    let (status, _, body) = http_get(&h.ws(), &format!("/media/t1/cover?token={token}"), None);
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("track t1 has no cover art"));
    let (status, _, _) = http_get(&h.ws(), "/media/t1/cover?token=nope", None);
    assert_eq!(status, 401);
    assert_eq!(h.terminate(), Some(0));
}
