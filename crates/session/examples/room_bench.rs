//! Room benchmark: intent → every replica, snapshot size and time, restart time.
//!
//! ```sh
//! cargo run --release -p whatssound-core --example room_bench -- 100 200     # listeners, intents
//! cargo run --release -p whatssound-core --example room_bench -- 1000 100
//! ```
//! Everything runs in this process on loopback (hub, host, N listeners), so the figures include the
//! hub's fan-out, the host's save-before-publish, and every listener's signature check.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use whatssound_core::store::{Commit, HostStore};
use whatssound_host::{HostConfig, HostRoom};
use whatssound_member::{ListenerRoom, RoomEvent};
use whatssound_room::wire::{self, SnapshotMessage};
use whatssound_room::{Action, Change, Engine, Identity, Intent, Position, RoomSettings, TrackMeta, TrackSource, UserId};

#[path = "../tests/common/mod.rs"]
mod common;
use common::{RoomHub, listener_config, temp};

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn host_config(hub: &RoomHub, dir: PathBuf, identity: &Identity) -> HostConfig {
    hub.host_config("bench", identity.clone(), dir, std::sync::Arc::new(whatssound_clock::MonotonicClock::new()))
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let listeners = args.first().copied().unwrap_or(100);
    let intents = args.get(1).copied().unwrap_or(100);
    let identity = Identity::from_secret([5; 32]);
    let hub = RoomHub::start("bench", RoomHub::unlimited(), axum::Router::new()).await;
    let (first_host, _events) = HostRoom::start(host_config(&hub, temp("host"), &identity)).await.unwrap();
    let invite = hub.invite("bench", &identity);

    // N listeners, joined a few at a time; each forwards (chat index, arrival) to the collector.
    let (arrivals, mut collected) = mpsc::unbounded_channel::<(usize, Instant)>();
    let mut rooms = Vec::new();
    let joining = Instant::now();
    for i in 0..listeners {
        let config = listener_config(&invite, &format!("l{i}"));
        let (room, mut events) = ListenerRoom::join(config).await.unwrap();
        loop {
            if let Some(RoomEvent::Joined { .. }) = events.recv().await {
                break;
            }
        }
        let tx = arrivals.clone();
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                if let RoomEvent::Diff(whatssound_room::Diff { change: Change::Chat { message }, .. }) = e {
                    let _ = tx.send((message.text.parse().unwrap_or(usize::MAX), Instant::now()));
                }
            }
        });
        rooms.push(room);
    }
    println!("{listeners} listeners joined in {:.2} s", joining.elapsed().as_secs_f64());

    // One listener sends chats one after another; each is done when every replica has it.
    let mut to_all = Vec::new();
    let mut each = Vec::new();
    for n in 0..intents {
        let sent = Instant::now();
        rooms[0].send(Action::Chat { text: n.to_string() }).await.unwrap();
        let mut seen = 0;
        while seen < listeners {
            let (index, at) = tokio::time::timeout(Duration::from_secs(30), collected.recv()).await.expect("diff in time").unwrap();
            if index == n {
                seen += 1;
                each.push(at.duration_since(sent).as_secs_f64() * 1e3);
                if seen == listeners {
                    to_all.push(at.duration_since(sent).as_secs_f64() * 1e3);
                }
            }
        }
    }
    to_all.sort_by(f64::total_cmp);
    each.sort_by(f64::total_cmp);
    println!(
        "intent → every one of {listeners} replicas ({intents} intents): p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(&to_all, 0.5),
        pct(&to_all, 0.95),
        pct(&to_all, 0.99),
        to_all[to_all.len() - 1]
    );
    println!("intent → one replica: p50 {:.1} ms, p99 {:.1} ms", pct(&each, 0.5), pct(&each, 0.99));
    for r in &rooms {
        r.close();
    }
    first_host.close().await;

    // A big room: 1,000 tracks, 10,000 chat messages.
    let host = identity.user_id();
    let mut engine = Engine::new(host.clone(), RoomSettings::default());
    let dir = temp("big");
    let mut store = HostStore::open(&dir).unwrap();
    let filling = Instant::now();
    for n in 0..11_000u64 {
        let action = if n < 1_000 {
            Action::Enqueue {
                track: TrackMeta {
                    title: format!("Track number {n}"),
                    artist: Some("Some Artist".into()),
                    album: Some("Some Album".into()),
                    duration_ms: Some(200_000),
                    source: TrackSource::Url { url: format!("https://media.example.org/tracks/{n}.ogg") },
                    hash: None,
                },
                position: Position::Append,
            }
        } else {
            Action::Chat { text: format!("message number {n}, about as long as a chat line usually is") }
        };
        let user = UserId(format!("user{}", n % 50));
        let out = engine.handle(&user, Intent { id: format!("i{n}").into(), name: format!("name {}", n % 50), action }, n);
        let chat: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                whatssound_room::Output::Diff(d) => wire::chat_of(d).map(|m| (m, d.seq)),
                _ => None,
            })
            .collect();
        store.commit(&engine, n, &Commit { applied: Some((format!("k{n}"), engine.state().seq)), chat, files: vec![] }).unwrap();
    }
    let fill = filling.elapsed();
    println!(
        "filled 1,000 tracks + 10,000 messages in {:.2} s ({:.2} ms per saved intent)",
        fill.as_secs_f64(),
        fill.as_secs_f64() * 1e3 / 11_000.0
    );
    let snapshot = SnapshotMessage { state: engine.state().clone(), host_now_ms: 0 };
    let t = Instant::now();
    let sealed = wire::seal(&identity, &snapshot);
    let seal_ms = t.elapsed().as_secs_f64() * 1e3;
    let size = sealed.to_string().len();
    let t = Instant::now();
    let opened: SnapshotMessage = wire::open_from_host(&sealed, &host, "snapshot").unwrap();
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(opened.state.seq, engine.state().seq);
    println!(
        "snapshot (1,000 tracks, last 200 of 10,000 messages): {:.0} KiB signed; serialise+sign {seal_ms:.1} ms, verify+parse {open_ms:.1} ms",
        size as f64 / 1024.0
    );
    let t = Instant::now();
    store.commit(&engine, 0, &Commit::default()).unwrap();
    println!("saving that room after one intent: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    drop(store);

    // Restart: open the store and serve the room again (connected, channels joined).
    let t = Instant::now();
    let store = HostStore::open(&dir).unwrap();
    let (loaded, _) = store.load().unwrap().unwrap();
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(loaded.state(), engine.state());
    drop(store);
    let t = Instant::now();
    let (_big, _) = HostRoom::start(host_config(&hub, dir, &identity)).await.unwrap();
    let start_ms = t.elapsed().as_secs_f64() * 1e3;
    let config = listener_config(&invite, "late");
    let (_late, mut events) = ListenerRoom::join(config).await.unwrap();
    while !matches!(events.recv().await, Some(RoomEvent::Joined { .. })) {}
    println!(
        "restart: load {load_ms:.1} ms; HostRoom::start (load + connect) {start_ms:.1} ms; first snapshot served {:.1} ms after start",
        t.elapsed().as_secs_f64() * 1e3
    );
}
