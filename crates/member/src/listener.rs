//! A listener's room: a replica of the host's state, kept whole across reconnects. How it keeps
//! the host's time is in `listener_clock.rs`.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};
use whatssound_client::{Client, ClientConfig, ClientEvent, ConnectionStatus, JoinOptions};
use whatssound_clock::{Clock, Exchange};
use whatssound_core::store::OutboxStore;
use whatssound_core::{CoreError, PresenceMeta, PresenceRole, clock_udp, identity, new_intent_id};
use whatssound_protocol::{Invite, PresenceView};
use whatssound_room::clock_datagram::HostLine;
use whatssound_room::wire::{self, Activity, ClockPong, ReactionMessage, SnapshotMessage, Topics, Verdict};
use whatssound_room::{Action, Change, Diff, Identity, Intent, IntentId, Replica, ReplicaEvent, RoomState, UserId};

use self::clock::ping_interval;
use crate::clock_peer;
use crate::clock_sync::{ClockPath, ClockSync, PeerExchange};
use crate::route::{Reach, Route};

/// How long the first join may take before joining gives up.
const JOIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long an intent may stay unanswered before it is sent again.
const RETRY: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct ListenerConfig {
    pub invite: Invite,
    /// How the host is reached ([`Route::open`] of the invite).
    pub route: Route,
    pub name: String,
    /// An image link (or a small `data:` image) the room shows beside the name.
    pub avatar: Option<String>,
    pub data_dir: PathBuf,
    /// Whether to appear in the room's presence (`listen` does; `send` does not).
    pub track_presence: bool,
    /// Whether to share one estimate of the host's clock with the room's other listeners on
    /// this LAN ([`crate::clock_peer`]): answer their clock pings, and follow the lowest of them.
    pub lan_clock: bool,
    /// The listener's monotonic clock (a skewed one in sync tests).
    pub clock: Arc<dyn Clock>,
}

/// What happened in the room, for the UI and `whatssound-cli listen`.
#[derive(Debug, Clone, PartialEq)]
pub enum RoomEvent {
    Connection(ConnectionStatus),
    /// The first snapshot was applied: the room is on screen.
    Joined {
        seq: u64,
    },
    Snapshot(Box<SnapshotMessage>),
    Diff(Diff),
    Presence {
        joins: Vec<PresenceMeta>,
        leaves: Vec<PresenceMeta>,
    },
    Reaction(ReactionMessage),
    Activity {
        user: UserId,
        activity: Activity,
    },
    /// One of my intents took effect (`diff` is its first diff, when it made one).
    Confirmed {
        intent: IntentId,
        seq: u64,
        diff: Option<Diff>,
    },
    Refused {
        intent: IntentId,
        reason: String,
    },
    RoomClosed,
    /// The host-clock estimate after a clock exchange.
    Sync(SyncStats),
    /// Something was dropped or failed; the text says what.
    Error(String),
}

/// How well this listener knows the host's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyncStats {
    /// Host clock minus ours, ns.
    pub clock_offset_ns: i64,
    /// The shortest round trip in the window, ns: half of it bounds the offset's error on any
    /// path, however lopsided.
    pub round_trip_ns: i64,
    /// How far the offset may still move, ± ns, on a path as quick each way.
    pub uncertainty_ns: i64,
    /// Which way the exchanges behind it went.
    pub path: ClockPath,
    /// Which way this member's bytes go to the host (through a tunnel: direct or relayed).
    pub reach: Reach,
    pub drift_ppm: f64,
    pub samples: usize,
    /// A point of the estimate: local instant `local_ns` is host instant `host_ns`.
    pub local_ns: i64,
    pub host_ns: i64,
}

