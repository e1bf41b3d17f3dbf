//! One error type for every handler. API routes answer `application/problem+json` (RFC 9457);
//! page routes wrap it in [`PageError`] to answer the HTML error page.

use std::fmt;

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError},
    http::{StatusCode, header},
};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// A URI reference that identifies the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time and how to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Per-field validation errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The request id, to quote when asking for support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, ToSchema)]
pub struct FieldError {
    /// The field, as a dotted path into the request body (e.g. `targets.0.account_id`).
    pub field: String,
    /// Machine-readable reason, e.g. `required`, `too_long`, `invalid_format`.
    pub code: String,
    /// What to change.
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        FieldError { field: field.into(), code: code.into(), message: message.into() }
    }
}

/// Collects field errors while parsing a request; `finish()` turns them into a 422.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, code, message));
    }

    /// Records the error of a parse and yields its value when it succeeded.
    pub fn check<T>(&mut self, field: &str, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(mut e) => {
                if e.field.is_empty() {
                    e.field = field.to_string();
                }
                self.errors.push(e);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn finish(self) -> Result<(), AppError> {
        if self.errors.is_empty() { Ok(()) } else { Err(AppError::Validation(self.errors)) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request cannot be read (malformed JSON, wrong content type, bad query string).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 401: credentials missing or not valid. Carries the `WWW-Authenticate` challenge.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403: authenticated but not allowed.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404: the named thing does not exist (or belongs to another workspace).
    #[error("not found: {0}")]
    NotFound(String),
    /// 405: the path exists with other methods.
    #[error("method not allowed")]
    MethodNotAllowed { allow: Vec<String> },
    /// 402: the workspace's plan does not allow this; upgrading would.
    #[error("plan limit: {0}")]
    PaymentRequired(String),
    /// 409: conflicts with the current state (duplicate, wrong state for the transition).
    #[error("conflict: {0}")]
    Conflict(String),
    /// 413: body above the configured limit.
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    /// 415: content type not accepted by this route.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// 422: the request was read but fields are invalid.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 429: rate limit or brute-force protection.
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64, detail: String },
    /// 502: an upstream API answered with an error we cannot hide.
    #[error("upstream error: {0}")]
    BadGateway(String),
    /// 503: a dependency or provider is not configured or not reachable.
    #[error("service unavailable: {0}")]
    ServiceUnavailable(String),
    /// 500: anything else; the cause is logged, never shown.
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl AppError {
    pub fn validation(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldError::new(field, code, message)])
    }

    pub fn not_found(what: impl fmt::Display) -> Self {
        AppError::NotFound(format!("{what} was not found"))
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        AppError::from(err.into())
    }

    fn slug(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad-request",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not-found",
            AppError::MethodNotAllowed { .. } => "method-not-allowed",
            AppError::Conflict(_) => "conflict",
            AppError::PaymentRequired(_) => "plan-limit",
            AppError::PayloadTooLarge(_) => "payload-too-large",
            AppError::UnsupportedMediaType(_) => "unsupported-media-type",
            AppError::Validation(_) => "validation-error",
            AppError::TooManyRequests { .. } => "rate-limited",
            AppError::BadGateway(_) => "upstream-error",
            AppError::ServiceUnavailable(_) => "service-unavailable",
            AppError::Internal(_) => "internal-error",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let detail = match self {
            AppError::BadRequest(d)
            | AppError::Unauthorized(d)
            | AppError::Forbidden(d)
            | AppError::NotFound(d)
            | AppError::Conflict(d)
            | AppError::PaymentRequired(d)
            | AppError::PayloadTooLarge(d)
            | AppError::UnsupportedMediaType(d)
            | AppError::BadGateway(d)
            | AppError::ServiceUnavailable(d) => Some(d.clone()),
            AppError::TooManyRequests { detail, .. } => Some(detail.clone()),
            AppError::MethodNotAllowed { allow } => {
                Some(format!("This path accepts: {}.", allow.join(", ")))
            }
            AppError::Validation(errors) => Some(format!(
                "{} field{} need{} fixing; see `errors`.",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
                if errors.len() == 1 { "s" } else { "" }
            )),
            AppError::Internal(_) => Some(
                "Something went wrong on our side. It has been logged; quote the request id if \
                 you contact support."
                    .into(),
            ),
        };
        Problem {
            kind: format!("/problems/{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
            errors: match self {
                AppError::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
            request_id: None,
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::PoolTimedOut => {
                AppError::ServiceUnavailable("The database is busy; retry in a moment.".into())
            }
            _ => refused_value(&err).unwrap_or_else(|| AppError::Internal(err.into())),
        }
    }
}

/// Errors reach handlers wrapped with context too; a database refusing the caller's value is
/// still the caller's mistake.
impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> Self {
        err.downcast_ref::<sqlx::Error>().and_then(refused_value).unwrap_or(AppError::Internal(err))
    }
}

/// A 400 for a PostgreSQL data exception, without the statement or the value.
fn refused_value(err: &sqlx::Error) -> Option<AppError> {
    let sqlx::Error::Database(db) = err else { return None };
    let code = db.code()?;
    let detail = data_exception(&code)?;
    tracing::info!(code = %code, "database refused a value: {}", db.message());
    Some(AppError::BadRequest(detail.into()))
}

/// What to tell the caller for the PostgreSQL data exceptions (SQLSTATE class 22) that a value
/// the request carried causes. Others of the class (division by zero, a bad cast in our own
/// SQL) are server faults and stay 500s.
fn data_exception(code: &str) -> Option<&'static str> {
    Some(match code {
        // invalid byte sequence (a NUL byte in text), untranslatable character (\u0000 in JSON)
        "22021" | "22P05" => {
            "A text value contains a character that cannot be stored, such as the NUL character \
             (\\u0000 or %00); remove it and send the request again."
        }
        "22003" => "A number is outside the range that can be stored; send a smaller value.",
        "22008" | "22007" | "22009" => {
            "A date or time is invalid or out of range; use RFC 3339, e.g. 2025-01-31T09:00:00Z."
        }
        "22001" => "A text value is longer than can be stored; shorten it.",
        "22P02" => "A value does not have the expected format (e.g. an id that is not a UUID).",
        // invalid parameter value, e.g. an unknown time zone name
        "22023" => "A value is not valid here; check the fields of the request.",
        "22025" | "22019" | "2200C" | "2200D" => {
            "A text value contains an invalid escape or pattern character; remove it."
        }
        _ => return None,
    })
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::PaymentRequired(_) => StatusCode::PAYMENT_REQUIRED,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            AppError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let AppError::Internal(err) = self {
            tracing::error!(error = ?err, "request failed");
        }
        let mut res = HttpResponse::build(self.status_code());
        match self {
            AppError::Unauthorized(_) => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    r#"Bearer realm="smartflow", error="invalid_token""#,
                ));
            }
            AppError::MethodNotAllowed { allow } => {
                res.insert_header((header::ALLOW, allow.join(", ")));
            }
            AppError::TooManyRequests { retry_after_secs, .. } => {
                res.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        problem_response(res, &self.problem())
    }
}

