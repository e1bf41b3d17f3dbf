//! Reading and steering jobs for operators (`/api/jobs`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{CHANNEL, JobId};
use crate::error::AppError;

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct JobView {
    pub id: JobId,
    pub queue: String,
    pub kind: String,
    /// `scheduled`, `available`, `running`, `completed`, `cancelled` or `dead`.
    pub state: String,
    pub priority: i16,
    pub attempt: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub unique_key: Option<String>,
    pub workspace_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub args: serde_json::Value,
    pub last_error: Option<String>,
    /// One entry per failed attempt: `{attempt, at, error}`.
    #[schema(value_type = Vec<Object>)]
    pub errors: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, queue, kind, state, priority, attempt, max_attempts, run_at, unique_key, \
    workspace_id, args, last_error, errors, created_at, started_at, finished_at";

pub const STATES: [&str; 6] =
    ["scheduled", "available", "running", "completed", "cancelled", "dead"];

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobFilter {
    /// One of `scheduled`, `available`, `running`, `completed`, `cancelled`, `dead`.
    pub state: Option<String>,
    pub queue: Option<String>,
    pub kind: Option<String>,
    /// Return jobs with an id below this one (the `next_cursor` of the previous page).
    pub before: Option<JobId>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
}

pub async fn list(db: &PgPool, f: &JobFilter) -> Result<Vec<JobView>, AppError> {
    if let Some(state) = &f.state
        && !STATES.contains(&state.as_str())
    {
        return Err(AppError::validation(
            "state",
            "invalid",
            format!("Use one of: {}.", STATES.join(", ")),
        ));
    }
    let limit = crate::http::pagination::page_size(f.limit)?;
    let sql = format!(
        "select {COLUMNS} from smartflow_shared.jobs \
         where ($1::text is null or state = $1) and ($2::text is null or queue = $2) \
           and ($3::text is null or kind = $3) and ($4::int8 is null or id < $4) \
         order by id desc limit $5"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&f.state)
        .bind(&f.queue)
        .bind(&f.kind)
        .bind(f.before)
        .bind(limit)
        .fetch_all(db)
        .await?)
}

pub async fn get(db: &PgPool, id: JobId) -> Result<JobView, AppError> {
    let sql = format!("select {COLUMNS} from smartflow_shared.jobs where id = $1");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("Job {id}")))
}

/// Runs a dead or cancelled job again now, with at least one more attempt.
pub async fn retry(db: &PgPool, id: JobId) -> Result<JobView, AppError> {
    let sql = format!(
        "with r as (update smartflow_shared.jobs set state = 'available', run_at = now(), \
           max_attempts = greatest(max_attempts, attempt + 1), finished_at = null \
         where id = $1 and state in ('dead', 'cancelled') returning *), \
         n as (select pg_notify($2, queue) from r) \
         select {COLUMNS} from r where (select count(*) from n) >= 0"
    );
    let row: Option<JobView> = match sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(CHANNEL)
        .fetch_optional(db)
        .await
    {
        Err(sqlx::Error::Database(e)) if e.constraint() == Some(UNIQUE_ACTIVE) => {
            return Err(key_taken(db, id).await?);
        }
        other => other?,
    };
    match row {
        Some(job) => Ok(job),
        None => {
            let job = get(db, id).await?;
            Err(AppError::Conflict(format!(
                "Job {id} is `{}`; only dead or cancelled jobs can be retried.",
                job.state
            )))
        }
    }
}

/// The index that keeps one active job per unique key.
const UNIQUE_ACTIVE: &str = "jobs_unique_active_idx";

/// The job being retried shares its unique key with one that is still active.
async fn key_taken(db: &PgPool, id: JobId) -> Result<AppError, AppError> {
    let job = get(db, id).await?;
    let key = job.unique_key.unwrap_or_default();
    let holder: Option<(JobId, String)> = sqlx::query_as(
        "select id, state from smartflow_shared.jobs where unique_key = $1 \
         and state in ('scheduled', 'available', 'running') and id <> $2 limit 1",
    )
    .bind(&key)
    .bind(id)
    .fetch_optional(db)
    .await?;
    let holder = holder
        .map(|(other, state)| format!("job {other} (`{state}`)"))
        .unwrap_or_else(|| "another job".into());
    Ok(AppError::Conflict(format!(
        "Job {id} cannot run again now: its unique key `{key}` is held by {holder}, which does \
         the same work. Wait for that job to finish or cancel it, then retry."
    )))
}

/// Cancels a job that has not finished. A running job is stopped by its worker at the next
/// heartbeat.
pub async fn cancel(db: &PgPool, id: JobId) -> Result<JobView, AppError> {
    let sql = format!(
        "update smartflow_shared.jobs set state = 'cancelled', finished_at = now(), \
           last_error = coalesce(last_error, 'cancelled by an operator') \
         where id = $1 and state in ('scheduled', 'available', 'running') returning {COLUMNS}"
    );
    let row: Option<JobView> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(db).await?;
    match row {
        Some(job) => Ok(job),
        None => {
            let job = get(db, id).await?;
            Err(AppError::Conflict(format!("Job {id} is already `{}`.", job.state)))
        }
    }
}
