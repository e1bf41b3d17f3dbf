//! Durable jobs in PostgreSQL (`smartflow_shared.jobs`).
//!
//! A job is a serde struct implementing [`Job`]; [`enqueue`] inserts it inside the caller's
//! transaction so a domain row and its job commit or roll back together. [`Runner`] claims jobs
//! with `FOR UPDATE SKIP LOCKED`, runs them with per-queue concurrency, retries failures with
//! exponential backoff and jitter, and rescues jobs whose worker died. Handlers must be
//! idempotent: delivery is at least once.
//!
//! Queries that scan the jobs table by state are planned against the table as it is, never
//! with a generic plan cached while the queue was empty (it picks a sequential scan and sort,
//! which collapsed throughput fifteen-fold once a backlog built): the runner's own statements
//! run prepared on connections that re-plan each execution (`runner_pool`), the rest run
//! unprepared (`persistent(false)`).

pub mod backoff;
pub mod cron;
mod enqueue;
mod maintenance;
pub mod ops;
pub mod routes;
mod runner;

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use serde::{Serialize, de::DeserializeOwned};

pub use enqueue::{NewJob, enqueue, insert, insert_many};
pub use maintenance::{PruneJobs, QueueStats, prune, prune_events, rescue, workers_and_lag};
pub use runner::{Runner, RunnerStatus, run_pending};

use crate::state::AppState;

pub type JobId = i64;

/// Notification channel: payload is a queue name, or [`SCHEDULED_PAYLOAD`] for future jobs.
pub const CHANNEL: &str = "smartflow_jobs";
pub const SCHEDULED_PAYLOAD: &str = "~scheduled";

/// A unit of background work. The `KIND` is stored with each job: never rename a deployed one.
#[async_trait]
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    const KIND: &'static str;
    const QUEUE: &'static str = "default";
    const MAX_ATTEMPTS: i32 = 20;
    /// 0 runs first, 4 last.
    const PRIORITY: i16 = 2;

    /// Jobs with the same key are not enqueued twice while one is scheduled, available or
    /// running.
    fn unique_key(&self) -> Option<String> {
        None
    }

    /// A run taking longer fails and is retried.
    fn timeout() -> Duration {
        Duration::from_secs(300)
    }

    /// How long to wait after failed attempt `attempt` (1-based) before the next one, unless
    /// the error names its own [`JobError::retry_after`].
    fn backoff(attempt: i32) -> Duration {
        backoff::delay(attempt)
    }

    async fn run(self, ctx: JobContext) -> JobResult;
}

/// What a job run decided.
#[derive(Debug)]
pub enum Outcome {
    Done,
    /// Run again after this delay without spending an attempt (e.g. waiting for a resource).
    Snooze(Duration),
    /// Stop: the work is no longer wanted. The reason is stored as the job's last error.
    Cancel(String),
}

pub type JobResult = Result<Outcome, JobError>;

/// A failed run: retried with backoff until `max_attempts`, then the job is `dead`.
#[derive(Debug)]
pub struct JobError {
    pub error: anyhow::Error,
    /// Retry no sooner than this (e.g. a provider's `Retry-After`) instead of the backoff.
    pub retry_after: Option<Duration>,
    /// Do not retry: the job is dead at once (invalid arguments, permanent rejection).
    pub permanent: bool,
}

impl JobError {
    pub fn retry_after(error: impl Into<anyhow::Error>, after: Duration) -> Self {
        JobError { error: error.into(), retry_after: Some(after), permanent: false }
    }

    pub fn permanent(error: impl Into<anyhow::Error>) -> Self {
        JobError { error: error.into(), retry_after: None, permanent: true }
    }
}

impl<E: Into<anyhow::Error>> From<E> for JobError {
    fn from(error: E) -> Self {
        JobError { error: error.into(), retry_after: None, permanent: false }
    }
}

/// What a running job knows about itself and the application.
#[derive(Clone)]
pub struct JobContext {
    pub state: AppState,
    pub id: JobId,
    pub kind: Arc<str>,
    pub queue: Arc<str>,
    pub attempt: i32,
    pub max_attempts: i32,
}

impl JobContext {
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

type Handler =
    Arc<dyn Fn(serde_json::Value, JobContext) -> BoxFuture<'static, JobResult> + Send + Sync>;

#[derive(Clone)]
pub(crate) struct Registered {
    pub handler: Handler,
    pub timeout: Duration,
    pub backoff: fn(i32) -> Duration,
    pub queue: &'static str,
    pub max_attempts: i32,
}

/// Job kinds this process can run. Modules add theirs in `modules::register_jobs`.
#[derive(Clone, Default)]
pub struct JobRegistry {
    kinds: HashMap<&'static str, Registered>,
}

impl JobRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register<J: Job>(&mut self) -> &mut Self {
        let handler: Handler = Arc::new(|args, ctx| {
            Box::pin(async move {
                let job: J = serde_json::from_value(args).map_err(|e| {
                    JobError::permanent(anyhow::anyhow!("arguments do not match {}: {e}", J::KIND))
                })?;
                job.run(ctx).await
            })
        });
        self.kinds.insert(
            J::KIND,
            Registered {
                handler,
                timeout: J::timeout(),
                backoff: J::backoff,
                queue: J::QUEUE,
                max_attempts: J::MAX_ATTEMPTS,
            },
        );
        self
    }

    pub fn contains(&self, kind: &str) -> bool {
        self.kinds.contains_key(kind)
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<_> = self.kinds.keys().copied().collect();
        kinds.sort_unstable();
        kinds
    }

    pub fn queue_of(&self, kind: &str) -> Option<&'static str> {
        self.kinds.get(kind).map(|r| r.queue)
    }

    pub fn max_attempts_of(&self, kind: &str) -> Option<i32> {
        self.kinds.get(kind).map(|r| r.max_attempts)
    }

    /// Queues that registered jobs use but `jobs.queues` does not run.
    pub fn unserved_queues(
        &self,
        queues: &std::collections::BTreeMap<String, usize>,
    ) -> Vec<String> {
        let mut missing: Vec<String> = self
            .kinds
            .values()
            .map(|r| r.queue)
            .filter(|q| !queues.contains_key(*q))
            .map(str::to_string)
            .collect();
        missing.sort();
        missing.dedup();
        missing
    }

    pub(crate) fn get(&self, kind: &str) -> Option<&Registered> {
        self.kinds.get(kind)
    }
}
