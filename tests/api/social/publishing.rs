//! The publishing ledger against a fake X: a due post goes out once and is confirmed; a 429
//! waits for `Retry-After`; an unknown outcome is reconciled, not re-posted; an expired token
//! is refreshed once; the sweeper re-queues what nobody claimed.

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use smartflow::modules::social::publish::sweeper::Sweep;
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{body_string_contains, header, method, path},
};

use super::{
    NewAccount, Social, account, due_post, enqueue, events, make_due, mount_tweet, publish_job,
    received, setup, setup_with, target_state, tweet_created, x_account,
};

async fn post_json(s: &Social, id: &str) -> Value {
    s.app.get_as(&format!("/api/posts/{id}"), &s.owner.token).await.json().await.unwrap()
}

#[tokio::test]
async fn a_due_post_is_published_once_and_its_ledger_says_so() {
    let s = setup().await;
    let x = x_account(&s, "x-token").await;
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .and(body_string_contains("Hello from SmartFlow"))
        .and(header("authorization", "Bearer x-token"))
        .respond_with(tweet_created("1445880548472328192"))
        .expect(1)
        .mount(&s.fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .and(body_string_contains("in_reply_to_tweet_id"))
        .respond_with(tweet_created("1445880548472328193"))
        .expect(1)
        .mount(&s.fake)
        .await;
    let post = super::create_post(
        &s,
        json!({ "content": "Hello from SmartFlow", "first_comment": "Details below", "targets": [x], "publish_now": true }),
    )
    .await;
    let id = post["id"].as_str().unwrap();
    s.app.run_jobs().await;
    let post = post_json(&s, id).await;
    assert_eq!(post["status"], "published");
    assert!(post["published_at"].is_string());
    let t = &post["targets"][0];
    assert_eq!(t["state"], "confirmed");
    assert_eq!(t["remote_id"], "1445880548472328192");
    assert_eq!(t["remote_url"], "https://x.example/x-user/status/1445880548472328192");
    assert_eq!(t["comment_state"], "posted");
    let log = t["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0]["kind"].as_str(), log[0]["outcome"].as_str()),
        (Some("publish"), Some("confirmed"))
    );
    assert!(log[0]["request_id"].is_string());
    let published = events(&s.app, "post.published").await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["remote_id"], "1445880548472328192");
    assert_eq!(published[0]["platform"], "x");
}

#[tokio::test]
async fn a_429_waits_for_retry_after_and_holds_the_account_back() {
    let s = setup().await;
    let x = x_account(&s, "t").await;
    mount_tweet(
        &s.fake,
        ResponseTemplate::new(429)
            .insert_header("retry-after", "120")
            .set_body_json(json!({ "title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429 })),
    )
    .await;
    let (_, target) = due_post(&s, x, "First").await;
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "scheduled");
    let (state, wait) = publish_job(&s.app, &target).await;
    assert_eq!(state, "scheduled");
    assert!(
        (115.0..=121.0).contains(&wait),
        "retries after Retry-After (120 s), not sooner: {wait}"
    );
    let (class, retry_ms): (String, i64) = sqlx::query_as(
        "select error_class, retry_after_ms from smartflow_social.publish_attempts where target_id = $1::uuid",
    )
    .bind(&target)
    .fetch_one(&s.app.db)
    .await
    .unwrap();
    assert_eq!((class.as_str(), retry_ms), ("rate_limited", 120_000));
    let status: Value = s
        .app
        .get_as(&format!("/api/accounts/{x}/status"), &s.owner.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(status["rate_limited_until"].is_string());

    // Another post to the same account waits too, without calling the platform.
    let (_, second) = due_post(&s, x, "Second").await;
    s.app.run_jobs().await;
    assert_eq!(received(&s.fake, "POST", "/2/tweets").await.len(), 1);
    assert!(publish_job(&s.app, &second).await.1 > 100.0);

    // Two minutes later the platform accepts both.
    s.fake.reset().await;
    mount_tweet(&s.fake, tweet_created("1")).await;
    s.app.state.cache.delete(&format!("social:blocked:{x}")).await.unwrap();
    make_due(&s.app, &target).await;
    make_due(&s.app, &second).await;
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "confirmed");
    assert_eq!(target_state(&s.app, &second).await, "confirmed");
    assert_eq!(received(&s.fake, "POST", "/2/tweets").await.len(), 2);
}

#[tokio::test]
async fn an_unknown_outcome_is_reconciled_not_reposted() {
    let s = setup_with(|st| {
        st.social.publishing.reconcile_delay_secs = 0;
        st.social.platforms.request_timeout_ms = 500;
    })
    .await;
    let x = x_account(&s, "t").await;
    // X creates the post but its answer never arrives in time.
    mount_tweet(
        &s.fake,
        tweet_created("1880028106020515840").set_delay(StdDuration::from_secs(10)),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/2/users/2244994945/tweets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": [
            { "id": "1880028106020515840", "text": "Reconcile me", "created_at": Utc::now().to_rfc3339() },
            { "id": "1", "text": "Something older", "created_at": (Utc::now() - Duration::days(1)).to_rfc3339() }
        ] })))
        .mount(&s.fake)
        .await;
    let (id, _) = due_post(&s, x, "Reconcile me").await;
    s.app.run_jobs().await;
    assert_eq!(received(&s.fake, "POST", "/2/tweets").await.len(), 1, "not posted a second time");
    let post = post_json(&s, &id).await;
    let t = &post["targets"][0];
    assert_eq!(t["state"], "confirmed");
    assert_eq!(t["remote_id"], "1880028106020515840");
    let outcomes: Vec<(&str, &str)> = t["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["kind"].as_str().unwrap(), a["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(outcomes, [("publish", "unknown"), ("reconcile", "reconciled")]);
    assert_eq!(t["attempt_log"][0]["error_class"], "unknown_outcome");
    assert!(t["attempt_log"][0]["hint"].as_str().unwrap().contains("checks the account"));
}

