//! The authority: the only place intents become diffs.
//!
//! [`Engine::handle`] checks who asks (host or listener, banned or not), whether the intent id was
//! seen before (then it only re-confirms: re-sends are safe), and whether the action makes sense;
//! then it commits diffs through [`RoomState::apply`] — the same function every replica uses — and
//! returns [`Output`]s for the IO edge to publish: diffs for everyone, a refusal or confirmation for
//! the sender alone, reactions that are never stored.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::ids::{IntentId, TrackId, UserId};
use crate::intent::{Action, Intent, Position};
use crate::queue::{QueueDiff, Track, TrackMeta, TrackPatch, TrackSource};
use crate::state::{Change, ChatMessage, Diff, Playback, RoomState};

/// Rules a host may tune.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomSettings {
    pub chat_max_chars: usize,
    /// The current track is skipped when more than this fraction of the listeners present vote it down.
    pub skip_fraction: f64,
    pub reactions_per_window: usize,
    pub reaction_window_ms: u64,
}

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings { chat_max_chars: 1000, skip_fraction: 0.5, reactions_per_window: 5, reaction_window_ms: 10_000 }
    }
}

/// What the IO edge must publish after an intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Output {
    /// For everyone, in `seq` order.
    Diff(Diff),
    /// For the sender alone.
    Refused { user: UserId, intent: IntentId, reason: String },
    /// For the sender alone: this intent id was applied before (at `seq`); nothing new happened.
    AlreadyApplied { user: UserId, intent: IntentId, seq: u64 },
    /// For everyone, not stored: reactions are ephemeral.
    Reaction { user: UserId, name: String, emoji: String, at_ms: u64 },
}

/// How many applied intent ids are remembered for idempotency (oldest forgotten first). Outboxes
/// re-send within minutes; this covers far more than that.
const REMEMBERED_INTENTS: usize = 20_000;

/// The room's authority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engine {
    host: UserId,
    /// Keys that act with the host's rights (the key behind the host invite, for `send` and
    /// other devices of the host); never published.
    #[serde(default)]
    cohosts: BTreeSet<UserId>,
    settings: RoomSettings,
    state: RoomState,
    /// Applied intent keys, kept by the host's store in a table of their own (not in this blob).
    #[serde(skip)]
    applied: HashMap<String, u64>,
    #[serde(skip)]
    applied_order: VecDeque<String>,
    votes: BTreeMap<TrackId, BTreeMap<UserId, bool>>,
    next_track: u64,
    next_chat: u64,
    #[serde(skip)]
    reactions: HashMap<UserId, VecDeque<u64>>,
    #[serde(skip)]
    present: BTreeSet<UserId>,
}

type Step = Result<Vec<Output>, String>;

impl Engine {
    pub fn new(host: UserId, settings: RoomSettings) -> Self {
        Engine {
            host,
            cohosts: BTreeSet::new(),
            settings,
            state: RoomState::default(),
            applied: HashMap::new(),
            applied_order: VecDeque::new(),
            votes: BTreeMap::new(),
            next_track: 1,
            next_chat: 1,
            reactions: HashMap::new(),
            present: BTreeSet::new(),
        }
    }

    pub fn state(&self) -> &RoomState {
        &self.state
    }

    pub fn host(&self) -> &UserId {
        &self.host
    }

    /// Lets `user` act with the host's rights.
    pub fn add_cohost(&mut self, user: UserId) {
        self.cohosts.insert(user);
    }

    /// Who is in the room now (from presence), for the vote-to-skip rule.
    pub fn set_present(&mut self, users: BTreeSet<UserId>) {
        self.present = users;
    }

    /// The idempotency key of an intent: ids are chosen by clients, so they are scoped by user.
    pub fn intent_key(user: &UserId, intent: &IntentId) -> String {
        format!("{user}/{intent}")
    }

    /// Whether (and at which seq) an intent was applied.
    pub fn applied(&self, key: &str) -> Option<u64> {
        self.applied.get(key).copied()
    }

