//! Where the CLI keeps things: the host's and each listener's data dir, and a listener's name.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// `$XDG_DATA_HOME/whatssound/host`, or `~/.local/share/whatssound/host`.
pub fn default_dir() -> anyhow::Result<PathBuf> {
    Ok(data_home()?.join("whatssound").join("host"))
}

/// A listener's own directory, one per display name.
pub fn listener_dir(name: &str) -> anyhow::Result<PathBuf> {
    let safe: String = name.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    Ok(data_home()?.join("whatssound").join("listeners").join(safe))
}

/// Remembers the display name a `listen` used in its data dir, so `send --data-dir` speaks with it.
pub fn save_name(dir: &Path, name: &str) {
    // Best effort: a name that cannot be saved only means `send` signs as "send".
    let _ = fs::create_dir_all(dir).and_then(|()| fs::write(dir.join("name"), name));
}

/// The display name saved in a data dir, if any.
pub fn saved_name(dir: &Path) -> Option<String> {
    fs::read_to_string(dir.join("name")).ok().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty() && n.len() <= 64)
}

fn data_home() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home =
                std::env::var_os("HOME").filter(|v| !v.is_empty()).context("neither XDG_DATA_HOME nor HOME is set; pass --data-dir")?;
            PathBuf::from(home).join(".local/share")
        }
    };
    Ok(base)
}
