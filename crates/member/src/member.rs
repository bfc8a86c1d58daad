//! A member in a room, wired once: its replica ([`ListenerRoom`]) and, when it plays, its
//! [`Player`]. The desktop app's `Session` (whatssound-session) and both of the CLI's faces
//! (`listen`, and `host` hearing its own room) are this one wiring with a different way of showing
//! what happens, so they cannot drift apart in what they do.
//!
//! Two things flow inside and never reach a face's code: the room's accepted state and clock
//! estimate go to the player (what plays from where, and when), and a track the player cannot play
//! goes to the room's [`Authority`] when this member hosts it (what the host cannot play, nobody can: it is marked, and the room
//! moves past it).

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;
use whatssound_audio::Volume;
use whatssound_core::{Authority, CoreError};

use crate::player::{OutputKind, Player, PlayerConfig, PlayerEvent};
use crate::{ListenerConfig, ListenerRoom, Quality, RoomEvent, Route};

/// Who joins, by which route (the replica's config), and how it plays.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    pub listener: ListenerConfig,
    /// Where the audio goes; `None` plays nothing.
    pub output: Option<OutputKind>,
    pub volume: Volume,
    /// Positive plays earlier (for a device that sounds late).
    pub nudge_ms: i64,
    /// Downloaded tracks.
    pub cache_dir: PathBuf,
    /// A file to log the sound device's every callback to (timing studies).
    pub device_trace: Option<PathBuf>,
    /// The room's authority, when this member hosts it.
    pub authority: Option<Arc<dyn Authority>>,
    /// The host's originals, or its Opus copies for a thin link.
    pub quality: Quality,
}

impl MemberConfig {
    /// A member that plays nothing (yet: set `output`), with its cache beside the replica's files.
    pub fn new(listener: ListenerConfig) -> Self {
        let cache_dir = listener.data_dir.join("cache");
        MemberConfig {
            listener,
            output: None,
            volume: Volume::default(),
            nudge_ms: 0,
            cache_dir,
            device_trace: None,
            authority: None,
            quality: Quality::default(),
        }
    }

    /// The host's own seat in its room (the app's host, and the CLI's `host --output`): it hears
    /// the room as a member does, marks what it cannot play for everyone through `authority`,
    /// and plays its own files as they are (its link to itself is never thin).
    pub fn hosting(listener: ListenerConfig, authority: Arc<dyn Authority>) -> Self {
        MemberConfig { authority: Some(authority), quality: Quality::Original, ..MemberConfig::new(listener) }
    }
}

/// What happened: in the room, or to its audio here.
// Each event is moved once, from the member to its face: a box would cost an allocation per
// event to save a copy of a few hundred bytes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum MemberEvent {
    Room(RoomEvent),
    Player(PlayerEvent),
}

/// A member in a room (see the module's overview).
pub struct Member {
    room: ListenerRoom,
    room_events: UnboundedReceiver<RoomEvent>,
    player: Option<Player>,
    player_events: Option<UnboundedReceiver<PlayerEvent>>,
    authority: Option<Arc<dyn Authority>>,
    route: Route,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member").field("user", self.room.user()).field("plays", &self.player.is_some()).finish()
    }
}

impl Member {
    /// Starts the output, then joins: a missing sound device fails before anyone sees us join.
    pub async fn join(config: MemberConfig) -> Result<Member, CoreError> {
        let route = config.listener.route.clone();
        let (player, player_events) = match config.output {
            Some(output) => {
                let (p, e) = Player::start(PlayerConfig {
                    output,
                    nudge_ms: config.nudge_ms,
                    clock: config.listener.clock.clone(),
                    volume: config.volume,
                    cache_dir: config.cache_dir,
                    route: route.clone(),
                    token: config.listener.invite.token.clone(),
                    device_trace: config.device_trace,
                    quality: config.quality,
                })?;
                (Some(p), Some(e))
            }
            None => (None, None),
        };
        let (room, room_events) = ListenerRoom::join(config.listener).await?;
        Ok(Member { room, room_events, player, player_events, authority: config.authority, route })
    }

    /// The next thing that happened, once the player and the room have had their part of it;
    /// `None` once the replica has stopped. Cancel-safe: an event is taken only when it is
    /// returned, so this can be one branch of a `select!`.
    pub async fn next(&mut self) -> Option<MemberEvent> {
        let event = tokio::select! {
            event = self.room_events.recv() => MemberEvent::Room(event?),
            Some(event) = async { self.player_events.as_mut()?.recv().await } => MemberEvent::Player(event),
        };
        match &event {
            MemberEvent::Room(e) => {
                if let Some(p) = self.player.as_mut() {
                    match e {
                        RoomEvent::Snapshot(_) | RoomEvent::Diff(_) => {
                            if let Some(state) = self.room.state() {
                                p.follow(state);
                            }
                        }
                        RoomEvent::Sync(s) => p.set_clock(s.local_ns, s.host_ns, s.drift_ppm),
                        _ => {}
                    }
                }
            }
            MemberEvent::Player(PlayerEvent::Unplayable { track, reason }) => {
                if let Some(authority) = &self.authority {
                    authority.unplayable(track.clone(), reason.clone());
                }
            }
            MemberEvent::Player(PlayerEvent::LinkTooThin { opus_kbps, .. }) => {
                if let Some(p) = self.player.as_mut() {
                    p.use_opus(*opus_kbps);
                }
            }
            MemberEvent::Player(_) => {}
        }
        Some(event)
    }

    /// The room's replica: to act, to say what this member is doing.
    pub fn room(&self) -> &ListenerRoom {
        &self.room
    }

    pub fn player(&self) -> Option<&Player> {
        self.player.as_ref()
    }

    pub fn route(&self) -> &Route {
        &self.route
    }

    /// Leaves the room and stops the output (finishing a WAV file), then the route.
    pub async fn leave(mut self) -> Result<(), whatssound_audio::OutputError> {
        self.room.close();
        let stopped = self.player.take().map_or(Ok(()), Player::stop);
        self.route.close().await;
        stopped
    }
}
