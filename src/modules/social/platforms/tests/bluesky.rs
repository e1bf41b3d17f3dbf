use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, header, method, path, query_param},
};

use super::{SLOW_REPLY, TIMEOUT, TINY_TIMEOUT, TOKEN, client, ctx, received};
use crate::modules::social::platforms::{
    adapter::PlatformAdapter,
    bluesky::BlueskyAdapter,
    error::PlatformError,
    settings::BlueskySettings,
    types::{AccountContext, CommentOutcome, MediaInfo, MediaItem, PublishRequest},
};

const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

fn adapter(server: &MockServer, timeout: std::time::Duration) -> BlueskyAdapter {
    let settings = BlueskySettings { default_pds_url: server.uri(), ..BlueskySettings::default() };
    BlueskyAdapter::new(client(), &settings, timeout, TIMEOUT)
}

fn account(server: &MockServer) -> AccountContext {
    ctx(DID).with_instance_url(server.uri())
}

fn jwt(exp: i64) -> String {
    let payload = URL_SAFE_NO_PAD
        .encode(json!({ "scope": "com.atproto.access", "sub": DID, "exp": exp }).to_string());
    format!("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.{payload}.c2lnbmF0dXJl")
}

#[tokio::test]
async fn app_password_session_uses_the_accounts_own_pds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.server.createSession"))
        .and(body_json(json!({ "identifier": "alice.example.com", "password": "abcd-efgh-ijkl-mnop" })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "did": DID, "handle": "alice.example.com",
            "accessJwt": jwt(1_800_000_000), "refreshJwt": jwt(1_805_000_000),
            "didDoc": { "id": DID, "service": [{ "id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                                                   "serviceEndpoint": "https://pds.example.net" }] },
            "active": true
        })))
        .expect(1)
        .mount(&server)
        .await;
    let session = adapter(&server, TIMEOUT)
        .create_session("alice.example.com", "abcd-efgh-ijkl-mnop", None)
        .await
        .unwrap();
    assert_eq!(session.did, DID);
    assert_eq!(session.pds_url, "https://pds.example.net");
    assert_eq!(session.tokens.expires_at.unwrap().timestamp(), 1_800_000_000);
    assert!(session.tokens.refresh_token.is_issued());
    assert!(!format!("{session:?}").contains(&jwt(1_800_000_000)));

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.server.createSession"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "AuthenticationRequired", "message": "Invalid identifier or password"
        })))
        .mount(&server)
        .await;
    let err = adapter(&server, TIMEOUT).create_session("alice", "wrong", None).await.unwrap_err();
    assert!(matches!(err, PlatformError::Auth { refreshable: false, .. }), "{err:?}");
    assert!(err.hint().contains("app password"));
}