enum Command {
    Send { action: Action, reply: tokio::sync::oneshot::Sender<Result<IntentId, CoreError>> },
    Activity(Activity),
    Close,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

/// A handle to a joined room.
#[derive(Debug, Clone)]
pub struct ListenerRoom {
    commands: mpsc::UnboundedSender<Command>,
    user: UserId,
    state: watch::Receiver<Option<Arc<RoomState>>>,
}

impl ListenerRoom {
    /// Connects (failing if the first connection fails) and joins the room's channels.
    pub async fn join(config: ListenerConfig) -> Result<(ListenerRoom, mpsc::UnboundedReceiver<RoomEvent>), CoreError> {
        let host = UserId(config.invite.key.clone().ok_or(CoreError::NoHostKey)?);
        // A host invite carries the co-host key: whoever holds it acts with the host's rights.
        let admin = config.invite.extra.iter().find(|(k, _)| k == "admin").map(|(_, v)| v.as_str());
        let identity = match admin {
            Some(hex) => identity::from_hex(hex).ok_or(CoreError::BadAdminKey)?,
            None => identity::load_or_create(&config.data_dir)?,
        };
        let outbox = OutboxStore::open(&config.data_dir, &config.invite.room)?;
        let endpoint = format!("{}/realtime/v1", config.route.ws());
        let (client, mut client_events) = Client::connect(ClientConfig::new(endpoint, Some(config.invite.token.clone()))).await?;
        let topics = Topics::new(&config.invite.room);
        let me = identity.user_id();
        let host_at = if config.track_presence { config.route.host_address().await } else { None };
        // The LAN clock socket, before the join: its address goes into this member's presence.
        // Through a tunnel the host's address is a local one; the relay's says which is ours.
        let lan_clock = match (host_at, config.route.outside()) {
            (Some(_), Some(outside)) if config.lan_clock => clock_peer::bind(outside).await,
            (Some((at, _)), None) if config.lan_clock => clock_peer::bind(at).await,
            _ => None,
        };
        for topic in topics.all() {
            let presence = (config.track_presence && topic == topics.main).then(|| {
                let mut meta = PresenceMeta::new(&me, &config.name, config.avatar.as_deref(), PresenceRole::Listener);
                meta.clock_peer = lan_clock.as_ref().map(|(_, advertised)| *advertised);
                meta.node = config.route.swarm().map(|swarm| swarm.id().to_string());
                meta.to_map()
            });
            // Presence is on for the main topic either way (a member who is not shown still sees
            // who is there); only tracking puts this member in it.
            let key = (topic == topics.main).then(|| me.to_string());
            client.join(topic, JoinOptions { presence_key: key, ..JoinOptions::default() }, presence);
        }
        // Joined last: the snapshot request goes out once this is joined, so the answer has a way in.
        client.join(&topics.user(&me), JoinOptions::default(), None);
        // A wrong or rotated token is refused at the join: fail now, with the hub's reason, rather
        // than run on in a room that will never answer.
        let mut early = Vec::new();
        let admitted = tokio::time::timeout(JOIN_TIMEOUT, async {
            while let Some(e) = client_events.recv().await {
                match &e {
                    ClientEvent::Joined { topic } if *topic == topics.main => {
                        early.push(e);
                        return Ok(());
                    }
                    ClientEvent::JoinRefused { topic, reason } if *topic == topics.main => {
                        return Err(CoreError::JoinRefused(reason.clone()));
                    }
                    _ => early.push(e),
                }
            }
            Err(CoreError::Stopped)
        })
        .await;
        match admitted {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                client.close();
                return Err(e);
            }
            Err(_) => {
                client.close();
                return Err(CoreError::JoinTimeout(JOIN_TIMEOUT.as_secs()));
            }
        }
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        let (host_line, host_line_rx) = watch::channel(None);
        let (peers, peers_rx) = watch::channel(Vec::new());
        let (state, state_rx) = watch::channel(None);
        let (peer_tx, peer_exchanges) = mpsc::unbounded_channel();
        if let Some((socket, _)) = lan_clock {
            tokio::spawn(clock_peer::run(socket, config.clock.clone(), host_line_rx, peers_rx, peer_tx));
        }
        let task = Task {
            identity,
            host,
            name: config.name,
            topics,
            client,
            outbox,
            events,
            replica: Replica::default(),
            state,
            presence: PresenceView::default(),
            joined_once: false,
            mine: Default::default(),
            in_flight: None,
            mounted: false,
            clock: config.clock.clone(),
            clock_sync: ClockSync::default(),
            pings_sent: 0,
            pongs: 0,
            host_line,
            peers,
            route: config.route.clone(),
        };
        // Clock datagrams to the host's UDP port of the same number, where it answers them (not
        // through a relay, nor where only the WebSocket is forwarded: then the WebSocket's own
        // exchanges serve). A `send`, which plays nothing, needs none.
        let (datagrams_tx, datagrams) = mpsc::unbounded_channel();
        if let Some((addr, true)) = host_at {
            tokio::spawn(clock_udp::ping(addr, config.clock, datagrams_tx));
        }
        tokio::spawn(task.run(early, client_events, command_rx, datagrams, peer_exchanges));
        Ok((ListenerRoom { commands, user: me, state: state_rx }, events_rx))
    }

    pub fn user(&self) -> &UserId {
        &self.user
    }

    /// The room as this replica last accepted it (once a snapshot came): at least as new as the
    /// last [`RoomEvent::Snapshot`] or [`RoomEvent::Diff`] received, since it is published
    /// before each is sent. The player and the view derive from it instead of folding again.
    pub fn state(&self) -> Option<Arc<RoomState>> {
        self.state.borrow().clone()
    }

