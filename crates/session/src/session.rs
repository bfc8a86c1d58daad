//! One member's whole time in a room, as the desktop app runs it: hosting (a [`HostedRoom`] on
//! this machine) or joining by invite; the room's replica ([`ListenerRoom`]) folded into a
//! [`RoomModel`]; and the audio ([`Player`]) — behind a handful of methods, with what happens
//! coming out as [`SessionEvent`]s ready to show.
//!
//! A host's own session joins its room like any listener, over an invite that carries the host's
//! key, so its actions are the host's and everything it shows comes through the same path a
//! listener's does. One task owns the replica's events, the player and the model; the methods talk
//! to it by message.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use whatssound_audio::{Clock, Volume};
use whatssound_core::CoreError;
pub use whatssound_host::hosting::Venue;
use whatssound_host::hosting::{HostedRoom, HostingConfig, HostingError};
use whatssound_member::member::{Member, MemberConfig, MemberEvent};
use whatssound_member::player::{OutputKind, Player, PlayerEvent};
use whatssound_member::{ListenerConfig, RoomEvent, Route, SyncStats};
use whatssound_protocol::Invite;
use whatssound_room::wire::Activity;
use whatssound_room::{Action, IntentId, TrackId, UserId};

use crate::view::{AudioState, BufferingView, ConnectionView, ReactionView, RoomModel, RoomView, SyncView};

/// How long an action may wait for the room's answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The app's data: identity, outbox, caches, and hosted rooms under `rooms/`.
    pub data_dir: PathBuf,
    pub name: String,
    pub avatar: Option<String>,
    /// Where the audio goes; `None` plays nothing.
    pub output: Option<OutputKind>,
    pub volume: Volume,
    /// Positive plays earlier (for a device that sounds late).
    pub offset_ms: i64,
    pub clock: Arc<dyn Clock>,
}

