//! The client handle and the one task that owns its socket.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use whatssound_protocol::event::{self, PHOENIX_TOPIC};
use whatssound_protocol::{Frame, Message, Payload, PayloadEncoding, Vsn, WireFrame, decode, encode};

use crate::backoff::Backoff;
use crate::channels::{ChannelSet, JoinOptions, Pending, Wanted};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Responder = oneshot::Sender<Result<(), ClientError>>;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The endpoint without `/websocket`, as realtime-js takes it: `ws://HOST:PORT/realtime/v1`
    /// (or `/socket` for the Phoenix endpoint, `wss://PROJECT.supabase.co/realtime/v1` for Supabase).
    pub endpoint: String,
    /// Sent as `apikey` and as each join's `access_token`.
    pub token: Option<String>,
    pub heartbeat: Duration,
    pub connect_timeout: Duration,
    pub backoff: Backoff,
}

impl ClientConfig {
    pub fn new(endpoint: impl Into<String>, token: Option<String>) -> Self {
        ClientConfig {
            endpoint: endpoint.into().trim_end_matches('/').to_owned(),
            token,
            heartbeat: Duration::from_secs(25),
            connect_timeout: Duration::from_secs(5),
            backoff: Backoff::default(),
        }
    }

    fn url(&self) -> String {
        let mut url = format!("{}/websocket?vsn=2.0.0", self.endpoint);
        if let Some(t) = &self.token {
            url.push_str("&apikey=");
            url.push_str(&whatssound_protocol::invite::encode_query_value(t));
        }
        url
    }
}

/// The connection as a user would describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionStatus {
    Connecting,
    Connected,
    /// Lost; the next attempt is `attempt`, in `in_ms`.
    Reconnecting {
        attempt: u32,
        in_ms: u64,
    },
    /// Closed by the application.
    Offline,
}

/// What the client saw.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    Status(ConnectionStatus),
    Joined {
        topic: String,
    },
    JoinRefused {
        topic: String,
        reason: String,
    },
    /// After a reconnect every channel is joined again and presence re-tracked: re-fetch state now.
    Rejoined,
    Broadcast {
        topic: String,
        event: String,
        payload: Value,
    },
    PresenceState {
        topic: String,
        state: Value,
    },
    PresenceDiff {
        topic: String,
        diff: Value,
    },
    /// The server refused something sent without an awaited reply (e.g. a forbidden broadcast).
    Refused {
        topic: String,
        reason: String,
    },
    /// The server ended a channel (a duplicate join elsewhere, a token that stopped working).
    ChannelClosed {
        topic: String,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("could not connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("not connected; it will be sent again after reconnecting")]
    Disconnected,
    #[error("refused: {0}")]
    Refused(String),
    #[error("the client was closed")]
    Closed,
}

enum Command {
    Join { topic: String, options: JoinOptions, presence: Option<Map<String, Value>> },
    Leave { topic: String },
    Track { topic: String, meta: Map<String, Value> },
    Broadcast { topic: String, event: String, payload: Value, reply: Option<Responder> },
    Close,
}

/// A handle to the connection task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl Client {
    /// Connects (failing fast if the first connection fails), then keeps the connection alive in a
    /// task of its own until [`Client::close`] or every handle is dropped.
    pub async fn connect(config: ClientConfig) -> Result<(Client, mpsc::UnboundedReceiver<ClientEvent>), ClientError> {
        let ws = open(&config).await?;
        let (commands, rx) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        let _ = events.send(ClientEvent::Status(ConnectionStatus::Connected));
        tokio::spawn(Task { config, commands: rx, events, set: ChannelSet::default(), rejoining: false }.run(ws));
        Ok((Client { commands }, events_rx))
    }

    /// Joins `topic` (now and after every reconnect), tracking `presence` on it if given.
    pub fn join(&self, topic: &str, options: JoinOptions, presence: Option<Map<String, Value>>) {
        let _ = self.commands.send(Command::Join { topic: topic.to_owned(), options, presence });
    }

    pub fn leave(&self, topic: &str) {
        let _ = self.commands.send(Command::Leave { topic: topic.to_owned() });
    }

    /// Tracks (or updates) this client's presence on a joined topic; re-tracked after rejoins.
    pub fn track(&self, topic: &str, meta: Map<String, Value>) {
        let _ = self.commands.send(Command::Track { topic: topic.to_owned(), meta });
    }

    /// Sends a broadcast without waiting for anything.
    pub fn broadcast(&self, topic: &str, event: &str, payload: Value) {
        let _ = self.commands.send(Command::Broadcast { topic: topic.to_owned(), event: event.to_owned(), payload, reply: None });
    }

    /// Sends a broadcast and waits for the server's acknowledgement (the channel must have been
    /// joined with `broadcast_ack`).
    pub async fn broadcast_acked(&self, topic: &str, event: &str, payload: Value) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Broadcast { topic: topic.to_owned(), event: event.to_owned(), payload, reply: Some(tx) })
            .map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)?
    }

    /// Closes the socket for good.
    pub fn close(&self) {
        let _ = self.commands.send(Command::Close);
    }
}

