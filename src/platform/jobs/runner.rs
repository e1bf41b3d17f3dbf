//! The worker side: per-queue claim loops, a stager for scheduled jobs, a LISTEN connection,
//! heartbeats, batched completions and graceful shutdown.

use std::{
    collections::HashMap,
    panic::AssertUnwindSafe,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use sqlx::{PgPool, postgres::PgListener};
use tokio::{
    sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch},
    task::{AbortHandle, JoinHandle},
};

use super::{
    CHANNEL, JobContext, JobError, JobId, JobRegistry, JobResult, Outcome, SCHEDULED_PAYLOAD,
    backoff, maintenance,
};
use crate::{config::JobsSettings, state::AppState};

/// Largest batch claimed or staged in one statement.
const BATCH_MAX: usize = 256;
const ERROR_MAX_LEN: usize = 2_000;

/// What health and metrics know about this process's runner.
#[derive(Debug, Default)]
pub struct RunnerStatus {
    pub worker_running: AtomicBool,
    pub cron_running: AtomicBool,
    /// Unix milliseconds of the last successful heartbeat.
    pub last_heartbeat_ms: AtomicI64,
}

struct RunningJob {
    attempt: i32,
    abort: Option<AbortHandle>,
}

struct Shared {
    state: AppState,
    registry: JobRegistry,
    settings: JobsSettings,
    worker_id: String,
    running: Mutex<HashMap<JobId, RunningJob>>,
    idle: Notify,
    wake: HashMap<String, Arc<Notify>>,
    stager_wake: Notify,
    completions: mpsc::UnboundedSender<Message>,
}

enum Message {
    Outcome(Completion),
    /// Write everything received so far, then acknowledge.
    Flush(tokio::sync::oneshot::Sender<()>),
}

struct Claimed {
    id: JobId,
    kind: String,
    args: serde_json::Value,
    attempt: i32,
    max_attempts: i32,
    queue: String,
}

struct Completion {
    id: JobId,
    attempt: i32,
    /// `completed`, `scheduled`, `available`, `cancelled` or `dead`.
    next_state: &'static str,
    run_at: Option<DateTime<Utc>>,
    error: Option<String>,
    /// 1 when the attempt is given back (snooze).
    refund: i32,
}

/// A running set of workers; stop it with [`Runner::shutdown`]. Dropping it without shutdown
/// aborts everything at once, as a crash would (its jobs are rescued by other runners).
pub struct Runner {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    completer: Option<JoinHandle<()>>,
}

impl Drop for Runner {
    fn drop(&mut self) {
        for t in self.loops.iter().chain(&self.background).chain(&self.completer) {
            t.abort();
        }
        let running = self.shared.running.lock().unwrap_or_else(|e| e.into_inner());
        for job in running.values() {
            if let Some(abort) = &job.abort {
                abort.abort();
            }
        }
    }
}

