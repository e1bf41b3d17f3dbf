//! Checkout and the Customer Portal against a local fake of Stripe's API, which answers in
//! Stripe's documented shapes (objects, lists, and its error object).

use std::collections::HashMap;

use serde_json::{Value, json};
use smartflow::config::Secret;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

use super::support::{app_with, fields};
use crate::helpers::{TestApp, assert_problem};

pub async fn billing_app(stripe: &MockServer) -> TestApp {
    let base = stripe.uri();
    app_with(move |s| {
        s.billing.stripe_secret_key = Secret::new("sk_test_123");
        s.billing.stripe_webhook_secret = Secret::new("whsec_test");
        s.billing.stripe_api_base = base;
        for plan in &mut s.billing.plans {
            if plan.price_cents > 0 {
                plan.stripe_price_id = format!("price_{}", plan.id);
            }
        }
    })
    .await
}

fn session(id: &str) -> Value {
    json!({
        "id": id,
        "object": "checkout.session",
        "url": format!("https://checkout.stripe.com/c/pay/{id}"),
        "mode": "subscription",
        "status": "open",
        "payment_status": "unpaid",
        "customer": null,
        "subscription": null,
        "livemode": false,
    })
}

fn form_of(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

#[tokio::test]
async fn checkout_sends_stripe_the_right_form() {
    let stripe = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/checkout/sessions"))
        .and(matchers::header("authorization", "Bearer sk_test_123"))
        .and(matchers::header("stripe-version", "2024-06-20"))
        .and(matchers::header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(ResponseTemplate::new(200).set_body_json(session("cs_test_a1")))
        .mount(&stripe)
        .await;
    let app = billing_app(&stripe).await;
    let admin = app.signup("owner@example.com").await;

    let send = |key: &'static str| {
        app.client
            .post(app.url("/api/billing/checkout"))
            .bearer_auth(&admin.token)
            .header("idempotency-key", key)
            .json(&json!({ "plan_id": "pro" }))
            .send()
    };
    let res = send("order-1").await.unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "id": "cs_test_a1", "url": "https://checkout.stripe.com/c/pay/cs_test_a1" })
    );

    let requests = stripe.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let form = form_of(&requests[0].body);
    let ws = admin.workspace_id.as_str();
    assert_eq!(form["mode"], "subscription");
    assert_eq!(form["line_items[0][price]"], "price_pro");
    assert_eq!(form["line_items[0][quantity]"], "1");
    assert_eq!(form["client_reference_id"], ws);
    assert_eq!(form["customer_email"], "owner@example.com");
    assert!(!form.contains_key("customer"), "no customer yet: Checkout creates one");
    assert_eq!(form["metadata[workspace_id]"], ws);
    assert_eq!(form["metadata[plan_id]"], "pro");
    assert_eq!(form["subscription_data[metadata][workspace_id]"], ws);
    assert_eq!(form["subscription_data[metadata][plan_id]"], "pro");
    assert!(
        form["success_url"]
            .ends_with("/app/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}")
    );
    assert!(form["cancel_url"].ends_with("/app/billing?checkout=cancelled"));
    let raw = String::from_utf8(requests[0].body.clone()).unwrap();
    assert!(
        raw.contains("line_items%5B0%5D%5Bprice%5D=price_pro"),
        "nested keys are form-encoded: {raw}"
    );

    // The caller's Idempotency-Key maps to one Stripe key; another key to another; and the same
    // key with another plan is another request, so Stripe does not refuse it as a reuse.
    send("order-1").await.unwrap();
    send("order-2").await.unwrap();
    let other_plan = app
        .client
        .post(app.url("/api/billing/checkout"))
        .bearer_auth(&admin.token)
        .header("idempotency-key", "order-1")
        .json(&json!({ "plan_id": "business" }))
        .send()
        .await
        .unwrap();
    assert_eq!(other_plan.status(), 201);
    let keys: Vec<String> = stripe
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.headers.get("idempotency-key").unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(keys[0], keys[1]);
    assert_ne!(keys[0], keys[2]);
    assert_ne!(keys[0], keys[3], "the parameters are part of the key");
    assert!(keys[0].starts_with(&format!("checkout:{ws}:")));
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_shared.audit_log where action = 'billing.checkout_started' and workspace_id = $1::uuid",
    )
    .bind(ws)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, 4);
}

