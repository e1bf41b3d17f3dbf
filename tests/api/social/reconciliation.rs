//! Reconciliation when reading is refused or ambiguous: a permission error on a read never
//! flags the account; reads the platform refuses fail fast with a "check the account" hint;
//! a post another target already claimed is not ours; "publish now" checks before re-sending.

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path},
};

use super::{
    NewAccount, Social, account, due_post, events, mount_tweet, received, setup_with, target_state,
    tweet_created, x_account,
};

const MEMBER: &str = "urn:li:person:782bbtaQ";

async fn post_json(s: &Social, id: &str) -> Value {
    s.app.get_as(&format!("/api/posts/{id}"), &s.owner.token).await.json().await.unwrap()
}

async fn account_json(s: &Social, id: uuid::Uuid) -> Value {
    s.app.get_as(&format!("/api/accounts/{id}"), &s.owner.token).await.json().await.unwrap()
}

/// A LinkedIn member (no refresh token, as LinkedIn issues members' apps).
pub async fn linkedin_member(s: &Social) -> uuid::Uuid {
    account(
        &s.app,
        &s.owner,
        NewAccount {
            platform: "linkedin",
            remote_id: MEMBER,
            access: "li-token",
            refresh: None,
            expires_at: Some(Utc::now() + Duration::days(50)),
            instance_url: None,
        },
    )
    .await
}

/// LinkedIn's answer to a member token without `r_member_social`.
pub fn access_denied(resource: &str) -> ResponseTemplate {
    ResponseTemplate::new(403).set_body_json(json!({
        "status": 403, "serviceErrorCode": 100, "code": "ACCESS_DENIED",
        "message": format!("Not enough permissions to access: {resource}")
    }))
}

fn slow() -> ResponseTemplate {
    ResponseTemplate::new(201)
        .insert_header("x-restli-id", "urn:li:share:7000000000000000001")
        .set_delay(StdDuration::from_secs(10))
}

/// Reconcile at once; give up on an answer after half a second.
fn quick(st: &mut smartflow::Settings) {
    st.social.publishing.reconcile_delay_secs = 0;
    st.social.platforms.request_timeout_ms = 500;
}

#[tokio::test]
async fn a_linkedin_member_that_cannot_be_read_is_not_reposted_nor_flagged() {
    let s = setup_with(quick).await;
    let li = linkedin_member(&s).await;
    // LinkedIn creates the post but the answer never arrives; reading posts back is refused.
    Mock::given(method("POST"))
        .and(path("/rest/posts"))
        .respond_with(slow())
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s.fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/posts"))
        .respond_with(access_denied("posts.FINDER-author"))
        .mount(&s.fake)
        .await;
    let (id, target) = due_post(&s, li, "Member update").await;
    s.app.run_jobs().await;

    assert_eq!(received(&s.fake, "POST", "/rest/posts").await.len(), 1, "not posted twice");
    assert_eq!(received(&s.fake, "GET", "/rest/posts").await.len(), 1, "read once, not retried");
    let post = post_json(&s, &id).await;
    let t = &post["targets"][0];
    assert_eq!(t["state"], "failed");
    assert_eq!(t["last_error_class"], "unknown_outcome");
    let hint = t["hint"].as_str().unwrap();
    assert!(hint.contains("could not check whether LinkedIn published"), "{hint}");
    assert!(hint.contains("confirm you checked"), "{hint}");
    let log = t["attempt_log"].as_array().unwrap();
    assert_eq!(log[1]["kind"], "reconcile");
    assert_eq!(log[1]["error_class"], "permission");
    assert_eq!(
        account_json(&s, li).await["status"],
        "active",
        "a refused read is no token failure"
    );
    assert!(events(&s.app, "account.needs_reauth").await.is_empty());

    // "Publish now" checks again before sending: still unreadable, still not re-posted.
    let res = s.app.post_as(&format!("/api/posts/{id}/publish"), &s.owner.token, &json!({})).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["targets"][0]["state"], "unconfirmed", "reconciled before any new attempt");
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "failed");
    assert_eq!(received(&s.fake, "POST", "/rest/posts").await.len(), 1);

    // A confirmation that is not a boolean is refused, not read as "not checked".
    let res = s
        .app
        .post_as(&format!("/api/posts/{id}/publish"), &s.owner.token, &json!({ "checked": "yes" }))
        .await;
    let problem = crate::helpers::assert_problem(res, 422).await;
    assert!(problem.to_string().contains("boolean"), "{problem}");

    // The person looked and says it is missing: sent again. LinkedIn names the post it holds
    // with this text (the first attempt's), which becomes this target's.
    Mock::given(method("POST"))
        .and(path("/rest/posts"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "status": 422, "message": "Content is a duplicate of urn:li:share:7000000000000000001"
        })))
        .mount(&s.fake)
        .await;
    let res = s
        .app
        .post_as(&format!("/api/posts/{id}/publish"), &s.owner.token, &json!({ "checked": true }))
        .await;
    assert_eq!(res.status(), 200);
    s.app.run_jobs().await;
    let post = post_json(&s, &id).await;
    let t = &post["targets"][0];
    assert_eq!(t["state"], "confirmed", "{t}");
    assert_eq!(t["remote_id"], "urn:li:share:7000000000000000001");
    assert_eq!(
        t["remote_url"],
        "https://www.linkedin.com/feed/update/urn:li:share:7000000000000000001/"
    );
    assert_eq!(received(&s.fake, "POST", "/rest/posts").await.len(), 2);
}

