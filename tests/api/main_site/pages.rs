//! The public site: pages from the content file and plans, SEO files, caching, the API contract.

use serde_json::Value;

use super::support::app_with;
use crate::helpers::{header, spawn_app};

#[tokio::test]
async fn every_public_page_renders_with_landmarks_and_open_graph() {
    let app = spawn_app().await;
    for (path, expect) in [
        ("/", "One place for your leads"),
        ("/features", "Lead capture"),
        ("/features/ai", "Answers your customers can trust"),
        ("/pricing", "Simple plans that grow with you"),
        ("/demo", "Book a demo"),
        ("/contact", "Contact us"),
        ("/privacy", "Privacy policy"),
        ("/terms", "Terms of service"),
        ("/thanks?form=contact", "Thank you for your message"),
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        let html = res.text().await.unwrap();
        assert!(html.contains(expect), "{path} lacks {expect}");
        for needle in [
            "<main id=\"main\"",
            "<header",
            "<footer",
            "property=\"og:title\"",
            "property=\"og:description\"",
            "rel=\"canonical\"",
        ] {
            assert!(html.contains(needle), "{path} lacks {needle}");
        }
    }
    // Link previews need a raster image: the og:image is a PNG the site serves.
    let html = app.get("/").await.text().await.unwrap();
    let marker = "property=\"og:image\" content=\"";
    let at = html.find(marker).unwrap() + marker.len();
    let image = html[at..].split('"').next().unwrap();
    let path = &image[image.find("/static/").expect("a static asset")..];
    let res = app.get(path).await;
    assert_eq!(res.status(), 200, "{path}");
    assert_eq!(header(res.headers(), "content-type"), "image/png");
    assert!(res.bytes().await.unwrap().starts_with(b"\x89PNG\r\n"));

    let res = app.get("/features/nope").await;
    assert_eq!(res.status(), 404);
    assert!(header(res.headers(), "content-type").starts_with("text/html"));
    assert_eq!(app.get("/no-such-page").await.status(), 404);
}

#[tokio::test]
async fn forms_have_labels_a_honeypot_and_a_form_token() {
    let app = spawn_app().await;
    for (path, action) in
        [("/", "/api/leads"), ("/demo", "/api/leads"), ("/contact", "/api/contact")]
    {
        let res = app.get(path).await;
        assert!(header(res.headers(), "cache-control").contains("public"), "{path} is cacheable");
        let html = res.text().await.unwrap();
        assert!(html.contains(&format!("action=\"{action}\"")), "{path}");
        assert!(html.contains("name=\"form_token\" value=\"v2."), "{path}");
        assert!(html.contains("class=\"form-trap\" aria-hidden=\"true\""), "{path}");
        for field in ["name", "email", "message"] {
            assert!(
                html.contains(&format!("<label for=\"f-{field}\"")),
                "{path}: {field} has a label"
            );
            assert!(html.contains(&format!("id=\"f-{field}\"")), "{path}: {field}");
        }
    }
    // Campaign tags in the URL travel with the form.
    let html = app.get("/demo?utm_source=linkedin&utm_campaign=spring").await.text().await.unwrap();
    assert!(html.contains("name=\"utm_source\" value=\"linkedin\""));
    assert!(
        html.contains(
            "name=\"landing_page\" value=\"/demo?utm_source=linkedin&amp;utm_campaign=spring\""
        ) || html.contains(
            "name=\"landing_page\" value=\"/demo?utm_source=linkedin&#38;utm_campaign=spring\""
        )
    );
}

#[tokio::test]
async fn pricing_shows_the_configured_plans() {
    let app = app_with(|s| {
        s.billing.plans[1].name = "Starter Plus".into();
        s.billing.plans[1].price_cents = 2_450;
        s.billing.plans[1].features = vec!["Priority onboarding call".into()];
    })
    .await;
    let html = app.get("/pricing").await.text().await.unwrap();
    assert!(
        html.contains("Starter Plus")
            && html.contains("$24.50")
            && html.contains("Priority onboarding call")
    );
    assert!(html.contains("$49") && html.contains("Most popular"), "the highlighted plan");
    assert!(html.contains("href=\"/app/billing?plan=pro\""));
    assert!(html.contains("\"@type\":\"FAQPage\""));
}

#[tokio::test]
async fn sitemap_and_robots_list_the_public_site() {
    let app = spawn_app().await;
    let res = app.get("/sitemap.xml").await;
    assert!(header(res.headers(), "content-type").starts_with("application/xml"));
    let xml = res.text().await.unwrap();
    let base = app.settings.app.base_url.trim_end_matches('/');
    for path in [
        "/",
        "/pricing",
        "/features",
        "/features/leads",
        "/features/social",
        "/contact",
        "/demo",
        "/privacy",
        "/terms",
    ] {
        assert!(
            xml.contains(&format!("<loc>{base}{path}</loc>")),
            "{path} missing from the sitemap"
        );
    }
    assert!(!xml.contains("/admin"));
    let robots = app.get("/robots.txt").await.text().await.unwrap();
    assert!(robots.contains(&format!("Sitemap: {base}/sitemap.xml")));
    assert!(robots.contains("Disallow: /admin") && robots.contains("Disallow: /api/"));
}

#[tokio::test]
async fn copy_comes_from_the_content_file() {
    let dir = std::env::temp_dir().join(format!("sf-content-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let builtin = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/templates/main_site/content.toml"
    ))
    .unwrap();
    let custom = builtin.replace(
        "headline = \"One place for your leads, your customers' questions and your social posts.\"",
        "headline = \"Bakeries run on SmartFlow.\"",
    );
    let file = dir.join("site.toml");
    std::fs::write(&file, custom).unwrap();
    let path = file.to_string_lossy().into_owned();
    let app = app_with(move |s| s.main_site.content_file = path).await;
    let html = app.get("/").await.text().await.unwrap();
    assert!(html.contains("Bakeries run on SmartFlow."));

    // A broken file stops start-up with a message naming the setting and the key.
    std::fs::write(&file, builtin.replace("[demo]\nheadline", "[demo]\nheadlin")).unwrap();
    let mut settings = crate::helpers::test_settings();
    settings.main_site.content_file = file.to_string_lossy().into_owned();
    settings.database.url = app.settings.database.url.clone();
    let err =
        smartflow::Application::build(settings).await.err().expect("start-up fails").to_string();
    assert!(err.contains("main_site.content_file") && err.contains("headlin"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_main_site_contract_is_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api-docs/openapi.json").await.json().await.unwrap();
    for (method, path) in [
        ("post", "/api/leads"),
        ("get", "/api/leads"),
        ("get", "/api/leads/export.csv"),
        ("get", "/api/leads/{id}"),
        ("patch", "/api/leads/{id}"),
        ("delete", "/api/leads/{id}"),
        ("post", "/api/contact"),
        ("get", "/api/contact"),
        ("patch", "/api/contact/{id}"),
        ("get", "/api/forms/token"),
        ("post", "/api/billing/checkout"),
        ("post", "/api/billing/portal"),
        ("get", "/api/billing/subscription"),
        ("post", "/api/webhooks/stripe"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is not documented");
    }
    let body = &doc["paths"]["/api/leads"]["post"]["requestBody"]["content"];
    assert!(
        body["application/json"].is_object()
            && body["application/x-www-form-urlencoded"].is_object()
    );
    assert!(doc["paths"]["/api/leads"]["post"]["responses"]["422"].is_object());
}
