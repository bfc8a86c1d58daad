//! A member's life as JSON lines: what `listen` prints, and what `host` prints of its own room
//! when it plays it. The room's events become lines through [`crate::events`]; this adds what
//! only the member knows (its first sound, its route, its player) and prints each chat message
//! once across reconnects.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;
use whatssound_member::member::{Member, MemberEvent};
use whatssound_member::player::{PlayStats, PlayerEvent};
use whatssound_member::{Reach, RoomEvent};
use whatssound_room::{Change, Diff};

use crate::{events, output};

/// The shortest time between two printed `sync` lines: estimates come up to ten a second (clock
/// datagrams); four lines a second is plenty to read or script against.
const SYNC_EVERY: Duration = Duration::from_millis(240);

/// What has been printed already.
#[derive(Debug)]
pub struct MemberLines {
    room: String,
    /// "Time to first sound" counts from here (on the member's clock).
    started: i64,
    /// The first frame of the current track, once its `playing` line is out.
    announced: Option<i64>,
    last_sync: Option<Instant>,
    printed_chat: HashSet<String>,
    reach: Option<Reach>,
}

impl MemberLines {
    pub fn new(room: &str, started: i64) -> Self {
        MemberLines { room: room.to_owned(), started, announced: None, last_sync: None, printed_chat: HashSet::new(), reach: None }
    }

    /// Prints what `event` says; false once the room is over for this member.
    pub fn event(&mut self, member: &Member, event: &MemberEvent) -> bool {
        match event {
            MemberEvent::Room(e) => self.room_event(member, e),
            MemberEvent::Player(e) => {
                player_event(e);
                true
            }
        }
    }

    fn room_event(&mut self, member: &Member, event: &RoomEvent) -> bool {
        let is_sync = matches!(event, RoomEvent::Sync(_));
        let quiet = is_sync && self.last_sync.is_some_and(|at| at.elapsed() < SYNC_EVERY);
        if let Some((name, mut fields)) = events::line(event).filter(|_| !quiet) {
            if let (RoomEvent::Joined { .. }, Some(obj)) = (event, fields.as_object_mut()) {
                obj.insert("room".into(), json!(self.room));
                obj.insert("user".into(), json!(member.room().user()));
            }
            if is_sync {
                self.last_sync = Some(Instant::now());
                if let (Some(obj), Some(p)) = (fields.as_object_mut(), member.player()) {
                    obj.extend(play_stats(&p.stats()));
                }
            }
            output::emit(name, fields);
        }
        // Each message once: the history after a (re-)mount's snapshot, minus what was already
        // printed, live or from an earlier snapshot.
        if let RoomEvent::Diff(Diff { change: Change::Chat { message }, .. }) = event {
            self.printed_chat.insert(message.id.clone());
        }
        for (id, fields) in events::chat_history(event) {
            if self.printed_chat.insert(id) {
                output::emit("chat", fields);
            }
        }
        *event != RoomEvent::RoomClosed
    }

    /// One `playing` line per track, when its first frame has sounded on the timeline.
    pub fn playing(&mut self, member: &Member) {
        if let Some(p) = member.player()
            && let Some(at) = p.stats().started_at
            && self.announced != Some(at)
        {
            self.announced = Some(at);
            output::emit("playing", json!({ "track": p.track(), "since_start_ms": (at - self.started) as f64 / 1e6 }));
        }
    }

    /// Which way this member reaches the host, and every change (a tunnel starts on its relay
    /// and goes direct once hole punching finds a way).
    pub fn route(&mut self, member: &Member) {
        let now = member.route().reach();
        if self.reach.replace(now) != Some(now) {
            output::emit("route", json!({ "reach": now.as_str() }));
        }
    }
}

/// The player's side of a `sync` line: how far off what sounds is, and what it took to keep it there.
fn play_stats(s: &PlayStats) -> serde_json::Map<String, serde_json::Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("error_ms".into(), json!(s.error_ns.map(|e| (e as f64 / 1e3).round() / 1e3)));
    fields.insert("jumps".into(), json!(s.jumps));
    fields.insert("trimmed_frames".into(), json!(s.trimmed_frames));
    fields.insert("underruns".into(), json!(s.underruns));
    fields.insert("device_errors".into(), json!(s.device_errors));
    if let Some(ppm) = s.device_rate_ppm {
        fields.insert("device_ppm".into(), json!(ppm));
    }
    if let Some(ns) = s.device_latency_ns {
        fields.insert("device_latency_ms".into(), json!((ns as f64 / 1e3).round() / 1e3));
    }
    fields
}

fn player_event(e: &PlayerEvent) {
    match e {
        // Progress is printed when a download completes; a UI shows the running figure.
        PlayerEvent::Buffering { track, progress, buffered_ms } if progress.total == Some(progress.bytes) => {
            output::emit(
                "buffering",
                json!({"track": track, "bytes": progress.bytes, "total": progress.total, "buffered_ms": buffered_ms}),
            );
        }
        PlayerEvent::Buffering { .. } => {}
        PlayerEvent::Ready { track, rate } => output::emit("track_ready", json!({"track": track, "rate": rate})),
        PlayerEvent::Unplayable { track, reason } => output::emit("unplayable", json!({"track": track, "reason": reason})),
        PlayerEvent::LinkTooThin { track, link_kbps, needed_kbps, opus_kbps } => output::emit(
            "quality",
            json!({"format": "opus", "kbps": opus_kbps, "track": track, "link_kbps": link_kbps, "needed_kbps": needed_kbps}),
        ),
    }
}
