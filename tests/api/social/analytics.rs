//! Analytics: collection from the platforms on a schedule, externally reported metrics,
//! aggregates (`POST /api/analytics`, seed), and per-account insights from stored history.

use chrono::{Datelike, Duration, Utc, Weekday};
use serde_json::{Value, json};
use smartflow::modules::social::analytics::collect::CollectMetrics;
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path, query_param},
};

use super::{
    NewAccount, Social, account, due_post, enqueue, mount_tweet, setup, target_state,
    tweet_created, x_account,
};
use crate::helpers::assert_problem;

async fn analytics(s: &Social, token: &str, body: Value) -> reqwest::Response {
    s.app.post_as("/api/analytics", token, &body).await
}

/// Publishes three X posts and one Mastodon post through the real publish path.
async fn published(s: &Social) -> (uuid::Uuid, uuid::Uuid, Vec<String>, String) {
    let x = x_account(s, "t").await;
    let m = account(
        &s.app,
        &s.owner,
        NewAccount {
            platform: "mastodon",
            remote_id: "109302",
            access: "m",
            refresh: None,
            expires_at: None,
            instance_url: Some(s.fake.uri()),
        },
    )
    .await;
    let mut x_posts = Vec::new();
    for (i, id) in ["101", "102", "103"].iter().enumerate() {
        s.fake.reset().await;
        mount_tweet(&s.fake, tweet_created(id)).await;
        let (post, target) = due_post(s, x, &format!("Post number {i}")).await;
        s.app.run_jobs().await;
        assert_eq!(target_state(&s.app, &target).await, "confirmed");
        x_posts.push(post);
    }
    s.fake.reset().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "m1", "url": "https://social.example/@s/m1", "content": "<p>Toot</p>", "created_at": Utc::now().to_rfc3339()
        })))
        .mount(&s.fake)
        .await;
    let (m_post, _) = due_post(s, m, "Toot").await;
    s.app.run_jobs().await;
    (x, m, x_posts, m_post)
}

