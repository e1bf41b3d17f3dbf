//! Rate budgets in the shared cache (Redis in production): posts per account and per platform
//! (this app's quota) in a fixed window, and the "wait until" a platform's 429 asked for, so
//! every worker holds back, not just the one that was refused. Redis is an accelerator: when
//! it fails, publishing goes ahead and the platform's own limits still answer 429.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::state::AppState;

fn blocked_key(account: Uuid) -> String {
    format!("social:blocked:{account}")
}

/// Holds every publish to `account` back until `until`.
pub async fn block(state: &AppState, account: Uuid, until: DateTime<Utc>) {
    let ttl = (until - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(1);
    if let Err(e) = state
        .cache
        .set(&blocked_key(account), &until.timestamp_millis().to_string(), Some(ttl))
        .await
    {
        tracing::warn!(error = %e, %account, "could not store a rate-limit pause");
    }
}

/// When the platform said this account may publish again, if that is still ahead.
pub async fn blocked_until(state: &AppState, account: Uuid) -> Option<DateTime<Utc>> {
    let value = state.cache.get(&blocked_key(account)).await.ok().flatten()?;
    let until = DateTime::from_timestamp_millis(value.parse().ok()?)?;
    (until > Utc::now()).then_some(until)
}

/// `Some(wait)` when this publish must wait: the account is paused, or a budget is spent.
/// Otherwise counts the publish against both budgets. A refused publish counts against
/// neither: when the second budget refuses, the first one's unit is given back, so a
/// platform-wide squeeze does not also use up each account's own allowance.
pub async fn take(state: &AppState, account: Uuid, platform: &str) -> Option<Duration> {
    if let Some(until) = blocked_until(state, account).await {
        return Some((until - Utc::now()).to_std().unwrap_or_default());
    }
    let b = &state.settings.social.budgets;
    let window = Duration::from_secs(b.window_secs);
    let mut taken: Vec<String> = Vec::with_capacity(2);
    for (key, max) in
        [(account_key(account), b.account_max_posts), (app_key(platform), b.app_max_posts)]
    {
        match state.cache.incr(&key, window).await {
            Ok(c) if c.count > max => {
                taken.push(key);
                refund(state, &taken).await;
                return Some(c.resets_in.max(Duration::from_secs(1)));
            }
            Ok(_) => taken.push(key),
            Err(e) => tracing::warn!(error = %e, "rate budget unavailable; publishing anyway"),
        }
    }
    None
}

pub fn account_key(account: Uuid) -> String {
    format!("social:budget:account:{account}")
}

pub fn app_key(platform: &str) -> String {
    format!("social:budget:app:{platform}")
}

async fn refund(state: &AppState, keys: &[String]) {
    for key in keys {
        if let Err(e) = state.cache.decr(key).await {
            tracing::warn!(error = %e, key, "rate budget refund failed");
        }
    }
}
