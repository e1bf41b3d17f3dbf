//! Refreshing tokens: outages at the token endpoint are temporary; a revoked grant flags the
//! account, e-mails its owner and emits `account.needs_reauth`.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use smartflow::modules::social::accounts::refresh::RefreshTokens;
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path},
};

use super::{enqueue, events, setup};

#[tokio::test]
async fn token_endpoint_outages_are_temporary_but_a_revoked_grant_needs_reauthorisation() {
    let s = setup().await;
    let soon = Some(Utc::now() + Duration::minutes(10));
    let id = super::account(
        &s.app,
        &s.owner,
        super::NewAccount {
            platform: "x",
            remote_id: "1",
            access: "old",
            refresh: Some("r-1"),
            expires_at: soon,
            instance_url: None,
        },
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream unavailable"))
        .mount(&s.fake)
        .await;
    enqueue(&s.app, &RefreshTokens {}).await;
    s.app.run_jobs().await;
    let (status, error): (String, Option<String>) = sqlx::query_as(
        "select status, last_error_code from smartflow_social.accounts where id = $1",
    )
    .bind(id)
    .fetch_one(&s.app.db)
    .await
    .unwrap();
    assert_eq!(status, "active", "a 503 from the token endpoint is temporary");
    assert_eq!(error.as_deref(), Some("transient"));
    let (job_state, wait): (String, f64) = sqlx::query_as(
        "select state, extract(epoch from run_at - now())::float8 from smartflow_shared.jobs \
         where kind = 'social.refresh_account'",
    )
    .fetch_one(&s.app.db)
    .await
    .unwrap();
    assert_eq!(job_state, "scheduled", "the refresh is retried later");
    assert!(wait > 0.0);

    s.fake.reset().await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({ "error": "invalid_grant", "error_description": "Value passed for the token was invalid." }),
        ))
        .mount(&s.fake)
        .await;
    sqlx::query(
        "update smartflow_shared.jobs set run_at = now() where kind = 'social.refresh_account'",
    )
    .execute(&s.app.db)
    .await
    .unwrap();
    s.app.run_jobs().await;
    let account: Value =
        s.app.get_as(&format!("/api/accounts/{id}"), &s.owner.token).await.json().await.unwrap();
    assert_eq!(account["status"], "needs_reauth");
    assert!(account["last_error"].as_str().unwrap().contains("reconnect"));
    let flagged = events(&s.app, "account.needs_reauth").await;
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0]["platform"], "x");
    // The owner was e-mailed (the mail job ran with the log transport).
    let mails: i64 = sqlx::query_scalar("select count(*) from smartflow_shared.jobs where kind = 'mail.send' and state = 'completed'")
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert_eq!(mails, 1);
    let status: Value = s
        .app
        .get_as(&format!("/api/accounts/{id}/status"), &s.owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["can_publish"], false);
    assert!(status["hint"].as_str().unwrap().contains("Reconnect"));
}

#[tokio::test]
async fn a_429_from_the_token_endpoint_is_temporary_and_waits_as_asked() {
    let s = setup().await;
    let id = super::account(
        &s.app,
        &s.owner,
        super::NewAccount {
            platform: "x",
            remote_id: "1",
            access: "old",
            refresh: Some("r-1"),
            expires_at: Some(Utc::now() + Duration::minutes(10)),
            instance_url: None,
        },
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "900")
                .set_body_json(json!({ "title": "Too Many Requests", "status": 429 })),
        )
        .mount(&s.fake)
        .await;
    enqueue(&s.app, &RefreshTokens {}).await;
    s.app.run_jobs().await;
    let (status, code): (String, Option<String>) = sqlx::query_as(
        "select status, last_error_code from smartflow_social.accounts where id = $1",
    )
    .bind(id)
    .fetch_one(&s.app.db)
    .await
    .unwrap();
    assert_eq!((status.as_str(), code.as_deref()), ("active", Some("rate_limited")));
    let (job_state, wait): (String, f64) = sqlx::query_as(
        "select state, extract(epoch from run_at - now())::float8 from smartflow_shared.jobs \
         where kind = 'social.refresh_account'",
    )
    .fetch_one(&s.app.db)
    .await
    .unwrap();
    assert_eq!(job_state, "scheduled");
    assert!((850.0..=901.0).contains(&wait), "retried after Retry-After: {wait}");
    assert!(events(&s.app, "account.needs_reauth").await.is_empty());
}