#[tokio::test]
async fn an_unknown_outcome_without_the_post_is_retried_once_more() {
    let s = setup_with(|st| {
        st.social.publishing.reconcile_delay_secs = 0;
        st.social.platforms.request_timeout_ms = 500;
    })
    .await;
    let x = x_account(&s, "t").await;
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .respond_with(ResponseTemplate::new(504))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s.fake)
        .await;
    mount_tweet(&s.fake, tweet_created("2")).await;
    Mock::given(method("GET"))
        .and(path("/2/users/2244994945/tweets"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "meta": { "result_count": 0 } })),
        )
        .mount(&s.fake)
        .await;
    let (_, target) = due_post(&s, x, "Not there yet").await;
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "confirmed");
    assert_eq!(received(&s.fake, "POST", "/2/tweets").await.len(), 2);
    assert_eq!(
        received(&s.fake, "GET", "/2/users/2244994945/tweets").await.len(),
        1,
        "looked before retrying"
    );
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_before_publishing() {
    let s = setup().await;
    let x = account(
        &s.app,
        &s.owner,
        NewAccount {
            platform: "x",
            remote_id: "2244994945",
            access: "stale",
            refresh: Some("r-1"),
            expires_at: Some(Utc::now() - Duration::minutes(5)),
            instance_url: None,
        },
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .and(body_string_contains("refresh_token=r-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "access_token": "fresh", "refresh_token": "r-2", "expires_in": 7200, "token_type": "bearer" }),
        ))
        .expect(1)
        .mount(&s.fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .and(header("authorization", "Bearer fresh"))
        .respond_with(tweet_created("3"))
        .expect(1)
        .mount(&s.fake)
        .await;
    let (_, target) = due_post(&s, x, "With a fresh token").await;
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "confirmed");
    assert_eq!(received(&s.fake, "POST", "/2/oauth2/token").await.len(), 1);
}

#[tokio::test]
async fn a_401_refreshes_once_then_gives_up_and_flags_the_account() {
    let s = setup().await;
    let x = x_account(&s, "revoked").await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "access_token": "fresh", "expires_in": 7200, "token_type": "bearer" }),
        ))
        .mount(&s.fake)
        .await;
    mount_tweet(
        &s.fake,
        ResponseTemplate::new(401).set_body_json(json!({ "title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized" })),
    )
    .await;
    let (id, target) = due_post(&s, x, "Nobody home").await;
    s.app.run_jobs().await;
    assert_eq!(
        received(&s.fake, "POST", "/2/oauth2/token").await.len(),
        1,
        "refreshed exactly once"
    );
    let tries = received(&s.fake, "POST", "/2/tweets").await;
    assert_eq!(tries.len(), 2);
    assert_eq!(tries[1].headers["authorization"], "Bearer fresh");
    assert_eq!(target_state(&s.app, &target).await, "failed");
    let post = post_json(&s, &id).await;
    assert_eq!(post["status"], "failed");
    assert!(post["targets"][0]["hint"].as_str().unwrap().contains("reconnect"));
    let failed = events(&s.app, "post.failed").await;
    assert_eq!((failed.len(), failed[0]["error"].as_str()), (1, Some("auth")));
    assert_eq!(events(&s.app, "account.needs_reauth").await.len(), 1);
    // Once reconnected, "publish now" sends it again.
    sqlx::query("update smartflow_social.accounts set status = 'active' where id = $1")
        .bind(x)
        .execute(&s.app.db)
        .await
        .unwrap();
    s.fake.reset().await;
    mount_tweet(&s.fake, tweet_created("4")).await;
    let res = s.app.post_as(&format!("/api/posts/{id}/publish"), &s.owner.token, &json!({})).await;
    assert_eq!(res.status(), 200);
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "confirmed");
}

