//! Social booster benchmarks against the database in `DATABASE_URL` and Redis in `REDIS_URL`,
//! with X faked by a local server. Run with `bench/social.sh`; prints `name: value` lines.
//!
//! - Scheduler lateness: 10,000 posts (over 100 accounts) due within one minute, created
//!   through `POST /api/posts`; lateness is the time from each post's due instant to the fake
//!   platform receiving its `POST /2/tweets`.
//! - Calendar latency: `GET /api/calendar` for a month and a week of a workspace holding
//!   100,000 scheduled and published posts.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used, clippy::expect_used)]

mod guard;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use smartflow::{
    Application,
    config::{Environment, Secret, Settings, Sources},
    modules::social::accounts::tokens::seal,
    platform::{self, jobs::Runner},
};
use uuid::Uuid;
use wiremock::{
    Mock, MockServer, Request, Respond, ResponseTemplate,
    matchers::{method, path},
};

const POSTS: usize = 10_000;
const ACCOUNTS: usize = 100;
const WINDOW_MS: i64 = 60_000;
const CALENDAR_POSTS: i64 = 100_000;
const SAMPLES: usize = 50;

/// (post text, when the fake received it).
type Call = (String, DateTime<Utc>);

/// Records when each post reached the fake X.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Call>>>);

impl Respond for Recorder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let now = Utc::now();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let text = body["text"].as_str().unwrap_or_default().to_string();
        let id = format!("{}", now.timestamp_nanos_opt().unwrap_or_default());
        self.0.lock().unwrap().push((text, now));
        ResponseTemplate::new(201).set_body_json(json!({ "data": { "id": id, "text": "ok" } }))
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn signup(client: &reqwest::Client, base: &str, email: &str) -> (String, String) {
    let res: Value = client
        .post(format!("{base}/api/auth/signup"))
        .json(
            &json!({ "email": email, "password": "correct horse battery staple", "name": "Bench" }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        res["access_token"].as_str().unwrap().to_string(),
        res["workspace"]["workspace_id"].as_str().unwrap().to_string(),
    )
}

#[tokio::main]
async fn main() {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/smartflow_social_bench".into());
    if let Err(refusal) = guard::require_bench_database(&url) {
        eprintln!("{refusal}");
        std::process::exit(2);
    }
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let fake = MockServer::start().await;
    let recorder = Recorder::default();
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .respond_with(recorder.clone())
        .mount(&fake)
        .await;

    let mut settings: Settings = Settings::load_from(&Sources {
        dir: concat!(env!("CARGO_MANIFEST_DIR"), "/config").into(),
        environment: Environment::Test,
        use_env: false,
    })
    .unwrap();
    settings.database.url = Secret::new(url);
    settings.database.max_connections = 40;
    settings.redis.url = Secret::new(redis);
    settings.redis.key_prefix = format!("bench-{}:", Uuid::new_v4().simple());
    settings.process.workers = false;
    settings.process.cron = false;
    settings.rate_limit.enabled = false;
    settings.server.workers = 2;
    settings.social.platforms.x.api_base_url = fake.uri();
    settings.social.budgets.account_max_posts = 1_000_000;
    settings.social.budgets.app_max_posts = 1_000_000;
    let app = Application::build(settings).await.unwrap();
    let state = app.state().clone();
    let db = state.db.clone();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    for table in [
        "smartflow_social.posts",
        "smartflow_social.accounts",
        "smartflow_shared.jobs",
        "smartflow_shared.events",
        "smartflow_shared.audit_log",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!("truncate {table} cascade")))
            .execute(&db)
            .await
            .unwrap();
    }
    let client = reqwest::Client::new();
    let (token, workspace) =
        signup(&client, &base, &format!("bench-{}@example.com", Uuid::new_v4().simple())).await;
    sqlx::query("insert into smartflow_shared.subscriptions (workspace_id, plan_id, status) values ($1::uuid, 'business', 'active')")
        .bind(&workspace)
        .execute(&db)
        .await
        .unwrap();
    let mut accounts = Vec::with_capacity(ACCOUNTS);
    for i in 0..ACCOUNTS {
        let id = Uuid::new_v4();
        sqlx::query(
            "insert into smartflow_social.accounts (id, workspace_id, platform, remote_id, username, access_token_enc) \
             values ($1, $2::uuid, 'x', $3, $4, $5)",
        )
        .bind(id)
        .bind(&workspace)
        .bind(format!("{}", 1_000 + i))
        .bind(format!("bench{i}"))
        .bind(seal(&state.cipher, id, "access", "bench-token").unwrap())
        .execute(&db)
        .await
        .unwrap();
        accounts.push(id);
    }

    // 10,000 posts due within one minute, created through the API before the first is due.
    let start = Utc::now() + chrono::Duration::seconds(150);
    let due: Vec<DateTime<Utc>> = (0..POSTS)
        .map(|i| start + chrono::Duration::milliseconds(i as i64 * WINDOW_MS / POSTS as i64))
        .collect();
    let created = Instant::now();
    let results: Vec<u16> = stream::iter(0..POSTS)
        .map(|i| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            let body = json!({ "content": format!("bench {i}"), "targets": [accounts[i % ACCOUNTS]],
                               "scheduled_at": due[i].to_rfc3339() });
            async move {
                client
                    .post(format!("{base}/api/posts"))
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(results.iter().all(|s| *s == 201), "every post is scheduled");
    let creation = created.elapsed();
    assert!(Utc::now() < start, "creating the posts took longer than the lead time");
    println!("scheduler_posts: {POSTS}");
    println!("scheduler_create_per_s: {:.0}", POSTS as f64 / creation.as_secs_f64());
    sqlx::query("vacuum analyze smartflow_shared.jobs").execute(&db).await.unwrap();

    let runner = Runner::start(state.clone(), platform::job_registry());
    let deadline = Instant::now() + Duration::from_secs(60 * 10);
    while recorder.0.lock().unwrap().len() < POSTS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    runner.shutdown().await;
    let calls = recorder.0.lock().unwrap().clone();
    let mut lateness = Vec::with_capacity(POSTS);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (text, at) in &calls {
        *seen.entry(text.clone()).or_default() += 1;
        let i: usize = text.trim_start_matches("bench ").parse().unwrap();
        lateness.push((*at - due[i]).num_microseconds().unwrap_or(0) as f64 / 1000.0);
    }
    lateness.sort_by(|a, b| a.total_cmp(b));
    println!("scheduler_platform_calls: {}", calls.len());
    println!("scheduler_duplicates: {}", seen.values().filter(|n| **n > 1).count());
    println!("scheduler_early: {}", lateness.iter().filter(|l| **l < 0.0).count());
    println!("scheduler_lateness_p50_ms: {:.1}", percentile(&lateness, 0.50));
    println!("scheduler_lateness_p99_ms: {:.1}", percentile(&lateness, 0.99));
    println!("scheduler_lateness_max_ms: {:.1}", lateness.last().copied().unwrap_or_default());

    // Calendar: a second workspace with 100,000 posts over two years, one target each.
    let (token, workspace) =
        signup(&client, &base, &format!("calendar-{}@example.com", Uuid::new_v4().simple())).await;
    let account = Uuid::new_v4();
    sqlx::query(
        "insert into smartflow_social.accounts (id, workspace_id, platform, remote_id, username) \
         values ($1, $2::uuid, 'x', 'cal', 'calendar')",
    )
    .bind(account)
    .bind(&workspace)
    .execute(&db)
    .await
    .unwrap();
    let filled = Instant::now();
    sqlx::query(
        "with p as ( \
           insert into smartflow_social.posts (workspace_id, content, platforms, scheduled_at, status, timezone) \
           select $1::uuid, 'Calendar post ' || g || ' with a typical length of text for a social network update.', \
                  '{x}', now() - interval '365 days' + (g * interval '1 second' * 630.72), \
                  case when g % 2 = 0 then 'published' else 'scheduled' end, 'Europe/Paris' \
           from generate_series(1, $2) g returning id, workspace_id, scheduled_at, status) \
         insert into smartflow_social.post_targets (post_id, workspace_id, account_id, platform, state, due_at, confirmed_at) \
         select id, workspace_id, $3, 'x', case when status = 'published' then 'confirmed' else 'scheduled' end, \
                scheduled_at, case when status = 'published' then scheduled_at end from p",
    )
    .bind(&workspace)
    .bind(CALENDAR_POSTS)
    .bind(account)
    .execute(&db)
    .await
    .unwrap();
    sqlx::query("vacuum analyze smartflow_social.posts").execute(&db).await.unwrap();
    sqlx::query("vacuum analyze smartflow_social.post_targets").execute(&db).await.unwrap();
    println!("calendar_workspace_posts: {CALENDAR_POSTS}");
    println!("calendar_fill_s: {:.1}", filled.elapsed().as_secs_f64());
    let today = Utc::now().date_naive();
    for (name, days) in [("month", 30), ("week", 6)] {
        let from = today;
        let to = today + chrono::Duration::days(days);
        let url = format!("{base}/api/calendar?from={from}&to={to}&tz=Europe/Paris");
        let mut times = Vec::with_capacity(SAMPLES);
        let mut posts = 0;
        for i in 0..=SAMPLES {
            let t = Instant::now();
            let body =
                client.get(&url).bearer_auth(&token).send().await.unwrap().bytes().await.unwrap();
            let elapsed = t.elapsed().as_secs_f64() * 1000.0;
            if i == 0 {
                // Warm-up; count what a month holds.
                let cal: Value = serde_json::from_slice(&body).unwrap();
                posts = cal["days"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d["posts"].as_array().unwrap().len())
                    .sum::<usize>();
            } else {
                times.push(elapsed);
            }
        }
        times.sort_by(|a, b| a.total_cmp(b));
        println!("calendar_{name}_posts: {posts}");
        println!("calendar_{name}_p50_ms: {:.1}", percentile(&times, 0.50));
        println!("calendar_{name}_p99_ms: {:.1}", percentile(&times, 0.99));
    }
}
