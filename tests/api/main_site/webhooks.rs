//! `POST /api/webhooks/stripe`: signatures, exactly-once processing, subscription state.

use serde_json::{Value, json};
use smartflow::platform::webhooks::signature;
use wiremock::MockServer;

use super::{
    billing::billing_app,
    support::{count, outbox},
};
use crate::helpers::{TestApp, assert_problem};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn event(id: &str, kind: &str, created: i64, object: Value) -> Value {
    json!({
        "id": id, "object": "event", "api_version": "2024-06-20", "created": created,
        "livemode": false, "pending_webhooks": 1, "type": kind,
        "request": { "id": null, "idempotency_key": null },
        "data": { "object": object },
    })
}

async fn deliver_signed(app: &TestApp, body: &Value, secret: &[u8], t: i64) -> reqwest::Response {
    let bytes = serde_json::to_vec(body).unwrap();
    app.client
        .post(app.url("/api/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", signature::sign(secret, t, &bytes))
        .body(bytes)
        .send()
        .await
        .unwrap()
}

async fn deliver(app: &TestApp, body: &Value) -> Value {
    let res = deliver_signed(app, body, b"whsec_test", now()).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn checkout_completed(ws: &str) -> Value {
    json!({
        "id": "cs_test_1", "object": "checkout.session", "mode": "subscription", "status": "complete",
        "payment_status": "paid", "customer": "cus_1", "subscription": "sub_1",
        "client_reference_id": ws, "metadata": { "workspace_id": ws, "plan_id": "pro" },
    })
}

fn subscription(status: &str, price: &str, period_end: i64, cancel: bool) -> Value {
    json!({
        "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status,
        "cancel_at_period_end": cancel, "current_period_end": period_end,
        "items": { "object": "list", "data": [{ "id": "si_1", "price": { "id": price, "object": "price" } }] },
        "metadata": {},
    })
}

async fn row(app: &TestApp, ws: &str) -> (String, String, Option<String>, Option<String>, bool) {
    sqlx::query_as(
        "select plan_id, status, stripe_customer_id, stripe_subscription_id, cancel_at_period_end \
         from smartflow_shared.subscriptions where workspace_id = $1::uuid",
    )
    .bind(ws)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn bad_missing_or_stale_signatures_are_rejected() {
    let stripe = MockServer::start().await;
    let app = billing_app(&stripe).await;
    let admin = app.signup("owner@example.com").await;
    let body = event(
        "evt_sig",
        "checkout.session.completed",
        now(),
        checkout_completed(&admin.workspace_id),
    );

    let res = deliver_signed(&app, &body, b"whsec_wrong", now()).await;
    assert!(
        assert_problem(res, 400).await["detail"].as_str().unwrap().contains("No signature matches")
    );
    let res = deliver_signed(&app, &body, b"whsec_test", now() - 3_600).await;
    assert!(assert_problem(res, 400).await["detail"].as_str().unwrap().contains("300 s"));
    let res = app.post_json("/api/webhooks/stripe", &body).await;
    assert!(assert_problem(res, 400).await["detail"].as_str().unwrap().contains("missing"));
    let bytes = serde_json::to_vec(&body).unwrap();
    let tampered = {
        let mut b = bytes.clone();
        b.extend_from_slice(b" ");
        b
    };
    let res = app
        .client
        .post(app.url("/api/webhooks/stripe"))
        .header("stripe-signature", signature::sign(b"whsec_test", now(), &bytes))
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_problem(res, 400).await;
    // A rotated secret: Stripe sends one v1 per secret; any match will do.
    let good = signature::sign(b"whsec_test", now(), &bytes);
    let both = format!("{},v1={}", good.replace(",v1=", ",v1=00ff,v1="), "ab".repeat(32));
    let res = app
        .client
        .post(app.url("/api/webhooks/stripe"))
        .header("stripe-signature", both)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        count(&app, "select count(*) from smartflow_main.stripe_events").await,
        1,
        "only the valid one"
    );
}

#[tokio::test]
async fn a_replayed_event_is_processed_only_once() {
    let stripe = MockServer::start().await;
    let app = billing_app(&stripe).await;
    let admin = app.signup("owner@example.com").await;
    let ws = admin.workspace_id.clone();
    let body = event("evt_checkout", "checkout.session.completed", now(), checkout_completed(&ws));

    assert_eq!(deliver(&app, &body).await, json!({ "received": true, "duplicate": false }));
    assert_eq!(
        row(&app, &ws).await,
        ("pro".into(), "active".into(), Some("cus_1".into()), Some("sub_1".into()), false)
    );
    let status: Value =
        app.get_as("/api/billing/subscription", &admin.token).await.json().await.unwrap();
    assert_eq!(status["plan_id"], "pro", "the entitlement follows at once");

    // Stripe retries: the same event changes nothing and records nothing more.
    sqlx::query("update smartflow_shared.subscriptions set status = 'past_due'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(deliver(&app, &body).await, json!({ "received": true, "duplicate": true }));
    assert_eq!(row(&app, &ws).await.1, "past_due");
    assert_eq!(
        count(
            &app,
            "select count(*) from smartflow_shared.events where event_type = 'subscription.updated'"
        )
        .await,
        1
    );
    assert_eq!(count(&app, "select count(*) from smartflow_main.stripe_events").await, 1);
}

#[tokio::test]
async fn subscription_events_update_state_in_order_and_cancel() {
    let stripe = MockServer::start().await;
    let app = billing_app(&stripe).await;
    let admin = app.signup("owner@example.com").await;
    let ws = admin.workspace_id.clone();
    let t = now();
    deliver(&app, &event("evt_1", "checkout.session.completed", t - 100, checkout_completed(&ws)))
        .await;
    // The price decides the plan; the subscription is found by its id.
    let updated = event(
        "evt_2",
        "customer.subscription.updated",
        t - 50,
        subscription("past_due", "price_business", t + 86_400, true),
    );
    deliver(&app, &updated).await;
    assert_eq!(
        row(&app, &ws).await,
        ("business".into(), "past_due".into(), Some("cus_1".into()), Some("sub_1".into()), true)
    );
    let period: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("select current_period_end from smartflow_shared.subscriptions")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(period.unwrap().timestamp(), t + 86_400);

    // An older event arriving late does not undo a newer one.
    let stale = event(
        "evt_0",
        "customer.subscription.updated",
        t - 80,
        subscription("active", "price_starter", t, false),
    );
    deliver(&app, &stale).await;
    assert_eq!(row(&app, &ws).await.0, "business");
    let outcome: String =
        sqlx::query_scalar("select outcome from smartflow_main.stripe_events where id = 'evt_0'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(outcome.starts_with("ignored: a newer event"), "{outcome}");

    deliver(
        &app,
        &event(
            "evt_3",
            "customer.subscription.deleted",
            t,
            subscription("canceled", "price_business", t, false),
        ),
    )
    .await;
    assert_eq!(row(&app, &ws).await.1, "canceled");
    let status: Value =
        app.get_as("/api/billing/subscription", &admin.token).await.json().await.unwrap();
    assert_eq!(
        status["plan_id"], "free",
        "a cancelled subscription falls back to the default plan"
    );

    // Unknown types and unknown customers are acknowledged and kept, not retried forever.
    let other =
        event("evt_4", "customer.created", t, json!({ "id": "cus_9", "object": "customer" }));
    assert_eq!(deliver(&app, &other).await["duplicate"], false);
    let stray =
        json!({ "id": "sub_x", "customer": "cus_x", "status": "active", "items": { "data": [] } });
    deliver(&app, &event("evt_5", "customer.subscription.created", t, stray)).await;
    assert_eq!(
        count(
            &app,
            "select count(*) from smartflow_main.stripe_events where outcome like 'ignored%'"
        )
        .await,
        3
    );
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_shared.audit_log where action = 'subscription.updated' and workspace_id = $1::uuid and actor_label = 'system:stripe'",
    )
    .bind(&ws)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, 3);
}

#[tokio::test]
async fn a_failed_payment_emails_the_workspace_admins_once() {
    let stripe = MockServer::start().await;
    let app = billing_app(&stripe).await;
    let owner = app.signup("owner@example.com").await;
    app.member(&owner, "second-admin@example.com", "admin").await;
    app.member(&owner, "viewer@example.com", "viewer").await;
    deliver(
        &app,
        &event(
            "evt_c",
            "checkout.session.completed",
            now() - 10,
            checkout_completed(&owner.workspace_id),
        ),
    )
    .await;
    let invoice = json!({
        "id": "in_1", "object": "invoice", "customer": "cus_1", "subscription": "sub_1",
        "amount_due": 4900, "currency": "usd", "attempt_count": 1,
        "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1/test_1",
        "next_payment_attempt": 1_800_000_000,
    });
    let failed = event("evt_fail", "invoice.payment_failed", now(), invoice);
    deliver(&app, &failed).await;
    deliver(&app, &failed).await;

    let mail = outbox(&app).await;
    let to: Vec<&str> = mail.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(to, ["owner@example.com", "second-admin@example.com"], "admins only, once each");
    assert!(mail[0].subject.starts_with("Payment failed"));
    assert!(mail[0].text.contains("USD 49.00"));
    assert!(mail[0].text.contains("https://invoice.stripe.com/i/acct_1/test_1"));
    assert!(mail[0].text.contains("15 January 2027"), "{}", mail[0].text);
    assert_eq!(count(&app, "select count(*) from smartflow_shared.events where event_type = 'billing.payment_failed'").await, 1);
}

fn failed_invoice(subscription: &str) -> Value {
    json!({
        "id": "in_2", "object": "invoice", "customer": "cus_1", "subscription": subscription,
        "amount_due": 4900, "currency": "usd", "attempt_count": 1, "next_payment_attempt": null,
    })
}

async fn outcome(app: &TestApp, id: &str) -> String {
    sqlx::query_scalar("select outcome from smartflow_main.stripe_events where id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_failed_payment_makes_the_subscription_past_due_even_if_stripe_says_so_late() {
    let stripe = MockServer::start().await;
    let app = billing_app(&stripe).await;
    let admin = app.signup("owner@example.com").await;
    let ws = admin.workspace_id.clone();
    let t = now();
    deliver(&app, &event("evt_c", "checkout.session.completed", t - 100, checkout_completed(&ws)))
        .await;
    deliver(&app, &event("evt_f", "invoice.payment_failed", t - 10, failed_invoice("sub_1"))).await;
    assert_eq!(row(&app, &ws).await.1, "past_due");
    let status: Value =
        app.get_as("/api/billing/subscription", &admin.token).await.json().await.unwrap();
    assert_eq!(status["status"], "past_due");
    let failed_at =
        chrono::DateTime::parse_from_rfc3339(status["last_payment_failed_at"].as_str().unwrap())
            .unwrap();
    assert_eq!(failed_at.timestamp(), t - 10);
    let html = app
        .client
        .get(app.url("/app/billing"))
        .header("cookie", &admin.session_cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Your last payment failed on"), "the billing page warns");

    // An update Stripe sent before the failure, delivered after it, does not make it active.
    let earlier = subscription("active", "price_pro", t + 86_400, false);
    deliver(&app, &event("evt_u0", "customer.subscription.updated", t - 50, earlier)).await;
    assert_eq!(row(&app, &ws).await.1, "past_due");
    assert!(outcome(&app, "evt_u0").await.starts_with("ignored: a newer event"));
    // The card is fixed: Stripe's newer update wins, and the failure stays on record.
    let fixed = subscription("active", "price_pro", t + 86_400, false);
    deliver(&app, &event("evt_u1", "customer.subscription.updated", t, fixed)).await;
    assert_eq!(row(&app, &ws).await.1, "active");
    let status: Value =
        app.get_as("/api/billing/subscription", &admin.token).await.json().await.unwrap();
    assert!(status["last_payment_failed_at"].is_string());

    // A failed invoice of another (older) subscription records the date but not the status.
    deliver(&app, &event("evt_f2", "invoice.payment_failed", t + 5, failed_invoice("sub_old")))
        .await;
    assert_eq!(row(&app, &ws).await.1, "active");
}

#[tokio::test]
async fn a_late_checkout_event_is_reported_as_ignored_not_applied() {
    let stripe = MockServer::start().await;
    let app = billing_app(&stripe).await;
    let admin = app.signup("owner@example.com").await;
    let ws = admin.workspace_id.clone();
    let t = now();
    deliver(&app, &event("evt_c", "checkout.session.completed", t - 100, checkout_completed(&ws)))
        .await;
    let cancelled = subscription("canceled", "price_pro", t, false);
    deliver(&app, &event("evt_del", "customer.subscription.deleted", t, cancelled)).await;
    // Another completion, older than the cancellation, delivered after it.
    let checkout = event("evt_late", "checkout.session.completed", t - 60, checkout_completed(&ws));
    deliver(&app, &checkout).await;
    assert_eq!(row(&app, &ws).await.1, "canceled", "the older checkout changed nothing");
    let late = outcome(&app, "evt_late").await;
    assert!(late.starts_with("ignored: a newer event"), "{late}");
    let workspace: Option<uuid::Uuid> = sqlx::query_scalar(
        "select workspace_id from smartflow_main.stripe_events where id = 'evt_late'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(workspace, None);
}

#[tokio::test]
async fn without_a_signing_secret_the_endpoint_refuses() {
    let app = super::support::app().await;
    let res = app.post_json("/api/webhooks/stripe", &json!({})).await;
    assert!(
        assert_problem(res, 503).await["detail"]
            .as_str()
            .unwrap()
            .contains("stripe_webhook_secret")
    );
}
