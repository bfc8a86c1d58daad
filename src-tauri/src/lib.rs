//! WhatsSound's desktop app: a thin Tauri shell over `whatssound-core`.
//!
//! - [`commands`]: what the UI can ask (host, join, act, add files, settings), each mapped to a
//!   core [`Session`](whatssound_session::session::Session) call and its answer.
//! - [`events`]: what the UI is told (the room, the connection, sync, buffering, reactions, the
//!   room's end), each a core session event under a UI name.
//! - [`error`]: [`AppError`], the one error the UI receives: a kind and a readable sentence.
//! - [`links`]: `whatssound://` invites from the desktop, and one running app that follows them.
//! - [`settings`]: name, avatar, output device, volume, latency offset and relay, kept as JSON.
//! - [`state`]: the session in a room, and the forwarding of its events.
//!
//! The TypeScript the UI imports (`ui/src/bindings.ts`) is generated from these types by
//! [`bindings`] in a test, and CI fails when the committed file is stale.

pub mod commands;
pub mod error;
pub mod events;
pub mod links;
pub mod settings;
pub mod state;

use std::path::PathBuf;

pub use error::AppError;
use tauri::Manager;
use tauri_specta::{Builder, collect_commands, collect_events};
use whatssound_member::player::OutputKind;

use crate::state::AppState;

/// The commands and events, as tauri-specta sees them (for the app and for the bindings).
pub fn bindings() -> Builder<tauri::Wry> {
    use commands::*;
    use events::*;
    Builder::<tauri::Wry>::new()
        .commands(collect_commands![
            host_room,
            join_room,
            leave_room,
            new_invite,
            current_room,
            add_tracks,
            remove_track,
            move_track,
            vote,
            play,
            pause,
            seek,
            skip,
            send_chat,
            react,
            set_typing,
            get_settings,
            save_settings,
            output_devices,
        ])
        .events(collect_events![RoomChanged, ConnectionChanged, SyncChanged, BufferingChanged, ReactionReceived, RoomEnded])
        // One shape per type (what Rust sends is what the UI sends back), and epoch milliseconds
        // and byte counts as plain numbers (exact in a JS number up to 2^53).
        .disable_serde_phases()
        .dangerously_cast_bigints_to_number()
}

/// Writes the UI's bindings to `path`.
pub fn export_bindings(path: &std::path::Path) -> Result<(), String> {
    bindings().export(specta_typescript::Typescript::default(), path).map_err(|e| e.to_string())
}

/// Where the app keeps its data: `WHATSSOUND_DATA_DIR`, else `$XDG_DATA_HOME/whatssound/app`.
fn data_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("WHATSSOUND_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let base = match std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
            PathBuf::from(home.ok_or_else(|| anyhow::anyhow!("neither HOME nor WHATSSOUND_DATA_DIR is set"))?).join(".local/share")
        }
    };
    Ok(base.join("whatssound").join("app"))
}

/// Whether there is a screen to open a window on (always, off Linux).
fn has_display() -> bool {
    !cfg!(target_os = "linux") || ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()))
}

/// Runs the app: `--demo` hosts a demo room at start, a `whatssound://` argument joins that room.
/// Without a display it says so and hosts the demo room headless instead, printing the invite.
pub fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("WHATSSOUND_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let data_dir = data_dir()?;
    let demo = std::env::args().any(|a| a == "--demo");
    // A `whatssound://` link opened from the desktop starts the app with the link as an argument
    // (the .deb registers the app as the scheme's handler): join that room at once.
    let link = links::invite_in(std::env::args());
    if !has_display() {
        eprintln!("whatssound: no display found (DISPLAY and WAYLAND_DISPLAY are unset): hosting the demo room headless instead");
        return demo::headless(&data_dir);
    }
    let forced = match std::env::var("WHATSSOUND_OUTPUT").as_deref() {
        Ok("null") => Some(OutputKind::Null),
        _ => None,
    };
    let builder = bindings();
    let mut app = tauri::Builder::default();
    // First, so that a second start hands its link over before it sets anything else up.
    if links::can_be_single() {
        app = app.plugin(links::single_instance());
    }
    app.plugin(tauri_plugin_dialog::init())
        .invoke_handler(builder.invoke_handler())
        .manage(AppState::new(data_dir.clone(), forced))
        .setup(move |app| {
            builder.mount_events(app);
            if let Some(invite) = link.clone() {
                links::open(app.handle().clone(), invite);
            } else if demo {
                let handle = app.handle().clone();
                let dir = data_dir.clone();
                tauri::async_runtime::spawn(async move {
                    let track = match demo::track(&dir) {
                        Ok(t) => t,
                        Err(e) => return tracing::warn!("could not make the demo track: {e}"),
                    };
                    let state = handle.state::<AppState>();
                    // The demo is on this machine's embedded hub, shared as the settings say.
                    let venue = whatssound_session::session::Venue { relay: None, ..state.settings().venue().unwrap_or_default() };
                    let files = [track];
                    let started = state
                        .enter(&handle, |config| whatssound_session::session::Session::host(config, "Demo", &files, venue.clone()))
                        .await;
                    if let Err(e) = started {
                        tracing::warn!("could not host the demo room: {e}");
                    }
                });
            }
            Ok(())
        })
        .run(tauri::generate_context!("tauri.conf.json"))
        .map_err(|e| anyhow::anyhow!("the window could not run: {e}"))
}

