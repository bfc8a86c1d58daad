//! A host room and listener rooms over a real hub, in one process: intents become diffs everywhere,
//! refusals reach their sender alone, late joiners get the state, forged diffs are dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tokio::sync::mpsc;
use whatssound_host::HostRoom;
use whatssound_hub::Limits;
use whatssound_member::{ListenerConfig, ListenerRoom, RoomEvent};
use whatssound_protocol::Invite;
use whatssound_room::{Action, Change, Identity, Position, QueueDiff, TrackMeta, TrackSource};

mod common;
use common::{LISTENER_TOKEN, RoomHub, listener_config, temp};

struct Room {
    host: HostRoom,
    invite: Invite,
    hub: RoomHub,
}

async fn room(name: &str) -> Room {
    room_with_clock(name, std::sync::Arc::new(whatssound_clock::MonotonicClock::new())).await
}

async fn room_with_clock(name: &str, clock: std::sync::Arc<dyn whatssound_clock::Clock>) -> Room {
    let hub = RoomHub::start("jam", Limits::default(), axum::Router::new()).await;
    let identity = Identity::from_secret([9; 32]);
    let invite = hub.invite("jam", &identity);
    let (host, _events) = HostRoom::start(hub.host_config("jam", identity, temp(&format!("{name}-host")), clock)).await.unwrap();
    Room { host, invite, hub }
}

async fn listener(room: &Room, name: &str) -> (ListenerRoom, mpsc::UnboundedReceiver<RoomEvent>) {
    let config = listener_config(&room.invite, name);
    let (l, mut events) = ListenerRoom::join(config).await.unwrap();
    until(&mut events, |e| matches!(e, RoomEvent::Joined { .. })).await;
    (l, events)
}

async fn until(events: &mut mpsc::UnboundedReceiver<RoomEvent>, mut want: impl FnMut(&RoomEvent) -> bool) -> RoomEvent {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.expect("event in time").expect("room open");
        if want(&e) {
            return e;
        }
    }
}

fn url_track(title: &str) -> Action {
    Action::Enqueue {
        track: TrackMeta {
            title: title.into(),
            artist: None,
            album: None,
            duration_ms: Some(60_000),
            source: TrackSource::Url { url: format!("https://x.org/{title}.ogg") },
            hash: None,
        },
        position: Position::Append,
    }
}

#[tokio::test]
async fn intents_become_diffs_everywhere_and_refusals_go_to_the_sender() {
    let mut room = room("flow").await;
    let (ann, mut ae) = listener(&room, "ann").await;
    let (_bob, mut be) = listener(&room, "bob").await;
    until(&mut ae, |e| matches!(e, RoomEvent::Presence { joins, .. } if joins.iter().any(|m| m.username == "bob"))).await;

    let id = ann.send(Action::Chat { text: "hello".into() }).await.unwrap();
    let confirmed = until(&mut ae, |e| matches!(e, RoomEvent::Confirmed { .. })).await;
    assert!(matches!(&confirmed, RoomEvent::Confirmed { intent, .. } if *intent == id));
    let chat = until(&mut be, |e| matches!(e, RoomEvent::Diff(d) if matches!(d.change, Change::Chat { .. }))).await;
    let RoomEvent::Diff(d) = chat else { unreachable!() };
    let Change::Chat { message } = d.change else { unreachable!() };
    assert_eq!((message.text.as_str(), message.name.as_str()), ("hello", "ann"));

    ann.send(url_track("song")).await.unwrap();
    let queued =
        until(&mut be, |e| matches!(e, RoomEvent::Diff(d) if matches!(d.change, Change::Queue { diff: QueueDiff::Insert { .. } }))).await;
    assert!(matches!(queued, RoomEvent::Diff(_)));

    // A host-only action from a listener: refused, to ann alone, with the reason.
    let skip = ann.send(Action::Skip).await.unwrap();
    let refused = until(&mut ae, |e| matches!(e, RoomEvent::Refused { .. })).await;
    assert_eq!(refused, RoomEvent::Refused { intent: skip, reason: "only the host may skip".into() });

    // The host acts directly; a late joiner sees everything in its snapshot.
    room.host.act(Action::Play, None).await.unwrap();
    let config = listener_config(&room.invite, "cat");
    let (_cat, mut ce) = ListenerRoom::join(config).await.unwrap();
    let snap = until(&mut ce, |e| matches!(e, RoomEvent::Snapshot(_))).await;
    let RoomEvent::Snapshot(s) = snap else { unreachable!() };
    assert_eq!(s.state.chat.back().map(|m| m.text.as_str()), Some("hello"));
    assert_eq!(s.state.queue.len(), 1);
    assert!(s.state.playback.playing);

    room.host.close().await;
    until(&mut be, |e| matches!(e, RoomEvent::RoomClosed)).await;
    until(&mut ce, |e| matches!(e, RoomEvent::RoomClosed)).await;
    room.hub.stop();
}

