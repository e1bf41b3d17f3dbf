//! What can go wrong when calling a provider, classified so callers can decide to retry, fall
//! back or tell the user, whatever provider answered.

use std::time::Duration;

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// 429: too many requests or tokens. `retry_after` is the provider's hint, when it gave one.
    #[error("rate limited by the provider: {message}")]
    RateLimited { retry_after: Option<Duration>, message: String },
    /// 401/403/402, or a quota that is used up: the account, not the request, is the problem.
    #[error("the provider refused the credentials or account: {message}")]
    Auth { message: String },
    /// Any other 4xx: the request itself is wrong (unknown model, bad tool schema…).
    #[error("the provider rejected the request: {message}")]
    InvalidRequest { message: String },
    #[error("the conversation does not fit the model's context window: {message}")]
    ContextTooLong { message: String },
    /// The provider's safety system blocked the prompt or the answer.
    #[error("the provider's content filter blocked the request: {message}")]
    ContentFiltered { message: String },
    /// 5xx, 529 (overloaded) or no connection.
    #[error("the provider is unavailable: {message}")]
    Unavailable { message: String },
    /// No answer within the total timeout, or a stream went quiet for the idle timeout.
    #[error("the provider did not answer in time")]
    Timeout,
    /// This provider has no such operation (e.g. Anthropic has no embeddings).
    #[error("{provider} does not support {operation}")]
    Unsupported { provider: String, operation: &'static str },
    /// The answer could not be read as the documented wire format.
    #[error("the provider's answer could not be read: {message}")]
    Protocol { message: String },
}

impl ProviderError {
    pub fn protocol(message: impl Into<String>) -> Self {
        ProviderError::Protocol { message: message.into() }
    }

    pub fn unsupported(provider: &str, operation: &'static str) -> Self {
        ProviderError::Unsupported { provider: provider.to_string(), operation }
    }

    /// The provider's hint for when to try again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether a [`FallbackChain`](super::FallbackChain) should try the next provider.
    ///
    /// Yes for failures of *this* provider: rate limits, outages, timeouts, unreadable answers,
    /// missing capabilities, and credentials (a revoked key on one account says nothing about
    /// the others). No for failures of the *request*: another provider would reject the same
    /// invalid request or over-long conversation, and trying providers until one lets blocked
    /// content through would defeat the safety filter.
    pub fn falls_back(&self) -> bool {
        match self {
            ProviderError::RateLimited { .. }
            | ProviderError::Auth { .. }
            | ProviderError::Unavailable { .. }
            | ProviderError::Timeout
            | ProviderError::Unsupported { .. }
            | ProviderError::Protocol { .. } => true,
            ProviderError::InvalidRequest { .. }
            | ProviderError::ContextTooLong { .. }
            | ProviderError::ContentFiltered { .. } => false,
        }
    }

    /// Replaces every occurrence of `secret` in the messages; upstream error messages sometimes
    /// quote the key they were given.
    pub(crate) fn redact(self, secret: Option<&str>) -> Self {
        let Some(secret) = secret.filter(|s| s.len() >= 4) else { return self };
        let clean = |m: String| m.replace(secret, "[redacted]");
        match self {
            ProviderError::RateLimited { retry_after, message } => {
                ProviderError::RateLimited { retry_after, message: clean(message) }
            }
            ProviderError::Auth { message } => ProviderError::Auth { message: clean(message) },
            ProviderError::InvalidRequest { message } => {
                ProviderError::InvalidRequest { message: clean(message) }
            }
            ProviderError::ContextTooLong { message } => {
                ProviderError::ContextTooLong { message: clean(message) }
            }
            ProviderError::ContentFiltered { message } => {
                ProviderError::ContentFiltered { message: clean(message) }
            }
            ProviderError::Unavailable { message } => {
                ProviderError::Unavailable { message: clean(message) }
            }
            ProviderError::Protocol { message } => {
                ProviderError::Protocol { message: clean(message) }
            }
            other @ (ProviderError::Timeout | ProviderError::Unsupported { .. }) => other,
        }
    }
}