    /// Restores remembered intent keys (oldest first) after a restart.
    pub fn restore_applied(&mut self, keys: impl IntoIterator<Item = (String, u64)>) {
        for (key, seq) in keys {
            self.applied.insert(key.clone(), seq);
            self.applied_order.push_back(key);
        }
        while self.applied_order.len() > REMEMBERED_INTENTS {
            if let Some(old) = self.applied_order.pop_front() {
                self.applied.remove(&old);
            }
        }
    }

    /// Re-anchors playback after a restart: the host's monotonic clock started again from zero, so
    /// the position it had at `saved_now_ms` (old clock) now holds at `now_ms` (new clock). Returns
    /// the diff to publish, if playback was anchored at all.
    pub fn rebase_clock(&mut self, saved_now_ms: u64, now_ms: u64) -> Vec<Output> {
        let current = self.state.playback.clone();
        if current.track.is_none() {
            return Vec::new();
        }
        let playback = Playback { position_ms: current.position_at(saved_now_ms), at_ms: now_ms, ..current };
        self.commit(&None, &None, Change::Playback { playback }).unwrap_or_default()
    }

    /// Handles one intent from `user` (already authenticated by its signature) at host instant `now_ms`.
    pub fn handle(&mut self, user: &UserId, intent: Intent, now_ms: u64) -> Vec<Output> {
        let key = Engine::intent_key(user, &intent.id);
        if let Some(&seq) = self.applied.get(&key) {
            return vec![Output::AlreadyApplied { user: user.clone(), intent: intent.id, seq }];
        }
        let refuse = |reason: String| vec![Output::Refused { user: user.clone(), intent: intent.id.clone(), reason }];
        if self.state.closed {
            return refuse("the room is closed".into());
        }
        if self.state.banned.contains(user) {
            return refuse("you were removed from this room".into());
        }
        let is_host = user == &self.host || self.cohosts.contains(user);
        if intent.action.is_host_only() && !is_host {
            return refuse(format!("only the host may {}", verb(&intent.action)));
        }
        let by = Some(user.clone());
        let id = Some(intent.id.clone());
        let result = match intent.action.clone() {
            Action::Enqueue { track, position } => self.enqueue(user, is_host, track, position, &id),
            Action::Remove { track } => self.remove(user, is_host, &track, &id, now_ms),
            Action::Move { track, to } => self.move_track(&track, to, &by, &id),
            Action::Vote { track, up } => self.vote(user, &track, up, &id, now_ms),
            Action::Chat { text } => self.chat(user, &intent.name, &text, &id, now_ms),
            Action::React { emoji } => self.react(user, &intent.name, &emoji, now_ms),
            Action::Play => self.set_playing(true, &by, &id, now_ms),
            Action::Pause => self.set_playing(false, &by, &id, now_ms),
            Action::Seek { ms } => self.seek(ms, &by, &id, now_ms),
            Action::Skip => self.current().ok_or_else(|| "nothing is playing".to_owned()).map(|_| self.advance(&by, &id, now_ms)),
            Action::Kick { user: target } => {
                if target == self.host {
                    Err("the host cannot kick themselves".into())
                } else {
                    self.commit(&by, &id, Change::Banned { user: target })
                }
            }
        };
        match result {
            Ok(outputs) => {
                self.remember(key);
                if outputs.is_empty() {
                    // Valid but changed nothing (e.g. play while playing): confirm it all the same.
                    return vec![Output::AlreadyApplied { user: user.clone(), intent: intent.id, seq: self.state.seq }];
                }
                outputs
            }
            Err(reason) => refuse(reason),
        }
    }

    /// Moves on to the next track (the current one ended, or was skipped); the IO edge calls this
    /// when playback reaches the end.
    pub fn track_ended(&mut self, now_ms: u64) -> Vec<Output> {
        self.advance(&None, &None, now_ms)
    }

