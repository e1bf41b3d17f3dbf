//! Keeping the queue healthy: rescue jobs whose worker died, prune finished jobs (and old
//! events and webhook delivery logs), and export queue metrics. Safe to run in every instance
//! at once (each statement is idempotent).

use std::{collections::BTreeSet, time::Duration};

use sqlx::PgPool;

use super::{CHANNEL, Job, JobContext, JobResult, Outcome};
use crate::state::AppState;

/// Jobs `running` without a heartbeat for `after` go back to work (or to `dead` when that was
/// their last attempt). Returns how many were rescued.
pub async fn rescue(db: &PgPool, after: Duration) -> Result<u64, sqlx::Error> {
    let rows: Vec<String> = sqlx::query_scalar(
        r#"
        with lost as (
            select id from smartflow_shared.jobs
            where state = 'running' and heartbeat_at < now() - make_interval(secs => $1)
            for update skip locked
        ),
        rescued as (
            update smartflow_shared.jobs j
            set state = case when j.attempt >= j.max_attempts then 'dead' else 'available' end,
                run_at = now(),
                finished_at = case when j.attempt >= j.max_attempts then now() else null end,
                last_error = 'the worker running this job stopped (no heartbeat); rescued',
                errors = j.errors || jsonb_build_array(jsonb_build_object(
                    'attempt', j.attempt, 'at', now(), 'error', 'worker lost (no heartbeat)')),
                heartbeat_at = null, locked_by = null
            from lost where j.id = lost.id
            returning j.queue, j.state
        )
        select queue from rescued where state = 'available'
        "#,
    )
    .persistent(false)
    .bind(after.as_secs_f64())
    .fetch_all(db)
    .await?;
    if !rows.is_empty() {
        let mut queues = rows.clone();
        queues.sort_unstable();
        queues.dedup();
        sqlx::query("select pg_notify($1, q) from unnest($2::text[]) q")
            .bind(CHANNEL)
            .bind(&queues)
            .execute(db)
            .await?;
        tracing::warn!(count = rows.len(), "rescued jobs from workers that stopped");
    }
    Ok(rows.len() as u64)
}

/// Deletes completed and cancelled jobs older than `completed`, dead ones older than `dead`,
/// in batches so a large backlog does not hold long locks. Returns how many were deleted.
pub async fn prune(db: &PgPool, completed: Duration, dead: Duration) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let n = sqlx::query(
            r#"
            delete from smartflow_shared.jobs where id in (
                select id from smartflow_shared.jobs
                where (state in ('completed', 'cancelled') and finished_at < now() - make_interval(secs => $1))
                   or (state = 'dead' and finished_at < now() - make_interval(secs => $2))
                limit 5000
            )
            "#,
        )
    .persistent(false)
        .bind(completed.as_secs_f64())
        .bind(dead.as_secs_f64())
        .execute(db)
        .await?
        .rows_affected();
        total += n;
        if n < 5000 {
            break;
        }
    }
    sqlx::query(
        "delete from smartflow_shared.job_workers where heartbeat_at < now() - interval '1 hour'",
    )
    .execute(db)
    .await?;
    Ok(total)
}

/// Deletes dispatched events older than `events` and webhook delivery attempts older than
/// `deliveries` (`None` keeps them), in batches. Returns how many of each were deleted.
pub async fn prune_events(
    db: &PgPool,
    events: Option<Duration>,
    deliveries: Option<Duration>,
) -> Result<(u64, u64), sqlx::Error> {
    // Undispatched events are kept whatever their age: their dispatch is still owed.
    const EVENTS: &str = "delete from smartflow_shared.events where id in (
        select id from smartflow_shared.events
        where created_at < now() - make_interval(secs => $1) and dispatched_at is not null
        limit 5000)";
    const DELIVERIES: &str = "delete from smartflow_shared.webhook_deliveries where id in (
        select id from smartflow_shared.webhook_deliveries
        where created_at < now() - make_interval(secs => $1)
        limit 5000)";
    let events = match events {
        Some(age) => delete_in_batches(db, EVENTS, age).await?,
        None => 0,
    };
    let deliveries = match deliveries {
        Some(age) => delete_in_batches(db, DELIVERIES, age).await?,
        None => 0,
    };
    Ok((events, deliveries))
}

/// Runs `sql` (a `delete … limit 5000` taking an age in seconds) until it deletes less than a
/// batch, so a large backlog never holds long locks.
async fn delete_in_batches(
    db: &PgPool,
    sql: &'static str,
    age: Duration,
) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let n = sqlx::query(sql)
            .persistent(false)
            .bind(age.as_secs_f64())
            .execute(db)
            .await?
            .rows_affected();
        total += n;
        if n < 5000 {
            return Ok(total);
        }
    }
}

fn days(n: u64) -> Option<Duration> {
    (n > 0).then(|| Duration::from_secs(n * 86_400))
}

