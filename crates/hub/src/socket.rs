//! The one task that owns a WebSocket.
//!
//! It reads frames, runs them through the socket's [`Session`], carries out the effects against
//! the registry, and writes whatever the registry queued for it — batching queued frames into one
//! flush. It ends on close, on error, on idleness, when it falls too far behind, or at shutdown,
//! and always leaves the registry as if it had never joined (presence leaves go out to the rest).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use futures_util::SinkExt;
use tokio::sync::{Notify, mpsc};
use whatssound_protocol::event::{PRESENCE_STATE, push};
use whatssound_protocol::{Frame, Message, Vsn, WireFrame, decode, encode};

use crate::registry::{Outbox, Outgoing};
use crate::server::Shared;
use crate::session::{CLOSE_POLICY, Dialect, Effect, Session};

/// Close codes (RFC 6455 §7.4.1).
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_TOO_BIG: u16 = 1009;
const CLOSE_TRY_AGAIN: u16 = 1013;

/// How long a close frame may take to write before the connection is simply dropped.
const CLOSE_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
/// How long what was queued before a shutdown may take to write (within the hub's 5 s grace).
const SHUTDOWN_DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Frames written per flush when the queue is busy: enough to amortise syscalls, few enough that
/// reading is not starved.
const WRITE_BATCH: usize = 64;

pub(crate) struct Connection {
    pub(crate) id: u64,
    pub(crate) vsn: Vsn,
    pub(crate) dialect: Dialect,
    pub(crate) token: Option<String>,
}

/// Why the loop ended, and what (if anything) to tell the peer.
type Ending = Option<(u16, String)>;

pub(crate) async fn run(mut ws: WebSocket, conn: Connection, shared: Arc<Shared>) {
    let _live = shared.socket_opened();
    let limits = &shared.config.limits;
    let (tx, mut rx) = mpsc::channel(limits.outbound_queue.max(1));
    let overflow = Arc::new(Notify::new());
    let outbox = Outbox::new(tx, overflow.clone());
    let mut session = Session::new(conn.id, conn.token.clone(), limits, Instant::now());
    let mut shutdown = shared.shutdown_signal();
    let idle = limits.idle_timeout;
    // Made once and polled in place: a subscriber wakes for every broadcast, and re-creating a
    // timer (a timer-wheel insert and remove) on each wake cost more than the write itself.
    let shutting_down = async {
        let _ = shutdown.wait_for(|down| *down).await;
    };
    let overflowed = overflow.notified();
    let idle_timer = tokio::time::sleep(idle);
    tokio::pin!(shutting_down, overflowed, idle_timer);

    let ending: Ending = loop {
        tokio::select! {
            biased;
            () = &mut shutting_down => break Some((CLOSE_GOING_AWAY, "server shutting down".into())),
            () = &mut overflowed => break Some((CLOSE_TRY_AGAIN, format!(
                "too slow: more than {} messages waiting; reconnect", limits.outbound_queue))),
            () = &mut idle_timer => break Some((CLOSE_NORMAL, format!(
                "idle for {} s with no message or heartbeat", idle.as_secs()))),
            incoming = ws.recv() => {
                idle_timer.as_mut().reset(tokio::time::Instant::now() + idle);
                let wire = match incoming {
                    None => break None,
                    Some(Err(e)) => break read_error(&e, limits.max_frame_bytes),
                    Some(Ok(WsMessage::Text(t))) => WireFrame::Text(t.as_str().to_owned()),
                    Some(Ok(WsMessage::Binary(b))) => WireFrame::Binary(b),
                    Some(Ok(WsMessage::Close(_))) => break None,
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                };
                let frame = match decode(conn.vsn, &wire) {
                    Ok(frame) => frame,
                    Err(e) => {
                        tracing::debug!(socket = conn.id, error = %e, "malformed frame; closing this socket only");
                        break Some((CLOSE_POLICY, format!("malformed frame: {e}")));
                    }
                };
                let access = shared.access();
                let effects = session.handle(frame, &access, Instant::now());
                // Boxed: this future is large and only briefly alive, and an idle socket's task should
                // not carry its space (see docs/BENCHMARKS.md, memory per socket).
                match Box::pin(apply(&mut ws, &conn, &shared, &outbox, effects)).await {
                    Ok(None) => {}
                    Ok(Some(close)) => break Some(close),
                    Err(_) => break None,
                }
            }
            Some(out) = rx.recv() => {
                // A peer that stops reading blocks this write once its TCP buffers fill. The write
                // must not make the socket deaf to shutdown, overflow or idleness, or a stalled
                // listener would hold its queue (and its presence) forever.
                let write = Box::pin(write_batch(&mut ws, out, &mut rx));
                tokio::select! {
                    biased;
                    () = &mut shutting_down => break Some((CLOSE_GOING_AWAY, "server shutting down".into())),
                    () = &mut overflowed => break Some((CLOSE_TRY_AGAIN, format!(
                        "too slow: more than {} messages waiting; reconnect", limits.outbound_queue))),
                    () = &mut idle_timer => break Some((CLOSE_NORMAL, "stalled: not reading for the idle timeout".into())),
                    written = write => if written.is_err() { break None },
                }
            }
        }
    };

    for topic in session.topics() {
        shared.registry.unsubscribe(topic, conn.id);
    }
    if matches!(&ending, Some((CLOSE_GOING_AWAY, _))) {
        // What was queued for this socket before shutdown goes out before the close frame: a
        // host's last broadcast is "the room closed", acknowledged to it once queued here, and a
        // listener that missed it would take the close for a lost connection and retry forever.
        let queued = async {
            while let Ok(m) = rx.try_recv() {
                ws.feed(Arc::unwrap_or_clone(m)).await?;
            }
            ws.flush().await
        };
        let _ = tokio::time::timeout(SHUTDOWN_DRAIN_TIMEOUT, Box::pin(queued)).await;
    }
    if let Some((code, reason)) = ending {
        tracing::debug!(socket = conn.id, code, %reason, "closing socket");
        let frame = CloseFrame { code, reason: truncate(&reason, 123).into() };
        // Bounded: a peer that does not read cannot take the close frame either.
        let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, Box::pin(ws.send(WsMessage::Close(Some(frame))))).await;
    }
}

