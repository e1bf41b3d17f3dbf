use crate::helpers::{header, spawn_app};

#[tokio::test]
async fn homepage_renders_with_layout_and_assets() {
    let app = spawn_app().await;
    let res = app.get("/").await;
    assert_eq!(res.status(), 200);
    assert!(header(res.headers(), "content-type").starts_with("text/html"));
    assert!(header(res.headers(), "cache-control").contains("max-age"));
    let html = res.text().await.unwrap();
    assert!(html.contains("<main id=\"main\""));
    assert!(html.contains("property=\"og:title\""));
    let css =
        html.split("href=\"/static/css/app.css?v=").nth(1).unwrap().split('"').next().unwrap();

    // Fingerprinted asset URLs are cached for a year; the ETag revalidates others.
    let res = app.get(&format!("/static/css/app.css?v={css}")).await;
    assert_eq!(res.status(), 200);
    assert!(header(res.headers(), "content-type").starts_with("text/css"));
    assert!(header(res.headers(), "cache-control").contains("immutable"));
    let etag = header(res.headers(), "etag");
    let res = app
        .client
        .get(app.url("/static/css/app.css"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    assert_eq!(app.get("/static/nope.css").await.status(), 404);
}

#[tokio::test]
async fn api_docs_are_served_offline() {
    let app = spawn_app().await;
    let res = app.get("/docs").await;
    assert_eq!(res.status(), 308);
    let res = app.get("/docs/").await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("swagger-ui"));
    let res = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(res.status(), 200, "Swagger UI is bundled, not fetched from a CDN");
}