    /// What the host's IO edge learnt about a queued track afterwards: a URL's tags and length
    /// once fetched, or why it cannot be played. A current track found unplayable is moved past at
    /// once, so the room goes on.
    pub fn describe(&mut self, track: &TrackId, patch: TrackPatch, now_ms: u64) -> Vec<Output> {
        if self.state.queue.get(track).is_none() || patch == TrackPatch::default() {
            return Vec::new();
        }
        let unplayable = patch.unplayable.is_some();
        let mut out = self.commit(&None, &None, Change::Queue { diff: QueueDiff::Update { id: track.clone(), patch } }).unwrap_or_default();
        // A paused room stays put (pressing play moves past it then).
        if unplayable && self.state.playback.playing && self.current().as_ref() == Some(track) {
            out.extend(self.advance(&None, &None, now_ms));
        }
        out
    }

    /// Opens a room that was closed (a host started again on the same data dir).
    pub fn reopen(&mut self) -> Vec<Output> {
        if !self.state.closed {
            return Vec::new();
        }
        self.commit(&None, &None, Change::Reopened).unwrap_or_default()
    }

    /// Closes the room: the last diff everyone gets.
    pub fn close(&mut self) -> Vec<Output> {
        if self.state.closed {
            return Vec::new();
        }
        self.commit(&None, &None, Change::Closed).unwrap_or_default()
    }

    fn remember(&mut self, key: String) {
        self.applied.insert(key.clone(), self.state.seq);
        self.applied_order.push_back(key);
        while self.applied_order.len() > REMEMBERED_INTENTS {
            if let Some(old) = self.applied_order.pop_front() {
                self.applied.remove(&old);
            }
        }
    }

    fn commit(&mut self, by: &Option<UserId>, intent: &Option<IntentId>, change: Change) -> Step {
        let diff = Diff { seq: self.state.seq + 1, intent: intent.clone(), by: by.clone(), change };
        // The engine validated the change, so this cannot fail; if it ever does, refuse rather than
        // publish a diff that replicas could not apply.
        self.state.apply(&diff).map_err(|e| format!("internal error: {e}"))?;
        Ok(vec![Output::Diff(diff)])
    }

    fn current(&self) -> Option<TrackId> {
        self.state.playback.track.clone()
    }

    fn enqueue(&mut self, user: &UserId, is_host: bool, mut new: TrackMeta, position: Position, intent: &Option<IntentId>) -> Step {
        if !is_host {
            if position != Position::Append {
                return Err("listeners add to the end of the queue; only the host may choose a position".into());
            }
            match &new.source {
                TrackSource::Url { url } if url.starts_with("http://") || url.starts_with("https://") => {}
                TrackSource::Url { url } => return Err(format!("{url:?} is not an http(s) URL")),
                TrackSource::Upload { id } if TrackSource::is_valid_upload_id(id) => {}
                TrackSource::Upload { id } => return Err(format!("{id:?} is not an upload id; upload the file first")),
                TrackSource::HostFile { .. } => {
                    return Err("listeners add http(s) URLs; a path on the host's machine is never opened for a listener".into());
                }
            }
        }
        let title = new.title.trim().to_owned();
        if title.is_empty() || title.chars().count() > 300 {
            return Err("a track title must be 1 to 300 characters".into());
        }
        let len = self.state.queue.len();
        let at = match position {
            Position::Append => len,
            Position::Prepend => 0,
            Position::At(i) if i <= len => i,
            Position::At(i) => return Err(format!("position {i} is past the end of the queue ({len} tracks)")),
        };
        let id = TrackId(format!("t{}", self.next_track));
        self.next_track += 1;
        new.title = title;
        // A content hash is the host's own finding (`describe`), never a sender's claim: a
        // wrong one would send members after other bytes.
        new.hash = None;
        let track = Track { id: id.clone(), meta: new, added_by: user.clone(), unplayable: None };
        let by = Some(user.clone());
        let mut out = self.commit(&by, intent, Change::Queue { diff: QueueDiff::Insert { at, track } })?;
        if self.current().is_none() {
            // The first track becomes current, paused at its start: the host presses play.
            out.extend(self.commit(
                &by,
                intent,
                Change::Playback { playback: Playback { track: Some(id), playing: false, position_ms: 0, at_ms: 0 } },
            )?);
        }
        Ok(out)
    }

