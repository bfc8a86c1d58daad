//! A server shutting down is not held by a request whose reader stopped reading: a media
//! download left half-read gets a few seconds, then the server stops without it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use whatssound_hub::{Access, Hub, HubConfig, Limits};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_nobody_reads_does_not_hold_the_shutdown() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    // A body that sends one chunk and then never ends, as a stalled download looks to the server.
    let forever = Router::new().route(
        "/forever",
        get(|| async {
            let first = futures_util::stream::once(async { Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"first")) });
            Body::from_stream(futures_util::StreamExt::chain(first, futures_util::stream::pending()))
        }),
    );
    let hub = Hub::new(HubConfig { access: Access::Open, limits: Limits::default() });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(whatssound_hub::serve_with(listener, hub, forever, async move {
        let _ = stopped.await;
    }));
    let mut client = tokio::net::TcpStream::connect(at).await.unwrap();
    client.write_all(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut got = vec![0u8; 512];
    let n = client.read(&mut got).await.unwrap();
    assert!(String::from_utf8_lossy(&got[..n]).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got[..n]));

    let asked = Instant::now();
    let _ = stop.send(());
    let served = tokio::time::timeout(Duration::from_secs(15), serving).await.expect("the shutdown was held by the download");
    assert!(served.unwrap().is_ok());
    let took = asked.elapsed();
    assert!(took >= Duration::from_secs(2), "the download was given its while first: {took:?}");
    drop(client);
}
