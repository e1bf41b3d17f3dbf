//! Scheduling posts: platform rules checked at schedule time with problem+json naming the
//! platform and rule, DST-correct times, and changing a post before it goes out.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Social, create_post, publish_job, setup, x_account};
use crate::helpers::{assert_problem, tiny_png};

/// The next last Sunday of March at least a week away: Paris moves from UTC+1 to UTC+2 at
/// 02:00 that night.
pub fn spring_forward() -> NaiveDate {
    let today = Utc::now().date_naive();
    let mut year = today.year();
    loop {
        let mut d = NaiveDate::from_ymd_opt(year, 3, 31).unwrap();
        while d.weekday() != Weekday::Sun {
            d -= Duration::days(1);
        }
        if d > today + Duration::days(8) {
            return d;
        }
        year += 1;
    }
}

fn utc(date: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(h, m, 0).unwrap())
}

pub async fn paris(s: &Social) {
    sqlx::query(
        "update smartflow_shared.workspaces set timezone = 'Europe/Paris' where id = $1::uuid",
    )
    .bind(&s.owner.workspace_id)
    .execute(&s.app.db)
    .await
    .unwrap();
}

async fn upload_big_png(s: &Social, mb: usize) -> String {
    let mut png = tiny_png();
    png.resize(mb * 1024 * 1024, 0);
    let res = s.app.upload(&s.owner.token, "big.png", &png).await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn platform_rules_refuse_an_overlong_x_post_and_an_oversized_image() {
    let s = setup().await;
    let x = x_account(&s, "t").await;
    let at = (Utc::now() + Duration::hours(2)).to_rfc3339();
    let long = "a".repeat(281);
    let res = s
        .app
        .post_as(
            "/api/posts",
            &s.owner.token,
            &json!({ "content": long, "targets": [x], "scheduled_at": at }),
        )
        .await;
    let problem = assert_problem(res, 422).await;
    let e = &problem["errors"][0];
    assert_eq!(e["field"], "content");
    assert_eq!(e["code"], "x.text_too_long");
    assert!(e["message"].as_str().unwrap().starts_with("X: Shorten the text by 1"), "{e}");

    // The same text as an X variant names the variant; links count 23 as on X.
    let url_text = format!("{} https://example.com/{}", "b".repeat(250), "c".repeat(60));
    let res = s
        .app
        .post_as(
            "/api/posts",
            &s.owner.token,
            &json!({ "content": "short", "variants": { "x": url_text }, "targets": [x], "scheduled_at": at }),
        )
        .await;
    assert_eq!(res.status(), 201, "250 + 1 + 23 weighted characters fit X's 280");

    let image = upload_big_png(&s, 6).await;
    let res = s
        .app
        .post_as(
            "/api/posts",
            &s.owner.token,
            &json!({ "content": "pic", "media_ids": [image], "targets": [x], "scheduled_at": at }),
        )
        .await;
    let problem = assert_problem(res, 422).await;
    let e = &problem["errors"][0];
    assert_eq!(e["field"], "media_ids.0");
    assert_eq!(e["code"], "x.media_too_large");
    assert!(e["message"].as_str().unwrap().starts_with("X: "));

    // A draft is stored anyway, with the rules as warnings.
    let res = s
        .app
        .post_as(
            "/api/posts",
            &s.owner.token,
            &json!({ "content": "a".repeat(300), "targets": [x] }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let draft: Value = res.json().await.unwrap();
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["warnings"][0]["rule"], "text_too_long");
    assert_eq!(draft["warnings"][0]["platform"], "x");
    // …and refused when someone tries to publish it.
    let res = s
        .app
        .post_as(
            &format!("/api/posts/{}/publish", draft["id"].as_str().unwrap()),
            &s.owner.token,
            &json!({}),
        )
        .await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["code"], "x.text_too_long");
}

#[tokio::test]
async fn local_times_are_read_in_the_workspace_timezone_across_a_dst_change() {
    let s = setup().await;
    paris(&s).await;
    let x = x_account(&s, "t").await;
    let change = spring_forward();
    let before = change - Duration::days(1);
    // 09:00 in Paris is 08:00 UTC the day before the change and 07:00 UTC on the day.
    for (day, expected) in [(before, utc(before, 8, 0)), (change, utc(change, 7, 0))] {
        let post = create_post(
            &s,
            json!({ "content": "Bonjour", "targets": [x], "scheduled_at": format!("{day}T09:00") }),
        )
        .await;
        assert_eq!(
            post["scheduled_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(),
            expected
        );
        assert_eq!(post["timezone"], "Europe/Paris");
        assert!(
            post["scheduled_local"].as_str().unwrap().starts_with(&format!("{day}T09:00:00")),
            "{post}"
        );
        // The publish job waits for exactly that instant.
        let target = post["targets"][0]["id"].as_str().unwrap();
        let (state, wait) = publish_job(&s.app, target).await;
        assert_eq!(state, "scheduled");
        let due = (expected - Utc::now()).num_milliseconds() as f64 / 1000.0;
        assert!((wait - due).abs() < 5.0, "job waits {wait} s, the post is due in {due} s");
    }
    // 02:30 does not exist that night.
    let res = s
        .app
        .post_as(
            "/api/posts",
            &s.owner.token,
            &json!({ "content": "x", "targets": [x], "scheduled_at": format!("{change}T02:30") }),
        )
        .await;
    let e = assert_problem(res, 422).await["errors"][0].clone();
    assert_eq!(
        (e["field"].as_str(), e["code"].as_str()),
        (Some("scheduled_at"), Some("nonexistent_local_time"))
    );
    assert!(e["message"].as_str().unwrap().contains("03:00"));
    // An explicit offset or another timezone wins over the workspace's.
    let post = create_post(
        &s,
        json!({ "content": "NY", "targets": [x], "scheduled_at": format!("{change}T09:00"), "timezone": "America/New_York" }),
    )
    .await;
    // New York is already on summer time (UTC-4) in late March.
    assert_eq!(
        post["scheduled_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(),
        utc(change, 13, 0)
    );
    let res = s
        .app
        .post_as(
            "/api/posts",
            &s.owner.token,
            &json!({ "content": "x", "targets": [x], "scheduled_at": "2020-01-01T10:00:00Z" }),
        )
        .await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["code"], "in_the_past");
}

#[tokio::test]
async fn rescheduling_a_weekly_slot_keeps_its_local_time_across_the_change() {
    let s = setup().await;
    paris(&s).await;
    let x = x_account(&s, "t").await;
    let res = s
        .app
        .post_as(
            &format!("/api/accounts/{x}/slots"),
            &s.owner.token,
            &json!({ "weekday": "sunday", "time": "09:30" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let change = spring_forward();
    let weeks = (change - Utc::now().date_naive()).num_days() / 7 + 2;
    let next: Vec<DateTime<Utc>> = s
        .app
        .get_as(&format!("/api/accounts/{x}/slots/next?count={weeks}"), &s.owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(next.windows(2).all(|w| w[1] - w[0] == Duration::weeks(1)
        || w[1] - w[0] == Duration::weeks(1) - Duration::hours(1)
        || w[1] - w[0] == Duration::weeks(1) + Duration::hours(1)));
    assert!(next.contains(&utc(change - Duration::days(7), 8, 30)), "09:30 CET the week before");
    assert!(next.contains(&utc(change, 7, 30)), "09:30 CEST on the day of the change");
    // Queueing takes the first free slot, the next post the one after.
    let first = create_post(&s, json!({ "content": "q1", "targets": [x], "queue": true })).await;
    let second = create_post(&s, json!({ "content": "q2", "targets": [x], "queue": true })).await;
    assert_eq!(first["scheduled_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), next[0]);
    assert_eq!(second["scheduled_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), next[1]);
}

#[tokio::test]
async fn posts_change_until_they_go_out() {
    let s = setup().await;
    let x = x_account(&s, "t").await;
    let at = Utc::now() + Duration::days(2);
    let post = create_post(&s, json!({ "content": "Launch", "platforms": ["x"], "scheduled_at": at.to_rfc3339(), "first_comment": "More soon" })).await;
    let id = post["id"].as_str().unwrap().to_string();
    assert_eq!(post["status"], "scheduled");
    assert_eq!(post["platforms"], json!(["x"]));
    assert_eq!(post["targets"][0]["account_id"], x.to_string());
    let target = post["targets"][0]["id"].as_str().unwrap().to_string();

    // Reschedule: the same target, its job moved.
    let later = at + Duration::days(1);
    let res = s
        .app
        .send_as(
            Method::PATCH,
            &format!("/api/posts/{id}"),
            &s.owner.token,
            Some(&json!({ "scheduled_at": later.to_rfc3339(), "content": "Launch!" })),
        )
        .await;
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["content"], "Launch!");
    assert_eq!(updated["first_comment"], "More soon");
    assert_eq!(updated["targets"][0]["id"], target);
    let (state, wait) = publish_job(&s.app, &target).await;
    assert_eq!(state, "scheduled");
    assert!(wait > Duration::days(2).num_seconds() as f64, "the job follows the new time");
    let active: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_shared.jobs where kind = 'social.publish' and state in ('scheduled', 'available', 'running')",
    )
    .fetch_one(&s.app.db)
    .await
    .unwrap();
    assert_eq!(active, 1, "never two active jobs for a target");

    // Someone else's post: a `user` may not change it; another workspace cannot see it.
    let member = s.app.member(&s.owner, "member@example.com", "user").await;
    let res = s
        .app
        .send_as(
            Method::PATCH,
            &format!("/api/posts/{id}"),
            &member.token,
            Some(&json!({ "content": "mine" })),
        )
        .await;
    assert_problem(res, 403).await;
    let stranger = s.app.signup("stranger@example.com").await;
    assert_problem(s.app.get_as(&format!("/api/posts/{id}"), &stranger.token).await, 404).await;
    let list: Value = s.app.get_as("/api/posts", &stranger.token).await.json().await.unwrap();
    assert!(list.as_array().unwrap().is_empty());

    // Duplicate: a draft copy.
    let res =
        s.app.post_as(&format!("/api/posts/{id}/duplicate"), &s.owner.token, &json!({})).await;
    assert_eq!(res.status(), 201);
    let copy: Value = res.json().await.unwrap();
    assert_eq!(
        (copy["status"].as_str(), copy["content"].as_str()),
        (Some("draft"), Some("Launch!"))
    );
    assert_eq!(copy["duplicated_from"], id.as_str());

    // Cancel: the job is cancelled too; cancelling twice conflicts.
    let res = s.app.post_as(&format!("/api/posts/{id}/cancel"), &s.owner.token, &json!({})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "cancelled");
    assert_eq!(publish_job(&s.app, &target).await.0, "cancelled");
    assert_problem(
        s.app.post_as(&format!("/api/posts/{id}/cancel"), &s.owner.token, &json!({})).await,
        409,
    )
    .await;

    let list: Value =
        s.app.get_as("/api/posts?status=draft", &s.owner.token).await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let res = s.app.get_as("/api/posts?status=lost", &s.owner.token).await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["field"], "status");

    // Delete (admins): the copy never went out.
    let copy_id = copy["id"].as_str().unwrap();
    let res =
        s.app.send_as(Method::DELETE, &format!("/api/posts/{copy_id}"), &member.token, None).await;
    assert_problem(res, 403).await;
    let res =
        s.app.send_as(Method::DELETE, &format!("/api/posts/{copy_id}"), &s.owner.token, None).await;
    assert_eq!(res.status(), 204);
    assert_problem(s.app.get_as(&format!("/api/posts/{copy_id}"), &s.owner.token).await, 404).await;

    // Bad input names each field.
    let res = s
        .app
        .post_as("/api/posts", &s.owner.token, &json!({ "content": "x", "targets": [uuid::Uuid::new_v4()], "variants": { "myspace": "hi" }, "scheduled_at": "soon" }))
        .await;
    let problem = assert_problem(res, 422).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"targets.0")
            && fields.contains(&"variants.myspace")
            && fields.contains(&"scheduled_at"),
        "{fields:?}"
    );
    let res = s.app.post_as("/api/posts", &s.owner.token, &json!({ "content": "x" })).await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["field"], "targets");
}

#[tokio::test]
async fn the_plan_limits_scheduled_posts_per_month() {
    let s = setup().await;
    super::upgrade(&s.app, &s.owner, "free").await;
    let x = x_account(&s, "t").await;
    let at = (Utc::now() + Duration::days(1)).to_rfc3339();
    for i in 0..30 {
        create_post(
            &s,
            json!({ "content": format!("post {i}"), "targets": [x], "scheduled_at": at }),
        )
        .await;
    }
    let res = s
        .app
        .post_as(
            "/api/posts",
            &s.owner.token,
            &json!({ "content": "one too many", "targets": [x], "scheduled_at": at }),
        )
        .await;
    assert_problem(res, 402).await;
    // Drafts do not count.
    let res = s
        .app
        .post_as("/api/posts", &s.owner.token, &json!({ "content": "a draft", "targets": [x] }))
        .await;
    assert_eq!(res.status(), 201);
}