/// Writes a problem document; the request id is added by the request-id middleware.
pub fn problem_response(
    mut builder: actix_web::HttpResponseBuilder,
    problem: &Problem,
) -> HttpResponse {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    builder
        .insert_header((header::CONTENT_TYPE, PROBLEM_JSON))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// A generic problem for a bare status (used to rewrite non-problem error bodies on `/api`).
pub fn problem_for_status(status: StatusCode, detail: Option<String>) -> Problem {
    let slug = status.canonical_reason().unwrap_or("error").to_ascii_lowercase().replace(' ', "-");
    Problem {
        kind: format!("/problems/{slug}"),
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        status: status.as_u16(),
        detail,
        errors: Vec::new(),
        request_id: None,
    }
}

/// An error on an HTML page: the same causes, rendered with the error template.
#[derive(Debug)]
pub struct PageError(pub AppError);

impl<E: Into<AppError>> From<E> for PageError {
    fn from(err: E) -> Self {
        PageError(err.into())
    }
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        if let AppError::Internal(err) = &self.0 {
            tracing::error!(error = ?err, "page failed");
        }
        let problem = self.0.problem();
        crate::http::page::error_page(self.status_code(), &problem)
    }
}

// ---- actix extractor errors -------------------------------------------------------------

/// An extractor's error answers like the route it belongs to: problem+json under `/api`, the
/// HTML error page on pages.
fn for_route(err: AppError, req: &HttpRequest) -> actix_web::Error {
    if crate::http::is_api_path(req.path()) { err.into() } else { PageError(err).into() }
}

