//! Who opens a WebSocket (`/ws/chat`, `/ws/events`). Browsers cannot set headers on a
//! WebSocket handshake, so besides `Authorization` a socket may authenticate with the session
//! cookie (only from this site's pages: browsers send cookies with cross-site handshakes too),
//! an `access_token` query parameter, or a first `{"type": "auth", "token": …}` message.

use actix_web::HttpRequest;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{Principal, SESSION_COOKIE, authenticate};
use crate::{error::AppError, state::AppState};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SocketQuery {
    /// An access token or API key, for clients that cannot send headers.
    pub access_token: Option<String>,
}

/// The caller of a handshake, or `None` when it sent no credentials and must authenticate
/// with its first message. Credentials that were sent and are not valid are refused here.
pub async fn handshake(
    req: &HttpRequest,
    state: &AppState,
    access_token: Option<&str>,
) -> Result<Option<Principal>, AppError> {
    Ok(match access_token {
        Some(token) => Some(from_token(state, token).await?),
        None if req.headers().contains_key("authorization") => Some(authenticate(req).await?),
        None if req.cookie(SESSION_COOKIE).is_some() => {
            check_origin(req, state)?;
            Some(authenticate(req).await?)
        }
        None => None,
    })
}

/// A bearer access token or API key given in the query string or an `auth` message.
pub async fn from_token(state: &AppState, token: &str) -> Result<Principal, AppError> {
    super::from_bearer(state, token).await
}

/// Cookie-authenticated sockets must come from our own pages: the same host, `app.base_url`,
/// or an origin listed in `ai.websocket.allowed_origins` (which applies to every socket).
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
