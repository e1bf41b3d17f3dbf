//! `/api/jobs`: operators inspect, retry and cancel background jobs (platform staff).

use actix_web::{HttpResponse, get, post, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    JobId,
    ops::{self, JobFilter, JobView},
};
use crate::{error::AppError, platform::auth::Staff, state::AppState};

#[derive(Serialize, ToSchema)]
pub struct JobPage {
    pub items: Vec<JobView>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_cursor: Option<JobId>,
}

/// Jobs, newest first, filtered by state, queue and kind.
#[utoipa::path(tag = "jobs", params(JobFilter), responses((status = 200, body = JobPage)), security(("bearer" = []), ("session_cookie" = [])))]
#[get("/api/jobs")]
pub async fn list_jobs(
    state: web::Data<AppState>,
    _staff: Staff,
    q: web::Query<JobFilter>,
) -> Result<HttpResponse, AppError> {
    let items = ops::list(&state.db, &q).await?;
    let limit = crate::http::pagination::page_size(q.limit)?;
    let next_cursor = crate::http::pagination::next_cursor(&items, limit, |j| j.id);
    Ok(HttpResponse::Ok().json(JobPage { items, next_cursor }))
}

/// One job with its attempts' errors.
#[utoipa::path(tag = "jobs", params(("id" = i64, Path)), responses((status = 200, body = JobView)), security(("bearer" = []), ("session_cookie" = [])))]
#[get("/api/jobs/{id}")]
pub async fn get_job(
    state: web::Data<AppState>,
    _staff: Staff,
    id: web::Path<JobId>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(ops::get(&state.db, *id).await?))
}

/// Runs a dead or cancelled job again now.
#[utoipa::path(tag = "jobs", params(("id" = i64, Path)), responses((status = 200, body = JobView), (status = 409)), security(("bearer" = []), ("session_cookie" = [])))]
#[post("/api/jobs/{id}/retry")]
pub async fn retry_job(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<JobId>,
) -> Result<HttpResponse, AppError> {
    let job = ops::retry(&state.db, *id).await?;
    audit(&state, &staff, "job.retried", &job).await?;
    Ok(HttpResponse::Ok().json(job))
}

/// Cancels a job that has not finished (a running one stops at its next heartbeat).
#[utoipa::path(tag = "jobs", params(("id" = i64, Path)), responses((status = 200, body = JobView), (status = 409)), security(("bearer" = []), ("session_cookie" = [])))]
#[post("/api/jobs/{id}/cancel")]
pub async fn cancel_job(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<JobId>,
) -> Result<HttpResponse, AppError> {
    let job = ops::cancel(&state.db, *id).await?;
    audit(&state, &staff, "job.cancelled", &job).await?;
    Ok(HttpResponse::Ok().json(job))
}

async fn audit(
    state: &AppState,
    staff: &Staff,
    action: &str,
    job: &JobView,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    let actor = staff.actor();
    crate::platform::audit::write(
        &mut tx,
        &actor,
        job.workspace_id,
        action,
        "job",
        &job.id.to_string(),
        &serde_json::json!({ "kind": job.kind, "queue": job.queue }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
