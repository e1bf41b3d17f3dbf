use serde_json::json;
use url::Url;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path, query_param},
};

use super::{TIMEOUT, client, ctx, form, jpeg, received};
use crate::{
    config::Secret,
    modules::social::platforms::{
        adapter::PlatformAdapter,
        error::PlatformError,
        meta::instagram::InstagramAdapter,
        rules::RuleCode,
        settings::{InstagramSettings, MetaSettings},
        types::{CommentOutcome, MediaInfo, PostDraft, PublishRequest},
    },
};

const IG: &str = "17841400000000000";

fn adapter(server: &MockServer) -> InstagramAdapter {
    let meta = MetaSettings {
        app_id: "app-1".into(),
        app_secret: Secret::new("app-secret"),
        graph_base_url: server.uri(),
        ..MetaSettings::default()
    };
    let settings = InstagramSettings {
        container_poll_interval_ms: 1,
        container_poll_attempts: 5,
        ..InstagramSettings::default()
    };
    InstagramAdapter::new(client(), &meta, &settings, TIMEOUT, TIMEOUT)
}

fn photo(n: u8) -> crate::modules::social::platforms::types::MediaItem {
    jpeg(b"jpeg", 1080, 1350)
        .with_public_url(Url::parse(&format!("https://cdn.example/{n}.jpg")).unwrap())
}

async fn mount_status(server: &MockServer, container: &str, states: &[(&str, u64)]) {
    for (i, (state, times)) in states.iter().enumerate() {
        let mock = Mock::given(method("GET"))
            .and(path(format!("/v24.0/{container}").as_str()))
            .and(query_param("fields", "status_code,status"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "status_code": state,
                "status": if *state == "ERROR" { "Error: Media download has failed. (2207003)" } else { "" },
                "id": container
            })))
            .with_priority(u8::try_from(i + 1).unwrap());
        let mock = if *times > 0 { mock.up_to_n_times(*times) } else { mock };
        mock.mount(server).await;
    }
}

#[tokio::test]
async fn polls_the_container_until_finished_then_publishes() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v24.0/{IG}/media").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "c1" })))
        .expect(1)
        .mount(&server)
        .await;
    mount_status(&server, "c1", &[("IN_PROGRESS", 2), ("FINISHED", 0)]).await;
    Mock::given(method("POST"))
        .and(path(format!("/v24.0/{IG}/media_publish").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "m1" })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v24.0/m1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "m1", "permalink": "https://www.instagram.com/p/Abc123/"
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v24.0/m1/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "cm1" })))
        .expect(1)
        .mount(&server)
        .await;

    let mut post = PublishRequest::new("Spring collection #fashion", "post-1");
    let mut item = photo(1);
    item.info.alt_text = Some("Three jackets".into());
    post.media.push(item);
    post.first_comment = Some("Link in bio".into());
    let published = adapter(&server).publish(&ctx(IG), &post).await.unwrap();
    assert_eq!(published.remote_id, "m1");
    assert_eq!(published.url.as_deref(), Some("https://www.instagram.com/p/Abc123/"));
    assert!(matches!(published.first_comment, Some(CommentOutcome::Posted { .. })));

    let created = form(&received(&server, "POST", &format!("/v24.0/{IG}/media")).await[0]);
    assert_eq!(created["image_url"], "https://cdn.example/1.jpg");
    assert_eq!(created["caption"], "Spring collection #fashion");
    assert_eq!(created["alt_text"], "Three jackets");
    assert_eq!(
        received(&server, "GET", "/v24.0/c1").await.len(),
        3,
        "two IN_PROGRESS, one FINISHED"
    );
    let publish = form(&received(&server, "POST", &format!("/v24.0/{IG}/media_publish")).await[0]);
    assert_eq!(publish["creation_id"], "c1");
}

#[tokio::test]
async fn container_error_is_a_media_error_and_nothing_is_published() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v24.0/{IG}/media").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "c9" })))
        .mount(&server)
        .await;
    mount_status(&server, "c9", &[("IN_PROGRESS", 1), ("ERROR", 0)]).await;
    Mock::given(method("POST"))
        .and(path(format!("/v24.0/{IG}/media_publish").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "never" })))
        .expect(0)
        .mount(&server)
        .await;

    let mut post = PublishRequest::new("Hi", "k");
    post.media.push(photo(1));
    let err = adapter(&server).publish(&ctx(IG), &post).await.unwrap_err();
    assert!(
        matches!(&err, PlatformError::Media { message, .. } if message.contains("2207003")),
        "{err:?}"
    );
}

