//! The worker side: per-queue claim loops, a stager for scheduled jobs, a LISTEN connection,
//! heartbeats, batched completions and graceful shutdown.

use std::{
    collections::HashMap,
    panic::AssertUnwindSafe,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::FutureExt;
use sqlx::{PgConnection, PgPool};
use tokio::{
    sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch},
    task::{AbortHandle, JoinHandle},
};

mod background;
mod complete;

use background::{heartbeat, listener, stage_due, stager};
use complete::{Message, completer, completion_for, release, write_completions};

use super::{JobContext, JobError, JobId, JobRegistry, JobResult, maintenance};
use crate::{config::JobsSettings, state::AppState};

/// Largest batch claimed or staged in one statement.
const BATCH_MAX: usize = 256;
/// While a queue has a backlog of jobs shorter than this (on average), a claim waits this long
/// at most for more of its slots to free, so one statement claims many jobs instead of one per
/// finished job. Longer jobs are claimed as soon as a slot frees: waiting would idle slots.
const GATHER: Duration = Duration::from_millis(2);

/// What a queue's jobs tell its claim loop.
#[derive(Default)]
struct QueueTally {
    /// Signalled each time a job of this queue gives its slot back.
    freed: Notify,
    /// Moving average of this queue's run times, in microseconds.
    average_us: AtomicU64,
}

impl QueueTally {
    fn record(&self, run: Duration) {
        let run = u64::try_from(run.as_micros()).unwrap_or(u64::MAX);
        let old = self.average_us.load(Ordering::Relaxed);
        self.average_us.store(old - old / 8 + run / 8, Ordering::Relaxed);
    }

    fn short_jobs(&self) -> bool {
        self.average_us.load(Ordering::Relaxed) < GATHER.as_micros() as u64
    }
}

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
    /// The runner's own connections (claims, outcomes, staging, heartbeats); see [`runner_pool`].
    db: PgPool,
    registry: JobRegistry,
    /// The kinds `registry` runs: only those are claimed.
    kinds: Vec<String>,
    settings: JobsSettings,
    worker_id: String,
    running: Mutex<HashMap<JobId, RunningJob>>,
    idle: Notify,
    wake: HashMap<String, Arc<Notify>>,
    stager_wake: Notify,
    completions: mpsc::UnboundedSender<Message>,
}

struct Claimed {
    id: JobId,
    kind: String,
    args: serde_json::Value,
    attempt: i32,
    max_attempts: i32,
    queue: String,
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
            db: runner_pool(&state),
            state,
            kinds: registry.kinds().into_iter().map(String::from).collect(),
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
        let completer = Some(tokio::spawn(completer(shared.db.clone(), rx)));
        shared.state.jobs.worker_running.store(true, Ordering::Relaxed);
        tracing::info!(worker = %shared.worker_id, queues = ?shared.settings.queues, "job runner started");
        Runner { shared, shutdown, loops, background, completer }
    }

    pub fn worker_id(&self) -> &str {
        &self.shared.worker_id
    }

    /// The runner's own connections (see `jobs.connections`).
    pub fn pool(&self) -> &PgPool {
        &self.shared.db
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
            if let Err(e) = release(&self.shared.db, &self.shared.worker_id, &leftover).await {
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
            .execute(&self.shared.db)
            .await;
        self.shared.state.jobs.worker_running.store(false, Ordering::Relaxed);
        tracing::info!(worker = %self.shared.worker_id, "job runner stopped");
    }
}

