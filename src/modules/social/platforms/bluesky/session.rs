//! Bluesky sessions (handle + app password) and deterministic record keys.

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::modules::social::platforms::oauth::{RefreshToken, TokenSet};

/// A logged-in Bluesky account: store `did` as the account id, `pds_url` as its instance URL,
/// and the tokens (the refresh JWT is the "refresh token").
#[derive(Clone)]
pub struct BlueskySession {
    pub did: String,
    pub handle: String,
    pub pds_url: String,
    pub tokens: TokenSet,
}

impl fmt::Debug for BlueskySession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlueskySession")
            .field("did", &self.did)
            .field("handle", &self.handle)
            .field("pds_url", &self.pds_url)
            .field("tokens", &self.tokens)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionResponse {
    pub did: String,
    #[serde(default)]
    pub handle: String,
    pub access_jwt: String,
    pub refresh_jwt: String,
    #[serde(default)]
    pub did_doc: Option<serde_json::Value>,
}

impl SessionResponse {
    pub(crate) fn into_session(self, fallback_pds: &str) -> BlueskySession {
        let pds_url = self
            .did_doc
            .as_ref()
            .and_then(pds_from_did_doc)
            .unwrap_or_else(|| fallback_pds.trim_end_matches('/').to_string());
        BlueskySession {
            tokens: TokenSet {
                expires_at: jwt_expiry(&self.access_jwt),
                refresh_expires_at: jwt_expiry(&self.refresh_jwt),
                access_token: SecretString::from(self.access_jwt),
                refresh_token: RefreshToken::Issued(SecretString::from(self.refresh_jwt)),
                scopes: None,
            },
            did: self.did,
            handle: self.handle,
            pds_url,
        }
    }
}

/// The account's own PDS from its DID document (`#atproto_pds` service): accounts on
/// self-hosted or other providers' servers are served there, not by the entryway.
fn pds_from_did_doc(doc: &serde_json::Value) -> Option<String> {
    doc.get("service")?.as_array()?.iter().find_map(|s| {
        let id = s.get("id")?.as_str()?;
        (id == "#atproto_pds" || id.ends_with("#atproto_pds"))
            .then(|| {
                s.get("serviceEndpoint")?.as_str().map(|u| u.trim_end_matches('/').to_string())
            })
            .flatten()
    })
}

/// The `exp` claim of a JWT, read without verifying it (only to schedule a refresh).
pub(crate) fn jwt_expiry(jwt: &str) -> Option<DateTime<Utc>> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    DateTime::from_timestamp(claims.get("exp")?.as_i64()?, 0)
}

const TID_ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";

/// A record key (TID) that is the same for every attempt at one post: the timestamp is the
/// post's `createdAt`, the 10-bit clock id comes from the idempotency key. A retry then writes
/// to the same record, which the PDS refuses instead of creating a second post.
pub(crate) fn deterministic_tid(created_at: DateTime<Utc>, idempotency_key: &str) -> String {
    let micros = u64::try_from(created_at.timestamp_micros()).unwrap_or(0) & ((1 << 53) - 1);
    let digest = Sha256::digest(idempotency_key.as_bytes());
    let clock = ((u64::from(digest[0]) << 2) | (u64::from(digest[1]) >> 6)) & 0x3FF;
    let value = (micros << 10) | clock;
    (0..13).map(|i| TID_ALPHABET[((value >> (60 - 5 * i)) & 31) as usize] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tids_are_valid_stable_and_key_dependent() {
        let at = DateTime::parse_from_rfc3339("2026-11-25T12:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = deterministic_tid(at, "post-1");
        assert_eq!(a.len(), 13);
        assert!(a.chars().next().is_some_and(|c| "234567abcdefghij".contains(c)));
        assert!(a.chars().all(|c| TID_ALPHABET.contains(&(c as u8))));
        assert_eq!(a, deterministic_tid(at, "post-1"));
        assert_ne!(a, deterministic_tid(at + chrono::Duration::microseconds(1), "post-1"));
        // Later timestamps sort later, as TIDs must.
        assert!(deterministic_tid(at + chrono::Duration::seconds(1), "post-1") > a);
    }

    #[test]
    fn reads_jwt_expiry_and_pds() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"scope":"com.atproto.access","exp":1800000000}"#);
        let jwt = format!("eyJhbGciOiJIUzI1NiJ9.{payload}.sig");
        assert_eq!(jwt_expiry(&jwt).unwrap().timestamp(), 1_800_000_000);
        assert!(jwt_expiry("not-a-jwt").is_none());

        let doc = serde_json::json!({"service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": "https://pds.example/"}]});
        assert_eq!(pds_from_did_doc(&doc).as_deref(), Some("https://pds.example"));
    }
}
