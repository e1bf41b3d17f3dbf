//! The `ai.chat` job: answers one chat message with its agent, streaming events, and stores
//! the reply with its usage and citations. `ai.chat.prune_events` drops old replay events.

use std::{
    panic::AssertUnwindSafe,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::stream::Emitter;
use crate::{
    error::AppError,
    modules::ai::{
        agents::config::AgentConfig,
        providers::Message,
        runtime::{self, AgentInput, EventSink, RunError, events::ChatEvent},
    },
    platform::{
        events::{Actor, Event, record_event},
        jobs::{Job, JobContext, JobError, JobResult, NewJob, Outcome},
    },
    state::AppState,
};

#[derive(Debug, Serialize, Deserialize)]
pub struct ChatJob {
    /// The assistant message to fill in.
    pub message_id: Uuid,
    pub user_message_id: Uuid,
    pub workspace_id: Uuid,
}

#[derive(sqlx::FromRow)]
struct Target {
    conversation_id: Uuid,
    user_id: Uuid,
    agent_id: Option<Uuid>,
    agent_version: Option<i32>,
    status: String,
    question: String,
    asked_at: DateTime<Utc>,
}

#[async_trait]
impl Job for ChatJob {
    const KIND: &'static str = "ai.chat";
    const QUEUE: &'static str = "ai";
    const MAX_ATTEMPTS: i32 = 3;
    const PRIORITY: i16 = 1;

    fn timeout() -> Duration {
        Duration::from_secs(3_600)
    }

    /// Whatever ends the last attempt (an error, a panic) ends the reply as failed with a final
    /// `error` event, so no client waits for an answer that will never come.
    async fn run(self, ctx: JobContext) -> JobResult {
        let (state, job_id, message_id) = (ctx.state.clone(), ctx.id, self.message_id);
        let last = ctx.is_last_attempt();
        let result = guarded(self.attempt(ctx)).await;
        if let Err(e) = &result
            && (last || e.permanent)
        {
            give_up(&state, job_id, message_id, e).await;
        }
        result
    }
}

/// Runs `attempt`, turning a panic into an error of this attempt.
async fn guarded(attempt: impl std::future::Future<Output = JobResult>) -> JobResult {
    match AssertUnwindSafe(attempt).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(JobError::from(anyhow::anyhow!("the chat job panicked: {what}")))
        }
    }
}

/// Ends a reply that is still open as failed, with an `error` event after the stored ones.
/// A reply already completed or failed is left as it is.
async fn give_up(state: &AppState, job_id: i64, message_id: Uuid, error: &JobError) {
    tracing::error!(job = job_id, error = %format!("{:#}", error.error), "chat answer abandoned");
    if let Err(e) = fail_open_reply(state, job_id, message_id).await {
        tracing::error!(job = job_id, error = %e, "could not mark the abandoned chat reply failed");
    }
}

async fn fail_open_reply(state: &AppState, job_id: i64, message_id: Uuid) -> Result<(), AppError> {
    let message = "Something went wrong while answering; send the message again.";
    // A fresh emitter numbers after what is stored, so no sequence number is skipped.
    let mut emitter = Emitter::open(state, job_id).await?;
    emitter.emit(ChatEvent::Error { message: message.into(), retrying: false }).await?;
    let mut tx = state.db.begin().await?;
    let open = sqlx::query(
        "update smartflow_ai.messages set status = 'failed', error = $2, last_seq = $3, \
         completed_at = now() where id = $1 and status in ('queued', 'running')",
    )
    .bind(message_id)
    .bind(message)
    .bind(emitter.last_seq())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if open == 0 {
        return Ok(());
    }
    schedule_prune(&mut tx, state).await?;
    tx.commit().await?;
    emitter.flush().await
}

/// Ends the reply of job `job_id` when the job is over without having ended it: a worker lost
/// during the last attempt leaves the job `dead` (rescued, never run again) and its reply open.
/// True when it ended one.
pub async fn end_if_abandoned(state: &AppState, job_id: i64) -> Result<bool, AppError> {
    let abandoned: Option<Uuid> = sqlx::query_scalar(
        "select m.id from smartflow_ai.messages m \
         left join smartflow_shared.jobs j on j.id = m.job_id \
         where m.job_id = $1 and m.status in ('queued', 'running') \
         and (j.id is null or j.state in ('dead', 'cancelled'))",
    )
    .bind(job_id)
    .fetch_optional(&state.db)
    .await?;
    match abandoned {
        Some(message_id) => {
            tracing::warn!(job = job_id, "chat job ended without its reply; marking it failed");
            fail_open_reply(state, job_id, message_id).await.map(|()| true)
        }
        None => Ok(false),
    }
}

