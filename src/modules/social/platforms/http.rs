//! Sends one request with a timeout and turns every failure into a classified [`PlatformError`].
//!
//! The one judgement made here is whether a failed request may have taken effect: a request
//! that creates a post ([`Effect::Create`]) and dies after it was sent (timeout, dropped
//! connection, unreadable success body, 504) is `UnknownOutcome`, because the platform may have
//! published it. Reads and uploads fail `Transient`: repeating them creates nothing visible.

use std::{cell::RefCell, error::Error as _, future::Future, time::Duration};

use bytes::Bytes;
use chrono::Utc;
use reqwest::{RequestBuilder, StatusCode, header::HeaderMap};
use serde::de::DeserializeOwned;

use super::{
    error::{ErrorClass, ErrorInfo, PlatformError},
    ratelimit,
    redact::redact,
    types::Platform,
};

/// Headers platforms return their own request id in (X, Meta, LinkedIn, Mastodon), which
/// their support asks for.
const REQUEST_ID_HEADERS: [&str; 4] =
    ["x-transaction-id", "x-fb-trace-id", "x-li-uuid", "x-request-id"];

fn platform_request_id(headers: &HeaderMap) -> Option<String> {
    REQUEST_ID_HEADERS.iter().find_map(|name| {
        let value = headers.get(*name)?.to_str().ok()?.trim();
        (!value.is_empty()).then(|| value.chars().take(200).collect())
    })
}

tokio::task_local! {
    static CREATED: RefCell<Option<String>>;
}

/// Runs `f` (an adapter call) and returns the platform's request id of the first request in
/// it that created something, i.e. the post; a failure carries its own in [`ErrorInfo`].
/// A task-local keeps that bookkeeping out of every adapter's return values.
pub async fn with_request_id<F: Future>(f: F) -> (F::Output, Option<String>) {
    CREATED
        .scope(RefCell::new(None), async move {
            let out = f.await;
            let id = CREATED.try_with(|c| c.borrow_mut().take()).ok().flatten();
            (out, id)
        })
        .await
}

fn remember_created(headers: &HeaderMap) {
    // Outside `with_request_id` (linking, tests) there is nothing to remember it for.
    let _ = CREATED.try_with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = platform_request_id(headers);
        }
    });
}

/// What a request does on the platform, which decides what its failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Reads nothing but state; free to repeat.
    Read,
    /// Uploads or prepares media (not visible to anyone); repeating leaves at most an orphan.
    /// Uses the longer upload timeout; a 4xx that is not about auth or limits is a media error.
    Upload,
    /// Creates something people see (a post or a comment).
    Create,
    /// Uploads a file and creates the post in the same request (Facebook video): the upload
    /// timeout applies, a 4xx is about the media, and a failure after sending is unknown.
    CreateUpload,
}

impl Effect {
    fn creates(self) -> bool {
        matches!(self, Effect::Create | Effect::CreateUpload)
    }

    fn uploads(self) -> bool {
        matches!(self, Effect::Upload | Effect::CreateUpload)
    }
}

/// A complete response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What a platform's error parser found in an error response.
#[derive(Debug, Default)]
pub(crate) struct RemoteError {
    pub message: String,
    pub code: Option<String>,
    /// Set when the body decides the class regardless of the status (Graph code 190 on a 400).
    pub class: Option<ErrorClass>,
    pub hint: Option<String>,
}

pub(crate) type ErrorParser = fn(&Reply) -> RemoteError;

/// A platform's HTTP access: the shared client plus its timeouts.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    pub client: reqwest::Client,
    pub platform: Platform,
    pub timeout: Duration,
    pub upload_timeout: Duration,
}

impl Http {
    pub fn new(
        client: reqwest::Client,
        platform: Platform,
        timeout: Duration,
        upload_timeout: Duration,
    ) -> Self {
        Http { client, platform, timeout, upload_timeout }
    }

