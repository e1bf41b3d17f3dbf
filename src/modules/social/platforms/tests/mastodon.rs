use bytes::Bytes;
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, header, method, path, query_param},
};

use super::{SLOW_REPLY, TIMEOUT, TINY_TIMEOUT, TOKEN, client, ctx, multipart, received};
use crate::modules::social::platforms::{
    adapter::PlatformAdapter,
    error::PlatformError,
    find_match,
    mastodon::MastodonAdapter,
    settings::MastodonSettings,
    types::{AccountContext, CommentOutcome, MediaInfo, MediaItem, PublishRequest},
};

fn adapter(timeout: std::time::Duration) -> MastodonAdapter {
    let settings = MastodonSettings {
        media_poll_interval_ms: 1,
        media_poll_attempts: 5,
        ..MastodonSettings::default()
    };
    MastodonAdapter::new(client(), &settings, timeout, TIMEOUT)
}

fn account(server: &MockServer) -> AccountContext {
    ctx("109302").with_instance_url(server.uri())
}

fn status(id: &str, text: &str) -> serde_json::Value {
    json!({
        "id": id, "created_at": "2026-11-25T10:00:01.000Z", "visibility": "public",
        "uri": format!("https://social.example/users/smartflow/statuses/{id}"),
        "url": format!("https://social.example/@smartflow/{id}"),
        "content": format!("<p>{text}</p>"), "replies_count": 0, "reblogs_count": 0, "favourites_count": 0
    })
}

#[tokio::test]
async fn publishes_media_processed_asynchronously_with_idempotency_keys() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/media"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "id": "22", "type": "image", "url": null, "preview_url": null, "description": "A chart"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/media/22"))
        .respond_with(ResponseTemplate::new(206).set_body_json(json!({ "id": "22", "url": null })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/media/22"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "22", "url": "https://files.social.example/22.png"
        })))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .and(header("idempotency-key", "post-9"))
        .and(body_json(
            json!({ "status": "Monthly numbers", "media_ids": ["22"], "visibility": "public" }),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(status("1133", "Monthly numbers")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .and(header("idempotency-key", "post-9:first-comment"))
        .and(body_json(
            json!({ "status": "Sources below", "in_reply_to_id": "1133", "visibility": "public" }),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(status("1134", "Sources below")))
        .expect(1)
        .mount(&server)
        .await;

    let mut post = PublishRequest::new("Monthly numbers", "post-9");
    post.media.push(MediaItem::from_bytes(
        MediaInfo::new("image/png", 4).with_alt_text("A chart"),
        Bytes::from_static(b"\x89PNG"),
    ));
    post.first_comment = Some("Sources below".into());
    let published = adapter(TIMEOUT).publish(&account(&server), &post).await.unwrap();
    assert_eq!(published.remote_id, "1133");
    assert_eq!(published.url.as_deref(), Some("https://social.example/@smartflow/1133"));
    assert!(
        matches!(published.first_comment, Some(CommentOutcome::Posted { ref remote_id, .. }) if remote_id == "1134")
    );

    let upload = &received(&server, "POST", "/api/v2/media").await[0];
    let parts = multipart(upload);
    assert_eq!(parts[0].name, "file");
    assert_eq!(parts[0].filename.as_deref(), Some("media-0.png"));
    assert_eq!(parts[0].content_type.as_deref(), Some("image/png"));
    assert_eq!(parts[0].data, b"\x89PNG");
    assert_eq!(
        (parts[1].name.as_str(), parts[1].data.as_slice()),
        ("description", b"A chart".as_slice())
    );
    assert_eq!(received(&server, "GET", "/api/v1/media/22").await.len(), 2, "206 once, then 200");
}

async fn status_error(response: ResponseTemplate) -> PlatformError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .respond_with(response)
        .mount(&server)
        .await;
    adapter(TIMEOUT).publish(&account(&server), &PublishRequest::new("Hi", "k")).await.unwrap_err()
}

#[tokio::test]
async fn errors_are_classified() {
    let err = status_error(
        ResponseTemplate::new(401).set_body_json(json!({ "error": "The access token is invalid" })),
    )
    .await;
    assert!(matches!(err, PlatformError::Auth { refreshable: false, .. }), "{err:?}");

    let err = status_error(ResponseTemplate::new(422).set_body_json(json!({
        "error": "Validation failed: Text character limit of 500 exceeded"
    })))
    .await;
    assert!(
        matches!(&err, PlatformError::Validation { message, .. } if message.contains("500")),
        "{err:?}"
    );

    let reset = (chrono::Utc::now() + chrono::Duration::seconds(300))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let err = status_error(
        ResponseTemplate::new(429)
            .insert_header("x-ratelimit-limit", "300")
            .insert_header("x-ratelimit-remaining", "0")
            .insert_header("x-ratelimit-reset", reset.as_str())
            .set_body_json(json!({ "error": "Too many requests" })),
    )
    .await;
    let wait = err.retry_after().unwrap();
    assert!(wait.as_secs() <= 300 && wait.as_secs() >= 290, "{wait:?}");

    let err =
        status_error(ResponseTemplate::new(503).set_body_string("<html>maintenance</html>")).await;
    assert!(matches!(err, PlatformError::Transient { .. }), "{err:?}");
}

#[tokio::test]
async fn status_timeout_is_an_unknown_outcome() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .respond_with(ResponseTemplate::new(200).set_delay(SLOW_REPLY))
        .mount(&server)
        .await;
    let err = adapter(TINY_TIMEOUT)
        .publish(&account(&server), &PublishRequest::new("Hi", "k"))
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::UnknownOutcome { .. }), "{err:?}");
}

#[tokio::test]
async fn missing_instance_url_is_a_configuration_error() {
    let err =
        adapter(TIMEOUT).publish(&ctx("1"), &PublishRequest::new("Hi", "k")).await.unwrap_err();
    assert!(matches!(err, PlatformError::Config { .. }), "{err:?}");
}

#[tokio::test]
async fn recent_posts_are_plain_text_for_matching() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/109302/statuses"))
        .and(query_param("exclude_reblogs", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            status("1133", r#"Fish &amp; chips <a href="https://example.com/menu"><span class="invisible">https://</span><span>example.com/menu</span></a>"#)
        ])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/verify_credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "109302", "username": "smartflow", "acct": "smartflow", "display_name": "SmartFlow",
            "url": "https://social.example/@smartflow", "followers_count": 321, "following_count": 12,
            "statuses_count": 99
        })))
        .mount(&server)
        .await;
    let mastodon = adapter(TIMEOUT);
    let since = "2026-11-25T09:59:00Z".parse().unwrap();
    let posts = mastodon.recent_posts(&account(&server), since).await.unwrap();
    assert_eq!(posts[0].text, "Fish & chips https://example.com/menu");
    assert!(find_match(&posts, "Fish & chips https://example.com/menu", since).is_some());

    let me = mastodon.verify_account(&account(&server)).await.unwrap();
    assert_eq!((me.id.as_str(), me.username.as_deref()), ("109302", Some("smartflow")));
    assert_eq!(mastodon.account_metrics(&account(&server)).await.unwrap().followers, Some(321));
}
