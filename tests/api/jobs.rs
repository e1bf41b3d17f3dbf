//! The job queue against real PostgreSQL: transactions, uniqueness, races, retries, rescue,
//! delays, cron claims and shutdown. Test jobs report each run through a channel keyed by a
//! per-test id, so tests wait for events instead of sleeping.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use smartflow::platform::jobs::{
    self, Job, JobContext, JobError, JobRegistry, JobResult, NewJob, Outcome, Runner, cron,
};
use tokio::sync::{Notify, mpsc};

use crate::helpers::{CacheKind, TestApp, spawn_app_with};

/// One event per job run: (test id, job id, attempt, started at).
type Run = (i64, i32, DateTime<Utc>);
static RUNS: LazyLock<Mutex<HashMap<String, mpsc::UnboundedSender<Run>>>> =
    LazyLock::new(Default::default);
static SEEN: LazyLock<Mutex<std::collections::HashSet<String>>> = LazyLock::new(Default::default);
static GATES: LazyLock<Mutex<HashMap<String, std::sync::Arc<Notify>>>> =
    LazyLock::new(Default::default);
/// Per test: how many of its `Counted` jobs run right now, and the most that ever ran at once.
static ACTIVE: LazyLock<Mutex<HashMap<String, (usize, usize)>>> = LazyLock::new(Default::default);

fn runs(test: &str) -> mpsc::UnboundedReceiver<Run> {
    let (tx, rx) = mpsc::unbounded_channel();
    RUNS.lock().unwrap().insert(test.to_string(), tx);
    rx
}

fn report(test: &str, ctx: &JobContext) {
    if let Some(tx) = RUNS.lock().unwrap().get(test) {
        let _ = tx.send((ctx.id, ctx.attempt, Utc::now()));
    }
}

fn gate(test: &str) -> std::sync::Arc<Notify> {
    GATES.lock().unwrap().entry(test.to_string()).or_default().clone()
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Run>) -> Run {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a job ran")
        .expect("channel open")
}

#[derive(Serialize, Deserialize)]
struct Record {
    test: String,
}

#[async_trait]
impl Job for Record {
    const KIND: &'static str = "test.record";
    async fn run(self, ctx: JobContext) -> JobResult {
        report(&self.test, &ctx);
        Ok(Outcome::Done)
    }
}

/// Fails until its attempt number exceeds `fail`, asking to be retried at once.
#[derive(Serialize, Deserialize)]
struct Flaky {
    test: String,
    fail: i32,
    immediate: bool,
}

#[async_trait]
impl Job for Flaky {
    const KIND: &'static str = "test.flaky";
    const MAX_ATTEMPTS: i32 = 3;
    async fn run(self, ctx: JobContext) -> JobResult {
        report(&self.test, &ctx);
        if ctx.attempt <= self.fail {
            let err = anyhow::anyhow!("failure number {}", ctx.attempt);
            return Err(if self.immediate {
                JobError::retry_after(err, Duration::ZERO)
            } else {
                err.into()
            });
        }
        Ok(Outcome::Done)
    }
}

/// Waits for the test to open its gate.
#[derive(Serialize, Deserialize)]
struct Gated {
    test: String,
}

#[async_trait]
impl Job for Gated {
    const KIND: &'static str = "test.gated";
    async fn run(self, ctx: JobContext) -> JobResult {
        report(&self.test, &ctx);
        gate(&self.test).notified().await;
        Ok(Outcome::Done)
    }
}

/// Counts how many of its test's jobs run at once; each waits for its own gate
/// (`{test}:{job id}`), so the test finishes them one by one.
#[derive(Serialize, Deserialize)]
struct Counted {
    test: String,
}

