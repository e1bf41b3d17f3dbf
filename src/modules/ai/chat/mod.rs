//! Chat, as the seed's AI Processing Flow: the request stores the user's message and enqueues
//! a job (202 with the job id); the worker answers and streams events; clients poll or follow
//! the WebSocket.

pub mod conversations;
pub mod job;
pub mod routes;
pub mod stream;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use self::job::ChatJob;
use crate::{
    error::{AppError, Validator},
    modules::ai::{
        agents::repo as agents, providers::Operation, state::chat_provider, usage::ledger,
    },
    platform::{
        auth::Principal,
        events::{Event, record_event},
        jobs::{self, NewJob},
        plans::{self, Limit, month_start},
    },
    state::AppState,
};

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ChatInput {
    pub agent_id: Uuid,
    /// Continue this conversation (yours, with the same agent); omit to start one.
    pub conversation_id: Option<Uuid>,
    pub message: String,
}

/// The answer is on its way.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChatAccepted {
    pub job_id: i64,
    pub conversation_id: Uuid,
    /// The reply to come (status `queued` until the worker takes it).
    pub message_id: Uuid,
    pub user_message_id: Uuid,
    /// Poll here, or subscribe to `job_id` on `/ws/chat`.
    pub status_url: String,
}

/// Checks, stores the question, and enqueues the answer: shared by `POST /api/chat` and the
/// WebSocket's `chat` message.
pub async fn submit(
    state: &AppState,
    who: &Principal,
    input: &ChatInput,
) -> Result<ChatAccepted, AppError> {
    who.require(crate::platform::auth::Permission::Write)?;
    let text = input.message.trim();
    let mut v = Validator::new();
    let max = state.settings.ai.chat.max_message_chars;
    if text.is_empty() {
        v.add("message", "required", "Write a message.");
    } else if text.chars().count() > max {
        v.add(
            "message",
            "too_long",
            format!("Use at most {max} characters (ai.chat.max_message_chars)."),
        );
    }
    v.finish()?;
    let agent = agents::find(state, who.workspace_id, input.agent_id).await?;
    if let Some(id) = input.conversation_id {
        let owner: Option<Option<Uuid>> = sqlx::query_scalar(
            "select agent_id from smartflow_ai.conversations where id = $1 and workspace_id = $2 and user_id = $3",
        )
        .bind(id)
        .bind(who.workspace_id)
        .bind(who.user_id)
        .fetch_optional(&state.db)
        .await?;
        match owner {
            None => return Err(AppError::not_found("Conversation")),
            Some(agent_id) if agent_id != Some(agent.id) => {
                return Err(AppError::validation(
                    "conversation_id",
                    "other_agent",
                    "This conversation is with another agent; start a new one.",
                ));
            }
            Some(_) => {}
        }
    }
    // Refuse now what the worker would refuse anyway: no provider, no budget, no plan room.
    let provider =
        chat_provider(state, who.workspace_id, agent.configuration.provider.as_deref()).await?;
    let targets = provider.targets(Operation::Chat, agent.configuration.model.as_deref());
    ledger::ensure_budget(state, who.workspace_id, &targets).await?;
    let used: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_ai.messages where workspace_id = $1 and role = 'user' and created_at >= $2",
    )
    .bind(who.workspace_id)
    .bind(month_start(Utc::now()))
    .fetch_one(&state.db)
    .await?;
    plans::ensure(state, who.workspace_id, Limit::AiMessagesPerMonth, used).await?;

    let mut tx = state.db.begin().await?;
    let conversation_id = match input.conversation_id {
        Some(id) => id,
        None => {
            let title: String = text.chars().take(80).collect();
            sqlx::query_scalar(
                "insert into smartflow_ai.conversations (workspace_id, user_id, agent_id, title) values ($1, $2, $3, $4) returning id",
            )
            .bind(who.workspace_id)
            .bind(who.user_id)
            .bind(agent.id)
            .bind(&title)
            .fetch_one(&mut *tx)
            .await?
        }
    };
    let user_message_id: Uuid = sqlx::query_scalar(
        "insert into smartflow_ai.messages (conversation_id, workspace_id, role, content) values ($1, $2, 'user', $3) returning id",
    )
    .bind(conversation_id)
    .bind(who.workspace_id)
    .bind(text)
    .fetch_one(&mut *tx)
    .await?;
    let message_id = Uuid::new_v4();
    let job = ChatJob { message_id, user_message_id, workspace_id: who.workspace_id };
    let new = NewJob::of(&job).map_err(AppError::internal)?.workspace(who.workspace_id);
    let job_id = jobs::insert(&mut tx, new)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("chat job not enqueued")))?;
    // A moment later than the question, so memory orders them even within one transaction.
    sqlx::query(
        "insert into smartflow_ai.messages (id, conversation_id, workspace_id, role, status, job_id, agent_id, agent_version, created_at) \
         values ($1, $2, $3, 'assistant', 'queued', $4, $5, $6, clock_timestamp())",
    )
    .bind(message_id)
    .bind(conversation_id)
    .bind(who.workspace_id)
    .bind(job_id)
    .bind(agent.id)
    .bind(agent.version)
    .execute(&mut *tx)
    .await?;
    sqlx::query("update smartflow_ai.conversations set updated_at = now() where id = $1")
        .bind(conversation_id)
        .execute(&mut *tx)
        .await?;
    let event = Event::new(
        "ai.chat.requested",
        "conversation",
        conversation_id,
        json!({
            "agent_id": agent.id, "agent_version": agent.version, "job_id": job_id,
            "message_id": message_id, "user_message_id": user_message_id,
        }),
    );
    record_event(&mut tx, &who.actor(), event).await?;
    tx.commit().await?;
    Ok(ChatAccepted {
        job_id,
        conversation_id,
        message_id,
        user_message_id,
        status_url: format!("/api/chat/jobs/{job_id}"),
    })
}
