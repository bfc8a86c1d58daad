//! What core's integration tests and the room bench share: scratch directories, a room's hub on
//! a free loopback port, and the host's config for a room on it. Each test binary uses some of it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use whatssound_clock::Clock;
use whatssound_host::HostConfig;
use whatssound_hub::{Access, Hub, HubConfig, Limits, RoomAccess};
use whatssound_member::ListenerConfig;
use whatssound_protocol::Invite;
use whatssound_room::{Identity, RoomSettings};

/// The room's tokens: the host's and every listener's.
pub const HOST_TOKEN: &str = "H";
pub const LISTENER_TOKEN: &str = "L";

/// A fresh directory for `name`, unique to this test binary and process.
pub fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("whatssound-{}-{name}-{}", env!("CARGO_CRATE_NAME"), std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A listener called `name` joining by `invite`'s address, with its own scratch directory, on the
/// machine's clock, tracking presence and sharing its clock estimate on the LAN.
pub fn listener_config(invite: &Invite, name: &str) -> ListenerConfig {
    ListenerConfig {
        invite: invite.clone(),
        route: whatssound_member::Route::to_address(&invite.ws),
        name: name.into(),
        avatar: None,
        data_dir: temp(name),
        track_presence: true,
        lan_clock: true,
        clock: Arc::new(whatssound_clock::MonotonicClock::new()),
    }
}

/// A hub serving one room on `127.0.0.1:0`; it stops when this is dropped or [`RoomHub::stop`]ped.
pub struct RoomHub {
    /// `ws://127.0.0.1:PORT`.
    pub ws: String,
    pub addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl RoomHub {
    /// The room's channels, and `media` (the host's media server) on the same port.
    pub async fn start(room: &str, limits: Limits, media: axum::Router) -> RoomHub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let access = Access::Room(RoomAccess { room: room.into(), host_token: HOST_TOKEN.into(), listener_token: LISTENER_TOKEN.into() });
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(whatssound_hub::serve_with(listener, Hub::new(HubConfig { access, limits }), media, async move {
            let _ = stopped.await;
        }));
        RoomHub { ws: format!("ws://{addr}"), addr, stop: Some(stop) }
    }

    /// Limits loose enough for senders that go as fast as round trips allow.
    pub fn unlimited() -> Limits {
        Limits { messages_per_second: 100_000, message_burst: 100_000, ..Limits::default() }
    }

    pub fn stop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
    }

    /// The host's config for `room` on this hub.
    pub fn host_config(&self, room: &str, identity: Identity, data_dir: PathBuf, clock: Arc<dyn Clock>) -> HostConfig {
        HostConfig {
            room: room.into(),
            identity,
            name: "Host".into(),
            avatar: None,
            endpoint: format!("{}/realtime/v1", self.ws),
            token: Some(HOST_TOKEN.into()),
            data_dir,
            settings: RoomSettings::default(),
            cohosts: vec![],
            clock,
            check_urls: false,
            swarm: None,
        }
    }

    /// A listener's invite to `room` on this hub, hosted by `host`.
    pub fn invite(&self, room: &str, host: &Identity) -> Invite {
        Invite {
            ws: self.ws.parse().unwrap(),
            room: room.into(),
            token: LISTENER_TOKEN.into(),
            key: Some(host.user_id().0),
            node: None,
            extra: vec![],
        }
    }
}

impl Drop for RoomHub {
    fn drop(&mut self) {
        self.stop();
    }
}