#[tokio::test]
async fn container_still_processing_after_all_polls_is_transient() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v24.0/{IG}/media").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "c2" })))
        .mount(&server)
        .await;
    mount_status(&server, "c2", &[("IN_PROGRESS", 0)]).await;
    let mut post = PublishRequest::new("Hi", "k");
    post.media.push(photo(1));
    let err = adapter(&server).publish(&ctx(IG), &post).await.unwrap_err();
    assert!(matches!(err, PlatformError::Transient { .. }), "{err:?}");
    assert_eq!(received(&server, "GET", "/v24.0/c2").await.len(), 5, "bounded by the setting");
}

#[tokio::test]
async fn several_images_become_a_carousel() {
    let server = MockServer::start().await;
    for (i, id) in ["k1", "k2", "parent"].iter().enumerate() {
        Mock::given(method("POST"))
            .and(path(format!("/v24.0/{IG}/media").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": id })))
            .up_to_n_times(1)
            .with_priority(u8::try_from(i + 1).unwrap())
            .mount(&server)
            .await;
        mount_status(&server, id, &[("FINISHED", 0)]).await;
    }
    Mock::given(method("POST"))
        .and(path(format!("/v24.0/{IG}/media_publish").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "m2" })))
        .mount(&server)
        .await;

    let mut post = PublishRequest::new("Two looks", "k");
    post.media.push(photo(1));
    post.media.push(photo(2));
    let published = adapter(&server).publish(&ctx(IG), &post).await.unwrap();
    assert_eq!(published.remote_id, "m2");
    assert_eq!(published.url, None, "no permalink lookup answered; the post still exists");

    let containers = received(&server, "POST", &format!("/v24.0/{IG}/media")).await;
    let child = form(&containers[0]);
    assert_eq!(child["is_carousel_item"], "true");
    assert_eq!(child["image_url"], "https://cdn.example/1.jpg");
    assert!(!child.contains_key("caption"));
    let parent = form(&containers[2]);
    assert_eq!(parent["media_type"], "CAROUSEL");
    assert_eq!(parent["children"], "k1,k2");
    assert_eq!(parent["caption"], "Two looks");
    assert_eq!(
        form(&received(&server, "POST", &format!("/v24.0/{IG}/media_publish")).await[0])["creation_id"],
        "parent"
    );
}