#[tokio::test]
async fn a_reused_idempotency_key_is_a_conflict_not_a_gateway_error() {
    let stripe = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/checkout/sessions"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": {
                "type": "idempotency_error",
                "message": "Keys for idempotent requests can only be used with the same parameters they were first used with."
            }
        })))
        .mount(&stripe)
        .await;
    let app = billing_app(&stripe).await;
    let admin = app.signup("owner@example.com").await;
    let res =
        app.post_as("/api/billing/checkout", &admin.token, &json!({ "plan_id": "pro" })).await;
    let problem = assert_problem(res, 409).await;
    assert!(problem["detail"].as_str().unwrap().contains("Idempotency-Key"), "{problem}");
    assert_eq!(stripe.received_requests().await.unwrap().len(), 1, "not retried");
}

#[tokio::test]
async fn a_slow_stripe_gets_one_time_budget_not_one_per_attempt() {
    let stripe = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/checkout/sessions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(session("cs_test_slow"))
                .set_delay(std::time::Duration::from_secs(5)),
        )
        .mount(&stripe)
        .await;
    let base = stripe.uri();
    let app = app_with(move |s| {
        s.billing.stripe_secret_key = Secret::new("sk_test_123");
        s.billing.stripe_api_base = base;
        s.billing.stripe_timeout_ms = 300;
        s.billing.plans[2].stripe_price_id = "price_pro".into();
    })
    .await;
    let admin = app.signup("owner@example.com").await;
    let res =
        app.post_as("/api/billing/checkout", &admin.token, &json!({ "plan_id": "pro" })).await;
    assert_problem(res, 503).await;
    // The timed-out attempt used the whole budget, so there was no time left for a retry.
    assert_eq!(stripe.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn stripe_errors_are_parsed_and_transient_ones_retried_with_the_same_key() {
    let stripe = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/checkout/sessions"))
        .and(matchers::body_string_contains("price_business"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "param": "line_items[0][price]",
                "message": "No such price: 'price_business'",
                "doc_url": "https://stripe.com/docs/error-codes/resource-missing"
            }
        })))
        .mount(&stripe)
        .await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/checkout/sessions"))
        .and(matchers::body_string_contains("price_starter"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "error": { "type": "api_error", "message": "Something went wrong on Stripe's end." }
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&stripe)
        .await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/checkout/sessions"))
        .and(matchers::body_string_contains("price_starter"))
        .respond_with(ResponseTemplate::new(200).set_body_json(session("cs_test_retry")))
        .with_priority(2)
        .mount(&stripe)
        .await;
    let app = billing_app(&stripe).await;
    let admin = app.signup("owner@example.com").await;

    let res =
        app.post_as("/api/billing/checkout", &admin.token, &json!({ "plan_id": "business" })).await;
    let problem = assert_problem(res, 502).await;
    assert_eq!(problem["detail"], "Stripe refused the request: No such price: 'price_business'");
    assert_eq!(stripe.received_requests().await.unwrap().len(), 1, "a 400 is not retried");

    let res =
        app.post_as("/api/billing/checkout", &admin.token, &json!({ "plan_id": "starter" })).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.json::<Value>().await.unwrap()["id"], "cs_test_retry");
    let starter: Vec<String> = stripe
        .received_requests()
        .await
        .unwrap()
        .iter()
        .skip(1)
        .map(|r| r.headers.get("idempotency-key").unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(starter.len(), 2, "the 500 was retried once");
    assert_eq!(starter[0], starter[1], "with the same idempotency key");
}

#[tokio::test]
async fn a_rejected_api_key_is_reported_as_a_configuration_problem() {
    let stripe = MockServer::start().await;
    Mock::given(matchers::any())
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": { "type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_***123" }
        })))
        .mount(&stripe)
        .await;
    let app = billing_app(&stripe).await;
    let admin = app.signup("owner@example.com").await;
    let problem = assert_problem(
        app.post_as("/api/billing/checkout", &admin.token, &json!({ "plan_id": "pro" })).await,
        503,
    )
    .await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("billing.stripe_secret_key") && !detail.contains("sk_test"),
        "{detail}"
    );
}

