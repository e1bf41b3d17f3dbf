//! The social booster against real PostgreSQL and Redis, with every platform faked by a local
//! wiremock server speaking its documented wire format. Jobs are driven with `run_jobs` (or
//! explicit runners) so tests wait on outcomes, never on time.

mod accounts;
mod analytics;
mod budgets;
mod calendar;
mod contract;
mod linkedin;
mod meta_flow;
mod posts;
mod publishing;
mod racing;
mod reconciliation;
mod scheduling;
mod storage;
mod tokens;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use smartflow::{
    Settings,
    config::Secret,
    modules::social::accounts::tokens::seal,
    platform::jobs::{self, Job},
};
use uuid::Uuid;
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path},
};

use crate::helpers::{CacheKind, TestApp, TestUser, spawn_app_with};

pub struct Social {
    pub app: TestApp,
    pub fake: MockServer,
    pub owner: TestUser,
}

/// Every adapter's hosts point at `fake`.
pub fn point_at(s: &mut Settings, fake: &str) {
    let p = &mut s.social.platforms;
    p.request_timeout_ms = 5_000;
    p.x.client_id = "client-x".into();
    p.x.client_secret = Secret::new("secret-x");
    p.x.api_base_url = fake.into();
    p.x.authorize_url = format!("{fake}/i/oauth2/authorize");
    p.x.token_url = format!("{fake}/2/oauth2/token");
    p.x.web_url = "https://x.example".into();
    p.meta.app_id = "meta-app".into();
    p.meta.app_secret = Secret::new("meta-secret");
    p.meta.graph_base_url = fake.into();
    p.meta.dialog_base_url = fake.into();
    p.linkedin.client_id = "client-li".into();
    p.linkedin.client_secret = Secret::new("secret-li");
    p.linkedin.api_base_url = fake.into();
    p.linkedin.authorize_url = format!("{fake}/oauth/v2/authorization");
    p.linkedin.token_url = format!("{fake}/oauth/v2/accessToken");
    p.bluesky.default_pds_url = fake.into();
    s.social.allow_private_instances = true;
}

pub async fn setup() -> Social {
    setup_with(|_| {}).await
}

/// An app without its own workers (tests run jobs), a fake platform, an owner on a plan that
/// allows many accounts and posts.
pub async fn setup_with(tweak: impl FnOnce(&mut Settings)) -> Social {
    let fake = MockServer::start().await;
    let uri = fake.uri();
    let app = spawn_app_with(CacheKind::Redis, |s| {
        s.process.workers = false;
        s.process.cron = false;
        point_at(s, &uri);
        tweak(s);
    })
    .await;
    let owner = app.signup(&format!("owner-{}@example.com", Uuid::new_v4().simple())).await;
    upgrade(&app, &owner, "business").await;
    Social { app, fake, owner }
}

pub async fn upgrade(app: &TestApp, user: &TestUser, plan: &str) {
    sqlx::query(
        "insert into smartflow_shared.subscriptions (workspace_id, plan_id, status) values ($1::uuid, $2, 'active') \
         on conflict (workspace_id) do update set plan_id = excluded.plan_id",
    )
    .bind(&user.workspace_id)
    .bind(plan)
    .execute(&app.db)
    .await
    .unwrap();
}

/// A linked account stored directly (encrypted like the real thing), for publishing tests.
pub struct NewAccount<'a> {
    pub platform: &'a str,
    pub remote_id: &'a str,
    pub access: &'a str,
    pub refresh: Option<&'a str>,
    pub expires_at: Option<DateTime<Utc>>,
    pub instance_url: Option<String>,
}

