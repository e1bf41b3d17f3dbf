use std::time::Duration;

use serde_json::json;
use url::Url;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path},
};

use super::{
    SLOW_REPLY, TIMEOUT, TINY_TIMEOUT, TOKEN, client, ctx, form, jpeg, multipart, query, received,
};
use crate::{
    config::Secret,
    modules::social::platforms::{
        adapter::PlatformAdapter,
        error::PlatformError,
        meta::facebook::FacebookAdapter,
        settings::{FacebookSettings, MetaSettings},
        types::{CommentOutcome, PublishRequest},
    },
    platform::crypto::hmac_sha256,
};

const PAGE: &str = "1122334455";

fn meta(server: &MockServer) -> MetaSettings {
    MetaSettings {
        app_id: "app-1".into(),
        app_secret: Secret::new("app-secret-xyz"),
        graph_base_url: server.uri(),
        ..MetaSettings::default()
    }
}

fn adapter(server: &MockServer, timeout: Duration) -> FacebookAdapter {
    FacebookAdapter::new(client(), &meta(server), &FacebookSettings::default(), timeout, TIMEOUT)
}

#[tokio::test]
async fn publishes_photos_attached_to_a_feed_post_with_a_comment() {
    let server = MockServer::start().await;
    let photos = format!("/v24.0/{PAGE}/photos");
    Mock::given(method("POST"))
        .and(path(photos.as_str()))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "901" })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(photos.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "902" })))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v24.0/{PAGE}/feed").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "id": format!("{PAGE}_777") })),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v24.0/{PAGE}_777/comments").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "777_1" })))
        .expect(1)
        .mount(&server)
        .await;

    let mut post = PublishRequest::new("Our new menu", "post-1");
    post.media.push(
        jpeg(b"jpeg-1", 800, 600).with_public_url(Url::parse("https://cdn.example/1.jpg").unwrap()),
    );
    post.media.push(jpeg(b"jpeg-2", 800, 600));
    post.first_comment = Some("Book at example.com".into());

    let published = adapter(&server, TIMEOUT).publish(&ctx(PAGE), &post).await.unwrap();
    assert_eq!(published.remote_id, format!("{PAGE}_777"));
    assert_eq!(published.url.as_deref(), Some("https://www.facebook.com/1122334455/posts/777"));
    assert!(
        matches!(published.first_comment, Some(CommentOutcome::Posted { ref remote_id, .. }) if remote_id == "777_1")
    );

    let uploads = received(&server, "POST", &photos).await;
    // The first photo is fetched by Facebook from its URL; the second is sent as a file.
    let first = form(&uploads[0]);
    assert_eq!(first["url"], "https://cdn.example/1.jpg");
    assert_eq!(first["published"], "false");
    let parts = multipart(&uploads[1]);
    assert_eq!(parts[0].name, "published");
    assert_eq!(parts[0].data, b"false");
    assert_eq!(parts[1].name, "source");
    assert_eq!(parts[1].content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(parts[1].data, b"jpeg-2");

    // Every call proves the app secret: HMAC-SHA256(app secret, token).
    let proof = hex::encode(hmac_sha256(b"app-secret-xyz", TOKEN.as_bytes()));
    assert_eq!(query(&uploads[0])["appsecret_proof"], proof);

    let feed = form(&received(&server, "POST", &format!("/v24.0/{PAGE}/feed")).await[0]);
    assert_eq!(feed["message"], "Our new menu");
    assert_eq!(feed["attached_media[0]"], r#"{"media_fbid":"901"}"#);
    assert_eq!(feed["attached_media[1]"], r#"{"media_fbid":"902"}"#);
    let comment = &received(&server, "POST", &format!("/v24.0/{PAGE}_777/comments")).await[0];
    assert_eq!(form(comment)["message"], "Book at example.com");
}

async fn feed_error(response: ResponseTemplate) -> PlatformError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v24.0/{PAGE}/feed").as_str()))
        .respond_with(response)
        .mount(&server)
        .await;
    adapter(&server, TIMEOUT)
        .publish(&ctx(PAGE), &PublishRequest::new("Hi", "k"))
        .await
        .unwrap_err()
}

fn graph(code: i64, subcode: Option<i64>, message: &str) -> serde_json::Value {
    let mut error = json!({ "message": message, "type": "OAuthException", "code": code,
                            "fbtrace_id": "AbCdEf" });
    if let Some(sub) = subcode {
        error["error_subcode"] = json!(sub);
    }
    json!({ "error": error })
}

#[tokio::test]
async fn graph_errors_are_classified_by_code() {
    let err = feed_error(ResponseTemplate::new(400).set_body_json(graph(
        190,
        Some(463),
        "Error validating access token: Session has expired",
    )))
    .await;
    assert!(matches!(err, PlatformError::Auth { refreshable: false, .. }), "{err:?}");
    assert_eq!(err.info().remote_code.as_deref(), Some("190/463"));

    let err = feed_error(
        ResponseTemplate::new(400)
            .insert_header(
                "x-business-use-case-usage",
                r#"{"1122334455":[{"type":"pages","call_count":100,"total_cputime":10,"total_time":12,"estimated_time_to_regain_access":15}]}"#,
            )
            .set_body_json(graph(80001, None, "There have been too many calls to this Page account.")),
    )
    .await;
    assert!(matches!(err, PlatformError::RateLimited { .. }), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(15 * 60)));

    let err = feed_error(
        ResponseTemplate::new(403)
            .insert_header("x-app-usage", r#"{"call_count":100,"total_cputime":5,"total_time":8}"#)
            .set_body_json(graph(4, None, "Application request limit reached")),
    )
    .await;
    assert!(matches!(err, PlatformError::RateLimited { retry_after: None, .. }), "{err:?}");

    // A permission the Page token lacks is not a broken token: never flags the account.
    let err = feed_error(ResponseTemplate::new(403).set_body_json(graph(
        200,
        None,
        "(#200) The user hasn't authorized the application to perform this action",
    )))
    .await;
    assert!(matches!(err, PlatformError::Permission { .. }), "{err:?}");
    assert_eq!(err.code(), "permission");
    assert!(err.hint().contains("allow every permission"));

    let err =
        feed_error(ResponseTemplate::new(400).set_body_json(graph(100, None, "Invalid parameter")))
            .await;
    assert!(matches!(err, PlatformError::Validation { .. }), "{err:?}");

    let err = feed_error(ResponseTemplate::new(400).set_body_json(graph(
        506,
        None,
        "Duplicate status message",
    )))
    .await;
    assert!(matches!(err, PlatformError::Duplicate { .. }), "{err:?}");

    let mut transient = graph(2, None, "Service temporarily unavailable");
    transient["error"]["is_transient"] = json!(true);
    let err = feed_error(ResponseTemplate::new(500).set_body_json(transient)).await;
    assert!(matches!(err, PlatformError::Transient { .. }), "{err:?}");
}

#[tokio::test]
async fn feed_post_timeout_is_an_unknown_outcome() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v24.0/{PAGE}/feed").as_str()))
        .respond_with(ResponseTemplate::new(200).set_delay(SLOW_REPLY))
        .mount(&server)
        .await;
    let err = adapter(&server, TINY_TIMEOUT)
        .publish(&ctx(PAGE), &PublishRequest::new("Hi", "k"))
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::UnknownOutcome { .. }), "{err:?}");
}

