//! The client against a real hub: join, presence, broadcast, refusals — and a hub that goes away
//! and comes back on the same address, after which the client has rejoined and re-tracked by itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use whatssound_client::{Backoff, Client, ClientConfig, ClientError, ClientEvent, ConnectionStatus, JoinOptions};
use whatssound_hub::{Access, Hub, HubConfig, Limits, RoomAccess};

struct Running {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(addr: SocketAddr, access: Access) -> (Running, SocketAddr) {
    let listener = TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let hub = Hub::new(HubConfig { access, limits: Limits::default() });
    let task = tokio::spawn(whatssound_hub::serve(listener, hub, async move {
        let _ = stopped.await;
    }));
    (Running { stop, task }, addr)
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

fn config(addr: SocketAddr, token: Option<&str>) -> ClientConfig {
    let mut c = ClientConfig::new(format!("ws://{addr}/realtime/v1"), token.map(str::to_owned));
    c.heartbeat = Duration::from_millis(300);
    c.backoff = Backoff { first: Duration::from_millis(50), max: Duration::from_millis(200) };
    c
}

async fn until(events: &mut mpsc::UnboundedReceiver<ClientEvent>, mut want: impl FnMut(&ClientEvent) -> bool) -> ClientEvent {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.expect("event in time").expect("events open");
        if want(&e) {
            return e;
        }
    }
}

fn meta(name: &str) -> Map<String, Value> {
    json!({"name": name}).as_object().cloned().unwrap()
}

fn presence_opts(key: &str) -> JoinOptions {
    JoinOptions { broadcast_self: false, broadcast_ack: true, presence_key: Some(key.into()) }
}

#[tokio::test]
async fn broadcasts_presence_and_acks_between_two_clients() {
    let (hub, addr) = start("127.0.0.1:0".parse().unwrap(), Access::Open).await;
    let (a, mut ae) = Client::connect(config(addr, None)).await.unwrap();
    let (b, mut be) = Client::connect(config(addr, None)).await.unwrap();
    b.join("realtime:t", presence_opts("bob"), None);
    until(&mut be, |e| matches!(e, ClientEvent::Joined { .. })).await;
    a.join("realtime:t", presence_opts("ann"), Some(meta("Ann")));
    until(&mut ae, |e| matches!(e, ClientEvent::Joined { .. })).await;
    let diff = until(&mut be, |e| matches!(e, ClientEvent::PresenceDiff { diff, .. } if diff["joins"]["ann"].is_object())).await;
    let ClientEvent::PresenceDiff { diff, .. } = diff else { unreachable!() };
    assert_eq!(diff["joins"]["ann"]["metas"][0]["name"], "Ann");

    a.broadcast_acked("realtime:t", "hello", json!({"n": 1})).await.unwrap();
    let got = until(&mut be, |e| matches!(e, ClientEvent::Broadcast { .. })).await;
    assert_eq!(got, ClientEvent::Broadcast { topic: "realtime:t".into(), event: "hello".into(), payload: json!({"n": 1}) });
    assert_eq!(a.broadcast_acked("realtime:not-joined", "x", json!({})).await, Err(ClientError::Disconnected));
    a.close();
    until(&mut ae, |e| matches!(e, ClientEvent::Status(ConnectionStatus::Offline))).await;
    b.close();
    hub.stop().await;
}

#[tokio::test]
async fn refusals_reach_the_sender() {
    let room = Access::Room(RoomAccess { room: "r".into(), host_token: "H".into(), listener_token: "L".into() });
    let (hub, addr) = start("127.0.0.1:0".parse().unwrap(), room).await;
    let (c, mut events) = Client::connect(config(addr, Some("L"))).await.unwrap();
    c.join("realtime:room:r", presence_opts("me"), None);
    until(&mut events, |e| matches!(e, ClientEvent::Joined { .. })).await;
    let refused = c.broadcast_acked("realtime:room:r", "host:queue_diff", json!({})).await;
    assert!(matches!(&refused, Err(ClientError::Refused(r)) if r.starts_with("Forbidden: ")), "{refused:?}");
    c.join("realtime:elsewhere", JoinOptions::default(), None);
    let e = until(&mut events, |e| matches!(e, ClientEvent::JoinRefused { .. })).await;
    assert!(matches!(e, ClientEvent::JoinRefused { reason, .. } if reason.starts_with("Unauthorized: ")));
    c.close();
    hub.stop().await;

    let err = Client::connect(config(addr, None)).await.unwrap_err();
    assert!(err.to_string().starts_with("could not connect to ws://127.0.0.1:"), "{err}");
}

#[tokio::test]
async fn after_the_hub_comes_back_the_client_rejoins_and_retracks_by_itself() {
    let (hub, addr) = start("127.0.0.1:0".parse().unwrap(), Access::Open).await;
    let (c, mut events) = Client::connect(config(addr, None)).await.unwrap();
    c.join("realtime:t", presence_opts("ann"), Some(meta("Ann")));
    c.join("realtime:t:chat", JoinOptions::default(), None);
    until(&mut events, |e| matches!(e, ClientEvent::Joined { topic } if topic == "realtime:t:chat")).await;

    hub.stop().await;
    let e = until(&mut events, |e| matches!(e, ClientEvent::Status(ConnectionStatus::Reconnecting { .. }))).await;
    assert!(matches!(e, ClientEvent::Status(ConnectionStatus::Reconnecting { attempt: 1, .. })));

    let (hub, _) = start(addr, Access::Open).await;
    until(&mut events, |e| matches!(e, ClientEvent::Rejoined)).await;

    // A fresh observer on the new hub sees Ann's presence again, and broadcasts flow both ways.
    let (observer, mut oe) = Client::connect(config(addr, None)).await.unwrap();
    observer.join("realtime:t", presence_opts("obs"), None);
    let state = until(&mut oe, |e| matches!(e, ClientEvent::PresenceState { .. })).await;
    let ClientEvent::PresenceState { state, .. } = state else { unreachable!() };
    assert_eq!(state["ann"]["metas"][0]["name"], "Ann", "re-tracked after the rejoin: {state}");
    observer.broadcast_acked("realtime:t", "back", json!({})).await.unwrap();
    until(&mut events, |e| matches!(e, ClientEvent::Broadcast { event, .. } if event == "back")).await;
    c.close();
    observer.close();
    hub.stop().await;
}

#[tokio::test]
async fn wss_urls_are_supported() {
    // Nothing listens there: the failure must be the connection, not "TLS support not compiled in".
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut config = ClientConfig::new(format!("wss://{free}/realtime/v1"), None);
    config.connect_timeout = Duration::from_secs(2);
    let err = Client::connect(config).await.unwrap_err().to_string();
    assert!(err.starts_with("could not connect to wss://"), "{err}");
    assert!(!err.contains("TLS support"), "{err}");
}
