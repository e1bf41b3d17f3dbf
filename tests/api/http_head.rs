//! HEAD answers like GET on every route (RFC 9110 §9.3.2): same status and headers, no body.

use reqwest::{Method, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, assert_problem, header, spawn_app};

/// Headers that must not differ between GET and HEAD of the same resource.
const SAME: [&str; 6] = [
    "content-type",
    "cache-control",
    "etag",
    "x-content-type-options",
    "content-security-policy",
    "allow",
];

async fn get_and_head(app: &TestApp, path: &str) -> (Response, Response) {
    (app.get(path).await, app.request(Method::HEAD, path).await)
}

/// HEAD has GET's status and headers, a `Content-Length` when GET has one, and no body.
async fn assert_head_like_get(app: &TestApp, path: &str) -> (Response, Response) {
    let (get, head) = get_and_head(app, path).await;
    assert_eq!(head.status(), get.status(), "HEAD {path}");
    for name in SAME {
        assert_eq!(
            header(head.headers(), name),
            header(get.headers(), name),
            "HEAD {path}: header {name}"
        );
    }
    assert!(!header(head.headers(), "x-request-id").is_empty(), "HEAD {path}: request id");
    if !header(get.headers(), "content-length").is_empty() {
        let length: u64 = header(head.headers(), "content-length").parse().unwrap_or(0);
        assert!(length > 0, "HEAD {path}: the length GET's body would have");
    }
    (get, head)
}

#[tokio::test]
async fn get_routes_answer_head_with_their_headers_and_no_body() {
    let app = spawn_app().await;
    for path in ["/api/health", "/health/live", "/health/ready", "/login", "/api-docs/openapi.json"]
    {
        let (get, head) = assert_head_like_get(&app, path).await;
        assert_eq!(get.status(), 200, "GET {path}");
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path} has no body");
    }

    // A static file: byte-for-byte the length GET sends.
    let (get, head) = assert_head_like_get(&app, "/static/css/app.css").await;
    let body = get.bytes().await.unwrap();
    assert!(!body.is_empty());
    assert_eq!(header(head.headers(), "content-length"), body.len().to_string());
    assert!(head.bytes().await.unwrap().is_empty());

    // Conditional requests work the same way.
    let etag = header(app.get("/static/css/app.css").await.headers(), "etag");
    let res = app
        .client
        .head(app.url("/static/css/app.css"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
}

#[tokio::test]
async fn head_on_unknown_paths_is_the_404_get_would_be() {
    let app = spawn_app().await;
    let (get, head) = assert_head_like_get(&app, "/api/does-not-exist").await;
    assert_eq!(head.status(), 404);
    assert!(header(head.headers(), "content-type").starts_with("application/problem+json"));
    assert_problem(get, 404).await;
    assert!(head.bytes().await.unwrap().is_empty());

    let (_, head) = assert_head_like_get(&app, "/no-such-page").await;
    assert_eq!(head.status(), 404);
    assert!(header(head.headers(), "content-type").starts_with("text/html"));
    assert!(head.bytes().await.unwrap().is_empty());

    // A POST-only route: 405 with the same `Allow` as GET gets.
    let (_, head) = assert_head_like_get(&app, "/api/auth/login").await;
    assert_eq!(head.status(), 405);
    assert_eq!(header(head.headers(), "allow"), "POST");
}

/// On the wire: the response to HEAD ends with its headers, whatever the body GET would send.
#[tokio::test]
async fn no_body_bytes_are_written_after_the_head() {
    let app = spawn_app().await;
    let port = app.address.rsplit(':').next().unwrap();
    let mut socket = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await.unwrap();
    socket
        .write_all(
            b"HEAD /static/css/app.css HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut raw = Vec::new();
    socket.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text.split_once("\r\n\r\n").expect("a complete response head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-length: "), "{head}");
    assert_eq!(rest, "", "no body after the head");
}