    fn remove(&mut self, user: &UserId, is_host: bool, track: &TrackId, intent: &Option<IntentId>, now_ms: u64) -> Step {
        let t = self.state.queue.get(track).ok_or_else(|| format!("track {track} is not in the queue"))?;
        if !is_host && &t.added_by != user {
            return Err("you can remove only tracks you added".into());
        }
        let by = Some(user.clone());
        if self.current().as_ref() == Some(track) {
            return Ok(self.advance(&by, intent, now_ms));
        }
        self.votes.remove(track);
        self.commit(&by, intent, Change::Queue { diff: QueueDiff::Delete { id: track.clone() } })
    }

    fn move_track(&mut self, track: &TrackId, to: usize, by: &Option<UserId>, intent: &Option<IntentId>) -> Step {
        let from = self.state.queue.position(track).ok_or_else(|| format!("track {track} is not in the queue"))?;
        let len = self.state.queue.len();
        if to >= len {
            return Err(format!("index {to} is past the end of the queue ({len} tracks; the last index is {})", len - 1));
        }
        if from == to {
            return Ok(Vec::new());
        }
        self.commit(by, intent, Change::Queue { diff: QueueDiff::Reorder { id: track.clone(), from, to } })
    }

    fn vote(&mut self, user: &UserId, track: &TrackId, up: bool, intent: &Option<IntentId>, now_ms: u64) -> Step {
        if self.state.queue.get(track).is_none() {
            return Err(format!("track {track} is not in the queue"));
        }
        let votes = self.votes.entry(track.clone()).or_default();
        if votes.insert(user.clone(), up) == Some(up) {
            return Ok(Vec::new());
        }
        let up_count = count(votes.values().filter(|v| **v));
        let down = count(votes.values().filter(|v| !**v));
        let by = Some(user.clone());
        let mut out = self.commit(&by, intent, Change::Tally { track: track.clone(), up: up_count, down })?;
        let listeners = self.present.iter().filter(|u| **u != self.host && !self.cohosts.contains(*u)).count().max(1);
        if self.current().as_ref() == Some(track) && f64::from(down) > self.settings.skip_fraction * listeners as f64 {
            out.extend(self.advance(&None, intent, now_ms));
        }
        Ok(out)
    }

    fn chat(&mut self, user: &UserId, name: &str, text: &str, intent: &Option<IntentId>, now_ms: u64) -> Step {
        let text = text.trim();
        let max = self.settings.chat_max_chars;
        if text.is_empty() {
            return Err("a chat message cannot be empty".into());
        }
        let chars = text.chars().count();
        if chars > max {
            return Err(format!("a chat message may be at most {max} characters; this one has {chars}"));
        }
        let id = format!("c{}", self.next_chat);
        self.next_chat += 1;
        let name = if name.trim().is_empty() { "someone" } else { name.trim() };
        let message = ChatMessage { id, user: user.clone(), name: name.to_owned(), text: text.to_owned(), at_ms: now_ms };
        self.commit(&Some(user.clone()), intent, Change::Chat { message })
    }

