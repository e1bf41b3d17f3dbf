//! Metric collection on a schedule: a cron job enqueues one job per active account (unique per
//! account); each reads the follower count and the counters of the account's recent posts.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    modules::social::{
        Social,
        accounts::{
            link::mark_needs_reauth,
            tokens::{self, Credentials, Refresh},
        },
        platforms::PlatformError,
    },
    platform::jobs::{self, Job, JobContext, JobError, JobResult, NewJob, Outcome},
    state::AppState,
};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CollectMetrics {}

#[async_trait]
impl Job for CollectMetrics {
    const KIND: &'static str = "social.collect_metrics";
    const QUEUE: &'static str = "social";
    const MAX_ATTEMPTS: i32 = 3;
    const PRIORITY: i16 = 3;

    async fn run(self, ctx: JobContext) -> JobResult {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "select id from smartflow_social.accounts where status = 'active' order by id",
        )
        .fetch_all(&ctx.state.db)
        .await?;
        let batch: Vec<NewJob> = ids
            .iter()
            .map(|id| NewJob::of(&CollectAccountMetrics { account_id: *id }))
            .collect::<Result<_, _>>()?;
        let mut tx = ctx.state.db.begin().await?;
        for chunk in batch.chunks(500) {
            jobs::insert_many(&mut tx, chunk).await?;
        }
        tx.commit().await?;
        Ok(Outcome::Done)
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CollectAccountMetrics {
    pub account_id: Uuid,
}

#[async_trait]
impl Job for CollectAccountMetrics {
    const KIND: &'static str = "social.collect_account_metrics";
    const QUEUE: &'static str = "social";
    const MAX_ATTEMPTS: i32 = 5;
    const PRIORITY: i16 = 3;

    fn unique_key(&self) -> Option<String> {
        Some(format!("social.metrics:{}", self.account_id))
    }