#[tokio::test]
async fn a_duplicate_naming_another_targets_post_fails_instead_of_claiming_it() {
    let s = setup_with(|_| {}).await;
    let li = linkedin_member(&s).await;
    Mock::given(method("POST"))
        .and(path("/rest/posts"))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("x-restli-id", "urn:li:share:1")
                .insert_header("x-li-uuid", "li-request-1"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s.fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/posts"))
        .respond_with(ResponseTemplate::new(422).set_body_json(
            json!({ "status": 422, "message": "Content is a duplicate of urn:li:share:1" }),
        ))
        .mount(&s.fake)
        .await;
    let (first, _) = due_post(&s, li, "Same words").await;
    s.app.run_jobs().await;
    let (second, target) = due_post(&s, li, "Same words").await;
    s.app.run_jobs().await;
    let post = post_json(&s, &first).await;
    assert_eq!(post["targets"][0]["remote_id"], "urn:li:share:1");
    assert_eq!(
        post["targets"][0]["attempt_log"][0]["platform_request_id"], "li-request-1",
        "LinkedIn's own request id is kept with the attempt"
    );
    assert_eq!(target_state(&s.app, &target).await, "failed");
    let post = post_json(&s, &second).await;
    // Nothing was created: the text is refused as it is, and may be edited.
    assert_eq!(post["targets"][0]["last_error_class"], "validation");
    assert!(post["targets"][0]["hint"].as_str().unwrap().contains("change the text"));
    let res = s
        .app
        .send_as(
            reqwest::Method::PATCH,
            &format!("/api/posts/{second}"),
            &s.owner.token,
            Some(&json!({ "content": "Other words" })),
        )
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn reading_refused_by_the_x_plan_fails_fast_and_publish_now_reconciles_first() {
    let s = setup_with(quick).await;
    let x = x_account(&s, "t").await;
    mount_tweet(&s.fake, tweet_created("1900").set_delay(StdDuration::from_secs(10))).await;
    // X's free tier may post but not read a user's posts.
    Mock::given(method("GET"))
        .and(path("/2/users/2244994945/tweets"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "client_id": "1", "required_enrollment": "Appropriate Level of API Access",
            "registration_url": "https://developer.x.com/en/portal/product",
            "title": "Client Forbidden", "detail": "This request must be made using an approved developer account that is enrolled in the requested endpoint.",
            "reason": "client-not-enrolled", "type": "https://api.twitter.com/2/problems/client-forbidden"
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s.fake)
        .await;
    let (id, target) = due_post(&s, x, "Posted on a free plan").await;
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "failed");
    assert_eq!(
        received(&s.fake, "GET", "/2/users/2244994945/tweets").await.len(),
        1,
        "a configuration problem is not retried"
    );
    let post = post_json(&s, &id).await;
    assert!(post["targets"][0]["hint"].as_str().unwrap().contains("could not check"));

    // Reading works again (a better plan): "publish now" finds the post instead of re-posting.
    Mock::given(method("GET"))
        .and(path("/2/users/2244994945/tweets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": [
            { "id": "1900", "text": "Posted on a free plan", "created_at": Utc::now().to_rfc3339() }
        ] })))
        .mount(&s.fake)
        .await;
    let res = s.app.post_as(&format!("/api/posts/{id}/publish"), &s.owner.token, &json!({})).await;
    assert_eq!(res.status(), 200);
    s.app.run_jobs().await;
    let post = post_json(&s, &id).await;
    assert_eq!(post["targets"][0]["state"], "confirmed");
    assert_eq!(post["targets"][0]["remote_id"], "1900");
    assert_eq!(received(&s.fake, "POST", "/2/tweets").await.len(), 1, "never posted twice");
    // A post whose outcome is uncertain cannot be edited into a second copy.
    let (other, _) = due_post(&s, x, "Another").await;
    sqlx::query(
        "update smartflow_social.post_targets set state = 'failed', last_error_class = 'unknown_outcome' \
         where post_id = $1::uuid",
    )
    .bind(&other)
    .execute(&s.app.db)
    .await
    .unwrap();
    sqlx::query(
        "insert into smartflow_social.publish_attempts (target_id, workspace_id, attempt, request_id, kind, outcome) \
         select id, workspace_id, 1, gen_random_uuid(), 'publish', 'unknown' from smartflow_social.post_targets \
         where post_id = $1::uuid",
    )
    .bind(&other)
    .execute(&s.app.db)
    .await
    .unwrap();
    let res = s
        .app
        .send_as(
            reqwest::Method::PATCH,
            &format!("/api/posts/{other}"),
            &s.owner.token,
            Some(&json!({ "content": "Another, edited" })),
        )
        .await;
    crate::helpers::assert_problem(res, 409).await;
}

