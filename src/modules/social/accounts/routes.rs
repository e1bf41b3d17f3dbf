//! `/api/accounts`: link (OAuth redirect or token), list, show, status, disconnect.

use std::time::Duration;

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    Account, find,
    link::{NewLink, link},
    list,
    oauth::{parse_return_to, platform_error, start},
};
use crate::{
    error::AppError,
    modules::social::{
        Social,
        platforms::{AccountContext, Platform, RefreshToken, RemoteAccount, TokenSet},
        publish::{budget, ledger},
    },
    platform::{
        auth::{Authorized, Principal, Read, Write},
        events::{Event, record_event},
        ssrf,
    },
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct LinkAccountRequest {
    /// `x`, `facebook`, `instagram`, `linkedin` (answers a login URL) or `bluesky`,
    /// `mastodon` (linked at once with the credentials below).
    pub platform: String,
    /// OAuth: a path on this site the browser returns to after the callback; without it the
    /// callback answers JSON.
    pub return_to: Option<String>,
    /// OAuth: scopes instead of the configured defaults.
    pub scopes: Option<Vec<String>>,
    /// Bluesky: handle (or DID, or e-mail).
    pub handle: Option<String>,
    /// Bluesky: an app password (Settings → Privacy and security → App passwords).
    pub app_password: Option<String>,
    /// Bluesky: the account's PDS when it is not bsky.social.
    pub pds_url: Option<String>,
    /// Mastodon: the instance, e.g. `https://mastodon.social`.
    pub instance_url: Option<String>,
    /// Mastodon: an access token with the `read`, `write:statuses` and `write:media` scopes.
    pub access_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LinkAccountResponse {
    /// Send the browser to `authorize_url`; the platform returns it to the callback.
    Redirect { authorize_url: String, expires_at: DateTime<Utc> },
    /// Linked at once (Bluesky, Mastodon).
    Linked { account: Box<Account> },
}

fn required<'a>(v: &'a Option<String>, field: &str, what: &str) -> Result<&'a str, AppError> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AppError::validation(field, "required", what.to_string()))
}

/// Starts linking a social account (seed route). X, Facebook Pages, Instagram business and
/// LinkedIn use the OAuth 2.0 authorization-code flow with PKCE: the answer is the login URL.
/// Bluesky (app password) and Mastodon (access token) are linked at once.
#[utoipa::path(
    tag = "social",
    request_body = LinkAccountRequest,
    responses(
        (status = 200, body = LinkAccountResponse, description = "Redirect to the platform"),
        (status = 201, body = LinkAccountResponse, description = "Linked"),
        (status = 402), (status = 422), (status = 502), (status = 503)
    ),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[post("/api/accounts")]
pub async fn link_account(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    body: web::Json<LinkAccountRequest>,
) -> Result<HttpResponse, AppError> {
    let platform: Platform = body.platform.parse().map_err(
        |e: crate::modules::social::platforms::types::UnknownPlatform| {
            AppError::validation("platform", "unknown", e.to_string())
        },
    )?;
    match platform {
        Platform::Bluesky | Platform::Mastodon => {
            let account = link_with_token(&state, &who, platform, &body).await?;
            Ok(HttpResponse::Created()
                .json(LinkAccountResponse::Linked { account: Box::new(account) }))
        }
        _ => {
            let return_to = parse_return_to(body.return_to.as_deref())?;
            let scopes = body.scopes.clone().unwrap_or_default();
            let started = start(&state, &who, platform, return_to, &scopes).await?;
            Ok(HttpResponse::Ok().json(LinkAccountResponse::Redirect {
                authorize_url: started.authorize_url,
                expires_at: started.expires_at,
            }))
        }
    }
}

/// A user-supplied server: public (unless `social.allow_private_instances`), http(s), origin only.
async fn server_url(state: &AppState, raw: &str, field: &str) -> Result<String, AppError> {
    let allow = state.settings.social.allow_private_instances;
    let url = ssrf::check_url(raw, allow, !allow, Duration::from_secs(5))
        .await
        .map_err(|e| AppError::validation(field, "invalid_url", e.to_string()))?;
    Ok(url.origin().ascii_serialization())
}

