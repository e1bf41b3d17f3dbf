//! The OAuth 2.0 authorization-code flow with PKCE and `state`. The state is stored only as a
//! hash, with the encrypted PKCE verifier, and is consumed once (an `update … where used_at is
//! null`), so a replayed or forged callback finds nothing; it expires after
//! `social.oauth_state_ttl_secs`. The callback must come from the person who started it.

use actix_web::{HttpResponse, get, http::header, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::{
    Account,
    candidates::{self, CandidateView},
    link::{NewLink, link},
    pending,
};
use crate::{
    error::AppError,
    modules::social::{
        Social,
        platforms::{Pkce, Platform, PlatformError, generate_state},
    },
    platform::{
        auth::{MaybePrincipal, Permission, Principal},
        crypto::sha256_hex,
        events::{Event, record_event},
    },
    state::AppState,
};

/// Where the platform sends the browser back.
pub fn redirect_uri(state: &AppState, platform: Platform) -> String {
    format!(
        "{}/api/accounts/oauth/{}/callback",
        state.settings.app.base_url.trim_end_matches('/'),
        platform.as_str()
    )
}

/// A platform failure while linking, as an answer that says who failed and what to do.
pub fn platform_error(e: PlatformError, field: &str) -> AppError {
    let name = e.platform().name();
    match e {
        PlatformError::Auth { .. }
        | PlatformError::Permission { .. }
        | PlatformError::Validation { .. } => AppError::validation(
            field,
            "rejected_by_platform",
            format!("{name} refused these credentials: {}", e.message()),
        ),
        PlatformError::Config { .. } => AppError::ServiceUnavailable(format!(
            "{name} is not set up on this server ({}); ask your administrator.",
            e.message()
        )),
        _ => AppError::BadGateway(format!(
            "{name} did not answer as expected ({}); try again in a moment.",
            e.message()
        )),
    }
}

/// A path on this site, or nothing.
pub fn parse_return_to(raw: Option<&str>) -> Result<Option<String>, AppError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(r) if crate::platform::auth::pages::is_local_path(r) => Ok(Some(r.to_string())),
        Some(_) => Err(AppError::validation(
            "return_to",
            "invalid",
            "Use a path on this site, such as /app/social.",
        )),
    }
}

pub struct Started {
    pub authorize_url: String,
    pub expires_at: DateTime<Utc>,
}

/// Stores a fresh state and PKCE verifier and returns where to send the browser.
pub async fn start(
    state: &AppState,
    who: &Principal,
    platform: Platform,
    return_to: Option<String>,
    scopes: &[String],
) -> Result<Started, AppError> {
    // Every caller (API, page form) links on the caller's behalf: viewers may not.
    who.require(Permission::Write)?;
    let social = state.ext::<Social>()?;
    let adapter = social.registry.get(platform);
    let Some(oauth) = adapter.oauth() else {
        return Err(AppError::validation(
            "platform",
            "not_oauth",
            format!("{} links with a token, not a login redirect.", platform.name()),
        ));
    };
    if !social.registry.is_configured(platform) {
        return Err(AppError::ServiceUnavailable(format!(
            "Linking {} accounts is not set up on this server; ask your administrator.",
            platform.name()
        )));
    }
    let st = generate_state();
    let pkce = Pkce::generate();
    let redirect = redirect_uri(state, platform);
    let url = oauth
        .authorize_url(&st, pkce.challenge(), &redirect, scopes)
        .map_err(|e| platform_error(e, "platform"))?;
    let hash = sha256_hex(&st);
    let verifier = state
        .cipher
        .encrypt(pkce.verifier(), &format!("social_oauth:{hash}"))
        .map_err(AppError::internal)?;
    let ttl = chrono::Duration::seconds(state.settings.social.oauth_state_ttl_secs as i64);
    let expires_at = Utc::now() + ttl;
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "insert into smartflow_social.oauth_states (state_hash, workspace_id, user_id, platform, \
         verifier_enc, redirect_uri, return_to, expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&hash)
    .bind(who.workspace_id)
    .bind(who.user_id)
    .bind(platform.as_str())
    .bind(&verifier)
    .bind(&redirect)
    .bind(&return_to)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("account.link_started", "social_platform", platform.as_str(), json!({})),
    )
    .await?;
    tx.commit().await?;
    Ok(Started { authorize_url: url.to_string(), expires_at })
}

/// (platform, sealed verifier, redirect URI, return path, expiry) of a consumed state.
type Consumed = (String, String, String, Option<String>, DateTime<Utc>);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by the platform when the person declined.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// What the callback did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CallbackResult {
    /// The tokens act as one account: it is linked.
    Linked { accounts: Vec<Account> },
    /// The tokens can act as several accounts (Pages, organizations): choose with
    /// `POST /api/accounts/pending/{id}`.
    Choose { pending: pending::PendingLink },
}

/// The platform's redirect after login. Consumes the state (once), exchanges the code with
/// the PKCE verifier, stores the tokens encrypted. Browsers that started from a page are sent
/// back to it (`?linked=`, `?choose=` or `?error=`); API clients get JSON.
#[utoipa::path(
    tag = "social",
    params(("platform" = String, Path, description = "x, facebook, instagram or linkedin"), CallbackQuery),
    responses(
        (status = 200, body = CallbackResult),
        (status = 303, description = "Back to the page that started linking"),
        (status = 400, description = "Unknown, used or expired state"),
        (status = 403, description = "Started by someone else"),
    ),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[get("/api/accounts/oauth/{platform}/callback")]
