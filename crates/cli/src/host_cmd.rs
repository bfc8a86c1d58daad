//! `whatssound-cli host`: a room — the embedded hub (or an external relay), the room engine, and
//! the FILEs queued. The room's id, tokens and keys live in the data dir, so a restart keeps every
//! invite valid; its state lives in the data dir's SQLite file, so a restart keeps the room.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use whatssound_core::WsBase;
use whatssound_host::host::HostEvent;
use whatssound_host::{HostedRoom, HostingConfig, HostingError, Relay, Venue};
use whatssound_member::member::MemberConfig;
use whatssound_member::{ListenerConfig, Route};
use whatssound_room::Action;

use crate::args::HostArgs;
use crate::member_lines::MemberLines;
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
    let clock: Arc<dyn whatssound_clock::Clock> = Arc::new(whatssound_clock::MonotonicClock::new());
    let (name, avatar) = (args.name, args.avatar);
    let config = HostingConfig {
        data_dir: data_dir.clone(),
        room: args.room.clone(),
        name: name.clone(),
        avatar: avatar.clone(),
        venue: Venue {
            listen: args.listen,
            public_url: args
                .public_url
                .as_deref()
                .map(str::parse::<WsBase>)
                .transpose()
                .context("--public-url must be the address invites name")?,
            relay,
            tunnel: args.tunnel.as_deref().map(str::parse).transpose().context("--tunnel")?,
        },
        limits,
        new_invite: args.new_invite,
        clock: clock.clone(),
    };
    let (hosted, mut host_events) = HostedRoom::start(config).await.context("could not start the room")?;
    let host = hosted.room().clone();
    let prepared = async {
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
        // The host hears its room as the desktop app's host does: as a member of it, by an invite
        // with the host's key, marking what it cannot play (then nobody can, and the room moves on).
        anyhow::Ok(match output_kind {
            Some(kind) => {
                let own = hosted.own_invite();
                let route = Route::open(&own).await.context("could not join the room to play it")?;
                let listener = ListenerConfig {
                    invite: own,
                    route,
                    name: name.clone(),
                    avatar: avatar.clone(),
                    data_dir: data_dir.join("member"),
                    track_presence: false,
                    lan_clock: false,
                    clock: clock.clone(),
                };
                let config = MemberConfig {
                    output: Some(kind),
                    volume: whatssound_audio::Volume::new(f32::from(args.volume) / 100.0),
                    cache_dir: data_dir.join("cache"),
                    device_trace: crate::listen_cmd::device_trace(),
                    ..MemberConfig::hosting(listener, Arc::new(host.clone()))
                };
                Some(crate::listen_cmd::join(config).await?)
            }
            None => None,
        })
    }
    .await;
    let mut member = match prepared {
        Ok(member) => member,
        Err(e) => {
            // Nothing was announced yet (no invite printed): the room goes as it came.
            if let Err(stop) = hosted.stop().await {
                tracing::warn!("the room did not stop cleanly: {stop}");
            }
            return Err(e);
        }
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
    let mut lines = MemberLines::new(hosted.room_id(), clock.now());
    let mut watch = tokio::time::interval(std::time::Duration::from_millis(50));
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = watch.tick(), if member.is_some() => {
                if let Some(m) = &member {
                    lines.playing(m);
                }
            }
            Some(e) = async { member.as_mut()?.next().await } => {
                if let Some(m) = &member {
                    lines.event(m, &e);
                }
            }
            event = host_events.recv() => match event {
                Some(HostEvent::Error(e)) => tracing::warn!("{e}"),
                Some(HostEvent::Dropped(e)) => tracing::info!("{e}"),
                Some(HostEvent::Connection(status)) => tracing::info!(?status, "room connection"),
                Some(HostEvent::Output(out)) => tracing::debug!(?out, "room output"),
                None => break,
            },
        }
    }
    if let Some(m) = member {
        m.leave().await.context("the audio output failed")?;
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
