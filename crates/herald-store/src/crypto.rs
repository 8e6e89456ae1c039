//! Encryption of secrets at rest (access and refresh tokens, signing secrets,
//! app secrets): AES-256-GCM under the master key, a fresh random nonce per
//! value, and the key's id stored with each value so the master key can be
//! rotated (older keys stay readable while values are re-encrypted).
//!
//! Each value is bound to its place: the AES-GCM associated data names the
//! table, column and row id, so a ciphertext copied into another row or
//! column fails authentication instead of handing one user's token to another.
//!
//! Stored form: `v2:<key id>:<base64(nonce ‖ ciphertext+tag)>` (bound). The
//! older `v1:` form (no associated data) is still read; `herald keys
//! rotate-master` rewrites it as `v2:`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
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

/// Where a value is stored: the associated data it is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place<'a> {
    pub table: &'a str,
    pub column: &'a str,
    /// The row's primary key.
    pub id: &'a str,
}

impl<'a> Place<'a> {
    pub fn new(table: &'a str, column: &'a str, id: &'a str) -> Self {
        Place { table, column, id }
    }

    /// Table and column never hold `/`; the id comes last, so no two places
    /// share associated data.
    fn associated_data(&self) -> Vec<u8> {
        format!("herald/{}/{}/{}", self.table, self.column, self.id).into_bytes()
    }
}

/// The stored-form prefix of values bound to their place.
pub const BOUND_VERSION: &str = "v2";

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

    /// Encrypts `plain` bound to `place` (the `v2:` form).
    pub fn encrypt(&self, plain: &str, place: Place<'_>) -> String {
        let aad = place.associated_data();
        self.seal(BOUND_VERSION, plain, &aad)
    }

    /// The `v1:` form written before values were bound to their place: only
    /// for tests of the upgrade path (Herald itself never writes it now).
    pub fn encrypt_unbound(&self, plain: &str) -> String {
        self.seal("v1", plain, b"")
    }

    fn seal(&self, version: &str, plain: &str, aad: &[u8]) -> String {
        let nonce_bytes = rand::random::<[u8; 12]>();
        let nonce = Nonce::try_from(&nonce_bytes[..]).expect("12-byte nonce");
        let ct = self
            .current
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut blob = nonce_bytes.to_vec();
        blob.extend_from_slice(&ct);
        format!("{version}:{}:{}", self.current.id, B64.encode(blob))
    }

    /// Decrypts a value read from `place`: a `v2:` value only if it was
    /// written there, a `v1:` value (unbound, not yet rotated) as it is.
    pub fn decrypt(&self, stored: &str, place: Place<'_>) -> Result<Secret, CryptoError> {
        let mut parts = stored.splitn(3, ':');
        let (Some(version), Some(id), Some(data)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CryptoError::Malformed);
        };
        let aad = match version {
            BOUND_VERSION => place.associated_data(),
            "v1" => Vec::new(),
            _ => return Err(CryptoError::Malformed),
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
            .decrypt(
                &nonce,
                Payload {
                    msg: &blob[12..],
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Tampered)?;
        String::from_utf8(plain)
            .map(Secret::from)
            .map_err(|_| CryptoError::Malformed)
    }

    pub fn encrypt_opt(&self, plain: Option<&Secret>, place: Place<'_>) -> Option<String> {
        plain.map(|s| self.encrypt(s.expose(), place))
    }

    pub fn decrypt_opt(
        &self,
        stored: Option<&str>,
        place: Place<'_>,
    ) -> Result<Option<Secret>, CryptoError> {
        stored.map(|s| self.decrypt(s, place)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: Place<'static> = Place {
        table: "connections",
        column: "access_token_enc",
        id: "con_1",
    };

    #[test]
    fn round_trip_with_fresh_nonces() {
        let b = SecretBox::new(&generate_master_key(), &[]).unwrap();
        let a1 = b.encrypt("token-1", HERE);
        let a2 = b.encrypt("token-1", HERE);
        assert_ne!(a1, a2, "each value gets its own nonce");
        assert!(!a1.contains("token-1"));
        assert!(a1.starts_with(&format!("v2:{}:", b.key_id())));
        assert_eq!(b.decrypt(&a1, HERE).unwrap().expose(), "token-1");
    }

    #[test]
    fn a_bound_value_reads_only_at_its_place() {
        let b = SecretBox::new(&generate_master_key(), &[]).unwrap();
        let stored = b.encrypt("token-1", HERE);
        for elsewhere in [
            Place::new("connections", "access_token_enc", "con_2"),
            Place::new("connections", "refresh_token_enc", "con_1"),
            Place::new("apps", "access_token_enc", "con_1"),
            // The separator cannot be used to shift parts between fields.
            Place::new("connections", "access_token_enc/con_1", ""),
        ] {
            assert_eq!(
                b.decrypt(&stored, elsewhere),
                Err(CryptoError::Tampered),
                "{elsewhere:?}"
            );
        }
        // A bound value relabelled as unbound does not read either.
        let relabelled = stored.replacen("v2:", "v1:", 1);
        assert_eq!(b.decrypt(&relabelled, HERE), Err(CryptoError::Tampered));
        assert_eq!(
            b.decrypt(&stored.replacen("v2:", "v3:", 1), HERE),
            Err(CryptoError::Malformed)
        );
    }

    #[test]
    fn unbound_values_read_anywhere_until_rotated() {
        let b = SecretBox::new(&generate_master_key(), &[]).unwrap();
        let old = b.encrypt_unbound("token-1");
        assert!(old.starts_with("v1:"));
        assert_eq!(b.decrypt(&old, HERE).unwrap().expose(), "token-1");
    }

    #[test]
    fn old_keys_decrypt_and_tampering_is_detected() {
        let old = generate_master_key();
        let old_box = SecretBox::new(&old, &[]).unwrap();
        let stored = old_box.encrypt("refresh", HERE);
        let new_box = SecretBox::new(&generate_master_key(), &[old]).unwrap();
        assert_eq!(new_box.decrypt(&stored, HERE).unwrap().expose(), "refresh");

        let other = SecretBox::new(&generate_master_key(), &[]).unwrap();
        assert!(matches!(
            other.decrypt(&stored, HERE),
            Err(CryptoError::UnknownKey(_))
        ));

        let mut bad = stored.clone();
        let last = bad.pop().unwrap();
        bad.push(if last == 'A' { 'B' } else { 'A' });
        assert!(old_box.decrypt(&bad, HERE).is_err());
        assert_eq!(old_box.decrypt("plain", HERE), Err(CryptoError::Malformed));
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
