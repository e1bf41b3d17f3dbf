//! The signed token every public form carries: `v2.<issued unix ms>.<nonce>.<HMAC>`. A person
//! needs a few seconds to fill a form; a bot posting at once, or replaying a day-old page, is
//! refused. Signed, so a bot cannot simply claim an old timestamp; the random nonce lets the
//! site accept each token once (see `forms::spend`), so one fetched page cannot be replayed.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::platform::crypto::{constant_time_eq, hmac_sha256, random_token};

/// Label of the key derived from `security.encryption_key`.
pub const KEY_LABEL: &str = "main_site.form_token";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenProblem {
    Missing,
    Invalid,
    /// Sent this many seconds too early.
    TooFast(u64),
    Expired,
    /// Accepted once already.
    Used,
}

impl TokenProblem {
    pub fn message(&self) -> String {
        match self {
            TokenProblem::Missing | TokenProblem::Invalid => {
                "This form could not be checked. Reload the page and send it again.".into()
            }
            TokenProblem::TooFast(wait) => format!(
                "That was quicker than a person can type. Wait {wait} second{} and send the form again.",
                if *wait == 1 { "" } else { "s" }
            ),
            TokenProblem::Expired => {
                "This form has been open too long. Reload the page and send it again.".into()
            }
            TokenProblem::Used => {
                "This form was already sent and we have it. To send another, reload the page."
                    .into()
            }
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            TokenProblem::Missing => "required",
            TokenProblem::Invalid => "invalid",
            TokenProblem::TooFast(_) => "too_fast",
            TokenProblem::Expired => "expired",
            TokenProblem::Used => "used",
        }
    }
}

/// A token that passed [`check`]: what is needed to accept it only once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Valid {
    pub nonce: String,
    /// How much longer the token would be accepted (at least 1 s).
    pub remaining_secs: u64,
}

fn signature(key: &[u8], issued_ms: i64, nonce: &str) -> String {
    URL_SAFE_NO_PAD.encode(hmac_sha256(key, format!("form:v2:{issued_ms}:{nonce}").as_bytes()))
}

/// A token issued at `issued_ms` (unix milliseconds), with a fresh nonce.
pub fn issue(key: &[u8], issued_ms: i64) -> String {
    let nonce = random_token(16);
    format!("v2.{issued_ms}.{nonce}.{}", signature(key, issued_ms, &nonce))
}

/// Checks `token` at `now_ms`: at least `min_fill_secs` old, at most `max_age_secs`.
pub fn check(
    key: &[u8],
    token: Option<&str>,
    now_ms: i64,
    min_fill_secs: u64,
    max_age_secs: u64,
) -> Result<Valid, TokenProblem> {
    let token = token.map(str::trim).filter(|t| !t.is_empty()).ok_or(TokenProblem::Missing)?;
    let mut parts = token.splitn(4, '.');
    let (Some("v2"), Some(issued), Some(nonce), Some(sig)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenProblem::Invalid);
    };
    let issued_ms: i64 = issued.parse().map_err(|_| TokenProblem::Invalid)?;
    if nonce.is_empty()
        || nonce.len() > 64
        || !constant_time_eq(signature(key, issued_ms, nonce).as_bytes(), sig.as_bytes())
    {
        return Err(TokenProblem::Invalid);
    }
    let age_ms = now_ms.saturating_sub(issued_ms);
    let min_ms = i64::try_from(min_fill_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    if age_ms < min_ms {
        let wait = ((min_ms - age_ms) as u64).div_ceil(1000);
        return Err(TokenProblem::TooFast(wait.max(1)));
    }
    let max_ms = i64::try_from(max_age_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    if age_ms > max_ms {
        return Err(TokenProblem::Expired);
    }
    let remaining_secs = (max_ms.saturating_sub(age_ms) as u64).div_ceil(1000).max(1);
    Ok(Valid { nonce: nonce.to_string(), remaining_secs })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"form-key";

    #[test]
    fn a_token_is_good_between_the_minimum_fill_time_and_its_age_limit() {
        let t = issue(KEY, 1_000_000);
        let valid = check(KEY, Some(&t), 1_000_000 + 3_000, 3, 60).unwrap();
        assert_eq!(valid.remaining_secs, 57);
        assert_eq!(check(KEY, Some(&t), 1_000_000 + 500, 3, 60), Err(TokenProblem::TooFast(3)));
        assert_eq!(check(KEY, Some(&t), 1_000_000 + 2_001, 3, 60), Err(TokenProblem::TooFast(1)));
        assert_eq!(check(KEY, Some(&t), 1_000_000 + 61_000, 3, 60), Err(TokenProblem::Expired));
    }

    #[test]
    fn every_token_has_its_own_nonce() {
        let (a, b) = (issue(KEY, 1_000_000), issue(KEY, 1_000_000));
        assert_ne!(a, b, "two pages shown in the same millisecond");
        let nonce = |t: &str| check(KEY, Some(t), 1_010_000, 3, 60).unwrap().nonce;
        assert_ne!(nonce(&a), nonce(&b));
    }

    #[test]
    fn forged_or_garbled_tokens_are_refused() {
        let t = issue(KEY, 1_000_000);
        assert_eq!(check(b"other", Some(&t), 1_010_000, 3, 60), Err(TokenProblem::Invalid));
        // Claiming an earlier time, or another nonce, breaks the signature.
        let forged = t.replacen("1000000", "900000", 1);
        assert_eq!(check(KEY, Some(&forged), 1_010_000, 3, 60), Err(TokenProblem::Invalid));
        let parts: Vec<&str> = t.split('.').collect();
        let renonced = format!("v2.{}.{}.{}", parts[1], "AAAAAAAAAAAAAAAAAAAAAA", parts[3]);
        assert_eq!(check(KEY, Some(&renonced), 1_010_000, 3, 60), Err(TokenProblem::Invalid));
        assert_eq!(check(KEY, Some("v2.abc.n.def"), 1_010_000, 3, 60), Err(TokenProblem::Invalid));
        assert_eq!(
            check(KEY, Some("v1.1000000.sig"), 1_010_000, 3, 60),
            Err(TokenProblem::Invalid)
        );
        assert_eq!(check(KEY, Some("nonsense"), 1_010_000, 3, 60), Err(TokenProblem::Invalid));
        assert_eq!(check(KEY, Some(" "), 1_010_000, 3, 60), Err(TokenProblem::Missing));
        assert_eq!(check(KEY, None, 1_010_000, 3, 60), Err(TokenProblem::Missing));
    }
}