#[tokio::test]
async fn publishes_image_with_facets_at_utf8_byte_offsets_and_a_reply() {
    let server = MockServer::start().await;
    let image: &[u8] = b"\x89PNG fake";
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.repo.uploadBlob"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("content-type", "image/png"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "blob": { "$type": "blob", "ref": { "$link": "bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa" },
                      "mimeType": "image/png", "size": image.len() }
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/com.atproto.identity.resolveHandle"))
        .and(query_param("handle", "alice.bsky.social"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "did": "did:plc:alice" })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/com.atproto.identity.resolveHandle"))
        .and(query_param("handle", "nobody.example"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "InvalidRequest", "message": "Unable to resolve handle"
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.repo.createRecord"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "uri": format!("at://{DID}/app.bsky.feed.post/3l6oveex3ii2l"),
            "cid": "bafyreig2fjxi3rptqdgylg7e5hmjl6mcke7rn2b6cugzlqq3i4zu6rq52q"
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.repo.createRecord"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "uri": format!("at://{DID}/app.bsky.feed.post/3l6oveex3ii2m"),
            "cid": "bafyreihreply"
        })))
        .with_priority(2)
        .mount(&server)
        .await;

    let text = "Grüße 👋 https://example.com/straße #café cc @alice.bsky.social @nobody.example";
    let created_at: DateTime<Utc> = "2026-11-25T10:00:00.250Z".parse().unwrap();
    let mut post = PublishRequest::new(text, "post-42");
    post.created_at = Some(created_at);
    post.media.push(MediaItem::from_bytes(
        MediaInfo::new("image/png", image.len() as u64)
            .with_dimensions(1600, 900)
            .with_alt_text("A wave"),
        Bytes::from_static(image),
    ));
    post.first_comment = Some("More soon".into());

    let bsky = adapter(&server, TIMEOUT);
    let published = bsky.publish(&account(&server), &post).await.unwrap();
    assert_eq!(published.remote_id, format!("at://{DID}/app.bsky.feed.post/3l6oveex3ii2l"));
    assert_eq!(
        published.url.as_deref(),
        Some(format!("https://bsky.app/profile/{DID}/post/3l6oveex3ii2l").as_str())
    );
    assert!(matches!(published.first_comment, Some(CommentOutcome::Posted { .. })));
    assert_eq!(received(&server, "POST", "/xrpc/com.atproto.repo.uploadBlob").await[0].body, image);

    let writes = received(&server, "POST", "/xrpc/com.atproto.repo.createRecord").await;
    let body = super::json(&writes[0]);
    assert_eq!(body["repo"], DID);
    assert_eq!(body["collection"], "app.bsky.feed.post");
    let rkey = body["rkey"].as_str().unwrap().to_string();
    assert_eq!(rkey.len(), 13, "a TID record key");
    let record = &body["record"];
    assert_eq!(record["$type"], "app.bsky.feed.post");
    assert_eq!(record["text"], text);
    assert_eq!(record["createdAt"], "2026-11-25T10:00:00.250Z");
    // Byte offsets, worked out by hand: "Grüße 👋 " is 7 + 1 + 4 + 1 = 13 bytes (ü and ß take
    // two bytes each, 👋 four) though only 8 characters, so the link spans 13..40
    // ("https://example.com/straße" is 27 bytes).
    assert_eq!(
        record["facets"],
        json!([
            { "index": { "byteStart": 13, "byteEnd": 40 },
              "features": [{ "$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/straße" }] },
            { "index": { "byteStart": 41, "byteEnd": 47 },
              "features": [{ "$type": "app.bsky.richtext.facet#tag", "tag": "café" }] },
            { "index": { "byteStart": 51, "byteEnd": 69 },
              "features": [{ "$type": "app.bsky.richtext.facet#mention", "did": "did:plc:alice" }] }
        ]),
        "the unresolvable mention stays plain text"
    );
    assert_eq!(&text[13..40], "https://example.com/straße");
    assert_eq!(&text[41..47], "#café");
    assert_eq!(&text[51..69], "@alice.bsky.social");
    assert_eq!(
        record["embed"],
        json!({ "$type": "app.bsky.embed.images", "images": [{
            "alt": "A wave",
            "image": { "$type": "blob", "ref": { "$link": "bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa" },
                       "mimeType": "image/png", "size": image.len() },
            "aspectRatio": { "width": 1600, "height": 900 }
        }] })
    );

    let reply = super::json(&writes[1]);
    let parent = json!({ "uri": format!("at://{DID}/app.bsky.feed.post/3l6oveex3ii2l"),
                         "cid": "bafyreig2fjxi3rptqdgylg7e5hmjl6mcke7rn2b6cugzlqq3i4zu6rq52q" });
    assert_eq!(reply["record"]["reply"], json!({ "root": parent, "parent": parent }));
    assert_ne!(reply["rkey"], body["rkey"]);

    // The same post attempted again gets the same record key.
    let again = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.repo.createRecord"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "uri": "at://x/app.bsky.feed.post/y", "cid": "c" })),
        )
        .mount(&again)
        .await;
    let mut text_only = PublishRequest::new("Same post", "post-42");
    text_only.created_at = Some(created_at);
    adapter(&again, TIMEOUT).publish(&account(&again), &text_only).await.unwrap();
    let retried =
        super::json(&received(&again, "POST", "/xrpc/com.atproto.repo.createRecord").await[0]);
    assert_eq!(retried["rkey"], rkey.as_str());
}

