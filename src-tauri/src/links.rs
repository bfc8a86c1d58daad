//! `whatssound://` invite links, and keeping to one running app.
//!
//! The desktop opens a link by starting the app with the link as an argument (the .deb registers
//! the app as the scheme's handler). The first start joins that room. When the app is already
//! running, a second copy must not start beside it — two apps would share one data dir and one
//! sound device — so the single-instance plugin hands the second start's arguments to the first
//! and exits; the running app comes to the front and follows the link. On Linux the plugin works
//! over the D-Bus session bus, which a desktop session always has and a bare Xvfb may not: there,
//! without a bus to find each other by, each start stands alone.

use tauri::{AppHandle, Manager, Wry};
use whatssound_session::session::Session;
use whatssound_session::view::Role;

use crate::state::AppState;

/// The invite among a start's arguments, if any.
pub fn invite_in(args: impl IntoIterator<Item = String>) -> Option<String> {
    args.into_iter().find(|a| a.starts_with("whatssound://"))
}

/// Whether a second start can find this one: on Linux only through a D-Bus session bus.
pub fn can_be_single() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    let address = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty());
    let runtime_bus = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).join("bus").exists());
    address || runtime_bus
}

/// The plugin that sends a second start's link here.
pub fn single_instance() -> tauri::plugin::TauriPlugin<Wry> {
    tauri_plugin_single_instance::init(|app, args, _cwd| {
        if let Some(window) = app.get_webview_window("main") {
            let _ = window.unminimize();
            let _ = window.show();
            let _ = window.set_focus();
        }
        if let Some(invite) = invite_in(args) {
            open(app.clone(), invite);
        }
    })
}

/// Joins the room `invite` names. A listener already in a room moves to the new one; a host
/// stays (leaving would end the room for everyone), and the link is set aside with a warning.
pub fn open(app: AppHandle, invite: String) {
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let hosting = match state.session.lock().await.as_ref() {
            Some(session) => session.view().await.is_ok_and(|v| v.role == Role::Host),
            None => false,
        };
        if hosting {
            return tracing::warn!("not following an invite link while hosting a room: leave the room first");
        }
        if let Err(e) = state.enter(&app, |config| Session::join(config, &invite)).await {
            tracing::warn!("could not join the room the link names: {e}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invite_is_found_among_the_arguments() {
        let args = ["/usr/bin/whatssound", "--demo", "whatssound://join?ws=ws%3A%2F%2Fh%3A1&room=r&token=t"].map(String::from);
        assert_eq!(invite_in(args).as_deref(), Some("whatssound://join?ws=ws%3A%2F%2Fh%3A1&room=r&token=t"));
        assert_eq!(invite_in(["/usr/bin/whatssound".to_owned()]), None);
    }
}
