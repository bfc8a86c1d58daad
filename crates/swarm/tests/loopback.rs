//! A room's swarm on this machine, endpoints on loopback with no relay: listeners get the host's
//! track whole and mostly from each other; a member whose copy is damaged is caught by the hash
//! and the track comes from elsewhere; a node not in the room is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use iroh::endpoint::presets;
use iroh::{Endpoint, EndpointAddr, RelayMode};
use whatssound_swarm::fetch::Fetched;
use whatssound_swarm::{Members, Progress, Swarm};

async fn endpoint() -> Endpoint {
    Endpoint::builder(presets::Minimal).relay_mode(RelayMode::Disabled).bind().await.unwrap()
}

/// The loopback address a test endpoint answers on.
fn loopback(endpoint: &Endpoint) -> SocketAddr {
    let port = endpoint.bound_sockets().iter().find(|a| a.is_ipv4()).unwrap().port();
    SocketAddr::from(([127, 0, 0, 1], port))
}

struct Member {
    swarm: Swarm,
    at: SocketAddr,
    _serving: tokio::task::JoinHandle<()>,
}

async fn member(dir: &Path, host: Option<EndpointAddr>) -> Member {
    let ep = endpoint().await;
    let at = loopback(&ep);
    let swarm = Swarm::open(ep, dir, None, host).await.unwrap();
    let serving = tokio::spawn(swarm.clone().serve(std::future::pending()));
    Member { swarm, at, _serving: serving }
}

/// A host with `file` in its swarm, serving: its swarm, the file's hash, and how to reach it.
async fn host_with(dir: &Path, file: &Path) -> (Swarm, whatssound_swarm::Hash, EndpointAddr) {
    let ep = endpoint().await;
    let at = loopback(&ep);
    let host = Swarm::open(ep, dir, None, None).await.unwrap();
    let hash = host.add_file(file).await.unwrap();
    tokio::spawn(host.clone().serve(std::future::pending()));
    let addr = EndpointAddr::from_parts(host.id(), [iroh::TransportAddr::Ip(at)]);
    (host, hash, addr)
}

fn everyone(members: &[&Member]) -> Members {
    members.iter().map(|m| (m.swarm.id(), vec![m.at])).collect()
}

/// Bytes that look like nothing in particular.
fn track_bytes(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

async fn fetch_all(swarm: &Swarm, hash: whatssound_swarm::Hash) -> (Vec<u8>, Progress) {
    let mut bytes = Vec::new();
    let mut last = Progress::default();
    let fetched = tokio::time::timeout(
        Duration::from_secs(60),
        swarm.fetch(hash, |data, p| {
            bytes.extend_from_slice(data);
            last = p;
            true
        }),
    )
    .await
    .expect("the fetch finished within 60 s")
    .unwrap();
    assert_eq!(fetched, Fetched::Whole);
    (bytes, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_get_the_hosts_track_whole_and_mostly_from_each_other() {
    let root = tempfile::tempdir().unwrap();
    let track = track_bytes(3 * 1024 * 1024 + 777);
    let file = root.path().join("track.flac");
    std::fs::write(&file, &track).unwrap();
    let (host, hash, host_addr) = host_with(&root.path().join("host"), &file).await;
    assert_eq!(hash.to_hex(), whatssound_swarm::Hash::new(&track).to_hex(), "a track is named by the BLAKE3 hash of its bytes");

    let mut listeners = Vec::new();
    for i in 0..3 {
        listeners.push(member(&root.path().join(format!("l{i}")), Some(host_addr.clone())).await);
    }
    let all: Vec<&Member> = listeners.iter().collect();
    host.set_members(everyone(&all));
    for l in &listeners {
        l.swarm.set_members(everyone(&all));
    }
    let fetches = listeners.iter().map(|l| fetch_all(&l.swarm, hash));
    let results = futures_util::future::join_all(fetches).await;
    let mut from_host = 0;
    for (bytes, progress) in &results {
        assert!(bytes == &track, "every listener has the host's exact bytes");
        assert_eq!(progress.total, Some(track.len() as u64));
        from_host += progress.from_host;
    }
    let from_peers: u64 = results.iter().map(|(_, p)| p.from_peers).sum();
    eprintln!("host sent {from_host} bytes, members {from_peers}, for a track of {}", track.len());
    assert!(from_host < 2 * track.len() as u64, "the host sent {from_host} bytes for three listeners of a {} byte track", track.len());
    assert!(from_peers > 0);
}

/// The largest file under `dir`: where a disk store keeps a whole track's bytes.
fn largest_file(dir: &Path) -> PathBuf {
    let mut best: Option<(u64, PathBuf)> = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else if best.as_ref().is_none_or(|(len, _)| meta.len() > *len) {
                best = Some((meta.len(), path));
            }
        }
    }
    best.unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_copy_is_damaged_is_caught_and_the_track_comes_from_the_host() {
    // RUST_LOG=whatssound_swarm=debug shows whom each piece was asked of, if this ever hangs again.
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
    use std::io::{Seek, Write};
    let root = tempfile::tempdir().unwrap();
    let track = track_bytes(1024 * 1024);
    let file = root.path().join("track.flac");
    std::fs::write(&file, &track).unwrap();
    let (host, hash, host_addr) = host_with(&root.path().join("host"), &file).await;

    let liar = member(&root.path().join("liar"), Some(host_addr.clone())).await;
    host.set_members(everyone(&[&liar]));
    let (bytes, _) = fetch_all(&liar.swarm, hash).await;
    assert!(bytes == track);
    // Its copy on disk is damaged (a bad disk, or a member out to play something else).
    let stored = largest_file(&root.path().join("liar"));
    let mut f = std::fs::OpenOptions::new().write(true).open(&stored).unwrap();
    f.seek(std::io::SeekFrom::Start(200_000)).unwrap();
    f.write_all(&[0x55; 64]).unwrap();
    f.sync_all().unwrap();
    drop(f);

    let honest = member(&root.path().join("honest"), Some(host_addr)).await;
    let both = everyone(&[&liar, &honest]);
    host.set_members(both.clone());
    liar.swarm.set_members(both.clone());
    honest.swarm.set_members(both);
    let (bytes, progress) = fetch_all(&honest.swarm, hash).await;
    assert!(bytes == track, "the damaged bytes never reached the listener");
    assert!(progress.from_host > 0, "what the liar could not give came from the host: {progress:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_not_in_the_room_cannot_fetch_its_tracks() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("track.flac");
    std::fs::write(&file, track_bytes(200_000)).unwrap();
    let (_host, hash, host_addr) = host_with(&root.path().join("host"), &file).await;
    // The stranger knows the host's node and the track's hash, but nobody put it in the room.
    let stranger = member(&root.path().join("stranger"), Some(host_addr)).await;
    let fetched = tokio::time::timeout(Duration::from_secs(30), stranger.swarm.fetch(hash, |_, _| true)).await.expect("it gives up");
    let error = fetched.unwrap_err().to_string();
    assert!(error.contains("not in the room"), "{error}");
}
