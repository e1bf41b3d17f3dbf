//! `GET /ws/chat`: chat events over a WebSocket. Clients authenticate with the session cookie
//! (same-origin only), an `Authorization` header, an `access_token` query parameter, or a first
//! `{"type": "auth", "token": …}` message (browsers cannot set headers on WebSockets).

mod follow;
mod protocol;
mod session;

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{error::AppError, platform::auth::socket, state::AppState};

pub use protocol::{ClientMessage, ServerMessage};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WsQuery {
    /// An access token or API key, for clients that cannot send headers.
    pub access_token: Option<String>,
}

/// Opens the chat WebSocket. Client messages: `auth`, `chat`, `subscribe` (with `job_id` and
/// `after`, the last sequence number seen), `unsubscribe`, `ping`. Server messages: `ready`,
/// `accepted`, `subscribed`, `token`, `tool_call`, `citation`, `done`, `error`, `reset`, `pong`.
#[utoipa::path(
    tag = "ai",
    params(WsQuery),
    responses(
        (status = 101, description = "Switching Protocols: the WebSocket is open"),
        (status = 401, description = "Credentials were sent and are not valid"),
        (status = 403, description = "Cookie authentication from another origin"),
    ),
    security((), ("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[get("/ws/chat")]
pub async fn chat_socket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    q: web::Query<WsQuery>,
) -> Result<HttpResponse, AppError> {
    let principal = socket::handshake(&req, &state, q.access_token.as_deref()).await?;
    let (response, ws, messages) = actix_ws::handle(&req, body)
        .map_err(|e| AppError::BadRequest(format!("Not a WebSocket handshake: {e}")))?;
    let messages = messages
        .max_frame_size(256 * 1024)
        .aggregate_continuations()
        .max_continuation_size(1024 * 1024);
    actix_web::rt::spawn(session::run(state.get_ref().clone(), ws, messages, principal));
    Ok(response)
}