pub async fn oauth_callback(
    state: web::Data<AppState>,
    who: MaybePrincipal,
    platform: web::Path<String>,
    q: web::Query<CallbackQuery>,
) -> Result<HttpResponse, AppError> {
    let platform: Platform =
        platform.parse().map_err(|_| AppError::not_found("Social platform"))?;
    let raw_state = q.state.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| {
        AppError::BadRequest("The callback has no `state`; start linking again.".into())
    })?;
    // Checked before the state is used up, so signing in and reloading still works.
    let who = who.0.ok_or_else(|| {
        AppError::Unauthorized("Sign in, then open this link again to finish linking.".into())
    })?;
    // The role may have changed since linking started (or the session is not the starter's).
    who.require(Permission::Write)?;
    let hash = sha256_hex(raw_state);
    // Consumed only by the person who started it: a stranger cannot burn someone's sign-in.
    let consumed: Option<Consumed> = sqlx::query_as(
        "update smartflow_social.oauth_states set used_at = now() \
         where state_hash = $1 and used_at is null and user_id = $2 and workspace_id = $3 \
         returning platform, verifier_enc, redirect_uri, return_to, expires_at",
    )
    .bind(&hash)
    .bind(who.user_id)
    .bind(who.workspace_id)
    .fetch_optional(&state.db)
    .await?;
    let Some((stored_platform, verifier, redirect, return_to, expires_at)) = consumed else {
        let someone_elses: bool = sqlx::query_scalar(
            "select exists (select 1 from smartflow_social.oauth_states where state_hash = $1 and used_at is null)",
        )
        .bind(&hash)
        .fetch_one(&state.db)
        .await?;
        if someone_elses {
            return Err(AppError::Forbidden(
                "This sign-in was started by someone else or in another workspace.".into(),
            ));
        }
        return Err(AppError::BadRequest(
            "This sign-in link is unknown or was already used; start linking again.".into(),
        ));
    };
    if expires_at < Utc::now() || stored_platform != platform.as_str() {
        return Err(AppError::BadRequest(
            "This sign-in link has expired or belongs to another platform; start linking again."
                .into(),
        ));
    }
    let result = finish(&state, &who, platform, &q, &verifier, &redirect).await;
    match (return_to, result) {
        (None, Ok(done)) => Ok(HttpResponse::Ok().json(done)),
        (None, Err(e)) => Err(e),
        (Some(back), outcome) => {
            let query = match outcome {
                Ok(CallbackResult::Linked { accounts }) => {
                    format!(
                        "linked={}",
                        accounts.first().map(|a| a.id.to_string()).unwrap_or_default()
                    )
                }
                Ok(CallbackResult::Choose { pending }) => format!("choose={}", pending.id),
                Err(e) => {
                    let detail = e.problem().detail.unwrap_or_default();
                    let detail = match &e {
                        AppError::Validation(errors) => {
                            errors.iter().map(|f| f.message.clone()).collect::<Vec<_>>().join(" ")
                        }
                        _ => detail,
                    };
                    format!(
                        "error={}",
                        url::form_urlencoded::byte_serialize(detail.as_bytes()).collect::<String>()
                    )
                }
            };
            let sep = if back.contains('?') { '&' } else { '?' };
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, format!("{back}{sep}{query}")))
                .finish())
        }
    }
}

async fn finish(
    state: &AppState,
    who: &Principal,
    platform: Platform,
    q: &CallbackQuery,
    verifier: &str,
    redirect: &str,
) -> Result<CallbackResult, AppError> {
    if let Some(error) = &q.error {
        let why = q.error_description.as_deref().unwrap_or(error);
        return Err(AppError::validation(
            "code",
            "declined",
            format!("{} did not grant access ({why}).", platform.name()),
        ));
    }
    let code = q.code.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| {
        AppError::BadRequest("The callback has no `code`; start linking again.".into())
    })?;
    let hash = sha256_hex(q.state.as_deref().unwrap_or_default());
    let verifier = state
        .cipher
        .decrypt(verifier, &format!("social_oauth:{hash}"))
        .map_err(AppError::internal)?;
    let social = state.ext::<Social>()?;
    let adapter = social.registry.get(platform);
    let oauth = adapter.oauth().ok_or_else(|| AppError::not_found("Social platform"))?;
    let tokens = oauth
        .exchange_code(code, &verifier, redirect)
        .await
        .map_err(|e| platform_error(e, "code"))?;
    let facebook_web = &state.settings.social.platforms.facebook.web_url;
    let found = candidates::gather(&social.registry, platform, &tokens, facebook_web)
        .await
        .map_err(|e| platform_error(e, "code"))?;
    match found.len() {
        0 => Err(AppError::validation(
            "code",
            "no_accounts",
            format!(
                "No {} account could be found for this login (for Pages and Instagram, the person \
                 must manage a Page, with an Instagram business account linked to it).",
                platform.name()
            ),
        )),
        1 => {
            let Some(c) = found.into_iter().next() else {
                return Err(AppError::internal(anyhow::anyhow!("candidate vanished")));
            };
            let mut tx = state.db.begin().await?;
            let account = link(
                &mut tx,
                state,
                who,
                NewLink { platform, remote: c.remote, instance_url: None, tokens: c.tokens },
            )
            .await?;
            tx.commit().await?;
            Ok(CallbackResult::Linked { accounts: vec![account] })
        }
        _ => {
            let views: Vec<CandidateView> = found.iter().map(|c| c.view()).collect();
            let pending = pending::store(state, who, platform, &found, views).await?;
            Ok(CallbackResult::Choose { pending })
        }
    }
}
