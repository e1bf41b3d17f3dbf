//! Errors classified for the publisher's state machine. The variant says what to do next; the
//! [`ErrorInfo`] says what to show and what to log.

use std::time::Duration;

use super::types::Platform;

/// What every error carries besides its class.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorInfo {
    pub platform: Platform,
    /// The HTTP status the platform answered, when it answered.
    pub http_status: Option<u16>,
    /// The platform's own error code (e.g. Graph `190/463`, XRPC `ExpiredToken`, LinkedIn
    /// `65600`), for logs and support.
    pub remote_code: Option<String>,
    /// One sentence for the person whose post it is, saying what to do.
    pub hint: String,
    /// The platform's error body with tokens and secrets removed, shortened. Safe to log and
    /// store; not meant for end users.
    pub body: Option<String>,
    /// The platform's own id for the failed request (`x-transaction-id`, `x-fb-trace-id`,
    /// `x-li-uuid`, `x-request-id`), to quote to its support.
    pub request_id: Option<String>,
}

/// How the publisher should react:
///
/// | variant          | retry?  | next step                                                        |
/// |------------------|---------|------------------------------------------------------------------|
/// | `Auth`           | no      | if `refreshable`, refresh the token once and retry; else flag the account for re-connection |
/// | `Permission`     | no      | the token works but lacks a permission for this call: a read is skipped ("cannot read"), a publish fails with the hint; the account is never flagged |
/// | `RateLimited`    | yes     | retry after `retry_after` (or the job's backoff when `None`)     |
/// | `Validation`     | no      | fail the post; the user must change it                           |
/// | `Media`          | no      | fail the post; the user must change the attachment               |
/// | `Duplicate`      | no      | reconcile: the same text already exists (maybe our own earlier attempt; `existing_id` when the platform names it) |
/// | `Transient`      | yes     | nothing was created; retry with backoff                          |
/// | `UnknownOutcome` | not yet | the post may exist: call `recent_posts` + `find_match` first, retry only when no match |
/// | `Config`         | no      | an operator must fix the server's settings                        |
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlatformError {
    #[error("{}: not authorized: {message}", info.platform.name())]
    Auth { message: String, refreshable: bool, info: Box<ErrorInfo> },
    #[error("{}: not permitted: {message}", info.platform.name())]
    Permission { message: String, info: Box<ErrorInfo> },
    #[error("{}: rate limited: {message}", info.platform.name())]
    RateLimited { retry_after: Option<Duration>, message: String, info: Box<ErrorInfo> },
    #[error("{}: rejected: {message}", info.platform.name())]
    Validation { message: String, info: Box<ErrorInfo> },
    #[error("{}: media rejected: {message}", info.platform.name())]
    Media { message: String, info: Box<ErrorInfo> },
    #[error("{}: duplicate post: {message}", info.platform.name())]
    Duplicate { message: String, existing_id: Option<String>, info: Box<ErrorInfo> },
    #[error("{}: temporarily unavailable: {message}", info.platform.name())]
    Transient { message: String, info: Box<ErrorInfo> },
    #[error("{}: outcome unknown: {message}", info.platform.name())]
    UnknownOutcome { message: String, info: Box<ErrorInfo> },
    #[error("{}: not configured: {message}", info.platform.name())]
    Config { message: String, info: Box<ErrorInfo> },
}

/// The class of an error before it gets its details; platform parsers return it.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorClass {
    Auth {
        refreshable: bool,
    },
    /// A valid token without the permission (scope, partner program, Page role) a call needs.
    Permission,
    RateLimited,
    Validation,
    Media,
    Duplicate {
        existing_id: Option<String>,
    },
    Transient,
    UnknownOutcome,
    Config,
}

impl ErrorClass {
    fn default_hint(&self, platform: Platform) -> String {
        let name = platform.name();
        match self {
            ErrorClass::Auth { .. } => format!(
                "SmartFlow's access to your {name} account expired or was revoked: reconnect the \
                 account under Social accounts."
            ),
            ErrorClass::Permission => format!(
                "{name} did not let SmartFlow do this with the permissions it was given: \
                 reconnect the account and allow every permission asked for."
            ),
            ErrorClass::RateLimited => format!(
                "{name} is limiting how often SmartFlow may post or read; it retries automatically."
            ),
            ErrorClass::Validation => {
                format!("{name} refused the post as it is: edit it and schedule it again.")
            }
            ErrorClass::Media => format!(
                "{name} refused an attachment: check its file type, size and dimensions, then \
                 schedule the post again."
            ),
            ErrorClass::Duplicate { .. } => format!(
                "{name} says the same post was already published: check the account before \
                 posting it again, or change the text."
            ),
            ErrorClass::Transient => {
                format!("{name} is having trouble right now; SmartFlow retries automatically.")
            }
            ErrorClass::UnknownOutcome => format!(
                "SmartFlow could not confirm whether {name} published the post; it checks the \
                 account before trying again, so the post is not duplicated."
            ),
            ErrorClass::Config => format!(
                "{name} is not set up on this SmartFlow server: ask your administrator to \
                 configure it."
            ),
        }
    }
}

