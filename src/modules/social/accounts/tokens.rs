//! Tokens at rest (AES-256-GCM, bound to the account row) and the one place that refreshes
//! them. A refresh locks the account row, so concurrent callers (the refresh job, a publish
//! that got a 401) refresh once: whoever comes second sees the new `token_version` and uses
//! the token the first one stored. Rotated refresh tokens are therefore never spent twice.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgConnection;
use uuid::Uuid;

use super::link::mark_needs_reauth;
use crate::{
    modules::social::{
        Social,
        platforms::{AccountContext, Platform, PlatformError, TokenSet},
    },
    platform::crypto::Cipher,
    state::AppState,
};

fn context(account: Uuid, kind: &str) -> String {
    format!("social_account:{account}:{kind}")
}

pub fn seal(cipher: &Cipher, account: Uuid, kind: &str, value: &str) -> anyhow::Result<String> {
    Ok(cipher.encrypt(value, &context(account, kind))?)
}

fn open(cipher: &Cipher, account: Uuid, kind: &str, stored: &str) -> anyhow::Result<SecretString> {
    Ok(SecretString::from(cipher.decrypt(stored, &context(account, kind))?))
}

/// Encrypted columns for `tokens`, keeping `stored_refresh` when no new refresh token came.
pub struct SealedTokens {
    pub access: String,
    pub refresh: Option<String>,
}

pub fn seal_tokens(
    cipher: &Cipher,
    account: Uuid,
    tokens: &TokenSet,
    stored_refresh: Option<SecretString>,
) -> anyhow::Result<SealedTokens> {
    let access = seal(cipher, account, "access", tokens.access_token())?;
    let refresh = match tokens.refresh_token.clone().merge(stored_refresh) {
        Some(r) => Some(seal(cipher, account, "refresh", r.expose_secret())?),
        None => None,
    };
    Ok(SealedTokens { access, refresh })
}

/// What a job needs to act as an account.
#[derive(Clone)]
pub struct Credentials {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub platform: Platform,
    pub remote_id: String,
    pub username: Option<String>,
    pub instance_url: Option<String>,
    pub status: String,
    pub access: SecretString,
    pub refresh: Option<SecretString>,
    pub expires_at: Option<DateTime<Utc>>,
    pub version: i32,
    /// The instance's post length (Mastodon), read when the account was linked.
    pub max_characters: Option<i32>,
}

impl Credentials {
    pub fn context(&self) -> AccountContext {
        let mut ctx = AccountContext::new(self.access.expose_secret(), self.remote_id.clone());
        if let Some(url) = &self.instance_url {
            ctx = ctx.with_instance_url(url.clone());
        }
        if let Some(handle) = &self.username {
            ctx = ctx.with_handle(handle.clone());
        }
        if let Some(max) = self.max_characters.and_then(|m| usize::try_from(m).ok()) {
            ctx = ctx.with_max_characters(max);
        }
        ctx
    }

    pub fn expires_within(&self, secs: u64) -> bool {
        self.expires_at.is_some_and(|at| at <= Utc::now() + chrono::Duration::seconds(secs as i64))
    }

    /// What the platform's refresh takes: the refresh token, or for Meta the long-lived token
    /// itself (Meta issues no refresh tokens; a valid long-lived token buys a new one).
    fn refresh_input(&self) -> Option<SecretString> {
        match (&self.refresh, self.platform) {
            (Some(r), _) => Some(r.clone()),
            (None, Platform::Facebook | Platform::Instagram) if self.expires_at.is_some() => {
                Some(self.access.clone())
            }
            _ => None,
        }
    }
}

type Row = (
    Uuid,
    Uuid,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
    i32,
    Option<i32>,
);

const SELECT: &str = "select id, workspace_id, platform, remote_id, username, instance_url, status, \
     access_token_enc, refresh_token_enc, token_expires_at, token_version, max_characters \
     from smartflow_social.accounts where id = $1";

