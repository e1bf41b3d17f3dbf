//! The event spine end to end: events → dispatch job → signed webhooks, live notifications,
//! subscribers; webhook retries and auto-disable; job operations; SMTP delivery.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};
use smartflow::platform::{
    events::{EventSubscriber, StoredEvent},
    webhooks,
};
use tokio::sync::mpsc;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

use crate::helpers::{CacheKind, TestApp, assert_problem, spawn_app_with};

async fn app() -> TestApp {
    spawn_app_with(CacheKind::Redis, |s| {
        s.process.workers = false;
        s.process.cron = false;
        s.webhooks.allow_private_targets = true;
        s.webhooks.disable_after_failures = 2;
    })
    .await
}

async fn endpoint(app: &TestApp, token: &str, url: &str, types: Value) -> Value {
    let res = app
        .post_as(
            "/api/webhooks",
            token,
            &json!({ "url": url, "event_types": types, "description": "CRM" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// `t=<unix seconds>,v1=<hex>` split into its parts.
fn parse_signature(header: &str) -> (i64, String) {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse().ok(),
            Some(("v1", value)) => v1 = Some(value.to_string()),
            _ => {}
        }
    }
    (t.expect("t in the signature"), v1.expect("v1 in the signature"))
}

/// Hex HMAC-SHA256 of `"{t}.{raw body}"` keyed with the endpoint secret.
fn hmac_sha256_hex(secret: &str, t: i64, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn events_are_delivered_as_signed_webhooks() {
    let app = app().await;
    let admin = app.signup("hooks@example.com").await;
    let receiver = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let created = endpoint(
        &app,
        &admin.token,
        &format!("{}/hook", receiver.uri()),
        json!(["api_key.created"]),
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));

    app.post_as("/api/api-keys", &admin.token, &json!({ "name": "for-the-crm" })).await;
    // An event type the endpoint did not ask for is not delivered.
    app.send_as(
        Method::PATCH,
        &format!("/api/workspaces/{}", admin.workspace_id),
        &admin.token,
        Some(&json!({ "name": "Renamed" })),
    )
    .await;
    app.run_jobs().await;

    let received = receiver.received_requests().await.unwrap();
    assert_eq!(received.len(), 1, "one delivery, for api_key.created only");
    let req = &received[0];
    // Verified as README tells receivers to, independently of SmartFlow's own code.
    let sig = req.headers.get("smartflow-signature").unwrap().to_str().unwrap();
    let (t, v1) = parse_signature(sig);
    assert!((chrono::Utc::now().timestamp() - t).abs() <= 300, "t is now");
    assert_eq!(v1, hmac_sha256_hex(&secret, t, &req.body));
    let mut tampered = req.body.clone();
    tampered[0] = b' ';
    assert_ne!(v1, hmac_sha256_hex(&secret, t, &tampered), "a tampered body does not match");
    assert_ne!(v1, hmac_sha256_hex(&secret, t + 1, &req.body), "nor another timestamp");
    assert_eq!(req.headers.get("smartflow-event").unwrap(), "api_key.created");
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["type"], "api_key.created");
    assert_eq!(body["data"]["name"], "for-the-crm");
    assert_eq!(body["workspace_id"], admin.workspace_id.as_str());
    assert_eq!(
        body["delivery_id"],
        req.headers.get("smartflow-delivery").unwrap().to_str().unwrap()
    );

    let id = created["id"].as_str().unwrap();
    let log: Value = app
        .get_as(&format!("/api/webhooks/{id}/deliveries"), &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log[0]["succeeded"], true);
    assert_eq!(log[0]["status_code"], 200);
}

#[tokio::test]
async fn dispatching_an_event_twice_delivers_once_per_endpoint() {
    let app = app().await;
    let admin = app.signup("twice@example.com").await;
    let receiver = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let mut endpoints = Vec::new();
    for path in ["/a", "/b"] {
        let created = endpoint(
            &app,
            &admin.token,
            &format!("{}{path}", receiver.uri()),
            json!(["api_key.created"]),
        )
        .await;
        endpoints.push(created["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap());
    }
    app.post_as("/api/api-keys", &admin.token, &json!({ "name": "k" })).await;
    let event_id: i64 = sqlx::query_scalar(
        "select id from smartflow_shared.events where event_type = 'api_key.created'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    app.run_jobs().await;
    assert_eq!(receiver.received_requests().await.unwrap().len(), 2);

    // The dispatch ran and committed, but its completion was lost: it runs again.
    sqlx::query(
        "update smartflow_shared.jobs set state = 'available', run_at = now(), finished_at = null \
         where kind = 'events.dispatch' and (args->>'event_id')::int8 = $1",
    )
    .bind(event_id)
    .execute(&app.db)
    .await
    .unwrap();
    app.run_jobs().await;

    let deliveries: Vec<(String,)> = sqlx::query_as(
        "select args->>'delivery_id' from smartflow_shared.jobs where kind = 'webhooks.deliver'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(deliveries.len(), 2, "one delivery job per endpoint");
    let received = receiver.received_requests().await.unwrap();
    assert_eq!(received.len(), 2, "nothing was delivered twice");
    let mut expected: Vec<String> =
        endpoints.iter().map(|&e| webhooks::delivery_id(event_id, e).to_string()).collect();
    expected.sort();
    let mut sent: Vec<String> = received
        .iter()
        .map(|r| r.headers.get("smartflow-delivery").unwrap().to_str().unwrap().to_string())
        .collect();
    sent.sort();
    let mut queued: Vec<String> = deliveries.into_iter().map(|d| d.0).collect();
    queued.sort();
    assert_eq!(sent, expected, "delivery ids derive from the event and the endpoint");
    assert_eq!(queued, expected);

    // A delivery still pending for the same event and endpoint is not enqueued again.
    let event = smartflow::platform::events::load(&app.db, event_id).await.unwrap().unwrap();
    let mut conn = app.db.acquire().await.unwrap();
    sqlx::query("delete from smartflow_shared.jobs where kind = 'webhooks.deliver'")
        .execute(&mut *conn)
        .await
        .unwrap();
    let settings = &app.settings.webhooks;
    assert_eq!(webhooks::enqueue_deliveries(&mut conn, settings, &event).await.unwrap(), 2);
    assert_eq!(webhooks::enqueue_deliveries(&mut conn, settings, &event).await.unwrap(), 0);
}

#[tokio::test]
async fn failing_endpoints_are_retried_then_disabled() {
    let app = app().await;
    let admin = app.signup("flaky@example.com").await;
    let receiver = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&receiver)
        .await;
    let created = endpoint(&app, &admin.token, &receiver.uri(), json!(["*"])).await;
    let id = created["id"].as_str().unwrap();

    app.post_as("/api/api-keys", &admin.token, &json!({ "name": "k" })).await;
    app.run_jobs().await;
    let (state, attempt): (String, i32) = sqlx::query_as(
        "select state, attempt from smartflow_shared.jobs where kind = 'webhooks.deliver'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((state.as_str(), attempt), ("scheduled", 1), "retried later with backoff");

    // The backoff passes.
    sqlx::query("update smartflow_shared.jobs set run_at = now() where kind = 'webhooks.deliver'")
        .execute(&app.db)
        .await
        .unwrap();
    app.run_jobs().await;
    let ep: Value =
        app.get_as(&format!("/api/webhooks/{id}"), &admin.token).await.json().await.unwrap();
    assert_eq!(ep["enabled"], false);
    assert_eq!(ep["consecutive_failures"], 2);
    assert!(ep["disabled_reason"].as_str().unwrap().contains("2 failed deliveries"));
    let log: Value = app
        .get_as(&format!("/api/webhooks/{id}/deliveries"), &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log.as_array().unwrap().len(), 2);
    assert_eq!(log[0]["response_excerpt"], "boom");
    let disabled: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_shared.audit_log where action = 'webhook.disabled'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(disabled, 1);

    // Re-enabling clears the count.
    let res = app
        .send_as(
            Method::PATCH,
            &format!("/api/webhooks/{id}"),
            &admin.token,
            Some(&json!({ "enabled": true })),
        )
        .await;
    let ep: Value = res.json().await.unwrap();
    assert_eq!(
        (ep["enabled"].as_bool(), ep["consecutive_failures"].as_i64()),
        (Some(true), Some(0))
    );
}

#[tokio::test]
async fn deliveries_take_webhooks_max_attempts_and_their_own_schedule() {
    let app = spawn_app_with(CacheKind::Memory, |s| {
        s.process.workers = false;
        s.process.cron = false;
        s.webhooks.allow_private_targets = true;
        s.webhooks.max_attempts = 2;
        s.webhooks.disable_after_failures = 50;
    })
    .await;
    let admin = app.signup("attempts@example.com").await;
    let receiver = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&receiver)
        .await;
    endpoint(&app, &admin.token, &receiver.uri(), json!(["api_key.created"])).await;
    app.post_as("/api/api-keys", &admin.token, &json!({ "name": "k" })).await;
    app.run_jobs().await;

    let (state, attempt, max_attempts, later): (String, i32, i32, bool) = sqlx::query_as(
        "select state, attempt, max_attempts, run_at > now() + interval '5 seconds' \
         from smartflow_shared.jobs where kind = 'webhooks.deliver'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((state.as_str(), attempt, max_attempts), ("scheduled", 1, 2));
    assert!(later, "the webhook schedule waits ~10 s, not the default ~2 s");

    sqlx::query("update smartflow_shared.jobs set run_at = now() where kind = 'webhooks.deliver'")
        .execute(&app.db)
        .await
        .unwrap();
    app.run_jobs().await;
    let (state, attempt): (String, i32) = sqlx::query_as(
        "select state, attempt from smartflow_shared.jobs where kind = 'webhooks.deliver'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((state.as_str(), attempt), ("dead", 2), "gives up after webhooks.max_attempts");
    assert_eq!(receiver.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_private_target_is_refused_at_delivery_time() {
    // As in production: private targets are not allowed.
    let app = spawn_app_with(CacheKind::Memory, |s| {
        s.process.workers = false;
        s.process.cron = false;
    })
    .await;
    assert!(!app.settings.webhooks.allow_private_targets);
    let admin = app.signup("rebind@example.com").await;
    let receiver = MockServer::start().await;
    Mock::given(matchers::any()).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    // A row that bypassed the API's check (e.g. registered while private targets were allowed).
    let id = uuid::Uuid::new_v4();
    let sealed = app.state.cipher.encrypt("whsec_test", &webhooks::secret_context(id)).unwrap();
    sqlx::query(
        "insert into smartflow_shared.webhook_endpoints (id, workspace_id, url, event_types, secret_encrypted) \
         values ($1, $2::uuid, $3, array['*'], $4)",
    )
    .bind(id)
    .bind(&admin.workspace_id)
    .bind(format!("{}/hook", receiver.uri()))
    .bind(&sealed)
    .execute(&app.db)
    .await
    .unwrap();

    app.post_as("/api/api-keys", &admin.token, &json!({ "name": "k" })).await;
    app.run_jobs().await;

    assert!(receiver.received_requests().await.unwrap().is_empty(), "nothing was sent");
    let log: Value = app
        .get_as(&format!("/api/webhooks/{id}/deliveries"), &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(!log.as_array().unwrap().is_empty());
    for attempt in log.as_array().unwrap() {
        assert_eq!(attempt["succeeded"], false);
        let error = attempt["error"].as_str().unwrap();
        assert!(error.starts_with("refused target:") && error.contains("127.0.0.1"), "{error}");
    }
}

#[tokio::test]
async fn private_webhook_targets_are_refused() {
    let app = spawn_app_with(CacheKind::Memory, |s| s.process.workers = false).await;
    let admin = app.signup("ssrf@example.com").await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "http://localhost/x",
        "gopher://example.com",
    ] {
        let res = app
            .post_as("/api/webhooks", &admin.token, &json!({ "url": url, "event_types": ["*"] }))
            .await;
        let body = assert_problem(res, 422).await;
        assert_eq!(body["errors"][0]["field"], "url", "{url}");
    }
    let res = app
        .post_as(
            "/api/webhooks",
            &admin.token,
            &json!({ "url": "https://93.184.216.34/x", "event_types": ["Not An Event"] }),
        )
        .await;
    let body = assert_problem(res, 422).await;
    assert_eq!(body["errors"][0]["field"], "event_types.0");
}

struct Recorder(mpsc::UnboundedSender<String>);

#[async_trait]
impl EventSubscriber for Recorder {
    fn name(&self) -> &'static str {
        "test-recorder"
    }
    async fn on_event(
        &self,
        _: &smartflow::state::AppState,
        _: &mut sqlx::PgConnection,
        event: &StoredEvent,
    ) -> anyhow::Result<()> {
        let _ = self.0.send(event.kind.clone());
        Ok(())
    }
}

#[tokio::test]
async fn events_reach_subscribers_and_live_channels() {
    let app = app().await;
    let admin = app.signup("live@example.com").await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    app.state.subscribers.add(Arc::new(Recorder(tx)));
    let workspace: uuid::Uuid = admin.workspace_id.parse().unwrap();
    let mut live = app
        .state
        .cache
        .subscribe(&smartflow::platform::events::workspace_channel(workspace))
        .await
        .unwrap();

    app.post_as("/api/api-keys", &admin.token, &json!({ "name": "k" })).await;
    app.run_jobs().await;
    let mut seen = Vec::new();
    while let Ok(kind) = rx.try_recv() {
        seen.push(kind);
    }
    assert!(seen.contains(&"api_key.created".to_string()), "{seen:?}");
    let msg = loop {
        let m = tokio::time::timeout(Duration::from_secs(5), live.recv()).await.unwrap().unwrap();
        let v: Value = serde_json::from_str(&m).unwrap();
        if v["type"] == "api_key.created" {
            break v;
        }
    };
    assert_eq!(msg["workspace_id"], admin.workspace_id.as_str());
    let undispatched: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_shared.events where dispatched_at is null",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(undispatched, 0);
}

#[tokio::test]
async fn an_event_rolls_back_with_its_change() {
    let app = app().await;
    let mut tx = app.db.begin().await.unwrap();
    smartflow::platform::events::record_event(
        &mut tx,
        &smartflow::platform::events::Actor::system("test"),
        smartflow::platform::events::Event::new("thing.happened", "thing", 1, json!({})),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    let counts: (i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from smartflow_shared.events), (select count(*) from smartflow_shared.audit_log), \
         (select count(*) from smartflow_shared.jobs)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(counts, (0, 0, 0));
}

#[tokio::test]
async fn staff_list_retry_and_cancel_jobs() {
    let app = app().await;
    let staff = app.signup("staff@example.com").await;
    app.make_staff(&staff).await;
    app.signup("someone@example.com").await;
    // Sign-ups enqueue dispatch jobs; one is made dead, one stays available.
    let ids: Vec<i64> = sqlx::query_scalar("select id from smartflow_shared.jobs order by id")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(ids.len() >= 2);
    sqlx::query("update smartflow_shared.jobs set state = 'dead', attempt = max_attempts, last_error = 'boom' where id = $1")
        .bind(ids[0])
        .execute(&app.db)
        .await
        .unwrap();

    let page: Value = app.get_as("/api/jobs?state=dead", &staff.token).await.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["last_error"], "boom");
    let page: Value =
        app.get_as("/api/jobs?queue=events&limit=1", &staff.token).await.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_number());
    assert_problem(app.get_as("/api/jobs?state=bogus", &staff.token).await, 422).await;
    assert_problem(app.get_as("/api/jobs?limit=abc", &staff.token).await, 422).await;

    let res = app.post_as(&format!("/api/jobs/{}/retry", ids[0]), &staff.token, &json!({})).await;
    assert_eq!(res.status(), 200);
    let job: Value = res.json().await.unwrap();
    assert_eq!(job["state"], "available");
    assert!(job["max_attempts"].as_i64().unwrap() > job["attempt"].as_i64().unwrap());
    assert_problem(
        app.post_as(&format!("/api/jobs/{}/retry", ids[1]), &staff.token, &json!({})).await,
        409,
    )
    .await;

    let res = app.post_as(&format!("/api/jobs/{}/cancel", ids[1]), &staff.token, &json!({})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "cancelled");
    assert_problem(
        app.post_as(&format!("/api/jobs/{}/cancel", ids[1]), &staff.token, &json!({})).await,
        409,
    )
    .await;
    assert_problem(app.get_as("/api/jobs/999999", &staff.token).await, 404).await;
    assert_problem(app.get_as("/api/jobs/not-a-number", &staff.token).await, 404).await;
}

/// A minimal SMTP server: enough of RFC 5321 for one message, which it hands back.
async fn fake_smtp() -> (u16, tokio::sync::oneshot::Receiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut tx = Some(tx);
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
        let mut data = String::new();
        let mut in_data = false;
        while let Ok(Some(line)) = lines.next_line().await {
            if in_data {
                if line == "." {
                    in_data = false;
                    write.write_all(b"250 queued\r\n").await.unwrap();
                    // The client may keep the connection pooled: hand the message over now.
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(std::mem::take(&mut data));
                    }
                } else {
                    data.push_str(&line);
                    data.push('\n');
                }
                continue;
            }
            let cmd = line.to_ascii_uppercase();
            let reply: &[u8] = if cmd.starts_with("EHLO") {
                b"250-fake\r\n250 8BITMIME\r\n"
            } else if cmd.starts_with("DATA") {
                in_data = true;
                b"354 go ahead\r\n"
            } else if cmd.starts_with("QUIT") {
                write.write_all(b"221 bye\r\n").await.unwrap();
                break;
            } else {
                b"250 ok\r\n"
            };
            write.write_all(reply).await.unwrap();
        }
    });
    (port, rx)
}

#[tokio::test]
async fn smtp_transport_delivers_the_message() {
    let (port, received) = fake_smtp().await;
    let mut settings = crate::helpers::test_settings().mail;
    settings.transport = smartflow::config::MailTransport::Smtp;
    settings.smtp_host = "127.0.0.1".into();
    settings.smtp_port = port;
    settings.smtp_security = smartflow::config::SmtpSecurity::None;
    settings.from = "SmartFlow <no-reply@example.com>".into();
    let mailer = smartflow::platform::mail::from_settings(&settings).unwrap();
    let email = smartflow::platform::mail::OutgoingEmail::text(
        "ada@example.com",
        "Hello there",
        "The body.".into(),
    );
    mailer.send(&email).await.unwrap();
    let data = tokio::time::timeout(Duration::from_secs(10), received).await.unwrap().unwrap();
    assert!(data.contains("Subject: Hello there"), "{data}");
    assert!(data.contains("To: ada@example.com"));
    assert!(data.contains("The body."));
}

#[tokio::test]
async fn the_prune_job_removes_old_events_and_delivery_logs() {
    let app = app().await;
    let admin = app.signup("prune@example.com").await;
    // Subscribed to nothing that happens here: the only delivery attempts are the test's rows.
    let created =
        endpoint(&app, &admin.token, "http://127.0.0.1:9/hook", json!(["thing.happened"])).await;
    let endpoint_id: uuid::Uuid = created["id"].as_str().unwrap().parse().unwrap();
    app.run_jobs().await;
    // Ages: 100 days (past both retentions), 40 days (past the delivery log's 30 only), now.
    let mut kept_events = Vec::new();
    let mut gone_events = Vec::new();
    for (days, dispatched) in [(100, true), (100, false), (40, true), (0, true)] {
        let id: i64 = sqlx::query_scalar(
            "insert into smartflow_shared.events (event_type, workspace_id, subject_type, subject_id, created_at, dispatched_at) \
             values ('thing.happened', $1::uuid, 'thing', '1', now() - make_interval(days => $2), \
                     case when $3 then now() end) returning id",
        )
        .bind(&admin.workspace_id)
        .bind(days)
        .bind(dispatched)
        .fetch_one(&app.db)
        .await
        .unwrap();
        if days == 100 && dispatched { gone_events.push(id) } else { kept_events.push(id) }
    }
    for days in [100, 40, 0] {
        sqlx::query(
            "insert into smartflow_shared.webhook_deliveries (endpoint_id, event_id, delivery_id, event_type, attempt, succeeded, duration_ms, created_at) \
             values ($1, 1, gen_random_uuid(), 'thing.happened', 1, true, 5, now() - make_interval(days => $2))",
        )
        .bind(endpoint_id)
        .bind(days)
        .execute(&app.db)
        .await
        .unwrap();
    }

    let mut conn = app.db.acquire().await.unwrap();
    smartflow::platform::jobs::enqueue(&mut conn, &smartflow::platform::jobs::PruneJobs {})
        .await
        .unwrap()
        .unwrap();
    app.run_jobs().await;

    let events: Vec<i64> = sqlx::query_scalar(
        "select id from smartflow_shared.events where event_type = 'thing.happened' order by id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(events, kept_events, "dispatched events past events.retention_days are gone");
    assert!(gone_events.iter().all(|id| !events.contains(id)));
    let ages: Vec<i32> = sqlx::query_scalar(
        "select extract(day from now() - created_at)::int from smartflow_shared.webhook_deliveries order by created_at",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(ages, vec![0], "attempts past webhooks.delivery_log_retention_days are gone");
}
