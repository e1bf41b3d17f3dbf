//! Applies Stripe events to `smartflow_shared.subscriptions`, each event once: the event row
//! (keyed by Stripe's id), the subscription change, its audit event and any e-mail commit
//! together, so a redelivered event finds its row and changes nothing.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    invoices::payment_failed,
    stripe::{CheckoutSession, Event, Invoice, Subscription},
};
use crate::{
    error::AppError,
    platform::events::{Actor, Event as DomainEvent, record_event},
    state::AppState,
};

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied(Uuid),
    Ignored(String),
    /// Seen before: nothing was done this time.
    Duplicate,
}

pub async fn apply(state: &AppState, event: &Event, raw: &Value) -> Result<Outcome, AppError> {
    let created = DateTime::from_timestamp(event.created, 0).unwrap_or_else(Utc::now);
    let mut tx = state.db.begin().await?;
    let fresh: Option<String> = sqlx::query_scalar(
        "insert into smartflow_main.stripe_events (id, type, created, livemode, outcome, payload) \
         values ($1, $2, $3, $4, 'received', $5) on conflict (id) do nothing returning id",
    )
    .bind(&event.id)
    .bind(&event.kind)
    .bind(created)
    .bind(event.livemode)
    .bind(raw)
    .fetch_optional(&mut *tx)
    .await?;
    if fresh.is_none() {
        return Ok(Outcome::Duplicate);
    }
    let object = event.data.object.clone();
    // A signed event whose object does not parse will not parse on redelivery either: keep it
    // (with the reason) for an operator instead of failing until Stripe gives up.
    let unreadable =
        |e: serde_json::Error| Outcome::Ignored(format!("its object could not be read: {e}"));
    let outcome = match event.kind.as_str() {
        "checkout.session.completed" => match serde_json::from_value::<CheckoutSession>(object) {
            Ok(session) => checkout_completed(&mut tx, state, event, created, &session).await?,
            Err(e) => unreadable(e),
        },
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted" => match serde_json::from_value::<Subscription>(object) {
            Ok(sub) => subscription_changed(&mut tx, state, event, created, &sub).await?,
            Err(e) => unreadable(e),
        },
        "invoice.payment_failed" => match serde_json::from_value::<Invoice>(object) {
            Ok(invoice) => payment_failed(&mut tx, state, event, created, &invoice).await?,
            Err(e) => unreadable(e),
        },
        other => Outcome::Ignored(format!("`{other}` is not used")),
    };
    let (label, workspace) = match &outcome {
        Outcome::Applied(ws) => ("applied".to_string(), Some(*ws)),
        Outcome::Ignored(why) => (format!("ignored: {why}"), None),
        Outcome::Duplicate => ("duplicate".to_string(), None),
    };
    if let Outcome::Ignored(why) = &outcome {
        tracing::info!(event = %event.id, kind = %event.kind, why, "Stripe event ignored");
    }
    sqlx::query(
        "update smartflow_main.stripe_events set outcome = $2, workspace_id = $3 where id = $1",
    )
    .bind(&event.id)
    .bind(label)
    .bind(workspace)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

pub(super) fn actor() -> Actor {
    Actor::system("stripe")
}

async fn workspace_exists(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from smartflow_shared.workspaces where id = $1)")
        .bind(id)
        .fetch_one(conn)
        .await
}

/// The workspace named in `metadata` (set at checkout), else the one that holds the Stripe ids.
pub(super) async fn find_workspace(
    conn: &mut PgConnection,
    metadata_ws: Option<&String>,
    subscription: Option<&str>,
    customer: Option<&str>,
) -> Result<Option<Uuid>, sqlx::Error> {
    if let Some(id) = metadata_ws.and_then(|w| Uuid::parse_str(w).ok())
        && workspace_exists(&mut *conn, id).await?
    {
        return Ok(Some(id));
    }
    sqlx::query_scalar(
        "select workspace_id from smartflow_shared.subscriptions \
         where stripe_subscription_id = $1 or stripe_customer_id = $2 \
         order by (stripe_subscription_id = $1) desc nulls last limit 1",
    )
    .bind(subscription)
    .bind(customer)
    .fetch_optional(conn)
    .await
}

/// A subscription state to store, unless a newer event already did.
pub(super) struct Change<'a> {
    pub(super) workspace: Uuid,
    pub(super) plan_id: &'a str,
    pub(super) status: &'a str,
    pub(super) customer: Option<&'a str>,
    pub(super) subscription: Option<&'a str>,
    pub(super) period_end: Option<DateTime<Utc>>,
    pub(super) cancel_at_period_end: Option<bool>,
    pub(super) event_at: DateTime<Utc>,
}

