//! Analytics: per-post metrics and follower counts collected on a schedule, metrics reported
//! from elsewhere, aggregate queries (`POST /api/analytics`, seed), and per-account insights
//! (engagement rate, best time to post) computed from the stored history.

pub mod collect;
pub mod ingest;
pub mod insights;
pub mod query;

use actix_web::{HttpResponse, post, web};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    error::AppError,
    platform::auth::{Authorized, Read},
    state::AppState,
};

/// `type: "query"` (default) aggregates; `type: "ingest"` stores reported metrics.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct AnalyticsRequest {
    /// `query` or `ingest`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Query: first day (`YYYY-MM-DD`, in `tz`) or instant; default 30 days ago.
    pub from: Option<String>,
    /// Query: last day, inclusive; default today.
    pub to: Option<String>,
    /// Query: IANA timezone for days and periods; default the workspace's.
    pub tz: Option<String>,
    /// Query: `platform` (default), `account`, `post`, `day`, `week`, `month` or `total`.
    pub group_by: Option<String>,
    pub platforms: Option<Vec<String>>,
    pub account_ids: Option<Vec<Uuid>>,
    pub post_ids: Option<Vec<Uuid>>,
    /// Ingest: per-post counters reported from elsewhere.
    pub metrics: Option<Vec<ingest::ReportedPostMetrics>>,
    /// Ingest: follower counts reported from elsewhere.
    pub accounts: Option<Vec<ingest::ReportedAccountMetrics>>,
}

/// Analytics (seed route): aggregate metrics of published posts by platform, account, post or
/// period (`type: "query"`), or store metrics reported from elsewhere (`type: "ingest"`,
/// needs write access). Engagements are likes + reposts + replies + clicks; the engagement
/// rate divides them by impressions where the platform reports impressions.
#[utoipa::path(
    tag = "social",
    request_body = AnalyticsRequest,
    responses(
        (status = 200, body = query::AnalyticsReport, description = "Query"),
        (status = 201, body = ingest::Ingested, description = "Ingest"),
        (status = 403), (status = 422)
    ),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[post("/api/analytics")]
pub async fn post_analytics(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    body: web::Json<AnalyticsRequest>,
) -> Result<HttpResponse, AppError> {
    match body.kind.as_deref().unwrap_or("query") {
        "query" => Ok(HttpResponse::Ok().json(query::run(&state, &who, &body).await?)),
        "ingest" => {
            who.require(crate::platform::auth::Permission::Write)?;
            Ok(HttpResponse::Created().json(ingest::run(&state, &who, &body).await?))
        }
        other => Err(AppError::validation(
            "type",
            "unknown",
            format!("`{other}` is not a request type; use `query` or `ingest`."),
        )),
    }
}
