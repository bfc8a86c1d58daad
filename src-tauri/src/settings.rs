//! The app's settings, kept as JSON in its data dir.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use specta::Type;
use whatssound_core::{BadWsBase, WsBase};
use whatssound_host::Relay as CoreRelay;
use whatssound_session::session::Venue;

use crate::error::{AppError, ErrorKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct Relay {
    pub url: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub display_name: String,
    pub avatar: Option<String>,
    /// A device name from `outputDevices`; `None` is the system default, `"null"` plays nothing.
    pub output_device: Option<String>,
    /// 0..=1.
    pub volume: f64,
    /// Positive plays earlier (for a device that sounds late, such as Bluetooth).
    pub offset_ms: f64,
    /// Where hosted rooms run: `None` is the embedded hub on this machine.
    pub relay: Option<Relay>,
    /// Where the embedded hub listens: `None` is this machine only (127.0.0.1, a free port);
    /// `0.0.0.0:7667` lets other machines join on port 7667.
    pub listen: Option<String>,
    /// The ws:// or wss:// address invites name, when listeners reach this machine another way
    /// (a forwarded port, a TLS reverse proxy).
    pub public_url: Option<String>,
    /// Let listeners anywhere join, with no port forwarded: through a tunnel met at this relay
    /// server (`public` for iroh's public relays, or a self-hosted one's `http(s)://` URL).
    /// `None`: only those who reach the listen address.
    pub tunnel: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            display_name: "Me".into(),
            avatar: None,
            output_device: None,
            volume: 0.8,
            offset_ms: 0.0,
            relay: None,
            listen: None,
            public_url: None,
            tunnel: None,
        }
    }
}

impl Settings {
    fn path(dir: &Path) -> PathBuf {
        dir.join("settings.json")
    }

    /// The saved settings; defaults when there are none yet or the file is unreadable. A file
    /// saved by an older version lacks newer fields: those take their defaults, the rest is kept.
    pub fn load(dir: &Path) -> Settings {
        let saved = std::fs::read(Settings::path(dir)).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        let (Some(serde_json::Value::Object(saved)), Ok(serde_json::Value::Object(mut merged))) =
            (saved, serde_json::to_value(Settings::default()))
        else {
            return Settings::default();
        };
        merged.extend(saved);
        serde_json::from_value(serde_json::Value::Object(merged)).unwrap_or_default()
    }

    /// Where rooms this app hosts run, and how listeners reach them.
    pub fn venue(&self) -> Result<Venue, AppError> {
        let listen = match given(&self.listen) {
            None => Venue::default().listen,
            Some(l) => l.parse::<SocketAddr>().map_err(|_| {
                AppError::new(ErrorKind::BadInput, format!("the listen address {l:?} is not an address and port, like 0.0.0.0:7667"))
            })?,
        };
        let bad = |what: &str, e: BadWsBase| AppError::new(ErrorKind::BadInput, format!("the {what}: {e}"));
        let public_url = given(&self.public_url).map(str::parse::<WsBase>).transpose().map_err(|e| bad("public address", e))?;
        let relay = match &self.relay {
            None => None,
            Some(r) => Some(CoreRelay {
                url: WsBase::from_endpoint(&r.url).map_err(|e| bad("relay", e))?,
                key: Some(r.key.clone()).filter(|k| !k.is_empty()),
            }),
        };
        let tunnel = given(&self.tunnel)
            .map(|t| t.parse::<whatssound_tunnel::RelayChoice>().map_err(|e| AppError::new(ErrorKind::BadInput, e.to_string())))
            .transpose()?;
        Ok(Venue { listen, public_url, relay, tunnel })
    }

