//! The host's room: the engine, driven by intents from the channels and by the host's own actions.

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use whatssound_client::{Client, ClientConfig, ClientEvent, ConnectionStatus, JoinOptions};
use whatssound_clock::Clock;
use whatssound_core::store::{Commit, HostStore};
use whatssound_core::{CoreError, PresenceMeta, PresenceRole, new_intent_id};
use whatssound_protocol::PresenceView;
use whatssound_room::wire::{self, ClockPing, ClockPong, ReactionMessage, SnapshotMessage, Topics, Verdict};
use whatssound_room::{
    Action, Change, Engine, Identity, Intent, Output, QueueDiff, RoomSettings, TrackId, TrackMeta, TrackPatch, TrackSource, UserId,
};

/// Sockets for clock exchanges on per-user channels, and how many channels each keeps joined at
/// once (a socket may join 100). Users are spread over them by a hash of their id, so a room of up
/// to ~360 syncing listeners has its pings heard and answered on channels already joined.
///
/// Pings travel on the pinger's own channel, which only it and the host join. They used to go on
/// the shared playback channel, where every member received every other's four pings a second:
/// with 30 listeners that was ~60 KB/s to each, ~14 Mbit/s out of the host's uplink in all, more
/// than a home link carries, and it starved the audio.
const USER_SOCKETS: usize = 4;
const USER_CHANNELS: usize = 90;
/// Per-user channels the main socket keeps joined for snapshots and verdicts. Those must travel on
/// the socket the diffs use: the hub keeps one socket's messages in order, and a verdict that
/// overtook its diff would confirm an intent before the replica has the change.
const MAIN_USER_CHANNELS: usize = 60;

/// One socket for per-user channels, with its joined channels in least-recently-used order.
struct UserLine {
    client: Client,
    joined: VecDeque<String>,
}

#[derive(Debug, Clone)]
pub struct HostConfig {
    pub room: String,
    pub identity: Identity,
    pub name: String,
    /// An image link (or a small `data:` image) the room shows beside the name.
    pub avatar: Option<String>,
    /// `ws://HOST:PORT/realtime/v1` of the embedded hub, or an external relay's endpoint.
    pub endpoint: String,
    /// The host token (embedded hub) or the relay's key.
    pub token: Option<String>,
    pub data_dir: PathBuf,
    pub settings: RoomSettings,
    /// Keys with the host's rights (the host invite's `admin` key).
    pub cohosts: Vec<UserId>,
    /// The host's monotonic clock: playback anchors and clock exchanges are on it.
    pub clock: Arc<dyn Clock>,
    /// Fetch URL tracks as they are queued, to learn their length and mark what is not audio;
    /// off, URL tracks are taken as described (tests whose URLs lead nowhere).
    pub check_urls: bool,
    /// The room's swarm, when listeners pass tracks on (a tunnel serves the room): the host
    /// hashes its files into it and names each track by its hash, and admits the nodes its
    /// presence shows.
    pub swarm: Option<whatssound_swarm::Swarm>,
}

/// What the host's room did, for logs and the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum HostEvent {
    Connection(ConnectionStatus),
    Output(Box<Output>),
    /// Something arrived that was dropped (bad signature, malformed intent), and why.
    Dropped(String),
    Error(String),
}

enum Command {
    Act { action: Action, file: Option<PathBuf>, reply: oneshot::Sender<Vec<Output>> },
    Describe { track: TrackId, patch: TrackPatch },
    Snapshot { reply: oneshot::Sender<SnapshotMessage> },
    Close { reply: oneshot::Sender<()> },
}

impl whatssound_core::Authority for HostRoom {
    fn unplayable(&self, track: TrackId, reason: String) {
        self.describe(track, whatssound_room::TrackPatch { unplayable: Some(reason), ..whatssound_room::TrackPatch::default() });
    }
}

