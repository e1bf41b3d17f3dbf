use serde_json::Value;
use sqlx::AssertSqlSafe;

use crate::helpers::{CacheKind, spawn_app, spawn_app_with};

#[tokio::test]
async fn health_is_healthy_with_database_and_redis() {
    let app = spawn_app().await;
    let res = app.get("/api/health").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["service"], "smartflow");
    assert!(body["version"].as_str().is_some());
    assert!(body["timestamp"].as_str().is_some());
    for check in ["database", "redis", "external_apis", "memory_usage", "cpu_usage"] {
        assert_eq!(body["checks"][check]["status"], "ok", "check {check}: {body}");
    }
    assert_eq!(body["checks"]["redis"]["backend"], "redis");
    assert!(body["checks"]["memory_usage"]["rss_mb"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn health_reports_the_in_memory_cache_when_redis_is_absent() {
    let app = spawn_app_with(CacheKind::Memory, |_| {}).await;
    let body: Value = app.get("/api/health").await.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["checks"]["redis"]["status"], "ok");
    assert_eq!(body["checks"]["redis"]["backend"], "memory");
}

#[tokio::test]
async fn health_is_503_when_the_database_goes_away() {
    let app = spawn_app().await;
    assert_eq!(app.get("/api/health").await.status(), 200);
    // Refuse new connections to the app's database and cut the existing ones.
    let admin =
        sqlx::PgPool::connect(&format!("{}/postgres", crate::helpers::server_url())).await.unwrap();
    let name = &app.db_name;
    sqlx::query(AssertSqlSafe(format!(r#"ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false"#)))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(name)
        .execute(&admin)
        .await
        .unwrap();

    let res = app.get("/api/health").await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["checks"]["database"]["status"], "error");
    assert_eq!(body["checks"]["redis"]["status"], "ok");
    assert_eq!(app.get("/health/ready").await.status(), 503);
    assert_eq!(app.get("/health/live").await.status(), 200);
    admin.close().await;
}

#[tokio::test]
async fn readiness_and_liveness() {
    let app = spawn_app().await;
    let live: Value = app.get("/health/live").await.json().await.unwrap();
    assert_eq!(live["status"], "alive");
    let res = app.get("/health/ready").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ready");
}

#[tokio::test]
async fn metrics_expose_the_seed_metrics() {
    let app = spawn_app().await;
    app.get("/api/health").await;
    app.signup("metrics@example.com").await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(crate::helpers::header(res.headers(), "content-type").starts_with("text/plain"));
    let text = res.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/api/health",status_code="200"}"#),
        "{text}"
    );
    // Every statement is timed, labelled with its operation and main table.
    assert!(
        text.lines().any(|l| l.starts_with("database_query_duration_seconds_count{")
            && l.contains(r#"operation="insert""#)
            && l.contains(r#"table="smartflow_main.users""#)),
        "{text}"
    );
    assert!(text.contains("process_resident_memory_bytes"));
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let app = spawn_app_with(CacheKind::Memory, |s| {
        s.metrics.bearer_token = smartflow::config::Secret::new("scrape-me");
    })
    .await;
    crate::helpers::assert_problem(app.get("/metrics").await, 401).await;
    let res = app.client.get(app.url("/metrics")).bearer_auth("scrape-me").send().await.unwrap();
    assert_eq!(res.status(), 200);
}