    /// Checks and saves (atomically: a temporary file, then a rename).
    pub fn save(&self, dir: &Path) -> Result<Settings, AppError> {
        let name = self.display_name.trim();
        if name.is_empty() || name.chars().count() > 40 {
            return Err(AppError::new(ErrorKind::BadInput, "a display name is 1 to 40 characters"));
        }
        if !(0.0..=1.0).contains(&self.volume) {
            return Err(AppError::new(ErrorKind::BadInput, "volume is between 0 and 1"));
        }
        if !(-2_000.0..=2_000.0).contains(&self.offset_ms) {
            return Err(AppError::new(ErrorKind::BadInput, "the latency offset is between −2000 and 2000 ms"));
        }
        if let Some(avatar) = &self.avatar {
            whatssound_core::check_avatar(avatar).map_err(|e| AppError::new(ErrorKind::BadInput, e.to_string()))?;
        }
        let venue = self.venue()?;
        let clean = Settings {
            display_name: name.to_owned(),
            listen: given(&self.listen).map(|_| venue.listen.to_string()),
            public_url: venue.public_url.map(|u| u.to_string()),
            tunnel: venue.tunnel.map(|t| t.to_string()),
            ..self.clone()
        };
        let storage =
            |e: std::io::Error| AppError::new(ErrorKind::Storage, format!("could not save the settings in {}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(storage)?;
        let tmp = dir.join("settings.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&clean).unwrap_or_default()).map_err(storage)?;
        std::fs::rename(&tmp, Settings::path(dir)).map_err(storage)?;
        Ok(clean)
    }
}

/// A text setting as given: trimmed, and `None` when blank.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_bad_values_are_refused_with_the_rule() {
        let dir = std::env::temp_dir().join(format!("whatssound-settings-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(Settings::load(&dir), Settings::default());
        let mine = Settings { display_name: "  Ann ".into(), volume: 0.5, ..Settings::default() };
        let saved = mine.save(&dir).unwrap();
        assert_eq!(saved.display_name, "Ann");
        assert_eq!(Settings::load(&dir), saved);
        for (bad, needle) in [
            (Settings { display_name: " ".into(), ..Settings::default() }, "display name"),
            (Settings { volume: 2.0, ..Settings::default() }, "volume"),
            (Settings { offset_ms: 5_000.0, ..Settings::default() }, "offset"),
            (Settings { avatar: Some("x".repeat(whatssound_core::MAX_AVATAR_BYTES + 1)), ..Settings::default() }, "the avatar is"),
            (Settings { relay: Some(Relay { url: "http://x".into(), key: String::new() }), ..Settings::default() }, "ws://"),
            (Settings { listen: Some("everywhere".into()), ..Settings::default() }, "0.0.0.0:7667"),
            (Settings { public_url: Some("https://x/room".into()), ..Settings::default() }, "wss://"),
            (Settings { tunnel: Some("relay.example.org".into()), ..Settings::default() }, "http://relay.example.org:3340"),
        ] {
            let err = bad.save(&dir).unwrap_err();
            assert_eq!(err.kind, ErrorKind::BadInput);
            assert!(err.message.contains(needle), "{}", err.message);
        }
        // Sharing on the network: the listen address and public URL are kept, tidied.
        let shared = Settings { listen: Some(" 0.0.0.0:7667 ".into()), public_url: Some("wss://music.example.org/".into()), ..saved };
        let saved = shared.save(&dir).unwrap();
        assert_eq!((saved.listen.as_deref(), saved.public_url.as_deref()), (Some("0.0.0.0:7667"), Some("wss://music.example.org")));
        let venue = Settings::load(&dir).venue().unwrap();
        assert_eq!(venue.listen, "0.0.0.0:7667".parse().unwrap());
        assert_eq!(Settings { listen: Some(String::new()), ..Settings::default() }.venue().unwrap(), Venue::default());
        // Listeners anywhere: through a relay, public or one's own, tidied.
        let anywhere = Settings { tunnel: Some(" http://relay.example.org:3340/ ".into()), ..Settings::default() }.save(&dir).unwrap();
        assert_eq!(anywhere.tunnel.as_deref(), Some("http://relay.example.org:3340"));
        let public = Settings { tunnel: Some("public".into()), ..Settings::default() }.venue().unwrap();
        assert_eq!(public.tunnel, Some(whatssound_tunnel::RelayChoice::Public));
        // A file from before these settings existed keeps the name it has.
        std::fs::write(
            dir.join("settings.json"),
            r#"{"displayName":"Old","avatar":null,"outputDevice":null,"volume":0.5,"offsetMs":0,"relay":null}"#,
        )
        .unwrap();
        assert_eq!(Settings::load(&dir).display_name, "Old");
        std::fs::write(dir.join("settings.json"), "{broken").unwrap();
        assert_eq!(Settings::load(&dir), Settings::default(), "an unreadable file falls back to defaults");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