pub fn json_error(err: JsonPayloadError, req: &HttpRequest) -> actix_web::Error {
    let app = match &err {
        JsonPayloadError::OverflowKnownLength { length, limit } => AppError::PayloadTooLarge(
            format!("The body is {length} bytes; the limit is {limit} bytes."),
        ),
        JsonPayloadError::Overflow { limit } => {
            AppError::PayloadTooLarge(format!("The body exceeds the limit of {limit} bytes."))
        }
        JsonPayloadError::ContentType => AppError::UnsupportedMediaType(
            "Send the body as JSON with `Content-Type: application/json`.".into(),
        ),
        JsonPayloadError::Deserialize(e) => json_deserialize_error(e),
        JsonPayloadError::Serialize(_) => AppError::internal(anyhow::anyhow!("{err}")),
        other => AppError::BadRequest(format!("The request body could not be read: {other}.")),
    };
    for_route(app, req)
}

pub fn json_deserialize_error(e: &serde_json::Error) -> AppError {
    use serde_json::error::Category;
    match e.classify() {
        // Wrong shape: missing or mistyped field. serde names the field in its message.
        Category::Data => AppError::Validation(vec![FieldError::new(
            data_error_field(&e.to_string()),
            "invalid",
            format!("{e}"),
        )]),
        Category::Syntax | Category::Eof => AppError::BadRequest(format!(
            "The body is not valid JSON ({e}). Send a JSON object with `Content-Type: application/json`."
        )),
        Category::Io => AppError::BadRequest(format!("The body could not be read: {e}.")),
    }
}

/// serde messages read like "missing field `email` at line 1 column 2"; the first backquoted
/// word is the field.
fn data_error_field(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .filter(|f| !f.is_empty() && f.len() < 64 && !f.contains(' '))
        .unwrap_or("body")
        .to_string()
}

pub fn path_error(err: PathError, req: &HttpRequest) -> actix_web::Error {
    for_route(AppError::NotFound(format!("No resource matches this path: {err}.")), req)
}

pub fn query_error(err: QueryPayloadError, req: &HttpRequest) -> actix_web::Error {
    let message = err.to_string();
    let app = AppError::Validation(vec![FieldError::new(
        data_error_field(&message),
        "invalid",
        format!("Invalid query string: {message}"),
    )]);
    for_route(app, req)
}

pub fn form_error(err: UrlencodedError, req: &HttpRequest) -> actix_web::Error {
    let app = match &err {
        UrlencodedError::Overflow { size, limit } => AppError::PayloadTooLarge(format!(
            "The form is {size} bytes; the limit is {limit} bytes."
        )),
        UrlencodedError::ContentType => AppError::UnsupportedMediaType(
            "Send the form as `application/x-www-form-urlencoded`.".into(),
        ),
        UrlencodedError::Parse(e) => AppError::Validation(vec![FieldError::new(
            data_error_field(&e.to_string()),
            "invalid",
            e.to_string(),
        )]),
        other => AppError::BadRequest(format!("The form could not be read: {other}.")),
    };
    for_route(app, req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_come_from_serde_messages() {
        assert_eq!(data_error_field("missing field `email` at line 1 column 2"), "email");
        assert_eq!(data_error_field("invalid type: integer"), "body");
    }

    #[test]
    fn validation_problem_lists_fields() {
        let err = AppError::Validation(vec![
            FieldError::new("email", "required", "Enter an e-mail address."),
            FieldError::new("name", "too_long", "Use at most 255 characters."),
        ]);
        let p = err.problem();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors.len(), 2);
        assert_eq!(p.kind, "/problems/validation-error");
        assert!(p.detail.unwrap().starts_with("2 fields need fixing"));
    }

    #[test]
    fn data_exceptions_are_the_callers_and_say_what_is_wrong() {
        assert!(data_exception("22021").unwrap().contains("NUL"));
        assert!(data_exception("22P05").unwrap().contains("NUL"));
        assert!(data_exception("22003").unwrap().contains("number"));
        assert!(data_exception("22008").unwrap().contains("date"));
        assert!(data_exception("22012").is_none(), "division by zero is our SQL's fault");
        assert!(data_exception("23505").is_none(), "constraint violations are handled by modules");
        assert!(data_exception("42P01").is_none(), "a missing table is our bug");
    }

    #[test]
    fn internal_errors_do_not_leak() {
        let err = AppError::internal(anyhow::anyhow!("password=hunter2 connection refused"));
        let p = err.problem();
        assert_eq!(p.status, 500);
        assert!(!p.detail.unwrap().contains("hunter2"));
    }
}