mod demo {
    //! The demo room: a track made here (no download), hosted in a window or headless.

    use std::path::{Path, PathBuf};

    /// A 30 s arpeggio, written once into the data dir.
    pub fn track(dir: &Path) -> std::io::Result<PathBuf> {
        let path = dir.join("demo").join("WhatsSound Demo.wav");
        if path.is_file() {
            return Ok(path);
        }
        std::fs::create_dir_all(path.parent().unwrap_or(dir))?;
        let rate = 44_100u32;
        let notes = [261.63, 329.63, 392.0, 523.25, 392.0, 329.63];
        let note_len = rate as usize / 4;
        let mut samples = Vec::with_capacity(rate as usize * 30 * 2);
        for i in 0..(rate as usize * 30) {
            let hz = notes[(i / note_len) % notes.len()];
            let t = i as f64 / f64::from(rate);
            let within = (i % note_len) as f64 / note_len as f64;
            let envelope = (1.0 - within).powf(2.0);
            let v = ((2.0 * std::f64::consts::PI * hz * t).sin() * envelope * 0.4 * 32_767.0) as i16;
            samples.extend_from_slice(&[v, v]);
        }
        let tags = whatssound_audio::wav::Tags { title: Some("WhatsSound Demo".into()), ..Default::default() };
        std::fs::write(&path, whatssound_audio::wav::pcm16(rate, 2, &samples, &tags))?;
        Ok(path)
    }

    /// Hosts the demo room without a window until Ctrl-C, printing the invite.
    pub fn headless(dir: &Path) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Runtime::new()?;
        let result = runtime.block_on(async {
            let track = track(dir)?;
            let config = whatssound_host::HostingConfig {
                data_dir: dir.join("rooms").join("Demo"),
                room: Some("Demo".into()),
                name: "Host".into(),
                avatar: None,
                venue: whatssound_host::Venue {
                    listen: std::net::SocketAddr::from(([127, 0, 0, 1], 7667)),
                    ..whatssound_host::Venue::default()
                },
                limits: Default::default(),
                new_invite: false,
                clock: std::sync::Arc::new(whatssound_clock::MonotonicClock::new()),
            };
            let (hosted, mut events) = whatssound_host::HostedRoom::start(config).await?;
            tokio::spawn(async move { while events.recv().await.is_some() {} });
            hosted.add_file(&track).await?;
            hosted.room().act(whatssound_room::Action::Play, None).await?;
            println!("{}", serde_json::json!({ "event": "ready", "ws": hosted.ws(), "invite": hosted.invite() }));
            tokio::signal::ctrl_c().await?;
            hosted.stop().await?;
            Ok(())
        });
        // A lookup still in flight must not keep the stopped host alive.
        runtime.shutdown_timeout(std::time::Duration::from_millis(500));
        result
    }
}

#[cfg(test)]
mod tests {
    /// The UI's bindings are generated from the commands and events, and the committed
    /// `ui/src/bindings.ts` must be exactly what they generate: this fails on a stale file and
    /// rewrites it only when asked (`WHATSSOUND_WRITE_BINDINGS=1`), so a passing run never hides a
    /// change the UI was not built against.
    #[test]
    fn export_ui_bindings() {
        let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/src/bindings.ts");
        let fresh = std::env::temp_dir().join(format!("whatssound-bindings-{}.ts", std::process::id()));
        super::export_bindings(&fresh).unwrap_or_else(|e| panic!("could not export the bindings: {e}"));
        let text = std::fs::read_to_string(&fresh).unwrap_or_default();
        let _ = std::fs::remove_file(&fresh);
        if std::env::var_os("WHATSSOUND_WRITE_BINDINGS").is_some_and(|v| v == "1") {
            std::fs::write(&committed, &text).unwrap_or_else(|e| panic!("could not write {}: {e}", committed.display()));
        }
        let on_disk = std::fs::read_to_string(&committed).unwrap_or_default();
        assert!(
            on_disk == text,
            "ui/src/bindings.ts is not what the Rust types generate: run `WHATSSOUND_WRITE_BINDINGS=1 cargo test -p whatssound export_ui_bindings` and commit it"
        );
        for name in ["hostRoom", "joinRoom", "roomChanged", "RoomView", "AppError"] {
            assert!(text.contains(name), "{name} is in the bindings");
        }
    }
}
