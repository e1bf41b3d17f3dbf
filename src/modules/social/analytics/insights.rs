//! Per-account insights from the stored history: follower trend, engagement rate, and the
//! best times to post (the weekday and local hour whose posts engaged most, once enough posts
//! were published at that time to tell).

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    error::AppError,
    modules::social::{
        accounts::find,
        posts::{input::workspace_tz, when::parse_tz},
    },
    platform::auth::{Authorized, Read},
    state::AppState,
};

const WEEKDAYS: [&str; 7] =
    ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// One published post as the insights see it.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub impressions: Option<i64>,
    pub engagements: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BestTime {
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u32,
    /// Local hour, 0–23.
    pub hour: u32,
    /// e.g. `Tuesday 09:00`.
    pub label: String,
    pub posts: usize,
    /// Mean score of the posts at that time: engagements per impression, or per follower
    /// where the platform reports no impressions.
    pub score: f64,
}

/// A post's score: engagements per impression, else per follower, else raw engagements.
pub fn score(s: &Sample, followers: Option<i64>) -> f64 {
    match (s.impressions, followers) {
        (Some(i), _) if i > 0 => s.engagements as f64 / i as f64,
        (_, Some(f)) if f > 0 => s.engagements as f64 / f as f64,
        _ => s.engagements as f64,
    }
}

/// Engagements per impression over the posts that report impressions.
pub fn engagement_rate(samples: &[Sample]) -> Option<f64> {
    let (e, i) = samples
        .iter()
        .filter_map(|s| s.impressions.filter(|i| *i > 0).map(|i| (s.engagements, i)))
        .fold((0i64, 0i64), |(e, i), (se, si)| (e + se, i + si));
    (i > 0).then(|| e as f64 / i as f64)
}

/// The best (weekday, hour) slots in `tz`, best first, among those with `min_posts` posts.
pub fn best_times(
    samples: &[Sample],
    tz: Tz,
    followers: Option<i64>,
    min_posts: usize,
    top: usize,
) -> Vec<BestTime> {
    let mut cells: std::collections::BTreeMap<(u32, u32), (usize, f64)> = Default::default();
    for s in samples {
        let local = s.at.with_timezone(&tz);
        let cell = cells.entry((local.weekday().num_days_from_monday(), local.hour())).or_default();
        cell.0 += 1;
        cell.1 += score(s, followers);
    }
    let mut out: Vec<BestTime> = cells
        .into_iter()
        .filter(|(_, (n, _))| *n >= min_posts.max(1))
        .map(|((weekday, hour), (n, total))| BestTime {
            weekday,
            hour,
            label: format!("{} {hour:02}:00", WEEKDAYS[weekday as usize % 7]),
            posts: n,
            score: total / n as f64,
        })
        .collect();
    out.sort_by(|a, b| {
        b.score.total_cmp(&a.score).then(a.weekday.cmp(&b.weekday)).then(a.hour.cmp(&b.hour))
    });
    out.truncate(top);
    out
}

