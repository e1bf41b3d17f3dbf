//! Conversations and their messages, each visible only to the user who had it.

use actix_web::{HttpResponse, delete, get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    error::AppError,
    modules::ai::agents::routes::{ListQuery, page_limit},
    platform::{
        auth::{Authorized, Principal, Read, Write},
        events::{Event, record_event},
    },
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Conversation {
    pub id: Uuid,
    pub agent_id: Option<Uuid>,
    pub title: String,
    pub message_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct ChatMessage {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// `queued`, `running`, `completed` or `failed` (replies); user messages are `completed`.
    pub status: String,
    pub job_id: Option<i64>,
    pub agent_id: Option<Uuid>,
    pub agent_version: Option<i32>,
    /// Tokens and cost of the reply (`UsageTotals`).
    #[schema(value_type = Option<Object>)]
    pub usage: Option<Value>,
    /// The sources the reply cites (`Citation`s).
    #[schema(value_type = Vec<Object>)]
    pub citations: Value,
    #[schema(value_type = Vec<Object>)]
    pub tool_calls: Value,
    pub error: Option<String>,
    pub last_seq: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.role, m.content, m.status, m.job_id, \
    m.agent_id, m.agent_version, m.usage, m.citations, m.tool_calls, m.error, m.last_seq, m.created_at, m.completed_at";

/// The reply a chat job writes, if the caller had that conversation.
pub async fn by_job(
    state: &AppState,
    who: &Principal,
    job_id: i64,
) -> Result<ChatMessage, AppError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {MESSAGE_COLUMNS} from smartflow_ai.messages m \
         join smartflow_ai.conversations c on c.id = m.conversation_id \
         where m.job_id = $1 and c.workspace_id = $2 and c.user_id = $3"
    )))
    .bind(job_id)
    .bind(who.workspace_id)
    .bind(who.user_id)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| AppError::not_found("Chat job"))
}

async fn find(state: &AppState, who: &Principal, id: Uuid) -> Result<Conversation, AppError> {
    sqlx::query_as(
        "select c.id, c.agent_id, c.title, (select count(*) from smartflow_ai.messages m where m.conversation_id = c.id) as message_count, \
         c.created_at, c.updated_at from smartflow_ai.conversations c where c.id = $1 and c.workspace_id = $2 and c.user_id = $3",
    )
    .bind(id)
    .bind(who.workspace_id)
    .bind(who.user_id)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| AppError::not_found("Conversation"))
}

/// Your conversations in this workspace, most recently active first.
#[utoipa::path(tag = "ai", params(ListQuery), responses((status = 200, body = Vec<Conversation>)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/conversations")]
pub async fn list_conversations(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let list: Vec<Conversation> = sqlx::query_as(
        "select c.id, c.agent_id, c.title, (select count(*) from smartflow_ai.messages m where m.conversation_id = c.id) as message_count, \
         c.created_at, c.updated_at from smartflow_ai.conversations c where c.workspace_id = $1 and c.user_id = $2 \
         and ($3::timestamptz is null or c.updated_at < $3) order by c.updated_at desc limit $4",
    )
    .bind(who.workspace_id)
    .bind(who.user_id)
    .bind(q.before)
    .bind(page_limit(q.limit)?)
    .fetch_all(&state.db)
    .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// One of your conversations.
#[utoipa::path(tag = "ai", params(("id" = Uuid, Path)), responses((status = 200, body = Conversation), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/conversations/{id}")]
pub async fn get_conversation(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(find(&state, &who, *id).await?))
}

/// The messages of one of your conversations, oldest first.
#[utoipa::path(tag = "ai", params(("id" = Uuid, Path)), responses((status = 200, body = Vec<ChatMessage>), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/conversations/{id}/messages")]
pub async fn list_conversation_messages(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let conversation = find(&state, &who, *id).await?;
    let messages: Vec<ChatMessage> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {MESSAGE_COLUMNS} from smartflow_ai.messages m where m.conversation_id = $1 \
         and m.workspace_id = $2 order by m.created_at, m.role desc limit 1000"
    )))
    .bind(conversation.id)
    .bind(who.workspace_id)
    .fetch_all(&state.db)
    .await?;
    Ok(HttpResponse::Ok().json(messages))
}

/// Deletes one of your conversations and its messages.
#[utoipa::path(tag = "ai", params(("id" = Uuid, Path)), responses((status = 204), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[delete("/api/conversations/{id}")]
pub async fn delete_conversation(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let conversation = find(&state, &who, *id).await?;
    let mut tx = state.db.begin().await?;
    sqlx::query("delete from smartflow_ai.conversations where id = $1 and workspace_id = $2 and user_id = $3")
        .bind(conversation.id)
        .bind(who.workspace_id)
        .bind(who.user_id)
        .execute(&mut *tx)
        .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new(
            "ai.conversation.deleted",
            "conversation",
            conversation.id,
            json!({ "title": conversation.title }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
