//! Secrets at rest (AES-256-GCM, a fresh random nonce per value) and random opaque tokens.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct EncryptionKey([u8; 32]);

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey(***)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a stored secret could not be decrypted (wrong APP_ENCRYPTION_KEY or corrupted data)")]
pub struct DecryptError;

impl EncryptionKey {
    pub fn from_base64(value: &str) -> Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value.trim()))
            .map_err(|_| "expected base64".to_owned())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("expected 32 bytes, got {}", b.len()))?;
        Ok(Self(key))
    }

    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(key)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `nonce || ciphertext+tag`. `context` (e.g. the column name) is bound as associated data so
    /// a value cannot be moved into another column and still decrypt.
    pub fn encrypt(&self, plaintext: &str, context: &str) -> Vec<u8> {
        let cipher = Aes256Gcm::new((&self.0).into());
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        [nonce.as_slice(), &sealed].concat()
    }

    pub fn decrypt(&self, stored: &[u8], context: &str) -> Result<String, DecryptError> {
        if stored.len() < NONCE_LEN {
            return Err(DecryptError);
        }
        let (nonce, sealed) = stored.split_at(NONCE_LEN);
        let cipher = Aes256Gcm::new((&self.0).into());
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| DecryptError)?;
        String::from_utf8(plain).map_err(|_| DecryptError)
    }
}

/// The associated data a stored secret is sealed with: what it is and whose it is, so a value
/// copied into another column or another adviser's row no longer decrypts.
pub fn secret_context(kind: &str, user_id: i64) -> String {
    format!("{kind}:{user_id}")
}

/// A random URL-safe token with `bytes` bytes of entropy.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Lowercase hex SHA-256, used to store lookup tokens (sessions) without storing the token.
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_round_trips_and_each_encryption_uses_a_new_nonce() {
        let key = EncryptionKey::generate();
        let a = key.encrypt("refresh-token", "refresh_token");
        let b = key.encrypt("refresh-token", "refresh_token");
        assert_ne!(a, b);
        assert_eq!(key.decrypt(&a, "refresh_token").unwrap(), "refresh-token");
        assert!(!String::from_utf8_lossy(&a).contains("refresh-token"));
    }

    #[test]
    fn a_secret_does_not_decrypt_under_another_key_or_context() {
        let key = EncryptionKey::generate();
        let sealed = key.encrypt("x", "access_token");
        assert!(EncryptionKey::generate()
            .decrypt(&sealed, "access_token")
            .is_err());
        assert!(key.decrypt(&sealed, "refresh_token").is_err());
        assert!(key.decrypt(&sealed[..5], "access_token").is_err());
    }

    #[test]
    fn a_secret_sealed_for_one_adviser_does_not_open_for_another() {
        let key = EncryptionKey::generate();
        let sealed = key.encrypt("x", &secret_context("access_token", 1));
        assert!(key
            .decrypt(&sealed, &secret_context("access_token", 2))
            .is_err());
        assert_eq!(
            key.decrypt(&sealed, &secret_context("access_token", 1))
                .unwrap(),
            "x"
        );
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token(16);
        assert_eq!(a.len(), 22);
        assert_ne!(a, random_token(16));
    }
}
