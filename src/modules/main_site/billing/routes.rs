//! `/api/billing/…`: a workspace's plan, Checkout and the Customer Portal. Only workspace admins
//! change billing.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::BillingStatus;
use crate::{
    error::AppError,
    platform::auth::{Authorized, ManageUsers, Read},
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// A plan id from `[billing.plans]` with a Stripe price, e.g. `pro`.
    pub plan_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RedirectSession {
    /// Stripe's session id (`cs_…` or `bps_…`).
    pub id: String,
    /// Send the browser here.
    pub url: String,
}

fn idempotency(req: &HttpRequest) -> Option<String> {
    req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// The plan in force for the caller's workspace and its subscription state.
#[utoipa::path(
    tag = "main",
    responses((status = 200, body = BillingStatus)),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[get("/api/billing/subscription")]
pub async fn get_billing_status(
    state: web::Data<AppState>,
    who: Authorized<Read>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(super::status(&state, who.workspace_id).await?))
}

/// Starts Stripe Checkout for a plan. Send the browser to `url`; the webhook records the
/// subscription when the payment succeeds. An `Idempotency-Key` header makes retries safe.
#[utoipa::path(
    tag = "main",
    request_body = CheckoutRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key open the same session")),
    responses(
        (status = 201, body = RedirectSession),
        (status = 409, description = "The workspace already pays; use the portal", body = crate::error::Problem),
        (status = 422, description = "Unknown or free plan", body = crate::error::Problem),
        (status = 502, description = "Stripe refused the request", body = crate::error::Problem),
        (status = 503, description = "Stripe is not configured or not reachable", body = crate::error::Problem)
    ),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[post("/api/billing/checkout")]
pub async fn create_checkout_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authorized<ManageUsers>,
    body: web::Json<CheckoutRequest>,
) -> Result<HttpResponse, AppError> {
    let session =
        super::start_checkout(&state, &who, body.plan_id.trim(), idempotency(&req).as_deref())
            .await?;
    let url = session.url.unwrap_or_default();
    Ok(HttpResponse::Created().json(RedirectSession { id: session.id, url }))
}

/// Opens the Stripe Customer Portal (change plan, card, invoices, cancel).
#[utoipa::path(
    tag = "main",
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key open the same session")),
    responses(
        (status = 201, body = RedirectSession),
        (status = 409, description = "No billing account yet", body = crate::error::Problem),
        (status = 503, description = "Stripe is not configured or not reachable", body = crate::error::Problem)
    ),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[post("/api/billing/portal")]
pub async fn create_portal_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Authorized<ManageUsers>,
) -> Result<HttpResponse, AppError> {
    let session = super::open_portal(&state, &who, idempotency(&req).as_deref()).await?;
    Ok(HttpResponse::Created().json(RedirectSession { id: session.id, url: session.url }))
}