async fn open(config: &ClientConfig) -> Result<Socket, ClientError> {
    let url = config.url();
    let shown = config.endpoint.clone();
    // Nagle off: small frames go out at once instead of waiting for the previous one's ACK.
    match tokio::time::timeout(config.connect_timeout, tokio_tungstenite::connect_async_with_config(&url, None, true)).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(ClientError::Connect { url: shown, reason: e.to_string() }),
        Err(_) => Err(ClientError::Connect { url: shown, reason: format!("no answer within {} s", config.connect_timeout.as_secs()) }),
    }
}

struct Task {
    config: ClientConfig,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<ClientEvent>,
    set: ChannelSet<Responder>,
    /// This connection is a reconnect: report `Rejoined` once everything is joined again.
    rejoining: bool,
}

/// Why a connected session ended.
enum End {
    Lost,
    Closed,
}

impl Task {
    fn emit(&self, e: ClientEvent) {
        let _ = self.events.send(e);
    }

    async fn run(mut self, first: Socket) {
        let mut socket = Some(first);
        let mut attempt = 0u32;
        loop {
            let ws = match socket.take() {
                Some(ws) => ws,
                None => {
                    attempt += 1;
                    let delay = self.config.backoff.delay(attempt, rand::random::<f64>());
                    self.emit(ClientEvent::Status(ConnectionStatus::Reconnecting {
                        attempt,
                        in_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    }));
                    if let End::Closed = self.wait_offline(delay).await {
                        break;
                    }
                    self.emit(ClientEvent::Status(ConnectionStatus::Connecting));
                    match open(&self.config).await {
                        Ok(ws) => {
                            self.emit(ClientEvent::Status(ConnectionStatus::Connected));
                            ws
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "reconnect failed");
                            continue;
                        }
                    }
                }
            };
            attempt = 0;
            let end = self.session(ws).await;
            for reply in self.set.disconnected() {
                let _ = reply.send(Err(ClientError::Disconnected));
            }
            if let End::Closed = end {
                break;
            }
            self.rejoining = true;
        }
        self.emit(ClientEvent::Status(ConnectionStatus::Offline));
    }

    /// While disconnected: keep taking commands (they shape what to rejoin), for `delay`.
    async fn wait_offline(&mut self, delay: Duration) -> End {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return End::Lost,
                cmd = self.commands.recv() => match cmd {
                    None | Some(Command::Close) => return End::Closed,
                    Some(cmd) => self.offline_command(cmd),
                }
            }
        }
    }

    fn offline_command(&mut self, cmd: Command) {
        match cmd {
            Command::Join { topic, options, presence } => {
                self.set.wanted.insert(topic, Wanted::new(options, presence));
            }
            Command::Leave { topic } => {
                self.set.wanted.remove(&topic);
            }
            Command::Track { topic, meta } => {
                if let Some(w) = self.set.wanted.get_mut(&topic) {
                    w.presence = Some(meta);
                }
            }
            Command::Broadcast { reply, .. } => {
                if let Some(r) = reply {
                    let _ = r.send(Err(ClientError::Disconnected));
                }
            }
            Command::Close => {}
        }
    }

    async fn session(&mut self, mut ws: Socket) -> End {
        let topics: Vec<String> = self.set.wanted.keys().cloned().collect();
        for topic in topics {
            if self.send_join(&mut ws, &topic).await.is_err() {
                return End::Lost;
            }
        }
        if self.rejoining && self.set.wanted.is_empty() {
            self.emit(ClientEvent::Rejoined);
            self.rejoining = false;
        }
        let mut heartbeat = tokio::time::interval(self.config.heartbeat);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                frame = ws.next() => {
                    let wire = match frame {
                        Some(Ok(Ws::Text(t))) => WireFrame::Text(t.as_str().to_owned()),
                        Some(Ok(Ws::Binary(b))) => WireFrame::Binary(b),
                        Some(Ok(Ws::Close(c))) => {
                            tracing::debug!(close = ?c, "server closed the socket");
                            return End::Lost;
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(_)) | None => return End::Lost,
                    };
                    match decode(Vsn::V2, &wire) {
                        Ok(frame) => {
                            if self.incoming(&mut ws, frame).await.is_err() {
                                return End::Lost;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "undecodable frame from the server; ignored"),
                    }
                }
                cmd = self.commands.recv() => {
                    let Some(cmd) = cmd else { return self.close(&mut ws).await };
                    if let Command::Close = cmd {
                        return self.close(&mut ws).await;
                    }
                    if self.command(&mut ws, cmd).await.is_err() {
                        return End::Lost;
                    }
                }
                _ = heartbeat.tick() => {
                    // A heartbeat still unanswered after a whole interval: the connection is dead
                    // even if TCP has not noticed (a laptop lid, a Wi-Fi change).
                    if self.set.heartbeats_in_flight() > 0 {
                        tracing::debug!("heartbeat unanswered; reconnecting");
                        return End::Lost;
                    }
                    let r = self.set.next_ref();
                    self.set.expect(r.clone(), Pending::Heartbeat);
                    let m = Message::new(PHOENIX_TOPIC, event::HEARTBEAT, json!({})).with_refs(None, Some(r));
                    if send(&mut ws, m).await.is_err() {
                        return End::Lost;
                    }
                }
            }
        }
    }

    async fn close(&mut self, ws: &mut Socket) -> End {
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
        End::Closed
    }

    async fn send_join(&mut self, ws: &mut Socket, topic: &str) -> Result<(), SocketGone> {
        let r = self.set.next_ref();
        let token = self.config.token.clone();
        let Some(w) = self.set.wanted.get_mut(topic) else { return Ok(()) };
        w.join_ref = Some(r.clone());
        w.joined = false;
        let payload = w.options.join_payload(token.as_deref());
        self.set.expect(r.clone(), Pending::Join { topic: topic.to_owned() });
        send(ws, Message::new(topic, event::PHX_JOIN, payload).with_refs(Some(r.clone()), Some(r))).await
    }

    async fn send_track(&mut self, ws: &mut Socket, topic: &str) -> Result<(), SocketGone> {
        let Some(w) = self.set.wanted.get(topic) else { return Ok(()) };
        let (Some(meta), Some(join_ref), true) = (w.presence.clone(), w.join_ref.clone(), w.joined) else { return Ok(()) };
        let r = self.set.next_ref();
        let payload = json!({"type": "presence", "event": "track", "payload": meta});
        send(ws, Message::new(topic, event::PRESENCE, payload).with_refs(Some(join_ref), Some(r))).await
    }

    async fn command(&mut self, ws: &mut Socket, cmd: Command) -> Result<(), SocketGone> {
        match cmd {
            Command::Join { topic, options, presence } => {
                self.set.wanted.insert(topic.clone(), Wanted::new(options, presence));
                self.send_join(ws, &topic).await
            }
            Command::Leave { topic } => match self.set.wanted.remove(&topic) {
                Some(Wanted { join_ref: Some(j), .. }) => {
                    let r = self.set.next_ref();
                    send(ws, Message::new(&topic, event::PHX_LEAVE, json!({})).with_refs(Some(j), Some(r))).await
                }
                _ => Ok(()),
            },
            Command::Track { topic, meta } => {
                if let Some(w) = self.set.wanted.get_mut(&topic) {
                    w.presence = Some(meta);
                }
                self.send_track(ws, &topic).await
            }
            Command::Broadcast { topic, event: ev, payload, reply } => {
                let Some(w) = self.set.wanted.get_mut(&topic) else {
                    if let Some(r) = reply {
                        let _ = r.send(Err(ClientError::Disconnected));
                    }
                    return Ok(());
                };
                if !w.joined {
                    if reply.is_none() && w.join_ref.is_some() {
                        w.queued.push((ev, payload));
                    } else if let Some(r) = reply {
                        let _ = r.send(Err(ClientError::Disconnected));
                    }
                    return Ok(());
                }
                let join_ref = w.join_ref.clone();
                let acked = w.options.broadcast_ack;
                let r = self.set.next_ref();
                if let Some(reply) = reply {
                    if acked {
                        self.set.expect(r.clone(), Pending::Reply(reply));
                    } else {
                        let _ = reply.send(Ok(()));
                    }
                }
                let body = json!({"type": "broadcast", "event": ev, "payload": payload});
                send(ws, Message::new(&topic, event::BROADCAST, body).with_refs(join_ref, Some(r))).await
            }
            Command::Close => Ok(()),
        }
    }

    async fn incoming(&mut self, ws: &mut Socket, frame: Frame) -> Result<(), SocketGone> {
        let m = match frame {
            Frame::Message(m) => m,
            Frame::UserBroadcast(b) => {
                if b.encoding == PayloadEncoding::Json {
                    match serde_json::from_slice(&b.payload) {
                        Ok(payload) => self.emit(ClientEvent::Broadcast { topic: b.topic, event: b.event, payload }),
                        Err(e) => tracing::warn!(error = %e, "broadcast payload marked JSON is not JSON; ignored"),
                    }
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        let Payload::Json(payload) = m.payload else { return Ok(()) };
        match m.event.as_str() {
            event::PHX_REPLY => self.reply(ws, m.topic, m.msg_ref, payload).await,
            event::BROADCAST => {
                let ev = payload.get("event").and_then(Value::as_str).unwrap_or_default().to_owned();
                let inner = payload.get("payload").cloned().unwrap_or(Value::Null);
                self.emit(ClientEvent::Broadcast { topic: m.topic, event: ev, payload: inner });
                Ok(())
            }
            event::PRESENCE_STATE => {
                self.emit(ClientEvent::PresenceState { topic: m.topic, state: payload });
                Ok(())
            }
            event::PRESENCE_DIFF => {
                self.emit(ClientEvent::PresenceDiff { topic: m.topic, diff: payload });
                Ok(())
            }
            event::PHX_CLOSE | event::SYSTEM => {
                let current = self.set.wanted.get(&m.topic).and_then(|w| w.join_ref.clone());
                if m.join_ref.is_some() && m.join_ref == current {
                    let reason = payload.get("message").and_then(Value::as_str).unwrap_or("closed by the server").to_owned();
                    self.set.wanted.remove(&m.topic);
                    self.emit(ClientEvent::ChannelClosed { topic: m.topic, reason });
                }
                Ok(())
            }
            event::PHX_ERROR => {
                // The channel crashed on the server: join it again, as phoenix.js does.
                if self.set.wanted.contains_key(&m.topic) {
                    return self.send_join(ws, &m.topic).await;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn reply(&mut self, ws: &mut Socket, topic: String, r: Option<String>, payload: Value) -> Result<(), SocketGone> {
        let ok = payload.get("status").and_then(Value::as_str) == Some("ok");
        let reason = payload.get("response").and_then(|r| r.get("reason")).and_then(Value::as_str).unwrap_or("refused").to_owned();
        match r.and_then(|r| self.set.take(&r)) {
            Some(Pending::Join { topic }) => {
                if !ok {
                    self.set.wanted.remove(&topic);
                    self.emit(ClientEvent::JoinRefused { topic, reason });
                    return Ok(());
                }
                if let Some(w) = self.set.wanted.get_mut(&topic) {
                    w.joined = true;
                }
                self.emit(ClientEvent::Joined { topic: topic.clone() });
                self.send_track(ws, &topic).await?;
                let queued = self.set.wanted.get_mut(&topic).map(|w| std::mem::take(&mut w.queued)).unwrap_or_default();
                for (ev, payload) in queued {
                    self.command(ws, Command::Broadcast { topic: topic.clone(), event: ev, payload, reply: None }).await?;
                }
                if self.rejoining && self.set.all_joined() {
                    self.rejoining = false;
                    self.emit(ClientEvent::Rejoined);
                }
                Ok(())
            }
            Some(Pending::Heartbeat) => Ok(()),
            Some(Pending::Reply(responder)) => {
                let _ = responder.send(if ok { Ok(()) } else { Err(ClientError::Refused(reason)) });
                Ok(())
            }
            None => {
                if !ok {
                    self.emit(ClientEvent::Refused { topic, reason });
                }
                Ok(())
            }
        }
    }
}

async fn send(ws: &mut Socket, m: Message) -> Result<(), SocketGone> {
    let frame = match encode(Vsn::V2, &Frame::Message(m)) {
        Ok(WireFrame::Text(t)) => Ws::text(t),
        Ok(WireFrame::Binary(b)) => Ws::binary(b),
        Err(e) => {
            tracing::warn!(error = %e, "message could not be encoded; dropped");
            return Ok(());
        }
    };
    ws.send(frame).await.map_err(|_| SocketGone)
}

/// The socket could not take a frame: it closed or broke. Not an error to report: the connection
/// task drops the socket and reconnects, and the channels re-join.
#[derive(Debug)]
struct SocketGone;