fn decode(cipher: &Cipher, row: Row) -> anyhow::Result<Credentials> {
    let (
        id,
        workspace_id,
        platform,
        remote_id,
        username,
        instance_url,
        status,
        access,
        refresh,
        expires_at,
        version,
        max_characters,
    ) = row;
    let access = access
        .ok_or_else(|| anyhow::anyhow!("account {id} holds no access token (disconnected)"))?;
    Ok(Credentials {
        id,
        workspace_id,
        platform: platform.parse()?,
        remote_id,
        username,
        instance_url,
        status,
        access: open(cipher, id, "access", &access)?,
        refresh: refresh.map(|r| open(cipher, id, "refresh", &r)).transpose()?,
        expires_at,
        version,
        max_characters,
    })
}

pub async fn load(
    conn: &mut PgConnection,
    cipher: &Cipher,
    id: Uuid,
) -> anyhow::Result<Credentials> {
    let row: Row = sqlx::query_as(SELECT).bind(id).fetch_one(&mut *conn).await?;
    decode(cipher, row)
}

pub enum Refresh {
    /// New tokens stored (by this call or, meanwhile, by another).
    Done(Credentials),
    /// The platform's tokens cannot be refreshed (no refresh token, or none needed).
    NotRefreshable(Credentials),
    /// The platform refused: the account is flagged for re-authorisation (owner e-mailed).
    NeedsReauth(PlatformError),
    /// The token endpoint failed temporarily (5xx, 429, timeout): try again later.
    Temporary(PlatformError),
}

/// Refreshes the account's tokens unless someone else did since `seen_version`.
pub async fn refresh(
    state: &AppState,
    id: Uuid,
    seen_version: Option<i32>,
) -> anyhow::Result<Refresh> {
    let social = state.ext::<Social>().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut tx = state.db.begin().await?;
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} for update")))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let creds = decode(&state.cipher, row)?;
    if creds.status != "active" {
        tx.commit().await?;
        let e = PlatformError::new(
            creds.platform,
            crate::modules::social::platforms::error::ErrorClass::Auth { refreshable: false },
            "the account needs to be reconnected",
        );
        return Ok(Refresh::NeedsReauth(e));
    }
    if seen_version.is_some_and(|v| v != creds.version) {
        tx.commit().await?;
        return Ok(Refresh::Done(creds));
    }
    let Some(input) = creds.refresh_input() else {
        tx.commit().await?;
        return Ok(Refresh::NotRefreshable(creds));
    };
    let adapter = social.registry.get(creds.platform);
    match adapter.refresh(&creds.context(), input.expose_secret()).await {
        Ok(tokens) => {
            let sealed = seal_tokens(&state.cipher, id, &tokens, creds.refresh.clone())?;
            sqlx::query(
                "update smartflow_social.accounts set access_token_enc = $2, refresh_token_enc = $3, \
                 token_expires_at = $4, refresh_expires_at = coalesce($5, refresh_expires_at), \
                 token_issued_at = now(), token_version = token_version + 1, \
                 last_refreshed_at = now(), updated_at = now() where id = $1",
            )
            .bind(id)
            .bind(&sealed.access)
            .bind(&sealed.refresh)
            .bind(tokens.expires_at)
            .bind(tokens.refresh_expires_at)
            .execute(&mut *tx)
            .await?;
            let fresh = load(&mut tx, &state.cipher, id).await?;
            tx.commit().await?;
            tracing::info!(account = %id, platform = %creds.platform, "social tokens refreshed");
            Ok(Refresh::Done(fresh))
        }
        Err(e @ (PlatformError::Auth { .. } | PlatformError::Validation { .. })) => {
            // invalid_grant and friends: the grant is gone; only the person can fix it.
            mark_needs_reauth(&mut tx, state, id, &e).await?;
            tx.commit().await?;
            Ok(Refresh::NeedsReauth(e))
        }
        Err(e) => {
            record_error(&mut tx, id, &e).await?;
            tx.commit().await?;
            tracing::warn!(account = %id, error = %e, "token refresh failed temporarily");
            Ok(Refresh::Temporary(e))
        }
    }
}

/// Notes a problem on the account without changing its status.
pub async fn record_error(
    conn: &mut PgConnection,
    id: Uuid,
    e: &PlatformError,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update smartflow_social.accounts set last_error = $2, last_error_code = $3, \
         last_error_at = now(), updated_at = now() where id = $1",
    )
    .bind(id)
    .bind(e.hint())
    .bind(e.code())
    .execute(conn)
    .await?;
    Ok(())
}