#[tokio::test]
async fn a_malformed_intent_gets_a_clear_refusal_and_changes_nothing() {
    use whatssound_client::{Client, ClientConfig, ClientEvent, JoinOptions};
    let mut room = room("malformed").await;
    let (ann, mut ae) = listener(&room, "ann-malformed").await;
    // Bob speaks the wire protocol by hand: a signed envelope whose body is not a valid intent.
    let bob = Identity::from_secret([42; 32]);
    let topics = whatssound_room::wire::Topics::new("jam");
    let (client, mut events) =
        Client::connect(ClientConfig::new(format!("{}/realtime/v1", room.invite.ws), Some(LISTENER_TOKEN.into()))).await.unwrap();
    client.join(&topics.main, JoinOptions::default(), None);
    client.join(&topics.user(&bob.user_id()), JoinOptions::default(), None);
    let mut joined = 0;
    while joined < 2 {
        if let Some(ClientEvent::Joined { .. }) = events.recv().await {
            joined += 1;
        }
    }
    let body = serde_json::json!({"id": "bad-1", "action": {"type": "teleport"}});
    client.broadcast(&topics.main, "intent", serde_json::to_value(bob.sign(body.to_string())).unwrap());
    let verdict = loop {
        let e = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.expect("a verdict in time").unwrap();
        if let ClientEvent::Broadcast { event, payload, .. } = e
            && event == "host:verdict"
        {
            break payload;
        }
    };
    let body: serde_json::Value = serde_json::from_str(verdict["body"].as_str().unwrap()).unwrap();
    assert_eq!((body["status"].as_str(), body["intent"].as_str()), (Some("refused"), Some("bad-1")));
    assert!(body["reason"].as_str().unwrap().starts_with("malformed intent: "), "{body}");

    // Nothing changed: the next valid intent is the room's first diff.
    ann.send(Action::Chat { text: "after".into() }).await.unwrap();
    let RoomEvent::Diff(d) = until(&mut ae, |e| matches!(e, RoomEvent::Diff(_))).await else { unreachable!() };
    assert_eq!(d.seq, 1, "the malformed intent made no diff");
    client.close();
    room.host.close().await;
    room.hub.stop();
}

#[tokio::test]
async fn a_skewed_listener_learns_the_hosts_clock() {
    use std::sync::Arc;
    use whatssound_clock::{Clock, MonotonicClock, SkewedClock};
    // One base clock: the host runs on it, the listener on it skewed 40 ms ahead and 50 ppm fast.
    // The estimate must undo exactly that, which sharing the system clock could never hide.
    let base = MonotonicClock::new();
    let mut room = room_with_clock("clock", Arc::new(base)).await;
    let skewed = SkewedClock { inner: base, skew: 40_000_000, drift_ppm: 50.0 };
    let config =
        ListenerConfig { clock: Arc::new(skewed), track_presence: false, lan_clock: false, ..listener_config(&room.invite, "ann-clock") };
    let (_ann, mut events) = ListenerRoom::join(config).await.unwrap();
    let mut last = None;
    for _ in 0..8 {
        if let RoomEvent::Sync(s) = until(&mut events, |e| matches!(e, RoomEvent::Sync(_))).await {
            last = Some(s);
        }
    }
    let s = last.unwrap();
    // host − local = base − skewed(base) = −(40 ms + 50 ppm · t).
    let expected = -(40_000_000 + (base.now() as f64 * 50e-6) as i64);
    let error = (s.clock_offset_ns - expected).abs();
    assert!(error < 2_000_000, "estimated {} ns, expected {expected} ns ({s:?})", s.clock_offset_ns);
    assert!(s.round_trip_ns < 50_000_000 && s.samples >= 8, "{s:?}");
    let _ = skewed.now();
    room.host.close().await;
    room.hub.stop();
}

