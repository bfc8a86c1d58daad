//! `whatssound-cli host`: a room — the embedded hub (or an external relay), the room engine, and
//! the FILEs queued. The room's id, tokens and keys live in the data dir, so a restart keeps every
//! invite valid; its state lives in the data dir's SQLite file, so a restart keeps the room.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use tokio::sync::oneshot;
use whatssound_core::host::HostEvent;
use whatssound_core::media::{self, MediaLibrary};
use whatssound_core::player::{PlayerConfig, PlayerEvent};
use whatssound_core::store::HostStore;
use whatssound_core::{HostConfig, HostRoom, RoomEvent, identity};
use whatssound_hub::{Access, Hub, HubConfig, RoomAccess};
use whatssound_protocol::Invite;
use whatssound_room::{Action, Output, Position, RoomSettings, TrackMeta, TrackPatch, TrackSource};

use crate::args::HostArgs;
use crate::hub_cmd::{bind, ws_base};
use crate::room_store::{self, RoomRecord};
use crate::{output, shutdown};

pub async fn run(args: HostArgs) -> anyhow::Result<()> {
    let limits = args.limits.to_limits()?;
    let output_kind = args.output.as_deref().map(crate::args::parse_output).transpose()?;
    if output_kind.is_some() && args.relay.is_some() {
        return Err(
            crate::exit::Coded::Usage("--output needs the embedded hub's media server; it does not work with --relay yet".into()).into()
        );
    }
    let public = args.public_url.as_deref().map(check_ws_base).transpose()?;
    for file in &args.files {
        check_file(file)?;
    }
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => room_store::default_dir()?,
    };
    let mut record = room_store::open_or_create(&data_dir, args.room.as_deref())?;
    if args.new_invite {
        room_store::rotate_listener_token(&data_dir, &mut record)?;
    }
    let RoomRecord { room, host_token, listener_token, host_key, admin_key, .. } = record;
    let host_identity = identity::from_hex(&host_key).context("the room's host key is unreadable")?;
    let admin = identity::from_hex(&admin_key).context("the room's admin key is unreadable")?;

    // Where the room's channels live: the embedded hub, or a relay.
    let (ws, endpoint, token, invite_tokens, hub) = match &args.relay {
        None => {
            let listener = bind(args.listen).await?;
            let ws = ws_base(listener.local_addr()?);
            let access =
                Access::Room(RoomAccess { room: room.clone(), host_token: host_token.clone(), listener_token: listener_token.clone() });
            let hub = Hub::new(HubConfig { access, limits });
            // The host's files are served on the same port, by track id, to the room's token holders.
            let media = HostStore::open(&data_dir).context("could not open the room's store for media")?;
            let media = media::router(Arc::new(MediaLibrary::new(
                media,
                vec![listener_token.clone(), host_token.clone()],
                data_dir.join("uploads"),
            )));
            let (stop, stopped) = oneshot::channel::<()>();
            let serving = tokio::spawn(whatssound_hub::serve_with(listener, hub, media, async move {
                let _ = stopped.await;
            }));
            let endpoint = format!("{ws}/realtime/v1");
            (ws, endpoint, Some(host_token.clone()), (listener_token, host_token), Some((stop, serving)))
        }
        Some(relay) => {
            let base = check_ws_base(relay.trim_end_matches('/').trim_end_matches("/realtime/v1"))
                .context("--relay must be a ws:// or wss:// endpoint like ws://HOST:PORT/realtime/v1")?;
            // A relay cannot tell roles apart: everyone presents its key, and authority comes from
            // the host's signatures instead.
            let key = args.relay_key.clone().unwrap_or_else(|| "-".into());
            (base.clone(), format!("{base}/realtime/v1"), args.relay_key.clone(), (key.clone(), key), None)
        }
    };
    let invite_ws = public.unwrap_or_else(|| ws.clone());
    let key = host_identity.user_id().0;
    let invite = |token: &str, admin: Option<&str>| {
        let extra = admin.map(|a| vec![("admin".to_owned(), a.to_owned())]).unwrap_or_default();
        Invite { ws: invite_ws.clone(), room: room.clone(), token: token.to_owned(), key: Some(key.clone()), extra }.to_string()
    };
    let clock: Arc<dyn whatssound_audio::Clock> = Arc::new(whatssound_audio::MonotonicClock::new());
    let config = HostConfig {
        room: room.clone(),
        identity: host_identity,
        name: args.name,
        endpoint,
        token,
        data_dir: data_dir.clone(),
        settings: RoomSettings::default(),
        cohosts: vec![admin.user_id()],
        clock: clock.clone(),
    };
    let (host, mut host_events) = HostRoom::start(config).await.context("could not start the room")?;
    for file in &args.files {
        queue_file(&host, file).await?;
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
                ws_base: ws.clone(),
                token: invite_tokens.1.clone(),
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
            "ws": ws,
            "room": room,
            "invite": invite(&invite_tokens.0, None),
            "host_invite": invite(&invite_tokens.1, Some(&admin_key)),
            "listener_token": invite_tokens.0,
            "host_token": invite_tokens.1,
            "data_dir": data_dir,
        }),
    );
    tracing::info!(%ws, %room, data_dir = %data_dir.display(), "hosting room");

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
    host.close().await;
    if let Some(p) = player {
        p.stop().context("the audio output failed")?;
    }
    output::emit("room_closed", json!({}));
    if let Some((stop, serving)) = hub {
        let _ = stop.send(());
        serving.await.context("the hub task failed")??;
    }
    output::emit("stopped", json!({}));
    Ok(())
}

/// Queues one of the host's files with its tags. Only its name travels; the path stays in the
/// host's store. A file that is not playable audio is skipped with a warning, not queued.
async fn queue_file(host: &HostRoom, path: &Path) -> anyhow::Result<()> {
    let info = match whatssound_audio::probe_file(path) {
        Ok(info) => info,
        Err(e) => {
            tracing::warn!("skipped: {e}");
            return Ok(());
        }
    };
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| file_name.clone());
    let absolute = std::fs::canonicalize(path).with_context(|| format!("{}", path.display()))?;
    let track = TrackMeta {
        title: info.title.unwrap_or(stem),
        artist: info.artist,
        album: info.album,
        duration_ms: info.duration_ms,
        source: TrackSource::HostFile { file_name },
    };
    let outputs = host.act(Action::Enqueue { track, position: Position::Append }, Some(absolute)).await?;
    if let Some(Output::Refused { reason, .. }) = outputs.first() {
        anyhow::bail!("could not queue {}: {reason}", path.display());
    }
    Ok(())
}

fn check_file(path: &PathBuf) -> anyhow::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => anyhow::bail!("{} is not a file", path.display()),
        Err(e) => anyhow::bail!("{}: {e}", path.display()),
    }
}

fn check_ws_base(url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim_end_matches('/');
    let rest = trimmed.strip_prefix("ws://").or_else(|| trimmed.strip_prefix("wss://"));
    match rest {
        Some(r) if !r.is_empty() && !r.contains('/') => Ok(trimmed.to_owned()),
        _ => anyhow::bail!("--public-url must be a ws:// or wss:// base URL with no path, like ws://my.host:7667; got {url:?}"),
    }
}
