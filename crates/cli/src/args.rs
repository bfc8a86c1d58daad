//! Command-line arguments. Shared groups are flattened so every command spells them the same way.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use whatssound_hub::Limits;
use whatssound_member::player::OutputKind;

/// The port a host listens on when `--listen` is not given.
pub const DEFAULT_PORT: u16 = 7667;

#[derive(Debug, Parser)]
#[command(name = "whatssound-cli", version, about = "WhatsSound without a window: run a relay hub or host a listening room")]
pub struct Cli {
    /// More logging on stderr (-v, -vv); WHATSSOUND_LOG=<filter> overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bare hub as a self-hosted relay (any realtime: topic).
    Hub(HubArgs),
    /// Host a room: the hub (or an external relay), the room engine, and the FILEs queued.
    Host(HostArgs),
    /// Join a room with an invite; print what happens as JSON lines.
    Listen(ListenArgs),
    /// Do one thing in a room (chat, enqueue, vote, react, play, pause, seek, skip, remove, move).
    Send(SendArgs),
    /// List the sound devices `--output device:NAME` can play through.
    Devices,
    /// Run a relay server where hosts and listeners behind NATs meet (`host --tunnel URL`).
    P2pRelay(P2pRelayArgs),
}

#[derive(Debug, Args)]
pub struct P2pRelayArgs {
    /// Address to serve on: the relay over HTTP (TCP) and address discovery (UDP) on this one
    /// port; port 0 picks a free one (the ready line names the URL).
    #[arg(long, default_value = "0.0.0.0:3340")]
    pub listen: SocketAddr,
}

#[derive(Debug, Args)]
pub struct HubArgs {
    /// Address to listen on; port 0 picks a free one (the ready line names it).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// When given, every join must present this token.
    #[arg(long)]
    pub token: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, Args)]
pub struct HostArgs {
    /// Address to listen on (default 127.0.0.1:7667); port 0 picks a free one.
    #[arg(long, default_value_t = SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)))]
    pub listen: SocketAddr,
    /// The ws:// or wss:// URL listeners use to reach this host, when it differs from the listen
    /// address (port forwarding, a reverse proxy); it goes into the invites.
    #[arg(long, value_name = "WS_URL")]
    pub public_url: Option<String>,
    /// The room id for a new data dir (letters, digits, - and _); a new random id otherwise.
    #[arg(long, value_name = "ID")]
    pub room: Option<String>,
    /// Where the room lives; an existing one keeps its id and tokens, so invites stay valid.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Run the room over an external relay instead of the embedded hub: its endpoint as realtime-js
    /// takes it (`ws://HOST:PORT/realtime/v1` for a `whatssound-cli hub`, or
    /// `wss://PROJECT.supabase.co/realtime/v1`).
    #[arg(long, value_name = "WS_URL")]
    pub relay: Option<String>,
    /// The relay's key, sent as `apikey` (and given to listeners in the invite).
    #[arg(long, value_name = "KEY", requires = "relay")]
    pub relay_key: Option<String>,
    /// Let listeners join from anywhere, with no port forwarded: through a tunnel met at this
    /// relay server (`public` for iroh's public relays, or a `whatssound-cli p2p-relay`'s URL,
    /// `http://HOST:3340`); invites then carry this host's node id.
    #[arg(long, value_name = "public|URL", conflicts_with = "relay")]
    pub tunnel: Option<String>,
    /// The host's display name.
    #[arg(long, default_value = "Host")]
    pub name: String,
    /// A picture shown beside the name: an image URL (or a small `data:image/…` URL).
    #[arg(long, value_name = "URL", value_parser = parse_avatar)]
    pub avatar: Option<String>,
    /// Make a new listener invite: a new listener token, so every earlier invite stops working.
    #[arg(long)]
    pub new_invite: bool,
    /// Hear the room on this machine too: `default`, `device:NAME`, `null` or `wav:PATH` (as `listen --output`).
    #[arg(long, value_name = "default|device:NAME|null|wav:PATH")]
    pub output: Option<String>,
    /// Output volume in percent.
    #[arg(long, default_value = "100", value_parser = parse_volume, value_name = "0-100")]
    pub volume: u8,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Audio files to queue, in order.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// The invite (`whatssound://join?…`).
    pub invite: String,
    /// Your display name.
    #[arg(long, default_value = "listener")]
    pub name: String,
    /// A picture shown beside your name: an image URL (or a small `data:image/…` URL).
    #[arg(long, value_name = "URL", value_parser = parse_avatar)]
    pub avatar: Option<String>,
    /// Where your identity and outbox live (default: one directory per --name).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Play the room in sync: `default` (the sound device), `device:NAME` (see `whatssound-cli
    /// devices`), `null` (a real-time clocked sink) or `wav:PATH` (record what plays).
    #[arg(long, value_name = "default|device:NAME|null|wav:PATH")]
    pub output: Option<String>,
    /// Output volume in percent.
    #[arg(long, default_value = "100", value_parser = parse_volume, value_name = "0-100")]
    pub volume: u8,
    /// Play N ms earlier (positive) or later, to make up for a device that sounds late.
    #[arg(long, default_value_t = 0, value_name = "N", allow_hyphen_values = true)]
    pub offset_ms: i64,
    /// Which copy of the host's tracks to fetch: `auto` (the original, changing to the host's
    /// Opus copy when the link proves too thin for it), `original`, or `opus`; `auto` and `opus`
    /// take a bitrate, e.g. `opus:64` (kbit/s, 32-256; default 96).
    #[arg(long, default_value = "auto", value_name = "QUALITY")]
    pub quality: whatssound_member::Quality,
    /// Keep to the host's clock even when another listener of the room is on this LAN (by
    /// default, listeners on one LAN share one estimate of the host's clock, so they agree to
    /// within the LAN's error however far away the host is).
    #[arg(long)]
    pub no_lan_clock: bool,
    /// Test only: run this listener's clock N ms ahead (negative: behind).
    #[arg(long, default_value_t = 0, value_name = "N", allow_hyphen_values = true)]
    pub debug_clock_skew_ms: i64,
    /// Test only: run this listener's clock N ppm fast (negative: slow).
    #[arg(long, default_value_t = 0.0, value_name = "N", allow_hyphen_values = true)]
    pub debug_clock_drift_ppm: f64,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The invite (the host invite for host-only actions).
    pub invite: String,
    /// Act as the user whose data dir this is (e.g. a `listen`'s).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Give up (exit 3) if the room has not confirmed within this many seconds.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub timeout: f64,
    /// chat TEXT | enqueue URL|FILE | vote TRACK_ID up|down | react EMOJI | play | pause | seek MS | skip |
    /// remove TRACK_ID | move TRACK_ID INDEX
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true, value_name = "ACTION")]
    pub action: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Largest WebSocket message accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_frame_bytes, value_name = "BYTES")]
    pub max_frame_bytes: usize,
    /// Sustained messages per second one socket may send.
    #[arg(long, default_value_t = Limits::default().messages_per_second, value_name = "N")]
    pub max_messages_per_sec: u32,
    /// Seconds a socket may stay silent (no heartbeat) before it is closed.
    #[arg(long, default_value_t = Limits::default().idle_timeout.as_secs_f64(), value_name = "SECS")]
    pub idle_timeout_secs: f64,
}

