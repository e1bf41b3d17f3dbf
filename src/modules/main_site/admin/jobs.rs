//! `/admin/jobs`: background jobs that gave up (dead), with their errors and a retry button.

use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use super::{StaffPage, notice_text, query, when, when_opt};
use crate::{
    error::PageError,
    http::page::{CachePolicy, Layout, render},
    modules::main_site::{forms::see_other, leads::service::platform_actor},
    platform::jobs::{
        JobId,
        ops::{self, JobFilter, JobView},
    },
    state::AppState,
};

#[derive(Debug, Default, Deserialize)]
pub struct JobsQuery {
    state: Option<String>,
    before: Option<JobId>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "main_site/admin/jobs.html")]
struct JobsPage {
    layout: Layout,
    jobs: Vec<JobView>,
    state: String,
    next_href: String,
    notice: &'static str,
}

impl JobsPage {
    fn when(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        when(t)
    }
    fn when_opt(&self, t: &Option<chrono::DateTime<chrono::Utc>>) -> String {
        when_opt(t)
    }
    fn error_of(&self, j: &JobView) -> String {
        j.last_error.clone().unwrap_or_default().chars().take(300).collect()
    }
}

const PAGE: i64 = 50;

// not-in-openapi: HTML page (staff)
#[get("/admin/jobs")]
pub async fn jobs_page(
    state: web::Data<AppState>,
    staff: StaffPage,
    q: web::Query<JobsQuery>,
) -> Result<HttpResponse, PageError> {
    // Failed jobs by default; cancelled ones can be retried too.
    let shown = match q.state.as_deref() {
        Some("cancelled") => "cancelled",
        _ => "dead",
    };
    let filter = JobFilter {
        state: Some(shown.to_string()),
        before: q.before,
        limit: Some(PAGE),
        ..JobFilter::default()
    };
    let jobs = ops::list(&state.db, &filter).await?;
    let next_href = match jobs.last() {
        Some(last) if jobs.len() as i64 == PAGE => {
            format!(
                "/admin/jobs{}",
                query(&[("state", shown.to_string()), ("before", last.id.to_string())])
            )
        }
        _ => String::new(),
    };
    let page = JobsPage {
        layout: staff.layout("Failed jobs", "/admin/jobs"),
        jobs,
        state: shown.to_string(),
        next_href,
        notice: notice_text(q.notice.as_deref()),
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}

// not-in-openapi: HTML form post (staff)
#[post("/admin/jobs/{id}/retry")]
pub async fn job_retry(
    state: web::Data<AppState>,
    staff: StaffPage,
    id: web::Path<JobId>,
) -> Result<HttpResponse, PageError> {
    let job = ops::retry(&state.db, *id).await?;
    let mut tx = state.db.begin().await?;
    crate::platform::audit::write(
        &mut tx,
        &platform_actor(&staff.who),
        job.workspace_id,
        "job.retried",
        "job",
        &job.id.to_string(),
        &json!({ "kind": job.kind, "queue": job.queue }),
    )
    .await?;
    tx.commit().await?;
    Ok(see_other("/admin/jobs?notice=retried"))
}
