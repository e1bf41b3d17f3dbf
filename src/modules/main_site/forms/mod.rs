//! What the public forms (leads, contact) share: reading JSON or an HTML form post, the spam
//! screen (per-address limit, honeypot, signed fill time), and answering a browser with a
//! redirect instead of JSON.

pub mod fields;
pub mod flash;
pub mod limits;
pub mod routes;
pub mod token;

use std::collections::BTreeMap;

use actix_web::{FromRequest, HttpRequest, HttpResponse, http::header, web};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};

use crate::{
    error::{AppError, FieldError},
    http::client_ip,
    state::AppState,
};

/// How a form arrived: scripts send JSON and get JSON; browsers post forms and get redirects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Form,
}

pub struct Submission<T> {
    pub input: T,
    pub encoding: Encoding,
    /// The raw fields of a form post, to show again next to their errors.
    pub values: BTreeMap<String, String>,
}

/// Reads `T` from a JSON body or an `application/x-www-form-urlencoded` one, through the same
/// extractors (limits, problem+json errors) as every other route.
pub async fn read<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Submission<T>, actix_web::Error> {
    let content_type =
        req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut payload = payload.into_inner();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let pairs = web::Form::<Vec<(String, String)>>::from_request(req, &mut payload).await?;
        let values: BTreeMap<String, String> = pairs.into_inner().into_iter().collect();
        let object = values
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect::<serde_json::Map<_, _>>();
        let input = serde_json::from_value(serde_json::Value::Object(object))
            .map_err(|e| AppError::validation("body", "invalid", e.to_string()))?;
        return Ok(Submission { input, encoding: Encoding::Form, values });
    }
    let json = web::Json::<T>::from_request(req, &mut payload).await?;
    Ok(Submission { input: json.into_inner(), encoding: Encoding::Json, values: BTreeMap::new() })
}

/// A checkbox: `true`/`false` in JSON, present (`on`, `true`, `1`, `yes`) or absent in a form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, utoipa::ToSchema)]
#[schema(value_type = bool)]
pub struct Checkbox(pub bool);

impl<'de> Deserialize<'de> for Checkbox {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        Ok(Checkbox(match Raw::deserialize(d)? {
            Raw::Bool(b) => b,
            Raw::Text(t) => {
                matches!(t.trim().to_ascii_lowercase().as_str(), "on" | "true" | "1" | "yes")
            }
        }))
    }
}

/// The visitor's address, as the rate limits see it.
pub fn ip_of(req: &HttpRequest, state: &AppState) -> String {
    client_ip(req, state.settings.server.trust_proxy_headers)
        .map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
}

/// What the screen decided before the fields are read.
#[derive(Debug, PartialEq)]
pub enum Screen {
    /// A person, as far as we can tell; `token_error` joins the field errors. A good token goes
    /// to [`spend`] once the submission is accepted.
    Pass { token_error: Option<FieldError>, token: Option<token::Valid> },
    /// The honeypot was filled: answer as if accepted, store nothing.
    Trap,
}

/// Counts the submission against the address limit, then checks the honeypot and fill time.
pub async fn screen(
    state: &AppState,
    ip: &str,
    honeypot: Option<&str>,
    form_token: Option<&str>,
) -> Result<Screen, AppError> {
    limits::hit_ip(state, ip).await?;
    if honeypot.is_some_and(|v| !v.trim().is_empty()) {
        metrics::counter!("main_site_form_honeypot_total").increment(1);
        tracing::info!(ip, "form honeypot filled; submission dropped");
        return Ok(Screen::Trap);
    }
    let s = &state.settings.main_site;
    let key = state.cipher.derive_key(token::KEY_LABEL);
    let now = chrono::Utc::now().timestamp_millis();
    match token::check(&key, form_token, now, s.min_fill_secs, s.form_max_age_secs) {
        Ok(valid) => Ok(Screen::Pass { token_error: None, token: Some(valid) }),
        Err(p) => {
            metrics::counter!("main_site_form_token_refused_total").increment(1);
            Ok(Screen::Pass { token_error: Some(token_field_error(&p)), token: None })
        }
    }
}

fn token_field_error(p: &token::TokenProblem) -> FieldError {
    FieldError::new("form_token", p.code(), p.message())
}

/// Accepts a submission's token for good: a second submission with it is refused (`used`), so
/// a page fetched once cannot be replayed for the token's whole life. Its nonce is remembered
/// in the cache until the token would expire anyway. A cache outage lets it through, as the
/// rate limits do.
async fn spend(state: &AppState, token: Option<&token::Valid>) -> Result<(), AppError> {
    let Some(token) = token else { return Ok(()) };
    if !state.settings.main_site.single_use_form_tokens {
        return Ok(());
    }
    let key = spent_key(token);
    let ttl = std::time::Duration::from_secs(token.remaining_secs.saturating_add(60));
    match state.cache.set_nx(&key, "1", ttl).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            metrics::counter!("main_site_form_token_refused_total").increment(1);
            Err(AppError::Validation(vec![token_field_error(&token::TokenProblem::Used)]))
        }
        Err(e) => {
            tracing::warn!(error = %e, "form token reuse check failed; allowing");
            Ok(())
        }
    }
}

