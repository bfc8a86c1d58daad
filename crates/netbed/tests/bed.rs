//! The bed does what its profiles say, measured from inside with real packets: round trips and
//! loss through each home's impairer, the NAT's outside address, a home router that lets nothing
//! in, Wi-Fi stalls, and a teardown that leaves nothing behind. Skipped, with one line, where a
//! bed cannot be made (no root, no nft, no NFQUEUE).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use whatssound_netbed::bed::{HOST_IP, WAN_IP};
use whatssound_netbed::{Bed, BedUnavailable};

const BIN: &str = env!("CARGO_BIN_EXE_whatssound-netbed");

fn bed(listeners: &[(&str, &str)]) -> Option<Bed> {
    match Bed::up(Path::new(BIN), listeners) {
        Ok(bed) => Some(bed),
        Err(BedUnavailable::Unsupported(why)) => {
            eprintln!("{why}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// An echo server in `role`'s namespace; killed on drop.
struct Echo(Child, String);

impl Echo {
    fn start(bed: &Bed, role: &str, ip: &str) -> Echo {
        let mut child = bed.command(role, BIN).args(["echo", "--listen", &format!("{ip}:0")]).stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("echo said {line:?}: {e}"));
        Echo(child, ready["addr"].as_str().unwrap().to_owned())
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn probe(bed: &Bed, role: &str, to: &str, count: u32, interval_ms: u32, linger_ms: u32) -> Value {
    let out = bed
        .command(role, BIN)
        .args(["probe", to, "--count", &count.to_string(), "--interval-ms", &interval_ms.to_string()])
        .args(["--linger-ms", &linger_ms.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "probe failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A probe from local port `from`, so the NAT's mapping of that one port can be compared.
fn probe_from(bed: &Bed, role: &str, to: &str, from: u16) -> Value {
    let out = bed
        .command(role, BIN)
        .args(["probe", to, "--count", "5", "--interval-ms", "5", "--linger-ms", "300"])
        .args(["--from-port", &from.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "probe failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn port_of(seen_as: &Value) -> String {
    seen_as.as_str().unwrap_or_else(|| panic!("no reply: {seen_as}")).rsplit(':').next().unwrap().to_owned()
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[test]
fn each_home_gets_its_profile_and_is_seen_through_its_nat() {
    let Some(bed) = bed(&[("a", "internet"), ("b", "lan")]) else { return };
    let echo = Echo::start(&bed, "host", HOST_IP);
    // internet: 44 ± 8 ms up, 36 ± 8 ms down, 1 % loss each way.
    let a = probe(&bed, "a", &echo.1, 300, 10, 1_000);
    let median = f(&a, "rtt_median_ms");
    assert!((76.0..=88.0).contains(&median), "internet round trip median {median} ms: {a}");
    assert!(f(&a, "rtt_min_ms") >= 64.0, "no packet beats the path's minimum: {a}");
    assert!(f(&a, "rtt_max_ms") - f(&a, "rtt_min_ms") >= 10.0, "jitter shows: {a}");
    assert!(f(&a, "loss") < 0.08, "about 2 % lost round trip: {a}");
    let (_, outside) = bed.listener_addrs("a").unwrap();
    assert!(a["seen_as"].as_str().unwrap().starts_with(&format!("{outside}:")), "the host sees the NAT: {a}");

    let b = probe(&bed, "b", &echo.1, 50, 5, 300);
    assert!(f(&b, "rtt_median_ms") < 3.0, "lan round trip: {b}");
    assert_eq!(f(&b, "loss"), 0.0, "lan loses nothing: {b}");
    let (_, outside) = bed.listener_addrs("b").unwrap();
    assert!(b["seen_as"].as_str().unwrap().starts_with(&format!("{outside}:")), "{b}");
}

#[test]
fn a_home_router_lets_nothing_in_that_did_not_go_out() {
    let Some(bed) = bed(&[("a", "lan")]) else { return };
    let (inside, outside) = bed.listener_addrs("a").unwrap();
    let echo = Echo::start(&bed, "a", &inside);
    let port = echo.1.rsplit(':').next().unwrap();
    // From inside, the listener's own echo answers; from the host, neither address reaches it.
    let own = probe(&bed, "a", &echo.1, 5, 5, 200);
    assert_eq!(f(&own, "received"), 5.0, "{own}");
    for to in [format!("{outside}:{port}"), echo.1.clone()] {
        let from_host = probe(&bed, "host", &to, 5, 5, 300);
        assert_eq!(f(&from_host, "received"), 0.0, "{to} answered the host: {from_host}");
    }
}

#[test]
fn listeners_in_one_home_share_its_nat_and_reach_each_other_unimpaired() {
    let Some(bed) = bed(&[("a+b", "internet"), ("c", "lan")]) else { return };
    let (a_inside, a_outside) = bed.listener_addrs("a").unwrap();
    let (b_inside, b_outside) = bed.listener_addrs("b").unwrap();
    assert_eq!(a_outside, b_outside, "one home, one NAT");
    assert_ne!(a_inside, b_inside);
    // Across the home's LAN (a bridge: a switch, not the router's impaired path) and from outside.
    let echo_b = Echo::start(&bed, "b", &b_inside);
    let lan = probe(&bed, "a", &echo_b.1, 50, 5, 300);
    assert_eq!(f(&lan, "received"), 50.0, "{lan}");
    // The internet path's minimum is 64 ms; a busy machine may hold one LAN probe a few ms.
    assert!(f(&lan, "rtt_median_ms") < 3.0 && f(&lan, "rtt_max_ms") < 30.0, "a LAN round trip, not the internet's: {lan}");
    let from_c = probe(&bed, "c", &echo_b.1, 5, 5, 300);
    assert_eq!(f(&from_c, "received"), 0.0, "another home reaches a private address: {from_c}");
    let host = Echo::start(&bed, "host", HOST_IP);
    let b = probe(&bed, "b", &host.1, 100, 10, 1_000);
    assert!(f(&b, "rtt_min_ms") >= 64.0, "b's way out is the home's internet path: {b}");
    assert!(b["seen_as"].as_str().unwrap().starts_with(&format!("{b_outside}:")), "{b}");
}

#[test]
fn a_home_lan_can_be_wifi_and_a_cut_uplink_leaves_it_up() {
    let Some(bed) = bed(&[("a+b", "lan/wifi")]) else { return };
    let (b_inside, _) = bed.listener_addrs("b").unwrap();
    let echo_b = Echo::start(&bed, "b", &b_inside);
    // Each listener's own traffic crosses the Wi-Fi: 3 ± 3 ms each way, so round trips of a few ms.
    let lan = probe(&bed, "a", &echo_b.1, 200, 10, 500);
    let median = f(&lan, "rtt_median_ms");
    assert!((3.0..=12.0).contains(&median), "a Wi-Fi LAN's round trip median {median} ms: {lan}");
    // An outage of the uplink leaves the home's LAN as it was.
    let host = Echo::start(&bed, "host", HOST_IP);
    bed.cut("a", true).unwrap();
    let out = probe(&bed, "a", &host.1, 5, 5, 300);
    let inside = probe(&bed, "a", &echo_b.1, 20, 10, 300);
    bed.cut("a", false).unwrap();
    assert_eq!(f(&out, "received"), 0.0, "the uplink is cut: {out}");
    assert!(f(&inside, "received") >= 15.0, "the LAN is not (Wi-Fi loses 0.5 % each way): {inside}");
    let back = probe(&bed, "a", &host.1, 5, 5, 300);
    assert_eq!(f(&back, "received"), 5.0, "mended: {back}");
}

#[test]
fn wifi_is_quick_but_stalls_now_and_then() {
    let Some(bed) = bed(&[("a", "wifi")]) else { return };
    let echo = Echo::start(&bed, "host", HOST_IP);
    // The first stall comes 2–6 s in; 7 s of probes meet at least one.
    let a = probe(&bed, "a", &echo.1, 1_400, 5, 500);
    let median = f(&a, "rtt_median_ms");
    assert!((3.0..=10.0).contains(&median), "wifi round trip median {median} ms: {a}");
    assert!(f(&a, "rtt_max_ms") >= 25.0, "a 30 ms stall shows: {a}");
}

#[test]
fn a_bed_that_cannot_come_up_says_why_and_leaves_nothing() {
    // Listener names no other test uses: tests run side by side, each with its own beds.
    match Bed::up(Path::new(BIN), &[("zzok", "lan"), ("zzbad", "wify")]) {
        Err(BedUnavailable::Unsupported(why)) => eprintln!("{why}"),
        Err(BedUnavailable::Failed(why)) => {
            assert!(why.contains("\"wify\" is not a profile") && why.contains("lan, wifi, internet or bad"), "{why}");
            let listed = String::from_utf8(Command::new("ip").args(["netns", "list"]).output().unwrap().stdout).unwrap_or_default();
            assert!(!listed.contains("-zzok") && !listed.contains("-rzzok"), "the half-made bed was taken down: {listed}");
        }
        Ok(bed) => panic!("a bed came up with a profile that does not exist: {bed:?}"),
    }
}

#[test]
fn taking_the_bed_down_leaves_no_namespace_or_process() {
    let Some(bed) = bed(&[("a", "bad"), ("b", "wifi")]) else { return };
    let namespaces = ["host", "wan", "a", "ra", "b", "rb"].map(|role| bed.namespace(role));
    let mut stray = bed.command("a", "sleep").arg("600").spawn().unwrap();
    let listed = || String::from_utf8(Command::new("ip").args(["netns", "list"]).output().unwrap().stdout).unwrap();
    let before = listed();
    for ns in &namespaces {
        assert!(before.contains(ns.as_str()), "{ns} missing from {before}");
    }
    drop(bed);
    let status = stray.wait().unwrap();
    assert!(!status.success(), "the stray process was killed, not left to finish: {status}");
    let after = listed();
    for ns in &namespaces {
        assert!(!after.contains(ns.as_str()), "{ns} left behind: {after}");
    }
}

#[test]
fn each_nat_kind_maps_and_filters_as_its_name_says() {
    let Some(bed) = bed(&[("r", "lan%restricted"), ("c", "lan%cone"), ("s", "lan%symmetric")]) else { return };
    let at_host = Echo::start(&bed, "host", HOST_IP);
    let at_wan = Echo::start(&bed, "wan", WAN_IP);
    for (who, same_port_everywhere) in [("r", true), ("c", true), ("s", false)] {
        let to_host = probe_from(&bed, who, &at_host.1, 41_000);
        let to_wan = probe_from(&bed, who, &at_wan.1, 41_000);
        let (a, b) = (port_of(&to_host["seen_as"]), port_of(&to_wan["seen_as"]));
        assert_eq!(a == b, same_port_everywhere, "{who}: one local port seen as {a} by one and {b} by another");
    }
    // From outside, only the full cone lets in what its machine did not ask for.
    for (who, open) in [("r", false), ("c", true), ("s", false)] {
        let (inside, outside) = bed.listener_addrs(who).unwrap();
        let echo = Echo::start(&bed, who, &inside);
        let port = echo.1.rsplit(':').next().unwrap();
        let from_host = probe(&bed, "host", &format!("{outside}:{port}"), 5, 5, 300);
        assert_eq!(f(&from_host, "received") > 0.0, open, "{who}: {from_host}");
    }
}

#[test]
fn a_host_at_home_is_behind_its_own_nat() {
    let Some(bed) = bed(&[("host", "lan%symmetric"), ("a", "lan")]) else { return };
    let (inside, outside) = bed.listener_addrs("host").unwrap();
    assert_eq!((inside.as_str(), outside.as_str()), ("192.168.0.2", HOST_IP));
    let at_wan = Echo::start(&bed, "wan", WAN_IP);
    let out = probe(&bed, "host", &at_wan.1, 5, 5, 300);
    assert!(out["seen_as"].as_str().unwrap().starts_with(&format!("{HOST_IP}:")), "{out}");
    // Nothing reaches it from outside unasked: not even the public address it is seen as.
    let echo = Echo::start(&bed, "host", &inside);
    let port = echo.1.rsplit(':').next().unwrap();
    let from_a = probe(&bed, "a", &format!("{HOST_IP}:{port}"), 5, 5, 300);
    assert_eq!(f(&from_a, "received"), 0.0, "{from_a}");
}