/// The cron-driven prune (see `[[cron.entries]]`).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct PruneJobs {}

#[async_trait::async_trait]
impl Job for PruneJobs {
    const KIND: &'static str = "jobs.prune";
    const QUEUE: &'static str = "maintenance";
    const MAX_ATTEMPTS: i32 = 3;

    async fn run(self, ctx: JobContext) -> JobResult {
        let s = &ctx.state.settings.jobs;
        let deleted = prune(
            &ctx.state.db,
            Duration::from_secs(s.completed_retention_hours * 3600),
            Duration::from_secs(s.dead_retention_days * 86_400),
        )
        .await?;
        let (events, deliveries) = prune_events(
            &ctx.state.db,
            days(ctx.state.settings.events.retention_days),
            days(ctx.state.settings.webhooks.delivery_log_retention_days),
        )
        .await?;
        tracing::info!(
            deleted,
            events,
            deliveries,
            "pruned finished jobs, events and delivery logs"
        );
        Ok(Outcome::Done)
    }
}

/// Rescue on a short period, queue metrics every 15 s.
pub(super) async fn run(state: AppState) {
    let settings = state.settings.jobs.clone();
    let rescue_after = Duration::from_secs(settings.rescue_after_secs.max(1));
    let rescue_every = (rescue_after / 2).max(Duration::from_millis(500));
    let mut stats = QueueStats::new(settings.queues.keys().cloned());
    let mut last_stats = std::time::Instant::now() - Duration::from_secs(60);
    loop {
        if let Err(e) = rescue(&state.db, rescue_after).await {
            tracing::warn!(error = %e, "rescuing jobs failed");
        }
        if last_stats.elapsed() >= Duration::from_secs(15) {
            last_stats = std::time::Instant::now();
            if let Err(e) = stats.export(&state.db).await {
                tracing::warn!(error = %e, "reading queue statistics failed");
            }
        }
        tokio::time::sleep(rescue_every.min(Duration::from_secs(15))).await;
    }
}

/// States exported as `jobs{queue,state}`.
const GAUGED_STATES: [&str; 4] = ["scheduled", "available", "running", "dead"];

/// Exports `jobs{queue,state}` and `job_queue_lag_seconds{queue}` (now − run_at of the oldest
/// due job). Every queue it has ever reported is reported again each time, at 0 when it has no
/// such jobs, so a drained queue does not keep its last lag forever.
#[derive(Debug, Default)]
pub struct QueueStats {
    queues: BTreeSet<String>,
}

impl QueueStats {
    /// Starts with the queues this process serves, so they are reported even while empty.
    pub fn new(configured: impl IntoIterator<Item = String>) -> Self {
        QueueStats { queues: configured.into_iter().collect() }
    }

    pub async fn export(&mut self, db: &PgPool) -> Result<(), sqlx::Error> {
        let counts: Vec<(String, String, i64)> = sqlx::query_as(
            "select queue, state, count(*) from smartflow_shared.jobs \
             where state = any($1) group by 1, 2",
        )
        .persistent(false)
        .bind(&GAUGED_STATES[..])
        .fetch_all(db)
        .await?;
        let lags = queue_lag(db).await?;
        self.queues.extend(counts.iter().map(|c| c.0.clone()));
        self.queues.extend(lags.iter().map(|l| l.0.clone()));
        for q in &self.queues {
            for state in GAUGED_STATES {
                let n = counts.iter().find(|c| &c.0 == q && c.1 == state).map_or(0, |c| c.2);
                metrics::gauge!("jobs", "queue" => q.clone(), "state" => state).set(n as f64);
            }
            let lag = lags.iter().find(|l| &l.0 == q).map_or(0.0, |l| l.1);
            metrics::gauge!("job_queue_lag_seconds", "queue" => q.clone()).set(lag);
        }
        Ok(())
    }
}

/// For health, in one round trip: the workers (of every instance) that heartbeated within
/// `stale_after_secs`, and the oldest runnable job's wait in seconds (0 when none waits).
pub async fn workers_and_lag(
    db: &PgPool,
    stale_after_secs: f64,
) -> Result<(i64, f64), sqlx::Error> {
    sqlx::query_as(
        "select (select count(*) from smartflow_shared.job_workers \
                 where heartbeat_at > now() - make_interval(secs => $1)), \
                coalesce((select greatest(extract(epoch from now() - min(run_at)), 0)::float8 \
                          from smartflow_shared.jobs where state = 'available'), 0)",
    )
    .bind(stale_after_secs)
    .fetch_one(db)
    .await
}

/// Seconds each queue's oldest due job has waited.
pub async fn queue_lag(db: &PgPool) -> Result<Vec<(String, f64)>, sqlx::Error> {
    sqlx::query_as(
        "select queue, greatest(extract(epoch from now() - min(run_at)), 0)::float8 \
         from smartflow_shared.jobs where state = 'available' group by queue",
    )
    .persistent(false)
    .fetch_all(db)
    .await
}