#[tokio::test]
async fn metrics_are_collected_aggregated_and_reported_from_elsewhere() {
    let s = setup().await;
    let (x, m, x_posts, m_post) = published(&s).await;
    s.fake.reset().await;
    Mock::given(method("GET"))
        .and(path("/2/tweets"))
        .and(query_param("tweet.fields", "public_metrics"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": [
            { "id": "101", "text": "a", "public_metrics": { "impression_count": 1000, "like_count": 40, "retweet_count": 5, "reply_count": 5 } },
            { "id": "102", "text": "b", "public_metrics": { "impression_count": 500, "like_count": 10, "retweet_count": 0, "reply_count": 0 } },
            { "id": "103", "text": "c", "public_metrics": { "impression_count": 500, "like_count": 0, "retweet_count": 0, "reply_count": 0 } }
        ] })))
        .mount(&s.fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/2/users/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "id": "2244994945", "username": "x-user", "public_metrics": { "followers_count": 1200, "following_count": 3, "tweet_count": 3 } }
        })))
        .mount(&s.fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/statuses/m1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "m1", "content": "<p>Toot</p>", "created_at": Utc::now().to_rfc3339(),
            "favourites_count": 7, "reblogs_count": 2, "replies_count": 1
        })))
        .mount(&s.fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/verify_credentials"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "id": "109302", "followers_count": 321 })),
        )
        .mount(&s.fake)
        .await;
    enqueue(&s.app, &CollectMetrics {}).await;
    s.app.run_jobs().await;

    let res =
        analytics(&s, &s.owner.token, json!({ "type": "query", "group_by": "platform" })).await;
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    let rows = report["rows"].as_array().unwrap();
    let by = |p: &str| rows.iter().find(|r| r["key"] == p).unwrap().clone();
    let xr = by("x");
    assert_eq!(
        (xr["posts"].as_i64(), xr["impressions"].as_i64(), xr["likes"].as_i64()),
        (Some(3), Some(2000), Some(50))
    );
    assert_eq!(xr["engagements"], 60);
    assert!((xr["engagement_rate"].as_f64().unwrap() - 0.03).abs() < 1e-9);
    let mr = by("mastodon");
    assert_eq!((mr["likes"].as_i64(), mr["engagements"].as_i64()), (Some(7), Some(10)));
    assert_eq!(mr["engagement_rate"], Value::Null, "Mastodon reports no impressions");
    assert_eq!(report["totals"]["posts"], 4);

    // Clicks from a link tracker, and a follower count from an export.
    let res = analytics(
        &s,
        &s.owner.token,
        json!({ "type": "ingest", "metrics": [{ "post_id": x_posts[0], "clicks": 33 }],
                "accounts": [{ "account_id": m, "followers": 330 }] }),
    )
    .await;
    assert_eq!(res.status(), 201);
    let res =
        analytics(&s, &s.owner.token, json!({ "group_by": "post", "post_ids": [x_posts[0]] }))
            .await;
    let report: Value = res.json().await.unwrap();
    let row = &report["rows"][0];
    assert_eq!(
        (row["clicks"].as_i64(), row["likes"].as_i64()),
        (Some(33), Some(40)),
        "reported clicks sit beside collected likes"
    );
    let res =
        analytics(&s, &s.owner.token, json!({ "group_by": "account", "account_ids": [x] })).await;
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["rows"].as_array().unwrap().len(), 1);
    assert_eq!(report["rows"][0]["key"], x.to_string());
    let res =
        analytics(&s, &s.owner.token, json!({ "group_by": "day", "tz": "Europe/Paris" })).await;
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["rows"][0]["posts"], 4);

    // Bad input names its field; reporting needs write access, reading does not.
    let res = analytics(&s, &s.owner.token, json!({ "type": "ingest", "metrics": [{ "post_id": m_post, "platform": "x", "likes": 1 }] })).await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["code"], "not_published");
    let res = analytics(
        &s,
        &s.owner.token,
        json!({ "type": "ingest", "metrics": [{ "post_id": x_posts[1], "likes": -1 }] }),
    )
    .await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["field"], "metrics.0.likes");
    let res = analytics(&s, &s.owner.token, json!({ "group_by": "planet" })).await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["field"], "group_by");
    let viewer = s.app.member(&s.owner, "viewer@example.com", "viewer").await;
    assert_eq!(analytics(&s, &viewer.token, json!({})).await.status(), 200);
    let res = analytics(
        &s,
        &viewer.token,
        json!({ "type": "ingest", "metrics": [{ "post_id": x_posts[1], "likes": 1 }] }),
    )
    .await;
    assert_problem(res, 403).await;
    // Another workspace's query sees none of it.
    let stranger = s.app.signup("stranger@example.com").await;
    let report: Value = analytics(&s, &stranger.token, json!({})).await.json().await.unwrap();
    assert_eq!(report["totals"]["posts"], 0);
    let followers: Vec<i64> = sqlx::query_scalar(
        "select followers from smartflow_social.account_metrics where account_id = $1 order by id",
    )
    .bind(m)
    .fetch_all(&s.app.db)
    .await
    .unwrap();
    assert_eq!(followers, [321, 330]);
}

