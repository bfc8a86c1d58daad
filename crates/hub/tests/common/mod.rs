//! A raw WebSocket client for hub tests: frames in and out exactly as they travel, so each test
//! checks the wire, not a client library's reading of it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use whatssound_hub::{Access, Hub, HubConfig, Limits};

pub const WAIT: Duration = Duration::from_secs(5);

/// A hub serving on a free loopback port, stopped by `stop` (or when dropped, abruptly).
pub struct TestHub {
    pub base: String,
    pub hub: Hub,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestHub {
    pub async fn start(access: Access, limits: Limits) -> TestHub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("ws://{}", listener.local_addr().unwrap());
        let hub = Hub::new(HubConfig { access, limits });
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(whatssound_hub::serve(listener, hub.clone(), async move {
            let _ = stopped.await;
        }));
        TestHub { base, hub, stop: Some(stop), task: Some(task) }
    }

    pub async fn open() -> TestHub {
        TestHub::start(Access::Open, Limits::default()).await
    }

    /// phoenix.js endpoint, vsn 2.0.0.
    pub async fn phoenix(&self) -> Client {
        Client::connect(&format!("{}/socket/websocket?vsn=2.0.0", self.base)).await
    }

    /// realtime-js endpoint, vsn 2.0.0.
    pub async fn realtime(&self, query: &str) -> Client {
        Client::connect(&format!("{}/realtime/v1/websocket?vsn=2.0.0{query}", self.base)).await
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task).await.expect("hub stops in time").unwrap().unwrap();
        }
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_ref: u64,
}

/// What a client read.
#[derive(Debug)]
pub enum Got {
    Json(Value),
    Binary(Vec<u8>),
    Closed(Option<(u16, String)>),
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = connect_async(url).await.unwrap_or_else(|e| panic!("connect {url}: {e}"));
        Client { ws, next_ref: 0 }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Ws::text(text)).await.unwrap();
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Ws::binary(bytes)).await.unwrap();
    }

    /// Sends `[join_ref, ref, topic, event, payload]` with a fresh ref; returns the ref.
    pub async fn push(&mut self, join_ref: Option<&str>, topic: &str, event: &str, payload: Value) -> String {
        self.next_ref += 1;
        let r = self.next_ref.to_string();
        self.send_text(&json!([join_ref, r, topic, event, payload]).to_string()).await;
        r
    }

    /// Joins `topic`; returns the join ref after checking the reply is ok.
    pub async fn join(&mut self, topic: &str, payload: Value) -> String {
        let (r, reply) = self.join_reply(topic, payload).await;
        assert_eq!(reply[4]["status"], "ok", "join {topic}: {reply}");
        r
    }

    /// Joins and returns the reply, whatever its status.
    pub async fn join_reply(&mut self, topic: &str, payload: Value) -> (String, Value) {
        self.next_ref += 1;
        let r = self.next_ref.to_string();
        self.send_text(&json!([r, r, topic, "phx_join", payload]).to_string()).await;
        let reply = self.reply_to(&r).await;
        (r, reply)
    }

    /// Reads until the `phx_reply` whose ref is `r`.
    pub async fn reply_to(&mut self, r: &str) -> Value {
        self.until(|v| v[3] == "phx_reply" && v[1] == r).await
    }

    pub async fn next(&mut self) -> Got {
        self.next_within(WAIT).await.expect("a frame in time")
    }

    pub async fn next_within(&mut self, wait: Duration) -> Option<Got> {
        loop {
            let frame = tokio::time::timeout(wait, self.ws.next()).await.ok()?;
            return Some(match frame {
                None => Got::Closed(None),
                Some(Err(_)) => Got::Closed(None),
                Some(Ok(Ws::Text(t))) => Got::Json(serde_json::from_str(&t).unwrap()),
                Some(Ok(Ws::Binary(b))) => Got::Binary(b.to_vec()),
                Some(Ok(Ws::Close(c))) => Got::Closed(c.map(|CloseFrame { code, reason }| (u16::from(code), reason.to_string()))),
                Some(Ok(_)) => continue,
            });
        }
    }

    /// Reads JSON frames until one matches; panics on timeout or close.
    pub async fn until(&mut self, mut matches: impl FnMut(&Value) -> bool) -> Value {
        loop {
            match self.next().await {
                Got::Json(v) if matches(&v) => return v,
                Got::Json(_) | Got::Binary(_) => {}
                Got::Closed(c) => panic!("closed while waiting: {c:?}"),
            }
        }
    }

    /// Reads until the socket closes; returns the close code and reason.
    pub async fn closed(&mut self) -> Option<(u16, String)> {
        loop {
            if let Got::Closed(c) = self.next().await {
                return c;
            }
        }
    }

    /// Asserts nothing (but perhaps frames failing `ignore`) arrives for `wait`.
    pub async fn silent_for(&mut self, wait: Duration) {
        if let Some(got) = self.next_within(wait).await {
            panic!("expected silence, got {got:?}");
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A realtime-js style binary kind 3 user broadcast push.
pub fn kind3(join_ref: &str, r: &str, topic: &str, event: &str, encoding: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![3, join_ref.len() as u8, r.len() as u8, topic.len() as u8, event.len() as u8, 0, encoding];
    for part in [join_ref, r, topic, event] {
        b.extend_from_slice(part.as_bytes());
    }
    b.extend_from_slice(payload);
    b
}
