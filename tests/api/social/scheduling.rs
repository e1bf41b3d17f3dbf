//! What scheduling learns up front so posts do not fail later: videos measured at upload and
//! checked against each platform's length rules, accounts whose access ends before the post
//! is due, queue slots taken once under concurrency, and a Mastodon instance's own limit.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path},
};

use super::{
    create_post, due_post, received, reconciliation::linkedin_member, setup, target_state,
    x_account,
};
use crate::helpers::assert_problem;

fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out
}

/// A minimal MP4: `ftyp`, `mdat`, and a `moov` with `mvhd` (length) and one video track
/// (`tkhd` with its size, `mdia/hdlr` = `vide`).
pub fn mp4(seconds: u32, width: u32, height: u32) -> Vec<u8> {
    let timescale = 1_000u32;
    let mut mvhd = vec![0u8; 4]; // version 0, flags
    mvhd.extend_from_slice(&[0; 8]); // creation, modification
    mvhd.extend_from_slice(&timescale.to_be_bytes());
    mvhd.extend_from_slice(&(seconds * timescale).to_be_bytes());
    mvhd.extend_from_slice(&[0; 80]);
    let mut tkhd = vec![0, 0, 0, 7];
    tkhd.extend_from_slice(&[0; 36]);
    for cell in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        tkhd.extend_from_slice(&cell.to_be_bytes());
    }
    tkhd.extend_from_slice(&(width << 16).to_be_bytes());
    tkhd.extend_from_slice(&(height << 16).to_be_bytes());
    let mut hdlr = vec![0u8; 8];
    hdlr.extend_from_slice(b"vide");
    hdlr.extend_from_slice(&[0; 13]);
    let trak = mp4_box(
        b"trak",
        &[mp4_box(b"tkhd", &tkhd), mp4_box(b"mdia", &mp4_box(b"hdlr", &hdlr))].concat(),
    );
    let moov = mp4_box(b"moov", &[mp4_box(b"mvhd", &mvhd), trak].concat());
    [mp4_box(b"ftyp", b"isom\0\0\x02\0isomiso2mp41"), mp4_box(b"mdat", &[0; 32]), moov].concat()
}

#[tokio::test]
async fn a_video_longer_than_x_allows_is_refused_when_scheduled() {
    let s = setup().await;
    let x = x_account(&s, "t").await;
    let res = s.app.upload(&s.owner.token, "clip.mp4", &mp4(200, 1280, 720)).await;
    assert_eq!(res.status(), 201);
    let up: Value = res.json().await.unwrap();
    assert_eq!(up["content_type"], "video/mp4");
    assert_eq!(up["duration_ms"], 200_000, "measured from the movie header");
    assert_eq!((up["width"].as_i64(), up["height"].as_i64()), (Some(1280), Some(720)));
    let at = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let res = s
        .app
        .post_as(
            "/api/posts",
            &s.owner.token,
            &json!({ "content": "Watch", "targets": [x], "media_ids": [up["id"]], "scheduled_at": at }),
        )
        .await;
    let body = assert_problem(res, 422).await;
    let e = &body["errors"][0];
    assert_eq!(e["code"], "x.video_too_long", "{body}");
    assert_eq!(e["field"], "media_ids.0");
    assert!(e["message"].as_str().unwrap().starts_with("X: "), "{e}");
    // A short one is accepted.
    let short: Value =
        s.app.upload(&s.owner.token, "s.mp4", &mp4(20, 1280, 720)).await.json().await.unwrap();
    create_post(&s, json!({ "content": "Watch", "targets": [x], "media_ids": [short["id"]], "scheduled_at": at })).await;
    // A file that only claims to be a video is refused at upload.
    let res = s.app.upload(&s.owner.token, "fake.mp4", b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom").await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["code"], "corrupt_video");
}

#[tokio::test]
async fn scheduling_after_an_accounts_access_ends_warns() {
    let s = setup().await;
    // LinkedIn member tokens last 60 days and cannot be refreshed; this one has 50 left.
    let li = linkedin_member(&s).await;
    let soon = (Utc::now() + Duration::days(10)).to_rfc3339();
    let post =
        create_post(&s, json!({ "content": "Soon", "targets": [li], "scheduled_at": soon })).await;
    assert!(post["warnings"].as_array().unwrap().is_empty(), "{post}");
    let late = (Utc::now() + Duration::days(55)).to_rfc3339();
    let post =
        create_post(&s, json!({ "content": "Later", "targets": [li], "scheduled_at": late })).await;
    let w = &post["warnings"][0];
    assert_eq!(
        (w["platform"].as_str(), w["rule"].as_str()),
        (Some("linkedin"), Some("access_expires"))
    );
    assert_eq!(w["field"], "targets.0");
    assert!(w["message"].as_str().unwrap().contains("reconnect the account before then"), "{w}");
    assert_eq!(post["status"], "scheduled", "a warning, not a refusal");
}

#[tokio::test]
async fn posts_queued_at_the_same_time_take_different_slots() {
    let s = setup().await;
    let x = x_account(&s, "t").await;
    for weekday in ["monday", "tuesday", "wednesday", "thursday", "friday"] {
        let res = s
            .app
            .post_as(
                &format!("/api/accounts/{x}/slots"),
                &s.owner.token,
                &json!({ "weekday": weekday, "time": "10:00" }),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    let s = &s;
    let queue = |i: usize| {
        let body = json!({ "content": format!("queued {i}"), "targets": [x], "queue": true });
        async move { s.app.post_as("/api/posts", &s.owner.token, &body).await }
    };
    let (a, b, c, d) = tokio::join!(queue(0), queue(1), queue(2), queue(3));
    let mut times = Vec::new();
    for res in [a, b, c, d] {
        assert_eq!(res.status(), 201);
        let post: Value = res.json().await.unwrap();
        times.push(post["scheduled_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap());
    }
    times.sort();
    times.dedup();
    assert_eq!(times.len(), 4, "every queued post has its own slot: {times:?}");
}

#[tokio::test]
async fn a_mastodon_instance_allowing_longer_posts_is_taken_at_its_word() {
    let s = setup().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/verify_credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "id": "109302", "acct": "smartflow", "display_name": "SmartFlow", "url": "https://social.example/@smartflow" }),
        ))
        .mount(&s.fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/instance"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "domain": "social.example",
            "configuration": { "statuses": { "max_characters": 1000, "max_media_attachments": 4,
                                             "characters_reserved_per_url": 23 } }
        })))
        .mount(&s.fake)
        .await;
    let res = s
        .app
        .post_as(
            "/api/accounts",
            &s.owner.token,
            &json!({ "platform": "mastodon", "instance_url": s.fake.uri(), "access_token": "masto" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let linked: Value = res.json().await.unwrap();
    assert_eq!(linked["account"]["max_characters"], 1000);
    let m: uuid::Uuid = linked["account"]["id"].as_str().unwrap().parse().unwrap();
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "1", "url": "https://social.example/@smartflow/1", "content": "<p>long</p>",
            "created_at": Utc::now().to_rfc3339()
        })))
        .mount(&s.fake)
        .await;
    let long = "a".repeat(700);
    let (_, target) = due_post(&s, m, &long).await;
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "confirmed");
    assert_eq!(received(&s.fake, "POST", "/api/v1/statuses").await.len(), 1);
    let res = s
        .app
        .post_as(
            "/api/posts",
            &s.owner.token,
            &json!({ "content": "a".repeat(1001), "targets": [m], "publish_now": true }),
        )
        .await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["code"], "mastodon.text_too_long");
}
