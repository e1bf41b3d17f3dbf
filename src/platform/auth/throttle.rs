//! Brute-force protection for sign-in: failed attempts counted per account and per client
//! address in fixed windows (cache `INCR` + `EXPIRE`); over the limit answers 429.

use std::time::Duration;

use crate::{error::AppError, platform::crypto::sha256_hex, state::AppState};

fn account_key(email: &str) -> String {
    // Hashed: the cache never holds the address itself.
    format!("login:fail:account:{}", &sha256_hex(email)[..32])
}

fn ip_key(ip: &str) -> String {
    format!("login:fail:ip:{ip}")
}

/// Refuses the attempt when either counter is over its limit.
pub async fn check(state: &AppState, email: &str, ip: Option<&str>) -> Result<(), AppError> {
    let s = &state.settings.auth;
    let over = |count: Option<String>, max: u64| {
        count.and_then(|c| c.parse::<u64>().ok()).is_some_and(|c| c >= max)
    };
    let account = state.cache.get(&account_key(email)).await.ok().flatten();
    let by_ip = match ip {
        Some(ip) => state.cache.get(&ip_key(ip)).await.ok().flatten(),
        None => None,
    };
    if over(account, s.max_failed_logins_per_account) || over(by_ip, s.max_failed_logins_per_ip) {
        return Err(AppError::TooManyRequests {
            retry_after_secs: s.failed_login_window_secs,
            detail: format!(
                "Too many failed sign-ins. Wait {} minutes or reset your password.",
                s.failed_login_window_secs.div_ceil(60)
            ),
        });
    }
    Ok(())
}

pub async fn record_failure(state: &AppState, email: &str, ip: Option<&str>) {
    let window = Duration::from_secs(state.settings.auth.failed_login_window_secs);
    if let Err(e) = state.cache.incr(&account_key(email), window).await {
        tracing::warn!(error = %e, "could not count a failed sign-in");
    }
    if let Some(ip) = ip
        && let Err(e) = state.cache.incr(&ip_key(ip), window).await
    {
        tracing::warn!(error = %e, "could not count a failed sign-in");
    }
}

/// A successful sign-in clears the account's counter (not the address's).
pub async fn record_success(state: &AppState, email: &str) {
    let _ = state.cache.delete(&account_key(email)).await;
}