#[tokio::test]
async fn outages_are_retried_with_backoff_and_mastodon_gets_a_stable_idempotency_key() {
    let s = setup().await;
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
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .respond_with(
            ResponseTemplate::new(503).set_body_json(json!({ "error": "Service unavailable" })),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s.fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "1133", "url": "https://social.example/@smartflow/1133", "content": "<p>Toot</p>",
            "created_at": Utc::now().to_rfc3339()
        })))
        .mount(&s.fake)
        .await;
    let (_, target) = due_post(&s, m, "Toot").await;
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "scheduled");
    let (_, wait) = publish_job(&s.app, &target).await;
    assert!((25.0..=31.0).contains(&wait), "first backoff is retry_base_secs (30 s): {wait}");
    make_due(&s.app, &target).await;
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "confirmed");
    let sent = received(&s.fake, "POST", "/api/v1/statuses").await;
    assert_eq!(sent.len(), 2);
    let keys: Vec<&str> =
        sent.iter().map(|r| r.headers["idempotency-key"].to_str().unwrap()).collect();
    assert_eq!(keys, [target.as_str(), target.as_str()], "the same key on every attempt");
}

#[tokio::test]
async fn the_sweeper_alarms_on_and_requeues_due_targets_nobody_claimed() {
    let s = setup().await;
    let x = x_account(&s, "t").await;
    mount_tweet(&s.fake, tweet_created("5")).await;
    let (id, target) = due_post(&s, x, "Lost job").await;
    // The job is lost (an operator deleted it) and the target is two minutes overdue.
    sqlx::query("delete from smartflow_shared.jobs where kind = 'social.publish'")
        .execute(&s.app.db)
        .await
        .unwrap();
    sqlx::query("update smartflow_social.post_targets set due_at = now() - interval '2 minutes' where id = $1::uuid")
        .bind(&target)
        .execute(&s.app.db)
        .await
        .unwrap();
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "scheduled", "nothing ran it");
    enqueue(&s.app, &Sweep {}).await;
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "confirmed");
    let post = post_json(&s, &id).await;
    assert_eq!(post["targets"][0]["alarm_count"], 1);
    let delayed = events(&s.app, "post.delayed").await;
    assert_eq!(delayed.len(), 1);
    assert_eq!(delayed[0]["target_id"], target.as_str());
    // A target on time is left alone.
    let (_, fresh) = due_post(&s, x, "On time").await;
    sqlx::query("update smartflow_shared.jobs set run_at = now() + interval '1 hour', state = 'scheduled' where kind = 'social.publish' and state = 'available'")
        .execute(&s.app.db)
        .await
        .unwrap();
    enqueue(&s.app, &Sweep {}).await;
    s.app.run_jobs().await;
    assert_eq!(
        target_state(&s.app, &fresh).await,
        "scheduled",
        "due under a minute ago: not stuck yet"
    );
}