impl ChatJob {
    async fn attempt(self, ctx: JobContext) -> JobResult {
        let state = &ctx.state;
        let target: Option<Target> = sqlx::query_as(
            "select a.conversation_id, c.user_id, a.agent_id, a.agent_version, a.status, \
             u.content as question, u.created_at as asked_at \
             from smartflow_ai.messages a \
             join smartflow_ai.conversations c on c.id = a.conversation_id and c.workspace_id = a.workspace_id \
             join smartflow_ai.messages u on u.id = $3 and u.conversation_id = a.conversation_id \
             where a.id = $1 and a.workspace_id = $2",
        )
        .bind(self.message_id)
        .bind(self.workspace_id)
        .bind(self.user_message_id)
        .fetch_optional(&state.db)
        .await?;
        let Some(target) = target else {
            return Ok(Outcome::Cancel("the conversation was deleted".into()));
        };
        if target.status == "completed" || target.status == "failed" {
            return Ok(Outcome::Done);
        }
        let mut emitter = Emitter::open(state, ctx.id).await?;
        if emitter.resumed() {
            emitter
                .emit(ChatEvent::Reset {
                    reason: "the answer restarts after an interruption".into(),
                })
                .await?;
        }
        sqlx::query("update smartflow_ai.messages set status = 'running' where id = $1")
            .bind(self.message_id)
            .execute(&state.db)
            .await?;
        let started = Instant::now();
        let limit = Duration::from_secs(state.settings.ai.chat.job_timeout_secs);
        let result =
            match tokio::time::timeout(limit, self.answer(state, &target, &mut emitter)).await {
                Ok(r) => r,
                Err(_) => {
                    Err(RunError::Provider(crate::modules::ai::providers::ProviderError::Timeout))
                }
            };
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::histogram!("ai_processing_duration_seconds", "operation" => "chat", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(output) => {
                self.complete(state, &target, &mut emitter, output).await?;
                Ok(Outcome::Done)
            }
            Err(err) => self.fail(state, &ctx, &mut emitter, err).await,
        }
    }

    async fn answer(
        &self,
        state: &AppState,
        target: &Target,
        emitter: &mut Emitter,
    ) -> Result<runtime::AgentOutput, RunError> {
        let (Some(agent_id), Some(version)) = (target.agent_id, target.agent_version) else {
            return Err(
                AppError::Conflict("The agent of this conversation was deleted.".into()).into()
            );
        };
        let config: Option<Value> = sqlx::query_scalar(
            "select configuration from smartflow_ai.agent_versions where agent_id = $1 and version = $2 and workspace_id = $3",
        )
        .bind(agent_id)
        .bind(version)
        .bind(self.workspace_id)
        .fetch_optional(&state.db)
        .await?;
        let config: AgentConfig = match config {
            Some(c) => serde_json::from_value(c).map_err(AppError::internal)?,
            None => {
                return Err(AppError::Conflict(
                    "The agent of this conversation was deleted.".into(),
                )
                .into());
            }
        };
        let history = memory(state, self.workspace_id, target, config.memory_window).await?;
        let input = AgentInput {
            message: target.question.clone(),
            history,
            user_id: Some(target.user_id),
            message_id: Some(self.message_id),
        };
        runtime::run(state, self.workspace_id, agent_id, &config, input, emitter).await
    }

    async fn complete(
        &self,
        state: &AppState,
        target: &Target,
        emitter: &mut Emitter,
        output: runtime::AgentOutput,
    ) -> Result<(), JobError> {
        let done = ChatEvent::Done {
            message_id: self.message_id,
            conversation_id: target.conversation_id,
            content: output.content.clone(),
            usage: output.usage.clone(),
        };
        emitter.emit(done).await?;
        let mut tx = state.db.begin().await?;
        sqlx::query(
            "update smartflow_ai.messages set status = 'completed', content = $2, usage = $3, \
             citations = $4, tool_calls = $5, last_seq = $6, completed_at = now(), error = null where id = $1",
        )
        .bind(self.message_id)
        .bind(&output.content)
        .bind(serde_json::to_value(&output.usage)?)
        .bind(serde_json::to_value(&output.citations)?)
        .bind(serde_json::to_value(&output.tool_calls)?)
        .bind(emitter.last_seq())
        .execute(&mut *tx)
        .await?;
        sqlx::query("update smartflow_ai.conversations set updated_at = now() where id = $1")
            .bind(target.conversation_id)
            .execute(&mut *tx)
            .await?;
        let event = Event::new(
            "ai.chat.completed",
            "message",
            self.message_id,
            json!({
                "conversation_id": target.conversation_id, "agent_id": target.agent_id,
                "citations": output.citations.len(), "usage": output.usage,
            }),
        );
        record_event(
            &mut tx,
            &Actor::system("ai.chat"),
            event.workspace(self.workspace_id).unaudited(),
        )
        .await?;
        schedule_prune(&mut tx, state).await?;
        tx.commit().await?;
        // After the commit, so a client that sees `done` finds the stored reply. The reply is
        // stored whatever happens here: followers rebuild `done` from it.
        if let Err(e) = emitter.flush().await {
            tracing::warn!(message = %self.message_id, error = %e, "final chat events not stored");
        }
        Ok(())
    }

