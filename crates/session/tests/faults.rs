//! The network at its worst: three listeners reach the room through a proxy that cuts every
//! connection every ~200 ms, and still every chat message and every track lands exactly once, in
//! each sender's order, and presence is right at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};
use whatssound_core::store::HostStore;
use whatssound_host::HostRoom;
use whatssound_member::{ListenerRoom, RoomEvent};
use whatssound_protocol::{Invite, WsBase};
use whatssound_room::{Action, Identity, Position, TrackMeta, TrackSource};

const LISTENERS: usize = 3;
const CHATS: usize = 500;
const ENQUEUES: usize = 100;

mod common;
use common::{RoomHub, listener_config, temp};

/// A TCP proxy that, while `cutting` is set, drops every connection it carries every 100–300 ms.
async fn flaky_proxy(upstream: SocketAddr, cutting: Arc<AtomicBool>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (cut, _) = broadcast::channel::<()>(16);
    let cutter = cut.clone();
    tokio::spawn(async move {
        loop {
            let wait = 100 + rand::random::<u64>() % 200;
            tokio::time::sleep(Duration::from_millis(wait)).await;
            if cutting.load(Ordering::Relaxed) {
                let _ = cutter.send(());
            }
        }
    });
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut cut = cut.subscribe();
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(upstream).await else { return };
                let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = cut.recv() => {}
                }
            });
        }
    });
    addr
}

fn track(title: String) -> Action {
    Action::Enqueue {
        track: TrackMeta {
            title: title.clone(),
            artist: None,
            album: None,
            duration_ms: None,
            source: TrackSource::Url { url: format!("https://x.org/{title}") },
            hash: None,
        },
        position: Position::Append,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_intent_lands_once_in_order_through_a_connection_cutting_proxy() {
    // Stop-and-wait senders go as fast as round trips allow; lift the per-socket rate for the test.
    let mut hub = RoomHub::start("storm", RoomHub::unlimited(), axum::Router::new()).await;
    let hub_addr = hub.addr;
    let identity = Identity::from_secret([3; 32]);
    let direct = hub.invite("storm", &identity);
    let host_dir = temp("host");
    let config = hub.host_config("storm", identity, host_dir.clone(), std::sync::Arc::new(whatssound_clock::MonotonicClock::new()));
    let (host, _host_events) = HostRoom::start(config).await.unwrap();

    let cutting = Arc::new(AtomicBool::new(true));
    let proxy = flaky_proxy(hub_addr, cutting.clone()).await;
    let invite = Invite { ws: WsBase::from_addr(proxy), ..direct };

    let mut rooms = Vec::new();
    for i in 0..LISTENERS {
        let config = listener_config(&invite, &format!("L{i}"));
        // The first connection may itself be cut: try until one holds.
        let joined = loop {
            if let Ok(joined) = ListenerRoom::join(config.clone()).await {
                break joined;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        rooms.push(joined);
    }
    // Everything is sent at once; the outboxes deliver it through the storm.
    let mut expected = [0usize; LISTENERS];
    for n in 0..CHATS {
        let i = n % LISTENERS;
        rooms[i].0.send(Action::Chat { text: format!("L{i} chat {n:04}") }).await.unwrap();
        expected[i] += 1;
        if n % (CHATS / ENQUEUES) == 0 {
            rooms[i].0.send(track(format!("L{i}-track-{n:04}"))).await.unwrap();
            expected[i] += 1;
        }
    }
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    for (i, (_, mut events)) in rooms.iter_mut().map(|(r, e)| (r.clone(), std::mem::replace(e, mpsc::unbounded_channel().1))).enumerate() {
        let want = expected[i];
        let done = done_tx.clone();
        tokio::spawn(async move {
            let (mut confirmed, mut refused) = (0, 0);
            while confirmed + refused < want {
                match events.recv().await {
                    Some(RoomEvent::Confirmed { .. }) => confirmed += 1,
                    Some(RoomEvent::Refused { reason, .. }) => {
                        eprintln!("L{i} refused: {reason}");
                        refused += 1;
                    }
                    Some(_) => {}
                    None => break,
                }
            }
            let _ = done.send((i, confirmed, refused, events));
        });
    }
    let mut finished = Vec::new();
    for _ in 0..LISTENERS {
        let got =
            tokio::time::timeout(Duration::from_secs(120), done_rx.recv()).await.expect("every intent confirmed within 2 minutes").unwrap();
        assert_eq!(got.2, 0, "nothing refused");
        finished.push(got);
    }
    cutting.store(false, Ordering::Relaxed);

    // The host's own record: every message once, each sender's in order.
    let store = HostStore::open(&host_dir).unwrap();
    let chat = store.chat_history(10_000).unwrap();
    assert_eq!(chat.len(), CHATS, "each chat message exactly once");
    let mut by_sender: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &chat {
        by_sender.entry(m.name.clone()).or_default().push(m.text.clone());
    }
    for (sender, texts) in &by_sender {
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, &sorted, "{sender}'s messages in the order sent");
    }
    let (engine, _) = store.load().unwrap().unwrap();
    let titles: Vec<String> = engine.state().queue.iter().map(|t| t.meta.title.clone()).collect();
    assert_eq!(titles.len(), ENQUEUES, "each track exactly once");
    for i in 0..LISTENERS {
        let mine: Vec<&String> = titles.iter().filter(|t| t.starts_with(&format!("L{i}-"))).collect();
        let mut sorted = mine.clone();
        sorted.sort();
        assert_eq!(mine, sorted, "L{i}'s tracks in the order sent");
    }

    // Presence at the end: a fresh observer sees each listener once (no ghosts of cut sockets).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let observer = listener_config(&Invite { ws: WsBase::from_addr(hub_addr), ..invite }, "obs");
    let (_obs, mut oe) = ListenerRoom::join(observer).await.unwrap();
    let mut metas: HashMap<String, usize> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, oe.recv()).await {
        if let RoomEvent::Presence { joins, leaves } = e {
            for m in joins {
                *metas.entry(m.username.clone()).or_default() += 1;
            }
            for m in leaves {
                *metas.entry(m.username.clone()).or_default() -= 1;
            }
        }
    }
    for i in 0..LISTENERS {
        assert_eq!(metas.get(&format!("L{i}")), Some(&1), "L{i} present exactly once: {metas:?}");
    }
    for (room, ..) in &rooms {
        room.close();
    }
    host.close().await;
    hub.stop();
    drop(finished);
}
