use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, header, method, path, query_param},
};

use super::{SLOW_REPLY, TIMEOUT, TINY_TIMEOUT, TOKEN, client, ctx, jpeg, received};
use crate::modules::social::platforms::{
    adapter::PlatformAdapter,
    error::PlatformError,
    find_match,
    linkedin::LinkedInAdapter,
    settings::LinkedInSettings,
    types::{CommentOutcome, PublishRequest},
};

const ORG: &str = "urn:li:organization:2414183";
const SHARE: &str = "urn:li:share:6844785523593134080";

fn adapter(server: &MockServer, timeout: std::time::Duration) -> LinkedInAdapter {
    let settings = LinkedInSettings {
        api_base_url: server.uri(),
        version: "202609".into(),
        ..LinkedInSettings::default()
    };
    LinkedInAdapter::new(client(), &settings, timeout, TIMEOUT)
}

#[tokio::test]
async fn publishes_an_image_post_with_versioned_headers_and_a_comment() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/images"))
        .and(query_param("action", "initializeUpload"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("linkedin-version", "202609"))
        .and(header("x-restli-protocol-version", "2.0.0"))
        .and(body_json(json!({ "initializeUploadRequest": { "owner": ORG } })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": {
                "uploadUrlExpiresAt": 1_650_567_510_704_i64,
                "uploadUrl": format!("{}/upload/image-1", server.uri()),
                "image": "urn:li:image:C4E10AQFoyyAjHPMQuQ"
            }
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/upload/image-1"))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/posts"))
        .and(header("linkedin-version", "202609"))
        .and(header("x-restli-protocol-version", "2.0.0"))
        .respond_with(ResponseTemplate::new(201).insert_header("x-restli-id", SHARE))
        .expect(1)
        .mount(&server)
        .await;
    let comments = "/rest/socialActions/urn%3Ali%3Ashare%3A6844785523593134080/comments";
    Mock::given(method("POST"))
        .and(path(comments))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("x-restli-id", "urn:li:comment:(urn:li:activity:1,2)"),
        )
        .expect(1)
        .mount(&server)
        .await;

    let mut item = jpeg(b"jpeg-bytes", 1200, 627);
    item.info.alt_text = Some("Team photo".into());
    let mut post = PublishRequest::new("Q3 (final) results are in #growth", "post-1");
    post.media.push(item);
    post.first_comment = Some("Full report: https://example.com/q3".into());

    let published = adapter(&server, TIMEOUT).publish(&ctx(ORG), &post).await.unwrap();
    assert_eq!(published.remote_id, SHARE);
    assert_eq!(
        published.url.as_deref(),
        Some("https://www.linkedin.com/feed/update/urn:li:share:6844785523593134080/")
    );
    assert!(matches!(published.first_comment, Some(CommentOutcome::Posted { .. })));

    let upload = &received(&server, "PUT", "/upload/image-1").await[0];
    assert_eq!(upload.body, b"jpeg-bytes");
    let body = super::json(&received(&server, "POST", "/rest/posts").await[0]);
    assert_eq!(
        body,
        json!({
            "author": ORG,
            // Markup characters escaped, the hashtag as a template, or LinkedIn cuts the text.
            "commentary": r"Q3 \(final\) results are in {hashtag|\#|growth}",
            "visibility": "PUBLIC",
            "distribution": { "feedDistribution": "MAIN_FEED", "targetEntities": [],
                              "thirdPartyDistributionChannels": [] },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": false,
            "content": { "media": { "id": "urn:li:image:C4E10AQFoyyAjHPMQuQ", "altText": "Team photo" } }
        })
    );
    let comment = super::json(&received(&server, "POST", comments).await[0]);
    assert_eq!(
        comment,
        json!({ "actor": ORG, "object": SHARE, "message": { "text": "Full report: https://example.com/q3" } })
    );
}

#[tokio::test]
async fn created_without_an_id_is_an_unknown_outcome() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/posts"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let err = adapter(&server, TIMEOUT)
        .publish(&ctx(ORG), &PublishRequest::new("Hello", "k"))
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::UnknownOutcome { .. }), "{err:?}");
}

