//! Joining across home NATs with no port forwarded: the host at home behind one NAT, a listener
//! behind another, a relay server on the "wan" (`whatssound-cli p2p-relay`), and nothing but the
//! invite. One test per NAT kind (tests/net/bed.sh): where hole punching can work the tunnel goes
//! direct; between symmetric NATs it cannot, and the room runs through the relay. Either way the
//! room works whole: presence, chat, the queue's media, and clock datagrams. Skipped, with one
//! line, where the bed cannot be made.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::bed::{bed, chat_from, cli_in, host_at_home, host_at_home_args, relay_in};
use common::{song, temp_dir};

/// The host at home (behind `host_nat`) and a listener in another home (behind `listener_nat`):
/// the listener joins with the invite alone, and its tunnel settles on `expected` ("direct" or
/// "relay"); then the room is used through it.
fn join_across(host_nat: &str, listener_nat: &str, expected: &str) {
    let Some(bed) = bed(&[("host", &format!("lan%{host_nat}")), ("a", &format!("lan%{listener_nat}"))]) else { return };
    let dir = temp_dir(&format!("nat-{host_nat}-{listener_nat}"));
    let (relay, relay_url) = relay_in(&bed);
    let track = song(&dir, "tone.wav");
    let (host, invite) = host_at_home(&bed, &dir, &relay_url, &[track.to_str().unwrap()]);

    let a_dir = dir.join("a");
    let mut a = cli_in(&bed, "a", &["listen", &invite, "--name", "a", "--output", "null", "--data-dir", a_dir.to_str().unwrap()]);
    // Joined; the media came through the tunnel (a download over a stream of its own) and
    // plays; clock datagrams crossed as QUIC datagrams (the host answered them: `udp`); and the
    // tunnel settled on the path expected (iroh starts on the relay and moves to a direct path
    // once hole punching succeeds). The lines come in any order.
    let (mut joined, mut playing) = (false, false);
    a.until_within(Duration::from_secs(60), |v| {
        joined |= v["event"] == "joined";
        playing |= v["event"] == "playing";
        joined && playing && v["event"] == "sync" && v["clock_path"] == "udp" && v["reach"] == expected
    });
    if expected == "relay" {
        // And stays there: no direct path appears between two symmetric NATs.
        let later = a.until_within(Duration::from_secs(20), |v| v["event"] == "sync" && v["samples"].as_u64() >= Some(400));
        assert_eq!(later["reach"], "relay", "{later}");
    }

    // A second process in the same home, with the same invite, acts in the room: `a` sees it.
    chat_from(&bed, "a", &dir, &invite, "hello across the NATs");
    a.until_within(Duration::from_secs(20), |v| v["event"] == "chat" && v["text"] == "hello across the NATs");

    drop(a);
    host.terminate();
    relay.terminate();
}

#[test]
fn behind_full_cone_nats_a_listener_joins_directly() {
    join_across("cone", "cone", "direct");
}

#[test]
fn behind_port_restricted_nats_hole_punching_goes_direct() {
    join_across("restricted", "restricted", "direct");
}

#[test]
fn behind_symmetric_nats_the_room_runs_through_the_relay() {
    join_across("symmetric", "symmetric", "relay");
}

#[test]
fn a_host_restarted_behind_its_nat_is_found_again_by_its_node() {
    let Some(bed) = bed(&[("host", "lan%restricted"), ("a", "lan%restricted")]) else { return };
    let dir = temp_dir("nat-restart");
    let (relay, relay_url) = relay_in(&bed);
    let (host, invite) = host_at_home(&bed, &dir, &relay_url, &[]);
    let host_args = host_at_home_args(&bed, &dir, &relay_url, &[]);
    let host_args: Vec<&str> = host_args.iter().map(String::as_str).collect();
    let a_dir = dir.join("a");
    let mut a = cli_in(&bed, "a", &["listen", &invite, "--name", "a", "--data-dir", a_dir.to_str().unwrap()]);
    a.until_within(Duration::from_secs(30), |v| v["event"] == "joined");

    // Killed outright (no goodbye), then started again on another port: only its node is the same.
    host.signal("-KILL");
    drop(host);
    let mut again = cli_in(&bed, "host", &host_args);
    again.ready = again.next().expect("the host's ready line, again");
    // The same room, token and node; only the addresses (ws=, node_addrs=) may differ, and the
    // old invite, with its stale ones, is what is used from here on.
    let node = |invite: &str| invite.split_once("&room=").and_then(|(_, rest)| rest.split("&node_addrs=").next()).map(str::to_owned);
    assert_eq!(node(&again.field("invite")), node(&invite));
    // The dead connection is noticed within the tunnel's idle timeout (8 s), its streams closed,
    // and the realtime client's reconnecting dials the node afresh.
    a.until_within(Duration::from_secs(20), |v| v["event"] == "connection" && v["status"] == "reconnecting");
    a.until_within(Duration::from_secs(30), |v| v["event"] == "connection" && v["status"] == "connected");
    chat_from(&bed, "a", &dir, &invite, "back again");
    a.until_within(Duration::from_secs(20), |v| v["event"] == "chat" && v["text"] == "back again");
    drop(a);
    again.terminate();
    relay.terminate();
}

