//! API keys for REST clients: `sf_<prefix>_<secret>`, shown once, stored as a SHA-256 hash,
//! scoped to a workspace and a role, usable as `Authorization: Bearer sf_…`.

use std::time::Duration;

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AuthMethod, Authorized, ManageUsers, Principal, Role, unauthorized};
use crate::{
    domain::text,
    error::{AppError, Validator},
    platform::{
        cache,
        crypto::{constant_time_eq, random_token, sha256_hex},
        events::{Event, record_event},
    },
    state::AppState,
};

pub const KEY_PREFIX: &str = "sf_";
/// Successful look-ups are cached briefly; revoking a key, or a change to its creator's
/// membership, replaces the cached copy with an invalidation marker.
const CACHE_TTL: Duration = Duration::from_secs(60);

#[derive(Serialize, Deserialize, sqlx::FromRow)]
struct CachedKey {
    id: Uuid,
    workspace_id: Uuid,
    role: Role,
    key_hash: String,
    created_by: Option<Uuid>,
    email: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    /// The creator's role in the key's workspace now; `None` when they left it, were disabled
    /// or deleted.
    creator_role: Option<Role>,
}

fn cache_key(prefix: &str) -> String {
    // Versioned: entries cached before the creator's role was part of them are not read.
    format!("apikey:v2:{prefix}")
}

fn split(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(KEY_PREFIX)?;
    let (prefix, secret) = rest.split_once('_')?;
    (prefix.len() == 12 && !secret.is_empty()).then_some(prefix)
}

pub async fn authenticate(state: &AppState, token: &str) -> Result<Principal, AppError> {
    let invalid = || unauthorized("The API key is not valid or was revoked.");
    let prefix = split(token).ok_or_else(invalid)?;
    let key = match state
        .cache
        .get(&cache_key(prefix))
        .await
        .ok()
        .flatten()
        .and_then(|c| serde_json::from_str::<CachedKey>(&c).ok())
    {
        Some(k) => k,
        None => {
            let key: CachedKey = sqlx::query_as(
                "select k.id, k.workspace_id, k.role, k.key_hash, k.created_by, u.email, k.expires_at, \
                 case when u.disabled_at is null then m.role end as creator_role \
                 from smartflow_shared.api_keys k \
                 left join smartflow_main.users u on u.id = k.created_by \
                 left join smartflow_shared.memberships m on m.user_id = k.created_by and m.workspace_id = k.workspace_id \
                 where k.prefix = $1 and k.revoked_at is null",
            )
            .bind(prefix)
            .fetch_optional(&state.db)
            .await?
            .ok_or_else(invalid)?;
            // Only when absent: an invalidation written since the read above must win.
            if let Ok(json) = serde_json::to_string(&key) {
                let _ = state.cache.set_nx(&cache_key(prefix), &json, CACHE_TTL).await;
            }
            key
        }
    };
    if !constant_time_eq(sha256_hex(token).as_bytes(), key.key_hash.as_bytes()) {
        return Err(invalid());
    }
    if key.expires_at.is_some_and(|e| e <= Utc::now()) {
        return Err(unauthorized("The API key has expired; create a new one."));
    }
    // A key delegates its creator's rights: it works only while they still hold them.
    let Some(created_by) = key.created_by else { return Err(invalid()) };
    if !key.creator_role.is_some_and(|r| r.covers(key.role)) {
        return Err(unauthorized(
            "The API key's creator no longer has the rights it grants (removed from the \
             workspace, disabled or given a lower role); an admin can create a new key.",
        ));
    }
    // Best effort, at most once a minute per key.
    if state.cache.set_nx(&format!("apikey:used:{}", key.id), "1", CACHE_TTL).await.unwrap_or(false)
    {
        let _ =
            sqlx::query("update smartflow_shared.api_keys set last_used_at = now() where id = $1")
                .bind(key.id)
                .execute(&state.db)
                .await;
    }
    Ok(Principal {
        user_id: created_by,
        email: key.email.unwrap_or_default(),
        workspace_id: key.workspace_id,
        role: key.role,
        is_staff: false,
        method: AuthMethod::ApiKey,
        session_id: None,
        api_key_id: Some(key.id),
        request_id: None,
        ip: None,
    })
}

/// Drops cached look-ups of the keys `user` created in `workspace` (or in any workspace), so a
/// removal, role change or disabled account takes effect on the keys' next request.
pub async fn forget_keys_of(state: &AppState, user: Uuid, workspace: Option<Uuid>) {
    let prefixes: Vec<String> = match sqlx::query_scalar(
        "select prefix from smartflow_shared.api_keys where created_by = $1 \
         and ($2::uuid is null or workspace_id = $2) and revoked_at is null",
    )
    .bind(user)
    .bind(workspace)
    .fetch_all(&state.db)
    .await
    {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "could not list API keys to drop from the cache");
            return;
        }
    };
    for prefix in prefixes {
        invalidate(state, &prefix).await;
    }
}

