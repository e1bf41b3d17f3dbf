//! Sends one provider request: per-request timeouts, retries with backoff on transient failures,
//! error bodies turned into [`ProviderError`]s with the key scrubbed out.

use std::{error::Error as _, future::Future, time::Duration};

use bytes::Bytes;
use chrono::Utc;
use reqwest::{RequestBuilder, Response};
use serde::de::DeserializeOwned;

use super::{
    error::{ProviderError, retryable_status, unreadable},
    retry::{RetryPolicy, hint_from_headers},
};
use crate::config::Secret;

/// Timeouts and retries of one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Whole call for non-streaming requests; time to the response head for streams.
    pub timeout: Duration,
    /// Longest silence between two chunks of a stream.
    pub stream_idle_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(120),
            stream_idle_timeout: Duration::from_secs(90),
            retry: RetryPolicy::default(),
        }
    }
}

/// Streams are bounded by their idle timeout, not their length. The shared HTTP client may carry
/// a total timeout sized for ordinary calls, which would cut a long answer; this replaces it.
const STREAM_CEILING: Duration = Duration::from_secs(60 * 60);

/// Reads a provider's error body; each provider knows its own JSON shape.
pub(crate) type ErrorParser = fn(u16, &[u8]) -> ProviderError;

pub(crate) struct Transport {
    http: reqwest::Client,
    options: ClientOptions,
    provider: String,
    /// Only to scrub it from error messages.
    secret: Secret,
}

/// A failed attempt and whether another one may help.
struct Failure {
    error: ProviderError,
    retry: bool,
    hint: Option<Duration>,
}

impl Failure {
    fn fatal(error: ProviderError) -> Self {
        Failure { error, retry: false, hint: None }
    }
}

impl Transport {
    pub fn new(
        http: reqwest::Client,
        options: ClientOptions,
        provider: &str,
        secret: Secret,
    ) -> Self {
        Transport { http, options, provider: provider.to_string(), secret }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// A non-streaming call: the whole body, after retries.
    pub async fn call(
        &self,
        build: impl Fn() -> RequestBuilder + Send + Sync,
        parse_error: ErrorParser,
    ) -> Result<Bytes, ProviderError> {
        self.with_retries(|| async {
            let response = self.attempt(&build, parse_error, false).await?;
            response.bytes().await.map_err(|e| self.transport_failure(e))
        })
        .await
    }

    /// A streaming call: the response once its head says success. Nothing is retried after
    /// that, since part of the answer may already have been shown.
    pub async fn open_stream(
        &self,
        build: impl Fn() -> RequestBuilder + Send + Sync,
        parse_error: ErrorParser,
    ) -> Result<Response, ProviderError> {
        self.with_retries(|| self.attempt(&build, parse_error, true)).await
    }

    async fn with_retries<T, F, Fut>(&self, mut op: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let policy = &self.options.retry;
        let mut retry = 0;
        loop {
            match op().await {
                Ok(value) => return Ok(value),
                Err(failure) if failure.retry && retry < policy.max_retries => {
                    let Some(delay) = policy.delay(retry, failure.hint) else {
                        // Asked to wait longer than we sleep: the error carries the hint on.
                        return Err(failure.error);
                    };
                    tracing::warn!(
                        provider = %self.provider,
                        retry = retry + 1,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        error = %failure.error,
                        "provider call failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    retry += 1;
                }
                Err(failure) => return Err(failure.error),
            }
        }
    }

    async fn attempt(
        &self,
        build: &(impl Fn() -> RequestBuilder + Send + Sync),
        parse_error: ErrorParser,
        stream: bool,
    ) -> Result<Response, Failure> {
        let timeout = if stream { STREAM_CEILING } else { self.options.timeout };
        let request = build().timeout(timeout);
        let sent = if stream {
            tokio::time::timeout(self.options.timeout, request.send())
                .await
                .map_err(|_| Failure::fatal(ProviderError::Timeout))?
        } else {
            request.send().await
        };
        let response = sent.map_err(|e| self.transport_failure(e))?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(response);
        }
        let header_hint = hint_from_headers(response.headers(), Utc::now());
        let body = match tokio::time::timeout(self.options.timeout, response.bytes()).await {
            Ok(Ok(body)) => body,
            _ => Bytes::new(),
        };
        // The header is the documented signal; a hint in the body (Gemini) is the fallback.
        let error = match parse_error(status, &body) {
            ProviderError::RateLimited { retry_after, message } => {
                ProviderError::RateLimited { retry_after: header_hint.or(retry_after), message }
            }
            other => other,
        }
        .redact(self.secret.get());
        let retry = retryable_status(status)
            && matches!(
                error,
                ProviderError::RateLimited { .. } | ProviderError::Unavailable { .. }
            );
        let hint = header_hint.or(error.retry_after());
        Err(Failure { error, retry, hint })
    }

    fn transport_failure(&self, err: reqwest::Error) -> Failure {
        let (connect, timeout, decode, builder) =
            (err.is_connect(), err.is_timeout(), err.is_decode(), err.is_builder());
        let message = describe(err);
        if connect {
            Failure {
                error: ProviderError::Unavailable {
                    message: format!("could not connect: {message}"),
                },
                retry: true,
                hint: None,
            }
        } else if timeout {
            Failure::fatal(ProviderError::Timeout)
        } else if decode {
            Failure::fatal(ProviderError::protocol(message))
        } else if builder {
            Failure::fatal(ProviderError::Unavailable {
                message: format!("the request could not be built (check the base URL): {message}"),
            })
        } else {
            // The connection broke mid-request or mid-body: as transient as a refused connect.
            Failure {
                error: ProviderError::Unavailable {
                    message: format!("connection failed: {message}"),
                },
                retry: true,
                hint: None,
            }
        }
    }
}

/// The error and its causes on one line, without the URL.
pub(crate) fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Parses a successful JSON answer.
pub(crate) fn parse_json<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| unreadable(what, &e, body))
}

/// A header value that `Debug` output of the request will not show. `None` when the key holds
/// characters a header cannot carry (settings validation reports that at start-up).
pub(crate) fn sensitive(value: &str) -> Option<reqwest::header::HeaderValue> {
    let mut value = reqwest::header::HeaderValue::from_str(value).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// `base` without trailing slashes, then `path`.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}
