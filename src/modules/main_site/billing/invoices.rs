//! `invoice.payment_failed`: the subscription records the failure (and turns `past_due` unless
//! a newer event said otherwise), the workspace admins are e-mailed, and an event is recorded.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    stripe::{Event, Invoice},
    sync::{Outcome, actor, find_workspace},
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
/// unless an event newer than this one already set its state; the clock then advances, so a
/// late, older `customer.subscription.updated` cannot undo it. Returns the status it set.
async fn record_failure(
    conn: &mut PgConnection,
    ws: Uuid,
    subscription: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Option<String>, sqlx::Error> {
    let turns: Option<bool> = sqlx::query_scalar(
        "select coalesce(status in ('active', 'trialing') and stripe_subscription_id = $2 \
           and (last_event_at is null or last_event_at <= $3), false) \
         from smartflow_shared.subscriptions where workspace_id = $1 for update",
    )
    .bind(ws)
    .bind(subscription)
    .bind(at)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(turns) = turns else { return Ok(None) };
    sqlx::query(
        "update smartflow_shared.subscriptions set \
           last_payment_failed_at = greatest(last_payment_failed_at, $2), \
           status = case when $3 then 'past_due' else status end, \
           last_event_at = case when $3 then greatest(last_event_at, $2) else last_event_at end, \
           updated_at = now() \
         where workspace_id = $1",
    )
    .bind(ws)
    .bind(at)
    .bind(turns)
    .execute(conn)
    .await?;
    Ok(turns.then(|| "past_due".to_string()))
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
    let turned = record_failure(&mut *conn, ws, sub_id.as_deref(), at).await?;
    let (workspace_name, plan_id): (String, Option<String>) = sqlx::query_as(
        "select w.name, s.plan_id from smartflow_shared.workspaces w \
         left join smartflow_shared.subscriptions s on s.workspace_id = w.id where w.id = $1",
    )
    .bind(ws)
    .fetch_one(&mut *conn)
    .await?;
    if let Some(status) = &turned {
        let payload = json!({ "plan_id": plan_id, "status": status, "stripe_event": event.id });
        let domain =
            DomainEvent::new("subscription.updated", "workspace", ws, payload).workspace(ws);
        record_event(&mut *conn, &actor(), domain).await?;
    }
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
        "past_due": turned.is_some(),
    });
    let domain = DomainEvent::new("billing.payment_failed", "workspace", ws, payload).workspace(ws);
    record_event(conn, &actor(), domain).await?;
    Ok(Outcome::Applied(ws))
}
