//! Linked social accounts: the OAuth 2.0 flows (authorization code + PKCE + `state`) and token
//! linking for Bluesky and Mastodon, tokens encrypted at rest and refreshed ahead of expiry,
//! re-authorisation flags, and the recurring time slots each account's queue publishes in.

pub mod candidates;
pub mod expiry;
pub mod link;
pub mod oauth;
pub mod pending;
pub mod refresh;
pub mod routes;
pub mod slots;
pub mod tokens;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::AppError;

/// An account's columns, never its tokens.
pub const COLUMNS: &str = "id, workspace_id, created_by, platform, remote_id, username, \
    display_name, profile_url, instance_url, status, token_expires_at, refresh_expires_at, \
    (refresh_token_enc is not null) as can_refresh, scopes, last_error, last_error_code, \
    last_error_at, needs_reauth_since, last_refreshed_at, last_published_at, metrics_note, \
    metrics_note_at, max_characters, created_at, updated_at";

/// A linked account as the API shows it: who it is and whether it works, never its tokens.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Account {
    pub id: Uuid,
    #[serde(skip)]
    pub workspace_id: Uuid,
    /// Who linked it (the one e-mailed when it needs re-authorisation).
    pub created_by: Option<Uuid>,
    /// `x`, `facebook`, `instagram`, `linkedin`, `bluesky` or `mastodon`.
    pub platform: String,
    /// The platform's id: X user id, Page id, Instagram user id, LinkedIn URN, DID, Mastodon id.
    pub remote_id: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub profile_url: Option<String>,
    /// Mastodon instance or Bluesky PDS.
    pub instance_url: Option<String>,
    /// `active`, `needs_reauth` (reconnect it) or `disconnected`.
    pub status: String,
    /// When the access token expires; `null` when it does not.
    pub token_expires_at: Option<DateTime<Utc>>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// Whether SmartFlow holds a refresh token (refreshes ahead of expiry without you).
    pub can_refresh: bool,
    pub scopes: Vec<String>,
    /// The last problem with this account (refresh or publishing), for people.
    pub last_error: Option<String>,
    pub last_error_code: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub needs_reauth_since: Option<DateTime<Utc>>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub last_published_at: Option<DateTime<Utc>>,
    /// Figures the platform does not let SmartFlow read for this account (e.g. LinkedIn
    /// members' post statistics); publishing is not affected. `null` when all could be read.
    pub metrics_note: Option<String>,
    pub metrics_note_at: Option<DateTime<Utc>>,
    /// The longest post the account's server accepts, when it says (Mastodon instances).
    pub max_characters: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The workspace's account `id` (404 for another workspace's).
pub async fn find<'e>(
    db: impl PgExecutor<'e>,
    workspace: Uuid,
    id: Uuid,
) -> Result<Account, AppError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from smartflow_social.accounts where id = $1 and workspace_id = $2"
    )))
    .bind(id)
    .bind(workspace)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| AppError::not_found("Social account"))
}

/// Accounts of the workspace, oldest first; disconnected ones only when asked.
pub async fn list<'e>(
    db: impl PgExecutor<'e>,
    workspace: Uuid,
    include_disconnected: bool,
) -> Result<Vec<Account>, AppError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from smartflow_social.accounts where workspace_id = $1 \
         and ($2 or status <> 'disconnected') order by created_at, id"
    )))
    .bind(workspace)
    .bind(include_disconnected)
    .fetch_all(db)
    .await?)
}

/// How many accounts count against the plan (linked and not disconnected).
pub async fn count_linked<'e>(db: impl PgExecutor<'e>, workspace: Uuid) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar(
        "select count(*) from smartflow_social.accounts where workspace_id = $1 and status <> 'disconnected'",
    )
    .bind(workspace)
    .fetch_one(db)
    .await?)
}
