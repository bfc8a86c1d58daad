//! Identities and signatures.
//!
//! A user id is the user's ed25519 public key (unpadded base64url), so checking a [`Signed`]
//! envelope needs nothing but the envelope: the key to verify with is the claimed user id itself.
//! The signature covers the exact body text, so no JSON canonicalisation is needed on either side.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// A user's keypair.
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret half.
        f.debug_struct("Identity").field("user", &self.user_id()).finish()
    }
}

impl Identity {
    /// An identity from 32 secret bytes (fresh random ones for a new identity).
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Identity { key: SigningKey::from_bytes(&secret) }
    }

    pub fn secret(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    pub fn user_id(&self) -> UserId {
        UserId(B64.encode(self.key.verifying_key().as_bytes()))
    }

    /// Signs `body` (usually JSON text) as this user.
    pub fn sign(&self, body: impl Into<String>) -> Signed {
        let body = body.into();
        let sig = self.key.sign(body.as_bytes());
        Signed { user: self.user_id(), body, sig: B64.encode(sig.to_bytes()) }
    }
}

/// A body and who signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    pub user: UserId,
    pub body: String,
    pub sig: String,
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("user id is not an ed25519 public key")]
    BadUser,
    #[error("signature is not 64 bytes of base64url")]
    BadSignature,
    #[error("signature does not match the body and user")]
    Mismatch,
}

impl Signed {
    /// Checks that `user`'s key signed exactly `body`.
    pub fn verify(&self) -> Result<(), SignatureError> {
        let key: [u8; 32] = B64.decode(&self.user.0).ok().and_then(|b| b.try_into().ok()).ok_or(SignatureError::BadUser)?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| SignatureError::BadUser)?;
        let sig: [u8; 64] = B64.decode(&self.sig).ok().and_then(|b| b.try_into().ok()).ok_or(SignatureError::BadSignature)?;
        key.verify(self.body.as_bytes(), &Signature::from_bytes(&sig)).map_err(|_| SignatureError::Mismatch)
    }

    /// Verifies, and that the signer is `expected` (e.g. the host key from the invite).
    pub fn verify_from(&self, expected: &UserId) -> Result<(), SignatureError> {
        if &self.user != expected {
            return Err(SignatureError::Mismatch);
        }
        self.verify()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_body_and_user() {
        let alice = Identity::from_secret([1; 32]);
        let bob = Identity::from_secret([2; 32]);
        let signed = alice.sign(r#"{"hi":1}"#);
        assert_eq!(signed.user.as_str().len(), 43);
        assert_eq!(signed.verify(), Ok(()));
        assert_eq!(signed.verify_from(&alice.user_id()), Ok(()));
        assert_eq!(signed.verify_from(&bob.user_id()), Err(SignatureError::Mismatch));

        let forged_body = Signed { body: r#"{"hi":2}"#.into(), ..signed.clone() };
        assert_eq!(forged_body.verify(), Err(SignatureError::Mismatch));
        let claimed_by_bob = Signed { user: bob.user_id(), ..signed.clone() };
        assert_eq!(claimed_by_bob.verify(), Err(SignatureError::Mismatch));
        assert_eq!(Signed { sig: "x".into(), ..signed.clone() }.verify(), Err(SignatureError::BadSignature));
        assert_eq!(Signed { user: "nope".into(), ..signed }.verify(), Err(SignatureError::BadUser));
        assert_eq!(Identity::from_secret(alice.secret()).user_id(), alice.user_id());
    }
}