pub async fn link_with_token(
    state: &AppState,
    who: &Principal,
    platform: Platform,
    body: &LinkAccountRequest,
) -> Result<Account, AppError> {
    let social = state.ext::<Social>()?;
    if !social.registry.is_configured(platform) {
        return Err(AppError::ServiceUnavailable(format!(
            "Linking {} accounts is switched off on this server.",
            platform.name()
        )));
    }
    let mut max_characters = None;
    let new = if platform == Platform::Bluesky {
        let handle =
            required(&body.handle, "handle", "Give the Bluesky handle, e.g. name.bsky.social.")?;
        let password = required(
            &body.app_password,
            "app_password",
            "Create an app password in Bluesky's settings and paste it here.",
        )?;
        let pds = match body.pds_url.as_deref().filter(|p| !p.trim().is_empty()) {
            Some(raw) => Some(server_url(state, raw, "pds_url").await?),
            None => None,
        };
        let session = social
            .registry
            .bluesky()
            .create_session(handle, password, pds.as_deref())
            .await
            .map_err(|e| platform_error(e, "app_password"))?;
        // The PDS named in the DID document is where every later call goes: check it too.
        let pds_url = server_url(state, &session.pds_url, "pds_url").await?;
        let web = state.settings.social.platforms.bluesky.web_url.trim_end_matches('/').to_string();
        NewLink {
            platform,
            remote: RemoteAccount {
                url: Some(format!("{web}/profile/{}", session.handle)),
                id: session.did,
                username: Some(session.handle),
                display_name: None,
            },
            instance_url: Some(pds_url),
            tokens: session.tokens,
        }
    } else {
        let raw = required(
            &body.instance_url,
            "instance_url",
            "Give the instance, e.g. https://mastodon.social.",
        )?;
        let token = required(
            &body.access_token,
            "access_token",
            "Paste an access token from Preferences → Development.",
        )?;
        let instance = server_url(state, raw, "instance_url").await?;
        let ctx = AccountContext::new(token, "").with_instance_url(instance.clone());
        let remote = social
            .registry
            .get(platform)
            .verify_account(&ctx)
            .await
            .map_err(|e| platform_error(e, "access_token"))?;
        // Instances set their own post length; rules check against it from now on.
        max_characters = social.registry.mastodon().instance_max_characters(&ctx).await;
        // Mastodon tokens do not expire and cannot be refreshed.
        let tokens = TokenSet {
            access_token: SecretString::from(token.to_string()),
            refresh_token: RefreshToken::NotIssued,
            expires_at: None,
            refresh_expires_at: None,
            scopes: None,
        };
        NewLink { platform, remote, instance_url: Some(instance), tokens }
    };
    let mut tx = state.db.begin().await?;
    let mut account = link(&mut tx, state, who, new).await?;
    if let Some(max) = max_characters.and_then(|m| i32::try_from(m).ok()) {
        sqlx::query(
            "update smartflow_social.accounts set max_characters = $2 where id = $1 and workspace_id = $3",
        )
        .bind(account.id)
        .bind(max)
        .bind(who.workspace_id)
        .execute(&mut *tx)
        .await?;
        account.max_characters = Some(max);
    }
    tx.commit().await?;
    Ok(account)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountListQuery {
    /// Include disconnected accounts.
    pub include_disconnected: Option<bool>,
}

/// The workspace's linked accounts (never their tokens).
#[utoipa::path(tag = "social", params(AccountListQuery), responses((status = 200, body = Vec<Account>)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/accounts")]
pub async fn list_accounts(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    q: web::Query<AccountListQuery>,
) -> Result<HttpResponse, AppError> {
    let rows = list(&state.db, who.workspace_id, q.include_disconnected.unwrap_or(false)).await?;
    Ok(HttpResponse::Ok().json(rows))
}

#[utoipa::path(tag = "social", params(("id" = Uuid, Path)), responses((status = 200, body = Account), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/accounts/{id}")]
pub async fn get_account(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(find(&state.db, who.workspace_id, *id).await?))
}

