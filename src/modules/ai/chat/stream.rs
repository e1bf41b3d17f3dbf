//! A chat job's event stream: numbered per job, written to `chat_events` and then published on
//! `ai:chat:<job>` through the cache's pub/sub (Redis across instances). Writing before
//! publishing is what lets a subscriber resume without gaps: anything published before it
//! subscribed is already in the table when it reads it.

use async_trait::async_trait;

use crate::{
    error::AppError,
    modules::ai::runtime::{
        EventSink,
        events::{ChatEvent, Envelope},
    },
    state::AppState,
};

pub fn channel(job_id: i64) -> String {
    format!("ai:chat:{job_id}")
}

pub struct Emitter {
    state: AppState,
    job_id: i64,
    next_seq: i32,
    pending: Vec<Envelope>,
}

impl Emitter {
    /// Continues the job's numbering (a retried job keeps counting).
    pub async fn open(state: &AppState, job_id: i64) -> Result<Emitter, AppError> {
        let last: Option<i32> =
            sqlx::query_scalar("select max(seq) from smartflow_ai.chat_events where job_id = $1")
                .bind(job_id)
                .fetch_one(&state.db)
                .await?;
        Ok(Emitter {
            state: state.clone(),
            job_id,
            next_seq: last.unwrap_or(0) + 1,
            pending: Vec::new(),
        })
    }

    /// Whether earlier attempts already sent events.
    pub fn resumed(&self) -> bool {
        self.next_seq > 1
    }

    /// Sequence number of the last event emitted.
    pub fn last_seq(&self) -> i32 {
        self.next_seq - 1
    }
}

#[async_trait]
impl EventSink for Emitter {
    async fn emit(&mut self, event: ChatEvent) -> Result<(), AppError> {
        self.pending.push(Envelope { job_id: self.job_id, seq: self.next_seq, event });
        self.next_seq += 1;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), AppError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        let seqs: Vec<i32> = batch.iter().map(|e| e.seq).collect();
        let events: Vec<serde_json::Value> = batch
            .iter()
            .map(|e| serde_json::to_value(&e.event))
            .collect::<Result<_, _>>()
            .map_err(AppError::internal)?;
        sqlx::query(
            "insert into smartflow_ai.chat_events (job_id, seq, event) \
             select $1, s, e from unnest($2::int[], $3::jsonb[]) as t(s, e) on conflict do nothing",
        )
        .bind(self.job_id)
        .bind(&seqs)
        .bind(&events)
        .execute(&self.state.db)
        .await?;
        let message = serde_json::to_string(&batch).map_err(AppError::internal)?;
        // Best effort: subscribers that miss it catch up from the table.
        if let Err(e) = self.state.cache.publish(&channel(self.job_id), &message).await {
            tracing::warn!(error = %e, job = self.job_id, "chat events not published");
        }
        Ok(())
    }
}

/// Stored events of a job after `after`, oldest first (at most `limit`).
pub async fn stored(
    db: &sqlx::PgPool,
    job_id: i64,
    after: i32,
    limit: i64,
) -> Result<Vec<Envelope>, AppError> {
    let rows: Vec<(i32, serde_json::Value)> = sqlx::query_as(
        "select seq, event from smartflow_ai.chat_events where job_id = $1 and seq > $2 \
         order by seq limit $3",
    )
    .bind(job_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|(seq, event)| {
            let event: ChatEvent = serde_json::from_value(event).map_err(AppError::internal)?;
            Ok(Envelope { job_id, seq, event })
        })
        .collect()
}
