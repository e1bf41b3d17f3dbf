//! Job queue throughput and latency against the database in `DATABASE_URL`.
//! Run with `bench/jobs.sh`; prints one `name: value` line per figure.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used, clippy::expect_used)]

mod guard;

use std::{
    sync::{
        LazyLock, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use smartflow::{
    Application, Settings,
    config::{Environment, Secret, Sources},
    platform::jobs::{self, Job, JobContext, JobRegistry, JobResult, NewJob, Outcome, Runner},
};
use tokio::sync::Notify;

const JOBS: usize = 20_000;
const BATCH: usize = 1_000;
const CONCURRENCY: usize = 32;

static DONE: AtomicU64 = AtomicU64::new(0);
static DONE_NOTIFY: LazyLock<Notify> = LazyLock::new(Notify::new);
static DELAYS: LazyLock<Mutex<Vec<f64>>> = LazyLock::new(Default::default);

#[derive(Serialize, Deserialize)]
struct Noop {
    run_at: Option<DateTime<Utc>>,
}

#[async_trait]
impl Job for Noop {
    const KIND: &'static str = "bench.noop";
    const QUEUE: &'static str = "bench";
    async fn run(self, _ctx: JobContext) -> JobResult {
        if let Some(at) = self.run_at {
            let late = (Utc::now() - at).num_microseconds().unwrap_or(0) as f64 / 1000.0;
            DELAYS.lock().unwrap().push(late);
        }
        DONE.fetch_add(1, Ordering::Relaxed);
        DONE_NOTIFY.notify_waiters();
        Ok(Outcome::Done)
    }
}

fn registry() -> JobRegistry {
    let mut r = JobRegistry::new();
    r.register::<Noop>();
    r
}

async fn wait_for(n: u64) {
    loop {
        let notified = DONE_NOTIFY.notified();
        if DONE.load(Ordering::Relaxed) >= n {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
    }
}

async fn wait_completed(db: &sqlx::PgPool, n: i64) {
    loop {
        let done: i64 = sqlx::query_scalar(
            "select count(*) from smartflow_shared.jobs where state = 'completed'",
        )
        .fetch_one(db)
        .await
        .unwrap();
        if done >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn reset(db: &sqlx::PgPool) {
    sqlx::query("truncate smartflow_shared.jobs").execute(db).await.unwrap();
    sqlx::query("vacuum analyze smartflow_shared.jobs").execute(db).await.unwrap();
    DONE.store(0, Ordering::Relaxed);
}

fn batch() -> Vec<NewJob> {
    (0..BATCH).map(|_| NewJob::of(&Noop { run_at: None }).unwrap()).collect()
}

#[tokio::main]
async fn main() {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/smartflow_bench".into());
    if let Err(refusal) = guard::require_bench_database(&url) {
        eprintln!("{refusal}");
        std::process::exit(2);
    }
    let mut settings = Settings::load_from(&Sources {
        dir: concat!(env!("CARGO_MANIFEST_DIR"), "/config").into(),
        environment: Environment::Test,
        use_env: false,
    })
    .unwrap();
    settings.database.url = Secret::new(url);
    settings.database.max_connections = 40;
    settings.process.http = false;
    settings.process.workers = false;
    settings.process.cron = false;
    settings.jobs.queues.insert("bench".to_string(), CONCURRENCY);
    let app = Application::build(settings).await.unwrap();
    let state = app.state().clone();
    let db = state.db.clone();

    // enqueue_per_s: one job per transaction.
    reset(&db).await;
    let n = 2_000;
    let started = Instant::now();
    for _ in 0..n {
        let mut conn = db.acquire().await.unwrap();
        jobs::enqueue(&mut conn, &Noop { run_at: None }).await.unwrap();
    }
    println!("enqueue_per_s: {:.0}", n as f64 / started.elapsed().as_secs_f64());

    // enqueue_batch_per_s: 20 batches of 1,000.
    reset(&db).await;
    let started = Instant::now();
    for _ in 0..JOBS / BATCH {
        let mut conn = db.acquire().await.unwrap();
        jobs::insert_many(&mut conn, &batch()).await.unwrap();
    }
    println!("enqueue_batch_per_s: {:.0}", JOBS as f64 / started.elapsed().as_secs_f64());

    // drain_per_s: the 20,000-job backlog at concurrency 32, until all are completed in the DB.
    let started = Instant::now();
    let runner = Runner::start(state.clone(), registry());
    wait_for(JOBS as u64).await;
    runner.shutdown().await;
    wait_completed(&db, JOBS as i64).await;
    println!("drain_per_s: {:.0}", JOBS as f64 / started.elapsed().as_secs_f64());

    // e2e_per_s: enqueue in batches of 1,000 while the workers run.
    reset(&db).await;
    let runner = Runner::start(state.clone(), registry());
    let started = Instant::now();
    let producer = {
        let db = db.clone();
        tokio::spawn(async move {
            for _ in 0..JOBS / BATCH {
                let mut conn = db.acquire().await.unwrap();
                jobs::insert_many(&mut conn, &batch()).await.unwrap();
            }
        })
    };
    producer.await.unwrap();
    wait_for(JOBS as u64).await;
    runner.shutdown().await;
    wait_completed(&db, JOBS as i64).await;
    println!("e2e_per_s: {:.0}", JOBS as f64 / started.elapsed().as_secs_f64());

    // delay: 1,000 jobs due at spread instants over 2 s; lateness of each start.
    reset(&db).await;
    let runner = Runner::start(state.clone(), registry());
    let base = Utc::now() + chrono::Duration::milliseconds(300);
    let delayed: Vec<NewJob> = (0..1_000)
        .map(|i| {
            let at = base + chrono::Duration::milliseconds((i * 2) as i64);
            NewJob::of(&Noop { run_at: Some(at) }).unwrap().run_at(at)
        })
        .collect();
    {
        let mut conn = db.acquire().await.unwrap();
        jobs::insert_many(&mut conn, &delayed).await.unwrap();
    }
    wait_for(1_000).await;
    runner.shutdown().await;
    let mut delays = DELAYS.lock().unwrap().clone();
    delays.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| delays[((delays.len() as f64 - 1.0) * p).round() as usize];
    println!("delay_p50_ms: {:.1}", pct(0.50));
    println!("delay_p99_ms: {:.1}", pct(0.99));
    let early = delays.iter().filter(|d| **d < 0.0).count();
    println!("delay_started_early: {early}");
}