#[async_trait]
impl Job for Counted {
    const KIND: &'static str = "test.counted";
    async fn run(self, ctx: JobContext) -> JobResult {
        {
            let mut active = ACTIVE.lock().unwrap();
            let (now, most) = active.entry(self.test.clone()).or_default();
            *now += 1;
            *most = (*most).max(*now);
        }
        report(&self.test, &ctx);
        gate(&format!("{}:{}", self.test, ctx.id)).notified().await;
        ACTIVE.lock().unwrap().entry(self.test.clone()).or_default().0 -= 1;
        Ok(Outcome::Done)
    }
}

/// The same kind as `Gated`, as a newer worker that finishes at once.
#[derive(Serialize, Deserialize)]
struct GatedFixed {
    test: String,
}

#[async_trait]
impl Job for GatedFixed {
    const KIND: &'static str = "test.gated";
    async fn run(self, ctx: JobContext) -> JobResult {
        report(&self.test, &ctx);
        Ok(Outcome::Done)
    }
}

#[derive(Serialize, Deserialize)]
struct Outcomes {
    test: String,
    what: String,
}

#[async_trait]
impl Job for Outcomes {
    const KIND: &'static str = "test.outcomes";
    async fn run(self, ctx: JobContext) -> JobResult {
        report(&self.test, &ctx);
        let first_run = SEEN.lock().unwrap().insert(format!("{}:{}", self.test, self.what));
        match (self.what.as_str(), ctx.attempt) {
            ("snooze", _) if first_run => Ok(Outcome::Snooze(Duration::from_millis(1))),
            ("cancel", _) => Ok(Outcome::Cancel("not wanted any more".into())),
            ("panic", 1) => panic!("boom"),
            ("permanent", _) => Err(JobError::permanent(anyhow::anyhow!("bad input"))),
            _ => Ok(Outcome::Done),
        }
    }
}

/// Fails once, then waits an hour: its own backoff.
#[derive(Serialize, Deserialize)]
struct Patient {
    test: String,
}

#[async_trait]
impl Job for Patient {
    const KIND: &'static str = "test.patient";
    fn backoff(_attempt: i32) -> Duration {
        Duration::from_secs(3600)
    }
    async fn run(self, ctx: JobContext) -> JobResult {
        report(&self.test, &ctx);
        Err(anyhow::anyhow!("not yet").into())
    }
}

fn registry() -> JobRegistry {
    let mut r = JobRegistry::new();
    r.register::<Record>()
        .register::<Flaky>()
        .register::<Gated>()
        .register::<Outcomes>()
        .register::<Patient>()
        .register::<Counted>();
    r
}

/// An app whose own runner and cron are off: tests start runners with their registries.
async fn app() -> TestApp {
    spawn_app_with(CacheKind::Memory, |s| {
        s.process.workers = false;
        s.process.cron = false;
        s.jobs.heartbeat_interval_ms = 200;
        s.jobs.rescue_after_secs = 1;
        s.jobs.shutdown_deadline_secs = 5;
        s.jobs.poll_interval_ms = 200;
    })
    .await
}

