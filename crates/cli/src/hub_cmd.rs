//! `whatssound-cli hub`: the bare hub as a self-hosted relay.

use std::net::SocketAddr;

use anyhow::Context;
use serde_json::json;
use tokio::net::TcpListener;
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
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| match addr.port() {
        0 => format!("could not listen on {addr}"),
        _ => format!("could not listen on {addr} (is something else using the port? pick another --listen, or port 0 for a free one)"),
    })
}

/// The URL a client on this machine can connect to: an unspecified address (0.0.0.0, ::) is
/// reachable through loopback.
pub fn ws_base(local: SocketAddr) -> String {
    let ip = local.ip();
    let host = match ip {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".to_owned(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    };
    format!("ws://{host}:{}", local.port())
}

#[cfg(test)]
mod tests {
    use super::ws_base;

    #[test]
    fn unspecified_addresses_become_loopback() {
        assert_eq!(ws_base("0.0.0.0:5".parse().unwrap()), "ws://127.0.0.1:5");
        assert_eq!(ws_base("[::]:5".parse().unwrap()), "ws://[::1]:5");
        assert_eq!(ws_base("10.0.0.2:5".parse().unwrap()), "ws://10.0.0.2:5");
    }
}
