//! The publish job of each target, keyed `social.publish:<target id>`: the queue's partial
//! unique index on active keys means a target never has two active jobs, however often it is
//! scheduled, rescheduled, published now or re-queued by the sweeper.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::PublishTarget;
use crate::platform::jobs::{self, CHANNEL, NewJob, SCHEDULED_PAYLOAD};

pub fn key(target: Uuid) -> String {
    format!("social.publish:{target}")
}

fn job(target: Uuid, workspace: Uuid, at: DateTime<Utc>) -> Result<NewJob, sqlx::Error> {
    Ok(NewJob::of(&PublishTarget { target_id: target })
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?
        .run_at(at)
        .workspace(workspace))
}

/// Enqueues the jobs of new targets, in the caller's transaction.
pub async fn enqueue(
    conn: &mut PgConnection,
    workspace: Uuid,
    targets: &[(Uuid, DateTime<Utc>)],
) -> Result<u64, sqlx::Error> {
    let batch: Vec<NewJob> =
        targets.iter().map(|(t, at)| job(*t, workspace, *at)).collect::<Result<_, _>>()?;
    jobs::insert_many(conn, &batch).await
}

/// Makes the target's job run at `at`: moves its waiting job, or enqueues one when it has
/// none (a running job re-reads the target's time itself).
pub async fn move_to(
    conn: &mut PgConnection,
    workspace: Uuid,
    target: Uuid,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let moved = sqlx::query(
        "update smartflow_shared.jobs set run_at = $2, state = 'scheduled' \
         where unique_key = $1 and state in ('scheduled', 'available')",
    )
    .bind(key(target))
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if moved == 0 {
        jobs::insert(&mut *conn, job(target, workspace, at)?).await?;
    } else {
        // The stagers sleep until the earliest job they know of; wake them.
        sqlx::query("select pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(SCHEDULED_PAYLOAD)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Puts the target's job back in line now, keeping its place when it is already waiting
/// (a backlog must not push it further back), or enqueues a new one when it has none.
pub async fn requeue(
    conn: &mut PgConnection,
    workspace: Uuid,
    target: Uuid,
) -> Result<(), sqlx::Error> {
    let waiting = sqlx::query(
        "update smartflow_shared.jobs set run_at = least(run_at, now()) \
         where unique_key = $1 and state in ('scheduled', 'available')",
    )
    .bind(key(target))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if waiting == 0 {
        jobs::insert(&mut *conn, job(target, workspace, Utc::now())?).await?;
    } else {
        sqlx::query("select pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(SCHEDULED_PAYLOAD)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Cancels the target's waiting job (a running one sees the cancelled target and stops).
pub async fn cancel(conn: &mut PgConnection, target: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update smartflow_shared.jobs set state = 'cancelled', finished_at = now(), \
         last_error = 'the post was cancelled' \
         where unique_key = $1 and state in ('scheduled', 'available')",
    )
    .bind(key(target))
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether the target has a job that will run it.
pub async fn has_active_job(conn: &mut PgConnection, target: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from smartflow_shared.jobs where unique_key = $1 \
         and state in ('scheduled', 'available', 'running'))",
    )
    .bind(key(target))
    .fetch_one(conn)
    .await
}