/// Mean score per local (weekday, hour), for the heatmap.
pub fn grid(samples: &[Sample], tz: Tz, followers: Option<i64>) -> [[f64; 24]; 7] {
    let mut sums = [[(0.0f64, 0u32); 24]; 7];
    for s in samples {
        let local = s.at.with_timezone(&tz);
        let cell = &mut sums[local.weekday().num_days_from_monday() as usize % 7]
            [local.hour() as usize % 24];
        cell.0 += score(s, followers);
        cell.1 += 1;
    }
    let mut out = [[0.0; 24]; 7];
    for (d, row) in sums.iter().enumerate() {
        for (h, (total, n)) in row.iter().enumerate() {
            if *n > 0 {
                out[d][h] = total / f64::from(*n);
            }
        }
    }
    out
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowerPoint {
    pub at: DateTime<Utc>,
    pub followers: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountInsights {
    pub account_id: Uuid,
    pub tz: String,
    pub followers: Option<i64>,
    /// Change over the last 30 days of collected counts.
    pub followers_change_30d: Option<i64>,
    pub follower_history: Vec<FollowerPoint>,
    /// Published posts considered (the last 180 days).
    pub posts: usize,
    pub engagements: i64,
    pub engagement_rate: Option<f64>,
    /// Best first; empty until enough posts were published at the same time of week.
    pub best_times: Vec<BestTime>,
    /// Mean score per weekday and local hour (for charts).
    #[serde(skip)]
    pub grid: [[f64; 24]; 7],
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InsightsQuery {
    /// IANA timezone for best times; default the workspace's.
    pub tz: Option<String>,
}

pub async fn compute(
    state: &AppState,
    workspace: Uuid,
    account: Uuid,
    tz: Tz,
) -> Result<AccountInsights, AppError> {
    let history: Vec<(DateTime<Utc>, i64)> = sqlx::query_as(
        "select collected_at, followers from smartflow_social.account_metrics \
         where account_id = $1 and workspace_id = $2 and followers is not null \
         and collected_at > now() - interval '180 days' order by collected_at",
    )
    .bind(account)
    .bind(workspace)
    .fetch_all(&state.db)
    .await?;
    let rows: Vec<(DateTime<Utc>, Option<i64>, i64)> = sqlx::query_as(
        "select t.confirmed_at, m.impressions, \
                (coalesce(m.likes, 0) + coalesce(m.reposts, 0) + coalesce(m.replies, 0) + coalesce(m.clicks, 0))::int8 \
         from smartflow_social.post_targets t \
         left join smartflow_social.post_metrics m on m.target_id = t.id \
         where t.account_id = $1 and t.workspace_id = $2 and t.state = 'confirmed' \
         and t.confirmed_at > now() - interval '180 days'",
    )
    .bind(account)
    .bind(workspace)
    .fetch_all(&state.db)
    .await?;
    let samples: Vec<Sample> = rows
        .into_iter()
        .map(|(at, impressions, engagements)| Sample { at, impressions, engagements })
        .collect();
    let followers = history.last().map(|(_, f)| *f);
    let month_ago = Utc::now() - chrono::Duration::days(30);
    let baseline = history.iter().find(|(at, _)| *at >= month_ago).map(|(_, f)| *f);
    let min = state.settings.social.analytics.best_time_min_posts as usize;
    Ok(AccountInsights {
        account_id: account,
        tz: tz.name().to_string(),
        followers,
        followers_change_30d: followers.zip(baseline).map(|(now, then)| now - then),
        follower_history: history
            .into_iter()
            .map(|(at, followers)| FollowerPoint { at, followers })
            .collect(),
        posts: samples.len(),
        engagements: samples.iter().map(|s| s.engagements).sum(),
        engagement_rate: engagement_rate(&samples),
        best_times: best_times(&samples, tz, followers, min, 3),
        grid: grid(&samples, tz, followers),
    })
}

/// Follower trend, engagement rate and best times to post for one account.
#[utoipa::path(tag = "social", params(("id" = Uuid, Path), InsightsQuery), responses((status = 200, body = AccountInsights), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/accounts/{id}/insights")]
pub async fn account_insights(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
    q: web::Query<InsightsQuery>,
) -> Result<HttpResponse, AppError> {
    let account = find(&state.db, who.workspace_id, *id).await?;
    let tz = match q.tz.as_deref() {
        Some(raw) => parse_tz(raw).map_err(|e| {
            AppError::Validation(vec![crate::error::FieldError { field: "tz".into(), ..e }])
        })?,
        None => workspace_tz(&state, who.workspace_id).await?,
    };
    Ok(HttpResponse::Ok().json(compute(&state, who.workspace_id, account.id, tz).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn sample(t: &str, impressions: Option<i64>, engagements: i64) -> Sample {
        Sample { at: at(t), impressions, engagements }
    }

    #[test]
    fn engagement_rate_uses_posts_with_impressions() {
        let s = [
            sample("2026-03-02T08:00:00Z", Some(100), 10),
            sample("2026-03-02T09:00:00Z", None, 50),
        ];
        assert_eq!(engagement_rate(&s), Some(0.1));
        assert_eq!(engagement_rate(&s[1..]), None);
    }

    #[test]
    fn best_times_are_local_and_need_enough_posts() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        // Tuesdays 09:00 Paris, before and after the spring change (08:00Z then 07:00Z).
        let good = [
            sample("2026-03-17T08:00:00Z", Some(100), 20),
            sample("2026-03-24T08:00:00Z", Some(100), 30),
            sample("2026-03-31T07:00:00Z", Some(100), 25),
        ];
        let weak = [
            sample("2026-03-18T12:00:00Z", Some(100), 1),
            sample("2026-03-25T12:00:00Z", Some(100), 2),
            sample("2026-04-01T11:00:00Z", Some(100), 3),
        ];
        let lonely = [sample("2026-03-20T18:00:00Z", Some(10), 9)];
        let all: Vec<Sample> = good.iter().chain(&weak).chain(&lonely).copied().collect();
        let best = best_times(&all, paris, None, 3, 3);
        assert_eq!(best.len(), 2, "the slot with one post is not recommended: {best:?}");
        assert_eq!((best[0].weekday, best[0].hour, best[0].posts), (1, 9, 3));
        assert_eq!(best[0].label, "Tuesday 09:00");
        assert!((best[0].score - 0.25).abs() < 1e-9);
        assert_eq!((best[1].weekday, best[1].hour), (2, 13));
    }

    #[test]
    fn score_falls_back_to_followers() {
        let s = sample("2026-03-02T08:00:00Z", None, 30);
        assert_eq!(score(&s, Some(300)), 0.1);
        assert_eq!(score(&s, None), 30.0);
    }
}
