//! `GET /admin`: what needs attention, and leads per day by source.

use actix_web::{HttpResponse, get, http::StatusCode, web};
use askama::Template;
use chrono::{Duration, NaiveDate, Utc};

use super::{StaffPage, chart, when};
use crate::{
    error::PageError,
    http::page::{CachePolicy, Layout, render},
    modules::main_site::{
        inquiries::{self, Inquiry},
        leads::{model::Lead, repo},
    },
    state::AppState,
};

pub struct Stat {
    pub label: &'static str,
    pub value: i64,
    pub href: &'static str,
}

#[derive(Template)]
#[template(path = "main_site/admin/overview.html")]
struct OverviewPage {
    layout: Layout,
    stats: Vec<Stat>,
    chart: chart::Chart,
    recent: Vec<Lead>,
    open: Vec<Inquiry>,
}

impl OverviewPage {
    fn when(&self, t: &chrono::DateTime<Utc>) -> String {
        when(t)
    }
}

async fn count(db: &sqlx::PgPool, sql: &'static str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(sql).fetch_one(db).await
}

// not-in-openapi: HTML page (staff)
#[get("/admin")]
pub async fn overview(
    state: web::Data<AppState>,
    staff: StaffPage,
) -> Result<HttpResponse, PageError> {
    let db = &state.db;
    let stats = vec![
        Stat {
            label: "New leads",
            value: count(db, "select count(*) from smartflow_main.leads where status = 'new'").await?,
            href: "/admin/leads?status=new",
        },
        Stat {
            label: "Leads in the last 7 days",
            value: count(db, "select count(*) from smartflow_main.leads where created_at > now() - interval '7 days' and status <> 'spam'").await?,
            href: "/admin/leads",
        },
        Stat {
            label: "Open inquiries",
            value: count(db, "select count(*) from smartflow_main.inquiries where status = 'open'").await?,
            href: "/admin/inquiries?status=open",
        },
        Stat {
            label: "Workspaces",
            value: count(db, "select count(*) from smartflow_shared.workspaces").await?,
            href: "/admin/workspaces",
        },
        Stat {
            label: "Paying subscriptions",
            value: count(db, "select count(*) from smartflow_shared.subscriptions where status in ('active', 'trialing', 'past_due')").await?,
            href: "/admin/subscriptions",
        },
        Stat {
            label: "Failed jobs",
            value: count(db, "select count(*) from smartflow_shared.jobs where state = 'dead'").await?,
            href: "/admin/jobs",
        },
    ];
    let days = state.settings.main_site.chart_days;
    let today = Utc::now().date_naive();
    let first = today - Duration::days(i64::from(days) - 1);
    // Spam is left out: the chart shows where real interest comes from.
    let rows: Vec<(NaiveDate, String, i64)> = sqlx::query_as(
        "select (created_at at time zone 'UTC')::date, coalesce(source, 'unknown'), count(*) \
         from smartflow_main.leads \
         where created_at >= ($1::date)::timestamp at time zone 'UTC' and status <> 'spam' \
         group by 1, 2",
    )
    .bind(first)
    .fetch_all(db)
    .await?;
    let recent = repo::list(db, &repo::Query { limit: 8, ..Default::default() }).await?;
    let open = inquiries::repo::list(
        db,
        &inquiries::repo::Query { status: Some("open".into()), limit: 5, ..Default::default() },
    )
    .await?;
    let page = OverviewPage {
        layout: staff.layout("Overview", "/admin"),
        stats,
        chart: chart::build(&rows, days, today),
        recent,
        open,
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}
