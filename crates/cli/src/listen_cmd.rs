//! `whatssound-cli listen`: join a room and print what happens.

use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use whatssound_audio::{MonotonicClock, SkewedClock};
use whatssound_core::{ListenerConfig, ListenerRoom, RoomEvent};
use whatssound_protocol::Invite;

use crate::args::ListenArgs;
use crate::{events, output, room_store, shutdown};

pub async fn run(args: ListenArgs) -> anyhow::Result<()> {
    let invite: Invite = args.invite.parse().context("bad invite")?;
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => room_store::listener_dir(&args.name)?,
    };
    let stop = shutdown::signal();
    if !(args.debug_clock_drift_ppm.is_finite() && args.debug_clock_drift_ppm.abs() <= 1000.0) {
        return Err(crate::exit::Coded::Usage("--debug-clock-drift-ppm must be within ±1000".into()).into());
    }
    // The debug flags skew and drift this listener's own clock, so a sync test on one machine proves
    // the clock sync instead of inheriting the shared system clock.
    let clock = Arc::new(SkewedClock {
        inner: MonotonicClock::new(),
        skew: args.debug_clock_skew_ms.saturating_mul(1_000_000),
        drift_ppm: args.debug_clock_drift_ppm,
    });
    let config = ListenerConfig { invite: invite.clone(), name: args.name, data_dir, track_presence: true, clock };
    let (room, mut events) = ListenerRoom::join(config).await.context("could not join the room")?;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => {
                room.close();
                break;
            }
            event = events.recv() => {
                let Some(event) = event else { break };
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
    Ok(())
}
