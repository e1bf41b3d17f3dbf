//! Metrics reported from elsewhere (a platform export, a link tracker's clicks): stored beside
//! the collected ones. A figure the platform reports itself is refreshed by the next
//! collection; figures it does not offer (clicks, often) are kept as reported.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AnalyticsRequest;
use crate::{
    error::{AppError, Validator},
    modules::social::platforms::Platform,
    platform::{
        auth::Principal,
        events::{Event, record_event},
    },
    state::AppState,
};

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ReportedPostMetrics {
    /// The published post.
    pub post_id: Uuid,
    /// Which of its targets; needed when it went to several platforms.
    pub platform: Option<String>,
    /// Or the target itself.
    pub target_id: Option<Uuid>,
    pub impressions: Option<i64>,
    pub likes: Option<i64>,
    pub reposts: Option<i64>,
    pub replies: Option<i64>,
    pub clicks: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ReportedAccountMetrics {
    pub account_id: Uuid,
    pub followers: Option<i64>,
    pub following: Option<i64>,
    pub posts: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ingested {
    pub posts: usize,
    pub accounts: usize,
}

fn counters(m: &ReportedPostMetrics) -> [(&'static str, Option<i64>); 5] {
    [
        ("impressions", m.impressions),
        ("likes", m.likes),
        ("reposts", m.reposts),
        ("replies", m.replies),
        ("clicks", m.clicks),
    ]
}

pub async fn run(
    state: &AppState,
    who: &Principal,
    r: &AnalyticsRequest,
) -> Result<Ingested, AppError> {
    let metrics = r.metrics.clone().unwrap_or_default();
    let accounts = r.accounts.clone().unwrap_or_default();
    if metrics.is_empty() && accounts.is_empty() {
        return Err(AppError::validation(
            "metrics",
            "required",
            "Send `metrics` and/or `accounts`.",
        ));
    }
    if metrics.len() + accounts.len() > 1_000 {
        return Err(AppError::validation(
            "metrics",
            "too_many",
            "Send at most 1000 entries at a time.",
        ));
    }
    let mut v = Validator::new();
    let mut tx = state.db.begin().await?;
    let mut resolved = Vec::with_capacity(metrics.len());
    for (i, m) in metrics.iter().enumerate() {
        for (name, value) in counters(m) {
            if value.is_some_and(|n| n < 0) {
                v.add(format!("metrics.{i}.{name}"), "negative", "Counts cannot be negative.");
            }
        }
        let platform = match m.platform.as_deref().map(str::parse::<Platform>) {
            Some(Ok(p)) => Some(p.as_str()),
            Some(Err(e)) => {
                v.add(format!("metrics.{i}.platform"), "unknown_platform", e.to_string());
                continue;
            }
            None => None,
        };
        let targets: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
            "select id, account_id, platform from smartflow_social.post_targets \
             where post_id = $1 and workspace_id = $2 and state = 'confirmed' \
             and ($3::uuid is null or id = $3) and ($4::text is null or platform = $4)",
        )
        .bind(m.post_id)
        .bind(who.workspace_id)
        .bind(m.target_id)
        .bind(platform)
        .fetch_all(&mut *tx)
        .await?;
        match targets.as_slice() {
            [one] => resolved.push((one.clone(), m.clone())),
            [] => v.add(
                format!("metrics.{i}.post_id"),
                "not_published",
                "No published target of this post matches; check post_id, platform and target_id.",
            ),
            _ => v.add(
                format!("metrics.{i}.platform"),
                "ambiguous",
                "This post went to several accounts: give `platform` or `target_id`.",
            ),
        }
    }
    for (i, a) in accounts.iter().enumerate() {
        let known: bool = sqlx::query_scalar(
            "select exists (select 1 from smartflow_social.accounts where id = $1 and workspace_id = $2)",
        )
        .bind(a.account_id)
        .bind(who.workspace_id)
        .fetch_one(&mut *tx)
        .await?;
        if !known {
            v.add(
                format!("accounts.{i}.account_id"),
                "not_found",
                "No linked account has this id.",
            );
        }
        if [a.followers, a.following, a.posts].iter().flatten().any(|n| *n < 0) {
            v.add(format!("accounts.{i}"), "negative", "Counts cannot be negative.");
        }
    }
    v.finish()?;
    for ((target, account, platform), m) in &resolved {
        sqlx::query(
            "insert into smartflow_social.post_metrics (target_id, workspace_id, account_id, platform, \
             impressions, likes, reposts, replies, clicks, source, collected_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'external', now()) \
             on conflict (target_id) do update set \
             impressions = coalesce(excluded.impressions, post_metrics.impressions), \
             likes = coalesce(excluded.likes, post_metrics.likes), \
             reposts = coalesce(excluded.reposts, post_metrics.reposts), \
             replies = coalesce(excluded.replies, post_metrics.replies), \
             clicks = coalesce(excluded.clicks, post_metrics.clicks), \
             source = 'external', collected_at = now()",
        )
        .bind(target)
        .bind(who.workspace_id)
        .bind(account)
        .bind(platform)
        .bind(m.impressions)
        .bind(m.likes)
        .bind(m.reposts)
        .bind(m.replies)
        .bind(m.clicks)
        .execute(&mut *tx)
        .await?;
    }
    for a in &accounts {
        sqlx::query(
            "insert into smartflow_social.account_metrics (account_id, workspace_id, followers, following, posts, source) \
             values ($1, $2, $3, $4, $5, 'external')",
        )
        .bind(a.account_id)
        .bind(who.workspace_id)
        .bind(a.followers)
        .bind(a.following)
        .bind(a.posts)
        .execute(&mut *tx)
        .await?;
    }
    record_event(
        &mut tx,
        &who.actor(),
        Event::new(
            "analytics.ingested",
            "workspace",
            who.workspace_id,
            json!({ "posts": resolved.len(), "accounts": accounts.len() }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Ingested { posts: resolved.len(), accounts: accounts.len() })
}