pub async fn account(app: &TestApp, user: &TestUser, a: NewAccount<'_>) -> Uuid {
    let NewAccount { platform, remote_id, access, refresh, expires_at, instance_url } = a;
    let id = Uuid::new_v4();
    let cipher = &app.state.cipher;
    let access_enc = seal(cipher, id, "access", access).unwrap();
    let refresh_enc = refresh.map(|r| seal(cipher, id, "refresh", r).unwrap());
    sqlx::query(
        "insert into smartflow_social.accounts (id, workspace_id, created_by, platform, remote_id, username, \
         instance_url, access_token_enc, refresh_token_enc, token_expires_at, token_issued_at) \
         values ($1, $2::uuid, $3::uuid, $4, $5, $6, $7, $8, $9, $10, now() - interval '2 hours')",
    )
    .bind(id)
    .bind(&user.workspace_id)
    .bind(&user.user_id)
    .bind(platform)
    .bind(remote_id)
    .bind(format!("{platform}-user"))
    .bind(instance_url)
    .bind(access_enc)
    .bind(refresh_enc)
    .bind(expires_at)
    .execute(&app.db)
    .await
    .unwrap();
    id
}

/// An X account whose token is valid for an hour.
pub async fn x_account(s: &Social, token: &str) -> Uuid {
    let a = NewAccount {
        platform: "x",
        remote_id: "2244994945",
        access: token,
        refresh: Some("x-refresh-1"),
        expires_at: Some(Utc::now() + Duration::hours(1)),
        instance_url: None,
    };
    account(&s.app, &s.owner, a).await
}

/// `POST /2/tweets` answering 201 with `id`.
pub fn tweet_created(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({ "data": { "id": id, "text": "ok" } }))
}

pub async fn mount_tweet(fake: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST")).and(path("/2/tweets")).respond_with(response).mount(fake).await;
}

/// Requests the fake received for `method` + `path`.
pub async fn received(fake: &MockServer, m: &str, p: &str) -> Vec<Request> {
    fake.received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == m && r.url.path() == p)
        .collect()
}

pub fn form(r: &Request) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(&r.body).into_owned().collect()
}

/// Creates a post through the API and returns its JSON.
pub async fn create_post(s: &Social, body: Value) -> Value {
    let res = s.app.post_as("/api/posts", &s.owner.token, &body).await;
    let status = res.status();
    let json: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "create post: {json}");
    json
}

/// A post to `account` due now (a second ago), so the next `run_jobs` publishes it.
pub async fn due_post(s: &Social, account: Uuid, text: &str) -> (String, String) {
    let post =
        create_post(s, json!({ "content": text, "targets": [account], "publish_now": true })).await;
    let id = post["id"].as_str().unwrap().to_string();
    let target = post["targets"][0]["id"].as_str().unwrap().to_string();
    (id, target)
}

pub async fn target_state(app: &TestApp, target: &str) -> String {
    sqlx::query_scalar("select state from smartflow_social.post_targets where id = $1::uuid")
        .bind(target)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Enqueues a job now (what cron would do).
pub async fn enqueue<J: Job>(app: &TestApp, job: &J) {
    let mut conn = app.db.acquire().await.unwrap();
    jobs::enqueue(&mut conn, job).await.unwrap();
}

pub async fn events(app: &TestApp, kind: &str) -> Vec<Value> {
    sqlx::query_scalar(
        "select payload from smartflow_shared.events where event_type = $1 order by id",
    )
    .bind(kind)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// The publish job of `target`: (state, run_at - now in seconds).
pub async fn publish_job(app: &TestApp, target: &str) -> (String, f64) {
    sqlx::query_as(
        "select state, extract(epoch from run_at - now())::float8 from smartflow_shared.jobs \
         where unique_key = 'social.publish:' || $1 order by id desc limit 1",
    )
    .bind(target)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// Lets time pass for a waiting publish job (and its target): both become due now.
pub async fn make_due(app: &TestApp, target: &str) {
    sqlx::query(
        "update smartflow_shared.jobs set run_at = now() where unique_key = 'social.publish:' || $1 \
         and state = 'scheduled'",
    )
    .bind(target)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("update smartflow_social.post_targets set next_attempt_at = now() where id = $1::uuid and next_attempt_at is not null")
        .bind(target)
        .execute(&app.db)
        .await
        .unwrap();
}