#[tokio::test]
async fn checkout_checks_the_plan_the_role_and_the_configuration() {
    let stripe = MockServer::start().await;
    let app = billing_app(&stripe).await;
    let admin = app.signup("owner@example.com").await;
    let res =
        app.post_as("/api/billing/checkout", &admin.token, &json!({ "plan_id": "gold" })).await;
    let problem = assert_problem(res, 422).await;
    assert_eq!(fields(&problem), ["plan_id"]);
    assert!(
        problem["errors"][0]["message"].as_str().unwrap().contains("free, starter, pro, business")
    );
    let res =
        app.post_as("/api/billing/checkout", &admin.token, &json!({ "plan_id": "free" })).await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["code"], "not_for_sale");
    let member = app.member(&admin, "member@example.com", "user").await;
    assert_problem(
        app.post_as("/api/billing/checkout", &member.token, &json!({ "plan_id": "pro" })).await,
        403,
    )
    .await;
    assert_problem(app.post_as("/api/billing/portal", &admin.token, &json!({})).await, 409).await;
    assert!(stripe.received_requests().await.unwrap().is_empty());

    let status: Value =
        app.get_as("/api/billing/subscription", &member.token).await.json().await.unwrap();
    assert_eq!(status["plan_id"], "free");
    assert_eq!(status["checkout_enabled"], true);
    assert_eq!(status["has_billing_account"], false);

    // A plan with a price, but no Stripe key on this server.
    let unconfigured = app_with(|s| s.billing.plans[2].stripe_price_id = "price_pro".into()).await;
    let admin = unconfigured.signup("owner@example.com").await;
    let res = unconfigured
        .post_as("/api/billing/checkout", &admin.token, &json!({ "plan_id": "pro" }))
        .await;
    let problem = assert_problem(res, 503).await;
    assert!(problem["detail"].as_str().unwrap().contains("billing.stripe_secret_key"));
    let health: Value = unconfigured.get("/api/health").await.json().await.unwrap();
    assert_eq!(health["checks"]["external_apis"]["apis"]["stripe"], "not_configured");
}

#[tokio::test]
async fn the_portal_opens_for_a_workspace_with_a_stripe_customer() {
    let stripe = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/billing_portal/sessions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "bps_123", "object": "billing_portal.session", "customer": "cus_42",
            "url": "https://billing.stripe.com/p/session/test_123", "livemode": false
        })))
        .mount(&stripe)
        .await;
    let app = billing_app(&stripe).await;
    let admin = app.signup("owner@example.com").await;
    sqlx::query(
        "insert into smartflow_shared.subscriptions (workspace_id, plan_id, status, stripe_customer_id, stripe_subscription_id) \
         values ($1::uuid, 'pro', 'active', 'cus_42', 'sub_42')",
    )
    .bind(&admin.workspace_id)
    .execute(&app.db)
    .await
    .unwrap();
    let res = app.post_as("/api/billing/portal", &admin.token, &json!({})).await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.json::<Value>().await.unwrap()["url"],
        "https://billing.stripe.com/p/session/test_123"
    );
    let form = form_of(&stripe.received_requests().await.unwrap()[0].body);
    assert_eq!(form["customer"], "cus_42");
    assert!(form["return_url"].ends_with("/app/billing"));

    // A paying workspace changes plans in the portal, not through a second checkout.
    let res =
        app.post_as("/api/billing/checkout", &admin.token, &json!({ "plan_id": "business" })).await;
    assert!(assert_problem(res, 409).await["detail"].as_str().unwrap().contains("billing portal"));
    let status: Value =
        app.get_as("/api/billing/subscription", &admin.token).await.json().await.unwrap();
    assert_eq!(
        (status["plan_id"].as_str(), status["has_billing_account"].as_bool()),
        (Some("pro"), Some(true))
    );
}
