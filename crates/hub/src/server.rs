//! The hub's HTTP face: the two WebSocket endpoints, and serving them until shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use whatssound_protocol::Vsn;

use crate::access::Access;
use crate::limits::Limits;
use crate::registry::{Registry, TableStats};
use crate::session::Dialect;
use crate::socket::{self, Connection};

/// How long shutdown waits for sockets to send their close frames.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// A hub's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HubConfig {
    pub access: Access,
    pub limits: Limits,
}

/// Live counts, for logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubStats {
    pub sockets: usize,
    pub topics: usize,
    pub subscriptions: usize,
}

/// A running hub. Cheap to clone; every clone is the same hub.
#[derive(Debug, Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: HubConfig,
    pub(crate) registry: Registry,
    access: RwLock<Arc<Access>>,
    shutdown: watch::Sender<bool>,
    next_socket: AtomicU64,
    live: AtomicUsize,
    all_closed: Notify,
}

/// Decrements the live-socket count when a socket task ends, however it ends.
pub(crate) struct LiveSocket<'a>(&'a Shared);

impl Drop for LiveSocket<'_> {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.all_closed.notify_waiters();
        }
    }
}

impl Shared {
    pub(crate) fn socket_opened(&self) -> LiveSocket<'_> {
        self.live.fetch_add(1, Ordering::AcqRel);
        LiveSocket(self)
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub(crate) fn access(&self) -> Arc<Access> {
        self.access.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Hub {
    pub fn new(config: HubConfig) -> Self {
        let access = RwLock::new(Arc::new(config.access.clone()));
        Hub {
            shared: Arc::new(Shared {
                config,
                registry: Registry::default(),
                access,
                shutdown: watch::Sender::new(false),
                next_socket: AtomicU64::new(1),
                live: AtomicUsize::new(0),
                all_closed: Notify::new(),
            }),
        }
    }

    /// The hub's routes, to serve alone or merged with others (the host adds its media routes).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/socket/websocket", get(phoenix_endpoint))
            .route("/realtime/v1/websocket", get(realtime_endpoint))
            .with_state(self.shared.clone())
    }

    /// Replaces the access policy for joins from now on (e.g. a rotated listener token).
    pub fn set_access(&self, access: Access) {
        *self.shared.access.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(access);
    }

    pub fn stats(&self) -> HubStats {
        let TableStats { topics, subscriptions } = self.shared.registry.stats();
        HubStats { sockets: self.shared.live.load(Ordering::Acquire), topics, subscriptions }
    }

    /// Tells every socket to send a close frame and end, then waits (a bounded time) until they have.
    pub async fn close_all(&self) {
        let shared = &self.shared;
        shared.shutdown.send_replace(true);
        let wait = async {
            loop {
                let closed = shared.all_closed.notified();
                if shared.live.load(Ordering::Acquire) == 0 {
                    return;
                }
                closed.await;
            }
        };
        if tokio::time::timeout(CLOSE_GRACE, wait).await.is_err() {
            tracing::warn!(open = shared.live.load(Ordering::Acquire), "some sockets did not close in time");
        }
    }
}

/// Serves `hub` on `listener` until `shutdown` completes; then every socket gets a close frame
/// (1001, "server shutting down") before this returns.
pub async fn serve(listener: TcpListener, hub: Hub, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    serve_with(listener, hub, Router::new(), shutdown).await
}

/// How long a shutting-down server waits for the requests in flight.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(3);

/// [`serve`], with more routes on the same port (the host's media server).
pub async fn serve_with(
    listener: TcpListener,
    hub: Hub,
    extra: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = hub.router().merge(extra);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let closing = hub.clone();
    // Realtime frames are small and latency is the product: without TCP_NODELAY, Nagle's
    // algorithm holds a frame back until the previous one is acknowledged (tens of ms).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        let _ = stop_rx.await;
    });
    let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = tokio::spawn(async move {
        shutdown.await;
        // Close the sockets first: once the server stops accepting, upgraded sockets live on in
        // their own tasks and only this tells them to go.
        closing.close_all().await;
        let _ = stop_tx.send(());
        let _ = draining_tx.send(());
    });
    // A graceful shutdown waits for every request in flight, and a media download whose reader
    // has stopped reading never ends: give them a while, then stop without them (they end with
    // their connections), so a host that leaves is never held by a listener's download.
    let served = tokio::select! {
        served = server.into_future() => served,
        () = async {
            match draining_rx.await {
                Ok(()) => tokio::time::sleep(DRAIN).await,
                Err(_) => std::future::pending().await,
            }
        } => {
            tracing::warn!("requests still in flight {} s into shutdown were left behind", DRAIN.as_secs());
            Ok(())
        }
    };
    if !signal.is_finished() {
        // The server ended on its own (an accept error): close the sockets here instead.
        signal.abort();
        hub.close_all().await;
    }
    served
}

type Params = Query<HashMap<String, String>>;

async fn phoenix_endpoint(upgrade: WebSocketUpgrade, State(shared): State<Arc<Shared>>, Query(params): Params) -> Response {
    accept(upgrade, shared, params, Dialect::Phoenix)
}

async fn realtime_endpoint(upgrade: WebSocketUpgrade, State(shared): State<Arc<Shared>>, Query(params): Params) -> Response {
    accept(upgrade, shared, params, Dialect::Realtime)
}

/// Accepts the upgrade whatever the token — a wrong token is refused at join, where the official
/// clients show it — but refuses a `vsn` we cannot speak, since nothing would work after it.
fn accept(upgrade: WebSocketUpgrade, shared: Arc<Shared>, params: HashMap<String, String>, dialect: Dialect) -> Response {
    let vsn = match Vsn::from_query(params.get("vsn").map(String::as_str)) {
        Ok(vsn) => vsn,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let token = params.get("token").or_else(|| params.get("apikey")).filter(|t| !t.is_empty()).cloned();
    let id = shared.next_socket.fetch_add(1, Ordering::Relaxed);
    let max = shared.config.limits.max_frame_bytes;
    upgrade
        // Small initial buffers: most sockets are idle listeners, and tungstenite's defaults
        // (128 KiB each way) would cost more per socket than everything else together. The read
        // buffer grows for a large message; 1 KiB holds a typical heartbeat or join.
        .read_buffer_size(1024)
        .write_buffer_size(8 * 1024)
        .max_write_buffer_size(max.saturating_mul(4).max(64 * 1024))
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |ws| socket::run(ws, Connection { id, vsn, dialect, token }, shared))
}
