//! Room events as the JSON lines `listen` prints. Scripts and tests rely on these names and fields:
//! `joined`, `snapshot`, `queue_diff`, `chat`, `presence`, `vote`, `reaction`, `playback`,
//! `connection`, `sync`, `room_closed` and `error` keep their shape; new fields and events are free.

use serde_json::{Value, json};
use whatssound_client::ConnectionStatus;
use whatssound_core::PresenceMeta;
use whatssound_member::RoomEvent;
use whatssound_room::{Change, ChatMessage, Diff};

/// The line for one event, or `None` for events `listen` does not print.
pub fn line(event: &RoomEvent) -> Option<(&'static str, Value)> {
    Some(match event {
        RoomEvent::Connection(status) => ("connection", connection(status)),
        RoomEvent::Joined { seq } => ("joined", json!({ "seq": seq })),
        RoomEvent::Snapshot(s) => (
            "snapshot",
            json!({
                "seq": s.state.seq,
                "queue": s.state.queue.iter().map(|t| json!({"id": t.id, "title": t.meta.title})).collect::<Vec<_>>(),
                "chat": s.state.chat.len(),
                "playback": s.state.playback,
                "host_now_ms": s.host_now_ms,
            }),
        ),
        RoomEvent::Diff(d) => return diff(d),
        RoomEvent::Presence { joins, leaves } => ("presence", json!({ "joins": people(joins), "leaves": people(leaves) })),
        RoomEvent::Reaction(r) => ("reaction", json!({ "user": r.user, "name": r.name, "emoji": r.emoji })),
        RoomEvent::Activity { user, activity } => ("activity", json!({ "user": user, "activity": activity })),
        RoomEvent::Confirmed { intent, seq, .. } => ("confirmed", json!({ "intent": intent, "seq": seq })),
        RoomEvent::Refused { intent, reason } => ("refused", json!({ "intent": intent, "reason": reason })),
        RoomEvent::RoomClosed => ("room_closed", json!({})),
        RoomEvent::Sync(s) => (
            "sync",
            json!({
                "clock_offset_ms": s.clock_offset_ns as f64 / 1e6,
                "local_ms": s.local_ns as f64 / 1e6,
                "round_trip_ms": s.round_trip_ns as f64 / 1e6,
                "uncertainty_ms": s.uncertainty_ns as f64 / 1e6,
                "clock_path": s.path.as_str(),
                "reach": s.reach.as_str(),
                "drift_ppm": (s.drift_ppm * 10.0).round() / 10.0,
                "samples": s.samples,
            }),
        ),
        RoomEvent::Error(message) => ("error", json!({ "message": message })),
    })
}

/// The chat a snapshot carries, oldest first, as `chat` lines marked `"history": true`, with
/// each message's id: what was said before this listener came (or while it was away), which
/// the snapshot line itself only counts.
pub fn chat_history(event: &RoomEvent) -> Vec<(String, Value)> {
    let RoomEvent::Snapshot(s) = event else { return Vec::new() };
    s.state
        .chat
        .iter()
        .map(|m| {
            let mut fields = chat(m);
            if let Some(obj) = fields.as_object_mut() {
                obj.insert("at_ms".into(), json!(m.at_ms));
                obj.insert("history".into(), json!(true));
            }
            (m.id.clone(), fields)
        })
        .collect()
}

/// A chat line's fields, live or from history.
fn chat(m: &ChatMessage) -> Value {
    json!({ "id": m.id, "user": m.user, "name": m.name, "text": m.text })
}

fn connection(status: &ConnectionStatus) -> Value {
    match status {
        ConnectionStatus::Connecting => json!({"status": "connecting"}),
        ConnectionStatus::Connected => json!({"status": "connected"}),
        ConnectionStatus::Reconnecting { attempt, in_ms } => json!({"status": "reconnecting", "attempt": attempt, "next_in_ms": in_ms}),
        ConnectionStatus::Offline => json!({"status": "offline"}),
    }
}

fn diff(d: &Diff) -> Option<(&'static str, Value)> {
    let mut fields = match &d.change {
        Change::Queue { diff } => ("queue_diff", json!({ "diff": diff })),
        Change::Chat { message } => ("chat", chat(message)),
        Change::Tally { track, up, down } => ("vote", json!({ "track": track, "up": up, "down": down })),
        Change::Playback { playback } => ("playback", json!(playback)),
        Change::Banned { user } => ("banned", json!({ "user": user })),
        // `room_closed` is printed for the RoomClosed event that follows.
        Change::Closed => return None,
        Change::Reopened => ("room_reopened", json!({})),
    };
    if let Some(obj) = fields.1.as_object_mut() {
        obj.insert("seq".into(), json!(d.seq));
        if let Some(by) = &d.by {
            obj.insert("by".into(), json!(by));
        }
    }
    Some(fields)
}

fn people(metas: &[PresenceMeta]) -> Vec<Value> {
    metas.iter().map(|m| json!({"user_id": m.user_id, "username": m.username, "role": m.role, "avatar_url": m.avatar_url})).collect()
}
