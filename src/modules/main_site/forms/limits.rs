//! Submission limits of the public forms, per client address and per e-mail address, counted in
//! `state.cache` (Redis across instances). Addresses are hashed: no e-mail ends up in a key.

use std::time::Duration;

use crate::{domain::Email, error::AppError, platform::crypto::sha256_hex, state::AppState};

fn window(state: &AppState) -> Duration {
    Duration::from_secs(state.settings.main_site.submission_window_secs)
}

fn active(state: &AppState, limit: u64) -> bool {
    state.settings.rate_limit.enabled && limit > 0
}

/// Counts one submission from `ip`; 429 once the window's allowance is spent.
pub async fn hit_ip(state: &AppState, ip: &str) -> Result<(), AppError> {
    let limit = state.settings.main_site.submissions_per_ip;
    if !active(state, limit) {
        return Ok(());
    }
    hit(state, &format!("forms:ip:{ip}"), limit, "from your network").await
}

/// Counts one submission for `email`.
pub async fn hit_email(state: &AppState, email: &Email) -> Result<(), AppError> {
    let limit = state.settings.main_site.submissions_per_email;
    if !active(state, limit) {
        return Ok(());
    }
    let key = format!("forms:email:{}", &sha256_hex(email.as_str())[..32]);
    hit(state, &key, limit, "for this e-mail address").await
}

async fn hit(state: &AppState, key: &str, limit: u64, whose: &str) -> Result<(), AppError> {
    match state.cache.incr(key, window(state)).await {
        Ok(counter) if counter.count > limit => {
            metrics::counter!("main_site_form_rate_limited_total").increment(1);
            let retry = counter.resets_in.as_secs().max(1);
            Err(AppError::TooManyRequests {
                retry_after_secs: retry,
                detail: format!(
                    "Too many forms were sent {whose}. Try again in {}.",
                    human_wait(retry)
                ),
            })
        }
        Ok(_) => Ok(()),
        // A cache outage must not stop people from reaching us.
        Err(e) => {
            tracing::warn!(error = %e, "form rate limit check failed; allowing");
            Ok(())
        }
    }
}

pub fn human_wait(secs: u64) -> String {
    if secs < 90 { format!("{secs} seconds") } else { format!("{} minutes", secs.div_ceil(60)) }
}
