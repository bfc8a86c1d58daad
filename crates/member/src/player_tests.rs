//! The player against a real HTTP server that sends a track slowly or cuts it: it plays what has
//! arrived, caches only what arrived whole, and names a cut download as the reason a track failed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use whatssound_audio::{Clock, MonotonicClock, wav};
use whatssound_core::fetch::cache_key;
use whatssound_room::{Playback, QueueDiff, RoomState, Track, TrackId, TrackMeta, TrackSource, UserId};

use super::{OutputKind, Player, PlayerConfig, PlayerEvent};

#[test]
fn cache_keys_ignore_the_token_and_tell_hosts_and_tracks_apart() {
    let a = cache_key("http://127.0.0.1:7667/media/t1?token=old");
    assert_eq!(a, cache_key("http://127.0.0.1:7667/media/t1?token=new"));
    assert_ne!(a, cache_key("http://127.0.0.1:7668/media/t1?token=old"));
    assert_ne!(a, cache_key("http://127.0.0.1:7667/media/t2?token=old"));
    assert!(a.ends_with("-t1"));
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("whatssound-player-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Serves `body`: to the first request, its first `head` bytes at once, then, when `go` fires, the
/// rest (`Some(())`) or nothing, closing the connection short of the announced length (`None`).
/// With `ranges`, later requests get what their `Range: bytes=N-` asks for; without, the server
/// is gone after the first.
async fn dribble(body: Vec<u8>, head: usize, go: oneshot::Receiver<Option<()>>, ranges: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/tracks/slow.wav", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        request_head(&mut socket).await;
        let headers = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: audio/wav\r\n\r\n", body.len());
        socket.write_all(headers.as_bytes()).await.unwrap();
        socket.write_all(&body[..head]).await.unwrap();
        socket.flush().await.unwrap();
        if let Ok(Some(())) = go.await {
            socket.write_all(&body[head..]).await.unwrap();
        }
        let _ = socket.shutdown().await;
        drop(socket);
        if !ranges {
            return;
        }
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let request = request_head(&mut socket).await;
            let from: usize = request
                .lines()
                .find_map(|l| l.strip_prefix("range: bytes=").or_else(|| l.strip_prefix("Range: bytes=")))
                .and_then(|r| r.trim_end_matches('-').parse().ok())
                .unwrap_or(0);
            let headers = format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\n\r\n",
                body.len() - from,
                body.len() - 1,
                body.len()
            );
            socket.write_all(headers.as_bytes()).await.unwrap();
            socket.write_all(&body[from..]).await.unwrap();
            let _ = socket.shutdown().await;
        }
    });
    url
}

/// Reads a request's head (up to the blank line), returned as text.
async fn request_head(socket: &mut tokio::net::TcpStream) -> String {
    let mut request = Vec::new();
    while !request.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if socket.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        request.push(byte[0]);
    }
    String::from_utf8_lossy(&request).into_owned()
}

/// A player with a null output, told to play `url` from its start, now.
fn play(url: &str, cache: PathBuf) -> (Player, mpsc::UnboundedReceiver<PlayerEvent>, TrackId) {
    let clock: Arc<dyn Clock> = Arc::new(MonotonicClock::new());
    let config = PlayerConfig {
        output: OutputKind::Null,
        nudge_ms: 0,
        clock: clock.clone(),
        volume: whatssound_audio::Volume::default(),
        cache_dir: cache,
        route: crate::Route::to_address(&whatssound_core::WsBase::from_addr(([127, 0, 0, 1], 1).into())),
        token: "unused".into(),
        device_trace: None,
        quality: crate::Quality::default(),
    };
    let (mut player, events) = Player::start(config).unwrap();
    let track = TrackId("t1".into());
    let meta = TrackMeta {
        title: "t".into(),
        artist: None,
        album: None,
        duration_ms: Some(10_000),
        source: TrackSource::Url { url: url.into() },
        hash: None,
    };
    let queued = Track { id: track.clone(), meta, added_by: UserId("test".into()), unplayable: None };
    let now = clock.now();
    player.set_clock(now, now, 0.0);
    let at_ms = u64::try_from(now / 1_000_000).unwrap() + 100;
    let mut room = RoomState::default();
    room.queue.apply(&QueueDiff::Insert { at: 0, track: queued }).unwrap();
    room.playback = Playback { track: Some(track.clone()), playing: true, position_ms: 0, at_ms };
    player.follow(Arc::new(room));
    (player, events, track)
}

