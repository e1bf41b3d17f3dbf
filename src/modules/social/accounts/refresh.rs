//! Refreshing tokens ahead of expiry: a cron job picks the accounts whose access token expires
//! soon and enqueues one refresh job per account (unique per account); owners of accounts
//! whose access will end without a way to renew it are warned days ahead (`expiry`), and
//! accounts whose token expired regardless are flagged for re-authorisation.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    link::mark_needs_reauth,
    tokens::{self, Refresh},
};
use crate::{
    modules::social::platforms::{Platform, PlatformError, error::ErrorClass},
    platform::jobs::{self, Job, JobContext, JobError, JobResult, NewJob, Outcome},
};

/// Cron: finds accounts to refresh.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RefreshTokens {}

#[async_trait]
impl Job for RefreshTokens {
    const KIND: &'static str = "social.refresh_tokens";
    const QUEUE: &'static str = "social";
    const MAX_ATTEMPTS: i32 = 3;

    async fn run(self, ctx: JobContext) -> JobResult {
        let state = &ctx.state;
        let ahead = state.settings.social.refresh_ahead_secs as f64;
        // Due when the token expires within `refresh_ahead_secs` or a quarter of its lifetime,
        // whichever is shorter: a 2-hour X token is refreshed in its last 30 minutes, a
        // 60-day one a day ahead.
        let due: Vec<Uuid> = sqlx::query_scalar(
            "select id from smartflow_social.accounts where status = 'active' \
             and token_expires_at is not null \
             and (refresh_token_enc is not null or platform in ('facebook', 'instagram')) \
             and token_expires_at - now() <= least(make_interval(secs => $1), \
                 (token_expires_at - coalesce(token_issued_at, created_at)) / 4) \
             order by token_expires_at limit 1000",
        )
        .bind(ahead)
        .fetch_all(&state.db)
        .await?;
        let mut tx = state.db.begin().await?;
        let batch: Vec<NewJob> = due
            .iter()
            .map(|id| NewJob::of(&RefreshAccount { account_id: *id }))
            .collect::<Result<_, _>>()?;
        let queued = jobs::insert_many(&mut tx, &batch).await?;
        // Expired and not refreshable: only the person can fix it; say so once.
        let expired: Vec<(Uuid, String)> = sqlx::query_as(
            "select id, platform from smartflow_social.accounts where status = 'active' \
             and token_expires_at < now() and refresh_token_enc is null \
             and platform not in ('facebook', 'instagram') limit 1000",
        )
        .fetch_all(&mut *tx)
        .await?;
        for (id, platform) in &expired {
            let platform: Platform = platform.parse()?;
            let e = PlatformError::new(
                platform,
                ErrorClass::Auth { refreshable: false },
                "the access token expired and the platform issued no refresh token",
            );
            mark_needs_reauth(&mut tx, state, *id, &e).await?;
        }
        tx.commit().await?;
        // Its own transaction: a warning that cannot be written must not undo the refreshes.
        let mut tx = state.db.begin().await?;
        let warned = super::expiry::warn_expiring(&mut tx, state).await?;
        tx.commit().await?;
        if queued > 0 || !expired.is_empty() || warned > 0 {
            tracing::info!(queued, expired = expired.len(), warned, "social token refresh sweep");
        }
        Ok(Outcome::Done)
    }
}

/// Refreshes one account's tokens.
#[derive(Debug, Serialize, Deserialize)]
pub struct RefreshAccount {
    pub account_id: Uuid,
}

#[async_trait]
impl Job for RefreshAccount {
    const KIND: &'static str = "social.refresh_account";
    const QUEUE: &'static str = "social";
    const MAX_ATTEMPTS: i32 = 6;

    fn unique_key(&self) -> Option<String> {
        Some(format!("social.refresh:{}", self.account_id))
    }

    async fn run(self, ctx: JobContext) -> JobResult {
        let state = &ctx.state;
        let mut conn = state.db.acquire().await?;
        let creds = match tokens::load(&mut conn, &state.cipher, self.account_id).await {
            Ok(c) => c,
            Err(e) => return Ok(Outcome::Cancel(format!("account not refreshable: {e}"))),
        };
        drop(conn);
        if creds.status != "active" {
            return Ok(Outcome::Cancel("the account is not active".into()));
        }
        match tokens::refresh(state, self.account_id, Some(creds.version)).await? {
            Refresh::Done(_) | Refresh::NotRefreshable(_) | Refresh::NeedsReauth(_) => {
                Ok(Outcome::Done)
            }
            // 5xx or 429 from the token endpoint: temporary, never a reason to flag the account.
            Refresh::Temporary(e) => {
                let wait = e.retry_after().unwrap_or_else(|| {
                    std::time::Duration::from_secs(60 * u64::from(ctx.attempt.max(1) as u32))
                });
                Err(JobError::retry_after(anyhow::anyhow!("{e}"), wait))
            }
        }
    }
}