/// Connections for the runner's bookkeeping (`smartflow-jobs` in `pg_stat_activity`), besides
/// `database.max_connections`. They commit asynchronously: a database crash can lose the last
/// few milliseconds of claims and outcomes, which only means those jobs run again, as
/// at-least-once delivery allows; the jobs' own work uses the main pool and commits durably. They plan every execution with its parameters
/// (`plan_cache_mode = force_custom_plan`), so statements are prepared once yet never run a
/// generic plan cached while the queue was empty (a sequential scan and sort that collapsed
/// throughput once a backlog built).
fn runner_pool(state: &AppState) -> PgPool {
    let options = (*state.db.connect_options())
        .clone()
        .application_name("smartflow-jobs")
        .options([("synchronous_commit", "off"), ("plan_cache_mode", "force_custom_plan")]);
    crate::db::pool_options(&state.settings.database)
        .max_connections(state.settings.jobs.connections)
        .min_connections(0)
        .connect_lazy_with(options)
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
    let tally = Arc::new(QueueTally::default());
    // Whether the last claim got all it asked for, so more jobs are likely waiting.
    let mut backlog = false;
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
        if backlog && free < concurrency && tally.short_jobs() {
            let gather = tokio::time::sleep(GATHER);
            tokio::pin!(gather);
            while slots.available_permits() < concurrency {
                tokio::select! {
                    _ = tally.freed.notified() => {}
                    _ = &mut gather => break,
                    _ = stop.changed() => break,
                }
            }
        }
        let want = slots.available_permits().min(BATCH_MAX);
        // Waiting for a connection is given up when shutdown begins: no claim starts after it.
        let conn = tokio::select! {
            conn = shared.db.acquire() => conn,
            _ = stop.changed() => continue,
        };
        if *stop.borrow() {
            break;
        }
        let claimed = match conn {
            Ok(mut conn) => claim(&shared, &mut conn, &queue, want).await,
            Err(e) => Err(e),
        };
        match claimed {
            Ok(jobs) => {
                let got = jobs.len();
                backlog = got == want;
                for job in jobs {
                    match slots.clone().try_acquire_owned() {
                        Ok(permit) => spawn_job(&shared, job, permit, tally.clone()),
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

async fn claim(
    shared: &Shared,
    conn: &mut PgConnection,
    queue: &str,
    limit: usize,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let rows: Vec<(JobId, String, serde_json::Value, i32, i32, String)> = sqlx::query_as(
        r#"
        with next as (
            select id from smartflow_shared.jobs
            where state = 'available' and queue = $1 and kind = any($4)
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
    .bind(queue)
    .bind(limit as i64)
    .bind(&shared.worker_id)
    .bind(&shared.kinds)
    .fetch_all(conn)
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

fn spawn_job(
    shared: &Arc<Shared>,
    mut job: Claimed,
    permit: OwnedSemaphorePermit,
    tally: Arc<QueueTally>,
) {
    let id = job.id;
    shared
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, RunningJob { attempt: job.attempt, abort: None });
    let task_shared = shared.clone();
    let handle = tokio::spawn(async move {
        let started = Instant::now();
        let result = execute(&task_shared, &mut job).await;
        let elapsed = started.elapsed();
        tally.record(elapsed);
        // Leave the running set before reporting, so a heartbeat never aborts a finished job.
        {
            let mut running = task_shared.running.lock().unwrap_or_else(|e| e.into_inner());
            running.remove(&id);
            if running.is_empty() {
                task_shared.idle.notify_waiters();
            }
        }
        let completion = completion_for(&task_shared, &job, result, elapsed);
        if completion.next_state == "scheduled" {
            task_shared.stager_wake.notify_one();
        }
        let _ = task_shared.completions.send(Message::Outcome(completion));
        drop(permit);
        tally.freed.notify_one();
    });
    if let Some(entry) = shared.running.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&id) {
        entry.abort = Some(handle.abort_handle());
    }
}

/// Runs the job's handler; its arguments are taken out of `job`.
async fn execute(shared: &Shared, job: &mut Claimed) -> JobResult {
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
    let args = std::mem::take(&mut job.args);
    let run = AssertUnwindSafe((registered.handler)(args, ctx)).catch_unwind();
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

// ---- inline execution (tests, CLI) ------------------------------------------------------

/// Runs every job that is due now, one at a time in this task, until none is left; returns how
/// many ran. For tests: it uses the main pool, not the runner's connections; production uses
/// [`Runner`].
pub async fn run_pending(state: &AppState, registry: &JobRegistry) -> anyhow::Result<usize> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let shared = Shared {
        db: state.db.clone(),
        state: state.clone(),
        registry: registry.clone(),
        kinds: registry.kinds().into_iter().map(String::from).collect(),
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
            let claimed = claim(&shared, &mut *shared.db.acquire().await?, queue, 1).await?;
            for mut job in claimed {
                let started = Instant::now();
                let result = execute(&shared, &mut job).await;
                let c = completion_for(&shared, &job, result, started.elapsed());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_queues_of_short_jobs_wait_for_free_slots() {
        let tally = QueueTally::default();
        for _ in 0..20 {
            tally.record(Duration::from_micros(200));
        }
        assert!(tally.short_jobs(), "0.2 ms jobs are short");
        tally.record(Duration::from_millis(100));
        assert!(!tally.short_jobs(), "one 100 ms job lifts the average past 2 ms");
        for _ in 0..60 {
            tally.record(Duration::from_micros(200));
        }
        assert!(tally.short_jobs(), "the average follows the queue back down");
    }
}