    async fn run(self, ctx: JobContext) -> JobResult {
        let state = &ctx.state;
        let mut conn = state.db.acquire().await?;
        let Ok(mut creds) = tokens::load(&mut conn, &state.cipher, self.account_id).await else {
            return Ok(Outcome::Cancel("the account holds no tokens".into()));
        };
        drop(conn);
        if creds.status != "active" {
            return Ok(Outcome::Cancel("the account is not active".into()));
        }
        let mut refreshed = false;
        loop {
            match collect(state, &creds).await {
                Ok(collected) => {
                    note(state, self.account_id, collected.note.as_deref()).await?;
                    tracing::debug!(account = %self.account_id, posts = collected.stored, "social metrics collected");
                    return Ok(Outcome::Done);
                }
                Err(e @ PlatformError::Auth { refreshable: true, .. }) if !refreshed => {
                    refreshed = true;
                    match tokens::refresh(state, creds.id, Some(creds.version)).await? {
                        Refresh::Done(c) if c.version != creds.version => creds = c,
                        Refresh::Temporary(t) => return Err(retry(&t)),
                        _ => return flag(state, self.account_id, &e).await,
                    }
                }
                Err(e @ PlatformError::Auth { .. }) => {
                    return flag(state, self.account_id, &e).await;
                }
                Err(e @ PlatformError::Config { .. }) => return Ok(Outcome::Cancel(e.to_string())),
                Err(e) => return Err(retry(&e)),
            }
        }
    }
}

fn retry(e: &PlatformError) -> JobError {
    JobError::retry_after(
        anyhow::anyhow!("{e}"),
        e.retry_after().unwrap_or(Duration::from_secs(300)),
    )
}

/// Remembers what the platform would not let SmartFlow read (or clears it once it could).
async fn note(state: &AppState, account: Uuid, note: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query(
        // Only a change is written, so `metrics_note_at` says since when the note holds.
        "update smartflow_social.accounts set metrics_note = $2, \
         metrics_note_at = case when $2::text is null then null else now() end \
         where id = $1 and metrics_note is distinct from $2",
    )
    .bind(account)
    .bind(note)
    .execute(&state.db)
    .await?;
    Ok(())
}

/// A read the token is not permitted (LinkedIn members without `r_member_social`, a Page
/// without `read_insights`): the figure is skipped and the reason kept; the account works.
fn unreadable<T>(
    result: Result<T, PlatformError>,
    what: &str,
    notes: &mut Vec<String>,
) -> Result<Option<T>, PlatformError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(PlatformError::Permission { message, info }) => {
            tracing::info!(platform = %info.platform, %message, "metrics not readable; skipped");
            notes.push(format!(
                "{} does not let SmartFlow read {what} for this account ({message}); publishing \
                 is not affected.",
                info.platform.name()
            ));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

async fn flag(state: &AppState, account: Uuid, e: &PlatformError) -> JobResult {
    let mut tx = state.db.begin().await?;
    mark_needs_reauth(&mut tx, state, account, e).await?;
    tx.commit().await?;
    Ok(Outcome::Done)
}

struct Collected {
    /// Posts whose counters were stored.
    stored: usize,
    /// Why some figures could not be read, for people.
    note: Option<String>,
}

/// Reads and stores the account's follower count and its recent posts' counters.
async fn collect(state: &AppState, creds: &Credentials) -> Result<Collected, PlatformError> {
    let internal =
        |e: sqlx::Error| PlatformError::transient(creds.platform, format!("database: {e}"));
    let social =
        state.ext::<Social>().map_err(|e| PlatformError::config(creds.platform, e.to_string()))?;
    let adapter = social.registry.get(creds.platform);
    let ctx = creds.context();
    let mut notes = Vec::new();
    if let Some(account) =
        unreadable(adapter.account_metrics(&ctx).await, "follower counts", &mut notes)?
    {
        sqlx::query(
        "insert into smartflow_social.account_metrics (account_id, workspace_id, followers, following, posts) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(creds.id)
    .bind(creds.workspace_id)
    .bind(account.followers)
    .bind(account.following)
    .bind(account.posts)
    .execute(&state.db)
    .await
    .map_err(internal)?;
    }
    let days = f64::from(state.settings.social.analytics.post_lookback_days);
    let targets: Vec<(Uuid, String)> = sqlx::query_as(
        "select id, remote_id from smartflow_social.post_targets where account_id = $1 \
         and state = 'confirmed' and remote_id is not null \
         and confirmed_at > now() - make_interval(secs => $2 * 86400) order by confirmed_at desc limit 1000",
    )
    .bind(creds.id)
    .bind(days)
    .fetch_all(&state.db)
    .await
    .map_err(internal)?;
    let note = (!notes.is_empty()).then(|| notes.join(" "));
    if targets.is_empty() {
        return Ok(Collected { stored: 0, note });
    }
    let remote_ids: Vec<String> = targets.iter().map(|t| t.1.clone()).collect();
    let metrics =
        unreadable(adapter.post_metrics(&ctx, &remote_ids).await, "posts' counters", &mut notes)?
            .unwrap_or_default();
    let note = (!notes.is_empty()).then(|| notes.join(" "));
    let mut stored = 0;
    for m in &metrics {
        let Some((target, _)) = targets.iter().find(|t| t.1 == m.remote_id) else { continue };
        sqlx::query(
            "insert into smartflow_social.post_metrics (target_id, workspace_id, account_id, platform, \
             impressions, likes, reposts, replies, clicks, source, collected_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'platform', now()) \
             on conflict (target_id) do update set \
             impressions = coalesce(excluded.impressions, post_metrics.impressions), \
             likes = coalesce(excluded.likes, post_metrics.likes), \
             reposts = coalesce(excluded.reposts, post_metrics.reposts), \
             replies = coalesce(excluded.replies, post_metrics.replies), \
             clicks = coalesce(excluded.clicks, post_metrics.clicks), \
             source = 'platform', collected_at = now()",
        )
        .bind(target)
        .bind(creds.workspace_id)
        .bind(creds.id)
        .bind(creds.platform.as_str())
        .bind(m.impressions)
        .bind(m.likes)
        .bind(m.reposts)
        .bind(m.replies)
        .bind(m.clicks)
        .execute(&state.db)
        .await
        .map_err(internal)?;
        stored += 1;
    }
    Ok(Collected { stored, note })
}