/// Carries out a session's effects; returns the close to send if one of them ends the socket.
async fn apply(
    ws: &mut WebSocket,
    conn: &Connection,
    shared: &Shared,
    outbox: &Outbox,
    effects: Vec<Effect>,
) -> Result<Ending, axum::Error> {
    let registry = &shared.registry;
    let mut wrote = false;
    for effect in effects {
        match effect {
            Effect::Send(m) => {
                wrote |= feed(ws, conn.vsn, m).await?;
            }
            Effect::Subscribe { topic, config, .. } => registry.subscribe(&topic, conn.id, conn.vsn, conn.dialect, &config, outbox.clone()),
            Effect::SendPresenceState { topic, join_ref } => {
                let state = registry.presence_state(&topic);
                wrote |= feed(ws, conn.vsn, push(&topic, join_ref, PRESENCE_STATE, state)).await?;
            }
            Effect::Unsubscribe { topic } => registry.unsubscribe(&topic, conn.id),
            Effect::Broadcast { topic, body, include_self } => registry.broadcast(&topic, conn.id, &body, include_self),
            Effect::Track { topic, key, meta } => registry.track(&topic, conn.id, &key, meta),
            Effect::Untrack { topic } => registry.untrack(&topic, conn.id),
            Effect::Close { code, reason } => {
                if wrote {
                    ws.flush().await?;
                }
                return Ok(Some((code, reason)));
            }
        }
    }
    if wrote {
        ws.flush().await?;
    }
    Ok(None)
}

async fn feed(ws: &mut WebSocket, vsn: Vsn, m: Message) -> Result<bool, axum::Error> {
    let frame = Frame::Message(m);
    match encode(vsn, &frame) {
        Ok(WireFrame::Text(t)) => ws.feed(WsMessage::Text(t.into())).await.map(|()| true),
        Ok(WireFrame::Binary(b)) => ws.feed(WsMessage::Binary(b)).await.map(|()| true),
        Err(e) => {
            tracing::warn!(topic = frame.topic(), error = %e, "reply could not be encoded; dropped");
            Ok(false)
        }
    }
}

async fn write_batch(ws: &mut WebSocket, first: Outgoing, rx: &mut mpsc::Receiver<Outgoing>) -> Result<(), axum::Error> {
    ws.feed(Arc::unwrap_or_clone(first)).await?;
    for _ in 1..WRITE_BATCH {
        match rx.try_recv() {
            Ok(m) => ws.feed(Arc::unwrap_or_clone(m)).await?,
            Err(_) => break,
        }
    }
    ws.flush().await
}

fn read_error(e: &axum::Error, max_frame_bytes: usize) -> Ending {
    use tokio_tungstenite::tungstenite::Error as WsError;
    use tokio_tungstenite::tungstenite::error::CapacityError;
    let inner = std::error::Error::source(e).and_then(|s| s.downcast_ref::<WsError>());
    match inner {
        Some(WsError::Capacity(CapacityError::MessageTooLong { size, .. })) => {
            Some((CLOSE_TOO_BIG, format!("message of {size} bytes is over the {max_frame_bytes}-byte limit")))
        }
        Some(WsError::Utf8(_)) => Some((CLOSE_POLICY, "malformed frame: text frame is not UTF-8".into())),
        Some(WsError::Protocol(p)) => Some((CLOSE_POLICY, format!("WebSocket protocol error: {p}"))),
        _ => None,
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