#[tokio::test]
async fn two_identical_posts_never_claim_the_same_remote_post() {
    let s = setup_with(quick).await;
    let x = x_account(&s, "t").await;
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .respond_with(tweet_created("2001"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s.fake)
        .await;
    let (_, first) = due_post(&s, x, "Same again").await;
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &first).await, "confirmed");
    // The second copy times out; both copies are on the account, the first one earlier.
    mount_tweet(&s.fake, tweet_created("2002").set_delay(StdDuration::from_secs(10))).await;
    Mock::given(method("GET"))
        .and(path("/2/users/2244994945/tweets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": [
            { "id": "2002", "text": "Same again", "created_at": Utc::now().to_rfc3339() },
            { "id": "2001", "text": "Same again", "created_at": (Utc::now() - Duration::seconds(5)).to_rfc3339() }
        ] })))
        .mount(&s.fake)
        .await;
    let (id, second) = due_post(&s, x, "Same again").await;
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &second).await, "confirmed");
    let post = post_json(&s, &id).await;
    assert_eq!(post["targets"][0]["remote_id"], "2002", "2001 belongs to the first post");
}

#[tokio::test]
async fn a_platform_that_never_answers_in_time_is_given_up_on() {
    let s = setup_with(|st| {
        quick(st);
        st.social.publishing.max_attempts = 3;
    })
    .await;
    let x = x_account(&s, "t").await;
    mount_tweet(&s.fake, tweet_created("1").set_delay(StdDuration::from_secs(10))).await;
    Mock::given(method("GET"))
        .and(path("/2/users/2244994945/tweets"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "meta": { "result_count": 0 } })),
        )
        .mount(&s.fake)
        .await;
    let (id, target) = due_post(&s, x, "Into the void").await;
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "failed");
    // publish (unknown), reconcile (not there), publish (unknown), reconcile: out of tries.
    assert_eq!(received(&s.fake, "POST", "/2/tweets").await.len(), 2);
    let post = post_json(&s, &id).await;
    let hint = post["targets"][0]["hint"].as_str().unwrap();
    assert!(hint.contains("never answered in time") && hint.contains("gave up after 4"), "{hint}");
}
