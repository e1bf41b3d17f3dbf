//! `/api/contact…` for platform staff: list, read, resolve and erase inquiries.

use actix_web::{HttpResponse, delete, get, http::header, patch, web};
use uuid::Uuid;

use super::{Inquiry, InquiryFilter, InquiryPage, InquiryPatch, repo};
use crate::{error::AppError, platform::auth::Staff, state::AppState};

/// Inquiries, newest first, filtered by status, topic and text.
#[utoipa::path(
    tag = "main",
    params(InquiryFilter),
    responses((status = 200, body = InquiryPage), (status = 403, description = "Not staff", body = crate::error::Problem)),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[get("/api/contact")]
pub async fn list_inquiries(
    state: web::Data<AppState>,
    _staff: Staff,
    filter: web::Query<InquiryFilter>,
) -> Result<HttpResponse, AppError> {
    let q = filter.parse()?;
    let items = repo::list(&state.db, &q).await?;
    let next_cursor = repo::next_cursor(&items, q.limit);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(InquiryPage { items, next_cursor }))
}

/// One inquiry.
#[utoipa::path(
    tag = "main",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Inquiry), (status = 404, body = crate::error::Problem)),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[get("/api/contact/{id}")]
pub async fn get_inquiry(
    state: web::Data<AppState>,
    _staff: Staff,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(repo::get(&state.db, *id).await?))
}

/// Resolves (or reopens) an inquiry, with a note of what was done.
#[utoipa::path(
    tag = "main",
    params(("id" = Uuid, Path)),
    request_body = InquiryPatch,
    responses((status = 200, body = Inquiry), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[patch("/api/contact/{id}")]
pub async fn update_inquiry(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    body: web::Json<InquiryPatch>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(repo::update(&state, &staff, *id, &body).await?))
}

/// Erases an inquiry on request (GDPR), with its data in past events.
#[utoipa::path(
    tag = "main",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Erased"), (status = 404, body = crate::error::Problem)),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[delete("/api/contact/{id}")]
pub async fn erase_inquiry(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    repo::erase(&state, &staff, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}
