//! `whatssound-cli listen`: join a room, print what happens, and (with `--output`) play it in sync.

use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use whatssound_audio::{Clock, MonotonicClock, SkewedClock};
use whatssound_core::player::{Player, PlayerConfig, PlayerEvent};
use whatssound_core::{ListenerConfig, ListenerRoom, RoomEvent};
use whatssound_protocol::Invite;

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
    room_store::save_name(&data_dir, &args.name);
    let config =
        ListenerConfig { invite: invite.clone(), name: args.name, data_dir: data_dir.clone(), track_presence: true, clock: clock.clone() };
    let (room, mut events) = ListenerRoom::join(config).await.context("could not join the room")?;
    let (mut player, mut player_events) = match output_kind {
        Some(kind) => {
            let config = PlayerConfig {
                output: kind,
                nudge_ms: args.offset_ms,
                clock,
                cache_dir: data_dir.join("cache"),
                ws_base: invite.ws.clone(),
                token: invite.token.clone(),
            };
            let (p, e) = Player::start(config).context("could not start the audio output")?;
            (Some(p), Some(e))
        }
        None => (None, None),
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => {
                room.close();
                break;
            }
            Some(e) = async { player_events.as_mut()?.recv().await } => print_player_event(&e),
            event = events.recv() => {
                let Some(event) = event else { break };
                if let Some(p) = player.as_mut() {
                    p.on_room_event(&event);
                }
                if let Some((name, mut fields)) = events::line(&event) {
                    if let (RoomEvent::Joined { .. }, Some(obj)) = (&event, fields.as_object_mut()) {
                        obj.insert("room".into(), json!(invite.room));
                        obj.insert("user".into(), json!(room.user()));
                    }
                    output::emit(name, fields);
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
    Ok(())
}

pub fn print_player_event(e: &PlayerEvent) {
    match e {
        // Progress is printed when a download completes; a UI shows the running figure.
        PlayerEvent::Buffering { track, progress } if progress.total == Some(progress.bytes) => {
            output::emit("buffering", json!({"track": track, "bytes": progress.bytes, "total": progress.total}));
        }
        PlayerEvent::Buffering { .. } => {}
        PlayerEvent::Ready { track, rate } => output::emit("track_ready", json!({"track": track, "rate": rate})),
        PlayerEvent::Unplayable { track, reason } => output::emit("unplayable", json!({"track": track, "reason": reason})),
    }
}
