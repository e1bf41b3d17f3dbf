//! `GET /api/calendar` (seed): scheduled posts grouped by day in the requested timezone, with
//! each target's state. Days are local days: a post at 23:30 UTC lands on the next day in
//! Paris, and the day clocks change has 23 or 25 hours.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::posts::{
    input::workspace_tz,
    when::{local_date, parse_tz, start_of_day},
};
use crate::{
    error::{AppError, Validator},
    platform::auth::{Authorized, Read},
    state::AppState,
};

/// Posts returned at most; the answer says when the range held more.
const MAX_POSTS: i64 = 5_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CalendarQuery {
    /// First day, `YYYY-MM-DD` (or an RFC 3339 instant), in `tz`; default the first of this month.
    pub from: Option<String>,
    /// Last day, inclusive; default the last of `from`'s month.
    pub to: Option<String>,
    /// IANA timezone the days are read in; default the workspace's.
    pub tz: Option<String>,
    /// Only posts with a target on this account.
    pub account_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Calendar {
    pub tz: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Every day of the range, in order.
    pub days: Vec<CalendarDay>,
    /// More than 5,000 posts fell in the range; ask for fewer days.
    pub truncated: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarDay {
    pub date: NaiveDate,
    pub posts: Vec<CalendarPost>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CalendarPost {
    pub id: Uuid,
    /// The first 200 characters of the text.
    pub excerpt: String,
    pub scheduled_at: DateTime<Utc>,
    /// Local time of day in `tz`, `HH:MM`.
    pub local_time: String,
    pub status: String,
    pub platforms: Vec<String>,
    pub targets: Vec<CalendarTarget>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CalendarTarget {
    pub id: Uuid,
    pub account_id: Uuid,
    pub platform: String,
    pub state: String,
    pub remote_url: Option<String>,
}

fn parse_day(raw: &str, tz: Tz) -> Option<NaiveDate> {
    let raw = raw.trim();
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok().or_else(|| {
        DateTime::parse_from_rfc3339(raw).ok().map(|t| local_date(t.with_timezone(&Utc), tz))
    })
}

fn month_bounds(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = day.with_day(1).unwrap_or(day);
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    (first, next.map_or(first, |n| n - Duration::days(1)))
}

type Row =
    (Uuid, String, DateTime<Utc>, String, Vec<String>, sqlx::types::Json<Vec<CalendarTarget>>);

/// The calendar of `workspace` from `from` to `to` (inclusive local days in `tz`).
pub async fn load(
    state: &AppState,
    workspace: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    tz: Tz,
    account: Option<Uuid>,
) -> Result<Calendar, AppError> {
    let start = start_of_day(from, tz);
    let end = start_of_day(to + Duration::days(1), tz);
    let rows: Vec<Row> = sqlx::query_as(
        "select p.id, left(p.content, 200), p.scheduled_at, p.status, p.platforms, \
                coalesce(json_agg(json_build_object('id', t.id, 'account_id', t.account_id, \
                    'platform', t.platform, 'state', t.state, 'remote_url', t.remote_url) \
                    order by t.created_at, t.id) filter (where t.id is not null), '[]'::json) \
         from smartflow_social.posts p \
         left join smartflow_social.post_targets t on t.post_id = p.id \
         where p.workspace_id = $1 and p.scheduled_at >= $2 and p.scheduled_at < $3 \
           and ($4::uuid is null or exists (select 1 from smartflow_social.post_targets x \
                where x.post_id = p.id and x.account_id = $4)) \
         group by p.id order by p.scheduled_at, p.id limit $5",
    )
    .bind(workspace)
    .bind(start)
    .bind(end)
    .bind(account)
    .bind(MAX_POSTS + 1)
    .fetch_all(&state.db)
    .await?;
    let truncated = rows.len() as i64 > MAX_POSTS;
    let span = (to - from).num_days().max(0) as usize + 1;
    let mut days: Vec<CalendarDay> = (0..span)
        .map(|i| CalendarDay { date: from + Duration::days(i as i64), posts: Vec::new() })
        .collect();
    for (id, excerpt, at, status, platforms, targets) in rows.into_iter().take(MAX_POSTS as usize) {
        let local = at.with_timezone(&tz);
        let index = (local.date_naive() - from).num_days();
        let Some(day) = usize::try_from(index).ok().and_then(|i| days.get_mut(i)) else { continue };
        day.posts.push(CalendarPost {
            id,
            excerpt,
            scheduled_at: at,
            local_time: local.format("%H:%M").to_string(),
            status,
            platforms,
            targets: targets.0,
        });
    }
    Ok(Calendar { tz: tz.name().to_string(), from, to, days, truncated })
}

/// Parses the query's range and timezone (shared with the calendar page).
pub async fn range(
    state: &AppState,
    workspace: Uuid,
    from: Option<&str>,
    to: Option<&str>,
    tz: Option<&str>,
) -> Result<(NaiveDate, NaiveDate, Tz), AppError> {
    let mut v = Validator::new();
    let tz = match tz.filter(|t| !t.trim().is_empty()) {
        Some(raw) => v.check("tz", parse_tz(raw)).unwrap_or(Tz::UTC),
        None => workspace_tz(state, workspace).await?,
    };
    let bad = "Use a date such as 2026-03-01.";
    let from = match from.filter(|f| !f.trim().is_empty()) {
        Some(raw) => parse_day(raw, tz).unwrap_or_else(|| {
            v.add("from", "invalid_date", bad);
            local_date(Utc::now(), tz)
        }),
        None => month_bounds(local_date(Utc::now(), tz)).0,
    };
    let to = match to.filter(|t| !t.trim().is_empty()) {
        Some(raw) => parse_day(raw, tz).unwrap_or_else(|| {
            v.add("to", "invalid_date", bad);
            from
        }),
        None => month_bounds(from).1,
    };
    let max = i64::from(state.settings.social.calendar_max_days);
    if to < from {
        v.add("to", "before_from", "`to` must be on or after `from`.");
    } else if (to - from).num_days() + 1 > max {
        v.add("to", "range_too_long", format!("Ask for at most {max} days at a time."));
    }
    v.finish()?;
    Ok((from, to, tz))
}

/// The content calendar (seed route): every day from `from` to `to` in `tz`, with the posts
/// scheduled that day and each target's state.
#[utoipa::path(
    tag = "social",
    params(CalendarQuery),
    responses((status = 200, body = Calendar), (status = 422)),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[get("/api/calendar")]
pub async fn get_calendar(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    q: web::Query<CalendarQuery>,
) -> Result<HttpResponse, AppError> {
    let (from, to, tz) =
        range(&state, who.workspace_id, q.from.as_deref(), q.to.as_deref(), q.tz.as_deref())
            .await?;
    Ok(HttpResponse::Ok().json(load(&state, who.workspace_id, from, to, tz, q.account_id).await?))
}