    /// Sends an intent; it is kept in the outbox until the room confirms or refuses it.
    pub async fn send(&self, action: Action) -> Result<IntentId, CoreError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.commands.send(Command::Send { action, reply }).map_err(|_| CoreError::Stopped)?;
        rx.await.map_err(|_| CoreError::Stopped)?
    }

    pub fn activity(&self, activity: Activity) {
        let _ = self.commands.send(Command::Activity(activity));
    }

    pub fn close(&self) {
        let _ = self.commands.send(Command::Close);
    }
}

struct Task {
    identity: Identity,
    host: UserId,
    name: String,
    topics: Topics,
    client: Client,
    outbox: OutboxStore,
    events: mpsc::UnboundedSender<RoomEvent>,
    replica: Replica,
    /// The replica's state for the handle, published before the event that changed it.
    state: watch::Sender<Option<Arc<RoomState>>>,
    presence: PresenceView,
    joined_once: bool,
    /// Intents this process sent or re-sends: it reports their outcome. Another process of the
    /// same user (a `send` beside a `listen`) shares the outbox file but reports its own.
    mine: std::collections::HashSet<IntentId>,
    /// The one intent on the wire. One at a time, oldest first: then a lost intent cannot be
    /// overtaken by a later one, and each sender's intents take effect in the order they were made.
    in_flight: Option<IntentId>,
    /// Whether the room's channels are joined and the replica is current (sending before is lost).
    mounted: bool,
    clock: Arc<dyn Clock>,
    clock_sync: ClockSync,
    pings_sent: u64,
    /// Clock pongs received over the WebSocket.
    pongs: u64,
    /// This listener's estimate of the host's clock, for the LAN peers it answers.
    host_line: watch::Sender<Option<HostLine>>,
    /// The room's members below this one that say where their LAN clock is.
    peers: watch::Sender<Vec<clock_peer::Peer>>,
    /// Held for as long as the task runs: a tunnel closes with its last holder.
    route: Route,
}

impl Task {
    fn emit(&self, e: RoomEvent) {
        let _ = self.events.send(e);
    }

