//! `whatssound-cli hub`: the bare hub as a self-hosted relay.

use std::net::SocketAddr;

use anyhow::Context;
use serde_json::json;
use tokio::net::TcpListener;
use whatssound_host::hosting::ws_base;
use whatssound_hub::{Access, Hub, HubConfig};

use crate::args::HubArgs;
use crate::{output, shutdown};

pub async fn run(args: HubArgs) -> anyhow::Result<()> {
    let limits = args.limits.to_limits()?;
    let access = match args.token {
        Some(t) if t.is_empty() => anyhow::bail!("--token must not be empty"),
        Some(t) => Access::Token(t),
        None => Access::Open,
    };
    let listener = bind(args.listen).await?;
    let ws = ws_base(listener.local_addr()?);
    let hub = Hub::new(HubConfig { access, limits });
    let stop = shutdown::signal();
    output::emit("ready", json!({ "ws": ws }));
    tracing::info!(%ws, "hub ready: phoenix.js at {ws}/socket/websocket, realtime-js at {ws}/realtime/v1");
    whatssound_hub::serve(listener, hub, stop).await.context("hub stopped with an error")?;
    output::emit("stopped", json!({}));
    Ok(())
}

/// Binds with an error that says what to do about the usual causes.
async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| match addr.port() {
        0 => format!("could not listen on {addr}"),
        _ => format!("could not listen on {addr} (is something else using the port? pick another --listen, or port 0 for a free one)"),
    })
}
