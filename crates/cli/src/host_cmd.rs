//! `whatssound-cli host`: a room — the embedded hub (or an external relay), the room engine, and
//! the FILEs queued. The room's id, tokens and keys live in the data dir, so a restart keeps every
//! invite valid; its state lives in the data dir's SQLite file, so a restart keeps the room.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use whatssound_core::host::HostEvent;
use whatssound_core::player::{PlayerConfig, PlayerEvent};
use whatssound_core::{HostedRoom, HostingConfig, HostingError, Relay, RoomEvent, WsBase};
use whatssound_room::{Action, Output, TrackPatch};

use crate::args::HostArgs;
use crate::room_store;
use crate::{output, shutdown};

pub async fn run(args: HostArgs) -> anyhow::Result<()> {
    let limits = args.limits.to_limits()?;
    let output_kind = args.output.as_deref().map(crate::args::parse_output).transpose()?;
    if output_kind.is_some() && args.relay.is_some() {
        return Err(
            crate::exit::Coded::Usage("--output needs the embedded hub's media server; it does not work with --relay yet".into()).into()
        );
    }
    for file in &args.files {
        check_file(file)?;
    }
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => room_store::default_dir()?,
    };
    let relay = match args.relay {
        Some(url) => {
            let url = WsBase::from_endpoint(&url).context("--relay must be a ws:// or wss:// endpoint like ws://HOST:PORT/realtime/v1")?;
            Some(Relay { url, key: args.relay_key.clone() })
        }
        None => None,
    };
    let clock: Arc<dyn whatssound_audio::Clock> = Arc::new(whatssound_audio::MonotonicClock::new());
    let config = HostingConfig {
        data_dir: data_dir.clone(),
        room: args.room.clone(),
        name: args.name,
        avatar: args.avatar,
        listen: args.listen,
        public_url: args
            .public_url
            .as_deref()
            .map(str::parse::<WsBase>)
            .transpose()
            .context("--public-url must be the address invites name")?,
        relay,
        tunnel: args.tunnel.as_deref().map(str::parse).transpose().context("--tunnel")?,
        limits,
        new_invite: args.new_invite,
        clock: clock.clone(),
    };
    let (hosted, mut host_events) = HostedRoom::start(config).await.context("could not start the room")?;
    let host = hosted.room().clone();
    for file in &args.files {
        // A file that is not playable audio is skipped with a warning, not queued.
        match hosted.add_file(file).await {
            Ok(_) => {}
            Err(HostingError::Probe(e)) => tracing::warn!("skipped: {e}"),
            Err(e) => return Err(e).with_context(|| format!("could not queue {}", file.display())),
        }
    }
    if !args.files.is_empty() {
        host.act(Action::Play, None).await?;
    }
    // The host hears the room too, through the same player a listener uses (its clock is the
    // room's clock, so the estimate is exact).
    let (mut player, mut player_events) = match output_kind {
        Some(kind) => {
            let config = PlayerConfig {
                output: kind,
                nudge_ms: 0,
                clock: clock.clone(),
                volume: whatssound_audio::Volume::new(f32::from(args.volume) / 100.0),
                cache_dir: data_dir.join("cache"),
                ws_base: hosted.ws().to_owned(),
                token: hosted.host_token().to_owned(),
                device_trace: None,
                swarm: None,
            };
            let (mut p, e) = crate::listen_cmd::start_player(config)?;
            p.set_clock(0, 0, 0.0);
            p.on_room_event(&RoomEvent::Snapshot(Box::new(host.snapshot().await?)));
            (Some(p), Some(e))
        }
        None => (None, None),
    };
    let stop = shutdown::signal();
    output::emit(
        "ready",
        json!({
            "ws": hosted.ws(),
            "room": hosted.room_id(),
            "invite": hosted.invite(),
            "host_invite": hosted.host_invite(),
            "listener_token": hosted.listener_token(),
            "host_token": hosted.host_token(),
            "data_dir": data_dir,
        }),
    );
    tracing::info!(ws = %hosted.ws(), room = %hosted.room_id(), data_dir = %data_dir.display(), "hosting room");

    tokio::pin!(stop);
    // The host's clock is the room's, so its sync line has no clock estimate: only how its own
    // output keeps to the timeline, once a second as a listener's `sync` lines come.
    let mut sync_tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = sync_tick.tick(), if player.is_some() => {
                if let Some(p) = player.as_ref() {
                    let mut fields = crate::listen_cmd::play_stats(&p.stats());
                    fields.insert("clock_offset_ms".into(), json!(0.0));
                    output::emit("sync", serde_json::Value::Object(fields));
                }
            }
            Some(e) = async { player_events.as_mut()?.recv().await } => {
                // What the host cannot play, nobody can: mark it, and the room moves on.
                if let PlayerEvent::Unplayable { track, reason } = &e {
                    host.describe(track.clone(), TrackPatch { unplayable: Some(reason.clone()), ..TrackPatch::default() });
                }
                crate::listen_cmd::print_player_event(&e);
            }
            event = host_events.recv() => match event {
                Some(HostEvent::Error(e)) => tracing::warn!("{e}"),
                Some(HostEvent::Dropped(e)) => tracing::info!("{e}"),
                Some(HostEvent::Connection(status)) => tracing::info!(?status, "room connection"),
                Some(HostEvent::Output(out)) => {
                    if let (Some(p), Output::Diff(d)) = (player.as_mut(), out.as_ref()) {
                        p.on_room_event(&RoomEvent::Diff(d.clone()));
                    }
                    tracing::debug!(?out, "room output");
                }
                None => break,
            },
        }
    }
    if let Some(p) = player {
        p.stop().context("the audio output failed")?;
    }
    hosted.stop().await.context("the room did not stop cleanly")?;
    output::emit("room_closed", json!({}));
    output::emit("stopped", json!({}));
    Ok(())
}

fn check_file(path: &PathBuf) -> anyhow::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => anyhow::bail!("{} is not a file", path.display()),
        Err(e) => anyhow::bail!("{}: {e}", path.display()),
    }
}
