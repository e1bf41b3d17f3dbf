//! Sign-in sessions: rows in PostgreSQL (the source of truth), cached in Redis as
//! `session:<id>` so checking a session on every request costs one cache read. Revoking
//! writes a tombstone there and readers fill the cache only when the key is absent, so a read
//! racing a sign-out cannot bring the session back.

use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{AuthMethod, Principal, Role, SESSION_COOKIE, tokens, unauthorized};
use crate::{
    error::AppError,
    platform::{
        cache,
        crypto::{constant_time_eq, random_token, sha256_hex},
    },
    state::AppState,
};

/// Cached copies live at most this long, so a change made without invalidation (e.g. a user
/// disabled directly in SQL) takes effect within a minute.
const CACHE_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct SessionRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    pub workspace_id: Uuid,
    pub role: Role,
    pub is_staff: bool,
    pub secret_hash: String,
    pub expires_at: DateTime<Utc>,
}

impl SessionRecord {
    pub fn principal(&self, method: AuthMethod) -> Principal {
        Principal {
            user_id: self.user_id,
            email: self.email.clone(),
            workspace_id: self.workspace_id,
            role: self.role,
            is_staff: self.is_staff,
            method,
            session_id: Some(self.id),
            api_key_id: None,
            request_id: None,
            ip: None,
        }
    }
}

/// The cached value of a revoked session.
const REVOKED: &str = "!revoked";

fn cache_key(id: Uuid) -> String {
    format!("session:{id}")
}

