//! Signed webhooks, one scheme in both directions (the one Stripe uses):
//! `<Name>-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
//! Verification accepts any of several `v1` values (secret rotation), checks the timestamp
//! against a tolerance window (replays), and compares in constant time.

use crate::platform::crypto::{hmac_sha256, verify_hmac_sha256_hex};

pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut message = timestamp.to_string().into_bytes();
    message.push(b'.');
    message.extend_from_slice(body);
    format!("t={timestamp},v1={}", hex::encode(hmac_sha256(secret, &message)))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header is malformed; expected `t=<timestamp>,v1=<signature>`")]
    Malformed,
    #[error("the signature timestamp is outside the tolerance window")]
    Stale,
    #[error("no signature matches the payload")]
    Mismatch,
}

/// Verifies a `t=…,v1=…[,v1=…]` header for `body` at time `now` (unix seconds).
pub fn verify(
    header: Option<&str>,
    secret: &[u8],
    body: &[u8],
    tolerance_secs: u64,
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(SignatureError::Malformed)?;
        match k {
            "t" => timestamp = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            "v1" => signatures.push(v),
            _ => {} // other schemes (e.g. v0) are ignored
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.abs_diff(t) > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    let mut message = t.to_string().into_bytes();
    message.push(b'.');
    message.extend_from_slice(body);
    // Check every candidate so the time taken does not depend on which one matched.
    let matched = signatures
        .iter()
        .fold(false, |acc, sig| verify_hmac_sha256_hex(secret, &message, sig) | acc);
    if matched { Ok(()) } else { Err(SignatureError::Mismatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify() {
        let header = sign(b"whsec_test", 1_700_000_000, br#"{"id":1}"#);
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(
            verify(Some(&header), b"whsec_test", br#"{"id":1}"#, 300, 1_700_000_100),
            Ok(())
        );
    }

    #[test]
    fn rejects_tampering_staleness_and_garbage() {
        let header = sign(b"k", 1_000, b"body");
        assert_eq!(verify(Some(&header), b"k", b"b0dy", 300, 1_000), Err(SignatureError::Mismatch));
        assert_eq!(
            verify(Some(&header), b"other", b"body", 300, 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(Some(&header), b"k", b"body", 300, 1_301), Err(SignatureError::Stale));
        assert_eq!(verify(None, b"k", b"body", 300, 1_000), Err(SignatureError::Missing));
        assert_eq!(
            verify(Some("nonsense"), b"k", b"body", 300, 1_000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some("t=1000"), b"k", b"body", 300, 1_000),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let good = sign(b"new", 1_000, b"body");
        let good_sig = good.split("v1=").nth(1).unwrap();
        let header = format!("t=1000,v1={},v1={good_sig},v0=legacy", "ab".repeat(32));
        assert_eq!(verify(Some(&header), b"new", b"body", 300, 1_000), Ok(()));
    }
}