#[tokio::test]
async fn retry_that_finds_its_record_already_written_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.repo.createRecord"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "InvalidRequest", "message": "Record already exists"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/com.atproto.repo.getRecord"))
        .and(query_param("collection", "app.bsky.feed.post"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "uri": format!("at://{DID}/app.bsky.feed.post/3kxyz"), "cid": "bafyexisting",
            "value": { "$type": "app.bsky.feed.post", "text": "Hello again", "createdAt": "2026-11-25T10:00:00.000Z" }
        })))
        .expect(1)
        .mount(&server)
        .await;
    let mut post = PublishRequest::new("Hello again", "post-7");
    post.created_at = Some("2026-11-25T10:00:00Z".parse().unwrap());
    let published = adapter(&server, TIMEOUT).publish(&account(&server), &post).await.unwrap();
    assert_eq!(published.remote_id, format!("at://{DID}/app.bsky.feed.post/3kxyz"));
}

async fn record_error(response: ResponseTemplate) -> PlatformError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.repo.createRecord"))
        .respond_with(response)
        .mount(&server)
        .await;
    adapter(&server, TIMEOUT)
        .publish(&account(&server), &PublishRequest::new("Hi", "k"))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn xrpc_errors_are_classified() {
    let err = record_error(ResponseTemplate::new(400).set_body_json(json!({
        "error": "ExpiredToken", "message": "Token has expired"
    })))
    .await;
    assert!(matches!(err, PlatformError::Auth { refreshable: true, .. }), "{err:?}");
    assert_eq!(err.info().remote_code.as_deref(), Some("ExpiredToken"));

    let reset = Utc::now().timestamp() + 120;
    let err = record_error(
        ResponseTemplate::new(429)
            .insert_header("ratelimit-limit", "5000")
            .insert_header("ratelimit-remaining", "0")
            .insert_header("ratelimit-reset", reset.to_string().as_str())
            .set_body_json(
                json!({ "error": "RateLimitExceeded", "message": "Rate Limit Exceeded" }),
            ),
    )
    .await;
    let wait = err.retry_after().unwrap();
    assert!(wait.as_secs() <= 120 && wait.as_secs() >= 110, "{wait:?}");

    let err = record_error(ResponseTemplate::new(400).set_body_json(json!({
        "error": "InvalidRequest", "message": "Invalid app.bsky.feed.post record: Record/text must not be longer than 300 graphemes"
    })))
    .await;
    assert!(matches!(err, PlatformError::Validation { .. }), "{err:?}");

    let err = record_error(ResponseTemplate::new(502).set_body_json(json!({
        "error": "UpstreamFailure", "message": "Upstream Failure"
    })))
    .await;
    assert!(matches!(err, PlatformError::Transient { .. }), "{err:?}");
}

#[tokio::test]
async fn create_record_timeout_is_an_unknown_outcome() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.repo.createRecord"))
        .respond_with(ResponseTemplate::new(200).set_delay(SLOW_REPLY))
        .mount(&server)
        .await;
    let err = adapter(&server, TINY_TIMEOUT)
        .publish(&account(&server), &PublishRequest::new("Hi", "k"))
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::UnknownOutcome { .. }), "{err:?}");
}