/// What a successful sign-in hands out.
pub struct Issued {
    pub session_id: Uuid,
    /// `<session id>.<secret>` for the cookie.
    pub cookie_value: String,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Opens a session for `user` in `workspace` inside the caller's transaction.
pub async fn create(
    conn: &mut PgConnection,
    state: &AppState,
    user: Uuid,
    workspace: Uuid,
    role: Role,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Result<Issued, AppError> {
    let secret = random_token(32);
    let ttl = chrono::Duration::hours(state.settings.auth.session_ttl_hours as i64);
    let expires_at = Utc::now() + ttl;
    let session_id: Uuid = sqlx::query_scalar(
        "insert into smartflow_shared.sessions (user_id, workspace_id, secret_hash, ip, user_agent, expires_at) \
         values ($1, $2, $3, $4, $5, $6) returning id",
    )
    .bind(user)
    .bind(workspace)
    .bind(sha256_hex(&secret))
    .bind(ip)
    .bind(user_agent.map(|u| u.chars().take(300).collect::<String>()))
    .bind(expires_at)
    .fetch_one(&mut *conn)
    .await?;
    let refresh_token = new_refresh_token(conn, session_id, expires_at).await?;
    let access_token = tokens::issue(&state.settings.auth, user, workspace, role, session_id)?;
    Ok(Issued {
        session_id,
        cookie_value: format!("{session_id}.{secret}"),
        access_token,
        refresh_token,
        expires_at,
    })
}

async fn new_refresh_token(
    conn: &mut PgConnection,
    session: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<String, AppError> {
    let token = format!("sfr_{}", random_token(32));
    sqlx::query("insert into smartflow_shared.refresh_tokens (session_id, token_hash, expires_at) values ($1, $2, $3)")
        .bind(session)
        .bind(sha256_hex(&token))
        .bind(expires_at)
        .execute(&mut *conn)
        .await?;
    Ok(token)
}

/// The live session `id`, or `None` when it is revoked, expired, or its user lost access.
pub async fn load(state: &AppState, id: Uuid) -> Result<Option<SessionRecord>, AppError> {
    match state.cache.get(&cache_key(id)).await {
        Ok(Some(v)) if v == REVOKED => return Ok(None),
        Ok(Some(v)) => {
            if let Ok(record) = serde_json::from_str::<SessionRecord>(&v) {
                return Ok((record.expires_at > Utc::now()).then_some(record));
            }
        }
        Ok(None) => {}
        Err(e) => tracing::debug!(error = %e, "session cache unavailable"),
    }
    let Some(record) = fetch_live(state, id).await? else { return Ok(None) };
    remember(state, &record).await;
    Ok(Some(record))
}

/// The session as the database has it now (the first half of [`load`]).
pub async fn fetch_live(state: &AppState, id: Uuid) -> Result<Option<SessionRecord>, AppError> {
    Ok(sqlx::query_as(
        r#"
        select s.id, s.user_id, u.email, s.workspace_id, m.role, u.is_staff, s.secret_hash, s.expires_at
        from smartflow_shared.sessions s
        join smartflow_main.users u on u.id = s.user_id and u.disabled_at is null
        join smartflow_shared.memberships m on m.user_id = s.user_id and m.workspace_id = s.workspace_id
        where s.id = $1 and s.revoked_at is null and s.expires_at > now()
        "#,
    )
    .bind(id)
    .fetch_optional(&state.db)
    .await?)
}

/// Caches a record read by [`fetch_live`] (the second half of [`load`]), only when nothing is
/// cached: a revocation or invalidation written after the read must not be overwritten with
/// the older state it read.
pub async fn remember(state: &AppState, record: &SessionRecord) {
    let Ok(json) = serde_json::to_string(record) else { return };
    let ttl = (record.expires_at - Utc::now()).to_std().unwrap_or_default().min(CACHE_TTL);
    if ttl.is_zero() {
        return;
    }
    if let Err(e) = state.cache.set_nx(&cache_key(record.id), &json, ttl).await {
        tracing::debug!(error = %e, "could not cache session");
    }
}

/// The session named by a `sf_session` cookie whose secret matches.
pub async fn from_cookie(state: &AppState, value: &str) -> Result<Option<SessionRecord>, AppError> {
    let Some((id, secret)) = value.split_once('.') else { return Ok(None) };
    let Ok(id) = Uuid::parse_str(id) else { return Ok(None) };
    let Some(record) = load(state, id).await? else { return Ok(None) };
    let ok = constant_time_eq(sha256_hex(secret).as_bytes(), record.secret_hash.as_bytes());
    Ok(ok.then_some(record))
}

/// Ends a session: its cookie, refresh tokens and access tokens stop working at once.
pub async fn revoke(state: &AppState, id: Uuid, reason: &str) -> Result<(), AppError> {
    sqlx::query(
        "update smartflow_shared.sessions set revoked_at = now(), revoked_reason = $2 \
         where id = $1 and revoked_at is null",
    )
    .bind(id)
    .bind(reason)
    .execute(&state.db)
    .await?;
    mark_revoked(state, &[id]).await;
    Ok(())
}

/// Replaces cached copies of sessions revoked in the database with a tombstone: requests with
/// them are refused without a database read, and a request that read the session just before
/// the revocation cannot cache it as live again (fills only happen when the key is absent).
pub async fn mark_revoked(state: &AppState, ids: &[Uuid]) {
    for id in ids {
        if let Err(e) = state.cache.set(&cache_key(*id), REVOKED, Some(CACHE_TTL)).await {
            tracing::warn!(error = %e, session = %id, "could not mark a cached session revoked");
        }
    }
}

/// Invalidates cached copies so requests re-read the database (after a role change or a
/// workspace switch); see [`cache::invalidate`].
pub async fn forget(state: &AppState, ids: &[Uuid]) {
    for id in ids {
        if let Err(e) = cache::invalidate(state.cache.as_ref(), &cache_key(*id), CACHE_TTL).await {
            tracing::warn!(error = %e, session = %id, "could not drop a cached session");
        }
    }
}

/// Sessions of `user` (in `workspace` when given) that are still open.
pub async fn open_sessions(
    state: &AppState,
    user: Uuid,
    workspace: Option<Uuid>,
) -> Result<Vec<Uuid>, AppError> {
    Ok(sqlx::query_scalar(
        "select id from smartflow_shared.sessions where user_id = $1 and revoked_at is null \
         and ($2::uuid is null or workspace_id = $2)",
    )
    .bind(user)
    .bind(workspace)
    .fetch_all(&state.db)
    .await?)
}

/// Revokes every open session of a user (password reset, account disabled).
pub async fn revoke_all(state: &AppState, user: Uuid, reason: &str) -> Result<(), AppError> {
    let ids = open_sessions(state, user, None).await?;
    sqlx::query(
        "update smartflow_shared.sessions set revoked_at = now(), revoked_reason = $2 \
         where user_id = $1 and revoked_at is null",
    )
    .bind(user)
    .bind(reason)
    .execute(&state.db)
    .await?;
    mark_revoked(state, &ids).await;
    Ok(())
}

pub enum Refreshed {
    Ok {
        access_token: String,
        refresh_token: String,
        session: SessionRecord,
    },
    /// A refresh token was presented twice: the whole session was revoked.
    Reused {
        session: Uuid,
        user: Uuid,
        workspace: Uuid,
    },
}

/// Rotates a refresh token. Each token is single-use; presenting a used one again means it
/// leaked, so the session (the token family) is revoked.
pub async fn refresh(state: &AppState, token: &str) -> Result<Refreshed, AppError> {
    let mut tx = state.db.begin().await?;
    #[derive(sqlx::FromRow)]
    struct RefreshRow {
        id: Uuid,
        session_id: Uuid,
        used_at: Option<DateTime<Utc>>,
        expires_at: DateTime<Utc>,
    }
    let row: Option<RefreshRow> = sqlx::query_as(
        "select id, session_id, used_at, expires_at from smartflow_shared.refresh_tokens \
         where token_hash = $1 for update",
    )
    .bind(sha256_hex(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(RefreshRow { id: token_id, session_id, used_at, expires_at }) = row else {
        return Err(unauthorized("Unknown refresh token; sign in again."));
    };
    if used_at.is_some() {
        let (user, workspace): (Uuid, Uuid) = sqlx::query_as(
            "select user_id, workspace_id from smartflow_shared.sessions where id = $1",
        )
        .bind(session_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        revoke(state, session_id, "refresh token reused").await?;
        return Ok(Refreshed::Reused { session: session_id, user, workspace });
    }
    if expires_at <= Utc::now() {
        return Err(unauthorized("The refresh token has expired; sign in again."));
    }
    sqlx::query("update smartflow_shared.refresh_tokens set used_at = now() where id = $1")
        .bind(token_id)
        .execute(&mut *tx)
        .await?;
    let session = match load(state, session_id).await? {
        Some(s) => s,
        None => return Err(unauthorized("This session has ended; sign in again.")),
    };
    let refresh_token = new_refresh_token(&mut tx, session_id, session.expires_at).await?;
    tx.commit().await?;
    let access_token = tokens::issue(
        &state.settings.auth,
        session.user_id,
        session.workspace_id,
        session.role,
        session_id,
    )?;
    Ok(Refreshed::Ok { access_token, refresh_token, session })
}

/// The `sf_session` cookie: HttpOnly, SameSite=Lax, Secure when the site is served over HTTPS.
pub fn cookie(state: &AppState, value: &str, expires_at: DateTime<Utc>) -> Cookie<'static> {
    let max_age = (expires_at - Utc::now()).num_seconds().max(0);
    Cookie::build(SESSION_COOKIE, value.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.app.base_url.starts_with("https://"))
        .max_age(CookieDuration::seconds(max_age))
        .finish()
}

pub fn clear_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = cookie(state, "", Utc::now());
    c.make_removal();
    c
}