/// The parts of a provider's error body that classification needs.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ErrorDetails {
    pub message: String,
    /// OpenAI `error.type`, Anthropic `error.type`, Gemini `error.status`.
    pub kind: String,
    /// OpenAI `error.code`, Gemini `details[].reason`.
    pub code: String,
    /// Gemini's `RetryInfo.retryDelay`.
    pub retry_after: Option<Duration>,
}

/// Statuses worth another attempt at the same provider.
pub(crate) fn retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504 | 529)
}

/// Maps an HTTP error status and the provider's own error fields to a [`ProviderError`].
pub(crate) fn classify(status: u16, details: ErrorDetails) -> ProviderError {
    let ErrorDetails { message, kind, code, retry_after } = details;
    let message = if message.is_empty() { format!("HTTP {status}") } else { message };
    let haystack = format!("{kind} {code} {message}").to_ascii_lowercase();
    let quota_gone = kind == "insufficient_quota" || code == "insufficient_quota";
    let mentions = |needles: &[&str]| needles.iter().any(|n| haystack.contains(n));
    match status {
        // OpenAI reports a used-up prepaid quota as 429 `insufficient_quota`: no wait fixes it.
        // Only the code counts: Gemini's per-minute limits also speak of "quota" and "billing".
        429 if quota_gone => ProviderError::Auth { message },
        429 => ProviderError::RateLimited { retry_after, message },
        401..=403 => ProviderError::Auth { message },
        408 => ProviderError::Timeout,
        413 => ProviderError::ContextTooLong { message },
        400..=499 if mentions(CONTEXT_MARKERS) => ProviderError::ContextTooLong { message },
        400..=499 if mentions(FILTER_MARKERS) => ProviderError::ContentFiltered { message },
        // Gemini answers a bad key with 400 INVALID_ARGUMENT.
        400..=499 if mentions(&["api_key_invalid", "api key not valid"]) => {
            ProviderError::Auth { message }
        }
        400..=499 => ProviderError::InvalidRequest { message },
        _ => ProviderError::Unavailable { message },
    }
}

const CONTEXT_MARKERS: &[&str] = &[
    "context_length_exceeded",
    "maximum context length",
    "context window",
    "prompt is too long",
    "input token count",
    "too many tokens",
];

const FILTER_MARKERS: &[&str] =
    &["content_filter", "content_policy_violation", "content management policy", "safety system"];

/// A protocol error for a body that does not match the documented shape; the body is cut short
/// because it may be large and is only a debugging aid.
pub(crate) fn unreadable(what: &str, err: &serde_json::Error, body: &[u8]) -> ProviderError {
    let snippet: String = String::from_utf8_lossy(body).chars().take(200).collect();
    ProviderError::protocol(format!("{what}: {err}; body starts with `{snippet}`"))
}