impl PlatformError {
    /// Builds an error with the class's default hint.
    pub fn new(platform: Platform, class: ErrorClass, message: impl Into<String>) -> Self {
        let hint = class.default_hint(platform);
        let info = ErrorInfo {
            platform,
            http_status: None,
            remote_code: None,
            hint,
            body: None,
            request_id: None,
        };
        Self::from_parts(class, message.into(), None, info)
    }

    pub(crate) fn from_parts(
        class: ErrorClass,
        message: String,
        retry_after: Option<Duration>,
        info: ErrorInfo,
    ) -> Self {
        let info = Box::new(info);
        match class {
            ErrorClass::Auth { refreshable } => PlatformError::Auth { message, refreshable, info },
            ErrorClass::Permission => PlatformError::Permission { message, info },
            ErrorClass::RateLimited => PlatformError::RateLimited { retry_after, message, info },
            ErrorClass::Validation => PlatformError::Validation { message, info },
            ErrorClass::Media => PlatformError::Media { message, info },
            ErrorClass::Duplicate { existing_id } => {
                PlatformError::Duplicate { message, existing_id, info }
            }
            ErrorClass::Transient => PlatformError::Transient { message, info },
            ErrorClass::UnknownOutcome => PlatformError::UnknownOutcome { message, info },
            ErrorClass::Config => PlatformError::Config { message, info },
        }
    }

    pub(crate) fn hint_for(platform: Platform, class: &ErrorClass) -> String {
        class.default_hint(platform)
    }

    pub fn config(platform: Platform, message: impl Into<String>) -> Self {
        Self::new(platform, ErrorClass::Config, message)
    }

    pub fn validation(platform: Platform, message: impl Into<String>) -> Self {
        Self::new(platform, ErrorClass::Validation, message)
    }

    pub fn media(platform: Platform, message: impl Into<String>) -> Self {
        Self::new(platform, ErrorClass::Media, message)
    }

    pub fn transient(platform: Platform, message: impl Into<String>) -> Self {
        Self::new(platform, ErrorClass::Transient, message)
    }

    pub fn info(&self) -> &ErrorInfo {
        match self {
            PlatformError::Auth { info, .. }
            | PlatformError::Permission { info, .. }
            | PlatformError::RateLimited { info, .. }
            | PlatformError::Validation { info, .. }
            | PlatformError::Media { info, .. }
            | PlatformError::Duplicate { info, .. }
            | PlatformError::Transient { info, .. }
            | PlatformError::UnknownOutcome { info, .. }
            | PlatformError::Config { info, .. } => info,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            PlatformError::Auth { message, .. }
            | PlatformError::Permission { message, .. }
            | PlatformError::RateLimited { message, .. }
            | PlatformError::Validation { message, .. }
            | PlatformError::Media { message, .. }
            | PlatformError::Duplicate { message, .. }
            | PlatformError::Transient { message, .. }
            | PlatformError::UnknownOutcome { message, .. }
            | PlatformError::Config { message, .. } => message,
        }
    }

    pub fn platform(&self) -> Platform {
        self.info().platform
    }

    /// One sentence for the end user.
    pub fn hint(&self) -> &str {
        &self.info().hint
    }

    /// The platform's error body without secrets.
    pub fn redacted_body(&self) -> Option<&str> {
        self.info().body.as_deref()
    }

    /// A stable code to store with a failed attempt.
    pub fn code(&self) -> &'static str {
        match self {
            PlatformError::Auth { .. } => "auth",
            PlatformError::Permission { .. } => "permission",
            PlatformError::RateLimited { .. } => "rate_limited",
            PlatformError::Validation { .. } => "validation",
            PlatformError::Media { .. } => "media",
            PlatformError::Duplicate { .. } => "duplicate",
            PlatformError::Transient { .. } => "transient",
            PlatformError::UnknownOutcome { .. } => "unknown_outcome",
            PlatformError::Config { .. } => "config",
        }
    }

    /// Safe to retry as is: nothing was created.
    pub fn is_retryable(&self) -> bool {
        matches!(self, PlatformError::Transient { .. } | PlatformError::RateLimited { .. })
    }

    /// The post may exist: reconcile with `recent_posts` before any retry.
    pub fn needs_reconciliation(&self) -> bool {
        matches!(self, PlatformError::UnknownOutcome { .. } | PlatformError::Duplicate { .. })
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PlatformError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_map_to_variants_with_hints() {
        let e = PlatformError::new(Platform::X, ErrorClass::Auth { refreshable: true }, "expired");
        assert!(matches!(e, PlatformError::Auth { refreshable: true, .. }));
        assert!(e.hint().contains("reconnect"));
        assert_eq!(e.code(), "auth");
        assert_eq!(e.to_string(), "X: not authorized: expired");
        assert!(!e.is_retryable());

        let e = PlatformError::new(Platform::Mastodon, ErrorClass::UnknownOutcome, "timeout");
        assert!(e.needs_reconciliation());
        assert!(!e.is_retryable());
        assert!(PlatformError::transient(Platform::Bluesky, "503").is_retryable());
    }
}
