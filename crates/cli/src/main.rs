//! `whatssound-cli`: WhatsSound without a window — a bare relay hub, or a room host.
//!
//! stdout carries only JSON lines (one object per line, each with an `"event"` field) so scripts
//! and tests can follow along; logs go to stderr. Exit codes: 0 success, 1 failure (one readable
//! line on stderr), 2 bad usage (clap), 3 timed out.

mod args;
mod events;
mod host_cmd;
mod hub_cmd;
mod listen_cmd;
mod member_lines;
mod output;
mod room_store;
mod send_cmd;
mod shutdown;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

/// Exit codes scripts rely on (README, "Run a relay"): 0 success, 1 failure
/// with one readable line on stderr, 2 bad usage, 3 timed out.
pub(crate) mod exit {
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const TIMED_OUT: u8 = 3;

    /// An error that maps to an exit code other than 1.
    #[derive(Debug, thiserror::Error)]
    pub enum Coded {
        #[error("{0}")]
        Usage(String),
        #[error("{0}")]
        TimedOut(String),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::anyhow!("could not start the async runtime: {e}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Hub(args) => hub_cmd::run(args).await,
            Command::Host(args) => host_cmd::run(args).await,
            Command::Listen(args) => listen_cmd::run(args).await,
            Command::Send(args) => send_cmd::run(args).await,
            Command::Devices => list_devices(),
            Command::P2pRelay(args) => p2p_relay(args).await,
        }
    });
    // Work still in flight (a DNS lookup for a URL track can block for many seconds) must not
    // keep a finished process alive: dropping the runtime would wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// A relay server for tunnels until Ctrl-C or SIGTERM; its URL on the `ready` line.
async fn p2p_relay(args: args::P2pRelayArgs) -> anyhow::Result<()> {
    let relay = whatssound_tunnel::relay_server::RelayServer::spawn(args.listen).await?;
    // On every interface, the URL to give is this machine's network address (as invites name it).
    let url = whatssound_host::hosting::reach_base(relay.local_addr()).as_str().replacen("ws://", "http://", 1);
    output::emit("ready", serde_json::json!({ "url": url }));
    shutdown::signal().await;
    relay.stop().await;
    output::emit("stopped", serde_json::json!({}));
    Ok(())
}

/// One `device` line per output device.
fn list_devices() -> anyhow::Result<()> {
    let default = whatssound_audio::device_names().map_err(|e| anyhow::anyhow!("{e}; use --output null to play without one"))?;
    for name in default {
        output::emit("device", serde_json::json!({ "name": name }));
    }
    Ok(())
}

fn fail(e: &anyhow::Error) -> ExitCode {
    // One line: the chain of causes joined, never a backtrace or a multi-line dump.
    let line = format!("{e:#}").replace('\n', " ");
    eprintln!("whatssound-cli: error: {line}");
    match e.downcast_ref::<exit::Coded>() {
        Some(exit::Coded::Usage(_)) => ExitCode::from(exit::USAGE),
        Some(exit::Coded::TimedOut(_)) => ExitCode::from(exit::TIMED_OUT),
        None => ExitCode::from(exit::FAILURE),
    }
}

fn init_logs(verbose: u8) {
    let default = match verbose {
        0 => "warn,whatssound=info,whatssound_cli=info",
        1 => "info,whatssound_hub=debug,whatssound_cli=debug",
        _ => "debug",
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("WHATSSOUND_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