/// A 10 s track served by [`dribble`] (its first `body.len() / head_part` bytes at once) and a
/// player told to play it: the pieces each test starts from.
struct Scene {
    body: Vec<u8>,
    go: oneshot::Sender<Option<()>>,
    url: String,
    cache: PathBuf,
    player: Player,
    events: mpsc::UnboundedReceiver<PlayerEvent>,
    track: TrackId,
}

async fn scene(name: &str, head_part: usize, ranges: bool) -> Scene {
    let body = wav::sine(48_000, 2, 10.0, 440.0, &wav::Tags::default());
    let (go, wait) = oneshot::channel();
    let url = dribble(body.clone(), body.len() / head_part, wait, ranges).await;
    let cache = temp(name).join("cache");
    let (player, events, track) = play(&url, cache.clone());
    Scene { body, go, url, cache, player, events, track }
}

async fn until(events: &mut mpsc::UnboundedReceiver<PlayerEvent>, want: impl Fn(&PlayerEvent) -> bool) -> PlayerEvent {
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let e = events.recv().await.expect("the player is running");
            if want(&e) {
                return e;
            }
        }
    })
    .await
    .expect("the awaited player event within 15 s")
}

/// The track's cached copy, once it is there (the download renames it whole, a moment after its
/// last progress event).
async fn cached_whole(cache: &std::path::Path, url: &str) -> Vec<u8> {
    let cached = cache.join(cache_key(url));
    let whole = tokio::time::timeout(Duration::from_secs(5), async {
        while !cached.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    whole.await.expect("the whole track is cached");
    std::fs::read(&cached).unwrap()
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir).map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_track_sounds_while_most_of_it_is_still_downloading_and_is_cached_once_whole() {
    let Scene { body, go, url, cache, player, mut events, track } = scene("slow", 4, false).await;

    let ready = until(&mut events, |e| matches!(e, PlayerEvent::Ready { .. })).await;
    assert_eq!(ready, PlayerEvent::Ready { track: track.clone(), rate: 48_000 });
    let sounding = tokio::time::timeout(Duration::from_secs(10), async {
        while player.stats().started_at.is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    sounding.await.expect("the first frame sounds with three quarters of the track still to come");
    assert!(!files_in(&cache).iter().any(|f| !f.ends_with(".part")), "nothing cached before the end: {:?}", files_in(&cache));

    go.send(Some(())).unwrap();
    let total = body.len() as u64;
    until(&mut events, |e| matches!(e, PlayerEvent::Buffering { progress, .. } if progress.bytes == total)).await;
    assert_eq!(cached_whole(&cache, &url).await, body);
    assert_eq!(player.stats().underruns, 0, "the head arrived long before it was due");
    player.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_cut_short_fails_the_track_with_that_reason_and_caches_nothing() {
    let Scene { go, url, cache, player, mut events, track, .. } = scene("cut", 20, false).await;

    until(&mut events, |e| matches!(e, PlayerEvent::Ready { .. })).await;
    go.send(None).unwrap();
    let PlayerEvent::Unplayable { track: failed, reason } = until(&mut events, |e| matches!(e, PlayerEvent::Unplayable { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(failed, track);
    assert!(reason.starts_with(&format!("{url}: the download broke off after ")), "names the URL and what happened: {reason}");
    assert!(reason.contains("; resuming failed: "), "and that picking it up again failed: {reason}");
    assert!(!reason.contains("not playable audio"), "the download is the cause, not the bytes: {reason}");
    assert!(files_in(&cache).is_empty(), "no partial copy left to be taken for the track: {:?}", files_in(&cache));
    player.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_that_breaks_off_is_picked_up_where_it_broke_and_plays_on() {
    let Scene { body, go, url, cache, player, mut events, track: _ } = scene("resumed", 10, true).await;

    until(&mut events, |e| matches!(e, PlayerEvent::Ready { .. })).await;
    go.send(None).unwrap();
    let total = body.len() as u64;
    let done = until(&mut events, |e| {
        matches!(e, PlayerEvent::Unplayable { .. }) || matches!(e, PlayerEvent::Buffering { progress, .. } if progress.bytes == total)
    })
    .await;
    assert!(matches!(done, PlayerEvent::Buffering { .. }), "the rest arrived: {done:?}");
    assert_eq!(cached_whole(&cache, &url).await, body, "the pieces join up byte for byte");
    player.stop().unwrap();
}
