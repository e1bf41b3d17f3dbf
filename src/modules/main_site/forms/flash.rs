//! Post/redirect/get for the public forms: a form post with mistakes is redirected back to its
//! page, which shows the mistakes and the values typed. The pair lives briefly in the cache
//! under a random key, read once, so pages themselves stay cacheable.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{error::FieldError, platform::crypto::random_token, state::AppState};

const TTL: Duration = Duration::from_secs(600);
/// Never shown back (and never stored): the honeypot, the form token, where to return.
const NOT_KEPT: [&str; 4] = ["website", "form_token", "return_to", "csrf_token"];

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Flash {
    pub values: BTreeMap<String, String>,
    pub errors: Vec<FieldError>,
    /// A message about the whole form (rate limit, expiry).
    pub message: String,
}

impl Flash {
    pub fn new(
        mut values: BTreeMap<String, String>,
        errors: Vec<FieldError>,
        message: String,
    ) -> Self {
        values.retain(|k, _| !NOT_KEPT.contains(&k.as_str()));
        Flash { values, errors, message }
    }
}

fn key(id: &str) -> String {
    format!("flash:{id}")
}

/// Stores `flash`; `None` when the cache is unavailable (the page then asks to refill the form).
pub async fn store(state: &AppState, flash: &Flash) -> Option<String> {
    let id = random_token(16);
    let json = serde_json::to_string(flash).ok()?;
    match state.cache.set(&key(&id), &json, Some(TTL)).await {
        Ok(()) => Some(id),
        Err(e) => {
            tracing::warn!(error = %e, "could not keep a form's errors for its page");
            None
        }
    }
}

/// Reads and forgets the flash stored under `id`.
pub async fn take(state: &AppState, id: &str) -> Option<Flash> {
    if id.is_empty()
        || id.len() > 64
        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let json = state.cache.get(&key(id)).await.ok().flatten()?;
    let _ = state.cache.delete(&key(id)).await;
    serde_json::from_str(&json).ok()
}
