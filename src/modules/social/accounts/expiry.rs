//! Warnings ahead of an expiry SmartFlow cannot avoid: tokens without a refresh token
//! (LinkedIn's 60-day member tokens) and refresh tokens that themselves expire. The owner gets
//! an `account.expiring` event and an e-mail once per expiry date, days before posts start
//! failing, instead of a re-authorisation flag after the fact.

use askama::Template;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::link::owner_email;
use crate::{
    modules::social::platforms::Platform,
    platform::{
        events::{Actor, Event, record_event},
        mail::{self, OutgoingEmail},
    },
    state::AppState,
};

/// When SmartFlow loses the account unless its owner reconnects it, as SQL over
/// `smartflow_social.accounts`: the refresh token's expiry, or the access token's when it
/// cannot be refreshed (Meta renews a valid long-lived token itself, so it has none).
pub const HARD_EXPIRY_SQL: &str = "case when refresh_token_enc is not null then refresh_expires_at \
     when platform in ('facebook', 'instagram') then null else token_expires_at end";

/// [`HARD_EXPIRY_SQL`] for an account already loaded.
pub fn access_ends_at(account: &super::Account) -> Option<DateTime<Utc>> {
    if account.can_refresh {
        account.refresh_expires_at
    } else if matches!(account.platform.as_str(), "facebook" | "instagram") {
        None
    } else {
        account.token_expires_at
    }
}

#[derive(Template)]
#[template(path = "email/social_expiring.txt")]
struct ExpiringEmail<'a> {
    site: &'a str,
    platform: &'a str,
    account: &'a str,
    expires: &'a str,
    scheduled: i64,
    link: &'a str,
}

type Expiring = (Uuid, Uuid, Option<Uuid>, String, Option<String>, String, DateTime<Utc>);

/// Warns the owners of accounts whose access ends within `social.expiry_warning_days`, once
/// per expiry date (reconnecting gives a new date, and so a new warning next time).
pub async fn warn_expiring(conn: &mut PgConnection, state: &AppState) -> anyhow::Result<usize> {
    let days = f64::from(state.settings.social.expiry_warning_days);
    // Claimed in the same statement, so overlapping sweeps never warn twice.
    let due: Vec<Expiring> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update smartflow_social.accounts a set expiry_warned_for = e.expires \
         from (select id, {HARD_EXPIRY_SQL} as expires from smartflow_social.accounts \
               where status = 'active') e \
         where a.id = e.id and e.expires > now() \
           and e.expires <= now() + make_interval(secs => $1 * 86400) \
           and a.expiry_warned_for is distinct from e.expires \
         returning a.id, a.workspace_id, a.created_by, a.platform, a.username, a.remote_id, \
                   e.expires"
    )))
    .bind(days)
    .fetch_all(&mut *conn)
    .await?;
    for (id, workspace, owner, platform, username, remote_id, expires) in &due {
        let scheduled: i64 = sqlx::query_scalar(
            "select count(*) from smartflow_social.post_targets where account_id = $1 \
             and state = 'scheduled' and due_at >= $2",
        )
        .bind(id)
        .bind(expires)
        .fetch_one(&mut *conn)
        .await?;
        tracing::info!(account = %id, %platform, %expires, scheduled, "social account access expires soon");
        record_event(
            &mut *conn,
            &Actor::system("social"),
            Event::new(
                "account.expiring",
                "social_account",
                *id,
                json!({ "platform": platform, "username": username, "expires_at": expires,
                        "scheduled_after_expiry": scheduled }),
            )
            .workspace(*workspace),
        )
        .await?;
        let Some(to) = owner_email(conn, *workspace, *owner).await? else { continue };
        let name = platform.parse::<Platform>().map(Platform::name).unwrap_or("social");
        let label = username.clone().unwrap_or_else(|| remote_id.clone());
        let link = format!("{}/app/social", state.settings.app.base_url.trim_end_matches('/'));
        let when = expires.format("%Y-%m-%d %H:%M").to_string();
        let body = ExpiringEmail {
            site: &state.settings.app.name,
            platform: name,
            account: &label,
            expires: &when,
            scheduled,
            link: &link,
        }
        .render()?;
        let subject =
            format!("Reconnect your {name} account before {}", expires.format("%Y-%m-%d"));
        mail::enqueue(&mut *conn, state, OutgoingEmail::text(&to, &subject, body))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(due.len())
}