#[tokio::test]
async fn media_without_a_public_url_is_refused_before_any_request() {
    let server = MockServer::start().await;
    let mut post = PublishRequest::new("Hi", "k");
    post.media.push(jpeg(b"jpeg", 1080, 1080));
    let err = adapter(&server).publish(&ctx(IG), &post).await.unwrap_err();
    assert!(
        matches!(&err, PlatformError::Media { message, .. } if message.contains("public URL")),
        "{err:?}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn rules_aspect_ratio_format_and_required_media() {
    let server = MockServer::start().await;
    let ig = adapter(&server);
    let draft = |media: Vec<MediaInfo>| PostDraft { text: "Hi".into(), media, first_comment: None };

    let ok =
        ig.validate(&draft(vec![MediaInfo::new("image/jpeg", 1_000).with_dimensions(1080, 1350)]));
    assert!(ok.is_empty(), "4:5 is allowed: {ok:?}");
    let wide =
        ig.validate(&draft(vec![MediaInfo::new("image/jpeg", 1_000).with_dimensions(1910, 1000)]));
    assert!(wide.is_empty(), "1.91:1 is allowed: {wide:?}");

    let tall =
        ig.validate(&draft(vec![MediaInfo::new("image/jpeg", 1_000).with_dimensions(1080, 1920)]));
    assert_eq!(tall.len(), 1);
    assert_eq!(tall[0].rule, RuleCode::AspectRatio);
    assert_eq!(tall[0].limit, "0.8..1.91");
    assert_eq!(tall[0].actual, "0.562");
    assert!(tall[0].message.contains("4:5"));

    let png =
        ig.validate(&draft(vec![MediaInfo::new("image/png", 1_000).with_dimensions(1080, 1080)]));
    assert_eq!(png[0].rule, RuleCode::UnsupportedMediaType);

    let large = ig.validate(&draft(vec![
        MediaInfo::new("image/jpeg", 9 * 1024 * 1024).with_dimensions(1080, 1080),
    ]));
    assert_eq!(large[0].rule, RuleCode::MediaTooLarge);
    assert_eq!(large[0].limit, (8 * 1024 * 1024).to_string());

    let none = ig.validate(&draft(vec![]));
    assert_eq!(none[0].rule, RuleCode::MediaRequired);

    let tags: String = (0..31).map(|i| format!("#tag{i} ")).collect();
    let many = ig.validate(&PostDraft {
        text: tags,
        media: vec![MediaInfo::new("image/jpeg", 1_000).with_dimensions(1080, 1080)],
        first_comment: None,
    });
    assert_eq!(many[0].rule, RuleCode::TooManyHashtags);
    assert_eq!((many[0].limit.as_str(), many[0].actual.as_str()), ("30", "31"));
}

fn graph_error(code: i64, message: &str) -> serde_json::Value {
    json!({ "error": { "message": message, "type": "OAuthException", "code": code,
                       "fbtrace_id": "AbCdEf123" } })
}

#[tokio::test]
async fn metrics_and_followers_even_when_insights_are_not_permitted() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v24.0/"))
        .and(query_param("fields", "like_count,comments_count"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "m1": { "id": "m1", "like_count": 120, "comments_count": 9 },
            "m2": { "id": "m2", "like_count": 4, "comments_count": 0 }
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v24.0/m1/insights"))
        .and(query_param("metric", "views,shares"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": [
            { "name": "views", "period": "lifetime", "values": [{ "value": 2500 }] },
            { "name": "shares", "period": "lifetime", "values": [{ "value": 14 }] }
        ] })))
        .mount(&server)
        .await;
    // The token lacks `instagram_manage_insights` for this one: the counters still load.
    Mock::given(method("GET"))
        .and(path("/v24.0/m2/insights"))
        .respond_with(ResponseTemplate::new(403).set_body_json(graph_error(
            10,
            "(#10) Application does not have permission for this action",
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v24.0/{IG}").as_str()))
        .and(query_param("fields", "followers_count,follows_count,media_count"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "followers_count": 5321, "follows_count": 80, "media_count": 212, "id": IG
        })))
        .mount(&server)
        .await;
    let ig = adapter(&server);
    let metrics = ig.post_metrics(&ctx(IG), &["m1".into(), "m2".into()]).await.unwrap();
    assert_eq!(metrics.len(), 2);
    let m1 = &metrics[0];
    assert_eq!(
        (m1.impressions, m1.likes, m1.reposts, m1.replies, m1.clicks),
        (Some(2500), Some(120), Some(14), Some(9), None)
    );
    let m2 = &metrics[1];
    assert_eq!((m2.impressions, m2.likes, m2.replies), (None, Some(4), Some(0)));
    let account = ig.account_metrics(&ctx(IG)).await.unwrap();
    assert_eq!(
        (account.followers, account.following, account.posts),
        (Some(5321), Some(80), Some(212))
    );
}

#[tokio::test]
async fn rate_limit_headers_say_how_long_to_wait() {
    let server = MockServer::start().await;
    // Instagram's business use case limit: the header names the wait in minutes.
    Mock::given(method("POST"))
        .and(path(format!("/v24.0/{IG}/media").as_str()))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header(
                    "x-business-use-case-usage",
                    format!(
                        r#"{{"{IG}":[{{"type":"instagram","call_count":100,"total_cputime":12,"total_time":20,"estimated_time_to_regain_access":7}}]}}"#
                    )
                    .as_str(),
                )
                .insert_header("x-fb-trace-id", "IgTrace42")
                .set_body_json(graph_error(80002, "There have been too many calls to this Instagram account.")),
        )
        .mount(&server)
        .await;
    let mut post = PublishRequest::new("Hello", "k");
    post.media.push(photo(1));
    let err = adapter(&server).publish(&ctx(IG), &post).await.unwrap_err();
    assert!(matches!(err, PlatformError::RateLimited { .. }), "{err:?}");
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(7 * 60)));
    assert_eq!(err.info().request_id.as_deref(), Some("IgTrace42"));

    // The 24-hour content publishing limit (code 9, subcode 2207042).
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v24.0/{IG}/media").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "c9" })))
        .mount(&server)
        .await;
    mount_status(&server, "c9", &[("FINISHED", 0)]).await;
    Mock::given(method("POST"))
        .and(path(format!("/v24.0/{IG}/media_publish").as_str()))
        .respond_with(ResponseTemplate::new(400).insert_header("retry-after", "3600").set_body_json(json!({
            "error": { "message": "Application request limit reached", "type": "OAuthException",
                       "code": 9, "error_subcode": 2207042,
                       "error_user_msg": "You've reached the maximum number of posts for 24 hours." }
        })))
        .mount(&server)
        .await;
    let err = adapter(&server).publish(&ctx(IG), &post).await.unwrap_err();
    assert!(matches!(err, PlatformError::RateLimited { .. }), "{err:?}");
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(3600)));
    assert!(err.message().contains("maximum number of posts"));
}
