//! Who opens a WebSocket (`/ws/chat`, `/ws/events`). Browsers cannot set headers on a
//! WebSocket handshake, so besides `Authorization` a socket may authenticate with the session
//! cookie (only from this site's pages: browsers send cookies with cross-site handshakes too),
//! an `access_token` query parameter, or a first `{"type": "auth", "token": …}` message.

use actix_web::HttpRequest;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{Principal, Role, SESSION_COOKIE, authenticate};
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
        Some(token) => Some(super::from_bearer(state, token).await?),
        None if req.headers().contains_key("authorization") => Some(authenticate(req).await?),
        None if req.cookie(SESSION_COOKIE).is_some() => {
            check_origin(req, state)?;
            Some(authenticate(req).await?)
        }
        None => None,
    })
}

/// Whether the caller a socket authenticated still holds what it had: the session is live (not
/// signed out, revoked or expired) in the same workspace and role, or the API key is neither
/// revoked nor expired and its creator still holds the rights it grants. Long-lived sockets ask
/// on their heartbeat; an error reading the answer keeps the socket (a database blip must not
/// drop every client).
pub async fn still_valid(state: &AppState, who: &Principal) -> bool {
    let answer: Result<bool, AppError> = async {
        if let Some(session) = who.session_id {
            return Ok(super::sessions::load(state, session)
                .await?
                .is_some_and(|s| s.workspace_id == who.workspace_id && s.role == who.role));
        }
        let Some(key) = who.api_key_id else { return Ok(false) };
        let roles: Option<(Role, Option<Role>)> = sqlx::query_as(
            "select k.role, case when u.disabled_at is null then m.role end \
             from smartflow_shared.api_keys k \
             left join smartflow_main.users u on u.id = k.created_by \
             left join smartflow_shared.memberships m \
               on m.user_id = k.created_by and m.workspace_id = k.workspace_id \
             where k.id = $1 and k.workspace_id = $2 and k.revoked_at is null \
               and (k.expires_at is null or k.expires_at > now())",
        )
        .bind(key)
        .bind(who.workspace_id)
        .fetch_optional(&state.db)
        .await?;
        Ok(roles.is_some_and(|(role, creator)| {
            role == who.role && creator.is_some_and(|c| c.covers(role))
        }))
    }
    .await;
    answer.unwrap_or(true)
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