/// Returns whether the change was applied (false: an event newer than this one was already).
pub(super) async fn upsert(
    conn: &mut PgConnection,
    c: &Change<'_>,
    stripe_event: &str,
) -> Result<bool, AppError> {
    let applied: bool = sqlx::query_scalar(
        "insert into smartflow_shared.subscriptions as s (workspace_id, plan_id, status, stripe_customer_id, \
           stripe_subscription_id, current_period_end, cancel_at_period_end, last_event_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, coalesce($7, false), $8, now()) \
         on conflict (workspace_id) do update set \
           stripe_customer_id = coalesce(excluded.stripe_customer_id, s.stripe_customer_id), \
           stripe_subscription_id = case when s.last_event_at is null or s.last_event_at <= $8 \
             then coalesce(excluded.stripe_subscription_id, s.stripe_subscription_id) else s.stripe_subscription_id end, \
           plan_id = case when s.last_event_at is null or s.last_event_at <= $8 then excluded.plan_id else s.plan_id end, \
           status = case when s.last_event_at is null or s.last_event_at <= $8 then excluded.status else s.status end, \
           current_period_end = case when s.last_event_at is null or s.last_event_at <= $8 \
             then coalesce($6, s.current_period_end) else s.current_period_end end, \
           cancel_at_period_end = case when s.last_event_at is null or s.last_event_at <= $8 \
             then coalesce($7, s.cancel_at_period_end) else s.cancel_at_period_end end, \
           last_event_at = greatest(s.last_event_at, $8), updated_at = now() \
         returning last_event_at = $8",
    )
    .bind(c.workspace)
    .bind(c.plan_id)
    .bind(c.status)
    .bind(c.customer)
    .bind(c.subscription)
    .bind(c.period_end)
    .bind(c.cancel_at_period_end)
    .bind(c.event_at)
    .fetch_one(&mut *conn)
    .await?;
    if applied {
        let payload = json!({
            "plan_id": c.plan_id, "status": c.status, "current_period_end": c.period_end,
            "cancel_at_period_end": c.cancel_at_period_end, "stripe_event": stripe_event,
        });
        let event = DomainEvent::new("subscription.updated", "workspace", c.workspace, payload)
            .workspace(c.workspace);
        record_event(conn, &actor(), event).await?;
    }
    Ok(applied)
}

fn known_plan(state: &AppState, id: Option<&String>) -> Option<String> {
    id.filter(|p| state.settings.billing.plans.iter().any(|plan| &plan.id == *p)).cloned()
}

async fn checkout_completed(
    conn: &mut PgConnection,
    state: &AppState,
    event: &Event,
    at: DateTime<Utc>,
    session: &CheckoutSession,
) -> Result<Outcome, AppError> {
    if session.mode.as_deref() != Some("subscription") {
        return Ok(Outcome::Ignored("not a subscription checkout".into()));
    }
    let named = session.client_reference_id.as_ref().or(session.metadata.get("workspace_id"));
    let Some(ws) = find_workspace(
        &mut *conn,
        named,
        session.subscription.as_deref(),
        session.customer.as_deref(),
    )
    .await?
    else {
        return Ok(Outcome::Ignored("no workspace matches the session".into()));
    };
    let Some(plan) = known_plan(state, session.metadata.get("plan_id")) else {
        return Ok(Outcome::Ignored("the session names no configured plan".into()));
    };
    let status = match session.payment_status.as_deref() {
        Some("paid" | "no_payment_required") => "active",
        _ => "incomplete",
    };
    let change = Change {
        workspace: ws,
        plan_id: &plan,
        status,
        customer: session.customer.as_deref(),
        subscription: session.subscription.as_deref(),
        period_end: None,
        cancel_at_period_end: None,
        event_at: at,
    };
    Ok(applied_or_stale(upsert(conn, &change, &event.id).await?, ws))
}

fn applied_or_stale(applied: bool, ws: Uuid) -> Outcome {
    if applied {
        Outcome::Applied(ws)
    } else {
        Outcome::Ignored("a newer event already updated the subscription".into())
    }
}

async fn subscription_changed(
    conn: &mut PgConnection,
    state: &AppState,
    event: &Event,
    at: DateTime<Utc>,
    sub: &Subscription,
) -> Result<Outcome, AppError> {
    let Some(ws) = find_workspace(
        &mut *conn,
        sub.metadata.get("workspace_id"),
        Some(&sub.id),
        sub.customer.as_deref(),
    )
    .await?
    else {
        return Ok(Outcome::Ignored("no workspace matches the subscription".into()));
    };
    let current: Option<(String, Option<String>)> = sqlx::query_as(
        "select plan_id, stripe_subscription_id from smartflow_shared.subscriptions \
         where workspace_id = $1 for update",
    )
    .bind(ws)
    .fetch_optional(&mut *conn)
    .await?;
    let deleted = event.kind == "customer.subscription.deleted";
    if deleted
        && let Some(other) = current.as_ref().and_then(|r| r.1.as_deref())
        && other != sub.id
    {
        return Ok(Outcome::Ignored("an earlier subscription of the workspace ended".into()));
    }
    // The plan follows the price; metadata and the stored plan are fallbacks.
    let by_price = state.settings.billing.plans.iter().find(|p| {
        !p.stripe_price_id.is_empty() && sub.price_ids().any(|id| id == p.stripe_price_id)
    });
    let plan = by_price
        .map(|p| p.id.clone())
        .or_else(|| known_plan(state, sub.metadata.get("plan_id")))
        .or_else(|| current.as_ref().map(|r| r.0.clone()));
    let Some(plan) = plan else {
        return Ok(Outcome::Ignored("the subscription's price is not one of billing.plans".into()));
    };
    let status = if deleted { "canceled" } else { sub.status.as_str() };
    let change = Change {
        workspace: ws,
        plan_id: &plan,
        status,
        customer: sub.customer.as_deref(),
        subscription: Some(&sub.id),
        period_end: sub.period_end().and_then(|t| DateTime::from_timestamp(t, 0)),
        cancel_at_period_end: Some(sub.cancel_at_period_end),
        event_at: at,
    };
    Ok(applied_or_stale(upsert(conn, &change, &event.id).await?, ws))
}
