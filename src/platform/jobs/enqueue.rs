//! Enqueueing inside the caller's transaction, one job or a batch in one statement.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{CHANNEL, Job, JobId, SCHEDULED_PAYLOAD};

/// A job ready to insert; start from [`NewJob::of`] and adjust.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub queue: String,
    pub kind: String,
    pub args: serde_json::Value,
    pub priority: i16,
    pub max_attempts: i32,
    pub run_at: Option<DateTime<Utc>>,
    pub unique_key: Option<String>,
    pub workspace_id: Option<Uuid>,
}

impl NewJob {
    pub fn of<J: Job>(job: &J) -> Result<Self, serde_json::Error> {
        Ok(NewJob {
            queue: J::QUEUE.to_string(),
            kind: J::KIND.to_string(),
            args: serde_json::to_value(job)?,
            priority: J::PRIORITY,
            max_attempts: J::MAX_ATTEMPTS,
            run_at: None,
            unique_key: job.unique_key(),
            workspace_id: None,
        })
    }

    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.run_at = Some(Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default());
        self
    }

    pub fn priority(mut self, priority: i16) -> Self {
        self.priority = priority.clamp(0, 4);
        self
    }

    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    pub fn unique_key(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    pub fn workspace(mut self, workspace_id: Uuid) -> Self {
        self.workspace_id = Some(workspace_id);
        self
    }
}

/// Enqueues `job` with its defaults; `None` when an active job with the same unique key exists.
pub async fn enqueue<J: Job>(
    conn: &mut PgConnection,
    job: &J,
) -> Result<Option<JobId>, sqlx::Error> {
    let new = NewJob::of(job).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    insert(conn, new).await
}

/// Inserts one job and wakes the workers of its queue when the transaction commits.
pub async fn insert(conn: &mut PgConnection, job: NewJob) -> Result<Option<JobId>, sqlx::Error> {
    let id: Option<JobId> = sqlx::query_scalar(
        r#"
        with ins as (
            insert into smartflow_shared.jobs
                (queue, kind, args, priority, max_attempts, run_at, state, unique_key, workspace_id)
            values ($1, $2, $3, $4, $5, coalesce($6, now()),
                    case when coalesce($6, now()) <= now() then 'available' else 'scheduled' end,
                    $7, $8)
            on conflict do nothing
            returning id, queue, state
        )
        select id from ins,
            lateral (select pg_notify($9, case when ins.state = 'available' then ins.queue else $10 end)) n
        "#,
    )
    .bind(&job.queue)
    .bind(&job.kind)
    .bind(&job.args)
    .bind(job.priority)
    .bind(job.max_attempts)
    .bind(job.run_at)
    .bind(&job.unique_key)
    .bind(job.workspace_id)
    .bind(CHANNEL)
    .bind(SCHEDULED_PAYLOAD)
    .fetch_optional(conn)
    .await?;
    Ok(id)
}

/// Inserts many jobs in one statement; returns how many were inserted (duplicates by unique
/// key are skipped). Workers of each touched queue are woken once.
pub async fn insert_many(conn: &mut PgConnection, jobs: &[NewJob]) -> Result<u64, sqlx::Error> {
    if jobs.is_empty() {
        return Ok(0);
    }
    let n = jobs.len();
    let mut queue = Vec::with_capacity(n);
    let mut kind = Vec::with_capacity(n);
    let mut args = Vec::with_capacity(n);
    let mut priority = Vec::with_capacity(n);
    let mut max_attempts = Vec::with_capacity(n);
    let mut run_at = Vec::with_capacity(n);
    let mut unique_key = Vec::with_capacity(n);
    let mut workspace = Vec::with_capacity(n);
    for j in jobs {
        queue.push(j.queue.as_str());
        kind.push(j.kind.as_str());
        args.push(&j.args);
        priority.push(j.priority);
        max_attempts.push(j.max_attempts);
        run_at.push(j.run_at);
        unique_key.push(j.unique_key.as_deref());
        workspace.push(j.workspace_id);
    }
    let inserted: i64 = sqlx::query_scalar(
        r#"
        with ins as (
            insert into smartflow_shared.jobs
                (queue, kind, args, priority, max_attempts, run_at, state, unique_key, workspace_id)
            select q, k, a, p, m, coalesce(r, now()),
                   case when coalesce(r, now()) <= now() then 'available' else 'scheduled' end,
                   u, w
            from unnest($1::text[], $2::text[], $3::jsonb[], $4::int2[], $5::int4[],
                        $6::timestamptz[], $7::text[], $8::uuid[]) as t(q, k, a, p, m, r, u, w)
            on conflict do nothing
            returning queue, state
        ),
        wake as (
            select pg_notify($9, payload)
            from (select distinct case when state = 'available' then queue else $10 end as payload
                  from ins) d
        )
        select (select count(*) from ins) + 0 * (select count(*) from wake)
        "#,
    )
    .bind(&queue)
    .bind(&kind)
    .bind(&args)
    .bind(&priority)
    .bind(&max_attempts)
    .bind(&run_at)
    .bind(&unique_key)
    .bind(&workspace)
    .bind(super::CHANNEL)
    .bind(super::SCHEDULED_PAYLOAD)
    .fetch_one(conn)
    .await?;
    Ok(inserted as u64)
}
