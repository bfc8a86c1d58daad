//! The room's identity in its data dir (`room.json`): id, tokens and keys, so a restarted host
//! keeps its invites.
//!
//! Written atomically (a temporary file, fsync, rename), so a crash or a full disk mid-write leaves
//! the previous file intact.

use std::fs;
use std::io::Write;
use std::path::Path;

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

/// Why the room's record could not be used; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{0:?} is not a valid room id: use 1 to 64 letters, digits, - and _")]
    BadRoomId(String),
    #[error("{path} is corrupt; move it away to start a new room (its invites will stop working)")]
    Corrupt { path: String },
    #[error("{path} is not a room this version understands; move it away to start a new room")]
    Unknown { path: String },
    #[error("{path} holds a key that is not 64 hex digits; move it away to start a new room")]
    BadKey { path: String },
    #[error("{dir} holds room {held:?}, not {wanted:?}; ask for that room or use another data dir")]
    OtherRoom { dir: String, held: String, wanted: String },
    #[error("could not read or save the room in {path}: {error}")]
    Io { path: String, error: std::io::Error },
}

/// Loads the room kept in `dir`, or makes a new one there.
pub fn open_or_create(dir: &Path, requested_room: Option<&str>) -> Result<RoomRecord, RecordError> {
    if let Some(room) = requested_room.filter(|r| !Invite::is_valid_room_id(r)) {
        return Err(RecordError::BadRoomId(room.to_owned()));
    }
    let path = dir.join(FILE);
    let shown = path.display().to_string();
    let io = |error| RecordError::Io { path: shown.clone(), error };
    match fs::read(&path) {
        Ok(bytes) => {
            let record: RoomRecord = serde_json::from_slice(&bytes).map_err(|_| RecordError::Corrupt { path: shown.clone() })?;
            if record.version != VERSION
                || !Invite::is_valid_room_id(&record.room)
                || record.host_token.is_empty()
                || record.listener_token.is_empty()
            {
                return Err(RecordError::Unknown { path: shown });
            }
            if let Some(room) = requested_room.filter(|r| *r != record.room) {
                return Err(RecordError::OtherRoom { dir: dir.display().to_string(), held: record.room, wanted: room.to_owned() });
            }
            let mut record = record;
            if record.host_key.is_empty() || record.admin_key.is_empty() {
                // A room made before rooms had keys: give it keys, keep everything else.
                record.host_key = new_key();
                record.admin_key = new_key();
                write_atomically(&path, &encode(&record)).map_err(io)?;
            }
            for key in [&record.host_key, &record.admin_key] {
                if whatssound_core::identity::from_hex(key).is_none() {
                    return Err(RecordError::BadKey { path: shown });
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
            fs::create_dir_all(dir).map_err(io)?;
            write_atomically(&path, &encode(&record)).map_err(io)?;
            Ok(record)
        }
        Err(e) => Err(io(e)),
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
pub fn rotate_listener_token(dir: &Path, record: &mut RoomRecord) -> Result<(), RecordError> {
    let mut rotated = record.clone();
    rotated.listener_token = random_id(32);
    let path = dir.join(FILE);
    write_atomically(&path, &encode(&rotated)).map_err(|error| RecordError::Io { path: path.display().to_string(), error })?;
    // Only once it is saved: a failed save keeps the old invite working, as the file says.
    *record = rotated;
    Ok(())
}

fn encode(record: &RoomRecord) -> Vec<u8> {
    // A struct of strings always serialises.
    serde_json::to_vec_pretty(record).unwrap_or_default()
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
    use std::path::PathBuf;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("whatssound-record-{name}-{}", std::process::id()));
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
        let err = open_or_create(&dir, None).unwrap_err().to_string();
        assert!(err.contains("corrupt"), "{err}");
        assert_eq!(fs::read(dir.join(FILE)).unwrap(), b"{not json", "nothing is lost");
        assert!(open_or_create(&dir, Some("bad/id")).is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