/// Whether an account can publish, and if not, what to do.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountStatus {
    pub account_id: Uuid,
    pub status: String,
    /// `false` when posts to it would fail now (re-authorisation needed, disconnected).
    pub can_publish: bool,
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Seconds until the access token expires (negative: expired).
    pub token_expires_in_secs: Option<i64>,
    pub can_refresh: bool,
    pub needs_reauth_since: Option<DateTime<Utc>>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_code: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_published_at: Option<DateTime<Utc>>,
    /// The platform asked SmartFlow to wait (HTTP 429) until then.
    pub rate_limited_until: Option<DateTime<Utc>>,
    /// Targets waiting to be published to this account.
    pub scheduled_targets: i64,
    /// Targets that failed in the last 7 days.
    pub failed_targets_7d: i64,
    /// What to do, for people.
    pub hint: String,
}

/// Token expiry, last error and what is waiting for this account.
#[utoipa::path(tag = "social", params(("id" = Uuid, Path)), responses((status = 200, body = AccountStatus), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/accounts/{id}/status")]
pub async fn account_status(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let a = find(&state.db, who.workspace_id, *id).await?;
    let (scheduled, failed): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where state = 'scheduled'), \
                count(*) filter (where state = 'failed' and failed_at > now() - interval '7 days') \
         from smartflow_social.post_targets where account_id = $1 and workspace_id = $2",
    )
    .bind(a.id)
    .bind(who.workspace_id)
    .fetch_one(&state.db)
    .await?;
    let now = Utc::now();
    let hint = match a.status.as_str() {
        "needs_reauth" => "Reconnect this account: SmartFlow's access was revoked or expired.",
        "disconnected" => "This account was disconnected; link it again to publish to it.",
        _ if a.token_expires_at.is_some_and(|t| t < now) && !a.can_refresh => {
            "The access token expired and cannot be refreshed: reconnect this account."
        }
        _ => "The account is connected.",
    };
    Ok(HttpResponse::Ok().json(AccountStatus {
        account_id: a.id,
        can_publish: a.status == "active",
        status: a.status,
        token_expires_in_secs: a.token_expires_at.map(|t| (t - now).num_seconds()),
        token_expires_at: a.token_expires_at,
        can_refresh: a.can_refresh,
        needs_reauth_since: a.needs_reauth_since,
        last_refreshed_at: a.last_refreshed_at,
        last_error: a.last_error,
        last_error_code: a.last_error_code,
        last_error_at: a.last_error_at,
        last_published_at: a.last_published_at,
        rate_limited_until: budget::blocked_until(&state, a.id).await,
        scheduled_targets: scheduled,
        failed_targets_7d: failed,
        hint: hint.into(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Disconnected {
    pub account: Account,
    /// Scheduled targets for this account that were cancelled.
    pub cancelled_targets: u64,
}

/// Disconnects an account (admins, or the user who linked it): its tokens are erased and what
/// was scheduled for it is cancelled.
#[utoipa::path(tag = "social", params(("id" = Uuid, Path)), responses((status = 200, body = Disconnected), (status = 403), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[delete("/api/accounts/{id}")]
pub async fn disconnect_account(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(disconnect(&state, &who, *id).await?))
}

/// Shared with the accounts page.
pub async fn disconnect(
    state: &AppState,
    who: &Principal,
    id: Uuid,
) -> Result<Disconnected, AppError> {
    let mut tx = state.db.begin().await?;
    let current = find(&mut *tx, who.workspace_id, id).await?;
    who.ensure_can_delete(current.created_by)?;
    if current.status == "disconnected" {
        return Err(AppError::Conflict("This account is already disconnected.".into()));
    }
    sqlx::query(
        "update smartflow_social.accounts set status = 'disconnected', access_token_enc = null, \
         refresh_token_enc = null, disconnected_at = now(), updated_at = now() \
         where id = $1 and workspace_id = $2",
    )
    .bind(current.id)
    .bind(who.workspace_id)
    .execute(&mut *tx)
    .await?;
    let cancelled =
        ledger::cancel_for_account(&mut tx, current.id, "the account was disconnected").await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new(
            "account.disconnected",
            "social_account",
            current.id,
            json!({ "platform": current.platform, "cancelled_targets": cancelled }),
        ),
    )
    .await?;
    let account = find(&mut *tx, who.workspace_id, current.id).await?;
    tx.commit().await?;
    Ok(Disconnected { account, cancelled_targets: cancelled })
}