#[tokio::test]
async fn a_listeners_clock_pings_reach_the_host_alone() {
    use whatssound_client::{Client, ClientConfig, ClientEvent, JoinOptions};
    // Pings on a shared channel reached every member: with 30 listeners, ~14 Mbit/s out of the
    // host. Another member on the playback channel must hear none while the listener syncs.
    let mut room = room("pings").await;
    let topics = whatssound_room::wire::Topics::new("jam");
    let (other, mut seen) =
        Client::connect(ClientConfig::new(format!("{}/realtime/v1", room.invite.ws), Some(LISTENER_TOKEN.into()))).await.unwrap();
    other.join(&topics.playback, JoinOptions::default(), None);
    while !matches!(seen.recv().await, Some(ClientEvent::Joined { .. })) {}
    let (_ann, mut events) = listener(&room, "ann-pings").await;
    for _ in 0..8 {
        until(&mut events, |e| matches!(e, RoomEvent::Sync(_))).await;
    }
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(200), seen.recv()).await {
        if let ClientEvent::Broadcast { event, .. } = e {
            assert_ne!(event, whatssound_room::wire::CLOCK_PING, "another member heard a clock ping");
        }
    }
    other.close();
    room.host.close().await;
    room.hub.stop();
}

#[tokio::test]
async fn a_malformed_clock_ping_is_dropped_and_the_next_one_is_answered() {
    use whatssound_client::{Client, ClientConfig, ClientEvent, JoinOptions};
    use whatssound_room::wire::{self, ClockPing};
    let mut room = room("bad-ping").await;
    // Bob speaks the wire by hand: asks for a snapshot (so the host hears his channel), then
    // pings there once with junk and once properly.
    let bob = Identity::from_secret([43; 32]);
    let topics = wire::Topics::new("jam");
    let mine = topics.user(&bob.user_id());
    let (client, mut events) =
        Client::connect(ClientConfig::new(format!("{}/realtime/v1", room.invite.ws), Some(LISTENER_TOKEN.into()))).await.unwrap();
    client.join(&topics.main, JoinOptions::default(), None);
    client.join(&mine, JoinOptions::default(), None);
    let mut joined = 0;
    while joined < 2 {
        if let Some(ClientEvent::Joined { .. }) = events.recv().await {
            joined += 1;
        }
    }
    client.broadcast(&topics.main, wire::SNAPSHOT_REQUEST, wire::seal(&bob, &serde_json::json!({})));
    // The host joins Bob's channel a moment after his request: ping until answered, 10 s at most.
    let mut tries = 0;
    let pong = loop {
        tries += 1;
        assert!(tries <= 20, "no pong after a malformed ping");
        client.broadcast(&mine, wire::CLOCK_PING, serde_json::json!({"not": "signed"}));
        client.broadcast(&mine, wire::CLOCK_PING, wire::seal(&bob, &ClockPing { nonce: 7, t0: 1 }));
        let answer = tokio::time::timeout(Duration::from_millis(500), async {
            loop {
                if let Some(ClientEvent::Broadcast { event, payload, .. }) = events.recv().await
                    && event == wire::CLOCK_PONG
                {
                    return payload;
                }
            }
        });
        if let Ok(payload) = answer.await {
            break payload;
        }
    };
    let body: serde_json::Value = serde_json::from_str(pong["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["nonce"].as_u64(), Some(7), "{body}");
    client.close();
    room.host.close().await;
    room.hub.stop();
}

#[tokio::test]
async fn when_a_track_ends_the_room_moves_on_to_the_next() {
    let mut room = room("ends").await;
    let short = |title: &str, ms: u64| Action::Enqueue {
        track: TrackMeta {
            title: title.into(),
            artist: None,
            album: None,
            duration_ms: Some(ms),
            source: TrackSource::Url { url: format!("https://x.org/{title}.ogg") },
            hash: None,
        },
        position: Position::Append,
    };
    room.host.act(short("first", 300), None).await.unwrap();
    room.host.act(short("second", 60_000), None).await.unwrap();
    let (_ann, mut events) = listener(&room, "ann-ends").await;
    room.host.act(Action::Play, None).await.unwrap();
    // Within a moment of 300 ms the first track is done: playback moves to the second, and the
    // first leaves the queue.
    let moved = until(&mut events, |e| matches!(e, RoomEvent::Diff(d) if matches!(&d.change, Change::Playback { playback } if playback.track.as_ref().map(|t| t.as_str()) == Some("t2")))).await;
    let RoomEvent::Diff(d) = moved else { unreachable!() };
    let Change::Playback { playback } = d.change else { unreachable!() };
    assert!(playback.playing && playback.position_ms == 0);
    until(
        &mut events,
        |e| matches!(e, RoomEvent::Diff(d) if matches!(&d.change, Change::Queue { diff: QueueDiff::Delete { id } } if id.as_str() == "t1")),
    )
    .await;
    room.host.close().await;
    room.hub.stop();
}
