//! Listeners pass the audio on: the host at home behind its NAT with a capped uplink, three
//! listeners each in a home of their own, joined through the tunnel with the invite alone. Each
//! gets the whole track and plays it, yet the host's router sends it out about once, not three
//! times: the rest went from listener to listener. Skipped, with one line, where the bed cannot
//! be made.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::bed::{bed, cli_in, host_at_home, relay_in};
use common::temp_dir;

/// Bytes sent so far out of `dev` in the namespace `ns`.
fn tx_bytes(ns: &str, dev: &str) -> u64 {
    let out = std::process::Command::new("ip").args(["-n", ns, "-j", "-s", "link", "show", dev]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0]["stats64"]["tx"]["bytes"].as_u64().unwrap()
}

#[test]
fn listeners_pass_the_track_on_so_the_host_sends_it_about_once() {
    let homes = [("host", "lan@20mbit%restricted"), ("a", "lan%restricted"), ("b", "lan%restricted"), ("c", "lan%restricted")];
    let Some(bed) = bed(&homes) else { return };
    let dir = temp_dir("swarm-three");
    let (relay, relay_url) = relay_in(&bed);
    // Noise, so that nothing on the way could shrink it: 12 s of 16-bit stereo, ~2.1 MB.
    std::fs::create_dir_all(&dir).unwrap();
    let track = dir.join("noise.wav");
    let tone = whatssound_audio::wav::sine(44_100, 2, 12.0, 440.0, &whatssound_audio::wav::Tags::default());
    let mut x: u32 = 0x2545_f491;
    let noisy: Vec<u8> = tone
        .iter()
        .enumerate()
        .map(|(i, b)| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i < 64 { *b } else { (x as u8) & 0x3f }
        })
        .collect();
    std::fs::write(&track, &noisy).unwrap();
    let size = noisy.len() as u64;
    let (host, invite) = host_at_home(&bed, &dir, &relay_url, &[track.to_str().unwrap()]);
    let router = bed.namespace("rhost");
    let before = tx_bytes(&router, "wan");

    let mut listeners: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|who| {
            let data = dir.join(who);
            cli_in(&bed, who, &["listen", &invite, "--name", who, "--output", "null", "--data-dir", data.to_str().unwrap()])
        })
        .collect();
    for l in &mut listeners {
        // The whole track arrived (a download's last progress line), and it plays.
        let (mut whole, mut playing) = (false, false);
        l.until_within(Duration::from_secs(60), |v| {
            whole |= v["event"] == "buffering" && v["bytes"].as_u64() == Some(size);
            playing |= v["event"] == "playing";
            whole && playing
        });
    }
    let sent = tx_bytes(&router, "wan") - before;
    eprintln!("the host's router sent {sent} bytes for three listeners of a {size} byte track");
    // Fetched from the host alone, three copies and the room's traffic would cross; members
    // passing it on leave about one copy, some pieces twice, and the room's messages.
    assert!(sent < 2 * size, "the host's router sent {sent} bytes for three listeners of a {size} byte track");
    assert!(sent > size, "every byte of the track left the host at least once ({sent} of {size})");
    drop(listeners);
    host.terminate();
    relay.terminate();
}
