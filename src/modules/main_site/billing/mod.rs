//! Billing with Stripe: Checkout for a plan, the Customer Portal, and the webhook that keeps
//! `smartflow_shared.subscriptions` in step. Entitlements are read through `platform::plans`.

pub mod invoices;
pub mod pages;
pub mod routes;
pub mod stripe;
pub mod sync;
pub mod webhook;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use self::stripe::{CheckoutSession, Form, PortalSession, StripeClient};
use super::MainSite;
use crate::{
    error::AppError,
    platform::{
        auth::Principal,
        crypto::sha256_hex,
        events::{Event, record_event},
        plans,
    },
    state::AppState,
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub workspace_id: Uuid,
    pub plan_id: String,
    pub status: String,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub last_payment_failed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

pub async fn subscription(
    db: &sqlx::PgPool,
    workspace: Uuid,
) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(
        "select workspace_id, plan_id, status, stripe_customer_id, stripe_subscription_id, \
           current_period_end, cancel_at_period_end, last_payment_failed_at, updated_at \
         from smartflow_shared.subscriptions where workspace_id = $1",
    )
    .bind(workspace)
    .fetch_optional(db)
    .await
}

/// Subscription states in which a workspace already pays (a new checkout would double-bill).
const PAYING: [&str; 4] = ["active", "trialing", "past_due", "unpaid"];

/// The workspace's billing as its members see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BillingStatus {
    /// The plan in force (the default plan without an active subscription).
    pub plan_id: String,
    pub plan_name: String,
    /// Stripe's subscription status, when there is a subscription.
    pub status: Option<String>,
    pub current_period_end: Option<DateTime<Utc>>,
    /// The plan ends at `current_period_end` instead of renewing.
    pub cancel_at_period_end: bool,
    /// When Stripe last reported a failed payment (`invoice.payment_failed`).
    pub last_payment_failed_at: Option<DateTime<Utc>>,
    /// The Customer Portal is available (`POST /api/billing/portal`).
    pub has_billing_account: bool,
    /// Stripe is configured on this server.
    pub checkout_enabled: bool,
}

pub async fn status(state: &AppState, workspace: Uuid) -> Result<BillingStatus, AppError> {
    let plan = plans::plan_of(state, workspace).await?;
    let row = subscription(&state.db, workspace).await?;
    Ok(BillingStatus {
        plan_id: plan.id.clone(),
        plan_name: plan.name.clone(),
        status: row.as_ref().map(|r| r.status.clone()),
        current_period_end: row.as_ref().and_then(|r| r.current_period_end),
        cancel_at_period_end: row.as_ref().is_some_and(|r| r.cancel_at_period_end),
        last_payment_failed_at: row.as_ref().and_then(|r| r.last_payment_failed_at),
        has_billing_account: row.as_ref().is_some_and(|r| r.stripe_customer_id.is_some()),
        checkout_enabled: state.ext::<MainSite>().is_ok_and(|m| m.stripe.is_some()),
    })
}

fn client(state: &AppState) -> Result<&StripeClient, AppError> {
    state.ext::<MainSite>()?.stripe.as_ref().ok_or_else(|| {
        AppError::ServiceUnavailable(
            "Payments are not set up on this server (billing.stripe_secret_key is empty).".into(),
        )
    })
}

/// A per-operation idempotency key: the caller's `Idempotency-Key` (so its retries reach Stripe
/// as one request), or a fresh one. The parameters are part of it: the same caller key with
/// another plan is another Stripe request, not one Stripe refuses as a reuse.
fn idempotency_key(op: &str, workspace: Uuid, given: Option<&str>, params: &Form) -> String {
    match given.map(str::trim).filter(|k| !k.is_empty()) {
        Some(k) => {
            let request = sha256_hex(format!("{k}\n{}", params.encode()));
            format!("{op}:{workspace}:{}", &request[..32])
        }
        None => format!("{op}:{workspace}:{}", Uuid::new_v4().simple()),
    }
}

