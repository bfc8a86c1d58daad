//! `whatssound-cli host`: the hub for one room, with its tokens kept in the data dir.
//!
//! The room engine, media and playback join this command as their issues land; today it serves the
//! room's channels with host/listener access and prints the invites.

use serde_json::json;
use whatssound_hub::{Access, Hub, HubConfig, RoomAccess};
use whatssound_protocol::Invite;

use crate::args::HostArgs;
use crate::hub_cmd::{bind, ws_base};
use crate::room_store::{self, RoomRecord};
use crate::{output, shutdown};

pub async fn run(args: HostArgs) -> anyhow::Result<()> {
    let limits = args.limits.to_limits()?;
    let public = args.public_url.as_deref().map(check_public_url).transpose()?;
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => room_store::default_dir()?,
    };
    let record = room_store::open_or_create(&data_dir, args.room.as_deref())?;
    let listener = bind(args.listen).await?;
    let ws = ws_base(listener.local_addr()?);
    let invite_ws = public.unwrap_or_else(|| ws.clone());
    let RoomRecord { room, host_token, listener_token, .. } = record;
    let invite = |token: &str| {
        Invite { ws: invite_ws.clone(), room: room.clone(), token: token.to_owned(), key: None, extra: Vec::new() }.to_string()
    };
    let access = Access::Room(RoomAccess { room: room.clone(), host_token: host_token.clone(), listener_token: listener_token.clone() });
    let hub = Hub::new(HubConfig { access, limits });
    output::emit(
        "ready",
        json!({
            "ws": ws,
            "room": room,
            "invite": invite(&listener_token),
            "host_invite": invite(&host_token),
            "listener_token": listener_token,
            "host_token": host_token,
            "data_dir": data_dir,
        }),
    );
    tracing::info!(%ws, %room, data_dir = %data_dir.display(), "hosting room");
    whatssound_hub::serve(listener, hub, shutdown::signal()).await?;
    output::emit("stopped", json!({}));
    Ok(())
}

fn check_public_url(url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim_end_matches('/');
    let rest = trimmed.strip_prefix("ws://").or_else(|| trimmed.strip_prefix("wss://"));
    match rest {
        Some(r) if !r.is_empty() && !r.contains('/') => Ok(trimmed.to_owned()),
        _ => anyhow::bail!("--public-url must be a ws:// or wss:// base URL with no path, like ws://my.host:7667; got {url:?}"),
    }
}