impl Runner {
    pub fn start(state: AppState, registry: JobRegistry) -> Runner {
        let settings = state.settings.jobs.clone();
        let worker_id = format!("{}-{}", hostname(), uuid::Uuid::new_v4().simple());
        let (tx, rx) = mpsc::unbounded_channel();
        let wake = settings.queues.keys().map(|q| (q.clone(), Arc::new(Notify::new()))).collect();
        let shared = Arc::new(Shared {
            state,
            registry,
            settings,
            worker_id,
            running: Mutex::new(HashMap::new()),
            idle: Notify::new(),
            wake,
            stager_wake: Notify::new(),
            completions: tx,
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut loops = Vec::new();
        for (queue, &concurrency) in &shared.settings.queues {
            loops.push(tokio::spawn(queue_loop(
                shared.clone(),
                queue.clone(),
                concurrency.max(1),
                shutdown_rx.clone(),
            )));
        }
        loops.push(tokio::spawn(stager(shared.clone(), shutdown_rx.clone())));
        let background = vec![
            tokio::spawn(listener(shared.clone(), shutdown_rx.clone())),
            tokio::spawn(heartbeat(shared.clone())),
            tokio::spawn(maintenance::run(shared.state.clone())),
        ];
        let completer = Some(tokio::spawn(completer(shared.state.db.clone(), rx)));
        shared.state.jobs.worker_running.store(true, Ordering::Relaxed);
        tracing::info!(worker = %shared.worker_id, queues = ?shared.settings.queues, "job runner started");
        Runner { shared, shutdown, loops, background, completer }
    }

    pub fn worker_id(&self) -> &str {
        &self.shared.worker_id
    }

    /// Jobs running right now in this process.
    pub fn running(&self) -> usize {
        self.shared.running.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Stops claiming, lets running jobs finish until `jobs.shutdown_deadline_secs`, releases
    /// the rest for other workers, and writes every outcome before returning.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        for t in self.loops.drain(..) {
            let _ = t.await;
        }
        let deadline = Duration::from_secs(self.shared.settings.shutdown_deadline_secs);
        let finished = tokio::time::timeout(deadline, async {
            loop {
                let idle = self.shared.idle.notified();
                if self.running() == 0 {
                    break;
                }
                idle.await;
            }
        })
        .await
        .is_ok();
        if !finished {
            let leftover: Vec<(JobId, i32)> = {
                let mut running = self.shared.running.lock().unwrap_or_else(|e| e.into_inner());
                running
                    .drain()
                    .map(|(id, job)| {
                        if let Some(abort) = job.abort {
                            abort.abort();
                        }
                        (id, job.attempt)
                    })
                    .collect()
            };
            tracing::warn!(
                count = leftover.len(),
                "shutdown deadline passed; releasing running jobs"
            );
            if let Err(e) = release(&self.shared.state.db, &self.shared.worker_id, &leftover).await
            {
                tracing::error!(error = %e, "could not release jobs; they will be rescued");
            }
        }
        for t in self.background.drain(..) {
            t.abort();
        }
        // Every outcome sent so far is written before we return.
        if let Some(completer) = self.completer.take() {
            let (ack, acked) = tokio::sync::oneshot::channel();
            if self.shared.completions.send(Message::Flush(ack)).is_ok() {
                let _ = acked.await;
            }
            completer.abort();
        }
        let _ = sqlx::query("delete from smartflow_shared.job_workers where id = $1")
            .bind(&self.shared.worker_id)
            .execute(&self.shared.state.db)
            .await;
        self.shared.state.jobs.worker_running.store(false, Ordering::Relaxed);
        tracing::info!(worker = %self.shared.worker_id, "job runner stopped");
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()))
        .unwrap_or_else(|| "smartflow".to_string())
}

// ---- claiming ---------------------------------------------------------------------------