async fn post_error(response: ResponseTemplate) -> PlatformError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/posts"))
        .respond_with(response)
        .mount(&server)
        .await;
    adapter(&server, TIMEOUT)
        .publish(&ctx(ORG), &PublishRequest::new("Hello", "k"))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn errors_are_classified() {
    let err = post_error(ResponseTemplate::new(401).set_body_json(json!({
        "status": 401, "serviceErrorCode": 65600, "code": "INVALID_ACCESS_TOKEN",
        "message": "Invalid access token"
    })))
    .await;
    assert!(matches!(err, PlatformError::Auth { refreshable: true, .. }), "{err:?}");
    assert_eq!(err.info().remote_code.as_deref(), Some("65600"));

    let err = post_error(ResponseTemplate::new(426).set_body_json(json!({
        "status": 426, "code": "NONEXISTENT_VERSION", "message": "Requested version 202301 is not active"
    })))
    .await;
    assert!(matches!(err, PlatformError::Config { .. }), "{err:?}");
    assert!(err.hint().contains("linkedin.version"));

    let err = post_error(ResponseTemplate::new(422).set_body_json(json!({
        "status": 422, "message": "Content is a duplicate of urn:li:share:7012345678901234567"
    })))
    .await;
    match &err {
        PlatformError::Duplicate { existing_id, .. } => {
            assert_eq!(existing_id.as_deref(), Some("urn:li:share:7012345678901234567"))
        }
        other => panic!("expected Duplicate, got {other:?}"),
    }

    let err =
        post_error(ResponseTemplate::new(429).insert_header("retry-after", "30").set_body_json(
            json!({ "status": 429, "message": "Resource level throttle limit reached" }),
        ))
        .await;
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(30)));

    let err = post_error(ResponseTemplate::new(400).set_body_json(json!({
        "status": 400, "message": "ERROR :: /commentary :: is too long"
    })))
    .await;
    assert!(matches!(err, PlatformError::Validation { .. }), "{err:?}");

    let err = post_error(
        ResponseTemplate::new(500)
            .set_body_json(json!({ "status": 500, "message": "Internal error" })),
    )
    .await;
    assert!(matches!(err, PlatformError::Transient { .. }), "{err:?}");
}

#[tokio::test]
async fn post_timeout_is_an_unknown_outcome() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/posts"))
        .respond_with(ResponseTemplate::new(201).set_delay(SLOW_REPLY))
        .mount(&server)
        .await;
    let err = adapter(&server, TINY_TIMEOUT)
        .publish(&ctx(ORG), &PublishRequest::new("Hello", "k"))
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::UnknownOutcome { .. }), "{err:?}");
}

#[tokio::test]
async fn recent_posts_unescape_commentary_for_matching() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/posts"))
        .and(query_param("q", "author"))
        .and(query_param("author", ORG))
        .and(header("x-restli-method", "FINDER"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "paging": { "start": 0, "count": 50 },
            "elements": [
                { "id": SHARE, "author": ORG, "commentary": r"Q3 \(final\) results are in {hashtag|\#|growth}",
                  "createdAt": 1_795_600_800_000_i64, "publishedAt": 1_795_600_801_000_i64,
                  "lifecycleState": "PUBLISHED" },
                { "id": "urn:li:share:1", "author": ORG, "commentary": "Old",
                  "createdAt": 1_700_000_000_000_i64 }
            ]
        })))
        .mount(&server)
        .await;
    let since = chrono::DateTime::from_timestamp_millis(1_795_600_700_000).unwrap();
    let posts = adapter(&server, TIMEOUT).recent_posts(&ctx(ORG), since).await.unwrap();
    assert_eq!(posts.len(), 1, "posts before `since` are left out");
    assert_eq!(posts[0].text, "Q3 (final) results are in #growth");
    let found = find_match(&posts, "Q3 (final) results are in #growth", since);
    assert_eq!(found.map(|p| p.remote_id.as_str()), Some(SHARE));
}

#[tokio::test]
async fn organization_metrics() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/organizationalEntityShareStatistics"))
        .and(query_param("q", "organizationalEntity"))
        .and(query_param("shares", format!("List({SHARE})").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "elements": [{ "share": SHARE, "organizationalEntity": ORG, "totalShareStatistics": {
                "uniqueImpressionsCount": 90, "shareCount": 2, "engagement": 0.1, "clickCount": 12,
                "likeCount": 8, "impressionCount": 140, "commentCount": 3 } }]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/socialActions/urn%3Ali%3Ashare%3A6844785523593134080"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "likesSummary": { "totalLikes": 8, "likedByCurrentUser": false },
            "commentsSummary": { "aggregatedTotalComments": 3, "totalFirstLevelComments": 3 }
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/networkSizes/urn%3Ali%3Aorganization%3A2414183"))
        .and(query_param("edgeType", "COMPANY_FOLLOWED_BY_MEMBER"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "firstDegreeSize": 5400 })))
        .mount(&server)
        .await;
    let li = adapter(&server, TIMEOUT);
    let metrics = li.post_metrics(&ctx(ORG), &[SHARE.to_string()]).await.unwrap();
    assert_eq!(metrics[0].impressions, Some(140));
    assert_eq!(metrics[0].clicks, Some(12));
    assert_eq!(metrics[0].reposts, Some(2));
    assert_eq!(metrics[0].likes, Some(8));
    assert_eq!(metrics[0].replies, Some(3));
    // Rest.li lists keep their parentheses unencoded.
    let request = &received(&server, "GET", "/rest/organizationalEntityShareStatistics").await[0];
    assert!(
        request
            .url
            .query()
            .unwrap()
            .contains("shares=List(urn%3Ali%3Ashare%3A6844785523593134080)")
    );
    assert_eq!(li.account_metrics(&ctx(ORG)).await.unwrap().followers, Some(5400));
}
