//! Request bodies over `server.body_limit_bytes` and gzip-compressed responses.

use std::io::Read;

use serde_json::Value;

use crate::helpers::{CacheKind, assert_problem, header, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_body_over_the_configured_limit_is_a_problem_413_naming_the_limit() {
    let app = spawn_app_with(CacheKind::Memory, |s| s.server.body_limit_bytes = 1024).await;
    let padding = "x".repeat(2048);
    let body = format!(r#"{{"email":"a@example.com","password":"{padding}"}}"#);

    // Announced by Content-Length.
    let res = app.post_raw("/api/auth/login", "application/json", body.clone()).await;
    let problem = assert_problem(res, 413).await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("limit is 1024 bytes"), "{detail}");
    assert!(detail.contains(&format!("{} bytes", body.len())), "{detail}");

    // Streamed without a length: cut off once it passes the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.into_bytes().chunks(512).map(|c| Ok(c.to_vec())).collect();
    let res = app
        .client
        .post(app.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, 413).await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("limit of 1024 bytes"), "{detail}");

    // Under the limit, the same route reads the body (and refuses the credentials).
    let res = app
        .post_raw(
            "/api/auth/login",
            "application/json",
            r#"{"email":"a@example.com","password":"x"}"#,
        )
        .await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn responses_are_gzipped_when_the_client_accepts_it() {
    let app = spawn_app().await;
    // The test client decodes nothing itself (reqwest is built without `gzip`).
    let plain = app.get("/api-docs/openapi.json").await;
    assert_eq!(plain.status(), 200);
    assert_eq!(header(plain.headers(), "content-encoding"), "");
    let plain: Value = plain.json().await.unwrap();

    let res = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(res.headers(), "content-encoding"), "gzip");
    assert!(header(res.headers(), "vary").to_ascii_lowercase().contains("accept-encoding"));
    let compressed = res.bytes().await.unwrap();
    assert_eq!(&compressed[..2], &[0x1f, 0x8b], "a gzip stream");
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut json).unwrap();
    assert!(compressed.len() < json.len(), "compressed is smaller");
    assert_eq!(serde_json::from_slice::<Value>(&json).unwrap(), plain);

    // API responses and pages too.
    for path in ["/api/health", "/login"] {
        let res =
            app.client.get(app.url(path)).header("accept-encoding", "gzip").send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(header(res.headers(), "content-encoding"), "gzip", "{path}");
    }
}
