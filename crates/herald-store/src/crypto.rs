//! Encryption of secrets at rest (access and refresh tokens, signing secrets,
//! app secrets): AES-256-GCM under the master key, a fresh random nonce per
//! value, and the key's id stored with each value so the master key can be
//! rotated (older keys stay readable while values are re-encrypted).
//!
//! Stored form: `v1:<key id>:<base64(nonce ‖ ciphertext+tag)>`.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use herald_core::Secret;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("master key must be the base64 of exactly 32 bytes")]
    BadMasterKey,
    #[error("stored secret is malformed")]
    Malformed,
    #[error("stored secret was encrypted under key {0}, which is not configured")]
    UnknownKey(String),
    #[error("stored secret failed authentication (wrong key or tampered value)")]
    Tampered,
}

struct Keyed {
    id: String,
    cipher: Aes256Gcm,
}

/// Encrypts with the current master key; decrypts with any configured key.
pub struct SecretBox {
    current: Keyed,
    previous: Vec<Keyed>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBox(key {})", self.current.id)
    }
}

/// A short, non-secret id of a key: the first 8 hex digits of its SHA-256.
fn key_id(key: &[u8]) -> String {
    hex::encode(&Sha256::digest(key)[..4])
}

fn keyed(key_b64: &str) -> Result<Keyed, CryptoError> {
    let bytes = B64
        .decode(key_b64.trim())
        .map_err(|_| CryptoError::BadMasterKey)?;
    if bytes.len() != 32 {
        return Err(CryptoError::BadMasterKey);
    }
    let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| CryptoError::BadMasterKey)?;
    Ok(Keyed {
        id: key_id(&bytes),
        cipher,
    })
}

/// A new random master key, base64-encoded.
pub fn generate_master_key() -> String {
    B64.encode(rand::random::<[u8; 32]>())
}

impl SecretBox {
    /// `master_key_b64`: base64 of 32 bytes. `previous`: older keys still readable.
    pub fn new(master_key_b64: &str, previous: &[String]) -> Result<Self, CryptoError> {
        Ok(SecretBox {
            current: keyed(master_key_b64)?,
            previous: previous
                .iter()
                .map(|k| keyed(k))
                .collect::<Result<_, _>>()?,
        })
    }

    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    pub fn encrypt(&self, plain: &str) -> String {
        let nonce_bytes = rand::random::<[u8; 12]>();
        let nonce = Nonce::try_from(&nonce_bytes[..]).expect("12-byte nonce");
        let ct = self
            .current
            .cipher
            .encrypt(&nonce, plain.as_bytes())
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut blob = nonce_bytes.to_vec();
        blob.extend_from_slice(&ct);
        format!("v1:{}:{}", self.current.id, B64.encode(blob))
    }

    pub fn decrypt(&self, stored: &str) -> Result<Secret, CryptoError> {
        let mut parts = stored.splitn(3, ':');
        let (Some("v1"), Some(id), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CryptoError::Malformed);
        };
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or_else(|| CryptoError::UnknownKey(id.to_owned()))?;
        let blob = B64.decode(data).map_err(|_| CryptoError::Malformed)?;
        if blob.len() < 12 + 16 {
            return Err(CryptoError::Malformed);
        }
        let nonce = Nonce::try_from(&blob[..12]).map_err(|_| CryptoError::Malformed)?;
        let plain = key
            .cipher
            .decrypt(&nonce, &blob[12..])
            .map_err(|_| CryptoError::Tampered)?;
        String::from_utf8(plain)
            .map(Secret::from)
            .map_err(|_| CryptoError::Malformed)
    }

    pub fn encrypt_opt(&self, plain: Option<&Secret>) -> Option<String> {
        plain.map(|s| self.encrypt(s.expose()))
    }

    pub fn decrypt_opt(&self, stored: Option<&str>) -> Result<Option<Secret>, CryptoError> {
        stored.map(|s| self.decrypt(s)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_fresh_nonces() {
        let b = SecretBox::new(&generate_master_key(), &[]).unwrap();
        let a1 = b.encrypt("token-1");
        let a2 = b.encrypt("token-1");
        assert_ne!(a1, a2, "each value gets its own nonce");
        assert!(!a1.contains("token-1"));
        assert!(a1.starts_with(&format!("v1:{}:", b.key_id())));
        assert_eq!(b.decrypt(&a1).unwrap().expose(), "token-1");
    }

    #[test]
    fn old_keys_decrypt_and_tampering_is_detected() {
        let old = generate_master_key();
        let old_box = SecretBox::new(&old, &[]).unwrap();
        let stored = old_box.encrypt("refresh");
        let new_box = SecretBox::new(&generate_master_key(), &[old]).unwrap();
        assert_eq!(new_box.decrypt(&stored).unwrap().expose(), "refresh");

        let other = SecretBox::new(&generate_master_key(), &[]).unwrap();
        assert!(matches!(
            other.decrypt(&stored),
            Err(CryptoError::UnknownKey(_))
        ));

        let mut bad = stored.clone();
        let last = bad.pop().unwrap();
        bad.push(if last == 'A' { 'B' } else { 'A' });
        assert!(old_box.decrypt(&bad).is_err());
        assert_eq!(old_box.decrypt("plain"), Err(CryptoError::Malformed));
    }

    #[test]
    fn master_key_must_be_32_bytes() {
        assert_eq!(
            SecretBox::new("c2hvcnQ=", &[]).unwrap_err(),
            CryptoError::BadMasterKey
        );
        assert_eq!(
            SecretBox::new("not base64!", &[]).unwrap_err(),
            CryptoError::BadMasterKey
        );
    }
}
