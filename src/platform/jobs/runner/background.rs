//! The runner's background tasks: the stager that makes due scheduled jobs available, the
//! LISTEN connection that wakes idle claim loops, and heartbeats.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use chrono::Utc;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use super::{BATCH_MAX, Shared, hostname};
use crate::platform::jobs::{CHANNEL, JobId, SCHEDULED_PAYLOAD};

pub(super) async fn stager(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
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

pub(super) struct StageResult {
    moved: usize,
    next_in: Option<Duration>,
}

pub(super) async fn stage_due(shared: &Shared) -> Result<StageResult, sqlx::Error> {
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
    .bind(BATCH_MAX as i64)
    .fetch_all(&shared.db)
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
            .execute(&shared.db)
            .await?;
    }
    // Measured on the database clock, which decides what is due.
    let next: Option<f64> = sqlx::query_scalar(
        "select extract(epoch from (run_at - clock_timestamp()))::float8 from smartflow_shared.jobs \
         where state = 'scheduled' order by run_at limit 1",
    )
    .fetch_optional(&shared.db)
    .await?;
    let next_in = next.map(|s| Duration::from_secs_f64(s.max(0.0)) + Duration::from_micros(500));
    Ok(StageResult { moved, next_in })
}

pub(super) async fn listener(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
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

pub(super) async fn heartbeat(shared: Arc<Shared>) {
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
    .execute(&shared.db)
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
    .fetch_all(&shared.db)
    .await
}
