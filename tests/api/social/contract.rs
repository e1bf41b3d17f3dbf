//! The seed's social routes are served and documented; the module's pages are on the dashboard.

use serde_json::Value;

use crate::helpers::spawn_app;

const SEED: [(&str, &str); 5] = [
    ("post", "/api/posts"),
    ("get", "/api/posts/{id}"),
    ("post", "/api/analytics"),
    ("get", "/api/calendar"),
    ("post", "/api/accounts"),
];

#[tokio::test]
async fn the_seed_routes_are_documented_and_need_a_caller() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api-docs/openapi.json").await.json().await.unwrap();
    for (method, path) in SEED {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is missing from the document");
        assert_eq!(op["tags"][0], "social", "{method} {path}");
        assert!(op["security"].is_array(), "{method} {path} says how to authenticate");
    }
    for (method, path) in
        [("POST", "/api/posts"), ("GET", "/api/calendar"), ("POST", "/api/analytics")]
    {
        let res = app.client.request(method.parse().unwrap(), app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 401, "{method} {path} without credentials");
    }
    let user = app.signup("dash@example.com").await;
    let res = app
        .client
        .get(app.url("/app"))
        .header("cookie", &user.session_cookie)
        .send()
        .await
        .unwrap();
    let html = res.text().await.unwrap();
    for href in ["/app/social", "/app/social/calendar", "/app/social/analytics"] {
        assert!(html.contains(&format!("href=\"{href}\"")), "{href} on the dashboard");
    }
    let health: Value = app.get("/api/health").await.json().await.unwrap();
    assert!(health.to_string().contains("social.x"), "{health}");
}