async fn queue_loop(
    shared: Arc<Shared>,
    queue: String,
    concurrency: usize,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(concurrency));
    let wake = shared.wake.get(&queue).cloned().unwrap_or_default();
    let poll = Duration::from_millis(shared.settings.poll_interval_ms);
    loop {
        if *stop.borrow() {
            break;
        }
        let free = slots.available_permits();
        if free == 0 {
            tokio::select! {
                permit = slots.clone().acquire_owned() => drop(permit),
                _ = stop.changed() => {}
            }
            continue;
        }
        let want = free.min(BATCH_MAX);
        match claim(&shared, &queue, want).await {
            Ok(jobs) => {
                let got = jobs.len();
                for job in jobs {
                    match slots.clone().try_acquire_owned() {
                        Ok(permit) => spawn_job(&shared, job, permit),
                        Err(_) => tracing::error!("claimed more jobs than free slots"),
                    }
                }
                if got == want {
                    continue;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, queue, "claiming jobs failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn claim(shared: &Shared, queue: &str, limit: usize) -> Result<Vec<Claimed>, sqlx::Error> {
    let rows: Vec<(JobId, String, serde_json::Value, i32, i32, String)> = sqlx::query_as(
        r#"
        with next as (
            select id from smartflow_shared.jobs
            where state = 'available' and queue = $1
            order by priority, run_at, id
            limit $2
            for update skip locked
        )
        update smartflow_shared.jobs j
        set state = 'running', attempt = j.attempt + 1, locked_by = $3,
            started_at = now(), heartbeat_at = now()
        from next where j.id = next.id
        returning j.id, j.kind, j.args, j.attempt, j.max_attempts, j.queue
        "#,
    )
    .persistent(false)
    .bind(queue)
    .bind(limit as i64)
    .bind(&shared.worker_id)
    .fetch_all(&shared.state.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, kind, args, attempt, max_attempts, queue)| Claimed {
            id,
            kind,
            args,
            attempt,
            max_attempts,
            queue,
        })
        .collect())
}

fn spawn_job(shared: &Arc<Shared>, job: Claimed, permit: OwnedSemaphorePermit) {
    shared
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(job.id, RunningJob { attempt: job.attempt, abort: None });
    let task_shared = shared.clone();
    let (id, attempt, max_attempts) = (job.id, job.attempt, job.max_attempts);
    let handle = tokio::spawn(async move {
        let queue = job.queue.clone();
        let kind = job.kind.clone();
        let started = Instant::now();
        let result = execute(&task_shared, job).await;
        let elapsed = started.elapsed();
        // Leave the running set before reporting, so a heartbeat never aborts a finished job.
        {
            let mut running = task_shared.running.lock().unwrap_or_else(|e| e.into_inner());
            running.remove(&id);
            if running.is_empty() {
                task_shared.idle.notify_waiters();
            }
        }
        let completion = completion_for(id, attempt, max_attempts, result, &queue, &kind, elapsed);
        if completion.next_state == "scheduled" {
            task_shared.stager_wake.notify_one();
        }
        let _ = task_shared.completions.send(Message::Outcome(completion));
        drop(permit);
    });
    if let Some(entry) = shared.running.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&id) {
        entry.abort = Some(handle.abort_handle());
    }
}

async fn execute(shared: &Shared, job: Claimed) -> JobResult {
    let Some(registered) = shared.registry.get(&job.kind).cloned() else {
        // Another version of SmartFlow may know it (rolling deploy): retry with backoff.
        return Err(JobError::from(anyhow::anyhow!(
            "this worker has no handler for job kind `{}`",
            job.kind
        )));
    };
    let ctx = JobContext {
        state: shared.state.clone(),
        id: job.id,
        kind: Arc::from(job.kind.as_str()),
        queue: Arc::from(job.queue.as_str()),
        attempt: job.attempt,
        max_attempts: job.max_attempts,
    };
    let run = AssertUnwindSafe((registered.handler)(job.args, ctx)).catch_unwind();
    match tokio::time::timeout(registered.timeout, run).await {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(JobError::from(anyhow::anyhow!("job panicked: {message}")))
        }
        Err(_) => Err(JobError::from(anyhow::anyhow!(
            "job did not finish within its timeout of {} s",
            registered.timeout.as_secs()
        ))),
    }
}

fn completion_for(
    id: JobId,
    attempt: i32,
    max_attempts: i32,
    result: JobResult,
    queue: &str,
    kind: &str,
    elapsed: Duration,
) -> Completion {
    let label = |outcome: &'static str| {
        metrics::histogram!("job_duration_seconds", "queue" => queue.to_string(), "kind" => kind.to_string(), "outcome" => outcome)
            .record(elapsed.as_secs_f64());
        metrics::counter!("jobs_finished_total", "queue" => queue.to_string(), "kind" => kind.to_string(), "outcome" => outcome)
            .increment(1);
    };
    match result {
        Ok(Outcome::Done) => {
            label("completed");
            Completion {
                id,
                attempt,
                next_state: "completed",
                run_at: None,
                error: None,
                refund: 0,
            }
        }
        Ok(Outcome::Snooze(d)) => {
            label("snoozed");
            let run_at = Utc::now() + chrono::Duration::from_std(d).unwrap_or_default();
            Completion {
                id,
                attempt,
                next_state: "scheduled",
                run_at: Some(run_at),
                error: None,
                refund: 1,
            }
        }
        Ok(Outcome::Cancel(reason)) => {
            label("cancelled");
            Completion {
                id,
                attempt,
                next_state: "cancelled",
                run_at: None,
                error: Some(truncate(&reason)),
                refund: 0,
            }
        }
        Err(e) => {
            let message = truncate(&format!("{:#}", e.error));
            // `attempt` is the number of the attempt that just failed.
            let dead = e.permanent || attempt >= max_attempts;
            if dead {
                label("dead");
                tracing::warn!(job = id, kind, attempt, error = %message, "job is dead");
                Completion {
                    id,
                    attempt,
                    next_state: "dead",
                    run_at: None,
                    error: Some(message),
                    refund: 0,
                }
            } else {
                label("failed");
                tracing::info!(job = id, kind, attempt, error = %message, "job failed; will retry");
                let delay = e.retry_after.unwrap_or_else(|| backoff::delay(attempt));
                let run_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                Completion {
                    id,
                    attempt,
                    next_state: "scheduled",
                    run_at: Some(run_at),
                    error: Some(message),
                    refund: 0,
                }
            }
        }
    }
}