impl LimitArgs {
    pub fn to_limits(&self) -> anyhow::Result<Limits> {
        let defaults = Limits::default();
        if !(self.idle_timeout_secs.is_finite() && self.idle_timeout_secs > 0.0) {
            anyhow::bail!("--idle-timeout-secs must be a positive number of seconds");
        }
        if self.max_frame_bytes < 1024 {
            anyhow::bail!("--max-frame-bytes must be at least 1024");
        }
        if self.max_messages_per_sec == 0 {
            anyhow::bail!("--max-messages-per-sec must be at least 1");
        }
        Ok(Limits {
            max_frame_bytes: self.max_frame_bytes,
            messages_per_second: self.max_messages_per_sec,
            message_burst: self.max_messages_per_sec.saturating_mul(2),
            idle_timeout: Duration::from_secs_f64(self.idle_timeout_secs),
            ..defaults
        })
    }
}

/// `default` (the system's sound device), `device:NAME` (one from `whatssound-cli devices`), `null`,
/// or `wav:PATH`.
pub fn parse_output(text: &str) -> anyhow::Result<OutputKind> {
    let usage = || crate::exit::Coded::Usage(format!("--output must be default, device:NAME, null or wav:PATH; got {text:?}"));
    match text {
        "null" => Ok(OutputKind::Null),
        "default" => Ok(OutputKind::Device(None)),
        other => {
            if let Some(path) = other.strip_prefix("wav:").filter(|p| !p.is_empty()) {
                Ok(OutputKind::Wav(PathBuf::from(path)))
            } else if let Some(name) = other.strip_prefix("device:").filter(|n| !n.is_empty()) {
                Ok(OutputKind::Device(Some(name.to_owned())))
            } else {
                Err(usage().into())
            }
        }
    }
}

/// An avatar small enough to send to everyone in a room.
pub fn parse_avatar(text: &str) -> Result<String, String> {
    whatssound_core::check_avatar(text).map(|()| text.to_owned()).map_err(|e| e.to_string())
}

/// A volume in percent, 0–100.
pub fn parse_volume(text: &str) -> Result<u8, String> {
    match text.parse::<u8>() {
        Ok(v) if v <= 100 => Ok(v),
        _ => Err(format!("{text:?} is not a volume: give a whole percentage from 0 to 100")),
    }
}
