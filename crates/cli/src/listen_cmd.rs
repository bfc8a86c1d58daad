//! `whatssound-cli listen`: join a room, print what happens, and (with `--output`) play it in sync.

use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;
use whatssound_audio::{Clock, MonotonicClock, SkewedClock, Volume};
use whatssound_core::player::{OutputKind, PlayStats, Player, PlayerConfig, PlayerEvent};
use whatssound_core::{ListenerConfig, ListenerRoom, RoomEvent, Route};
use whatssound_protocol::Invite;
use whatssound_room::{Change, Diff};

use crate::args::ListenArgs;
use crate::exit::Coded;
use crate::{events, output, room_store, shutdown};

pub async fn run(args: ListenArgs) -> anyhow::Result<()> {
    let invite: Invite = args.invite.parse().context("bad invite")?;
    let output_kind = args.output.as_deref().map(crate::args::parse_output).transpose()?;
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => room_store::listener_dir(&args.name)?,
    };
    let stop = shutdown::signal();
    if !(args.debug_clock_drift_ppm.is_finite() && args.debug_clock_drift_ppm.abs() <= 1000.0) {
        return Err(Coded::Usage("--debug-clock-drift-ppm must be within ±1000".into()).into());
    }
    // The debug flags skew and drift this listener's own clock, so a sync test on one machine proves
    // the clock sync instead of inheriting the shared system clock.
    let clock: Arc<dyn Clock> = Arc::new(SkewedClock {
        inner: MonotonicClock::new(),
        skew: args.debug_clock_skew_ms.saturating_mul(1_000_000),
        drift_ppm: args.debug_clock_drift_ppm,
    });
    // "Time to first sound" counts from here: the process is up and about to join.
    let started = clock.now();
    room_store::save_name(&data_dir, &args.name);
    let route = Route::open(&invite).await.context("could not join the room")?;
    // A member that plays passes tracks on to the others (through a tunnel; see docs/p2p.md).
    let route = if output_kind.is_some() { route.sharing(&data_dir.join("cache").join("swarm")).await } else { route };
    let config = ListenerConfig {
        invite: invite.clone(),
        route: route.clone(),
        name: args.name,
        avatar: args.avatar,
        data_dir: data_dir.clone(),
        track_presence: true,
        lan_clock: !args.no_lan_clock,
        clock: clock.clone(),
    };
    let (room, mut events) = ListenerRoom::join(config).await.context("could not join the room")?;
    let (mut player, mut player_events) = match output_kind {
        Some(kind) => {
            let config = PlayerConfig {
                output: kind,
                nudge_ms: args.offset_ms,
                clock,
                volume: Volume::new(f32::from(args.volume) / 100.0),
                cache_dir: data_dir.join("cache"),
                ws_base: route.ws().to_owned(),
                token: invite.token.clone(),
                device_trace: None,
                swarm: route.swarm().cloned(),
            };
            let (p, e) = start_player(config)?;
            (Some(p), Some(e))
        }
        None => (None, None),
    };
    tokio::pin!(stop);
    let mut watch = tokio::time::interval(std::time::Duration::from_millis(50));
    let mut announced = None;
    let mut last_sync = None;
    let mut printed_chat = std::collections::HashSet::new();
    let mut reach = None;
    let mut route_watch = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        tokio::select! {
            () = &mut stop => {
                room.close();
                break;
            }
            _ = watch.tick(), if player.is_some() => {
                // One `playing` line per track, when its first frame has sounded on the timeline.
                if let Some(p) = player.as_ref()
                    && let Some(at) = p.stats().started_at
                    && announced != Some(at)
                {
                    announced = Some(at);
                    output::emit("playing", json!({ "track": p.track(), "since_start_ms": (at - started) as f64 / 1e6 }));
                }
            }
            // Which way this listener reaches the host, and every change (a tunnel starts on its
            // relay and goes direct once hole punching finds a way).
            _ = route_watch.tick() => {
                let now = route.reach();
                if reach.replace(now) != Some(now) {
                    output::emit("route", json!({ "reach": now.as_str() }));
                }
            }
            Some(e) = async { player_events.as_mut()?.recv().await } => print_player_event(&e),
            event = events.recv() => {
                let Some(event) = event else { break };
                if let Some(p) = player.as_mut() {
                    p.on_room_event(&event);
                }
                // Estimates come up to ten a second (clock datagrams); a line four times a second
                // is plenty to read or script against.
                let quiet_sync = matches!(event, RoomEvent::Sync(_)) && last_sync.is_some_and(|at: std::time::Instant| at.elapsed() < SYNC_EVERY);
                if let Some((name, mut fields)) = events::line(&event).filter(|_| !quiet_sync) {
                    if matches!(event, RoomEvent::Sync(_)) {
                        last_sync = Some(std::time::Instant::now());
                    }
                    if let (RoomEvent::Joined { .. }, Some(obj)) = (&event, fields.as_object_mut()) {
                        obj.insert("room".into(), json!(invite.room));
                        obj.insert("user".into(), json!(room.user()));
                    }
                    if let (RoomEvent::Sync(_), Some(obj), Some(p)) = (&event, fields.as_object_mut(), player.as_ref()) {
                        obj.extend(play_stats(&p.stats()));
                    }
                    output::emit(name, fields);
                }
                // Each message once: the history after a (re-)mount's snapshot, minus what was
                // already printed, live or from an earlier snapshot.
                if let RoomEvent::Diff(Diff { change: Change::Chat { message }, .. }) = &event {
                    printed_chat.insert(message.id.clone());
                }
                for (id, fields) in events::chat_history(&event) {
                    if printed_chat.insert(id) {
                        output::emit("chat", fields);
                    }
                }
                if event == RoomEvent::RoomClosed {
                    break;
                }
            }
        }
    }
    if let Some(p) = player {
        p.stop().context("the audio output failed")?;
    }
    route.close().await;
    Ok(())
}

/// The shortest time between two printed `sync` lines.
const SYNC_EVERY: std::time::Duration = std::time::Duration::from_millis(240);

/// Starts the audio output; a missing sound device gets the way around it.
/// `WHATSSOUND_DEVICE_TRACE=FILE` logs every sound-device callback (`called_at latency frames
/// sounds_at played`), for timing studies such as `TRACE=1 bench/audio-sync/run.sh`.
pub fn start_player(config: PlayerConfig) -> anyhow::Result<(Player, UnboundedReceiver<PlayerEvent>)> {
    let device_trace = std::env::var_os("WHATSSOUND_DEVICE_TRACE").filter(|p| !p.is_empty()).map(std::path::PathBuf::from);
    let config = PlayerConfig { device_trace: config.device_trace.or(device_trace), ..config };
    let device = matches!(config.output, OutputKind::Device(_));
    Player::start(config).map_err(|e| match device {
        true => anyhow::anyhow!("could not start the audio output: {e}; use --output null to play without a sound device"),
        false => anyhow::anyhow!("could not start the audio output: {e}"),
    })
}

/// The player's side of a `sync` line: how far off what sounds is, and what it took to keep it there.
pub fn play_stats(s: &PlayStats) -> serde_json::Map<String, serde_json::Value> {
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

pub fn print_player_event(e: &PlayerEvent) {
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
    }
}
