//! The room's identity in its data dir: id and tokens, so a restarted host keeps its invites.
//!
//! Written atomically (a temporary file, fsync, rename), so a crash or a full disk mid-write leaves
//! the previous file intact. The room issue moves this into the room's SQLite database.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use whatssound_protocol::Invite;

const FILE: &str = "room.json";
const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRecord {
    pub version: u32,
    pub room: String,
    pub host_token: String,
    pub listener_token: String,
    /// The host's signing key (64 hex digits): its public half is the invite's `key`.
    #[serde(default)]
    pub host_key: String,
    /// The co-host key carried by the host invite (`admin=`): acts with the host's rights.
    #[serde(default)]
    pub admin_key: String,
}

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

/// Loads the room kept in `dir`, or makes a new one there.
pub fn open_or_create(dir: &Path, requested_room: Option<&str>) -> anyhow::Result<RoomRecord> {
    if let Some(room) = requested_room.filter(|r| !Invite::is_valid_room_id(r)) {
        anyhow::bail!("--room {room:?} is not a valid room id: use 1 to 64 letters, digits, - and _");
    }
    let path = dir.join(FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            let record: RoomRecord = serde_json::from_slice(&bytes).with_context(|| {
                format!("{} is corrupt; move it away to start a new room (its invites will stop working)", path.display())
            })?;
            if record.version != VERSION
                || !Invite::is_valid_room_id(&record.room)
                || record.host_token.is_empty()
                || record.listener_token.is_empty()
            {
                anyhow::bail!("{} is not a room this version understands; move it away to start a new room", path.display());
            }
            if let Some(room) = requested_room.filter(|r| *r != record.room) {
                anyhow::bail!("{} holds room {:?}, not {room:?}; drop --room or use another --data-dir", dir.display(), record.room);
            }
            let mut record = record;
            if record.host_key.is_empty() || record.admin_key.is_empty() {
                // A room made before rooms had keys: give it keys, keep everything else.
                record.host_key = new_key();
                record.admin_key = new_key();
                write_atomically(&path, &serde_json::to_vec_pretty(&record)?)
                    .with_context(|| format!("could not save the room in {}", path.display()))?;
            }
            for key in [&record.host_key, &record.admin_key] {
                if whatssound_core::identity::from_hex(key).is_none() {
                    anyhow::bail!("{} holds a key that is not 64 hex digits; move it away to start a new room", path.display());
                }
            }
            Ok(record)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let record = RoomRecord {
                version: VERSION,
                room: requested_room.map_or_else(|| random_id(8), str::to_owned),
                host_token: random_id(32),
                listener_token: random_id(32),
                host_key: new_key(),
                admin_key: new_key(),
            };
            fs::create_dir_all(dir).with_context(|| format!("could not create the data dir {}", dir.display()))?;
            write_atomically(&path, &serde_json::to_vec_pretty(&record)?)
                .with_context(|| format!("could not save the room in {}", path.display()))?;
            Ok(record)
        }
        Err(e) => Err(e).with_context(|| format!("could not read {}", path.display())),
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)
}

/// Gives the room a new listener token (a new invite); earlier invites stop working.
pub fn rotate_listener_token(dir: &Path, record: &mut RoomRecord) -> anyhow::Result<()> {
    record.listener_token = random_id(32);
    let path = dir.join(FILE);
    write_atomically(&path, &serde_json::to_vec_pretty(record)?).with_context(|| format!("could not save the room in {}", path.display()))
}

fn new_key() -> String {
    whatssound_core::identity::to_hex(&whatssound_room::Identity::from_secret(rand::random()))
}

/// A random id of `len` characters from an alphabet that needs no escaping anywhere.
fn random_id(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..len).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("whatssound-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_new_dir_gets_a_room_and_keeps_it() {
        let dir = temp_dir("keep");
        let first = open_or_create(&dir, Some("jam")).unwrap();
        assert_eq!(first.room, "jam");
        assert_eq!(open_or_create(&dir, None).unwrap(), first);
        assert!(open_or_create(&dir, Some("other")).unwrap_err().to_string().contains("holds room"));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn corrupt_file_is_reported_and_left_alone() {
        let dir = temp_dir("corrupt");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(FILE), b"{not json").unwrap();
        let err = format!("{:#}", open_or_create(&dir, None).unwrap_err());
        assert!(err.contains("corrupt"), "{err}");
        assert_eq!(fs::read(dir.join(FILE)).unwrap(), b"{not json", "nothing is lost");
        assert!(open_or_create(&dir, Some("bad/id")).is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
