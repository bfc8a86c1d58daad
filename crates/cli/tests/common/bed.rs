//! `whatssound-cli` inside the network test bed (tests/net/bed.sh): a bed for the test, the CLI
//! run in one of its namespaces, and a host either on the wan or at home behind its own NAT,
//! reached through a tunnel met at a relay on the wan.

use std::path::Path;

use whatssound_netbed::bed::{HOST_IP, WAN_IP};
use whatssound_netbed::{Bed, BedUnavailable};

use super::{BIN, Running};

/// A bed with these homes; `None` (after one line saying why) where the machine cannot make one.
pub fn bed(homes: &[(&str, &str)]) -> Option<Bed> {
    // `cargo test --workspace` builds the impairer beside this binary.
    let impairer = Path::new(BIN).with_file_name("whatssound-netbed");
    match Bed::up(&impairer, homes) {
        Ok(bed) => Some(bed),
        Err(BedUnavailable::Unsupported(why)) => {
            eprintln!("{why}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

pub fn cli_in(bed: &Bed, role: &str, args: &[&str]) -> Running {
    let mut command = bed.command(role, BIN);
    command.args(args);
    Running::spawn_command(command)
}

/// A host on the wan playing `track` from `dir/host`, and its listener invite.
pub fn host_in(bed: &Bed, dir: &Path, track: &Path) -> (Running, String) {
    let listen = format!("{HOST_IP}:0");
    let mut host =
        cli_in(bed, "host", &["host", "--listen", &listen, "--data-dir", dir.join("host").to_str().unwrap(), track.to_str().unwrap()]);
    host.ready = host.next().expect("the host's ready line");
    let invite = host.field("invite");
    (host, invite)
}

/// A relay server on the wan (`whatssound-cli p2p-relay`), and its URL.
pub fn relay_in(bed: &Bed) -> (Running, String) {
    let mut relay = cli_in(bed, "wan", &["p2p-relay", "--listen", &format!("{WAN_IP}:3340")]);
    relay.ready = relay.next().expect("the relay's ready line");
    let url = relay.field("url");
    (relay, url)
}

/// The arguments that host a room at home (the bed's `host` home) behind its NAT, reachable only
/// through a tunnel met at `relay`; `extra` after them (files to queue).
pub fn host_at_home_args(bed: &Bed, dir: &Path, relay: &str, extra: &[&str]) -> Vec<String> {
    let (inside, _) = bed.listener_addrs("host").expect("a bed with the host at home");
    let mut args: Vec<String> = ["host", "--listen", &format!("{inside}:0"), "--tunnel", relay, "--data-dir"].map(String::from).to_vec();
    args.push(dir.join("host").to_string_lossy().into_owned());
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

/// [`host_at_home_args`], started: the host, and its listener invite.
pub fn host_at_home(bed: &Bed, dir: &Path, relay: &str, extra: &[&str]) -> (Running, String) {
    let args = host_at_home_args(bed, dir, relay, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut host = cli_in(bed, "host", &args);
    host.ready = host.next().expect("the host's ready line");
    let invite = host.field("invite");
    assert!(invite.contains("&node=") && invite.contains("&node_relay="), "the invite carries the host's node: {invite}");
    (host, invite)
}

/// `whatssound-cli send INVITE chat TEXT` from `role`'s namespace, as a second process there
/// (its own data dir under `dir`); fails the test if the room does not confirm it.
pub fn chat_from(bed: &Bed, role: &str, dir: &Path, invite: &str, text: &str) {
    let data = dir.join(format!("send-{role}"));
    let sent = bed.command(role, BIN).args(["send", "--data-dir", data.to_str().unwrap(), invite, "chat", text]).output().unwrap();
    assert!(sent.status.success(), "send: {}", String::from_utf8_lossy(&sent.stderr));
}