fn truncate(s: &str) -> String {
    if s.len() <= ERROR_MAX_LEN {
        return s.to_string();
    }
    let mut end = ERROR_MAX_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

// ---- completions ------------------------------------------------------------------------

async fn completer(db: PgPool, mut rx: mpsc::UnboundedReceiver<Message>) {
    let mut batch = Vec::new();
    let mut acks = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Message::Outcome(c) => batch.push(c),
                Message::Flush(ack) => acks.push(ack),
            }
            if batch.len() < 1_000 {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            write_completions(&db, &batch).await;
            batch.clear();
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
}

/// Writes outcomes in one statement, fenced by attempt so a rescued-and-reclaimed job is not
/// overwritten by its stale first run. Commits asynchronously: losing the last few completions
/// in a database crash only means those jobs run again, which at-least-once allows.
async fn write_completions(db: &PgPool, batch: &[Completion]) {
    let mut ids = Vec::with_capacity(batch.len());
    let mut attempts = Vec::with_capacity(batch.len());
    let mut states = Vec::with_capacity(batch.len());
    let mut run_ats = Vec::with_capacity(batch.len());
    let mut errors = Vec::with_capacity(batch.len());
    let mut refunds = Vec::with_capacity(batch.len());
    for c in batch {
        ids.push(c.id);
        attempts.push(c.attempt);
        states.push(c.next_state);
        run_ats.push(c.run_at);
        errors.push(c.error.as_deref());
        refunds.push(c.refund);
    }
    for attempt in 0..5 {
        let result = async {
            let mut tx = db.begin().await?;
            sqlx::query("set local synchronous_commit = off").execute(&mut *tx).await?;
            sqlx::query(
                r#"
                update smartflow_shared.jobs j
                set state = d.state,
                    run_at = coalesce(d.run_at, j.run_at),
                    attempt = j.attempt - d.refund,
                    last_error = coalesce(d.error, j.last_error),
                    errors = case when d.error is null or d.state = 'cancelled' then j.errors
                             else j.errors || jsonb_build_array(jsonb_build_object(
                                 'attempt', j.attempt, 'at', now(), 'error', d.error)) end,
                    finished_at = case
                        when d.state in ('completed', 'cancelled', 'dead') then now() else null end,
                    heartbeat_at = null,
                    locked_by = null
                from unnest($1::int8[], $2::int4[], $3::text[], $4::timestamptz[], $5::text[], $6::int4[])
                    as d(id, attempt, state, run_at, error, refund)
                where j.id = d.id and j.attempt = d.attempt and j.state = 'running'
                "#,
            )
    .persistent(false)
            .bind(&ids)
            .bind(&attempts)
            .bind(&states)
            .bind(&run_ats)
            .bind(&errors)
            .bind(&refunds)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        }
        .await;
        match result {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, attempt, "writing job outcomes failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
            }
        }
    }
    tracing::error!(
        count = batch.len(),
        "could not write job outcomes; the jobs will be rescued and run again"
    );
}