fn site_url(state: &AppState, path: &str) -> String {
    format!("{}{path}", state.settings.app.base_url.trim_end_matches('/'))
}

/// Opens a Stripe Checkout Session for `plan_id` in the caller's workspace.
pub async fn start_checkout(
    state: &AppState,
    who: &Principal,
    plan_id: &str,
    idempotency: Option<&str>,
) -> Result<CheckoutSession, AppError> {
    let plan = plans::find(state, plan_id).ok_or_else(|| {
        let ids: Vec<&str> = state.settings.billing.plans.iter().map(|p| p.id.as_str()).collect();
        AppError::validation(
            "plan_id",
            "unknown_plan",
            format!("Choose one of: {}.", ids.join(", ")),
        )
    })?;
    if plan.stripe_price_id.is_empty() {
        return Err(AppError::validation(
            "plan_id",
            "not_for_sale",
            format!("The {} plan needs no checkout; it is available without payment.", plan.name),
        ));
    }
    let stripe = client(state)?;
    let ws = who.workspace_id;
    let existing = subscription(&state.db, ws).await?;
    if let Some(row) = &existing
        && row.stripe_subscription_id.is_some()
        && PAYING.contains(&row.status.as_str())
    {
        return Err(AppError::Conflict(
            "This workspace already has a subscription; change plans in the billing portal \
             (POST /api/billing/portal)."
                .into(),
        ));
    }
    let customer = existing.and_then(|r| r.stripe_customer_id);
    let params = json!({
        "mode": "subscription",
        "line_items": [{ "price": plan.stripe_price_id, "quantity": 1 }],
        "client_reference_id": ws.to_string(),
        "customer": customer,
        "customer_email": if customer.is_none() { Some(who.email.clone()) } else { None },
        "metadata": { "workspace_id": ws.to_string(), "plan_id": plan.id },
        "subscription_data": { "metadata": { "workspace_id": ws.to_string(), "plan_id": plan.id } },
        "success_url": site_url(state, "/app/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}"),
        "cancel_url": site_url(state, "/app/billing?checkout=cancelled"),
        "allow_promotion_codes": true,
    });
    let form = Form::from_json(&params);
    let key = idempotency_key("checkout", ws, idempotency, &form);
    let session = stripe.create_checkout_session(&form, &key).await?;
    if session.url.is_none() {
        return Err(AppError::BadGateway(
            "Stripe returned a checkout session without a URL.".into(),
        ));
    }
    let mut tx = state.db.begin().await?;
    let payload = json!({ "plan_id": plan.id, "session_id": session.id });
    let event = Event::new("billing.checkout_started", "workspace", ws, payload).workspace(ws);
    record_event(&mut tx, &who.actor(), event).await?;
    tx.commit().await?;
    Ok(session)
}

/// Opens the Stripe Customer Portal for the caller's workspace.
pub async fn open_portal(
    state: &AppState,
    who: &Principal,
    idempotency: Option<&str>,
) -> Result<PortalSession, AppError> {
    let stripe = client(state)?;
    let ws = who.workspace_id;
    let customer =
        subscription(&state.db, ws).await?.and_then(|r| r.stripe_customer_id).ok_or_else(|| {
            AppError::Conflict(
                "This workspace has no billing account yet; choose a paid plan first.".into(),
            )
        })?;
    let return_url = site_url(state, "/app/billing");
    let mut form = Form::new();
    form.push("customer", &customer).push("return_url", &return_url);
    let key = idempotency_key("portal", ws, idempotency, &form);
    let session = stripe.create_portal_session(&form, &key).await?;
    let mut tx = state.db.begin().await?;
    let event = Event::new("billing.portal_opened", "workspace", ws, json!({})).workspace(ws);
    record_event(&mut tx, &who.actor(), event).await?;
    tx.commit().await?;
    Ok(session)
}
