//! Aggregates over published targets and their latest metrics.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AnalyticsRequest;
use crate::{
    error::{AppError, Validator},
    modules::social::{
        platforms::Platform,
        posts::{
            input::workspace_tz,
            when::{local_date, parse_tz, start_of_day},
        },
    },
    platform::auth::Principal,
    state::AppState,
};

#[derive(Debug, Clone, Default, Serialize, ToSchema, sqlx::FromRow)]
pub struct AnalyticsRow {
    /// The group: a platform, an account or post id, a date (`YYYY-MM-DD`, periods start on
    /// it), or `total`.
    pub key: String,
    pub label: String,
    /// Published targets in the group.
    pub posts: i64,
    pub impressions: i64,
    pub likes: i64,
    pub reposts: i64,
    pub replies: i64,
    pub clicks: i64,
    pub engagements: i64,
    /// Engagements per impression, over the posts that report impressions.
    pub engagement_rate: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyticsReport {
    pub group_by: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub tz: String,
    pub rows: Vec<AnalyticsRow>,
    pub totals: AnalyticsRow,
}

const GROUPS: [&str; 7] = ["platform", "account", "post", "day", "week", "month", "total"];

/// (key, label) expressions per grouping; fixed strings, never input.
fn group_sql(group: &str) -> (&'static str, &'static str) {
    match group {
        "account" => (
            "t.account_id::text",
            "coalesce(max(a.username), max(a.display_name), max(a.remote_id))",
        ),
        "post" => ("t.post_id::text", "max(left(p.content, 80))"),
        "day" => ("to_char(date_trunc('day', t.confirmed_at at time zone $4), 'YYYY-MM-DD')", "''"),
        "week" => {
            ("to_char(date_trunc('week', t.confirmed_at at time zone $4), 'YYYY-MM-DD')", "''")
        }
        "month" => {
            ("to_char(date_trunc('month', t.confirmed_at at time zone $4), 'YYYY-MM-DD')", "''")
        }
        "total" => ("'total'", "'total'"),
        _ => ("t.platform", "t.platform"),
    }
}

pub fn parse_day(raw: &str, tz: Tz) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok().or_else(|| {
        DateTime::parse_from_rfc3339(raw.trim()).ok().map(|t| local_date(t.with_timezone(&Utc), tz))
    })
}

pub struct Filters {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub tz: Tz,
    pub platforms: Vec<String>,
    pub accounts: Vec<Uuid>,
    pub posts: Vec<Uuid>,
}

pub async fn filters(
    state: &AppState,
    workspace: Uuid,
    r: &AnalyticsRequest,
) -> Result<Filters, AppError> {
    let mut v = Validator::new();
    let tz = match r.tz.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(raw) => v.check("tz", parse_tz(raw)).unwrap_or(Tz::UTC),
        None => workspace_tz(state, workspace).await?,
    };
    let today = local_date(Utc::now(), tz);
    let mut day = |field: &str, raw: &Option<String>, default: NaiveDate| match raw.as_deref() {
        Some(s) if !s.trim().is_empty() => parse_day(s, tz).unwrap_or_else(|| {
            v.add(field, "invalid_date", "Use a date such as 2026-03-01.");
            default
        }),
        _ => default,
    };
    let to = day("to", &r.to, today);
    let from = day("from", &r.from, to - Duration::days(29));
    if to < from {
        v.add("to", "before_from", "`to` must be on or after `from`.");
    }
    let mut platforms = Vec::new();
    for (i, p) in r.platforms.iter().flatten().enumerate() {
        match p.parse::<Platform>() {
            Ok(p) => platforms.push(p.as_str().to_string()),
            Err(e) => v.add(format!("platforms.{i}"), "unknown_platform", e.to_string()),
        }
    }
    v.finish()?;
    Ok(Filters {
        from,
        to,
        tz,
        platforms,
        accounts: r.account_ids.clone().unwrap_or_default(),
        posts: r.post_ids.clone().unwrap_or_default(),
    })
}

pub async fn aggregate(
    state: &AppState,
    workspace: Uuid,
    f: &Filters,
    group: &str,
) -> Result<Vec<AnalyticsRow>, AppError> {
    let (key, label) = group_sql(group);
    let sql = format!(
        "select {key} as key, {label} as label, count(*)::int8 as posts, \
           coalesce(sum(m.impressions), 0)::int8 as impressions, coalesce(sum(m.likes), 0)::int8 as likes, \
           coalesce(sum(m.reposts), 0)::int8 as reposts, coalesce(sum(m.replies), 0)::int8 as replies, \
           coalesce(sum(m.clicks), 0)::int8 as clicks, \
           coalesce(sum(coalesce(m.likes, 0) + coalesce(m.reposts, 0) + coalesce(m.replies, 0) \
               + coalesce(m.clicks, 0)), 0)::int8 as engagements, \
           (sum(coalesce(m.likes, 0) + coalesce(m.reposts, 0) + coalesce(m.replies, 0) \
               + coalesce(m.clicks, 0)) filter (where m.impressions > 0))::float8 \
             / nullif(sum(m.impressions) filter (where m.impressions > 0), 0)::float8 as engagement_rate \
         from smartflow_social.post_targets t \
         join smartflow_social.accounts a on a.id = t.account_id \
         join smartflow_social.posts p on p.id = t.post_id \
         left join smartflow_social.post_metrics m on m.target_id = t.id \
         where t.workspace_id = $1 and t.state = 'confirmed' \
           and t.confirmed_at >= $2 and t.confirmed_at < $3 \
           and (cardinality($5::text[]) = 0 or t.platform = any($5)) \
           and (cardinality($6::uuid[]) = 0 or t.account_id = any($6)) \
           and (cardinality($7::uuid[]) = 0 or t.post_id = any($7)) \
           and $4::text is not null \
         group by 1 order by 1"
    );
    let rows: Vec<AnalyticsRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(workspace)
        .bind(start_of_day(f.from, f.tz))
        .bind(start_of_day(f.to + Duration::days(1), f.tz))
        .bind(f.tz.name())
        .bind(&f.platforms)
        .bind(&f.accounts)
        .bind(&f.posts)
        .fetch_all(&state.db)
        .await?;
    Ok(rows)
}

pub async fn run(
    state: &AppState,
    who: &Principal,
    r: &AnalyticsRequest,
) -> Result<AnalyticsReport, AppError> {
    let group = r.group_by.as_deref().unwrap_or("platform");
    if !GROUPS.contains(&group) {
        return Err(AppError::validation(
            "group_by",
            "unknown",
            format!("Group by one of {}.", GROUPS.join(", ")),
        ));
    }
    let f = filters(state, who.workspace_id, r).await?;
    let rows = aggregate(state, who.workspace_id, &f, group).await?;
    let totals =
        aggregate(state, who.workspace_id, &f, "total").await?.into_iter().next().unwrap_or(
            AnalyticsRow { key: "total".into(), label: "total".into(), ..AnalyticsRow::default() },
        );
    Ok(AnalyticsReport {
        group_by: group.to_string(),
        from: f.from,
        to: f.to,
        tz: f.tz.name().to_string(),
        rows,
        totals,
    })
}
