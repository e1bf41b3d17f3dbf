use reqwest::Method;

use crate::helpers::{assert_problem, header, spawn_app};

#[tokio::test]
async fn unknown_api_route_is_a_problem_404() {
    let app = spawn_app().await;
    let body = assert_problem(app.get("/api/does-not-exist").await, 404).await;
    assert!(body["detail"].as_str().unwrap().contains("/api/does-not-exist"));
    assert!(body["request_id"].as_str().is_some_and(|r| !r.is_empty()));
}

#[tokio::test]
async fn wrong_method_is_a_problem_405_with_allow() {
    let app = spawn_app().await;
    let res = app.request(Method::DELETE, "/api/health").await;
    assert_eq!(header(res.headers(), "allow"), "GET, HEAD", "GET routes answer HEAD too");
    let body = assert_problem(res, 405).await;
    assert!(body["detail"].as_str().unwrap().contains("GET"));
    let res = app.request(Method::POST, "/api/ai/info").await;
    assert_problem(res, 405).await;
}

#[tokio::test]
async fn unknown_page_is_an_html_404() {
    let app = spawn_app().await;
    let res = app.get("/no-such-page").await;
    assert_eq!(res.status(), 404);
    assert!(header(res.headers(), "content-type").starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains("<h1>Not Found</h1>"), "{html}");
}

#[tokio::test]
async fn request_id_is_echoed_or_generated() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(header(res.headers(), "x-request-id"), "abc-123");

    let res = app.get("/api/health").await;
    let generated = header(res.headers(), "x-request-id");
    assert_eq!(generated.len(), 36, "a UUID: {generated}");

    // Unsafe values are replaced, not echoed.
    let res = app
        .client
        .get(app.url("/api/nothing"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let id = header(res.headers(), "x-request-id");
    assert_ne!(id, "bad id with spaces");
    let body = assert_problem(res, 404).await;
    assert_eq!(body["request_id"], id.as_str());
}

#[tokio::test]
async fn security_headers_are_set() {
    let app = spawn_app().await;
    for path in ["/", "/api/health"] {
        let res = app.get(path).await;
        let h = res.headers();
        assert_eq!(header(h, "x-content-type-options"), "nosniff");
        assert_eq!(header(h, "x-frame-options"), "DENY");
        assert_eq!(header(h, "referrer-policy"), "strict-origin-when-cross-origin");
        assert!(header(h, "content-security-policy").contains("frame-ancestors 'none'"));
        // base_url is http in tests: no HSTS.
        assert!(h.get("strict-transport-security").is_none());
    }
}

#[tokio::test]
async fn hsts_is_sent_when_the_site_is_https() {
    let app = crate::helpers::spawn_app_with(crate::helpers::CacheKind::Memory, |s| {
        s.app.base_url = "https://smartflow.example".into();
    })
    .await;
    let res = app.get("/").await;
    assert!(header(res.headers(), "strict-transport-security").starts_with("max-age="));
}

#[tokio::test]
async fn bodies_sent_to_routes_without_them_are_still_problems() {
    let app = spawn_app().await;
    let res = app.post_json("/api/health", &serde_json::json!({"x": 1})).await;
    assert_eq!(header(res.headers(), "allow"), "GET, HEAD", "GET routes answer HEAD too");
    assert_problem(res, 405).await;
    let res = app.post_raw("/api/nothing-here", "text/plain", "hello").await;
    assert_problem(res, 404).await;
}

#[tokio::test]
async fn stopping_the_app_closes_the_listener() {
    let mut app = spawn_app().await;
    assert_eq!(app.get("/health/live").await.status(), 200);
    app.stop().await;
    let refused = app.client.get(app.url("/health/live")).send().await;
    assert!(refused.is_err(), "the port no longer accepts requests");
}

/// Extractor errors on pages (a bad id in the path, a form that does not parse) answer the
/// HTML error page with the extractor's status, not problem+json.
#[cfg(feature = "main")]
#[tokio::test]
async fn extractor_errors_on_pages_are_html_error_pages() {
    let app = spawn_app().await;
    let ops = app.signup("ops-extractors@example.com").await;
    app.make_staff(&ops).await;
    let res = app
        .client
        .get(app.url("/admin/leads/not-a-uuid"))
        .header("cookie", &ops.session_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(header(res.headers(), "content-type").starts_with("text/html"));
    assert!(res.text().await.unwrap().contains("<h1>Not Found</h1>"));

    // A form field that does not parse, posted with a valid CSRF token.
    let page = app
        .client
        .get(app.url("/admin/leads"))
        .header("cookie", &ops.session_cookie)
        .send()
        .await
        .unwrap();
    let csrf = crate::helpers::cookie_named(page.headers(), "sf_csrf").expect("csrf cookie");
    let res = app
        .client
        .post(app.url("/admin/leads/00000000-0000-0000-0000-000000000000"))
        .header("cookie", format!("{}; {csrf}", ops.session_cookie))
        .form(&[("status", "no-such-status"), ("csrf_token", csrf.trim_start_matches("sf_csrf="))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(header(res.headers(), "content-type").starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains("no-such-status"), "the page says what is wrong: {html}");

    // The same mistakes under /api stay problem+json.
    let res = app.get_as("/api/leads/not-a-uuid", &ops.token).await;
    assert_problem(res, 404).await;
}
