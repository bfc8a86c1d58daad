//! `whatssound-cli listen`: join a room, print what happens, and (with `--output`) play it in sync.

use std::sync::Arc;

use anyhow::Context;
use whatssound_audio::{Clock, MonotonicClock, SkewedClock, Volume};
use whatssound_core::CoreError;
use whatssound_member::member::{Member, MemberConfig};
use whatssound_member::player::OutputKind;
use whatssound_member::{ListenerConfig, Route};
use whatssound_protocol::Invite;

use crate::args::ListenArgs;
use crate::exit::Coded;
use crate::member_lines::MemberLines;
use crate::{room_store, shutdown};

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
    let listener = ListenerConfig {
        invite: invite.clone(),
        route: route.clone(),
        name: args.name,
        avatar: args.avatar,
        data_dir: data_dir.clone(),
        track_presence: true,
        lan_clock: !args.no_lan_clock,
        clock: clock.clone(),
    };
    let config = MemberConfig {
        output: output_kind,
        volume: Volume::new(f32::from(args.volume) / 100.0),
        nudge_ms: args.offset_ms,
        device_trace: device_trace(),
        quality: args.quality,
        ..MemberConfig::new(listener)
    };
    let mut member = join(config).await?;
    tokio::pin!(stop);
    let mut lines = MemberLines::new(&invite.room, started);
    let mut watch = tokio::time::interval(std::time::Duration::from_millis(50));
    let mut route_watch = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = watch.tick() => lines.playing(&member),
            _ = route_watch.tick() => lines.route(&member),
            event = member.next() => match event {
                Some(event) if lines.event(&member, &event) => {}
                _ => break,
            },
        }
    }
    member.leave().await.context("the audio output failed")
}

/// Joins as `config` says; a missing sound device gets the way around it.
pub async fn join(config: MemberConfig) -> anyhow::Result<Member> {
    let device = matches!(config.output, Some(OutputKind::Device(_)));
    Member::join(config).await.map_err(|e| match e {
        CoreError::Output(e) if device => {
            anyhow::anyhow!("could not start the audio output: {e}; use --output null to play without a sound device")
        }
        e @ CoreError::Output(_) => e.into(),
        e => anyhow::Error::new(e).context("could not join the room"),
    })
}

/// `WHATSSOUND_DEVICE_TRACE=FILE` logs every sound-device callback (`called_at latency frames
/// sounds_at played`), for timing studies such as `TRACE=1 bench/audio-sync/run.sh`.
pub fn device_trace() -> Option<std::path::PathBuf> {
    std::env::var_os("WHATSSOUND_DEVICE_TRACE").filter(|p| !p.is_empty()).map(std::path::PathBuf::from)
}
