//! `POST /api/chat` (the seed's) and the job status a client polls.

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{ChatAccepted, ChatInput, conversations::ChatMessage, stream, submit};
use crate::{
    error::AppError,
    modules::ai::runtime::events::Envelope,
    platform::auth::{Authorized, Read, Write},
    state::AppState,
};

/// Sends a message to an agent: stores it, enqueues the answer and answers 202 with the job id
/// and conversation id. Follow the answer on `/ws/chat` or poll `GET /api/chat/jobs/{id}`.
#[utoipa::path(
    tag = "ai",
    request_body = ChatInput,
    responses(
        (status = 202, body = ChatAccepted),
        (status = 402, description = "Plan limit or monthly AI budget reached"),
        (status = 404, description = "No such agent or conversation"),
        (status = 422),
        (status = 503, description = "No AI provider is configured; the detail names the setting"),
    ),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[post("/api/chat")]
pub async fn create_chat(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    body: web::Json<ChatInput>,
) -> Result<HttpResponse, AppError> {
    let accepted = submit(&state, &who, &body).await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("location", accepted.status_url.clone()))
        .json(accepted))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// Also return the stored events after this sequence number (0 for all).
    pub after: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatJobStatus {
    pub job_id: i64,
    pub conversation_id: Uuid,
    /// `queued`, `running`, `completed` or `failed`.
    pub status: String,
    /// The reply (complete once `status` is `completed`).
    pub message: ChatMessage,
    /// Sequence number of the last event so far.
    pub last_seq: i32,
    /// Events after `after`, when asked (kept for `ai.websocket.event_retention_secs`).
    pub events: Vec<Envelope>,
}

/// A chat job's progress and, once done, its reply.
#[utoipa::path(tag = "ai", params(("id" = i64, Path), JobQuery), responses((status = 200, body = ChatJobStatus), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/chat/jobs/{id}")]
pub async fn get_chat_job(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<i64>,
    q: web::Query<JobQuery>,
) -> Result<HttpResponse, AppError> {
    let message = super::conversations::by_job(&state, &who, *id).await?;
    // A job that died without ending its reply is ended now, so pollers stop waiting.
    let message = if matches!(message.status.as_str(), "queued" | "running")
        && super::job::end_if_abandoned(&state, *id).await?
    {
        super::conversations::by_job(&state, &who, *id).await?
    } else {
        message
    };
    let events = match q.after {
        Some(after) => stream::stored(&state.db, *id, after.max(0), 1_000).await?,
        None => Vec::new(),
    };
    let last_seq: Option<i32> =
        sqlx::query_scalar("select max(seq) from smartflow_ai.chat_events where job_id = $1")
            .bind(*id)
            .fetch_one(&state.db)
            .await?;
    Ok(HttpResponse::Ok().json(ChatJobStatus {
        job_id: *id,
        conversation_id: message.conversation_id,
        status: message.status.clone(),
        last_seq: last_seq.or(message.last_seq).unwrap_or(0),
        message,
        events,
    }))
}
