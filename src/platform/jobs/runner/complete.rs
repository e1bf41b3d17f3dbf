//! What becomes of a job after a run: the outcome is computed in the job's task, sent to one
//! completer, and written in batches fenced by attempt and worker.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::mpsc;

use super::{Claimed, Shared};
use crate::platform::jobs::{CHANNEL, JobId, JobResult, Outcome, backoff};

const ERROR_MAX_LEN: usize = 2_000;

pub(super) enum Message {
    Outcome(Completion),
    /// Write everything received so far, then acknowledge.
    Flush(tokio::sync::oneshot::Sender<()>),
}

pub(super) struct Completion {
    pub(super) id: JobId,
    pub(super) attempt: i32,
    /// `completed`, `scheduled`, `available`, `cancelled` or `dead`.
    pub(super) next_state: &'static str,
    pub(super) run_at: Option<DateTime<Utc>>,
    pub(super) error: Option<String>,
    /// 1 when the attempt is given back (snooze).
    pub(super) refund: i32,
}

/// What becomes of `job` after a run that returned `result`.
pub(super) fn completion_for(
    shared: &Shared,
    job: &Claimed,
    result: JobResult,
    elapsed: Duration,
) -> Completion {
    let (id, attempt, max_attempts) = (job.id, job.attempt, job.max_attempts);
    let (queue, kind) = (job.queue.as_str(), job.kind.as_str());
    let label = |outcome: &'static str| {
        metrics::histogram!("job_duration_seconds", "queue" => queue.to_string(), "kind" => kind.to_string(), "outcome" => outcome)
            .record(elapsed.as_secs_f64());
        metrics::counter!("jobs_finished_total", "queue" => queue.to_string(), "kind" => kind.to_string(), "outcome" => outcome)
            .increment(1);
    };
    // Unknown kinds (another version's) back off by default.
    let backoff: fn(i32) -> Duration =
        shared.registry.get(kind).map_or(backoff::delay, |r| r.backoff);
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
                let delay = e.retry_after.unwrap_or_else(|| backoff(attempt));
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

pub(super) async fn completer(db: PgPool, mut rx: mpsc::UnboundedReceiver<Message>) {
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
/// overwritten by its stale first run. On the runner's connections this commits asynchronously
/// (see `runner_pool`).
pub(super) async fn write_completions(db: &PgPool, batch: &[Completion]) {
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
        let result = sqlx::query(
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
        .bind(&ids)
        .bind(&attempts)
        .bind(&states)
        .bind(&run_ats)
        .bind(&errors)
        .bind(&refunds)
        .execute(db)
        .await;
        match result {
            Ok(_) => return,
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
pub(super) async fn release(
    db: &PgPool,
    worker_id: &str,
    jobs: &[(JobId, i32)],
) -> Result<(), sqlx::Error> {
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
    .bind(&ids)
    .bind(&attempts)
    .bind(worker_id)
    .bind(CHANNEL)
    .execute(db)
    .await?;
    Ok(())
}