#[tokio::test]
async fn refresh_rotates_the_refresh_jwt() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/xrpc/com.atproto.server.refreshSession"))
        .and(header("authorization", "Bearer old-refresh-jwt"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "did": DID, "handle": "alice.example.com",
            "accessJwt": jwt(1_800_007_200), "refreshJwt": "new-refresh-jwt"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let tokens =
        adapter(&server, TIMEOUT).refresh(&account(&server), "old-refresh-jwt").await.unwrap();
    assert_eq!(tokens.refresh_token.expose(), Some("new-refresh-jwt"));
    assert_eq!(tokens.expires_at.unwrap().timestamp(), 1_800_007_200);
}

#[tokio::test]
async fn recent_posts_from_the_repository() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/xrpc/com.atproto.repo.listRecords"))
        .and(query_param("repo", DID))
        .and(query_param("collection", "app.bsky.feed.post"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "records": [
                { "uri": format!("at://{DID}/app.bsky.feed.post/3new"), "cid": "c1",
                  "value": { "$type": "app.bsky.feed.post", "text": "New", "createdAt": "2026-11-25T10:00:00.000Z" } },
                { "uri": format!("at://{DID}/app.bsky.feed.post/3old"), "cid": "c2",
                  "value": { "$type": "app.bsky.feed.post", "text": "Old", "createdAt": "2026-11-20T10:00:00.000Z" } }
            ],
            "cursor": "3old"
        })))
        .mount(&server)
        .await;
    let since = "2026-11-25T09:00:00Z".parse().unwrap();
    let posts = adapter(&server, TIMEOUT).recent_posts(&account(&server), since).await.unwrap();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].text, "New");
    assert_eq!(
        posts[0].url.as_deref(),
        Some(format!("https://bsky.app/profile/{DID}/post/3new").as_str())
    );
}

#[tokio::test]
async fn post_counters_and_followers_from_the_app_view() {
    let server = MockServer::start().await;
    let uri = |rkey: &str| format!("at://{DID}/app.bsky.feed.post/{rkey}");
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.feed.getPosts"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "posts": [
            { "uri": uri("3kabc"), "cid": "bafyreia", "author": { "did": DID, "handle": "smartflow.bsky.social" },
              "record": { "$type": "app.bsky.feed.post", "text": "One", "createdAt": "2026-11-25T10:00:00.000Z" },
              "replyCount": 2, "repostCount": 5, "likeCount": 31, "quoteCount": 1,
              "indexedAt": "2026-11-25T10:00:01.000Z" },
            { "uri": uri("3kdef"), "cid": "bafyreib", "author": { "did": DID, "handle": "smartflow.bsky.social" },
              "record": { "$type": "app.bsky.feed.post", "text": "Two", "createdAt": "2026-11-25T11:00:00.000Z" },
              "replyCount": 0, "repostCount": 0, "likeCount": 3,
              "indexedAt": "2026-11-25T11:00:01.000Z" }
        ] })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.actor.getProfile"))
        .and(query_param("actor", DID))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "did": DID, "handle": "smartflow.bsky.social", "followersCount": 880,
            "followsCount": 120, "postsCount": 64
        })))
        .mount(&server)
        .await;
    let bsky = adapter(&server, TIMEOUT);
    // A post deleted since is simply absent from the answer.
    let ids = [uri("3kabc"), uri("3kdef"), uri("3kgone")];
    let metrics = bsky.post_metrics(&account(&server), &ids).await.unwrap();
    assert_eq!(metrics.len(), 2);
    assert_eq!(
        (metrics[0].likes, metrics[0].reposts, metrics[0].replies, metrics[0].impressions),
        (Some(31), Some(5), Some(2), None)
    );
    assert_eq!(metrics[1].remote_id, uri("3kdef"));
    let request = &received(&server, "GET", "/xrpc/app.bsky.feed.getPosts").await[0];
    let asked: Vec<String> = request
        .url
        .query_pairs()
        .filter(|(k, _)| k == "uris")
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(asked, ids, "one `uris` parameter per post");
    let account = bsky.account_metrics(&account(&server)).await.unwrap();
    assert_eq!(
        (account.followers, account.following, account.posts),
        (Some(880), Some(120), Some(64))
    );
}