fn test_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn job_state(app: &TestApp, id: i64) -> (String, i32, Option<String>, serde_json::Value) {
    sqlx::query_as(
        "select state, attempt, last_error, errors from smartflow_shared.jobs where id = $1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

async fn enqueue_one<J: Job>(app: &TestApp, job: &J) -> i64 {
    let mut conn = app.db.acquire().await.unwrap();
    jobs::enqueue(&mut conn, job).await.unwrap().expect("inserted")
}

#[tokio::test]
async fn enqueue_commits_and_rolls_back_with_the_transaction() {
    let app = app().await;
    let t = test_id();
    let mut tx = app.db.begin().await.unwrap();
    jobs::enqueue(&mut tx, &Record { test: t.clone() }).await.unwrap();
    tx.rollback().await.unwrap();
    let n: i64 = sqlx::query_scalar("select count(*) from smartflow_shared.jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0, "a rolled-back enqueue leaves no job");

    let mut tx = app.db.begin().await.unwrap();
    let id = jobs::enqueue(&mut tx, &Record { test: t }).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    assert_eq!(job_state(&app, id).await.0, "available");
}

#[tokio::test]
async fn unique_key_prevents_a_second_active_job() {
    let app = app().await;
    let t = test_id();
    let mut conn = app.db.acquire().await.unwrap();
    let job = || NewJob::of(&Record { test: t.clone() }).unwrap().unique_key("report:42");
    let first = jobs::insert(&mut conn, job()).await.unwrap();
    let second = jobs::insert(&mut conn, job()).await.unwrap();
    assert!(first.is_some());
    assert_eq!(second, None);

    // Once the first has finished, the key is free again.
    let mut rx = runs(&t);
    assert_eq!(jobs::run_pending(&app.state, &registry()).await.unwrap(), 1);
    assert_eq!(next(&mut rx).await.0, first.unwrap());
    assert!(jobs::insert(&mut conn, job()).await.unwrap().is_some());

    // A batch skips duplicates of active jobs and of each other.
    let batch: Vec<NewJob> = (0..10).map(|i| job().unique_key(format!("k{}", i % 5))).collect();
    assert_eq!(jobs::insert_many(&mut conn, &batch).await.unwrap(), 5);
}

#[tokio::test]
async fn a_job_runs_once_with_two_runners_racing() {
    let app = app().await;
    let t = test_id();
    let mut rx = runs(&t);
    let batch: Vec<NewJob> =
        (0..400).map(|_| NewJob::of(&Record { test: t.clone() }).unwrap()).collect();
    let mut conn = app.db.acquire().await.unwrap();
    assert_eq!(jobs::insert_many(&mut conn, &batch).await.unwrap(), 400);
    let a = Runner::start(app.state.clone(), registry());
    let b = Runner::start(app.state.clone(), registry());
    let mut seen = std::collections::HashSet::new();
    for _ in 0..400 {
        let (id, attempt, _) = next(&mut rx).await;
        assert_eq!(attempt, 1);
        assert!(seen.insert(id), "job {id} ran twice");
    }
    a.shutdown().await;
    b.shutdown().await;
    assert!(rx.try_recv().is_err(), "no job ran a second time");
    let done: i64 =
        sqlx::query_scalar("select count(*) from smartflow_shared.jobs where state = 'completed'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(done, 400);
}

#[tokio::test]
async fn the_runner_keeps_its_own_connections_for_claims_and_outcomes() {
    let app = app().await;
    let t = test_id();
    let mut rx = runs(&t);
    let id = enqueue_one(&app, &Record { test: t.clone() }).await;
    let runner = Runner::start(app.state.clone(), registry());
    assert_eq!(next(&mut rx).await.0, id);
    // The claim went through the runner's connections, named for operators.
    let named: i64 = sqlx::query_scalar(
        "select count(*) from pg_stat_activity \
         where datname = current_database() and application_name = 'smartflow-jobs'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(named >= 1, "no runner connection in pg_stat_activity");
    // They commit asynchronously and plan each execution with its parameters.
    let mut conn = runner.pool().acquire().await.unwrap();
    for (name, want) in [("synchronous_commit", "off"), ("plan_cache_mode", "force_custom_plan")] {
        let got: String = sqlx::query_scalar("select current_setting($1)")
            .bind(name)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(got, want, "{name}");
    }
    let main: String =
        sqlx::query_scalar("show synchronous_commit").fetch_one(&app.db).await.unwrap();
    assert_eq!(main, "on", "the main pool keeps durable commits");
    drop(conn);
    runner.shutdown().await;
    assert_eq!(job_state(&app, id).await.0, "completed");
}

#[tokio::test]
async fn failures_retry_then_die_with_their_errors() {
    let app = app().await;
    let t = test_id();
    let mut rx = runs(&t);
    let recovers = enqueue_one(&app, &Flaky { test: t.clone(), fail: 2, immediate: true }).await;
    let dies = enqueue_one(&app, &Flaky { test: t.clone(), fail: 99, immediate: true }).await;
    let runner = Runner::start(app.state.clone(), registry());
    for _ in 0..6 {
        next(&mut rx).await;
    }
    runner.shutdown().await;

    let (state, attempt, _, errors) = job_state(&app, recovers).await;
    assert_eq!((state.as_str(), attempt), ("completed", 3));
    assert_eq!(errors.as_array().unwrap().len(), 2);

    let (state, attempt, last_error, errors) = job_state(&app, dies).await;
    assert_eq!((state.as_str(), attempt), ("dead", 3), "MAX_ATTEMPTS is 3");
    assert_eq!(last_error.as_deref(), Some("failure number 3"));
    assert_eq!(errors.as_array().unwrap().len(), 3);
    assert_eq!(errors[0]["error"], "failure number 1");
}

#[tokio::test]
async fn a_failure_waits_for_exponential_backoff() {
    let app = app().await;
    let t = test_id();
    let id = enqueue_one(&app, &Flaky { test: t.clone(), fail: 1, immediate: false }).await;
    assert_eq!(jobs::run_pending(&app.state, &registry()).await.unwrap(), 1);
    // Failed at `errors[0].at`, it waits the first backoff step: 2 s ± 25 %. Both instants
    // are stored when the failure is recorded, so how fast this test runs does not matter.
    let (state, attempt, wait): (String, i32, f64) = sqlx::query_as(
        "select state, attempt, \
         extract(epoch from run_at - (errors->0->>'at')::timestamptz)::float8 \
         from smartflow_shared.jobs where id = $1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((state.as_str(), attempt), ("scheduled", 1));
    assert!((1.4..=2.6).contains(&wait), "retry {wait} s after the failure");
}

#[tokio::test]
async fn a_job_of_a_killed_runner_is_rescued_and_retried() {
    let app = app().await;
    let t = test_id();
    let mut rx = runs(&t);
    let id = enqueue_one(&app, &Gated { test: t.clone() }).await;
    let crashed = Runner::start(app.state.clone(), registry());
    assert_eq!(next(&mut rx).await.0, id);
    assert_eq!(job_state(&app, id).await.0, "running");
    // Dropped without shutdown, as a crash: no release, no more heartbeats.
    drop(crashed);

    // Time passes: the heartbeat is older than rescue_after.
    sqlx::query(
        "update smartflow_shared.jobs set heartbeat_at = now() - interval '1 hour' where id = $1",
    )
    .bind(id)
    .execute(&app.db)
    .await
    .unwrap();
    assert_eq!(jobs::rescue(&app.db, Duration::from_secs(1)).await.unwrap(), 1);
    let (state, attempt, last_error, _) = job_state(&app, id).await;
    assert_eq!((state.as_str(), attempt), ("available", 1));
    assert!(last_error.unwrap().contains("no heartbeat"));

    let mut fixed = JobRegistry::new();
    fixed.register::<GatedFixed>();
    let runner = Runner::start(app.state.clone(), fixed);
    let (rerun, attempt, _) = next(&mut rx).await;
    assert_eq!((rerun, attempt), (id, 2));
    runner.shutdown().await;
    assert_eq!(job_state(&app, id).await.0, "completed");
}

#[tokio::test]
async fn a_live_runner_keeps_its_job_from_being_rescued() {
    let app = app().await;
    let t = test_id();
    let mut rx = runs(&t);
    let id = enqueue_one(&app, &Gated { test: t.clone() }).await;
    let runner = Runner::start(app.state.clone(), registry());
    next(&mut rx).await;
    assert_eq!(jobs::rescue(&app.db, Duration::from_secs(30)).await.unwrap(), 0);
    gate(&t).notify_one();
    runner.shutdown().await;
    assert_eq!(job_state(&app, id).await.0, "completed");
}

#[tokio::test]
async fn delayed_jobs_start_after_run_at_not_before() {
    let app = app().await;
    let t = test_id();
    let mut rx = runs(&t);
    let mut conn = app.db.acquire().await.unwrap();
    let run_at = Utc::now() + chrono::Duration::milliseconds(400);
    let id =
        jobs::insert(&mut conn, NewJob::of(&Record { test: t.clone() }).unwrap().run_at(run_at))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(job_state(&app, id).await.0, "scheduled");
    assert_eq!(jobs::run_pending(&app.state, &registry()).await.unwrap(), 0, "not due yet");

    let runner = Runner::start(app.state.clone(), registry());
    let (ran, _, started) = next(&mut rx).await;
    runner.shutdown().await;
    assert_eq!(ran, id);
    assert!(started >= run_at, "started {started} before run_at {run_at}");
}

#[tokio::test]
async fn snooze_cancel_panic_and_permanent_outcomes() {
    let app = app().await;
    let t = test_id();
    let mut ids = HashMap::new();
    for what in ["snooze", "cancel", "panic", "permanent"] {
        let id = enqueue_one(&app, &Outcomes { test: t.clone(), what: what.into() }).await;
        ids.insert(what, id);
    }
    let mut rx = runs(&t);
    let runner = Runner::start(app.state.clone(), registry());
    // snooze ×2, cancel, panic ×2 (retried once; its backoff is ~2 s), permanent.
    for _ in 0..6 {
        next(&mut rx).await;
    }
    runner.shutdown().await;
    let (state, attempt, _, _) = job_state(&app, ids["snooze"]).await;
    assert_eq!((state.as_str(), attempt), ("completed", 1), "a snooze does not spend an attempt");
    let (state, _, error, _) = job_state(&app, ids["cancel"]).await;
    assert_eq!((state.as_str(), error.as_deref()), ("cancelled", Some("not wanted any more")));
    let (state, attempt, _, errors) = job_state(&app, ids["panic"]).await;
    assert_eq!((state.as_str(), attempt), ("completed", 2));
    assert!(errors[0]["error"].as_str().unwrap().contains("panicked: boom"));
    let (state, attempt, _, _) = job_state(&app, ids["permanent"]).await;
    assert_eq!((state.as_str(), attempt), ("dead", 1), "permanent errors are not retried");
}

#[tokio::test]
async fn graceful_shutdown_finishes_running_jobs_and_claims_no_more() {
    let app = app().await;
    let t = test_id();
    let mut rx = runs(&t);
    let running = enqueue_one(&app, &Gated { test: t.clone() }).await;
    let runner = Runner::start(app.state.clone(), registry());
    next(&mut rx).await;

    let stopping = tokio::spawn(runner.shutdown());
    // Work enqueued while stopping is left for other workers.
    let later = enqueue_one(&app, &Record { test: t.clone() }).await;
    gate(&t).notify_one();
    stopping.await.unwrap();

    assert_eq!(job_state(&app, running).await.0, "completed");
    assert_eq!(job_state(&app, later).await.0, "available");
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn shutdown_releases_jobs_that_outlive_the_deadline() {
    let app = spawn_app_with(CacheKind::Memory, |s| {
        s.process.workers = false;
        s.process.cron = false;
        s.jobs.shutdown_deadline_secs = 0;
    })
    .await;
    let t = test_id();
    let mut rx = runs(&t);
    let id = enqueue_one(&app, &Gated { test: t.clone() }).await;
    let runner = Runner::start(app.state.clone(), registry());
    next(&mut rx).await;
    runner.shutdown().await;
    let (state, attempt, _, _) = job_state(&app, id).await;
    assert_eq!(
        (state.as_str(), attempt),
        ("available", 0),
        "released without spending the attempt"
    );
}

#[tokio::test]
async fn a_cron_tick_fired_by_two_instances_enqueues_one_job() {
    let app = app().await;
    let entries = vec![smartflow::config::CronEntry {
        name: "nightly".into(),
        schedule: "0 0 3 * * *".into(),
        timezone: "Europe/Paris".into(),
        job: "test.record".into(),
        enabled: true,
    }];
    let registry = registry();
    cron::sync(&app.db, &entries, &registry).await.unwrap();
    // The slot is due now.
    sqlx::query("update smartflow_shared.cron_schedules set next_at = now() - interval '1 second' where name = 'nightly'")
        .execute(&app.db)
        .await
        .unwrap();
    let other_instance = sqlx::PgPool::connect(app.settings.database.url.expose()).await.unwrap();
    let (a, b) =
        tokio::join!(cron::tick(&app.db, &registry), cron::tick(&other_instance, &registry));
    let enqueued: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    assert_eq!(enqueued.len(), 1, "exactly one instance claimed the slot");
    // Firing again for the same tick does nothing.
    assert!(cron::tick(&other_instance, &registry).await.unwrap().is_empty());
    let (kind, key, queue): (String, String, String) =
        sqlx::query_as("select kind, unique_key, queue from smartflow_shared.jobs")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((kind.as_str(), queue.as_str()), ("test.record", "default"));
    assert!(key.starts_with("cron:nightly@"));
    // The next slot is tomorrow 03:00 Paris time, in the future.
    let next_at: DateTime<Utc> = sqlx::query_scalar(
        "select next_at from smartflow_shared.cron_schedules where name = 'nightly'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(next_at > Utc::now());
}

#[tokio::test]
async fn cron_rejects_unknown_job_kinds_and_bad_schedules() {
    let app = app().await;
    let mut entry = smartflow::config::CronEntry {
        name: "bad".into(),
        schedule: "0 0 3 * * *".into(),
        timezone: "UTC".into(),
        job: "no.such.job".into(),
        enabled: true,
    };
    let err = cron::sync(&app.db, std::slice::from_ref(&entry), &registry())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cron.entries[bad].job"), "{err}");
    entry.job = "test.record".into();
    entry.schedule = "whenever".into();
    let err = cron::sync(&app.db, &[entry], &registry()).await.unwrap_err().to_string();
    assert!(err.contains("cron.entries[bad].schedule"), "{err}");
}

#[tokio::test]
async fn health_reports_the_runner_and_cron() {
    let app = spawn_app_with(CacheKind::Memory, |_| {}).await;
    let body: serde_json::Value = app.get("/api/health").await.json().await.unwrap();
    assert_eq!(body["checks"]["jobs"]["worker"], "up");
    assert_eq!(body["checks"]["jobs"]["cron"], "up");
    assert_eq!(body["checks"]["jobs"]["status"], "ok");

    let off = app_without_workers().await;
    let body: serde_json::Value = off.get("/api/health").await.json().await.unwrap();
    assert_eq!(body["checks"]["jobs"]["worker"], "disabled");
}

async fn app_without_workers() -> TestApp {
    app().await
}

/// The value of the exported series `name` whose labels include every one of `labels`.
fn gauge(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = smartflow::telemetry::metrics_handle().render();
    text.lines().filter(|l| l.starts_with(&format!("{name}{{"))).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        labels
            .iter()
            .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
            .then(|| value.parse().ok())?
    })
}

#[tokio::test]
async fn queue_gauges_return_to_zero_when_a_queue_drains() {
    let app = app().await;
    // Metrics are process-wide: a queue of this test's own keeps other tests out of the way.
    let queue = format!("gauges-{}", uuid::Uuid::new_v4().simple());
    let mut job = NewJob::of(&Record { test: test_id() })
        .unwrap()
        .run_at(Utc::now() - chrono::Duration::seconds(30));
    job.queue = queue.clone();
    let mut conn = app.db.acquire().await.unwrap();
    let id = jobs::insert(&mut conn, job).await.unwrap().unwrap();

    let mut stats = jobs::QueueStats::default();
    stats.export(&app.db).await.unwrap();
    let lag = gauge("job_queue_lag_seconds", &[("queue", &queue)]).unwrap();
    assert!(lag >= 29.0, "lag {lag}");
    assert_eq!(gauge("jobs", &[("queue", &queue), ("state", "available")]), Some(1.0));

    // The queue drains (here: the job is gone altogether).
    sqlx::query("delete from smartflow_shared.jobs where id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    stats.export(&app.db).await.unwrap();
    assert_eq!(gauge("job_queue_lag_seconds", &[("queue", &queue)]), Some(0.0));
    assert_eq!(gauge("jobs", &[("queue", &queue), ("state", "available")]), Some(0.0));
}

#[tokio::test]
async fn retrying_a_job_whose_key_is_taken_answers_409() {
    let app = app().await;
    let staff = app.signup("ops@example.com").await;
    app.make_staff(&staff).await;
    let mut conn = app.db.acquire().await.unwrap();
    let job = || NewJob::of(&Record { test: test_id() }).unwrap().unique_key("report:7");
    let dead = jobs::insert(&mut conn, job()).await.unwrap().unwrap();
    sqlx::query(
        "update smartflow_shared.jobs set state = 'dead', finished_at = now() where id = $1",
    )
    .bind(dead)
    .execute(&app.db)
    .await
    .unwrap();
    let active = jobs::insert(&mut conn, job()).await.unwrap().unwrap();

    let res = app.post_as(&format!("/api/jobs/{dead}/retry"), &staff.token, &json!({})).await;
    let body = crate::helpers::assert_problem(res, 409).await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("report:7") && detail.contains(&format!("job {active}")), "{detail}");
    assert_eq!(job_state(&app, dead).await.0, "dead", "nothing changed");
}

#[tokio::test]
async fn a_job_kind_chooses_its_backoff() {
    let app = app().await;
    let id = enqueue_one(&app, &Patient { test: test_id() }).await;
    assert_eq!(jobs::run_pending(&app.state, &registry()).await.unwrap(), 1);
    let (state, in_half_an_hour): (String, bool) = sqlx::query_as(
        "select state, run_at > now() + interval '30 minutes' from smartflow_shared.jobs where id = $1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(state, "scheduled");
    assert!(in_half_an_hour, "retried after its own hour, not the default seconds");
}

#[cfg(feature = "ai")]
#[tokio::test]
async fn a_process_claims_only_the_jobs_of_its_enabled_modules() {
    use smartflow::config::{Module, ModuleSettings};
    let app = app().await;
    let id: i64 = sqlx::query_scalar(
        "insert into smartflow_shared.jobs (queue, kind, args) values ('ai', 'ai.chat', '{}') returning id",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();

    // The site's process (four-service layout) leaves AI work to the AI process.
    let site_only =
        smartflow::platform::job_registry_for(&ModuleSettings { enabled: vec![Module::Main] });
    assert!(!site_only.kinds().contains(&"ai.chat"));
    assert_eq!(jobs::run_pending(&app.state, &site_only).await.unwrap(), 0);
    let (state, attempt, _, _) = job_state(&app, id).await;
    assert_eq!((state.as_str(), attempt), ("available", 0), "untouched");

    let ai = smartflow::platform::job_registry_for(&ModuleSettings { enabled: vec![Module::Ai] });
    assert_eq!(jobs::run_pending(&app.state, &ai).await.unwrap(), 1, "the AI process runs it");
    assert_eq!(job_state(&app, id).await.1, 1);
}

#[tokio::test]
async fn a_cron_entry_with_an_empty_schedule_is_off() {
    let app = app().await;
    let entry = |name: &str, schedule: &str| smartflow::config::CronEntry {
        name: name.into(),
        schedule: schedule.into(),
        timezone: "UTC".into(),
        job: "test.record".into(),
        enabled: true,
    };
    let entries = vec![entry("off", ""), entry("on", "0 0 3 * * *")];
    let registry = registry();
    cron::sync(&app.db, &entries, &registry).await.unwrap();
    let enabled: bool = sqlx::query_scalar(
        "select enabled from smartflow_shared.cron_schedules where name = 'off'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(!enabled, "stored as off");

    // Even with a slot that is due, the entry that is off enqueues nothing; its sibling does.
    let due = "update smartflow_shared.cron_schedules set next_at = now() - interval '1 second' \
               where name in ('off', 'on')";
    sqlx::query(due).execute(&app.db).await.unwrap();
    let enqueued = cron::tick(&app.db, &registry).await.unwrap();
    assert_eq!(enqueued.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(), ["on"]);
    // A restart syncs the entries again: still off.
    cron::sync(&app.db, &entries, &registry).await.unwrap();
    sqlx::query(due).execute(&app.db).await.unwrap();
    let enqueued = cron::tick(&app.db, &registry).await.unwrap();
    assert!(enqueued.iter().all(|(name, _)| name != "off"), "{enqueued:?}");
    let keys: Vec<String> =
        sqlx::query_scalar("select unique_key from smartflow_shared.jobs order by id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(!keys.is_empty() && keys.iter().all(|k| k.starts_with("cron:on@")), "{keys:?}");
}

#[tokio::test]
async fn jobs_are_claimed_by_priority_then_run_at() {
    let app = app().await;
    let t = test_id();
    let mut rx = runs(&t);
    let now = Utc::now();
    let ago = |secs: i64| now - chrono::Duration::seconds(secs);
    // (priority, due since): inserted in an order that is neither the id nor the run_at order.
    let specs = [(3, ago(10)), (1, ago(1)), (1, ago(5)), (0, ago(1)), (3, ago(20))];
    let mut ids = Vec::new();
    let mut conn = app.db.acquire().await.unwrap();
    for (priority, run_at) in specs {
        let job =
            NewJob::of(&Record { test: t.clone() }).unwrap().priority(priority).run_at(run_at);
        ids.push(jobs::insert(&mut conn, job).await.unwrap().unwrap());
    }
    // One at a time, each claim takes the first job in line.
    assert_eq!(jobs::run_pending(&app.state, &registry()).await.unwrap(), 5);
    let mut order = Vec::new();
    for _ in 0..5 {
        order.push(next(&mut rx).await.0);
    }
    // Lower priority numbers first; among equals, the earliest run_at.
    assert_eq!(order, [ids[3], ids[2], ids[1], ids[4], ids[0]]);
}

#[tokio::test]
async fn a_queue_never_runs_more_jobs_at_once_than_its_concurrency() {
    let app = spawn_app_with(CacheKind::Memory, |s| {
        s.process.workers = false;
        s.process.cron = false;
        s.jobs.queues.insert("limited".into(), 2);
    })
    .await;
    let t = test_id();
    let mut rx = runs(&t);
    let batch: Vec<NewJob> = (0..6)
        .map(|_| {
            let mut job = NewJob::of(&Counted { test: t.clone() }).unwrap();
            job.queue = "limited".into();
            job
        })
        .collect();
    let mut conn = app.db.acquire().await.unwrap();
    assert_eq!(jobs::insert_many(&mut conn, &batch).await.unwrap(), 6);

    let runner = Runner::start(app.state.clone(), registry());
    let mut running =
        std::collections::VecDeque::from([next(&mut rx).await.0, next(&mut rx).await.0]);
    // Both slots are taken and the runner claimed nothing more for this queue.
    let claimed: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_shared.jobs where queue = 'limited' and state = 'running'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(claimed, 2);

    // Each job that finishes makes room for exactly one more.
    let mut ran: std::collections::HashSet<i64> = running.iter().copied().collect();
    for _ in 0..4 {
        let done = running.pop_front().unwrap();
        gate(&format!("{t}:{done}")).notify_one();
        let started = next(&mut rx).await.0;
        assert!(ran.insert(started), "job {started} ran twice");
        running.push_back(started);
    }
    for id in running {
        gate(&format!("{t}:{id}")).notify_one();
    }
    runner.shutdown().await;

    assert_eq!(ran.len(), 6);
    let (now, most) = ACTIVE.lock().unwrap()[&t];
    assert_eq!((now, most), (0, 2), "at most two at once, and two did run together");
    let completed: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_shared.jobs where queue = 'limited' and state = 'completed'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(completed, 6);
}