impl From<ProviderError> for AppError {
    fn from(err: ProviderError) -> Self {
        match err {
            ProviderError::RateLimited { retry_after, .. } => AppError::TooManyRequests {
                retry_after_secs: retry_after.map_or(30, |d| d.as_secs().max(1)),
                detail: "The AI provider is rate limiting us; try again shortly.".into(),
            },
            ProviderError::Auth { .. } => AppError::ServiceUnavailable(
                "The AI provider refused our credentials; an administrator must check the \
                 provider key."
                    .into(),
            ),
            ProviderError::InvalidRequest { message } => {
                AppError::BadGateway(format!("The AI provider rejected the request: {message}"))
            }
            ProviderError::ContextTooLong { .. } => AppError::validation(
                "messages",
                "too_long",
                "The conversation is too long for the model; shorten it or start a new one.",
            ),
            ProviderError::ContentFiltered { .. } => AppError::validation(
                "messages",
                "content_filtered",
                "The AI provider's content filter blocked this request; rephrase it.",
            ),
            ProviderError::Unavailable { .. } | ProviderError::Timeout => {
                AppError::ServiceUnavailable(
                    "The AI provider is not answering; try again in a moment.".into(),
                )
            }
            ProviderError::Unsupported { provider, operation } => AppError::BadRequest(format!(
                "The configured AI provider `{provider}` does not support {operation}."
            )),
            ProviderError::Protocol { .. } => {
                AppError::BadGateway("The AI provider sent an answer we could not read.".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(message: &str, kind: &str, code: &str) -> ErrorDetails {
        ErrorDetails {
            message: message.into(),
            kind: kind.into(),
            code: code.into(),
            retry_after: None,
        }
    }

    #[test]
    fn statuses_and_codes_are_classified() {
        assert!(matches!(
            classify(429, details("slow down", "", "")),
            ProviderError::RateLimited { .. }
        ));
        assert!(matches!(
            classify(429, details("You exceeded your current quota", "insufficient_quota", "")),
            ProviderError::Auth { .. }
        ));
        assert!(matches!(
            classify(
                429,
                details("You exceeded your current quota, check billing", "RESOURCE_EXHAUSTED", "")
            ),
            ProviderError::RateLimited { .. }
        ));
        assert!(matches!(classify(401, details("bad key", "", "")), ProviderError::Auth { .. }));
        assert!(matches!(
            classify(400, details("too long", "invalid_request_error", "context_length_exceeded")),
            ProviderError::ContextTooLong { .. }
        ));
        assert!(matches!(
            classify(
                400,
                details("prompt is too long: 210000 tokens", "invalid_request_error", "")
            ),
            ProviderError::ContextTooLong { .. }
        ));
        assert!(matches!(
            classify(400, details("API key not valid.", "INVALID_ARGUMENT", "API_KEY_INVALID")),
            ProviderError::Auth { .. }
        ));
        assert!(matches!(
            classify(400, details("blocked", "", "content_policy_violation")),
            ProviderError::ContentFiltered { .. }
        ));
        assert_eq!(
            classify(404, details("model `x` does not exist", "", "")),
            ProviderError::InvalidRequest { message: "model `x` does not exist".into() }
        );
        assert!(matches!(
            classify(529, details("", "overloaded_error", "")),
            ProviderError::Unavailable { .. }
        ));
        assert_eq!(
            classify(502, ErrorDetails::default()),
            ProviderError::Unavailable { message: "HTTP 502".into() }
        );
    }

    #[test]
    fn retryable_statuses_are_exactly_the_transient_ones() {
        for s in [429, 500, 502, 503, 504, 529] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 408, 413, 422, 501] {
            assert!(!retryable_status(s), "{s}");
        }
    }

    #[test]
    fn fallback_policy() {
        assert!(ProviderError::Auth { message: String::new() }.falls_back());
        assert!(ProviderError::Timeout.falls_back());
        assert!(!ProviderError::InvalidRequest { message: String::new() }.falls_back());
        assert!(!ProviderError::ContentFiltered { message: String::new() }.falls_back());
        assert!(!ProviderError::ContextTooLong { message: String::new() }.falls_back());
    }

    #[test]
    fn redaction_removes_the_key() {
        let err =
            ProviderError::Auth { message: "Incorrect API key provided: sk-secret-123".into() }
                .redact(Some("sk-secret-123"));
        assert_eq!(
            err,
            ProviderError::Auth { message: "Incorrect API key provided: [redacted]".into() }
        );
    }

    #[test]
    fn app_errors_do_not_leak_provider_messages() {
        let app: AppError = ProviderError::Auth { message: "key sk-abc revoked".into() }.into();
        assert!(!app.problem().detail.unwrap_or_default().contains("sk-abc"));
        let app: AppError = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
            message: String::new(),
        }
        .into();
        assert!(matches!(app, AppError::TooManyRequests { retry_after_secs: 7, .. }));
    }
}
