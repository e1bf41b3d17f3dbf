//! Follows one job for one socket: live events from the cache's pub/sub, and the stored events
//! whenever the live feed cannot be trusted to be complete (at the start, after a gap, after
//! falling behind, and whenever it stays quiet for `ai.websocket.resync_interval_ms`).
//! Sequence numbers make this exact: nothing is skipped or sent twice.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::{
    error::AppError,
    modules::ai::{
        chat::stream::{self, channel},
        runtime::events::{ChatEvent, Envelope},
    },
    platform::cache::RecvError,
    state::AppState,
};

enum Flow {
    Open,
    /// The job ended (or the socket went away): stop following.
    Finished,
}

/// Sends the job's events after `after` to `out` until the job ends or `out` closes. A slow
/// socket only slows this task: the worker publishes without waiting for anyone.
pub async fn follow(state: AppState, job_id: i64, after: i32, out: mpsc::Sender<String>) {
    if let Err(e) = run(&state, job_id, after, &out).await {
        tracing::warn!(job = job_id, error = %e, "following a chat job failed");
        let msg = serde_json::json!({"type": "error", "code": "follow_failed", "job_id": job_id,
            "message": "Events of this job could not be followed; subscribe again."});
        let _ = out.send(msg.to_string()).await;
    }
}

async fn run(
    state: &AppState,
    job_id: i64,
    mut last: i32,
    out: &mpsc::Sender<String>,
) -> Result<(), AppError> {
    // Subscribe before reading the table, so an event is either stored already or arrives live.
    let mut live = state.cache.subscribe(&channel(job_id)).await.map_err(AppError::internal)?;
    if let Flow::Finished = catch_up(state, job_id, &mut last, out).await? {
        return Ok(());
    }
    let quiet = Duration::from_millis(state.settings.ai.websocket.resync_interval_ms);
    loop {
        let received = match tokio::time::timeout(quiet, live.recv()).await {
            Ok(received) => received,
            // Nothing live for a while: a publish may have been lost (the worker writes every
            // event to the table first), so the table decides. Sequence numbers keep this
            // free of duplicates.
            Err(_) => Err(RecvError::Lagged(0)),
        };
        let batch = match received {
            Ok(message) => {
                serde_json::from_str::<Vec<Envelope>>(&message).map_err(AppError::internal)?
            }
            Err(RecvError::Lagged(_)) => {
                // Too slow for the live feed, or it went quiet: the table has everything in order.
                if let Flow::Finished = catch_up(state, job_id, &mut last, out).await? {
                    return Ok(());
                }
                continue;
            }
            Err(RecvError::Closed) => {
                return Err(AppError::internal(anyhow::anyhow!("pub/sub closed")));
            }
        };
        for env in batch {
            if env.seq <= last {
                continue;
            }
            if env.seq != last + 1 {
                // A gap (a message published while we were catching up was missed).
                match catch_up(state, job_id, &mut last, out).await? {
                    Flow::Finished => return Ok(()),
                    Flow::Open if env.seq <= last => continue,
                    Flow::Open => {}
                }
            }
            if let Flow::Finished = send(out, &env, &mut last).await {
                return Ok(());
            }
        }
    }
}

async fn send(out: &mpsc::Sender<String>, env: &Envelope, last: &mut i32) -> Flow {
    let Ok(text) = serde_json::to_string(env) else { return Flow::Finished };
    if out.send(text).await.is_err() {
        return Flow::Finished;
    }
    *last = env.seq;
    if env.event.is_terminal() { Flow::Finished } else { Flow::Open }
}

/// A finished reply, as stored.
#[derive(sqlx::FromRow)]
struct Outcome {
    status: String,
    content: String,
    error: Option<String>,
    last_seq: Option<i32>,
    id: uuid::Uuid,
    conversation_id: uuid::Uuid,
    usage: Option<serde_json::Value>,
}

/// Sends stored events after `last`. When the job is over and its events were pruned, sends
/// its outcome from the stored message instead.
async fn catch_up(
    state: &AppState,
    job_id: i64,
    last: &mut i32,
    out: &mpsc::Sender<String>,
) -> Result<Flow, AppError> {
    // Read the outcome first: every event but the final `done` is stored before the reply is,
    // so the events read next are complete up to it. A reply still open whose job died is
    // ended first.
    let outcome = || {
        sqlx::query_as::<_, Outcome>(
            "select status, content, error, last_seq, id, conversation_id, usage from smartflow_ai.messages \
             where job_id = $1 and status in ('completed', 'failed')",
        )
        .bind(job_id)
        .fetch_optional(&state.db)
    };
    let mut finished = outcome().await?;
    if finished.is_none() && crate::modules::ai::chat::job::end_if_abandoned(state, job_id).await? {
        finished = outcome().await?;
    }
    loop {
        let events = stream::stored(&state.db, job_id, *last, 500).await?;
        let n = events.len();
        for env in &events {
            if let Flow::Finished = send(out, env, last).await {
                return Ok(Flow::Finished);
            }
        }
        if n < 500 {
            break;
        }
    }
    let Some(Outcome {
        status,
        content,
        error,
        last_seq: Some(seq),
        id: message_id,
        conversation_id,
        usage,
    }) = finished
    else {
        return Ok(Flow::Open);
    };
    if seq <= *last {
        return Ok(Flow::Finished);
    }
    // The final event is not stored yet, or the events were pruned: rebuild it from the reply.
    let event = if status == "completed" {
        let usage = usage.and_then(|u| serde_json::from_value(u).ok()).unwrap_or_default();
        ChatEvent::Done { message_id, conversation_id, content, usage }
    } else {
        ChatEvent::Error { message: error.unwrap_or_default(), retrying: false }
    };
    send(out, &Envelope { job_id, seq, event }, last).await;
    Ok(Flow::Finished)
}
