//! Storing a linked account (new or reconnected) and flagging one that needs re-authorisation.

use askama::Template;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Account, COLUMNS, count_linked, tokens::seal_tokens};
use crate::{
    error::AppError,
    modules::social::platforms::{Platform, PlatformError, RemoteAccount, TokenSet},
    platform::{
        auth::{Permission, Principal},
        events::{Actor, Event, record_event},
        mail::{self, OutgoingEmail},
        plans::{self, Limit},
    },
    state::AppState,
};

/// An account the platform vouched for, with its tokens.
pub struct NewLink {
    pub platform: Platform,
    pub remote: RemoteAccount,
    pub instance_url: Option<String>,
    pub tokens: TokenSet,
}

/// Links `new` to the caller's workspace, or refreshes the tokens of the same account linked
/// before (reconnecting clears its re-authorisation flag). Plan limits apply to new accounts.
pub async fn link(
    conn: &mut PgConnection,
    state: &AppState,
    who: &Principal,
    new: NewLink,
) -> Result<Account, AppError> {
    who.require(Permission::Write)?;
    let existing: Option<Uuid> = sqlx::query_scalar(
        "select id from smartflow_social.accounts where workspace_id = $1 and platform = $2 \
         and remote_id = $3 and status <> 'disconnected' for update",
    )
    .bind(who.workspace_id)
    .bind(new.platform.as_str())
    .bind(&new.remote.id)
    .fetch_optional(&mut *conn)
    .await?;
    let (id, kind) = match existing {
        Some(id) => (id, "account.reconnected"),
        None => {
            let in_use = count_linked(&mut *conn, who.workspace_id).await?;
            plans::ensure(state, who.workspace_id, Limit::SocialAccounts, in_use).await?;
            (Uuid::new_v4(), "account.linked")
        }
    };
    let sealed = seal_tokens(&state.cipher, id, &new.tokens, None).map_err(AppError::internal)?;
    let scopes = new.tokens.scopes.clone().unwrap_or_default();
    let account: Account = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into smartflow_social.accounts (id, workspace_id, created_by, platform, remote_id, \
         username, display_name, profile_url, instance_url, access_token_enc, refresh_token_enc, \
         token_expires_at, refresh_expires_at, token_issued_at, scopes) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, now(), $14) \
         on conflict (id) do update set username = excluded.username, \
         display_name = excluded.display_name, profile_url = excluded.profile_url, \
         instance_url = excluded.instance_url, access_token_enc = excluded.access_token_enc, \
         refresh_token_enc = coalesce(excluded.refresh_token_enc, accounts.refresh_token_enc), \
         token_expires_at = excluded.token_expires_at, \
         refresh_expires_at = excluded.refresh_expires_at, token_issued_at = now(), \
         token_version = accounts.token_version + 1, scopes = excluded.scopes, status = 'active', \
         needs_reauth_since = null, last_error = null, last_error_code = null, \
         last_error_at = null, updated_at = now() \
         returning {COLUMNS}"
    )))
    .bind(id)
    .bind(who.workspace_id)
    .bind(who.user_id)
    .bind(new.platform.as_str())
    .bind(&new.remote.id)
    .bind(&new.remote.username)
    .bind(&new.remote.display_name)
    .bind(&new.remote.url)
    .bind(&new.instance_url)
    .bind(&sealed.access)
    .bind(&sealed.refresh)
    .bind(new.tokens.expires_at)
    .bind(new.tokens.refresh_expires_at)
    .bind(&scopes)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => AppError::Conflict(
            "This account is being linked by another request; reload the account list.".into(),
        ),
        _ => AppError::from(e),
    })?;
    record_event(
        &mut *conn,
        &who.actor(),
        Event::new(
            kind,
            "social_account",
            account.id,
            json!({ "platform": account.platform, "remote_id": account.remote_id,
                    "username": account.username }),
        ),
    )
    .await?;
    Ok(account)
}

#[derive(Template)]
#[template(path = "email/social_reauth.txt")]
struct ReauthEmail<'a> {
    site: &'a str,
    platform: &'a str,
    account: &'a str,
    reason: &'a str,
    link: &'a str,
}

/// Whom to tell about an account: the member who linked it, else an admin of the workspace.
pub async fn owner_email(
    conn: &mut PgConnection,
    workspace: Uuid,
    owner: Option<Uuid>,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select u.email from smartflow_main.users u \
         join smartflow_shared.memberships m on m.user_id = u.id \
         where m.workspace_id = $1 and u.disabled_at is null \
         order by (u.id = $2) is true desc, (m.role = 'admin') desc, m.created_at limit 1",
    )
    .bind(workspace)
    .bind(owner)
    .fetch_optional(conn)
    .await
}

/// (workspace, owner, platform, username, remote id) of an account just flagged.
type Flagged = (Uuid, Option<Uuid>, String, Option<String>, String);

/// Flags the account for re-authorisation; the first time, e-mails its owner and emits
/// `account.needs_reauth`. Publishing to it stops failing silently: targets fail with a hint.
pub async fn mark_needs_reauth(
    conn: &mut PgConnection,
    state: &AppState,
    id: Uuid,
    error: &PlatformError,
) -> anyhow::Result<()> {
    let flagged: Option<Flagged> = sqlx::query_as(
        "update smartflow_social.accounts set status = 'needs_reauth', needs_reauth_since = now(), \
         last_error = $2, last_error_code = $3, last_error_at = now(), updated_at = now() \
         where id = $1 and status = 'active' \
         returning workspace_id, created_by, platform, username, remote_id",
    )
    .bind(id)
    .bind(error.hint())
    .bind(error.info().remote_code.as_deref().unwrap_or(error.code()))
    .fetch_optional(&mut *conn)
    .await?;
    let Some((workspace, owner, platform, username, remote_id)) = flagged else {
        return Ok(());
    };
    tracing::warn!(account = %id, %platform, error = %error, "social account needs re-authorisation");
    record_event(
        &mut *conn,
        &Actor::system("social"),
        Event::new(
            "account.needs_reauth",
            "social_account",
            id,
            json!({ "platform": platform, "username": username, "reason": error.code(),
                    "hint": error.hint() }),
        )
        .workspace(workspace),
    )
    .await?;
    let Some(to) = owner_email(conn, workspace, owner).await? else { return Ok(()) };
    let name = platform.parse::<Platform>().map(Platform::name).unwrap_or("social");
    let label = username.unwrap_or(remote_id);
    let link = format!("{}/app/social", state.settings.app.base_url.trim_end_matches('/'));
    let body = ReauthEmail {
        site: &state.settings.app.name,
        platform: name,
        account: &label,
        reason: error.hint(),
        link: &link,
    }
    .render()?;
    let subject = format!("Reconnect your {name} account to keep posts going out");
    mail::enqueue(&mut *conn, state, OutgoingEmail::text(&to, &subject, body))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