    /// Sends `request`; `secrets` are removed from any error body kept in the error.
    pub async fn send(
        &self,
        request: RequestBuilder,
        effect: Effect,
        parse: ErrorParser,
        secrets: &[&str],
    ) -> Result<Reply, PlatformError> {
        let timeout = if effect.uploads() { self.upload_timeout } else { self.timeout };
        let response =
            request.timeout(timeout).send().await.map_err(|e| self.transport(e, effect))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) if status.is_success() => return Err(self.transport(e, effect)),
            // The status already says what happened; the body was only for details.
            Err(_) => Bytes::new(),
        };
        let reply = Reply { status, headers, body };
        if status.is_success() {
            if effect.creates() {
                remember_created(&reply.headers);
            }
            Ok(reply)
        } else {
            Err(self.classify(&reply, effect, parse, secrets))
        }
    }

    /// Sends and decodes a JSON success body.
    pub async fn json<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        effect: Effect,
        parse: ErrorParser,
        secrets: &[&str],
    ) -> Result<T, PlatformError> {
        let reply = self.send(request, effect, parse, secrets).await?;
        self.decode(&reply, effect)
    }

    /// Decodes a success body. A create whose answer cannot be read did probably happen, so
    /// that is `UnknownOutcome`; anything else is `Transient`.
    pub fn decode<T: DeserializeOwned>(
        &self,
        reply: &Reply,
        effect: Effect,
    ) -> Result<T, PlatformError> {
        serde_json::from_slice(&reply.body).map_err(|e| {
            let class =
                if effect.creates() { ErrorClass::UnknownOutcome } else { ErrorClass::Transient };
            let mut err = PlatformError::new(
                self.platform,
                class,
                format!("unexpected response shape ({e})"),
            );
            if let Some(info) = info_mut(&mut err) {
                info.http_status = Some(reply.status.as_u16());
                info.body = Some(redact(&reply.text(), &[]));
            }
            err
        })
    }

    /// A success that lacks what we need from it (e.g. no id header after a create).
    pub fn missing(&self, effect: Effect, what: &str) -> PlatformError {
        let class =
            if effect.creates() { ErrorClass::UnknownOutcome } else { ErrorClass::Transient };
        PlatformError::new(self.platform, class, format!("the response did not include {what}"))
    }

    pub fn classify(
        &self,
        reply: &Reply,
        effect: Effect,
        parse: ErrorParser,
        secrets: &[&str],
    ) -> PlatformError {
        let remote = parse(reply);
        let mut class = remote.class.unwrap_or_else(|| default_class(reply.status, effect));
        if effect.uploads() && class == ErrorClass::Validation {
            class = ErrorClass::Media;
        }
        let retry_after = match class {
            ErrorClass::RateLimited => ratelimit::retry_after(&reply.headers, Utc::now()),
            _ => None,
        };
        let message = if remote.message.trim().is_empty() {
            format!("HTTP {}", reply.status.as_u16())
        } else {
            remote.message
        };
        let body = (!reply.body.is_empty()).then(|| redact(&reply.text(), secrets));
        let info = ErrorInfo {
            platform: self.platform,
            http_status: Some(reply.status.as_u16()),
            remote_code: remote.code,
            hint: remote.hint.unwrap_or_else(|| PlatformError::hint_for(self.platform, &class)),
            body,
            request_id: platform_request_id(&reply.headers),
        };
        PlatformError::from_parts(class, redact(&message, secrets), retry_after, info)
    }

    fn transport(&self, err: reqwest::Error, effect: Effect) -> PlatformError {
        // reqwest puts the URL in its message; token endpoints carry secrets in it.
        let err = err.without_url();
        let mut detail = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        let detail = redact(&detail, &[]);
        let (class, message) = if err.is_builder() {
            (ErrorClass::Config, format!("the request could not be built ({detail})"))
        } else if err.is_connect() {
            (ErrorClass::Transient, format!("could not connect ({detail})"))
        } else if effect.creates() {
            let what = if err.is_timeout() { "no answer in time" } else { "the connection broke" };
            (
                ErrorClass::UnknownOutcome,
                format!("{what} after the request was sent; the post may exist ({detail})"),
            )
        } else {
            (ErrorClass::Transient, format!("request failed ({detail})"))
        };
        PlatformError::new(self.platform, class, message)
    }
}

