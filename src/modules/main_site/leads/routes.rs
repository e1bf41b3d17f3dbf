//! `/api/leads…` for platform staff: the pipeline, one lead with its history, changes, erasure
//! and the CSV export.

use actix_web::{HttpResponse, delete, get, http::header, patch, web};
use serde_json::json;
use uuid::Uuid;

use super::{
    export,
    model::{LeadDetail, LeadFilter, LeadPage, LeadPatch},
    repo, service,
};
use crate::{error::AppError, platform::auth::Staff, state::AppState};

/// Leads, newest first, filtered by status, source, creation day, owner and text.
#[utoipa::path(
    tag = "main",
    params(LeadFilter),
    responses((status = 200, body = LeadPage), (status = 403, description = "Not staff", body = crate::error::Problem)),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[get("/api/leads")]
pub async fn list_leads(
    state: web::Data<AppState>,
    _staff: Staff,
    filter: web::Query<LeadFilter>,
) -> Result<HttpResponse, AppError> {
    let q = filter.parse()?;
    let items = repo::list(&state.db, &q).await?;
    let next_cursor = repo::next_cursor(&items, q.limit);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(LeadPage { items, next_cursor }))
}

/// Every lead matching the filters as CSV (UTF-8 with BOM), streamed; `cursor` and `limit` are
/// ignored.
#[utoipa::path(
    tag = "main",
    params(LeadFilter),
    responses(
        (status = 200, description = "CSV, one row per lead", content_type = "text/csv", body = String),
        (status = 403, description = "Not staff", body = crate::error::Problem)
    ),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[get("/api/leads/export.csv")]
pub async fn export_leads(
    state: web::Data<AppState>,
    staff: Staff,
    filter: web::Query<LeadFilter>,
) -> Result<HttpResponse, AppError> {
    let q = filter.parse()?;
    // Exporting personal data is worth an audit entry, though nothing changes.
    let mut tx = state.db.begin().await?;
    crate::platform::audit::write(
        &mut tx,
        &service::platform_actor(&staff),
        None,
        "lead.exported",
        "lead",
        "*",
        &json!({ "status": q.status, "source": q.source, "from": q.from, "to": q.to, "q": filter.q }),
    )
    .await?;
    tx.commit().await?;
    let name = format!("leads-{}.csv", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(export::stream(state.db.clone(), q)))
}

/// One lead with its whole history.
#[utoipa::path(
    tag = "main",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = LeadDetail), (status = 404, body = crate::error::Problem)),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[get("/api/leads/{id}")]
pub async fn get_lead(
    state: web::Data<AppState>,
    _staff: Staff,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let lead = repo::get(&state.db, *id).await?;
    let history = repo::history(&state.db, lead.id).await?;
    let next_statuses = lead.status.next().to_vec();
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(LeadDetail {
        lead,
        history,
        next_statuses,
    }))
}

/// Moves a lead along the workflow, assigns its owner or replaces its notes.
#[utoipa::path(
    tag = "main",
    params(("id" = Uuid, Path)),
    request_body = LeadPatch,
    responses(
        (status = 200, body = super::model::Lead),
        (status = 409, description = "The workflow does not allow that status next", body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)
    ),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[patch("/api/leads/{id}")]
pub async fn update_lead(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    body: web::Json<LeadPatch>,
) -> Result<HttpResponse, AppError> {
    let lead = service::update(&state, &staff, *id, &body).await?;
    Ok(HttpResponse::Ok().json(lead))
}

/// Erases a lead on request (GDPR): the lead, its history and its data in past events.
#[utoipa::path(
    tag = "main",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Erased"), (status = 404, body = crate::error::Problem)),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[delete("/api/leads/{id}")]
pub async fn erase_lead(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    service::erase(&state, &staff, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}
