//! The dashboard's chat and knowledge pages, and the seed's AI routes in the API document.

use serde_json::Value;

use crate::helpers::spawn_app_without_workers;

#[tokio::test]
async fn chat_and_knowledge_pages_render_for_members_and_redirect_visitors() {
    let app = spawn_app_without_workers().await;
    let alice = app.signup("alice@example.com").await;
    for path in ["/app/chat", "/app/knowledge"] {
        let res = app
            .client
            .get(app.url(path))
            .header("cookie", &alice.session_cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains("/static/js/ai") && html.contains("/static/css/ai"),
            "{path} loads its script and styles"
        );
        let anonymous = app.get(path).await;
        assert_eq!(anonymous.status(), 303, "{path}");
    }
    let dashboard = app
        .client
        .get(app.url("/app"))
        .header("cookie", &alice.session_cookie)
        .send()
        .await
        .unwrap();
    let html = dashboard.text().await.unwrap();
    assert!(html.contains("href=\"/app/chat\"") && html.contains("href=\"/app/knowledge\""));
    let script = app.get("/static/js/ai.js").await;
    assert_eq!(script.status(), 200);
}

#[tokio::test]
async fn the_seed_ai_routes_are_served_and_documented() {
    let app = spawn_app_without_workers().await;
    let doc: Value = app.get("/api-docs/openapi.json").await.json().await.unwrap();
    for (method, path) in [
        ("post", "/api/chat"),
        ("post", "/api/agents"),
        ("get", "/api/agents/{id}"),
        ("post", "/api/knowledge"),
        ("get", "/ws/chat"),
        ("post", "/api/knowledge/{id}/search"),
        ("get", "/api/chat/jobs/{id}"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is missing from the document"
        );
    }
}
