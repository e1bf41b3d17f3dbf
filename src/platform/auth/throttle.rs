//! Brute-force protection: sign-in attempts and password-reset requests are counted per account
//! and per client address in fixed windows (cache `INCR` + `EXPIRE`); over a limit answers 429.
//!
//! Each sign-in attempt is counted *before* its password is checked: counting after the check
//! let concurrent guesses all pass a limit that none of them had reached yet. A successful
//! sign-in gives its count back (the account's counter is cleared, the address's decremented),
//! so the counters hold failures.
//!
//! When the cache cannot count (Redis unreachable), sign-in and reset requests fail closed with
//! 503: the limits are a security control, and skipping them silently would let guessing run
//! unbounded while Redis is down. Requests that are already signed in are not affected.

use std::time::Duration;

use crate::{
    config::AuthSettings,
    error::AppError,
    platform::{cache::Cache, crypto::sha256_hex},
};

fn account_key(kind: &str, email: &str) -> String {
    // Hashed: the cache never holds the address itself.
    format!("{kind}:account:{}", &sha256_hex(email)[..32])
}

fn ip_key(kind: &str, ip: &str) -> String {
    format!("{kind}:ip:{ip}")
}

const LOGIN: &str = "login:fail";
const RESET: &str = "reset:request";

/// A counted sign-in attempt; hand it to [`sign_in_succeeded`] when the password was right.
#[derive(Debug)]
pub struct Attempt {
    account: String,
    ip: Option<String>,
}

/// Counts one event on each `(key, limit)`; refuses when any count goes over its limit.
async fn count(
    cache: &dyn Cache,
    counters: &[(String, u64)],
    window: Duration,
    detail: impl Fn(u64) -> String,
) -> Result<(), AppError> {
    let mut retry_after = None;
    for (key, max) in counters {
        let counter = cache.incr(key, window).await.map_err(|e| {
            tracing::error!(error = %e, "brute-force counter unavailable; refusing (fail closed)");
            AppError::ServiceUnavailable(
                "Signing in and password resets are briefly unavailable; try again in a minute."
                    .into(),
            )
        })?;
        if counter.count > *max {
            let secs = counter.resets_in.as_secs().max(1);
            retry_after = Some(retry_after.map_or(secs, |r: u64| r.max(secs)));
        }
    }
    match retry_after {
        None => Ok(()),
        Some(secs) => {
            Err(AppError::TooManyRequests { retry_after_secs: secs, detail: detail(secs) })
        }
    }
}

fn minutes(secs: u64) -> u64 {
    secs.div_ceil(60).max(1)
}

/// Counts a sign-in attempt for `email` and the client address, before the password is
/// checked; 429 when either is over its limit.
pub async fn begin_sign_in(
    cache: &dyn Cache,
    s: &AuthSettings,
    email: &str,
    ip: Option<&str>,
) -> Result<Attempt, AppError> {
    let attempt = Attempt { account: account_key(LOGIN, email), ip: ip.map(|i| ip_key(LOGIN, i)) };
    let mut counters = vec![(attempt.account.clone(), s.max_failed_logins_per_account)];
    if let Some(ip) = &attempt.ip {
        counters.push((ip.clone(), s.max_failed_logins_per_ip));
    }
    let window = Duration::from_secs(s.failed_login_window_secs);
    count(cache, &counters, window, |secs| {
        format!("Too many failed sign-ins. Wait {} minutes or reset your password.", minutes(secs))
    })
    .await?;
    Ok(attempt)
}

/// The password was right: the account starts afresh and the address gets its count back.
pub async fn sign_in_succeeded(cache: &dyn Cache, attempt: &Attempt) {
    if let Err(e) = cache.delete(&attempt.account).await {
        tracing::warn!(error = %e, "could not clear a sign-in counter");
    }
    if let Some(ip) = &attempt.ip
        && let Err(e) = cache.decr(ip).await
    {
        tracing::warn!(error = %e, "could not give back a sign-in count");
    }
}

