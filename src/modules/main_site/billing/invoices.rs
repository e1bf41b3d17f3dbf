//! `invoice.payment_failed`: the subscription records the failure (and turns `past_due` unless
//! a newer event said otherwise), the workspace admins are e-mailed, and an event is recorded.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    stripe::{Event, Invoice},
    sync::{Change, Outcome, actor, find_workspace, upsert},
};
use crate::{
    error::AppError,
    modules::main_site::{
        money,
        notify::{self, PaymentFailedMail},
    },
    platform::events::{Event as DomainEvent, record_event},
    state::AppState,
};

/// Stores the failure on the workspace's subscription. A renewal of the subscription the
/// workspace holds moves it from `active`/`trialing` to `past_due` (as Stripe itself does)
/// through the same ordered upsert as subscription events, so an event newer than this one
/// keeps its state and a late, older one cannot undo it. Returns whether it turned `past_due`.
async fn record_failure(
    conn: &mut PgConnection,
    ws: Uuid,
    subscription: Option<&str>,
    at: DateTime<Utc>,
    stripe_event: &str,
) -> Result<bool, AppError> {
    type Held = (String, String, Option<String>, Option<String>, Option<DateTime<Utc>>, bool);
    let held: Option<Held> = sqlx::query_as(
        "update smartflow_shared.subscriptions set \
           last_payment_failed_at = greatest(last_payment_failed_at, $2), updated_at = now() \
         where workspace_id = $1 returning plan_id, status, stripe_customer_id, \
           stripe_subscription_id, current_period_end, cancel_at_period_end",
    )
    .bind(ws)
    .bind(at)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((plan_id, status, customer, held_subscription, period_end, cancel)) = held else {
        return Ok(false);
    };
    if !matches!(status.as_str(), "active" | "trialing")
        || held_subscription.is_none()
        || held_subscription.as_deref() != subscription
    {
        return Ok(false);
    }
    let change = Change {
        workspace: ws,
        plan_id: &plan_id,
        status: "past_due",
        customer: customer.as_deref(),
        subscription: held_subscription.as_deref(),
        period_end,
        cancel_at_period_end: Some(cancel),
        event_at: at,
    };
    upsert(conn, &change, stripe_event).await
}

pub(super) async fn payment_failed(
    conn: &mut PgConnection,
    state: &AppState,
    event: &Event,
    at: DateTime<Utc>,
    invoice: &Invoice,
) -> Result<Outcome, AppError> {
    let sub_id = invoice.subscription_id();
    let Some(ws) =
        find_workspace(&mut *conn, None, sub_id.as_deref(), invoice.customer.as_deref()).await?
    else {
        return Ok(Outcome::Ignored("no workspace matches the invoice".into()));
    };
    let turned = record_failure(&mut *conn, ws, sub_id.as_deref(), at, &event.id).await?;
    let (workspace_name, plan_id): (String, Option<String>) = sqlx::query_as(
        "select w.name, s.plan_id from smartflow_shared.workspaces w \
         left join smartflow_shared.subscriptions s on s.workspace_id = w.id where w.id = $1",
    )
    .bind(ws)
    .fetch_one(&mut *conn)
    .await?;
    let admins: Vec<String> = sqlx::query_scalar(
        "select u.email from smartflow_shared.memberships m join smartflow_main.users u on u.id = m.user_id \
         where m.workspace_id = $1 and m.role = 'admin' and u.disabled_at is null order by u.email",
    )
    .bind(ws)
    .fetch_all(&mut *conn)
    .await?;
    let plan_name = plan_id
        .as_deref()
        .and_then(|id| state.settings.billing.plans.iter().find(|p| p.id == id))
        .map_or_else(|| "paid".to_string(), |p| p.name.clone());
    let mail = PaymentFailedMail {
        site: &state.settings.app.name,
        plan: &plan_name,
        workspace: &workspace_name,
        amount: money::with_code(invoice.amount_due, &invoice.currency),
        next_attempt: invoice
            .next_payment_attempt
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .map(|t| t.format("%-d %B %Y").to_string()),
        invoice_url: invoice.hosted_invoice_url.clone(),
        billing_link: format!("{}/app/billing", state.settings.app.base_url.trim_end_matches('/')),
    };
    notify::payment_failed(&mut *conn, state, &admins, &mail).await?;
    let payload = json!({
        "invoice_id": invoice.id, "amount_due": invoice.amount_due, "currency": invoice.currency,
        "attempt_count": invoice.attempt_count, "notified": admins.len(), "stripe_event": event.id,
        "past_due": turned,
    });
    let domain = DomainEvent::new("billing.payment_failed", "workspace", ws, payload).workspace(ws);
    record_event(conn, &actor(), domain).await?;
    Ok(Outcome::Applied(ws))
}
