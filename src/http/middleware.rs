//! The middleware chain, outermost first: request id → tracing → metrics → HEAD as GET →
//! security headers → compression → problem+json for `/api` errors → rate limit → routes.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use actix_web::{
    Error, HttpMessage, HttpResponse, ResponseError,
    body::{BodySize, BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{
        Method,
        header::{self, HeaderName, HeaderValue},
    },
    middleware::Next,
    web,
};
use bytes::Bytes;

use crate::{
    error::{AppError, PROBLEM_JSON, Problem, problem_for_status, problem_response},
    http::{RequestId, client_ip, is_api_path},
    platform::ratelimit::RateLimiter,
    state::AppState,
};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Accepts a sane `x-request-id` or makes one, stores it for handlers and logs, and echoes it.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_request_id(v))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    // Holding a clone of the request across `call` would break routing (it needs the only
    // reference), so errors from inner middleware propagate to actix unchanged; handlers and
    // extractors already turn theirs into responses.
    let mut res = next.call(req).await?.map_into_boxed_body();
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(res)
}

fn valid_request_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// `http_requests_total{method,route,status_code}` and `http_request_duration_seconds`.
pub async fn metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let _in_flight = InFlight::start();
    let res = next.call(req).await?;
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
    let status_code = res.status().as_u16();
    let elapsed = started.elapsed();
    if route.starts_with("/health/") || route == "/metrics" {
        tracing::debug!(status = status_code, latency_ms = elapsed.as_millis() as u64, "request");
    } else {
        tracing::info!(status = status_code, latency_ms = elapsed.as_millis() as u64, "request");
    }
    let status = status_code.to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status_code" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(elapsed.as_secs_f64());
    Ok(res)
}

/// `http_requests_in_flight`: requests between arrival and response, decremented even when
/// a request is dropped midway.
struct InFlight;

impl InFlight {
    fn start() -> Self {
        metrics::gauge!("http_requests_in_flight").increment(1.0);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("http_requests_in_flight").decrement(1.0);
    }
}

/// HEAD is answered as GET would be, for every route at once (RFC 9110 §9.3.2): the request
/// runs as GET through routing, extractors and handlers, and the response keeps its status and
/// headers while its body is dropped unread. The body's size stays, so HTTP/1 still sends the
/// `Content-Length` (or `Transfer-Encoding`) GET would; the connection writes no body for HEAD.
/// Outside compression, so `Content-Encoding` matches GET's; inside metrics and tracing, so
/// they record the HEAD the client sent.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if req.method() != Method::HEAD {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    req.head_mut().method = Method::GET;
    let res = next.call(req).await?;
    Ok(res.map_body(|_, body| BoxBody::new(NoBody(body.size()))))
}

/// A body of the given size that yields nothing: what is left of a response to HEAD. Streams
/// (server-sent events, compression) are dropped rather than produced for nobody.
struct NoBody(BodySize);

impl MessageBody for NoBody {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        self.0
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Poll::Ready(None)
    }
}

/// Security headers on every response (a handler may set its own first).
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let is_docs = req.path().starts_with("/docs");
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    let mut set = |name: HeaderName, value: &str| {
        if !headers.contains_key(&name)
            && let Ok(v) = HeaderValue::from_str(value)
        {
            headers.insert(name, v);
        }
    };
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "strict-origin-when-cross-origin");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=()");
    if let Some(state) = state {
        if is_docs {
            // The bundled Swagger UI sets inline styles; everything still comes from this origin.
            set(
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                 script-src 'self'; frame-ancestors 'none'; object-src 'none'",
            );
        } else {
            set(header::CONTENT_SECURITY_POLICY, &state.settings.security.content_security_policy);
        }
        if state.settings.app.base_url.starts_with("https://") {
            set(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains");
        }
    }
    Ok(res)
}