#[tokio::test]
async fn recent_posts_and_metrics() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v24.0/{PAGE}/posts").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [{ "id": format!("{PAGE}_777"), "message": "Our new menu",
                       "created_time": "2026-11-25T10:00:05+0000",
                       "permalink_url": "https://www.facebook.com/1122334455/posts/777" }],
            "paging": {}
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v24.0/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            format!("{PAGE}_777"): {
                "id": format!("{PAGE}_777"),
                "shares": { "count": 3 },
                "reactions": { "data": [], "summary": { "total_count": 41 } },
                "comments": { "data": [], "summary": { "total_count": 7, "can_comment": true } }
            }
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v24.0/{PAGE}_777/insights").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [
                { "name": "post_impressions", "period": "lifetime", "values": [{ "value": 1500 }] },
                { "name": "post_clicks", "period": "lifetime", "values": [{ "value": 60 }] }
            ]
        })))
        .mount(&server)
        .await;

    let fb = adapter(&server, TIMEOUT);
    let since = chrono::DateTime::parse_from_rfc3339("2026-11-25T09:58:00Z").unwrap().to_utc();
    let posts = fb.recent_posts(&ctx(PAGE), since).await.unwrap();
    assert_eq!(posts[0].text, "Our new menu");
    assert_eq!(posts[0].created_at.to_rfc3339(), "2026-11-25T10:00:05+00:00");
    let request = &received(&server, "GET", &format!("/v24.0/{PAGE}/posts")).await[0];
    assert_eq!(query(request)["since"], since.timestamp().to_string());

    let metrics = fb.post_metrics(&ctx(PAGE), &[format!("{PAGE}_777")]).await.unwrap();
    assert_eq!(metrics[0].likes, Some(41));
    assert_eq!(metrics[0].replies, Some(7));
    assert_eq!(metrics[0].reposts, Some(3));
    assert_eq!(metrics[0].impressions, Some(1500));
    assert_eq!(metrics[0].clicks, Some(60));
}