fn default_class(status: StatusCode, effect: Effect) -> ErrorClass {
    match status.as_u16() {
        401 => ErrorClass::Auth { refreshable: true },
        // A valid token without the needed permission: refreshing does not add scopes, and
        // the token still works for what it is allowed, so the account is not broken.
        403 => ErrorClass::Permission,
        408 => ErrorClass::Transient,
        409 => ErrorClass::Duplicate { existing_id: None },
        413 | 415 => ErrorClass::Media,
        429 => ErrorClass::RateLimited,
        // A gateway gave up waiting for the platform, which may still have created the post.
        504 if effect.creates() => ErrorClass::UnknownOutcome,
        400..=499 => ErrorClass::Validation,
        _ => ErrorClass::Transient,
    }
}

fn info_mut(err: &mut PlatformError) -> Option<&mut ErrorInfo> {
    match err {
        PlatformError::Auth { info, .. }
        | PlatformError::Permission { info, .. }
        | PlatformError::RateLimited { info, .. }
        | PlatformError::Validation { info, .. }
        | PlatformError::Media { info, .. }
        | PlatformError::Duplicate { info, .. }
        | PlatformError::Transient { info, .. }
        | PlatformError::UnknownOutcome { info, .. }
        | PlatformError::Config { info, .. } => Some(info),
    }
}

/// `base` + `path` with exactly one slash between them.
pub(crate) fn join(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

/// `url` with `params` appended to its query string, form-encoded (reqwest's own `query` needs
/// a crate feature this build does not enable).
pub(crate) fn with_query<K: AsRef<str>, V: AsRef<str>>(url: &str, params: &[(K, V)]) -> String {
    if params.is_empty() {
        return url.to_string();
    }
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
        .finish();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

/// Percent-encodes one path segment or query value (URNs and AT URIs contain `:` and `/`).
pub(crate) fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>().replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_classes() {
        assert_eq!(
            default_class(StatusCode::UNAUTHORIZED, Effect::Read),
            ErrorClass::Auth { refreshable: true }
        );
        assert_eq!(default_class(StatusCode::FORBIDDEN, Effect::Read), ErrorClass::Permission);
        assert_eq!(
            default_class(StatusCode::TOO_MANY_REQUESTS, Effect::Create),
            ErrorClass::RateLimited
        );
        assert_eq!(default_class(StatusCode::BAD_REQUEST, Effect::Create), ErrorClass::Validation);
        assert_eq!(default_class(StatusCode::BAD_GATEWAY, Effect::Create), ErrorClass::Transient);
        assert_eq!(
            default_class(StatusCode::GATEWAY_TIMEOUT, Effect::Create),
            ErrorClass::UnknownOutcome
        );
        assert_eq!(default_class(StatusCode::GATEWAY_TIMEOUT, Effect::Read), ErrorClass::Transient);
    }

    #[tokio::test]
    async fn the_first_create_request_id_is_kept() {
        let mut first = HeaderMap::new();
        first.insert("x-li-uuid", "li-uuid-1".parse().unwrap());
        let mut second = HeaderMap::new();
        second.insert("x-transaction-id", "tx-2".parse().unwrap());
        let ((), id) = with_request_id(async {
            remember_created(&first);
            remember_created(&second);
        })
        .await;
        assert_eq!(id.as_deref(), Some("li-uuid-1"), "the post's request, not its comment's");
        remember_created(&first); // outside a scope: ignored, no panic
        assert_eq!(platform_request_id(&second).as_deref(), Some("tx-2"));
    }

    #[test]
    fn encodes_urns() {
        assert_eq!(encode("urn:li:share:1"), "urn%3Ali%3Ashare%3A1");
        assert_eq!(join("https://a/", "/b"), "https://a/b");
        assert_eq!(
            with_query("https://a/b", &[("q", "x y"), ("ids", "1,2")]),
            "https://a/b?q=x+y&ids=1%2C2"
        );
        assert_eq!(with_query("https://a/b?v=1", &[("q", "1")]), "https://a/b?v=1&q=1");
    }
}