    async fn fail(
        &self,
        state: &AppState,
        ctx: &JobContext,
        emitter: &mut Emitter,
        err: RunError,
    ) -> JobResult {
        let retry = match &err {
            RunError::Provider(e) => e.falls_back() && !ctx.is_last_attempt(),
            RunError::App(AppError::Internal(_)) => !ctx.is_last_attempt(),
            RunError::App(_) => false,
        };
        let message = match &err {
            RunError::Provider(e) => format!("The AI provider failed: {e}"),
            RunError::App(AppError::Internal(_)) => {
                "Something went wrong while answering.".to_string()
            }
            RunError::App(e) => e.problem().detail.unwrap_or_else(|| e.to_string()),
        };
        emitter.emit(ChatEvent::Error { message: message.clone(), retrying: retry }).await?;
        if retry {
            emitter.flush().await?;
            let wait = match &err {
                RunError::Provider(e) => e.retry_after().unwrap_or(Duration::from_secs(5)),
                RunError::App(_) => Duration::from_secs(5),
            };
            return Err(JobError::retry_after(anyhow::anyhow!("{err}"), wait));
        }
        let mut tx = state.db.begin().await?;
        sqlx::query(
            "update smartflow_ai.messages set status = 'failed', error = $2, last_seq = $3, completed_at = now() where id = $1",
        )
        .bind(self.message_id)
        .bind(&message)
        .bind(emitter.last_seq())
        .execute(&mut *tx)
        .await?;
        schedule_prune(&mut tx, state).await?;
        tx.commit().await?;
        if let Err(e) = emitter.flush().await {
            tracing::warn!(job = ctx.id, error = %e, "final chat events not stored");
        }
        tracing::warn!(job = ctx.id, error = %err, "chat answer failed");
        Ok(Outcome::Cancel(message))
    }
}

/// The conversation's latest completed messages before the question, oldest first. Keyed by
/// workspace, user and conversation together, so nothing crosses between them.
async fn memory(
    state: &AppState,
    workspace: Uuid,
    t: &Target,
    window: u32,
) -> Result<Vec<Message>, AppError> {
    if window == 0 {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select role, content from (select m.role, m.content, m.created_at from smartflow_ai.messages m \
         join smartflow_ai.conversations c on c.id = m.conversation_id \
         where c.id = $1 and c.workspace_id = $2 and c.user_id = $3 and m.workspace_id = $2 \
         and m.status = 'completed' and m.created_at < $4 order by m.created_at desc limit $5) recent \
         order by created_at",
    )
    .bind(t.conversation_id)
    .bind(workspace)
    .bind(t.user_id)
    .bind(t.asked_at)
    .bind(i64::from(window))
    .fetch_all(&state.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(role, content)| {
                if role == "user" { Message::user(content) } else { Message::assistant(content) }
            },
        )
        .collect())
}

/// One pending prune per retention window.
async fn schedule_prune(
    conn: &mut sqlx::PgConnection,
    state: &AppState,
) -> Result<(), sqlx::Error> {
    let retention = Duration::from_secs(state.settings.ai.websocket.event_retention_secs);
    let job = NewJob::of(&PruneChatEvents {})
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?
        .delay(retention)
        .unique_key("ai.chat.prune_events");
    crate::platform::jobs::insert(conn, job).await.map(|_| ())
}

/// Deletes replay events older than `ai.websocket.event_retention_secs`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PruneChatEvents {}

#[async_trait]
impl Job for PruneChatEvents {
    const KIND: &'static str = "ai.chat.prune_events";
    const QUEUE: &'static str = "maintenance";

    async fn run(self, ctx: JobContext) -> JobResult {
        let secs = ctx.state.settings.ai.websocket.event_retention_secs as f64;
        sqlx::query("delete from smartflow_ai.chat_events where created_at < now() - make_interval(secs => $1)")
            .bind(secs)
            .execute(&ctx.state.db)
            .await?;
        Ok(Outcome::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_attempt_is_an_error_of_that_attempt() {
        let result = guarded(async { panic!("provider client bug") }).await;
        let err = result.unwrap_err();
        assert!(format!("{}", err.error).contains("provider client bug"), "{:#}", err.error);
        assert!(!err.permanent);
        assert!(matches!(guarded(async { Ok(Outcome::Done) }).await, Ok(Outcome::Done)));
    }
}
