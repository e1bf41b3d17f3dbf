//! Rate limiting and the cache as the application uses them.

use std::time::Duration;

use smartflow::config::RateLimitGroup;

use crate::helpers::{CacheKind, assert_problem, header, spawn_app_with};

fn tight_api_limit(s: &mut smartflow::Settings) {
    s.rate_limit.groups = vec![RateLimitGroup {
        name: "api".into(),
        prefixes: vec!["/api/".into()],
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
