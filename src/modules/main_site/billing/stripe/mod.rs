//! A thin, typed Stripe client: the three calls SmartFlow makes, form-encoded as Stripe expects,
//! with an `Idempotency-Key` on every POST (reused by its retries), Stripe's error object
//! parsed, a pinned `Stripe-Version`, a timeout, and a configurable base URL for tests.

pub mod form;
pub mod types;

use std::time::Duration;

use reqwest::{StatusCode, header::HeaderMap};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

pub use form::Form;
pub use types::{ApiError, CheckoutSession, Event, Invoice, PortalSession, Subscription};

use crate::{config::BillingSettings, error::AppError};

/// Attempts per call at most: Stripe asks clients to retry network errors, 409 lock timeouts,
/// 429 and 5xx with the same idempotency key.
const ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    #[error("Stripe answered {status} ({}): {}", .error.kind, .error.message.clone().unwrap_or_default())]
    Api { status: u16, error: ApiError },
    #[error("Stripe could not be reached: {0}")]
    Transport(String),
    #[error("Stripe's answer could not be read: {0}")]
    Decode(String),
}

impl From<StripeError> for AppError {
    fn from(e: StripeError) -> Self {
        tracing::warn!(error = %e, "Stripe call failed");
        match e {
            StripeError::Api { status: 401 | 403, .. } => AppError::ServiceUnavailable(
                "Stripe refused SmartFlow's API key; an operator must check billing.stripe_secret_key."
                    .into(),
            ),
            // The same key with other parameters. Keys include a hash of the parameters, so this
            // means the caller's key was used for a request this server no longer makes alike.
            StripeError::Api { status: 400, error } if error.kind == "idempotency_error" => {
                AppError::Conflict(
                    "This Idempotency-Key was already used for a different request; send a new \
                     key (or none) to start another."
                        .into(),
                )
            }
            StripeError::Api { status, error } if status < 500 && status != 429 => {
                AppError::BadGateway(format!(
                    "Stripe refused the request: {}",
                    error.message.unwrap_or(error.kind)
                ))
            }
            _ => AppError::ServiceUnavailable(
                "Stripe is not reachable right now; try again in a minute.".into(),
            ),
        }
    }
}

#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    base: String,
    key: String,
    version: String,
    timeout: Duration,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient").field("base", &self.base).finish_non_exhaustive()
    }
}

impl StripeClient {
    /// `None` when no secret key is configured (checkout then answers 503).
    pub fn from_settings(
        s: &BillingSettings,
        version: &str,
        http: reqwest::Client,
    ) -> Option<Self> {
        let key = s.stripe_secret_key.get()?;
        Some(StripeClient {
            http,
            base: s.stripe_api_base.trim_end_matches('/').to_string(),
            key: key.to_string(),
            version: version.to_string(),
            timeout: Duration::from_millis(s.stripe_timeout_ms),
        })
    }

    /// `POST /v1/checkout/sessions`.
    pub async fn create_checkout_session(
        &self,
        params: &Form,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        self.post("/v1/checkout/sessions", params, idempotency_key).await
    }

    /// `POST /v1/billing_portal/sessions` (`customer`, `return_url`).
    pub async fn create_portal_session(
        &self,
        params: &Form,
        idempotency_key: &str,
    ) -> Result<PortalSession, StripeError> {
        self.post("/v1/billing_portal/sessions", params, idempotency_key).await
    }

    /// Sends `form`, retrying what Stripe says may be retried with the same idempotency key,
    /// all within one time budget (`billing.stripe_timeout_ms`): a person is waiting for the
    /// redirect, so retries never stretch the wait beyond it.
    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: &Form,
        idempotency_key: &str,
    ) -> Result<T, StripeError> {
        let body = form.encode();
        let deadline = Instant::now() + self.timeout;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            let sent = self
                .http
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.key)
                .header("Stripe-Version", &self.version)
                .header("Idempotency-Key", idempotency_key)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .timeout(left)
                .body(body.clone())
                .send()
                .await;
            let result = match sent {
                Ok(res) => read(res).await,
                Err(e) => Err((StripeError::Transport(e.without_url().to_string()), true)),
            };
            let backoff = Duration::from_millis(250 * 2u64.pow(attempt - 1));
            match result {
                Ok(value) => return Ok(value),
                Err((err, retry))
                    if retry
                        && attempt < ATTEMPTS
                        && deadline.saturating_duration_since(Instant::now()) > backoff =>
                {
                    tracing::info!(error = %err, attempt, path, "retrying a Stripe call");
                    tokio::time::sleep(backoff).await;
                }
                Err((err, _)) => return Err(err),
            }
        }
    }
}

/// Parses a response; the flag says whether a retry may help.
async fn read<T: DeserializeOwned>(res: reqwest::Response) -> Result<T, (StripeError, bool)> {
    let status = res.status();
    let should_retry = should_retry(res.headers(), status);
    let bytes = res.bytes().await.map_err(|e| (StripeError::Transport(e.to_string()), true))?;
    if status.is_success() {
        return serde_json::from_slice(&bytes)
            .map_err(|e| (StripeError::Decode(e.to_string()), false));
    }
    let error =
        serde_json::from_slice::<types::ErrorBody>(&bytes).map(|b| b.error).unwrap_or_else(|_| {
            ApiError {
                kind: "api_error".into(),
                message: Some(format!("HTTP {status} without Stripe's error object")),
                ..ApiError::default()
            }
        });
    Err((StripeError::Api { status: status.as_u16(), error }, should_retry))
}

/// `Stripe-Should-Retry` wins when present; otherwise 409 (lock timeout), 429 and 5xx retry.
fn should_retry(headers: &HeaderMap, status: StatusCode) -> bool {
    match headers.get("stripe-should-retry").and_then(|v| v.to_str().ok()) {
        Some("true") => true,
        Some("false") => false,
        _ => {
            status == StatusCode::CONFLICT
                || status == StatusCode::TOO_MANY_REQUESTS
                || status.is_server_error()
        }
    }
}
