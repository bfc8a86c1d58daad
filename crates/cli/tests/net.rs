//! The room across real (emulated) networks: a host on the "wan", listeners each behind their own
//! home NAT, one on Wi-Fi and one on a long internet path (tests/net/bed.sh). Skipped, with one
//! line, where the bed cannot be made (no root, no nft, no NFQUEUE).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{BIN, Running, song, temp_dir};
use whatssound_netbed::bed::HOST_IP;
use whatssound_netbed::{Bed, BedUnavailable};

fn bed(listeners: &[(&str, &str)]) -> Option<Bed> {
    // `cargo test --workspace` builds the impairer beside this binary.
    let impairer = Path::new(BIN).with_file_name("whatssound-netbed");
    match Bed::up(&impairer, listeners) {
        Ok(bed) => Some(bed),
        Err(BedUnavailable::Unsupported(why)) => {
            eprintln!("{why}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn cli_in(bed: &Bed, role: &str, args: &[&str]) -> Running {
    let mut command = bed.command(role, BIN);
    command.args(args);
    Running::spawn_command(command)
}

/// A host on the wan playing `track` from `dir/host`, and its listener invite.
fn host_in(bed: &Bed, dir: &Path, track: &Path) -> (Running, String) {
    let listen = format!("{HOST_IP}:0");
    let mut host =
        cli_in(bed, "host", &["host", "--listen", &listen, "--data-dir", dir.join("host").to_str().unwrap(), track.to_str().unwrap()]);
    host.ready = host.next().expect("the host's ready line");
    let invite = host.field("invite");
    (host, invite)
}

#[test]
fn listeners_behind_home_nats_on_wifi_and_the_internet_share_the_room() {
    let Some(bed) = bed(&[("a", "wifi"), ("b", "internet")]) else { return };
    let dir = temp_dir("net-room");
    let (host, invite) = host_in(&bed, &dir, &song(&dir, "tone.wav"));
    assert!(invite.contains(HOST_IP), "the invite names the host's address on the wan: {invite}");

    let a_dir = dir.join("a");
    let b_dir = dir.join("b");
    let mut a = cli_in(&bed, "a", &["listen", &invite, "--name", "a", "--data-dir", a_dir.to_str().unwrap()]);
    let mut b = cli_in(&bed, "b", &["listen", &invite, "--name", "b", "--data-dir", b_dir.to_str().unwrap()]);
    a.until(|v| v["event"] == "joined");
    b.until(|v| v["event"] == "joined");

    // The clock datagrams crossed the internet path and the NAT: no round trip beats its 64 ms
    // minimum, and the estimate knows how sure it is.
    let sync = b.until(|v| v["event"] == "sync" && v["clock_path"] == "udp" && v["samples"].as_u64() >= Some(16));
    let rtt = sync["round_trip_ms"].as_f64().unwrap();
    assert!((64.0..120.0).contains(&rtt), "the internet round trip: {sync}");
    let uncertainty = sync["uncertainty_ms"].as_f64().unwrap();
    assert!((0.0..8.0).contains(&uncertainty), "±{uncertainty} ms on a path of ±8 ms each way: {sync}");

    let sync = a.until(|v| v["event"] == "sync" && v["samples"].as_u64() >= Some(16));
    assert_eq!(sync["clock_path"], "udp", "Wi-Fi behind a NAT syncs by datagrams too: {sync}");

    // A chat from across one NAT reaches a listener behind the other.
    let (code, out, err) = {
        let o =
            bed.command("b", BIN).args(["send", &invite, "--data-dir", b_dir.to_str().unwrap(), "chat", "over the wan"]).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    assert_eq!(code, Some(0), "send: {out} {err}");
    let chat = a.until(|v| v["event"] == "chat" && v["text"] == "over the wan");
    assert!(chat["user"].is_string(), "{chat}");
    drop((a, b, host));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_five_second_outage_mid_track_plays_on_and_is_in_sync_a_second_after() {
    let Some(bed) = bed(&[("a", "wifi")]) else { return };
    let dir = temp_dir("net-outage");
    std::fs::create_dir_all(&dir).unwrap();
    let track = dir.join("long.wav");
    std::fs::write(&track, whatssound_audio::wav::sine(44_100, 2, 30.0, 440.0, &whatssound_audio::wav::Tags::default())).unwrap();
    let (host, invite) = host_in(&bed, &dir, &track);
    let mut a = cli_in(&bed, "a", &["listen", &invite, "--name", "a", "--data-dir", dir.join("a").to_str().unwrap(), "--output", "null"]);
    a.until(|v| v["event"] == "playing");
    // Cut once the track is all here (the `buffering` line comes when the download completes).
    a.until(|v| v["event"] == "buffering");
    // Mid-track: the clock estimate has had 6 s of datagrams.
    let before = a.until(|v| v["event"] == "sync" && v["clock_path"] == "udp" && v["samples"].as_u64() >= Some(60));
    assert_eq!(before["underruns"], 0, "{before}");

    bed.cut("a", true).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(5));
    a.drain();
    bed.cut("a", false).unwrap();
    let back = std::time::Instant::now();
    // The first estimates after the network returns may still carry the outage; a second later
    // the listener is in sync, and it never ran dry: the track was cached whole.
    let settled = a.until(|v| v["event"] == "sync" && back.elapsed() >= std::time::Duration::from_secs(1));
    let error = settled["error_ms"].as_f64().unwrap_or(f64::NAN).abs();
    assert!(error < 1.0, "{error} ms off a second after the outage: {settled}");
    assert_eq!(settled["underruns"], 0, "it played on through the outage: {settled}");
    assert_eq!(settled["clock_path"], "udp", "{settled}");
    drop((a, host));
    let _ = std::fs::remove_dir_all(&dir);
}
