//! `/app/social/analytics`: engagement by platform, posts and engagements per day, the top
//! posts, and for one account its followers over time and a best-time heatmap, all as
//! server-rendered SVG.

use actix_web::{HttpResponse, get, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::{NAV, charts, layout};
use crate::{
    error::PageError,
    http::page::{CachePolicy, Layout, render},
    modules::social::{
        accounts,
        analytics::{
            AnalyticsRequest, insights,
            query::{self, AnalyticsRow},
        },
    },
    platform::auth::{csrf::CsrfToken, pages::SignedIn},
    state::AppState,
};

#[derive(Template)]
#[template(path = "social/analytics.html")]
struct AnalyticsPage {
    layout: Layout,
    nav: [(&'static str, &'static str); 3],
    from: String,
    to: String,
    accounts: Vec<(Uuid, String, bool)>,
    totals: AnalyticsRow,
    engagement_rate: String,
    by_platform: String,
    per_day: String,
    top: Vec<AnalyticsRow>,
    account_label: String,
    followers: String,
    followers_now: String,
    heatmap: String,
    best_times: Vec<String>,
}

#[derive(Deserialize)]
pub struct AnalyticsPageQuery {
    from: Option<String>,
    to: Option<String>,
    account_id: Option<Uuid>,
}

fn percent(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.2} %", r * 100.0)).unwrap_or_else(|| "—".into())
}

// not-in-openapi: HTML page
#[get("/app/social/analytics")]
pub async fn analytics_page(
    state: web::Data<AppState>,
    csrf: CsrfToken,
    who: SignedIn,
    q: web::Query<AnalyticsPageQuery>,
) -> Result<HttpResponse, PageError> {
    let who = who.0;
    let request =
        AnalyticsRequest { from: q.from.clone(), to: q.to.clone(), ..AnalyticsRequest::default() };
    let f = query::filters(&state, who.workspace_id, &request).await?;
    let by_platform = query::aggregate(&state, who.workspace_id, &f, "platform").await?;
    let per_day = query::aggregate(&state, who.workspace_id, &f, "day").await?;
    let mut top = query::aggregate(&state, who.workspace_id, &f, "post").await?;
    top.sort_by_key(|r| std::cmp::Reverse(r.engagements));
    top.truncate(10);
    let totals = query::aggregate(&state, who.workspace_id, &f, "total")
        .await?
        .into_iter()
        .next()
        .unwrap_or_default();
    let linked = accounts::list(&state.db, who.workspace_id, false).await?;
    let chosen = q
        .account_id
        .filter(|id| linked.iter().any(|a| a.id == *id))
        .or(linked.first().map(|a| a.id));
    let (account_label, followers, followers_now, heatmap, best_times) = match chosen {
        Some(id) => {
            let i = insights::compute(&state, who.workspace_id, id, f.tz).await?;
            let points: Vec<(String, f64)> = i
                .follower_history
                .iter()
                .map(|p| (p.at.format("%d %b").to_string(), p.followers as f64))
                .collect();
            let label = linked
                .iter()
                .find(|a| a.id == id)
                .map(|a| {
                    a.username.clone().or(a.display_name.clone()).unwrap_or(a.remote_id.clone())
                })
                .unwrap_or_default();
            (
                label,
                if points.is_empty() {
                    String::new()
                } else {
                    charts::line("Followers over time", &points)
                },
                i.followers.map(|f| f.to_string()).unwrap_or_else(|| "—".into()),
                if i.posts == 0 {
                    String::new()
                } else {
                    charts::heatmap("Engagement by weekday and hour", &i.grid)
                },
                i.best_times.iter().map(|b| format!("{} ({} posts)", b.label, b.posts)).collect(),
            )
        }
        None => Default::default(),
    };
    let platform_bars: Vec<(String, f64)> =
        by_platform.iter().map(|r| (r.label.clone(), r.engagements as f64)).collect();
    let day_bars: Vec<(String, f64)> = per_day
        .iter()
        .map(|r| (r.key.get(5..).unwrap_or(&r.key).to_string(), r.posts as f64))
        .collect();
    let page = AnalyticsPage {
        layout: layout("Social analytics", "/app/social/analytics", &csrf, &who),
        nav: NAV,
        from: f.from.to_string(),
        to: f.to.to_string(),
        accounts: linked
            .iter()
            .map(|a| {
                (
                    a.id,
                    a.username.clone().or(a.display_name.clone()).unwrap_or(a.remote_id.clone()),
                    Some(a.id) == chosen,
                )
            })
            .collect(),
        engagement_rate: percent(totals.engagement_rate),
        totals,
        by_platform: if platform_bars.is_empty() {
            String::new()
        } else {
            charts::bars("Engagements by platform", &platform_bars)
        },
        per_day: if day_bars.is_empty() {
            String::new()
        } else {
            charts::bars("Posts published per day", &day_bars)
        },
        top,
        account_label,
        followers,
        followers_now,
        heatmap,
        best_times,
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}
