//! CSRF protection for cookie-authenticated requests: a double-submit token. Every page
//! request gets a `sf_csrf` cookie; forms carry it in a hidden `csrf_token` field and scripts
//! in the `X-CSRF-Token` header. Unsafe requests to pages must match it.

use std::future::{Ready, ready};

use actix_web::{
    Error, FromRequest, HttpMessage, HttpRequest, ResponseError,
    body::{BoxBody, MessageBody},
    cookie::{Cookie, SameSite},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::Method,
    middleware::Next,
    web::{self, BytesMut},
};
use futures_util::StreamExt;

use crate::{
    error::{AppError, PageError},
    http::is_api_path,
    platform::crypto::{constant_time_eq, random_token},
};

pub const COOKIE: &str = "sf_csrf";
pub const FIELD: &str = "csrf_token";
pub const HEADER: &str = "x-csrf-token";

/// The current request's token, for pages to embed.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

impl FromRequest for CsrfToken {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req
            .extensions()
            .get::<CsrfToken>()
            .cloned()
            .or_else(|| req.cookie(COOKIE).map(|c| CsrfToken(c.value().to_string())))
            .unwrap_or_else(|| CsrfToken(String::new()));
        ready(Ok(token))
    }
}

fn matches(cookie: Option<&str>, sent: Option<&str>) -> bool {
    match (cookie, sent) {
        (Some(c), Some(s)) if !c.is_empty() => constant_time_eq(c.as_bytes(), s.as_bytes()),
        _ => false,
    }
}

/// For cookie-authenticated API calls (scripts): the header must match the cookie.
pub fn verify_header(req: &HttpRequest) -> Result<(), AppError> {
    let cookie = req.cookie(COOKIE);
    let sent = req.headers().get(HEADER).and_then(|v| v.to_str().ok());
    if matches(cookie.as_ref().map(|c| c.value()), sent) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "Requests authenticated by the session cookie must send the X-CSRF-Token header; \
             API clients should use a Bearer token instead."
                .into(),
        ))
    }
}

fn unsafe_method(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Page middleware: issues the token cookie and checks unsafe form posts.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if is_api_path(req.path()) || req.path().starts_with("/static/") {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let existing = req.cookie(COOKIE).map(|c| c.value().to_string()).filter(|v| v.len() >= 32);
    let token = existing.clone().unwrap_or_else(|| random_token(32));
    req.extensions_mut().insert(CsrfToken(token.clone()));

    if unsafe_method(req.method()) {
        let header = req.headers().get(HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
        let is_form = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let sent = if header.is_some() {
            header
        } else if is_form {
            // Read the (size-limited) form, take the field, and hand the body back to the handler.
            let limit = req
                .app_data::<web::Data<crate::state::AppState>>()
                .map_or(1024 * 1024, |s| s.settings.server.body_limit_bytes);
            let mut payload = req.take_payload();
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk?;
                if body.len() + chunk.len() > limit {
                    let res = PageError(AppError::PayloadTooLarge("The form is too large.".into()))
                        .error_response();
                    return Ok(req.into_response(res));
                }
                body.extend_from_slice(&chunk);
            }
            let body = body.freeze();
            let field = url::form_urlencoded::parse(&body)
                .find(|(k, _)| k == FIELD)
                .map(|(_, v)| v.into_owned());
            req.set_payload(actix_web::dev::Payload::from(body));
            field
        } else {
            None
        };
        if !matches(existing.as_deref(), sent.as_deref()) {
            let res = PageError(AppError::Forbidden(
                "This form has expired or was not sent from this site. Go back, reload the page and try again."
                    .into(),
            ))
            .error_response();
            return Ok(req.into_response(res));
        }
    }

    let mut res = next.call(req).await?.map_into_boxed_body();
    if existing.is_none() {
        let secure = res
            .request()
            .app_data::<web::Data<crate::state::AppState>>()
            .is_some_and(|s| s.settings.app.base_url.starts_with("https://"));
        let cookie = Cookie::build(COOKIE, token)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(secure)
            .finish();
        if let Err(e) = res.response_mut().add_cookie(&cookie) {
            tracing::warn!(error = %e, "could not set the CSRF cookie");
        }
    }
    Ok(res)
}