#[tokio::test]
async fn insights_find_the_best_local_time_from_history() {
    let s = setup().await;
    let (x, _, _, _) = published(&s).await;
    // History: the three X posts went out on Tuesdays at 09:00 UTC over the last weeks.
    let mut tuesday = Utc::now().date_naive() - Duration::days(1);
    while tuesday.weekday() != Weekday::Tue {
        tuesday -= Duration::days(1);
    }
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
        "select id from smartflow_social.post_targets where account_id = $1 order by created_at",
    )
    .bind(x)
    .fetch_all(&s.app.db)
    .await
    .unwrap();
    for (i, id) in ids.iter().enumerate() {
        let at = (tuesday - Duration::weeks(i as i64)).and_hms_opt(9, 0, 0).unwrap().and_utc();
        sqlx::query("update smartflow_social.post_targets set confirmed_at = $2 where id = $1")
            .bind(id)
            .bind(at)
            .execute(&s.app.db)
            .await
            .unwrap();
        sqlx::query(
            "insert into smartflow_social.post_metrics (target_id, workspace_id, account_id, platform, impressions, likes) \
             select id, workspace_id, account_id, platform, 100, $2 from smartflow_social.post_targets where id = $1",
        )
        .bind(id)
        .bind(10 * (i as i64 + 1))
        .execute(&s.app.db)
        .await
        .unwrap();
    }
    for (days_ago, followers) in [(20, 1000), (10, 1100), (1, 1250)] {
        sqlx::query("insert into smartflow_social.account_metrics (account_id, workspace_id, followers, collected_at) \
                     values ($1, $2::uuid, $3, now() - make_interval(days => $4))")
            .bind(x)
            .bind(&s.owner.workspace_id)
            .bind(followers as i64)
            .bind(days_ago)
            .execute(&s.app.db)
            .await
            .unwrap();
    }
    // Tokyo has no DST: 09:00 UTC is always 18:00 there, still a Tuesday.
    let res =
        s.app.get_as(&format!("/api/accounts/{x}/insights?tz=Asia/Tokyo"), &s.owner.token).await;
    assert_eq!(res.status(), 200);
    let i: Value = res.json().await.unwrap();
    assert_eq!(i["followers"], 1250);
    assert_eq!(i["followers_change_30d"], 250);
    assert_eq!(i["posts"], 3);
    assert!((i["engagement_rate"].as_f64().unwrap() - 0.2).abs() < 1e-9, "{i}");
    let best = &i["best_times"][0];
    assert_eq!(
        (best["weekday"].as_u64(), best["hour"].as_u64(), best["posts"].as_u64()),
        (Some(1), Some(18), Some(3)),
        "{i}"
    );
    assert_eq!(best["label"], "Tuesday 18:00");
    assert!((best["score"].as_f64().unwrap() - 0.2).abs() < 1e-9);
    let res = s.app.get_as(&format!("/api/accounts/{x}/insights?tz=Nowhere"), &s.owner.token).await;
    assert_eq!(assert_problem(res, 422).await["errors"][0]["field"], "tz");
}

async fn analytics_html(s: &Social) -> String {
    let cookie = format!("{}; sf_csrf={}", s.owner.session_cookie, "c".repeat(43));
    let res = s
        .app
        .client
        .get(s.app.url("/app/social/analytics"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

#[tokio::test]
async fn the_analytics_page_draws_svg_charts_once_there_is_data() {
    let s = setup().await;
    let empty = analytics_html(&s).await;
    assert!(!empty.contains("<svg class=\"chart\""), "no data, no chart");

    let (x, _, _, _) = published(&s).await;
    sqlx::query(
        "insert into smartflow_social.post_metrics (target_id, workspace_id, account_id, platform, impressions, likes) \
         select id, workspace_id, account_id, platform, 100, 12 from smartflow_social.post_targets \
         where state = 'confirmed'",
    )
    .execute(&s.app.db)
    .await
    .unwrap();
    for (days_ago, followers) in [(3, 900), (1, 950)] {
        sqlx::query(
            "insert into smartflow_social.account_metrics (account_id, workspace_id, followers, collected_at) \
             values ($1, $2::uuid, $3, now() - make_interval(days => $4))",
        )
        .bind(x)
        .bind(&s.owner.workspace_id)
        .bind(followers as i64)
        .bind(days_ago)
        .execute(&s.app.db)
        .await
        .unwrap();
    }
    let html = analytics_html(&s).await;
    let charts = html.matches("<svg class=\"chart\"").count();
    assert!(charts >= 3, "platforms, days and followers are drawn: {charts}");
    for title in ["Engagements by platform", "Posts published per day", "Followers over time"] {
        assert!(html.contains(&format!("<title>{title}</title>")), "{title}");
    }
    assert!(html.contains("<rect"), "bars are drawn as rectangles");
}