    async fn run(
        mut self,
        early: Vec<ClientEvent>,
        mut client_events: mpsc::UnboundedReceiver<ClientEvent>,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut datagrams: mpsc::UnboundedReceiver<Exchange>,
        mut peer_exchanges: mpsc::UnboundedReceiver<PeerExchange>,
    ) {
        for e in early {
            if self.on_client(e) {
                self.client.close();
                return;
            }
        }
        // An intent unanswered this long is sent again (a relay may drop a message; the host
        // applies it once however often it arrives).
        let mut retry = tokio::time::interval(RETRY);
        let mut last_retried: Option<IntentId> = None;
        let mut every = ping_interval(0);
        let mut ping = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = ping.tick() => {
                    if self.mounted {
                        self.send_ping();
                        let now = ping_interval(self.pongs);
                        if now != every {
                            every = now;
                            ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                        }
                    }
                }
                _ = retry.tick() => {
                    // A snapshot request can be lost (a restarted host not yet back on its
                    // channels): ask again until one arrives.
                    if !self.mounted {
                        self.request_snapshot();
                    }
                    if self.mounted && self.in_flight.is_some() && self.in_flight == last_retried {
                        self.in_flight = None;
                        self.pump();
                    }
                    last_retried = self.in_flight.clone();
                }
                event = client_events.recv() => match event {
                    Some(e) => {
                        if self.on_client(e) {
                            break;
                        }
                    }
                    None => break,
                },
                Some(e) = datagrams.recv() => self.on_exchange(ClockPath::Datagram, e),
                Some(p) = peer_exchanges.recv() => {
                    let t3 = p.exchange.t3;
                    if let Some(published) = self.clock_sync.add_peer(p) {
                        self.publish(published, t3);
                    }
                }
                cmd = commands.recv() => match cmd {
                    Some(Command::Send { action, reply }) => {
                        let _ = reply.send(self.send(action));
                    }
                    Some(Command::Activity(a)) => self.client.broadcast(&self.topics.reactions, wire::ACTIVITY, wire::seal(&self.identity, &a)),
                    Some(Command::Close) | None => break,
                },
            }
        }
        self.client.close();
    }

    fn send(&mut self, action: Action) -> Result<IntentId, CoreError> {
        let intent = Intent { id: new_intent_id(), name: self.name.clone(), action };
        let envelope = wire::seal(&self.identity, &intent);
        // Saved before sending: once the caller has an id, a crash cannot lose the intent.
        self.outbox.push(&intent.id, &envelope)?;
        self.mine.insert(intent.id.clone());
        self.pump();
        Ok(intent.id)
    }

    /// Puts the oldest unconfirmed intent on the wire, unless one already is.
    fn pump(&mut self) {
        if self.in_flight.is_some() || !self.mounted {
            return;
        }
        match self.outbox.first() {
            Ok(Some((id, envelope))) => {
                self.mine.insert(id.clone());
                self.in_flight = Some(id);
                self.client.broadcast(&self.topics.main, wire::INTENT, envelope);
            }
            Ok(None) => {}
            Err(e) => self.emit(RoomEvent::Error(format!("could not read the outbox: {e}"))),
        }
    }

    /// The LiveView re-mount's last step: unconfirmed intents go out again, oldest first; the
    /// host applies each intent id at most once, so the effect is exactly once.
    fn resend_outbox(&mut self) {
        self.mounted = true;
        self.in_flight = None;
        self.pump();
    }

    /// The members below this one (by presence key) that offer a LAN clock at a LAN address,
    /// lowest first: the ones worth pinging. Only below, so listeners on one LAN form a chain that ends at the
    /// lowest, which follows the host.
    fn update_peers(&self) {
        let members = whatssound_core::presence_members(&self.presence);
        if let Some(swarm) = self.route.swarm() {
            swarm.set_members(whatssound_core::presence_nodes(members.iter().map(|(_, m)| m)));
        }
        let me = self.identity.user_id().to_string();
        let mut peers: Vec<clock_peer::Peer> = members
            .iter()
            .filter(|(key, _)| *key < me.as_str())
            .filter_map(|(key, m)| Some(((*key).to_owned(), m.clock_peer?)))
            .filter(|(_, at)| clock_peer::is_lan(at))
            .collect();
        // One per member (a member may be connected twice), lowest keys first.
        peers.dedup_by(|a, b| a.0 == b.0);
        peers.truncate(clock_peer::MAX_PEERS);
        self.peers.send_if_modified(|now| {
            let changed = *now != peers;
            *now = peers;
            changed
        });
    }

    fn request_snapshot(&mut self) {
        self.client.broadcast(&self.topics.main, wire::SNAPSHOT_REQUEST, wire::seal(&self.identity, &json!({})));
    }

    /// Returns true when the room is over.
    fn on_client(&mut self, event: ClientEvent) -> bool {
        match event {
            ClientEvent::Status(s) => {
                if s != ConnectionStatus::Connected {
                    // Until the re-mount's snapshot arrives, nothing sent would be seen.
                    self.mounted = false;
                }
                self.emit(RoomEvent::Connection(s));
            }
            ClientEvent::Joined { topic } if topic == self.topics.user(&self.identity.user_id()) => self.request_snapshot(),
            ClientEvent::JoinRefused { topic, reason } => self.emit(RoomEvent::Error(format!("could not join {topic}: {reason}"))),
            ClientEvent::Refused { reason, .. } => self.emit(RoomEvent::Error(reason)),
            ClientEvent::PresenceState { topic, state } if topic == self.topics.main => {
                let d = self.presence.sync_state(&state);
                self.update_peers();
                self.emit_presence(d);
            }
            ClientEvent::PresenceDiff { topic, diff } if topic == self.topics.main => {
                let d = self.presence.sync_diff(&diff);
                self.update_peers();
                self.emit_presence(d);
            }
            ClientEvent::Broadcast { event, payload, .. } => return self.on_broadcast(&event, &payload),
            _ => {}
        }
        false
    }

    fn emit_presence(&self, d: whatssound_protocol::PresenceDiff) {
        if d.is_empty() {
            return;
        }
        // Parsed here, once; a meta that is not a room member's (another client on the topic)
        // is no one the room shows.
        let flat = |side: std::collections::BTreeMap<String, Vec<Map<String, Value>>>| {
            side.into_values().flatten().filter_map(|m| PresenceMeta::from_map(&m)).collect()
        };
        self.emit(RoomEvent::Presence { joins: flat(d.joins), leaves: flat(d.leaves) });
    }

    fn on_broadcast(&mut self, event: &str, payload: &Value) -> bool {
        match event {
            wire::DIFF => match wire::open_from_host::<Diff>(payload, &self.host, "diff") {
                Ok(diff) => return self.on_diff(diff),
                Err(e) => self.emit(RoomEvent::Error(format!("dropped a diff not signed by the host: {e}"))),
            },
            wire::SNAPSHOT => match wire::open_from_host::<SnapshotMessage>(payload, &self.host, "snapshot") {
                Ok(snapshot) => {
                    if self.replica.receive_snapshot(snapshot.state.clone()) == ReplicaEvent::Replaced {
                        self.state.send_replace(self.replica.shared());
                        let closed = snapshot.state.closed;
                        let seq = snapshot.state.seq;
                        self.emit(RoomEvent::Snapshot(Box::new(snapshot)));
                        if !self.joined_once {
                            self.joined_once = true;
                            self.emit(RoomEvent::Joined { seq });
                        }
                        if closed {
                            self.emit(RoomEvent::RoomClosed);
                            return true;
                        }
                        // Diffs that overtook the snapshot, applied after it (the state published
                        // above has them already).
                        for diff in self.replica.take_replayed() {
                            if self.report_applied(diff) {
                                return true;
                            }
                        }
                        if self.replica.needs_snapshot() {
                            self.request_snapshot();
                        }
                    }
                    // Current now (replaced, or already as new): whatever is unconfirmed goes out.
                    self.resend_outbox();
                }
                Err(e) => self.emit(RoomEvent::Error(format!("dropped a snapshot not signed by the host: {e}"))),
            },
            wire::VERDICT => match wire::open_from_host::<Verdict>(payload, &self.host, "verdict") {
                Ok(Verdict::Refused { intent, reason }) => {
                    if self.forget(&intent) {
                        self.emit(RoomEvent::Refused { intent, reason });
                    }
                }
                Ok(Verdict::AlreadyApplied { intent, seq }) => {
                    if self.forget(&intent) {
                        self.emit(RoomEvent::Confirmed { intent, seq, diff: None });
                    }
                }
                Err(e) => self.emit(RoomEvent::Error(format!("dropped a verdict not signed by the host: {e}"))),
            },
            wire::CLOCK_PONG => match (self.clock.now(), wire::open_from_host::<ClockPong>(payload, &self.host, "clock pong")) {
                // Arrival is stamped before the signature is checked: the host stamps a ping's
                // arrival before checking it too, so neither leg carries a verification the
                // other does not, and the offset is not biased by half of one.
                (t3, Ok(pong)) => self.on_pong(pong, t3),
                (_, Err(e)) => self.emit(RoomEvent::Error(format!("dropped a clock pong not signed by the host: {e}"))),
            },
            wire::REACTION => match wire::open_from_host::<ReactionMessage>(payload, &self.host, "reaction") {
                Ok(r) => self.emit(RoomEvent::Reaction(r)),
                Err(e) => self.emit(RoomEvent::Error(format!("dropped a reaction not signed by the host: {e}"))),
            },
            wire::ACTIVITY => {
                if let Ok((user, activity)) = wire::open::<Activity>(payload, "activity") {
                    self.emit(RoomEvent::Activity { user, activity });
                }
            }
            _ => {}
        }
        false
    }

    fn on_diff(&mut self, diff: Diff) -> bool {
        match self.replica.receive_diff(&diff) {
            ReplicaEvent::Applied => {
                self.state.send_replace(self.replica.shared());
                return self.report_applied(diff);
            }
            ReplicaEvent::NeedSnapshot(reason) => {
                tracing::debug!(%reason, "replica lost track; asking for a snapshot");
                self.request_snapshot();
            }
            ReplicaEvent::Ignored | ReplicaEvent::Replaced | ReplicaEvent::Stale => {}
        }
        false
    }

    /// Reports a diff the replica applied: its outcome to this process if it sent it, the diff,
    /// and the room's end if it is that (then true).
    fn report_applied(&mut self, diff: Diff) -> bool {
        let mine = diff.by.as_ref() == Some(&self.identity.user_id());
        if let Some(intent) = diff.intent.clone().filter(|i| mine && self.forget(i)) {
            self.emit(RoomEvent::Confirmed { intent, seq: diff.seq, diff: Some(diff.clone()) });
        }
        let closed = matches!(diff.change, Change::Closed);
        self.emit(RoomEvent::Diff(diff));
        if closed {
            self.emit(RoomEvent::RoomClosed);
        }
        closed
    }

    /// Drops an intent from the outbox; true if this process was waiting for it (so its outcome
    /// is reported once, by the process that sent it). The next one goes out.
    fn forget(&mut self, intent: &IntentId) -> bool {
        if let Err(e) = self.outbox.remove(intent) {
            self.emit(RoomEvent::Error(format!("could not update the outbox: {e}")));
        }
        if self.in_flight.as_ref() == Some(intent) {
            self.in_flight = None;
        }
        let mine = self.mine.remove(intent);
        self.pump();
        mine
    }
}

#[path = "listener_clock.rs"]
mod clock;