#[test]
fn a_relay_carries_the_room_but_never_sees_it() {
    // Symmetric NATs both sides: everything goes through the relay, captured on the wan.
    let Some(bed) = bed(&[("host", "lan%symmetric"), ("a", "lan%symmetric")]) else { return };
    let dir = temp_dir("nat-relay-sees");
    std::fs::create_dir_all(&dir).unwrap();
    let capture = dir.join("wan.pcap");
    // To stdout, so tcpdump opens no file itself (no dropped privileges or AppArmor in the way).
    let mut tcpdump = bed
        .command("wan", "tcpdump")
        .args(["-i", "any", "-U", "-s", "0", "-w", "-"])
        .stdout(std::fs::File::create(&capture).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tcpdump (scripts/setup installs it)");
    std::thread::sleep(Duration::from_millis(500));
    let (relay, relay_url) = relay_in(&bed);
    let track = song(&dir, "tone.wav");
    let (host, invite) = host_at_home(&bed, &dir, &relay_url, &[track.to_str().unwrap()]);
    let a_dir = dir.join("a");
    let mut a = cli_in(&bed, "a", &["listen", &invite, "--name", "a", "--output", "null", "--data-dir", a_dir.to_str().unwrap()]);
    a.until_within(Duration::from_secs(60), |v| v["event"] == "buffering" && v["bytes"] == v["total"]);
    let marker = format!("plaintext-marker-{}", std::process::id());
    chat_from(&bed, "a", &dir, &invite, &marker);
    a.until_within(Duration::from_secs(20), |v| v["event"] == "chat" && v["text"] == marker.as_str());
    let route = a.until_within(Duration::from_secs(10), |v| v["event"] == "sync");
    assert_eq!(route["reach"], "relay", "{route}");
    std::thread::sleep(Duration::from_millis(500));
    let _ = tcpdump.kill();
    let _ = tcpdump.wait();
    let seen = std::fs::read(&capture).unwrap();
    let track_bytes = std::fs::metadata(&track).unwrap().len();
    // The whole track crossed the wan (through the relay), yet none of the room is in the clear:
    // not the chat, not the invite's token, not the audio file's own header.
    assert!(seen.len() as u64 > track_bytes, "the capture holds the relayed track: {} bytes of {track_bytes}", seen.len());
    let token = invite.split("&token=").nth(1).and_then(|t| t.split('&').next()).unwrap().to_owned();
    let contains = |needle: &[u8]| seen.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(marker.as_bytes()), "the chat crossed the relay in the clear");
    assert!(!contains(token.as_bytes()), "the invite's token crossed the relay in the clear");
    assert!(!contains(b"WAVEfmt "), "the audio crossed the relay in the clear");
    drop(a);
    drop((host, relay));
}

#[test]
fn a_listener_on_a_thin_link_in_a_tunnelled_room_changes_to_opus_too() {
    // Both behind NATs, the room through the tunnel; the listener's link is 700 kbit/s, the track
    // a 1,411 kbit/s WAV that comes (named by its hash) from the room's members and the host.
    let Some(bed) = bed(&[("host", "lan%restricted"), ("a", "lan@700kbit%restricted")]) else { return };
    let dir = temp_dir("nat-thin");
    std::fs::create_dir_all(&dir).unwrap();
    let (relay, relay_url) = relay_in(&bed);
    let track = dir.join("long.wav");
    std::fs::write(&track, whatssound_audio::wav::sine(44_100, 2, 60.0, 440.0, &Default::default())).unwrap();
    let (host, invite) = host_at_home(&bed, &dir, &relay_url, &[track.to_str().unwrap()]);
    let a_dir = dir.join("a");
    let mut a = cli_in(&bed, "a", &["listen", &invite, "--name", "a", "--output", "null", "--data-dir", a_dir.to_str().unwrap()]);
    let changed = a.until_within(Duration::from_secs(40), |v| v["event"] == "quality");
    assert_eq!(changed["format"], "opus", "{changed}");
    assert!(changed["link_kbps"].as_u64().unwrap() < 900, "{changed}");
    let ready = a.until_within(Duration::from_secs(20), |v| v["event"] == "track_ready" && v["rate"] == 48_000);
    assert_eq!(ready["track"], "t1");
    let since = std::time::Instant::now();
    let settled = a.until_within(Duration::from_secs(30), |v| {
        v["event"] == "sync" && since.elapsed() >= Duration::from_secs(6) && v["error_ms"].is_number()
    });
    assert!(settled["error_ms"].as_f64().unwrap().abs() < 2.0, "{settled}");
    assert_eq!(settled["underruns"], 0, "the copy keeps ahead through the tunnel: {settled}");
    drop(a);
    host.terminate();
    relay.terminate();
}
