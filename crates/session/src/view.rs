//! What a room looks like to one member, for a UI: [`RoomModel`] folds the room's events into
//! plain state, and [`RoomModel::view`] renders that as a [`RoomView`] at a given instant. Pure:
//! no IO and no clock of its own, so every rule here is tested with made-up times.
//!
//! The view types are what the desktop UI receives (camelCase; every number a JS number), and
//! with the `specta` feature they also describe themselves to the UI's generated bindings.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use whatssound_client::ConnectionStatus;
use whatssound_core::{PresenceMeta, PresenceRole};
use whatssound_room::wire::Activity;
use whatssound_room::{RoomState, TrackId, TrackSource, UserId};

/// How long a typing indicator lasts without being renewed.
const TYPING_MS: u64 = 6_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Role {
    Host,
    Listener,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct RoomView {
    pub name: String,
    pub role: Role,
    /// The listener invite (hosts only).
    pub invite: Option<String>,
    pub me: String,
    pub now_playing: Option<NowPlaying>,
    pub queue: Vec<QueueEntry>,
    pub chat: Vec<ChatLine>,
    pub people: Vec<Person>,
    pub closed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct NowPlaying {
    pub track_id: String,
    pub title: String,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub duration_ms: Option<u32>,
    /// The position at wall-clock instant `at_ms` (ms since the epoch), so a UI can advance it.
    pub position_ms: u32,
    pub at_ms: u64,
    pub playing: bool,
    pub cover_url: Option<String>,
}

/// A member's vote on a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Vote {
    Up,
    Down,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct QueueEntry {
    pub id: String,
    pub title: String,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub duration_ms: Option<u32>,
    /// The name of who added it.
    pub added_by: String,
    /// Up votes.
    pub votes: u32,
    /// Down votes: enough of them (the room's skip share of its listeners) skip the track while
    /// it plays.
    pub down_votes: u32,
    /// This member's vote, if any. The room keeps one per member and track (a vote can be turned
    /// round, not taken back).
    pub my_vote: Option<Vote>,
    pub unplayable: Option<String>,
    pub mine: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ChatLine {
    pub id: String,
    pub from: String,
    pub from_id: String,
    pub text: String,
    /// Wall-clock ms since the epoch.
    pub at_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum AudioState {
    Playing,
    Buffering,
    Paused,
    Idle,
}

impl AudioState {
    fn parse(text: &str) -> Option<AudioState> {
        Some(match text {
            "playing" => AudioState::Playing,
            "buffering" => AudioState::Buffering,
            "paused" => AudioState::Paused,
            "idle" => AudioState::Idle,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AudioState::Playing => "playing",
            AudioState::Buffering => "buffering",
            AudioState::Paused => "paused",
            AudioState::Idle => "idle",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Person {
    pub id: String,
    pub name: String,
    pub avatar: Option<String>,
    pub audio: AudioState,
    pub typing: bool,
    pub is_host: bool,
}

/// Who is in the room, as presence and activity tell it.
#[derive(Debug, Clone, PartialEq)]
struct Member {
    name: String,
    avatar: Option<String>,
    is_host: bool,
    joined_at: u64,
    audio: AudioState,
    /// Wall-clock ms of the last "typing" activity, while it lasts.
    typing_since: Option<u64>,
}

/// The room as one member knows it.
#[derive(Debug, Clone)]
pub struct RoomModel {
    name: String,
    role: Role,
    invite: Option<String>,
    me: UserId,
    host: UserId,
    /// `ws://…` and the token that open the host's media (for cover art URLs).
    media: Option<(String, String)>,
    state: Arc<RoomState>,
    members: BTreeMap<UserId, Member>,
    /// Up (true) or down, by track.
    my_votes: BTreeMap<TrackId, bool>,
}

impl RoomModel {
    pub fn new(name: String, role: Role, me: UserId, host: UserId, media: Option<(String, String)>) -> Self {
        RoomModel { name, role, invite: None, me, host, media, state: Arc::default(), members: BTreeMap::new(), my_votes: BTreeMap::new() }
    }

    pub fn set_invite(&mut self, invite: Option<String>) {
        self.invite = invite;
    }

    pub fn state(&self) -> &RoomState {
        &self.state
    }

    /// The room as the member's replica accepted it (after a snapshot or a diff). My votes on
    /// tracks that have left the queue are forgotten.
    pub fn set_state(&mut self, state: Arc<RoomState>) {
        self.my_votes.retain(|t, _| state.queue.get(t).is_some());
        self.state = state;
    }

    /// My vote on a track took effect.
    pub fn voted(&mut self, track: TrackId, up: bool) {
        self.my_votes.insert(track, up);
    }

    /// Presence joins and leaves.
    pub fn presence(&mut self, joins: &[PresenceMeta], leaves: &[PresenceMeta]) {
        for meta in leaves {
            self.members.remove(&meta.user_id);
        }
        for meta in joins {
            let member = Member {
                name: meta.username.clone(),
                avatar: meta.avatar_url.clone().filter(|a| !a.is_empty()),
                is_host: meta.role == PresenceRole::Host || meta.user_id == self.host,
                joined_at: meta.joined_at,
                audio: meta.audio_state.as_deref().and_then(AudioState::parse).unwrap_or(AudioState::Idle),
                typing_since: None,
            };
            self.members.insert(meta.user_id.clone(), member);
        }
    }

    /// A member's fast presence: typing, and what their audio is doing.
    pub fn activity(&mut self, user: &UserId, activity: &Activity, wall_ms: u64) {
        if let Some(m) = self.members.get_mut(user) {
            m.typing_since = activity.is_typing.then_some(wall_ms);
            if let Some(audio) = activity.audio.as_deref().and_then(AudioState::parse) {
                m.audio = audio;
            }
        }
    }

    /// The view at host instant `host_now_ms`, which is wall-clock instant `wall_ms`.
    pub fn view(&self, host_now_ms: u64, wall_ms: u64) -> RoomView {
        let wall = |host_ms: u64| wall_ms.saturating_sub(host_now_ms.saturating_sub(host_ms));
        let ms32 = |ms: u64| u32::try_from(ms).unwrap_or(u32::MAX);
        let name_of = |user: &UserId| match self.members.get(user) {
            Some(m) => m.name.clone(),
            None if *user == self.host => "Host".into(),
            None => "someone".into(),
        };
        let playback = &self.state.playback;
        let now_playing = playback.track.as_ref().and_then(|id| self.state.queue.get(id)).map(|t| NowPlaying {
            track_id: t.id.to_string(),
            title: t.meta.title.clone(),
            artist: t.meta.artist.clone(),
            album: t.meta.album.clone(),
            duration_ms: t.meta.duration_ms.map(ms32),
            position_ms: ms32(playback.position_at(host_now_ms)),
            at_ms: wall_ms,
            playing: playback.playing,
            cover_url: self.cover_url(&t.id, &t.meta.source),
        });
        let queue = self
            .state
            .queue
            .iter()
            .map(|t| QueueEntry {
                id: t.id.to_string(),
                title: t.meta.title.clone(),
                artist: t.meta.artist.clone(),
                album: t.meta.album.clone(),
                duration_ms: t.meta.duration_ms.map(ms32),
                added_by: name_of(&t.added_by),
                votes: self.state.tallies.get(&t.id).map_or(0, |tally| tally.up),
                down_votes: self.state.tallies.get(&t.id).map_or(0, |tally| tally.down),
                my_vote: self.my_votes.get(&t.id).map(|up| if *up { Vote::Up } else { Vote::Down }),
                unplayable: t.unplayable.clone(),
                mine: t.added_by == self.me,
            })
            .collect();
        let chat = self
            .state
            .chat
            .iter()
            .map(|m| ChatLine {
                id: m.id.clone(),
                from: m.name.clone(),
                from_id: m.user.to_string(),
                text: m.text.clone(),
                at_ms: wall(m.at_ms),
            })
            .collect();
        let mut people: Vec<(&UserId, &Member)> = self.members.iter().collect();
        // The host first, then by arrival.
        people.sort_by_key(|(id, m)| (!m.is_host, m.joined_at, id.to_string()));
        let people = people
            .into_iter()
            .map(|(id, m)| Person {
                id: id.to_string(),
                name: m.name.clone(),
                avatar: m.avatar.clone(),
                audio: m.audio,
                typing: m.typing_since.is_some_and(|t| wall_ms.saturating_sub(t) < TYPING_MS),
                is_host: m.is_host,
            })
            .collect();
        RoomView {
            name: self.name.clone(),
            role: self.role,
            invite: self.invite.clone(),
            me: self.me.to_string(),
            now_playing,
            queue,
            chat,
            people,
            closed: self.state.closed,
        }
    }

    fn cover_url(&self, id: &TrackId, source: &TrackSource) -> Option<String> {
        let (ws, token) = self.media.as_ref()?;
        match source {
            TrackSource::HostFile { .. } | TrackSource::Upload { .. } => {
                let media = whatssound_core::fetch::media_url(ws, id.as_str(), token);
                Some(media.replacen("?token=", "/cover?token=", 1))
            }
            TrackSource::Url { .. } => None,
        }
    }
}

/// The connection, as a banner shows it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "state", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ConnectionView {
    Connecting,
    Connected,
    Reconnecting { attempt: u32, next_try_ms: u32 },
    Offline { reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SyncView {
    pub offset_ms: f64,
    pub rtt_ms: f64,
    /// How far the clock estimate may still be off, ± ms (on a path as quick each way).
    pub uncertainty_ms: f64,
    /// Where the clock estimate comes from: the host's datagrams, the room's WebSocket, or a
    /// listener on this LAN that shares its own.
    pub clock_path: whatssound_member::clock_sync::ClockPath,
    /// Which way this member reaches the host: the invite's address, or a tunnel (direct, or
    /// through its relay server).
    pub reach: whatssound_member::Reach,
    /// The bitrate of the host's Opus copies this member plays, when its link was too thin for
    /// the originals (kbit/s).
    pub opus_kbps: Option<u32>,
    /// How far what sounds is from where the room is (positive: behind).
    pub error_ms: f64,
    pub corrections: u32,
    pub underruns: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct BufferingView {
    pub track_id: String,
    pub bytes: u64,
    pub total: Option<u64>,
    pub buffered_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ReactionView {
    pub from: String,
    pub emoji: String,
}

impl From<&ConnectionStatus> for ConnectionView {
    fn from(status: &ConnectionStatus) -> Self {
        match status {
            ConnectionStatus::Connecting => ConnectionView::Connecting,
            ConnectionStatus::Connected => ConnectionView::Connected,
            ConnectionStatus::Reconnecting { attempt, in_ms } => {
                ConnectionView::Reconnecting { attempt: *attempt, next_try_ms: u32::try_from(*in_ms).unwrap_or(u32::MAX) }
            }
            ConnectionStatus::Offline => ConnectionView::Offline { reason: "disconnected".into() },
        }
    }
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