#[tokio::test]
async fn a_token_endpoint_that_keeps_failing_ends_the_post_with_a_hint() {
    let s = super::setup_with(|st| st.social.publishing.max_attempts = 3).await;
    let x = super::account(
        &s.app,
        &s.owner,
        super::NewAccount {
            platform: "x",
            remote_id: "2244994945",
            access: "stale",
            refresh: Some("r-1"),
            expires_at: Some(Utc::now() - Duration::minutes(1)),
            instance_url: None,
        },
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream unavailable"))
        .mount(&s.fake)
        .await;
    let (id, target) = super::due_post(&s, x, "Stuck behind the login service").await;
    for _ in 0..10 {
        s.app.run_jobs().await;
        if super::target_state(&s.app, &target).await == "failed" {
            break;
        }
        super::make_due(&s.app, &target).await;
    }
    assert_eq!(super::target_state(&s.app, &target).await, "failed");
    assert_eq!(
        super::received(&s.fake, "POST", "/2/oauth2/token").await.len(),
        3,
        "each failure at the token endpoint counts as an attempt"
    );
    assert!(super::received(&s.fake, "POST", "/2/tweets").await.is_empty());
    let post: Value =
        s.app.get_as(&format!("/api/posts/{id}"), &s.owner.token).await.json().await.unwrap();
    let t = &post["targets"][0];
    assert_eq!(
        (t["attempts"].as_i64(), t["last_error_class"].as_str()),
        (Some(3), Some("transient"))
    );
    assert!(t["hint"].as_str().unwrap().contains("could not renew its access"), "{t}");
    let (job,): (String,) = sqlx::query_as(
        "select state from smartflow_shared.jobs where unique_key = 'social.publish:' || $1",
    )
    .bind(&target)
    .fetch_one(&s.app.db)
    .await
    .unwrap();
    assert_eq!(job, "completed", "nothing left for the sweeper to re-queue");
}

#[tokio::test]
async fn owners_are_warned_before_a_token_that_cannot_be_refreshed_expires() {
    let s = setup().await;
    let li = super::account(
        &s.app,
        &s.owner,
        super::NewAccount {
            platform: "linkedin",
            remote_id: "urn:li:person:782bbtaQ",
            access: "li",
            refresh: None,
            expires_at: Some(Utc::now() + Duration::days(5)),
            instance_url: None,
        },
    )
    .await;
    // Refreshable tokens and far-away expiries are left alone.
    super::x_account(&s, "x").await;
    let later = super::account(
        &s.app,
        &s.owner,
        super::NewAccount {
            platform: "linkedin",
            remote_id: "urn:li:person:other",
            access: "li2",
            refresh: None,
            expires_at: Some(Utc::now() + Duration::days(40)),
            instance_url: None,
        },
    )
    .await;
    let after = (Utc::now() + Duration::days(6)).to_rfc3339();
    super::create_post(
        &s,
        json!({ "content": "After expiry", "targets": [li], "scheduled_at": after }),
    )
    .await;
    for _ in 0..2 {
        enqueue(&s.app, &RefreshTokens {}).await;
        s.app.run_jobs().await;
    }
    let warned = events(&s.app, "account.expiring").await;
    assert_eq!(warned.len(), 1, "once per expiry, not on every sweep: {warned:?}");
    assert_eq!(warned[0]["platform"], "linkedin");
    assert_eq!(warned[0]["scheduled_after_expiry"], 1);
    let mails: Vec<String> = sqlx::query_scalar(
        "select args->>'sealed' from smartflow_shared.jobs where kind = 'mail.send'",
    )
    .fetch_all(&s.app.db)
    .await
    .unwrap();
    assert_eq!(mails.len(), 1);
    let mail: Value =
        serde_json::from_str(&s.app.state.cipher.decrypt(&mails[0], "mail.send").unwrap()).unwrap();
    assert!(
        mail["subject"].as_str().unwrap().starts_with("Reconnect your LinkedIn account before"),
        "{mail}"
    );
    assert!(mail.to_string().contains("1 post(s) scheduled"), "{mail}");
    let account: Value =
        s.app.get_as(&format!("/api/accounts/{li}"), &s.owner.token).await.json().await.unwrap();
    assert_eq!(account["status"], "active", "warned, not flagged: it still works");
    let later: Option<chrono::DateTime<Utc>> =
        sqlx::query_scalar("select expiry_warned_for from smartflow_social.accounts where id = $1")
            .bind(later)
            .fetch_one(&s.app.db)
            .await
            .unwrap();
    assert_eq!(later, None, "40 days away: not yet");
}
