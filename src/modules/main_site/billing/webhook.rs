//! `POST /api/webhooks/stripe`: Stripe's signed events. The signature (`Stripe-Signature`,
//! HMAC-SHA256 over `t.payload`, tolerance window, any of several `v1`) is checked on the raw
//! body before anything is parsed.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    stripe::Event,
    sync::{self, Outcome},
};
use crate::{
    error::AppError,
    platform::webhooks::signature::{self, SignatureError},
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct StripeWebhookAck {
    pub received: bool,
    /// The event was delivered before; nothing was done this time.
    pub duplicate: bool,
}

/// Receives Stripe's events: stores each once by its id and updates the workspace's
/// subscription (`checkout.session.completed`, `customer.subscription.created|updated|deleted`,
/// `invoice.payment_failed`, which also e-mails the workspace admins).
#[utoipa::path(
    tag = "main",
    request_body(content = Object, description = "A Stripe event, as Stripe sends it", content_type = "application/json"),
    params(("Stripe-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256>`")),
    responses(
        (status = 200, body = StripeWebhookAck),
        (status = 400, description = "Missing, malformed, stale or wrong signature, or not an event", body = crate::error::Problem),
        (status = 503, description = "No webhook secret configured", body = crate::error::Problem)
    )
)]
#[post("/api/webhooks/stripe")]
pub async fn stripe_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let secret = state.settings.billing.stripe_webhook_secret.get().ok_or_else(|| {
        AppError::ServiceUnavailable(
            "Stripe webhooks are not set up on this server (billing.stripe_webhook_secret is empty)."
                .into(),
        )
    })?;
    let header = req.headers().get("stripe-signature").and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    let tolerance = state.settings.webhooks.signature_tolerance_secs;
    if let Err(e) = signature::verify(header, secret.as_bytes(), &body, tolerance, now) {
        metrics::counter!("main_site_stripe_webhook_rejected_total").increment(1);
        let detail = match e {
            SignatureError::Missing => "The Stripe-Signature header is missing.".to_string(),
            SignatureError::Malformed => {
                "The Stripe-Signature header is malformed; expected `t=…,v1=…`.".to_string()
            }
            SignatureError::Stale => format!(
                "The signature's timestamp is more than {tolerance} s from now; the event may be replayed."
            ),
            SignatureError::Mismatch => {
                "No signature matches the payload and the endpoint's signing secret.".to_string()
            }
        };
        return Err(AppError::BadRequest(detail));
    }
    let raw: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("The body is not JSON: {e}")))?;
    let event: Event = serde_json::from_value(raw.clone())
        .map_err(|e| AppError::BadRequest(format!("The body is not a Stripe event: {e}")))?;
    let outcome = sync::apply(&state, &event, &raw).await?;
    metrics::counter!("main_site_stripe_events_total", "type" => event.kind.clone()).increment(1);
    Ok(HttpResponse::Ok()
        .json(StripeWebhookAck { received: true, duplicate: outcome == Outcome::Duplicate }))
}
