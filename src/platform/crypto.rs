//! Secrets at rest (AES-256-GCM), random tokens, digests and HMAC.

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, Generate, KeyInit, Payload},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Development and test fall back to this key so encrypted rows survive restarts; production
/// refuses to start without its own key (see `Settings::validate`).
const DEVELOPMENT_KEY: [u8; 32] = *b"smartflow-development-only-key!!";
const VERSION_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;

/// Parses a base64 key of exactly 32 bytes.
pub fn parse_key(value: &str) -> Result<[u8; 32], String> {
    let bytes = STANDARD.decode(value.trim()).map_err(|e| {
        format!("expected 32 bytes in base64 ({e}); generate one with `openssl rand -base64 32`")
    })?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        format!("expected 32 bytes in base64, got {} bytes; generate one with `openssl rand -base64 32`", b.len())
    })
}

/// Encrypts and decrypts small secrets (API keys, OAuth tokens) for storage.
#[derive(Clone)]
pub struct Cipher {
    cipher: Aes256Gcm,
    /// Kept to derive purpose-specific keys (e.g. media link signatures).
    key: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the stored secret is not in the expected format")]
    Format,
    #[error("the stored secret cannot be decrypted with the configured key")]
    Decrypt,
    #[error("the secret could not be encrypted")]
    Encrypt,
}

impl Cipher {
    pub fn new(key: &[u8; 32]) -> Self {
        // A 32-byte slice is always a valid AES-256 key.
        let cipher = Aes256Gcm::new(key.into());
        Cipher { cipher, key: *key }
    }

    /// The configured key, or the development key when none is set (never in production).
    pub fn from_settings(key: Option<&str>) -> Result<Self, String> {
        match key {
            Some(key) => Ok(Cipher::new(&parse_key(key)?)),
            None => Ok(Cipher::new(&DEVELOPMENT_KEY)),
        }
    }

    /// A key for one purpose, derived from the encryption key (HMAC-SHA256 of `label`).
    pub fn derive_key(&self, label: &str) -> Vec<u8> {
        hmac_sha256(&self.key, label.as_bytes())
    }

    /// `context` binds the ciphertext to where it is stored (e.g. `"ai_provider_key:<id>"`), so a
    /// value copied to another row does not decrypt.
    pub fn encrypt(&self, plaintext: &str, context: &str) -> Result<String, CryptoError> {
        let nonce = Nonce::generate();
        let payload = Payload { msg: plaintext.as_bytes(), aad: context.as_bytes() };
        let ciphertext = self.cipher.encrypt(&nonce, payload).map_err(|_| CryptoError::Encrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&ciphertext);
        Ok(format!("{VERSION_PREFIX}{}", STANDARD.encode(out)))
    }

    pub fn decrypt(&self, stored: &str, context: &str) -> Result<String, CryptoError> {
        let encoded = stored.strip_prefix(VERSION_PREFIX).ok_or(CryptoError::Format)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| CryptoError::Format)?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Format);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| CryptoError::Format)?;
        let plain = self
            .cipher
            .decrypt(&nonce, Payload { msg: ciphertext, aad: context.as_bytes() })
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Format)
    }
}

/// A URL-safe random token with `bytes` bytes of entropy.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(data.as_ref()))
}

pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Constant-time check of an HMAC-SHA256 tag given in hex.
pub fn verify_hmac_sha256_hex(key: &[u8], message: &[u8], tag_hex: &str) -> bool {
    let Ok(tag) = hex::decode(tag_hex) else { return false };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else { return false };
    mac.update(message);
    mac.verify_slice(&tag).is_ok()
}

/// Constant-time equality for secrets of equal length (length itself is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_context_binding() {
        let cipher = Cipher::new(&[7u8; 32]);
        let stored = cipher.encrypt("sk-live-123", "row:1").unwrap();
        assert!(stored.starts_with("v1:"));
        assert!(!stored.contains("sk-live"));
        assert_eq!(cipher.decrypt(&stored, "row:1").unwrap(), "sk-live-123");
        assert!(matches!(cipher.decrypt(&stored, "row:2"), Err(CryptoError::Decrypt)));
        assert!(matches!(
            Cipher::new(&[8u8; 32]).decrypt(&stored, "row:1"),
            Err(CryptoError::Decrypt)
        ));
        assert!(matches!(cipher.decrypt("garbage", "row:1"), Err(CryptoError::Format)));
    }

    #[test]
    fn nonces_differ() {
        let cipher = Cipher::new(&[1u8; 32]);
        assert_ne!(cipher.encrypt("x", "c").unwrap(), cipher.encrypt("x", "c").unwrap());
    }

    #[test]
    fn key_parsing_names_the_problem() {
        assert!(parse_key(&STANDARD.encode([0u8; 32])).is_ok());
        assert!(parse_key(&STANDARD.encode([0u8; 16])).unwrap_err().contains("got 16 bytes"));
        assert!(parse_key("not base64!").is_err());
    }

    #[test]
    fn hmac_verification() {
        let tag = hex::encode(hmac_sha256(b"secret", b"payload"));
        assert!(verify_hmac_sha256_hex(b"secret", b"payload", &tag));
        assert!(!verify_hmac_sha256_hex(b"secret", b"payload2", &tag));
        assert!(!verify_hmac_sha256_hex(b"other", b"payload", &tag));
        assert!(!verify_hmac_sha256_hex(b"secret", b"payload", "zz"));
    }
}