async fn invalidate(state: &AppState, prefix: &str) {
    if let Err(e) = cache::invalidate(state.cache.as_ref(), &cache_key(prefix), CACHE_TTL).await {
        tracing::warn!(error = %e, "could not drop a cached API key");
    }
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the key, to recognise it (`sf_<prefix>_…`).
    pub prefix: String,
    pub role: Role,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewApiKey {
    /// What the key is for, e.g. "Zapier".
    pub name: String,
    /// `admin`, `user` or `viewer`; at most your own role. Default `user`.
    pub role: Option<Role>,
    /// Days until the key stops working (1–3650); none means it does not expire.
    pub expires_in_days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// The whole key. It is shown only now: store it safely.
    pub secret: String,
}

const COLUMNS: &str =
    "id, name, prefix, role, created_by, created_at, expires_at, last_used_at, revoked_at";

/// API keys of the current workspace.
#[utoipa::path(tag = "identity", responses((status = 200, body = Vec<ApiKeyView>)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/api-keys")]
pub async fn list_api_keys(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
) -> Result<HttpResponse, AppError> {
    let keys: Vec<ApiKeyView> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from smartflow_shared.api_keys where workspace_id = $1 order by created_at desc"
    )))
    .bind(who.workspace_id)
    .fetch_all(&state.db)
    .await?;
    Ok(HttpResponse::Ok().json(keys))
}

/// Creates an API key; the response is the only time its secret is shown.
#[utoipa::path(
    tag = "identity",
    request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey)),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[post("/api/api-keys")]
pub async fn create_api_key(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    body: web::Json<NewApiKey>,
) -> Result<HttpResponse, AppError> {
    let mut v = Validator::new();
    let name = v.check("name", text::required(&body.name, 100));
    let role = body.role.unwrap_or(Role::User);
    if !who.role.covers(role) {
        v.add(
            "role",
            "above_your_role",
            format!(
                "You cannot create a key with more rights than your role `{}`.",
                who.role.as_str()
            ),
        );
    }
    if let Some(days) = body.expires_in_days
        && !(1..=3650).contains(&days)
    {
        v.add(
            "expires_in_days",
            "out_of_range",
            "Use 1 to 3650 days, or leave it out for no expiry.",
        );
    }
    v.finish()?;
    let name = name.unwrap_or_default();
    let prefix: String = random_token(9)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .chain(std::iter::repeat('x'))
        .take(12)
        .collect();
    let secret = format!("{KEY_PREFIX}{prefix}_{}", random_token(32));
    let expires_at = body.expires_in_days.map(|d| Utc::now() + chrono::Duration::days(d));
    let mut tx = state.db.begin().await?;
    let key: ApiKeyView = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into smartflow_shared.api_keys (workspace_id, name, prefix, key_hash, role, created_by, expires_at) \
         values ($1, $2, $3, $4, $5, $6, $7) returning {COLUMNS}"
    )))
    .bind(who.workspace_id)
    .bind(&name)
    .bind(&prefix)
    .bind(sha256_hex(&secret))
    .bind(role.as_str())
    .bind(who.user_id)
    .bind(expires_at)
    .fetch_one(&mut *tx)
    .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new(
            "api_key.created",
            "api_key",
            key.id,
            json!({ "name": name, "role": role, "prefix": prefix }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(CreatedApiKey { key, secret }))
}

/// Revokes an API key: requests with it fail from now on.
#[utoipa::path(tag = "identity", params(("id" = Uuid, Path)), responses((status = 204)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[delete("/api/api-keys/{id}")]
pub async fn revoke_api_key(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let mut tx = state.db.begin().await?;
    let prefix: Option<String> = sqlx::query_scalar(
        "update smartflow_shared.api_keys set revoked_at = coalesce(revoked_at, now()) \
         where id = $1 and workspace_id = $2 returning prefix",
    )
    .bind(*id)
    .bind(who.workspace_id)
    .fetch_optional(&mut *tx)
    .await?;
    let prefix = prefix.ok_or_else(|| AppError::not_found("API key"))?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("api_key.revoked", "api_key", *id, json!({ "prefix": prefix })),
    )
    .await?;
    tx.commit().await?;
    invalidate(&state, &prefix).await;
    Ok(HttpResponse::NoContent().finish())
}
