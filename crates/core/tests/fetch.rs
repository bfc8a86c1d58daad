//! Where a track's bytes come from when the room's members cannot give them: the host's media
//! server, as long as not a byte came the other way.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use iroh::endpoint::presets;
use iroh::{Endpoint, RelayMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use whatssound_core::fetch::{Fetched, stream_track};
use whatssound_swarm::Swarm;

/// A media server that answers one request with `body`; its URL.
async fn serve_once(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/media/t1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.ends_with(b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(&body).await.unwrap();
    });
    url
}

/// A listener's swarm with nobody else in it: no host node, no members.
async fn lonely_swarm(dir: &Path) -> Swarm {
    let endpoint = Endpoint::builder(presets::Minimal).relay_mode(RelayMode::Disabled).bind().await.unwrap();
    Swarm::open(endpoint, &dir.join("swarm"), None, None).await.unwrap()
}

/// Streams a track named `hash` through `swarm`, else from a media server holding `body`.
async fn fetch_with_hash(dir: &Path, hash: &str, body: &[u8]) -> (Fetched, Vec<u8>) {
    let swarm = lonely_swarm(dir).await;
    let url = serve_once(body.to_vec()).await;
    let mut got = Vec::new();
    let fetched = stream_track(
        Some((&swarm, hash)),
        &url,
        &dir.join("cache"),
        "t1",
        |data, _| {
            got.extend_from_slice(data);
            true
        },
        || None,
    )
    .await
    .unwrap();
    (fetched, got)
}

fn body() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

#[tokio::test]
async fn a_track_whose_hash_is_malformed_comes_from_the_media_server() {
    let dir = tempfile::tempdir().unwrap();
    let (fetched, got) = fetch_with_hash(dir.path(), "not-a-content-hash", &body()).await;
    assert_eq!(fetched, Fetched::Whole);
    assert!(got == body(), "the media server's bytes, whole and in order");
}

#[tokio::test]
async fn a_track_nobody_in_the_room_can_give_comes_from_the_media_server() {
    let dir = tempfile::tempdir().unwrap();
    let hash = blake3_hex(&body());
    let (fetched, got) = fetch_with_hash(dir.path(), &hash, &body()).await;
    assert_eq!(fetched, Fetched::Whole);
    assert!(got == body());
}

/// The track's name in the room: its BLAKE3 hash, as hex.
fn blake3_hex(bytes: &[u8]) -> String {
    whatssound_swarm::Hash::new(bytes).to_hex().to_string()
}