/// What happened, ready to show.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    Room(Box<RoomView>),
    Connection(ConnectionView),
    Sync(SyncView),
    Buffering(BufferingView),
    Reaction(ReactionView),
    /// The room is over for this member (the host ended it, or this member was removed).
    Ended {
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Hosting(#[from] HostingError),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("that is not an invite ({0}); paste the whole whatssound:// link the host shared")]
    BadInvite(String),
    #[error("the room refused it: {0}")]
    Refused(String),
    #[error("the room did not answer within {} s; check the connection and try again", ANSWER_WITHIN.as_secs())]
    NoAnswer,
    #[error("the upload failed: {0}")]
    Upload(#[from] whatssound_core::fetch::FetchError),
    #[error("only the host can {0}")]
    HostOnly(&'static str),
    #[error("the session has ended")]
    Ended,
}

enum Command {
    Act { action: Action, reply: oneshot::Sender<Result<(), SessionError>> },
    View { reply: oneshot::Sender<RoomView> },
    Typing(bool),
    Invite(Option<String>),
    Leave { reply: oneshot::Sender<()> },
}

/// A session in a room.
pub struct Session {
    hosted: Option<HostedRoom>,
    invite: Invite,
    route: Route,
    commands: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("room", &self.invite.room).field("hosting", &self.hosted.is_some()).finish()
    }
}

/// A room id from a name people typed: letters, digits, `-` and `_`, at most 64.
pub fn room_id_from_name(name: &str) -> String {
    let id: String =
        name.trim().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).take(64).collect();
    let id = id.trim_matches('-').to_owned();
    if id.is_empty() { "room".into() } else { id }
}

impl Session {
    /// Hosts a room (on this machine's embedded hub, or the venue's relay), queues `files` and
    /// starts playing, then joins it.
    pub async fn host(
        config: SessionConfig,
        room_name: &str,
        files: &[PathBuf],
        venue: Venue,
    ) -> Result<(Session, mpsc::UnboundedReceiver<SessionEvent>), SessionError> {
        let room = room_id_from_name(room_name);
        let hosting = HostingConfig {
            data_dir: config.data_dir.join("rooms").join(&room),
            room: Some(room),
            name: config.name.clone(),
            avatar: config.avatar.clone(),
            venue,
            limits: whatssound_hub::Limits::default(),
            new_invite: false,
            clock: config.clock.clone(),
        };
        let (hosted, mut host_events) = HostedRoom::start(hosting).await?;
        // The host's log of its room is not shown; draining it keeps the channel from growing.
        tokio::spawn(async move { while host_events.recv().await.is_some() {} });
        for file in files {
            if let Err(e) = hosted.add_file(file).await {
                let _ = hosted.stop().await;
                return Err(e.into());
            }
        }
        if !files.is_empty() {
            hosted.room().act(Action::Play, None).await?;
        }
        let own = hosted.own_invite();
        let listener_invite = hosted.invite();
        let (session, events) = Session::start(config, own, Some(hosted), false).await?;
        let _ = session.commands.send(Command::Invite(Some(listener_invite)));
        Ok((session, events))
    }

    /// Joins a room by invite.
    pub async fn join(config: SessionConfig, invite: &str) -> Result<(Session, mpsc::UnboundedReceiver<SessionEvent>), SessionError> {
        let invite: Invite = invite.trim().parse().map_err(|e: whatssound_protocol::InviteError| SessionError::BadInvite(e.to_string()))?;
        Session::start(config, invite, None, true).await
    }

    async fn start(
        config: SessionConfig,
        invite: Invite,
        hosted: Option<HostedRoom>,
        track_presence: bool,
    ) -> Result<(Session, mpsc::UnboundedReceiver<SessionEvent>), SessionError> {
        let authority = hosted.as_ref().map(|h| Arc::new(h.room().clone()) as Arc<dyn whatssound_core::Authority>);
        match Session::connect(config, &invite, authority, track_presence).await {
            Ok((route, commands, events)) => Ok((Session { hosted, invite, route, commands }, events)),
            Err(e) => {
                // A room hosted for this session ends with it.
                if let Some(h) = hosted {
                    let _ = h.stop().await;
                }
                Err(e)
            }
        }
    }

    async fn connect(
        config: SessionConfig,
        invite: &Invite,
        authority: Option<Arc<dyn whatssound_core::Authority>>,
        track_presence: bool,
    ) -> Result<(Route, mpsc::UnboundedSender<Command>, mpsc::UnboundedReceiver<SessionEvent>), SessionError> {
        let host = UserId(invite.key.clone().ok_or(CoreError::NoHostKey)?);
        let role = if authority.is_some() { crate::view::Role::Host } else { crate::view::Role::Listener };
        let route = Route::open(invite).await?;
        // A listener that plays passes tracks on to the others (through a tunnel).
        let route = match (&config.output, role) {
            (Some(_), crate::view::Role::Listener) => route.sharing(&config.data_dir.join("cache").join("swarm")).await,
            _ => route,
        };
        let listener = ListenerConfig {
            invite: invite.clone(),
            route: route.clone(),
            name: config.name.clone(),
            avatar: config.avatar.clone(),
            data_dir: config.data_dir.join("member"),
            track_presence,
            lan_clock: track_presence,
            clock: config.clock.clone(),
        };
        // The host's seat plays its own files; a listener changes to Opus copies if its link is thin.
        let seat = match authority {
            Some(authority) => MemberConfig::hosting(listener, authority),
            None => MemberConfig::new(listener),
        };
        let member = Member::join(MemberConfig {
            output: config.output.clone(),
            volume: config.volume.clone(),
            nudge_ms: config.offset_ms,
            cache_dir: config.data_dir.join("cache"),
            ..seat
        })
        .await?;
        let model = RoomModel::new(
            invite.room.clone(),
            role,
            member.room().user().clone(),
            host,
            Some((route.ws().to_owned(), invite.token.clone())),
        );
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        let task = Task {
            member,
            model,
            clock: config.clock,
            events,
            pending: HashMap::new(),
            sync: None,
            host_at: None,
            audio: AudioState::Idle,
        };
        tokio::spawn(task.run(command_rx));
        Ok((route, commands, events_rx))
    }

    pub fn is_host(&self) -> bool {
        self.hosted.is_some()
    }

    /// The room as it is now.
    pub async fn view(&self) -> Result<RoomView, SessionError> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(Command::View { reply }).map_err(|_| SessionError::Ended)?;
        rx.await.map_err(|_| SessionError::Ended)
    }

    /// Does something in the room; returns once the room took it, or with its reason for not.
    pub async fn act(&self, action: Action) -> Result<(), SessionError> {
        if action.is_host_only() && !self.is_host() {
            return Err(SessionError::HostOnly("do that"));
        }
        let (reply, rx) = oneshot::channel();
        self.commands.send(Command::Act { action, reply }).map_err(|_| SessionError::Ended)?;
        match tokio::time::timeout(ANSWER_WITHIN, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(SessionError::Ended),
            Err(_) => Err(SessionError::NoAnswer),
        }
    }

    /// Adds files from this machine: a host queues them in place; a listener uploads them first.
    pub async fn add_files(&self, paths: &[PathBuf]) -> Result<(), SessionError> {
        for path in paths {
            match &self.hosted {
                Some(hosted) => {
                    hosted.add_file(path).await?;
                }
                None => self.upload(path).await?,
            }
        }
        Ok(())
    }

    async fn upload(&self, path: &Path) -> Result<(), SessionError> {
        let up = whatssound_host::uploads::upload(self.route.ws(), &self.invite.token, path).await?;
        self.act(up.enqueue()).await
    }

    pub fn set_typing(&self, typing: bool) {
        let _ = self.commands.send(Command::Typing(typing));
    }

    /// A new listener invite (hosts on the embedded hub): the old one stops working.
    pub fn new_invite(&mut self) -> Result<String, SessionError> {
        let hosted = self.hosted.as_mut().ok_or(SessionError::HostOnly("make a new invite"))?;
        let invite = hosted.new_invite()?;
        let _ = self.commands.send(Command::Invite(Some(invite.clone())));
        Ok(invite)
    }

    /// Leaves; a host's room ends for everyone.
    pub async fn leave(self) -> Result<(), SessionError> {
        let (reply, rx) = oneshot::channel();
        if self.commands.send(Command::Leave { reply }).is_ok() {
            let _ = rx.await;
        }
        if let Some(hosted) = self.hosted {
            hosted.stop().await?;
        }
        Ok(())
    }
}

