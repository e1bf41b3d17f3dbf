//! Rate limiting and the cache as the application uses them.

use std::time::Duration;

use smartflow::config::RateLimitGroup;

use crate::helpers::{CacheKind, assert_problem, header, spawn_app_with};

fn tight_api_limit(s: &mut smartflow::Settings) {
    s.rate_limit.groups = vec![RateLimitGroup {
        name: "api".into(),
        prefixes: vec!["/api/".into()],
        methods: vec![],
        requests: 3,
        window_secs: 60,
    }];
}

async fn assert_rate_limited(cache: CacheKind) {
    let app = spawn_app_with(cache, tight_api_limit).await;
    for remaining in [2, 1, 0] {
        let res = app.get("/api/main/info").await;
        assert_ne!(res.status(), 429);
        assert_eq!(header(res.headers(), "ratelimit-limit"), "3");
        assert_eq!(header(res.headers(), "ratelimit-remaining"), remaining.to_string());
    }
    let res = app.get("/api/main/info").await;
    let retry_after: u64 = header(res.headers(), "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(header(res.headers(), "ratelimit-remaining"), "0");
    assert!(!header(res.headers(), "ratelimit-reset").is_empty());
    let body = assert_problem(res, 429).await;
    assert!(body["detail"].as_str().unwrap().contains("retry after"));
    // Exempt paths are never limited.
    assert_eq!(app.get("/api/health").await.status(), 200);
}

#[tokio::test]
async fn rate_limit_returns_429_with_headers_on_redis() {
    assert_rate_limited(CacheKind::Redis).await;
}

#[tokio::test]
async fn rate_limit_returns_429_with_headers_in_memory() {
    assert_rate_limited(CacheKind::Memory).await;
}

#[tokio::test]
async fn rate_limit_uses_the_seed_key_in_redis() {
    let app = spawn_app_with(CacheKind::Redis, tight_api_limit).await;
    app.get("/api/main/info").await;
    let client = deadpool_redis::redis::Client::open(crate::helpers::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}rate:api:ip:127.0.0.1", app.settings.redis.key_prefix);
    let count: u64 =
        deadpool_redis::redis::cmd("GET").arg(&key).query_async(&mut conn).await.unwrap();
    let ttl: i64 =
        deadpool_redis::redis::cmd("TTL").arg(&key).query_async(&mut conn).await.unwrap();
    assert_eq!(count, 1);
    assert!(ttl > 0 && ttl <= 60);
}

/// What is left of the caller's allowance after one more request.
async fn remaining(app: &crate::helpers::TestApp, auth: Option<(&str, &str)>) -> (u16, String) {
    let mut req = app.client.get(app.url("/api/billing/subscription"));
    if let Some((name, value)) = auth {
        req = req.header(name, value);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), header(res.headers(), "ratelimit-remaining"))
}

#[tokio::test]
async fn signed_in_callers_are_limited_as_themselves_not_by_their_shared_address() {
    let app = spawn_app_with(CacheKind::Redis, |s| {
        tight_api_limit(s);
        s.rate_limit.groups[0].requests = 5;
    })
    .await;
    // Two colleagues and an API key, all from 127.0.0.1. Signing up counts against the address.
    let ada = app.signup("ada@example.com").await;
    let bob = app.signup("bob@example.com").await;
    let created: serde_json::Value = app
        .post_as("/api/api-keys", &bob.token, &serde_json::json!({ "name": "crm" }))
        .await
        .json()
        .await
        .unwrap();
    let key = format!("Bearer {}", created["secret"].as_str().unwrap());
    let bob_bearer = format!("Bearer {}", bob.token);

    // Ada's session cookie spends her own allowance only.
    for left in ["4", "3", "2", "1", "0"] {
        assert_eq!(
            remaining(&app, Some(("cookie", &ada.session_cookie))).await,
            (200, left.into())
        );
    }
    assert_eq!(remaining(&app, Some(("cookie", &ada.session_cookie))).await.0, 429);
    // Bob's access token already made one request (the key); the key has its own bucket.
    assert_eq!(remaining(&app, Some(("authorization", &bob_bearer))).await, (200, "3".into()));
    assert_eq!(remaining(&app, Some(("authorization", &key))).await, (200, "4".into()));
    // Anonymous callers share the address' allowance (two sign-ups so far), and a forged
    // credential counts as anonymous.
    assert_eq!(remaining(&app, None).await, (401, "2".into()));
    let forged = ("authorization", "Bearer sf_aaaaaaaaaaaa_forged");
    assert_eq!(remaining(&app, Some(forged)).await, (401, "1".into()));
}

#[tokio::test]
async fn redis_pubsub_reaches_another_instance() {
    let a = spawn_app_with(CacheKind::Redis, |_| {}).await;
    let prefix = a.settings.redis.key_prefix.clone();
    let b = spawn_app_with(CacheKind::Redis, |s| s.redis.key_prefix = prefix).await;
    let mut sub = b.state.cache.subscribe("events:test").await.unwrap();
    a.state.cache.publish("events:test", "hello from a").await.unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), sub.recv()).await.unwrap().unwrap();
    assert_eq!(&*msg, "hello from a");
}