/// A handle to the running host room.
#[derive(Debug, Clone)]
pub struct HostRoom {
    commands: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl HostRoom {
    /// Loads (or creates) the room in `config.data_dir`, connects, and starts serving intents.
    pub async fn start(config: HostConfig) -> Result<(HostRoom, mpsc::UnboundedReceiver<HostEvent>), CoreError> {
        let store = HostStore::open(&config.data_dir)?;
        let (engine, rebase) = match store.load()? {
            Some((mut engine, saved_now_ms)) => {
                // A room closed by a clean stop opens again: same data dir, same invites.
                let mut outputs = engine.reopen();
                outputs.extend(engine.rebase_clock(saved_now_ms, 0));
                (engine, outputs)
            }
            None => (Engine::new(config.identity.user_id(), config.settings.clone()), Vec::new()),
        };
        let mut engine = engine;
        for cohost in &config.cohosts {
            engine.add_cohost(cohost.clone());
        }
        let (client, client_events) = Client::connect(ClientConfig::new(&config.endpoint, config.token.clone())).await?;
        let topics = Topics::new(&config.room);
        let me = config.identity.user_id();
        let ack = JoinOptions { broadcast_self: false, broadcast_ack: true, presence_key: None };
        for topic in topics.all() {
            let options =
                if topic == topics.main { JoinOptions { presence_key: Some(me.to_string()), ..ack.clone() } } else { ack.clone() };
            let presence =
                (topic == topics.main).then(|| PresenceMeta::new(&me, &config.name, config.avatar.as_deref(), PresenceRole::Host).to_map());
            client.join(topic, options, presence);
        }
        let mut user_lines = Vec::with_capacity(USER_SOCKETS);
        let (pings, ping_rx) = mpsc::unbounded_channel();
        for _ in 0..USER_SOCKETS {
            let (client, mut events) = Client::connect(ClientConfig::new(&config.endpoint, config.token.clone())).await?;
            // Of what comes back on these, only the pings are needed (not acks or presence).
            let pings = pings.clone();
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    if let ClientEvent::Broadcast { event, payload, .. } = event
                        && event == wire::CLOCK_PING
                    {
                        let _ = pings.send(payload);
                    }
                }
            });
            user_lines.push(UserLine { client, joined: VecDeque::new() });
        }
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        let mut task = Task {
            uploads: config.data_dir.join("uploads"),
            cache: config.data_dir.join("cache"),
            myself: config.check_urls.then(|| commands.downgrade()),
            commands: commands.downgrade(),
            swarm: config.swarm,
            identity: config.identity,
            topics,
            client,
            engine,
            store,
            clock: config.clock.clone(),
            events,
            presence: PresenceView::default(),
            user_lines,
            main_user_topics: VecDeque::new(),
        };
        if !rebase.is_empty() {
            task.commit_and_publish(rebase, None, Vec::new());
        }
        tokio::spawn(task.run(client_events, command_rx, ping_rx));
        Ok((HostRoom { commands }, events_rx))
    }

    /// The host acts in its own room (no network round trip); `file` is the local path behind a
    /// `HostFile` track.
    pub async fn act(&self, action: Action, file: Option<PathBuf>) -> Result<Vec<Output>, CoreError> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(Command::Act { action, file, reply }).map_err(|_| CoreError::Stopped)?;
        rx.await.map_err(|_| CoreError::Stopped)
    }

    /// What the host learnt about a queued track: its tags and length, or why it cannot be played
    /// (an unplayable current track is moved past).
    pub fn describe(&self, track: TrackId, patch: TrackPatch) {
        let _ = self.commands.send(Command::Describe { track, patch });
    }

    /// The room as it is now (what a listener's snapshot would hold).
    pub async fn snapshot(&self) -> Result<SnapshotMessage, CoreError> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(Command::Snapshot { reply }).map_err(|_| CoreError::Stopped)?;
        rx.await.map_err(|_| CoreError::Stopped)
    }

    /// Tells everyone the room closed, then disconnects.
    pub async fn close(&self) {
        let (reply, rx) = oneshot::channel();
        if self.commands.send(Command::Close { reply }).is_ok() {
            let _ = rx.await;
        }
    }
}

