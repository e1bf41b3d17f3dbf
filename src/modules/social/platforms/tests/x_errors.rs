//! X: how failures are classified, and reconciliation after an unknown outcome.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path, query_param},
};

use super::{
    SLOW_REPLY, TIMEOUT, TINY_TIMEOUT, TOKEN, client, ctx, jpeg, received,
    x::{IMAGE, adapter},
};
use crate::modules::social::platforms::{
    adapter::PlatformAdapter, error::PlatformError, find_match, settings::XSettings,
    types::PublishRequest, x::XAdapter,
};

async fn post_error(response: ResponseTemplate) -> PlatformError {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/2/tweets")).respond_with(response).mount(&server).await;
    adapter(&server, TIMEOUT)
        .publish(&ctx("42"), &PublishRequest::new("Hello", "k"))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn error_responses_are_classified() {
    let err = post_error(ResponseTemplate::new(401).set_body_json(json!({
        "title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"
    })))
    .await;
    assert!(matches!(err, PlatformError::Auth { refreshable: true, .. }), "{err:?}");
    assert_eq!(err.info().http_status, Some(401));

    let reset = Utc::now().timestamp() + 60;
    let err = post_error(
        ResponseTemplate::new(429)
            .insert_header("x-rate-limit-limit", "200")
            .insert_header("x-rate-limit-remaining", "0")
            .insert_header("x-rate-limit-reset", reset.to_string().as_str())
            .set_body_json(json!({ "title": "Too Many Requests", "detail": "Too Many Requests",
                                   "type": "about:blank", "status": 429 })),
    )
    .await;
    let wait = err.retry_after().expect("a wait from x-rate-limit-reset");
    // The reset is 60 s after "now" above; a little of it passes before the error is built.
    assert!(wait <= Duration::from_secs(60) && wait >= Duration::from_secs(50), "{wait:?}");
    assert!(err.is_retryable());

    let err = post_error(ResponseTemplate::new(400).set_body_json(json!({
        "errors": [{ "parameters": { "text": ["x"] }, "message": "Tweet text is too long." }],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request"
    })))
    .await;
    assert!(
        matches!(&err, PlatformError::Validation { message, .. } if message.contains("Tweet text is too long.")),
        "{err:?}"
    );
    assert_eq!(err.info().remote_code.as_deref(), Some("invalid-request"));

    let err = post_error(ResponseTemplate::new(403).set_body_json(json!({
        "detail": "You are not allowed to create a Tweet with duplicate content.",
        "type": "about:blank", "title": "Forbidden", "status": 403
    })))
    .await;
    assert!(matches!(err, PlatformError::Duplicate { .. }), "{err:?}");
    assert!(err.needs_reconciliation());

    let err = post_error(ResponseTemplate::new(503).set_body_string("upstream unavailable")).await;
    assert!(matches!(err, PlatformError::Transient { .. }), "{err:?}");
}

#[tokio::test]
async fn error_bodies_are_redacted() {
    let err = post_error(ResponseTemplate::new(400).set_body_json(json!({
        "detail": format!("bad request with token {TOKEN}"),
        "access_token": "another-secret-value",
    })))
    .await;
    let body = err.redacted_body().unwrap();
    assert!(!body.contains(TOKEN) && !body.contains("another-secret-value"), "{body}");
    assert!(!err.to_string().contains(TOKEN));
    assert!(body.contains("bad request"));
}

#[tokio::test]
async fn timeout_after_sending_the_post_is_an_unknown_outcome_then_reconciled() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .respond_with(ResponseTemplate::new(201).set_delay(SLOW_REPLY))
        .expect(1)
        .mount(&server)
        .await;
    let attempt_started = Utc::now();
    let err = adapter(&server, TINY_TIMEOUT)
        .publish(
            &ctx("42"),
            &PublishRequest::new("Launch day & more! https://smartflow.example/l", "k"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::UnknownOutcome { .. }), "{err:?}");
    assert!(err.needs_reconciliation() && !err.is_retryable());

    // The post did go out: the account's timeline shows it with the link rewritten.
    let created = attempt_started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Mock::given(method("GET"))
        .and(path("/2/users/42/tweets"))
        .and(query_param("tweet.fields", "created_at"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [
                { "id": "2", "text": "Something else", "created_at": created },
                { "id": "1", "text": "Launch day &amp; more! https://t.co/AbC123", "created_at": created },
            ],
            "meta": { "result_count": 2 }
        })))
        .mount(&server)
        .await;
    let since = attempt_started - chrono::Duration::minutes(2);
    let posts = adapter(&server, TIMEOUT).recent_posts(&ctx("42"), since).await.unwrap();
    let requests = received(&server, "GET", "/2/users/42/tweets").await;
    let sent_since = super::query(&requests[0])["start_time"].clone();
    assert_eq!(sent_since, since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let found =
        find_match(&posts, "Launch day & more! https://smartflow.example/l", attempt_started);
    assert_eq!(found.map(|p| p.remote_id.as_str()), Some("1"));
}

#[tokio::test]
async fn media_upload_timeout_is_transient_not_unknown() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/media/upload"))
        .respond_with(ResponseTemplate::new(200).set_delay(SLOW_REPLY))
        .mount(&server)
        .await;
    let x = XAdapter::new(
        client(),
        &XSettings { api_base_url: server.uri(), ..XSettings::default() },
        TIMEOUT,
        TINY_TIMEOUT,
    );
    let mut post = PublishRequest::new("Hello", "k");
    post.media.push(jpeg(IMAGE, 10, 10));
    let err = x.publish(&ctx("42"), &post).await.unwrap_err();
    assert!(matches!(err, PlatformError::Transient { .. }), "{err:?}");
}

#[tokio::test]
async fn refused_connection_is_transient() {
    // Bind and release a port so nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let settings =
        XSettings { api_base_url: format!("http://127.0.0.1:{port}"), ..XSettings::default() };
    let err = XAdapter::new(client(), &settings, TIMEOUT, TIMEOUT)
        .publish(&ctx("42"), &PublishRequest::new("Hello", "k"))
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::Transient { .. }), "{err:?}");
}
