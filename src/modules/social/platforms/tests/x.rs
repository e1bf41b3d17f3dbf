use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, header, method, path, query_param},
};

use super::{TIMEOUT, TOKEN, client, ctx, jpeg, received};
use crate::modules::social::platforms::{
    adapter::PlatformAdapter,
    error::PlatformError,
    settings::XSettings,
    types::{CommentOutcome, MediaInfo, MediaItem, PublishRequest},
    x::XAdapter,
};

pub(super) fn adapter(server: &MockServer, timeout: Duration) -> XAdapter {
    let settings = XSettings {
        api_base_url: server.uri(),
        media_poll_interval_ms: 1,
        media_poll_attempts: 5,
        ..XSettings::default()
    };
    XAdapter::new(client(), &settings, timeout, TIMEOUT)
}

pub(super) const IMAGE: &[u8] = b"\xFF\xD8\xFF\xE0 fake jpeg bytes";

#[tokio::test]
async fn publishes_image_with_alt_text_and_reply() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/media/upload"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_json(json!({
            "media": STANDARD.encode(IMAGE),
            "media_category": "tweet_image",
            "media_type": "image/jpeg",
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "id": "1880028106020515840", "media_key": "3_1880028106020515840",
                      "size": IMAGE.len(), "expires_after_secs": 86400 }
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/2/media/metadata"))
        .and(body_json(json!({
            "id": "1880028106020515840",
            "metadata": { "alt_text": { "text": "A cat on a desk" } }
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "associated_metadata": true }
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .and(body_json(json!({
            "text": "Hello from SmartFlow",
            "media": { "media_ids": ["1880028106020515840"] }
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "data": { "id": "1445880548472328192", "text": "Hello from SmartFlow" }
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .and(body_json(json!({
            "text": "Details in the thread",
            "reply": { "in_reply_to_tweet_id": "1445880548472328192" }
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "data": { "id": "1445880548472328193", "text": "Details in the thread" }
        })))
        .expect(1)
        .mount(&server)
        .await;

    let mut item = jpeg(IMAGE, 1200, 800);
    item.info.alt_text = Some("A cat on a desk".into());
    let mut post = PublishRequest::new("Hello from SmartFlow", "post-1");
    post.media.push(item);
    post.first_comment = Some("Details in the thread".into());

    let published = adapter(&server, TIMEOUT)
        .publish(&ctx("42").with_handle("smartflow"), &post)
        .await
        .unwrap();
    assert_eq!(published.remote_id, "1445880548472328192");
    assert_eq!(
        published.url.as_deref(),
        Some("https://x.com/smartflow/status/1445880548472328192")
    );
    match published.first_comment {
        Some(CommentOutcome::Posted { remote_id, .. }) => {
            assert_eq!(remote_id, "1445880548472328193")
        }
        other => panic!("expected a posted reply, got {other:?}"),
    }
}

#[tokio::test]
async fn chunked_video_upload_waits_for_processing() {
    let server = MockServer::start().await;
    let video: &[u8] = b"0123456789";
    Mock::given(method("POST"))
        .and(path("/2/media/upload/initialize"))
        .and(body_json(json!({
            "media_type": "video/mp4", "total_bytes": 10, "media_category": "tweet_video"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "id": "77", "media_key": "7_77", "expires_after_secs": 86400 }
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/2/media/upload/77/append"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": {} })))
        .expect(3)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/2/media/upload/77/finalize"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "id": "77", "processing_info": { "state": "pending", "check_after_secs": 1 } }
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/2/media/upload"))
        .and(query_param("command", "STATUS"))
        .and(query_param("media_id", "77"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "id": "77", "processing_info": { "state": "in_progress", "progress_percent": 40 } }
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/2/media/upload"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "id": "77", "processing_info": { "state": "succeeded", "progress_percent": 100 } }
        })))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .and(body_json(json!({ "text": "Watch", "media": { "media_ids": ["77"] } })))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "data": { "id": "9", "text": "Watch" } })),
        )
        .expect(1)
        .mount(&server)
        .await;

    let settings = XSettings {
        api_base_url: server.uri(),
        media_chunk_bytes: 4,
        media_poll_interval_ms: 1,
        media_poll_attempts: 5,
        ..XSettings::default()
    };
    let x = XAdapter::new(client(), &settings, TIMEOUT, TIMEOUT);
    let mut post = PublishRequest::new("Watch", "post-2");
    post.media.push(MediaItem::from_bytes(
        MediaInfo::new("video/mp4", 10).with_duration_ms(5_000),
        bytes::Bytes::from_static(video),
    ));
    let published = x.publish(&ctx("42"), &post).await.unwrap();
    assert_eq!(published.url.as_deref(), Some("https://x.com/i/web/status/9"));

    // The chunks arrive in order and together are the file.
    let appends = received(&server, "POST", "/2/media/upload/77/append").await;
    let mut joined = Vec::new();
    for (i, request) in appends.iter().enumerate() {
        let body = super::json(request);
        assert_eq!(body["segment_index"], i);
        joined.extend(STANDARD.decode(body["media"].as_str().unwrap()).unwrap());
    }
    assert_eq!(joined, video);
    assert_eq!(received(&server, "GET", "/2/media/upload").await.len(), 2);
}