/// Gives running jobs back without spending their attempt.
async fn release(db: &PgPool, worker_id: &str, jobs: &[(JobId, i32)]) -> Result<(), sqlx::Error> {
    let ids: Vec<JobId> = jobs.iter().map(|j| j.0).collect();
    let attempts: Vec<i32> = jobs.iter().map(|j| j.1).collect();
    sqlx::query(
        r#"
        with released as (
            update smartflow_shared.jobs j
            set state = 'available', attempt = j.attempt - 1, run_at = now(),
                heartbeat_at = null, locked_by = null
            from unnest($1::int8[], $2::int4[]) as d(id, attempt)
            where j.id = d.id and j.attempt = d.attempt and j.state = 'running' and j.locked_by = $3
            returning j.queue
        )
        select pg_notify($4, queue) from (select distinct queue from released) q
        "#,
    )
    .persistent(false)
    .bind(&ids)
    .bind(&attempts)
    .bind(worker_id)
    .bind(CHANNEL)
    .execute(db)
    .await?;
    Ok(())
}

// ---- staging, notifications, heartbeats -------------------------------------------------

async fn stager(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let poll = Duration::from_millis(shared.settings.poll_interval_ms);
    loop {
        if *stop.borrow() {
            break;
        }
        let wait = match stage_due(&shared).await {
            Ok(StageResult { moved, next_in }) => {
                if moved >= BATCH_MAX {
                    continue;
                }
                next_in.map_or(poll, |d| d.min(poll))
            }
            Err(e) => {
                tracing::warn!(error = %e, "staging scheduled jobs failed");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = shared.stager_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

struct StageResult {
    moved: usize,
    next_in: Option<Duration>,
}

async fn stage_due(shared: &Shared) -> Result<StageResult, sqlx::Error> {
    let queues: Vec<String> = sqlx::query_scalar(
        r#"
        with due as (
            select id from smartflow_shared.jobs
            where state = 'scheduled' and run_at <= now()
            order by run_at
            limit $1
            for update skip locked
        ),
        moved as (
            update smartflow_shared.jobs j set state = 'available'
            from due where j.id = due.id
            returning j.queue
        )
        select queue from moved
        "#,
    )
    .persistent(false)
    .bind(BATCH_MAX as i64)
    .fetch_all(&shared.state.db)
    .await?;
    let moved = queues.len();
    if moved > 0 {
        let mut distinct = queues;
        distinct.sort_unstable();
        distinct.dedup();
        for q in &distinct {
            if let Some(w) = shared.wake.get(q) {
                w.notify_one();
            }
        }
        // Other instances' workers may be idle too.
        sqlx::query("select pg_notify($1, q) from unnest($2::text[]) q")
            .bind(CHANNEL)
            .bind(&distinct)
            .execute(&shared.state.db)
            .await?;
    }
    // Measured on the database clock, which decides what is due.
    let next: Option<f64> = sqlx::query_scalar(
        "select extract(epoch from (run_at - clock_timestamp()))::float8 from smartflow_shared.jobs \
         where state = 'scheduled' order by run_at limit 1",
    )
    .persistent(false)
    .fetch_optional(&shared.state.db)
    .await?;
    let next_in = next.map(|s| Duration::from_secs_f64(s.max(0.0)) + Duration::from_micros(500));
    Ok(StageResult { moved, next_in })
}

async fn listener(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        match PgListener::connect_with(&shared.state.db).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen(CHANNEL).await {
                    tracing::warn!(error = %e, "LISTEN failed");
                } else {
                    // Anything sent while we were not listening: look once.
                    wake_all(&shared);
                    loop {
                        tokio::select! {
                            msg = listener.try_recv() => match msg {
                                Ok(Some(n)) => {
                                    let payload = n.payload();
                                    if payload == SCHEDULED_PAYLOAD {
                                        shared.stager_wake.notify_one();
                                    } else if let Some(w) = shared.wake.get(payload) {
                                        w.notify_one();
                                    }
                                }
                                Ok(None) => {
                                    tracing::warn!("LISTEN connection lost; reconnecting");
                                    wake_all(&shared);
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "LISTEN failed; reconnecting");
                                    break;
                                }
                            },
                            _ = stop.changed() => return,
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not open the LISTEN connection"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

fn wake_all(shared: &Shared) {
    for w in shared.wake.values() {
        w.notify_one();
    }
    shared.stager_wake.notify_one();
}

async fn heartbeat(shared: Arc<Shared>) {
    let every = Duration::from_millis(shared.settings.heartbeat_interval_ms.max(100));
    let queues = serde_json::to_value(&shared.settings.queues).unwrap_or_default();
    loop {
        let snapshot: Vec<JobId> = {
            let running = shared.running.lock().unwrap_or_else(|e| e.into_inner());
            running.keys().copied().collect()
        };
        match beat(&shared, &snapshot, &queues).await {
            Ok(alive) => {
                // Jobs that are no longer `running` for us were cancelled or rescued: stop them.
                let alive: std::collections::HashSet<JobId> = alive.into_iter().collect();
                let mut running = shared.running.lock().unwrap_or_else(|e| e.into_inner());
                for id in snapshot.iter().filter(|id| !alive.contains(id)) {
                    if let Some(job) = running.remove(id)
                        && let Some(abort) = job.abort
                    {
                        tracing::info!(job = id, "job was cancelled or taken over; stopping it");
                        abort.abort();
                    }
                }
                if running.is_empty() {
                    shared.idle.notify_waiters();
                }
                let now = Utc::now().timestamp_millis();
                shared.state.jobs.last_heartbeat_ms.store(now, Ordering::Relaxed);
                metrics::gauge!("job_worker_heartbeat_timestamp_seconds", "worker" => shared.worker_id.clone())
                    .set(now as f64 / 1000.0);
            }
            Err(e) => tracing::warn!(error = %e, "job heartbeat failed"),
        }
        tokio::time::sleep(every).await;
    }
}

async fn beat(
    shared: &Shared,
    ids: &[JobId],
    queues: &serde_json::Value,
) -> Result<Vec<JobId>, sqlx::Error> {
    sqlx::query(
        "insert into smartflow_shared.job_workers (id, hostname, queues) values ($1, $2, $3) \
         on conflict (id) do update set heartbeat_at = now()",
    )
    .bind(&shared.worker_id)
    .bind(hostname())
    .bind(queues)
    .execute(&shared.state.db)
    .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(
        "update smartflow_shared.jobs set heartbeat_at = now() \
         where id = any($1) and state = 'running' and locked_by = $2 returning id",
    )
    .bind(ids)
    .bind(&shared.worker_id)
    .fetch_all(&shared.state.db)
    .await
}

// ---- inline execution (tests, CLI) ------------------------------------------------------

/// Runs every job that is due now, one at a time in this task, until none is left; returns how
/// many ran. For tests and one-off maintenance; production uses [`Runner`].
pub async fn run_pending(state: &AppState, registry: &JobRegistry) -> anyhow::Result<usize> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let shared = Shared {
        state: state.clone(),
        registry: registry.clone(),
        settings: state.settings.jobs.clone(),
        worker_id: format!("inline-{}", uuid::Uuid::new_v4().simple()),
        running: Mutex::new(HashMap::new()),
        idle: Notify::new(),
        wake: HashMap::new(),
        stager_wake: Notify::new(),
        completions: tx,
    };
    let mut total = 0;
    loop {
        stage_due(&shared).await?;
        let mut ran = 0;
        for queue in shared.settings.queues.keys() {
            for job in claim(&shared, queue, 1).await? {
                let (id, attempt, max) = (job.id, job.attempt, job.max_attempts);
                let (q, k) = (job.queue.clone(), job.kind.clone());
                let started = Instant::now();
                let result = execute(&shared, job).await;
                let c = completion_for(id, attempt, max, result, &q, &k, started.elapsed());
                let _ = shared.completions.send(Message::Outcome(c));
                ran += 1;
            }
        }
        let mut batch = Vec::new();
        while let Ok(msg) = rx.try_recv() {
            if let Message::Outcome(c) = msg {
                batch.push(c);
            }
        }
        if !batch.is_empty() {
            write_completions(&state.db, &batch).await;
        }
        total += ran;
        if ran == 0 {
            return Ok(total);
        }
    }
}