/// An action waiting for the room's answer, and the vote it records if it is one.
type Pending = (oneshot::Sender<Result<(), SessionError>>, Option<(TrackId, bool)>);

/// The session's task: the one owner of the replica's events, the player and the model.
struct Task {
    member: Member,
    model: RoomModel,
    clock: Arc<dyn Clock>,
    events: mpsc::UnboundedSender<SessionEvent>,
    /// Actions waiting for the room's answer (and the vote each records, if it is one).
    pending: HashMap<IntentId, Pending>,
    sync: Option<SyncStats>,
    /// A point of the host's clock before the clock sync has one: (local ns, host ms).
    host_at: Option<(i64, u64)>,
    audio: AudioState,
}

impl Task {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                event = self.member.next() => match event {
                    Some(MemberEvent::Room(e)) => self.on_room(e),
                    Some(MemberEvent::Player(e)) => self.on_player(e),
                    None => break,
                },
                command = commands.recv() => match command {
                    Some(Command::Leave { reply }) => {
                        let _ = self.member.leave().await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(c) => self.on_command(c).await,
                    None => break,
                },
                _ = tick.tick() => self.tick(),
            }
        }
        let _ = self.member.leave().await;
    }

    fn emit(&self, event: SessionEvent) {
        let _ = self.events.send(event);
    }

    fn wall_ms() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0))
    }

    /// The host's clock now, in ms, from the clock sync (or the last snapshot before it has one).
    fn host_now_ms(&self) -> u64 {
        let now = self.clock.now();
        let host_ns = match (self.sync, self.host_at) {
            (Some(s), _) => s.host_at(now),
            (None, Some((local, host_ms))) => i64::try_from(host_ms).unwrap_or(0).saturating_mul(1_000_000) + (now - local),
            (None, None) => 0,
        };
        u64::try_from(host_ns / 1_000_000).unwrap_or(0)
    }

    fn view(&self) -> RoomView {
        self.model.view(self.host_now_ms(), Task::wall_ms())
    }

    fn emit_view(&self) {
        self.emit(SessionEvent::Room(Box::new(self.view())));
    }

    fn on_room(&mut self, event: RoomEvent) {
        match event {
            RoomEvent::Connection(status) => self.emit(SessionEvent::Connection(ConnectionView::from(&status))),
            RoomEvent::Snapshot(s) => {
                self.host_at = Some((self.clock.now(), s.host_now_ms));
                self.follow_state();
            }
            RoomEvent::Diff(_) => {
                self.follow_state();
                self.update_audio();
            }
            RoomEvent::Presence { joins, leaves } => {
                self.model.presence(&joins, &leaves);
                self.emit_view();
            }
            RoomEvent::Activity { user, activity } => {
                self.model.activity(&user, &activity, Task::wall_ms());
                self.emit_view();
            }
            RoomEvent::Reaction(r) => self.emit(SessionEvent::Reaction(ReactionView { from: r.name, emoji: r.emoji })),
            RoomEvent::Confirmed { intent, .. } => {
                if let Some((reply, vote)) = self.pending.remove(&intent) {
                    if let Some((track, up)) = vote {
                        self.model.voted(track, up);
                        self.emit_view();
                    }
                    let _ = reply.send(Ok(()));
                }
            }
            RoomEvent::Refused { intent, reason } => {
                if let Some((reply, _)) = self.pending.remove(&intent) {
                    let _ = reply.send(Err(SessionError::Refused(reason)));
                }
            }
            RoomEvent::RoomClosed => {
                self.emit_view();
                self.emit(SessionEvent::Ended { reason: "the host ended the room".into() });
            }
            RoomEvent::Sync(s) => self.sync = Some(s),
            RoomEvent::Joined { .. } | RoomEvent::Error(_) => {}
        }
    }

    /// The view shows the room as the member's replica accepted it.
    fn follow_state(&mut self) {
        if let Some(state) = self.member.room().state() {
            self.model.set_state(state);
        }
        self.emit_view();
    }

    fn on_player(&mut self, event: PlayerEvent) {
        match event {
            PlayerEvent::Buffering { track, progress, buffered_ms } => self.emit(SessionEvent::Buffering(BufferingView {
                track_id: track.to_string(),
                bytes: progress.bytes,
                total: progress.total,
                buffered_ms: u32::try_from(buffered_ms.unwrap_or(0)).unwrap_or(u32::MAX),
            })),
            // The member has told the room, if this session hosts it; and changed to Opus copies.
            PlayerEvent::Unplayable { .. } | PlayerEvent::Ready { .. } | PlayerEvent::LinkTooThin { .. } => {}
        }
        self.update_audio();
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::Act { action, reply } => {
                let vote = match &action {
                    Action::Vote { track, up } => Some((track.clone(), *up)),
                    _ => None,
                };
                match self.member.room().send(action).await {
                    Ok(intent) => {
                        self.pending.insert(intent, (reply, vote));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::View { reply } => {
                let _ = reply.send(self.view());
            }
            Command::Typing(typing) => {
                self.member.room().activity(Activity { is_typing: typing, audio: Some(self.audio.as_str().into()), ..Activity::default() })
            }
            Command::Invite(invite) => {
                self.model.set_invite(invite);
                self.emit_view();
            }
            Command::Leave { .. } => {}
        }
    }

    /// Tells the room when this member's audio changes (the people list shows it).
    fn update_audio(&mut self) {
        let playback = &self.model.state().playback;
        let audio = match (self.member.player(), playback.track.is_some(), playback.playing) {
            (None, _, _) | (Some(_), false, _) => AudioState::Idle,
            (Some(_), true, false) => AudioState::Paused,
            (Some(p), true, true) if p.stats().started_at.is_some() => AudioState::Playing,
            (Some(_), true, true) => AudioState::Buffering,
        };
        if audio != self.audio {
            self.audio = audio;
            let activity = Activity { audio: Some(audio.as_str().into()), ..Activity::default() };
            // The hub does not echo a member's broadcasts back to it: this member's own line is
            // updated here.
            let me = self.member.room().user().clone();
            self.model.activity(&me, &activity, Task::wall_ms());
            self.member.room().activity(activity);
            self.emit_view();
        }
    }

    fn tick(&mut self) {
        self.update_audio();
        let Some(s) = self.sync else { return };
        let stats = self.member.player().map(Player::stats).unwrap_or_default();
        self.emit(SessionEvent::Sync(SyncView {
            offset_ms: s.clock_offset_ns as f64 / 1e6,
            rtt_ms: s.round_trip_ns as f64 / 1e6,
            uncertainty_ms: s.uncertainty_ns as f64 / 1e6,
            clock_path: s.path,
            reach: s.reach,
            opus_kbps: self.member.player().and_then(Player::opus_kbps),
            error_ms: stats.error_ns.unwrap_or(0) as f64 / 1e6,
            corrections: u32::try_from(stats.jumps + stats.trimmed_frames).unwrap_or(u32::MAX),
            underruns: u32::try_from(stats.underruns).unwrap_or(u32::MAX),
        }));
        // Positions advance and typing fades with time, not only with events.
        self.emit_view();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_come_from_names_people_type() {
        assert_eq!(room_id_from_name("Friday Jam!"), "Friday-Jam");
        assert_eq!(room_id_from_name("  "), "room");
        assert_eq!(room_id_from_name("a_b-c"), "a_b-c");
        assert_eq!(room_id_from_name(&"x".repeat(100)).len(), 64);
    }
}