#[tokio::test]
async fn failed_media_processing_is_a_media_error_and_nothing_is_posted() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/media/upload/initialize"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "id": "5" } })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/2/media/upload/5/append"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": {} })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/2/media/upload/5/finalize"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "id": "5", "processing_info": { "state": "failed",
                      "error": { "code": 1, "name": "InvalidMedia", "message": "Unsupported video format" } } }
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&server)
        .await;

    let mut post = PublishRequest::new("Clip", "post-3");
    post.media.push(MediaItem::from_bytes(
        MediaInfo::new("video/mp4", 3),
        bytes::Bytes::from_static(b"abc"),
    ));
    let err = adapter(&server, TIMEOUT).publish(&ctx("42"), &post).await.unwrap_err();
    assert!(
        matches!(&err, PlatformError::Media { message, .. } if message.contains("Unsupported video format")),
        "{err:?}"
    );
}

#[tokio::test]
async fn over_long_post_is_rejected_before_any_request() {
    let server = MockServer::start().await;
    let text = format!("{} https://example.com/launch", "a".repeat(257));
    let err = adapter(&server, TIMEOUT)
        .publish(&ctx("42"), &PublishRequest::new(text, "k"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PlatformError::Validation { message, .. } if message.contains("280")),
        "{err:?}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn metrics_from_public_metrics() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/2/tweets"))
        .and(query_param("ids", "1,2"))
        .and(query_param("tweet.fields", "public_metrics"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [{ "id": "1", "text": "a", "public_metrics": {
                "retweet_count": 3, "reply_count": 4, "like_count": 5, "quote_count": 1,
                "bookmark_count": 0, "impression_count": 900 } }],
            "errors": [{ "value": "2", "detail": "Could not find tweet with ids: [2].",
                         "title": "Not Found Error", "resource_type": "tweet",
                         "type": "https://api.twitter.com/2/problems/resource-not-found" }]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/2/users/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "id": "42", "username": "smartflow", "name": "SmartFlow",
                      "public_metrics": { "followers_count": 1200, "following_count": 30, "tweet_count": 512 } }
        })))
        .mount(&server)
        .await;
    let x = adapter(&server, TIMEOUT);
    let metrics = x.post_metrics(&ctx("42"), &["1".into(), "2".into()]).await.unwrap();
    assert_eq!(metrics.len(), 1, "deleted posts are left out");
    assert_eq!(metrics[0].impressions, Some(900));
    assert_eq!(metrics[0].likes, Some(5));
    assert_eq!(metrics[0].reposts, Some(3));
    assert_eq!(metrics[0].replies, Some(4));
    assert_eq!(metrics[0].clicks, None);
    let account = x.account_metrics(&ctx("42")).await.unwrap();
    assert_eq!((account.followers, account.posts), (Some(1200), Some(512)));
}