/// Every 4xx/5xx under `/api` becomes problem+json carrying the request id, whatever produced
/// it (our handlers, actix's extractors, the router); JSON documents are kept as they are.
pub async fn api_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let is_api = is_api_path(req.path());
    let request_id = RequestId::of(&req);
    let res = next.call(req).await?.map_into_boxed_body();
    if !is_api || res.status().as_u16() < 400 {
        return Ok(res);
    }
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    // A deliberate JSON document (the seed's 503 health report) is left as it is.
    if content_type.starts_with("application/json") {
        return Ok(res);
    }
    let is_problem = content_type.starts_with(PROBLEM_JSON);
    let (req, response) = res.into_parts();
    let status = response.status();
    let mut kept = response.headers().clone();
    kept.remove(header::CONTENT_TYPE);
    kept.remove(header::CONTENT_LENGTH);
    let body = actix_web::body::to_bytes_limited(response.into_body(), 64 * 1024)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let mut problem = is_problem
        .then(|| serde_json::from_slice::<Problem>(&body).ok())
        .flatten()
        .unwrap_or_else(|| problem_for_status(status, plain_detail(&body)));
    problem.request_id = request_id;
    let mut builder = HttpResponse::build(status);
    for (name, value) in kept.iter() {
        builder.append_header((name.clone(), value.clone()));
    }
    Ok(ServiceResponse::new(req, problem_response(builder, &problem)))
}

/// A short plain-text error body (as actix writes for its own errors) is kept as the detail.
fn plain_detail(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    (!text.is_empty() && text.len() <= 500 && !text.starts_with('<')).then(|| text.to_string())
}

/// Fixed-window limit per route group, keyed by the authenticated user or the client address.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(limit) = state.rate_limiter.limit_for(req.method().as_str(), req.path()).cloned()
    else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let subject = subject(&req, &state).await;
    let Some(decision) = RateLimiter::hit(state.cache.as_ref(), &limit, &subject).await else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let mut res = if decision.allowed {
        next.call(req).await?.map_into_boxed_body()
    } else {
        metrics::counter!("rate_limit_rejections_total", "group" => limit.name.clone())
            .increment(1);
        let err = AppError::TooManyRequests {
            retry_after_secs: decision.reset_secs,
            detail: format!(
                "Limit of {} requests per {} s reached for `{}`; retry after {} s.",
                limit.requests,
                limit.window.as_secs(),
                limit.name,
                decision.reset_secs
            ),
        };
        req.into_response(err.error_response())
    };
    let headers = res.headers_mut();
    for (name, value) in [
        ("ratelimit-limit", decision.limit),
        ("ratelimit-remaining", decision.remaining),
        ("ratelimit-reset", decision.reset_secs),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
    headers.insert(
        HeaderName::from_static("ratelimit-policy"),
        HeaderValue::from_str(&format!("{};w={}", limit.requests, limit.window.as_secs()))
            .unwrap_or_else(|_| HeaderValue::from_static("")),
    );
    Ok(res)
}

/// An authenticated caller (access token, API key or session cookie) is limited as that user
/// or key, wherever they connect from, so colleagues behind one address keep their own
/// allowance; anyone else by client address. The principal is resolved once and kept for the
/// handler (sessions and keys are cached); a forged or expired credential falls back to the
/// address, so rotating credentials does not escape the limit.
async fn subject(req: &ServiceRequest, state: &AppState) -> String {
    let has_credentials = req.headers().contains_key(header::AUTHORIZATION)
        || req.cookie(crate::platform::auth::SESSION_COOKIE).is_some();
    if has_credentials && let Ok(who) = crate::platform::auth::authenticate(req.request()).await {
        return match who.api_key_id {
            Some(key) => format!("key:{key}"),
            None => format!("user:{}", who.user_id),
        };
    }
    match client_ip(req.request(), state.settings.server.trust_proxy_headers) {
        Some(ip) => format!("ip:{ip}"),
        None => "ip:unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_checked() {
        assert!(super::valid_request_id("abc-123_x.y:z"));
        assert!(!super::valid_request_id(""));
        assert!(!super::valid_request_id("has space"));
        assert!(!super::valid_request_id(&"a".repeat(129)));
    }
}
