//! `GET /ws/chat`: chat events over a WebSocket. Clients authenticate with the session cookie
//! (same-origin only), an `Authorization` header, an `access_token` query parameter, or a first
//! `{"type": "auth", "token": …}` message (browsers cannot set headers on WebSockets).

mod follow;
mod protocol;
mod session;

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    error::AppError,
    platform::auth::{Principal, authenticate},
    state::AppState,
};

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
    let principal = match q.access_token.as_deref() {
        Some(token) => Some(from_token(&state, token).await?),
        None if req.headers().contains_key("authorization") => Some(authenticate(&req).await?),
        None if req.cookie(crate::platform::auth::SESSION_COOKIE).is_some() => {
            check_origin(&req, &state)?;
            Some(authenticate(&req).await?)
        }
        None => None,
    };
    let (response, ws, messages) = actix_ws::handle(&req, body)
        .map_err(|e| AppError::BadRequest(format!("Not a WebSocket handshake: {e}")))?;
    let messages = messages
        .max_frame_size(256 * 1024)
        .aggregate_continuations()
        .max_continuation_size(1024 * 1024);
    actix_web::rt::spawn(session::run(state.get_ref().clone(), ws, messages, principal));
    Ok(response)
}

/// A bearer access token or API key given in the query string or an `auth` message.
pub async fn from_token(state: &AppState, token: &str) -> Result<Principal, AppError> {
    crate::platform::auth::from_bearer(state, token).await
}

/// Browsers send cookies with cross-site WebSocket handshakes; only our own pages may use them.
fn check_origin(req: &HttpRequest, state: &AppState) -> Result<(), AppError> {
    let Some(origin) = req.headers().get("origin").and_then(|v| v.to_str().ok()) else {
        // Not a browser: cookies cannot be ridden without one.
        return Ok(());
    };
    let same_host = req.headers().get("host").and_then(|v| v.to_str().ok()).is_some_and(|host| {
        origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host)
    });
    let base = url::Url::parse(&state.settings.app.base_url)
        .ok()
        .map(|u| u.origin().ascii_serialization());
    let listed = state
        .settings
        .ai
        .websocket
        .allowed_origins
        .iter()
        .any(|o| o.trim_end_matches('/') == origin);
    if same_host || base.as_deref() == Some(origin) || listed {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "Cookie-authenticated sockets must come from this site's pages, not `{origin}`; \
             other clients should send an access token (add trusted origins to ai.websocket.allowed_origins)."
        )))
    }
}