struct Task {
    identity: Identity,
    topics: Topics,
    client: Client,
    engine: Engine,
    /// Where listeners' uploads are kept, and where URL tracks are fetched to be described.
    uploads: PathBuf,
    cache: PathBuf,
    /// The task's own command queue, for what it learns later (a URL track described); `None`
    /// when URL tracks are not checked.
    myself: Option<mpsc::WeakUnboundedSender<Command>>,
    /// The task's own command queue, for what it learns later about its files (their hashes).
    commands: mpsc::WeakUnboundedSender<Command>,
    swarm: Option<whatssound_swarm::Swarm>,
    store: HostStore,
    clock: Arc<dyn Clock>,
    events: mpsc::UnboundedSender<HostEvent>,
    presence: PresenceView,
    user_lines: Vec<UserLine>,
    /// Per-user channels joined on the main socket, least recently used first.
    main_user_topics: VecDeque<String>,
}

impl Task {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.now() / 1_000_000).unwrap_or(0)
    }

    /// Answers a clock ping at once, timestamping arrival and departure on the host's clock.
    fn clock_pong(&mut self, payload: &Value) {
        let t1 = self.clock.now();
        match wire::open::<ClockPing>(payload, "clock ping") {
            Ok((user, ping)) => {
                let pong = ClockPong { nonce: ping.nonce, t0: ping.t0, t1, t2: self.clock.now() };
                let sealed = wire::seal(&self.identity, &pong);
                self.send_to(&user, wire::CLOCK_PONG, sealed);
            }
            Err(e) => self.emit(HostEvent::Dropped(format!("clock ping dropped: {e}"))),
        }
    }

    fn emit(&self, e: HostEvent) {
        let _ = self.events.send(e);
    }

    /// How long until the current track ends, if it is playing and its length is known.
    fn until_track_end(&self) -> Option<std::time::Duration> {
        let state = self.engine.state();
        let playback = &state.playback;
        let track = playback.track.as_ref().filter(|_| playback.playing)?;
        let duration = state.queue.get(track)?.meta.duration_ms?;
        let left = duration.saturating_sub(playback.position_at(self.now_ms()));
        Some(std::time::Duration::from_millis(left))
    }

    /// The current track has played to its end: the room moves on, saved before it is published.
    fn track_ended(&mut self) {
        let outputs = self.engine.track_ended(self.now_ms());
        if !outputs.is_empty() {
            self.commit_and_publish(outputs, None, Vec::new());
        }
    }

    async fn run(
        mut self,
        mut client_events: mpsc::UnboundedReceiver<ClientEvent>,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut pings: mpsc::UnboundedReceiver<Value>,
    ) {
        loop {
            // Re-armed after every change: a seek, a pause or a skip moves the end.
            let end = self.until_track_end();
            tokio::select! {
                () = async { tokio::time::sleep(end.unwrap_or_default()).await }, if end.is_some() => self.track_ended(),
                event = client_events.recv() => match event {
                    Some(e) => self.on_client(e),
                    None => break,
                },
                Some(ping) = pings.recv() => self.clock_pong(&ping),
                cmd = commands.recv() => match cmd {
                    Some(Command::Act { action, file, reply }) => {
                        let me = self.identity.user_id();
                        let intent = Intent { id: new_intent_id(), name: "host".into(), action };
                        let _ = reply.send(self.handle(&me, intent, file));
                    }
                    Some(Command::Describe { track, patch }) => {
                        let outputs = self.engine.describe(&track, patch, self.now_ms());
                        if !outputs.is_empty() {
                            self.commit_and_publish(outputs, None, Vec::new());
                        }
                    }
                    Some(Command::Snapshot { reply }) => {
                        let _ = reply.send(SnapshotMessage { state: self.engine.state().clone(), host_now_ms: self.now_ms() });
                    }
                    Some(Command::Close { reply }) => {
                        let outputs = self.engine.close();
                        let now = self.now_ms();
                        if let Err(e) = self.store.commit(&self.engine, now, &Commit::default()) {
                            self.emit(HostEvent::Error(format!("could not save the closed room: {e}")));
                        }
                        for out in outputs {
                            if let Output::Diff(d) = &out {
                                // Acknowledged, so the hub has it before this socket goes.
                                let sealed = wire::seal(&self.identity, d);
                                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.client.broadcast_acked(&self.topics.main, wire::DIFF, sealed)).await;
                            }
                            self.emit(HostEvent::Output(Box::new(out)));
                        }
                        self.client.close();
                        for line in &self.user_lines {
                            line.client.close();
                        }
                        let _ = reply.send(());
                        break;
                    }
                    None => break,
                },
            }
        }
    }

    fn on_client(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Status(s) => self.emit(HostEvent::Connection(s)),
            ClientEvent::Broadcast { topic, event, payload } if topic == self.topics.main => match event.as_str() {
                wire::INTENT => match wire::open::<Intent>(&payload, "intent") {
                    Ok((user, intent)) => {
                        self.handle(&user, intent, None);
                    }
                    Err(e) => {
                        // Signed but not an intent we understand: the signer is known, so tell them
                        // why (when the body names an id to answer to). Unsigned junk is just dropped.
                        if let (wire::WireError::Body { .. }, Ok((user, body))) = (&e, wire::open::<Value>(&payload, "intent"))
                            && let Some(id) = body.get("id").and_then(Value::as_str)
                        {
                            let reason = format!("malformed intent: {e}");
                            self.publish(&[Output::Refused { user, intent: id.into(), reason }]);
                        }
                        self.emit(HostEvent::Dropped(format!("intent dropped: {e}")));
                    }
                },
                wire::SNAPSHOT_REQUEST => match wire::open::<Value>(&payload, "snapshot request") {
                    // A member that asks for the room's state is about to ping (one without
                    // presence, e.g. a test's, is heard from here on too).
                    Ok((user, _)) => {
                        self.hear_pings_of(&user);
                        self.send_snapshot(&user)
                    }
                    Err(e) => self.emit(HostEvent::Dropped(format!("snapshot request dropped: {e}"))),
                },
                _ => {}
            },
            // Listeners before pings moved to their own channels still ping here.
            ClientEvent::Broadcast { topic, event, payload } if topic == self.topics.playback && event == wire::CLOCK_PING => {
                self.clock_pong(&payload)
            }
            ClientEvent::PresenceState { topic, state } if topic == self.topics.main => {
                self.presence.sync_state(&state);
                self.update_present();
            }
            ClientEvent::PresenceDiff { topic, diff } if topic == self.topics.main => {
                self.presence.sync_diff(&diff);
                self.update_present();
            }
            ClientEvent::JoinRefused { topic, reason } => self.emit(HostEvent::Error(format!("could not join {topic}: {reason}"))),
            ClientEvent::Refused { topic, reason } => {
                self.emit(HostEvent::Error(format!("the relay refused a message on {topic}: {reason}")))
            }
            _ => {}
        }
    }

    fn update_present(&mut self) {
        let users: BTreeSet<UserId> =
            self.presence.by_key.values().flatten().filter_map(|m| m.get("user_id").and_then(Value::as_str)).map(UserId::from).collect();
        let me = self.identity.user_id();
        for user in users.iter().filter(|u| **u != me) {
            self.hear_pings_of(user);
        }
        self.engine.set_present(users);
        if let Some(swarm) = &self.swarm {
            let members = whatssound_core::presence_members(&self.presence);
            swarm.set_members(whatssound_core::presence_nodes(members.iter().map(|(_, m)| m)));
        }
    }

    /// Validates, applies, saves, then publishes — saving first, so nothing published is ever lost.
    fn handle(&mut self, user: &UserId, intent: Intent, file: Option<PathBuf>) -> Vec<Output> {
        let before = self.engine.clone();
        let key = Engine::intent_key(user, &intent.id);
        let intent_id = intent.id.clone();
        let is_host_file = matches!(&intent.action, Action::Enqueue { track, .. } if matches!(track.source, TrackSource::HostFile { .. }));
        // An upload is served like a host file: its path is the upload's, found here by id.
        let (file, is_host_file) = match &intent.action {
            Action::Enqueue { track: TrackMeta { source: TrackSource::Upload { id }, .. }, .. } => {
                match crate::uploads::upload_path(&self.uploads, id).filter(|p| p.is_file()) {
                    Some(path) => (Some(path), true),
                    None => {
                        let refusal = vec![Output::Refused {
                            user: user.clone(),
                            intent: intent_id,
                            reason: format!("there is no upload {id:?} on this host; upload the file again"),
                        }];
                        self.publish(&refusal);
                        return refusal;
                    }
                }
            }
            _ => (file, is_host_file),
        };
        let now = self.now_ms();
        let outputs = self.engine.handle(user, intent, now);
        let accepted = outputs.iter().any(|o| matches!(o, Output::Diff(_) | Output::Reaction { .. }));
        if !accepted {
            self.publish(&outputs);
            return outputs;
        }
        let files = match (file, is_host_file) {
            (Some(path), true) => outputs
                .iter()
                .find_map(|o| match o {
                    Output::Diff(d) => match &d.change {
                        Change::Queue { diff: QueueDiff::Insert { track, .. } } => Some(vec![(track.id.clone(), path.clone())]),
                        _ => None,
                    },
                    _ => None,
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let applied = self.engine.applied(&key).map(|seq| (key, seq));
        let hashing = files.clone();
        if let Err(e) = self.save(&outputs, applied, files, now) {
            // Nothing goes out that is not saved: undo, and tell the sender why.
            self.engine = before;
            let reason = format!("the host could not save this ({e}); try again");
            self.emit(HostEvent::Error(reason.clone()));
            let refusal = vec![Output::Refused { user: user.clone(), intent: intent_id, reason }];
            self.publish(&refusal);
            return refusal;
        }
        self.publish(&outputs);
        self.describe_urls(&outputs);
        self.hash_files(hashing);
        outputs
    }

    /// Names each new file track by its content hash (in the background: a long FLAC takes a
    /// moment to hash), so members can pass it on; until then they fetch it from the host.
    fn hash_files(&self, files: Vec<(whatssound_room::TrackId, PathBuf)>) {
        let Some(swarm) = &self.swarm else { return };
        for (track, path) in files {
            let (swarm, commands) = (swarm.clone(), self.commands.clone());
            tokio::spawn(async move {
                match swarm.add_file(&path).await {
                    Ok(hash) => {
                        let patch = TrackPatch { hash: Some(hash.to_hex()), ..TrackPatch::default() };
                        if let Some(commands) = commands.upgrade() {
                            let _ = commands.send(Command::Describe { track, patch });
                        }
                    }
                    Err(e) => tracing::warn!("{e}; listeners fetch it from the host alone"),
                }
            });
        }
    }

    /// A URL track is fetched (into the host's cache) and probed in the background: its length
    /// lets the room move on at its end, and one that is not audio is marked unplayable.
    fn describe_urls(&self, outputs: &[Output]) {
        let Some(myself) = &self.myself else { return };
        for out in outputs {
            let Output::Diff(d) = out else { continue };
            let Change::Queue { diff: QueueDiff::Insert { track, .. } } = &d.change else { continue };
            let TrackSource::Url { url } = &track.meta.source else { continue };
            let (url, id, cache, myself) = (url.clone(), track.id.clone(), self.cache.clone(), myself.clone());
            let known = track.meta.clone();
            tokio::spawn(async move {
                let patch = whatssound_core::fetch::describe_url(&url, &cache, &known).await;
                if let Some(commands) = myself.upgrade() {
                    let _ = commands.send(Command::Describe { track: id, patch });
                }
            });
        }
    }

    fn save(
        &mut self,
        outputs: &[Output],
        applied: Option<(String, u64)>,
        files: Vec<(whatssound_room::TrackId, PathBuf)>,
        now: u64,
    ) -> Result<(), whatssound_core::store::StoreError> {
        let chat = outputs
            .iter()
            .filter_map(|o| match o {
                Output::Diff(d) => wire::chat_of(d).map(|m| (m, d.seq)),
                _ => None,
            })
            .collect();
        self.store.commit(&self.engine, now, &Commit { applied, chat, files })
    }

    /// For host events that are not intents (clock rebase after a restart).
    fn commit_and_publish(
        &mut self,
        outputs: Vec<Output>,
        applied: Option<(String, u64)>,
        files: Vec<(whatssound_room::TrackId, PathBuf)>,
    ) {
        let now = self.now_ms();
        match self.save(&outputs, applied, files, now) {
            Ok(()) => self.publish(&outputs),
            Err(e) => self.emit(HostEvent::Error(format!("could not save the room: {e}"))),
        }
    }

    fn publish(&mut self, outputs: &[Output]) {
        for out in outputs {
            match out {
                Output::Diff(d) => self.client.broadcast(self.topics.for_change(&d.change), wire::DIFF, wire::seal(&self.identity, d)),
                Output::Refused { user, intent, reason } => {
                    self.send_to_user(user, &Verdict::Refused { intent: intent.clone(), reason: reason.clone() });
                }
                Output::AlreadyApplied { user, intent, seq } => {
                    self.send_to_user(user, &Verdict::AlreadyApplied { intent: intent.clone(), seq: *seq })
                }
                Output::Reaction { user, name, emoji, at_ms } => {
                    let r = ReactionMessage { user: user.clone(), name: name.clone(), emoji: emoji.clone(), at_ms: *at_ms };
                    self.client.broadcast(&self.topics.reactions, wire::REACTION, wire::seal(&self.identity, &r));
                }
            }
            self.emit(HostEvent::Output(Box::new(out.clone())));
        }
    }

    fn send_to_user(&mut self, user: &UserId, verdict: &Verdict) {
        // The host's own answers go out too: a desktop host's view of its room is a member that
        // acts with the host's key and waits for them like anyone else.
        let sealed = wire::seal(&self.identity, verdict);
        self.send_in_order(user, wire::VERDICT, sealed);
    }

    fn send_snapshot(&mut self, user: &UserId) {
        // The engine's own state: a replica must end up byte-for-byte where the authority is.
        let message = SnapshotMessage { state: self.engine.state().clone(), host_now_ms: self.now_ms() };
        let sealed = wire::seal(&self.identity, &message);
        self.send_in_order(user, wire::SNAPSHOT, sealed);
    }

    /// Sends on a user's own channel over the main socket, in order with the diffs.
    fn send_in_order(&mut self, user: &UserId, event: &str, payload: Value) {
        let topic = self.topics.user(user);
        join_recent(&self.client, &mut self.main_user_topics, &topic, MAIN_USER_CHANNELS);
        self.client.broadcast(&topic, event, payload);
    }

    /// Sends on a user's own channel over that user's clock socket (for answers whose order with
    /// the diffs does not matter).
    fn send_to(&mut self, user: &UserId, event: &str, payload: Value) {
        let topic = self.topics.user(user);
        let Some(line) = self.user_line(user) else { return };
        join_recent(&line.client, &mut line.joined, &topic, USER_CHANNELS);
        line.client.broadcast(&topic, event, payload);
    }

    /// Joins a user's own channel on its clock socket, if not joined yet, so its pings are heard
    /// (when its presence arrives, or it asks for a snapshot: whichever is first).
    fn hear_pings_of(&mut self, user: &UserId) {
        let topic = self.topics.user(user);
        if let Some(line) = self.user_line(user)
            && !line.joined.contains(&topic)
        {
            join_recent(&line.client, &mut line.joined, &topic, USER_CHANNELS);
        }
    }

    /// The clock socket of a user: the same user always lands on the same one.
    fn user_line(&mut self, user: &UserId) -> Option<&mut UserLine> {
        let hash = whatssound_core::fnv1a(user.as_str());
        self.user_lines.get_mut(usize::try_from(hash % USER_SOCKETS as u64).unwrap_or(0))
    }
}

/// Joins `topic` on `client` unless it is among the recently used (broadcasts wait for the join),
/// leaving the least recently used beyond `capacity`.
fn join_recent(client: &Client, joined: &mut VecDeque<String>, topic: &str, capacity: usize) {
    if let Some(i) = joined.iter().position(|t| t == topic) {
        joined.remove(i);
    } else {
        client.join(topic, JoinOptions::default(), None);
        if let Some(old) = (joined.len() >= capacity).then(|| joined.pop_front()).flatten() {
            client.leave(&old);
        }
    }
    joined.push_back(topic.to_owned());
}
