//! A user's keypair in their data dir (`identity.key`, 64 hex digits, readable by the owner only).

use std::fs;
use std::io::Write;
use std::path::Path;

use whatssound_room::Identity;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("could not read or create {path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path} is not a WhatsSound identity (64 hex digits); move it away to make a new one (you will be a new user)")]
    Corrupt { path: String },
}

/// Loads the identity kept in `dir`, or makes one.
pub fn load_or_create(dir: &Path) -> Result<Identity, IdentityError> {
    let path = dir.join("identity.key");
    let shown = path.display().to_string();
    let io = |error| IdentityError::Io { path: shown.clone(), error };
    match fs::read_to_string(&path) {
        Ok(text) => parse(text.trim()).map(Identity::from_secret).ok_or(IdentityError::Corrupt { path: shown.clone() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(io)?;
            let secret: [u8; 32] = rand::random();
            let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            let tmp = path.with_extension("key.tmp");
            let mut options = fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp).map_err(io)?;
            file.write_all(hex.as_bytes()).and_then(|()| file.sync_all()).map_err(io)?;
            fs::rename(&tmp, &path).map_err(io)?;
            Ok(Identity::from_secret(secret))
        }
        Err(e) => Err(io(e)),
    }
}

/// An identity from 64 hex digits (the form of `identity.key` and of an invite's `admin` key).
pub fn from_hex(hex: &str) -> Option<Identity> {
    parse(hex).map(Identity::from_secret)
}

/// The 64-hex-digit form of an identity's secret.
pub fn to_hex(identity: &Identity) -> String {
    identity.secret().iter().map(|b| format!("{b:02x}")).collect()
}

fn parse(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_kept_and_corruption_is_reported() {
        let dir = std::env::temp_dir().join(format!("whatssound-identity-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let a = load_or_create(&dir).unwrap();
        let b = load_or_create(&dir).unwrap();
        assert_eq!(a.user_id(), b.user_id());
        fs::write(dir.join("identity.key"), "zz").unwrap();
        assert!(load_or_create(&dir).unwrap_err().to_string().contains("not a WhatsSound identity"));
        let _ = fs::remove_dir_all(&dir);
    }
}