/// Counts a password-reset request for `email` (known or not: the answer must not tell) and
/// the client address; 429 when either is over its limit.
pub async fn reset_requested(
    cache: &dyn Cache,
    s: &AuthSettings,
    email: &str,
    ip: Option<&str>,
) -> Result<(), AppError> {
    let mut counters = vec![(account_key(RESET, email), s.max_password_resets_per_account)];
    if let Some(ip) = ip {
        counters.push((ip_key(RESET, ip), s.max_password_resets_per_ip));
    }
    let window = Duration::from_secs(s.password_reset_window_secs);
    count(cache, &counters, window, |secs| {
        format!(
            "Too many password-reset requests. Check your inbox, or wait {} minutes and try again.",
            minutes(secs)
        )
    })
    .await
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::{
        config::Settings,
        platform::cache::{CacheBackend, CacheError, Counter, MemoryCache, Subscription},
    };

    fn settings() -> AuthSettings {
        let mut s = Settings::default().auth;
        s.max_failed_logins_per_account = 3;
        s.max_failed_logins_per_ip = 100;
        s
    }

    #[tokio::test]
    async fn attempts_in_flight_count_before_any_fails() {
        let cache = MemoryCache::new();
        let s = settings();
        // Twenty guesses arrive together: none has failed yet when each is admitted.
        let attempts = futures_util::future::join_all(
            (0..20).map(|_| begin_sign_in(&cache, &s, "a@example.com", Some("10.0.0.1"))),
        )
        .await;
        let admitted = attempts.iter().filter(|a| a.is_ok()).count();
        assert_eq!(admitted, 3, "only the limit's worth of guesses gets to check a password");
        assert!(attempts.iter().any(|a| matches!(
            a,
            Err(AppError::TooManyRequests { retry_after_secs, .. }) if *retry_after_secs > 0
        )));
    }

    #[tokio::test]
    async fn success_clears_the_account_and_gives_the_address_its_count_back() {
        let cache = MemoryCache::new();
        let mut s = settings();
        s.max_failed_logins_per_ip = 2;
        for _ in 0..5 {
            let a = begin_sign_in(&cache, &s, "ok@example.com", Some("10.0.0.2")).await.unwrap();
            sign_in_succeeded(&cache, &a).await;
        }
        begin_sign_in(&cache, &s, "x@example.com", Some("10.0.0.2")).await.unwrap();
        begin_sign_in(&cache, &s, "y@example.com", Some("10.0.0.2")).await.unwrap();
        assert!(matches!(
            begin_sign_in(&cache, &s, "z@example.com", Some("10.0.0.2")).await,
            Err(AppError::TooManyRequests { .. })
        ));
    }

    /// A cache that is down.
    struct Down;

    #[async_trait]
    impl Cache for Down {
        fn backend(&self) -> CacheBackend {
            CacheBackend::Redis
        }
        async fn get(&self, _: &str) -> Result<Option<String>, CacheError> {
            Err(CacheError::Timeout)
        }
        async fn set(&self, _: &str, _: &str, _: Option<Duration>) -> Result<(), CacheError> {
            Err(CacheError::Timeout)
        }
        async fn set_nx(&self, _: &str, _: &str, _: Duration) -> Result<bool, CacheError> {
            Err(CacheError::Timeout)
        }
        async fn delete(&self, _: &str) -> Result<bool, CacheError> {
            Err(CacheError::Timeout)
        }
        async fn incr(&self, _: &str, _: Duration) -> Result<Counter, CacheError> {
            Err(CacheError::Timeout)
        }
        async fn decr(&self, _: &str) -> Result<(), CacheError> {
            Err(CacheError::Timeout)
        }
        async fn publish(&self, _: &str, _: &str) -> Result<(), CacheError> {
            Err(CacheError::Timeout)
        }
        async fn subscribe(&self, _: &str) -> Result<Subscription, CacheError> {
            Err(CacheError::Timeout)
        }
        async fn ping(&self) -> Result<(), CacheError> {
            Err(CacheError::Timeout)
        }
    }

    #[tokio::test]
    async fn an_unreachable_cache_fails_closed() {
        let s = settings();
        assert!(matches!(
            begin_sign_in(&Down, &s, "a@example.com", None).await,
            Err(AppError::ServiceUnavailable(_))
        ));
        assert!(matches!(
            reset_requested(&Down, &s, "a@example.com", None).await,
            Err(AppError::ServiceUnavailable(_))
        ));
    }

    #[tokio::test]
    async fn reset_requests_are_limited_per_account_whether_it_exists_or_not() {
        let cache = MemoryCache::new();
        let mut s = settings();
        s.max_password_resets_per_account = 2;
        for _ in 0..2 {
            reset_requested(&cache, &s, "who@example.com", None).await.unwrap();
        }
        assert!(matches!(
            reset_requested(&cache, &s, "who@example.com", None).await,
            Err(AppError::TooManyRequests { .. })
        ));
        reset_requested(&cache, &s, "other@example.com", None).await.unwrap();
    }
}