    fn react(&mut self, user: &UserId, name: &str, emoji: &str, now_ms: u64) -> Step {
        let emoji = emoji.trim();
        if emoji.is_empty() || emoji.chars().count() > 8 {
            return Err("a reaction is one emoji (at most 8 characters)".into());
        }
        let (limit, window) = (self.settings.reactions_per_window, self.settings.reaction_window_ms);
        let recent = self.reactions.entry(user.clone()).or_default();
        while recent.front().is_some_and(|t| now_ms.saturating_sub(*t) >= window) {
            recent.pop_front();
        }
        if recent.len() >= limit {
            return Err(format!("too many reactions: at most {limit} every {} s; wait a moment", window / 1000));
        }
        recent.push_back(now_ms);
        Ok(vec![Output::Reaction { user: user.clone(), name: name.to_owned(), emoji: emoji.to_owned(), at_ms: now_ms }])
    }

    fn set_playing(&mut self, playing: bool, by: &Option<UserId>, intent: &Option<IntentId>, now_ms: u64) -> Step {
        let current = self.state.playback.clone();
        if current.track.is_none() {
            return Err("the queue is empty: add a track first".into());
        }
        if current.playing == playing {
            return Ok(Vec::new());
        }
        let current_unplayable = current.track.as_ref().and_then(|t| self.state.queue.get(t)).is_some_and(|t| t.unplayable.is_some());
        if playing && current_unplayable {
            // Play starts at the next track that can be played.
            let mut out = self.advance(by, intent, now_ms);
            let next = self.state.playback.clone();
            if next.track.is_none() {
                return Err("nothing in the queue can be played".into());
            }
            out.extend(self.commit(by, intent, Change::Playback { playback: Playback { playing: true, at_ms: now_ms, ..next } })?);
            return Ok(out);
        }
        let playback = Playback { playing, position_ms: current.position_at(now_ms), at_ms: now_ms, ..current };
        self.commit(by, intent, Change::Playback { playback })
    }

    fn seek(&mut self, ms: u64, by: &Option<UserId>, intent: &Option<IntentId>, now_ms: u64) -> Step {
        let current = self.state.playback.clone();
        let track = current.track.clone().ok_or_else(|| "nothing is playing: add a track first".to_owned())?;
        if let Some(duration) = self.state.queue.get(&track).and_then(|t| t.meta.duration_ms).filter(|d| ms > *d) {
            return Err(format!("position {ms} ms is past the end of the track ({duration} ms)"));
        }
        self.commit(by, intent, Change::Playback { playback: Playback { position_ms: ms, at_ms: now_ms, ..current } })
    }

    /// Ends the current track: it leaves the queue and the one after it (or the first) starts from
    /// zero, playing if the room was playing.
    fn advance(&mut self, by: &Option<UserId>, intent: &Option<IntentId>, now_ms: u64) -> Vec<Output> {
        let playing = self.state.playback.playing;
        let mut out = Vec::new();
        if let Some((current, index)) = self.current().and_then(|c| self.state.queue.position(&c).map(|i| (c, i))) {
            self.votes.remove(&current);
            // The next playable track after this one, else the first playable one before it.
            let playable = |t: &&Track| t.id != current && t.unplayable.is_none();
            let next = self
                .state
                .queue
                .iter()
                .skip(index + 1)
                .find(playable)
                .or_else(|| self.state.queue.iter().find(playable))
                .map(|t| t.id.clone());
            // Playback moves off the track before it is deleted, so every intermediate state
            // names a track that exists.
            let playback = Playback { track: next.clone(), playing: playing && next.is_some(), position_ms: 0, at_ms: now_ms };
            out.extend(self.commit(by, intent, Change::Playback { playback }).unwrap_or_default());
            out.extend(self.commit(by, intent, Change::Queue { diff: QueueDiff::Delete { id: current } }).unwrap_or_default());
        }
        out
    }
}

fn count<I: Iterator>(it: I) -> u32 {
    u32::try_from(it.count()).unwrap_or(u32::MAX)
}

fn verb(action: &Action) -> &'static str {
    match action {
        Action::Move { .. } => "reorder the queue",
        Action::Play => "play",
        Action::Pause => "pause",
        Action::Seek { .. } => "seek",
        Action::Skip => "skip",
        Action::Kick { .. } => "kick",
        _ => "do that",
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