/// Spends `token`, then stores the submission with `store`; when storing fails the token is
/// given back, so the visitor's retry is not refused as "already sent".
pub async fn spend_then<T>(
    state: &AppState,
    token: Option<&token::Valid>,
    store: impl std::future::Future<Output = Result<T, AppError>>,
) -> Result<T, AppError> {
    spend(state, token).await?;
    let stored = store.await;
    if stored.is_err()
        && let Some(token) = token
        && state.settings.main_site.single_use_form_tokens
    {
        let _ = state.cache.delete(&spent_key(token)).await;
    }
    stored
}

fn spent_key(token: &token::Valid) -> String {
    format!("forms:token:{}", token.nonce)
}

/// A fresh form token for a page being shown now.
pub fn new_token(state: &AppState) -> String {
    token::issue(&state.cipher.derive_key(token::KEY_LABEL), chrono::Utc::now().timestamp_millis())
}

/// A path on this site to send the browser back to, or `default`.
pub fn safe_path(path: Option<&str>, default: &str) -> String {
    match path.map(str::trim) {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && !p.contains("://")
                && p.len() <= 2000
                && !p.chars().any(char::is_control) =>
        {
            p.to_string()
        }
        _ => default.to_string(),
    }
}

/// `path` with `key=value` set in its query (replacing an earlier one), keeping the fragment out.
pub fn with_query(path: &str, key: &str, value: &str) -> String {
    let (path, _) = path.split_once('#').unwrap_or((path, ""));
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k != key {
            ser.append_pair(&k, &v);
        }
    }
    ser.append_pair(key, value);
    format!("{base}?{}", ser.finish())
}

/// The answer to a public form: `202` JSON for scripts; for an HTML form a redirect to
/// `thanks`, or back to the form page (`return_to`, else `form_page`) showing its mistakes.
pub async fn answer<T, R>(
    state: &AppState,
    sub: Submission<T>,
    return_to: Option<&str>,
    form_page: &str,
    thanks: &str,
    result: Result<R, AppError>,
) -> Result<HttpResponse, actix_web::Error> {
    match (sub.encoding, result) {
        (Encoding::Json, Ok(_)) => {
            Ok(HttpResponse::Accepted().json(crate::modules::main_site::leads::submit::Received {
                status: "received".into(),
            }))
        }
        (Encoding::Json, Err(e)) => Err(e.into()),
        (Encoding::Form, Ok(_)) => Ok(see_other(thanks)),
        (Encoding::Form, Err(e @ AppError::Internal(_))) => Err(e.into()),
        (Encoding::Form, Err(e)) => {
            let back = safe_path(return_to, form_page);
            Ok(back_with_errors(state, &back, sub.values, e).await)
        }
    }
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A browser's form with mistakes goes back to its page, which shows them (see [`flash`]).
pub async fn back_with_errors(
    state: &AppState,
    return_to: &str,
    values: BTreeMap<String, String>,
    err: AppError,
) -> HttpResponse {
    let (errors, message) = match err {
        AppError::Validation(errors) => (errors, String::new()),
        other => (Vec::new(), other.problem().detail.unwrap_or_default()),
    };
    let flash = flash::Flash::new(values, errors, message);
    let id = flash::store(state, &flash).await.unwrap_or_else(|| "expired".into());
    see_other(&format!("{}#form", with_query(return_to, "form", &id)))
}

/// What a page needs to draw a form: a fresh token, and the values and errors of a failed post.
#[derive(Debug, Clone, Default)]
pub struct FormView {
    pub token: String,
    pub values: BTreeMap<String, String>,
    pub errors: Vec<FieldError>,
    pub message: String,
}

impl FormView {
    /// `flash_id` is the `form` query parameter set by [`back_with_errors`].
    pub async fn load(state: &AppState, flash_id: Option<&str>) -> FormView {
        let mut view = FormView { token: new_token(state), ..FormView::default() };
        if let Some(id) = flash_id {
            match flash::take(state, id).await {
                Some(f) => {
                    view.values = f.values;
                    view.errors = f.errors;
                    view.message = f.message;
                }
                None => {
                    view.message =
                        "This form could not be sent and its details have expired. Please fill it in again."
                            .into();
                }
            }
        }
        view
    }

    pub fn value(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    pub fn error(&self, name: &str) -> &str {
        self.errors.iter().find(|e| e.field == name).map_or("", |e| e.message.as_str())
    }

    pub fn checked(&self, name: &str) -> bool {
        self.values.get(name).is_some_and(|v| !v.is_empty() && v != "false")
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty() || !self.message.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_path(Some("/demo?utm_source=x"), "/"), "/demo?utm_source=x");
        for bad in ["https://evil.example", "//evil.example", "/\\evil", "demo", "/a\nb"] {
            assert_eq!(safe_path(Some(bad), "/contact"), "/contact", "{bad}");
        }
        assert_eq!(safe_path(None, "/contact"), "/contact");
    }

    #[test]
    fn query_values_are_replaced_not_repeated() {
        assert_eq!(with_query("/demo", "form", "a1"), "/demo?form=a1");
        assert_eq!(
            with_query("/demo?utm_source=x&form=old#top", "form", "a1"),
            "/demo?utm_source=x&form=a1"
        );
    }

    #[test]
    fn checkboxes_read_json_and_form_values() {
        let v: Checkbox = serde_json::from_value(serde_json::json!(true)).unwrap();
        assert!(v.0);
        let v: Checkbox = serde_json::from_value(serde_json::json!("on")).unwrap();
        assert!(v.0);
        let v: Checkbox = serde_json::from_value(serde_json::json!("0")).unwrap();
        assert!(!v.0);
    }
}
