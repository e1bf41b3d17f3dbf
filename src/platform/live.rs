//! `GET /ws/events`: the caller's workspace events, live, over a WebSocket. The dispatcher
//! publishes each event on the cache channel `events:{workspace}` (Redis pub/sub across
//! instances); every socket subscribes to its workspace's channel and forwards what arrives
//! through a bounded queue. A client that falls behind or does not read is disconnected: it
//! never slows the dispatcher or other clients. Authentication is that of every socket
//! ([`socket`]).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use actix_web::{HttpRequest, HttpResponse, get, web};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::{
    sync::{Notify, mpsc},
    task::JoinHandle,
};
use uuid::Uuid;

use crate::{
    config::EventSettings,
    error::AppError,
    platform::{
        auth::{
            Principal,
            socket::{self, SocketQuery},
        },
        cache::RecvError,
        events::{StoredEvent, workspace_channel},
    },
    state::AppState,
};

/// Opens the live event feed of the caller's workspace. Each event is a JSON text frame
/// `{type, id, subject: {type, id}, created_at, data}` (`type` is dotted, e.g.
/// `lead.created`). Control frames: `ready` (subscribed; events follow), `pong` (answer to
/// `{"type": "ping"}`), `error`. A socket opened without credentials sends
/// `{"type": "auth", "token": …}` first.
#[utoipa::path(
    tag = "events",
    params(SocketQuery),
    responses(
        (status = 101, description = "Switching Protocols: the WebSocket is open"),
        (status = 401, description = "Credentials were sent and are not valid"),
        (status = 403, description = "Cookie authentication from another origin"),
    ),
    security((), ("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[get("/ws/events")]
pub async fn events_socket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    q: web::Query<SocketQuery>,
) -> Result<HttpResponse, AppError> {
    let principal = socket::handshake(&req, &state, q.access_token.as_deref()).await?;
    let (response, ws, messages) = actix_ws::handle(&req, body)
        .map_err(|e| AppError::BadRequest(format!("Not a WebSocket handshake: {e}")))?;
    // Clients only send `auth` and `ping`: small frames.
    let messages = messages
        .max_frame_size(16 * 1024)
        .aggregate_continuations()
        .max_continuation_size(16 * 1024);
    actix_web::rt::spawn(run(state.get_ref().clone(), ws, messages, principal));
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Auth { token: String },
    Ping,
}

/// An event as the feed sends it (the webhook body without delivery fields).
#[derive(Debug, Serialize)]
struct LiveEvent<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: i64,
    workspace_id: Option<Uuid>,
    subject: Value,
    created_at: chrono::DateTime<chrono::Utc>,
    data: &'a Value,
}

fn frame(event: &StoredEvent) -> Option<String> {
    serde_json::to_string(&LiveEvent {
        kind: &event.kind,
        id: event.id,
        workspace_id: event.workspace_id,
        subject: json!({ "type": event.subject_type, "id": event.subject_id }),
        created_at: event.created_at,
        data: &event.payload,
    })
    .ok()
}

fn control(kind: &str, fields: Value) -> String {
    let mut v = json!({ "type": kind });
    if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), fields) {
        obj.extend(extra);
    }
    v.to_string()
}

fn close(code: CloseCode, why: &str) -> Option<CloseReason> {
    Some(CloseReason { code, description: Some(why.to_string()) })
}

/// The forwarder of one socket: its queue of frames and the signal that it overflowed.
struct Feed {
    frames: mpsc::Receiver<String>,
    overflow: Arc<Notify>,
    forwarder: Forwarder,
}

/// Stops the forwarding task with the socket.
struct Forwarder(JoinHandle<()>);

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Subscribes before returning, so every event published after `ready` reaches the client.
async fn subscribe(state: &AppState, who: &Principal, cfg: &EventSettings) -> Result<Feed, String> {
    let mut sub = state
        .cache
        .subscribe(&workspace_channel(who.workspace_id))
        .await
        .map_err(|e| format!("live events are unavailable: {e}"))?;
    let (tx, frames) = mpsc::channel(cfg.live_queue);
    let overflow = Arc::new(Notify::new());
    let signal = overflow.clone();
    let workspace = who.workspace_id;
    let task = tokio::spawn(async move {
        loop {
            let message = match sub.recv().await {
                Ok(m) => m,
                Err(RecvError::Lagged(_)) => break signal.notify_one(),
                Err(RecvError::Closed) => break,
            };
            let Ok(event) = serde_json::from_str::<StoredEvent>(&message) else { continue };
            // The channel is the workspace's; checked again so a mistake cannot leak events.
            if event.workspace_id != Some(workspace) {
                continue;
            }
            let Some(text) = frame(&event) else { continue };
            match tx.try_send(text) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => break signal.notify_one(),
                Err(mpsc::error::TrySendError::Closed(_)) => break,
            }
        }
    });
    Ok(Feed { frames, overflow, forwarder: Forwarder(task) })
}

async fn run(
    state: AppState,
    mut ws: Session,
    mut messages: AggregatedMessageStream,
    mut who: Option<Principal>,
) {
    let cfg = state.settings.events.clone();
    let send_timeout = Duration::from_millis(cfg.live_send_timeout_ms);
    let auth_deadline =
        tokio::time::Instant::now() + Duration::from_secs(cfg.live_auth_timeout_secs);
    let mut last_seen = Instant::now();
    let mut heartbeat = tokio::time::interval(Duration::from_secs(cfg.live_heartbeat_secs));
    heartbeat.tick().await;
    let mut frames: Option<mpsc::Receiver<String>> = None;
    let mut overflow: Option<Arc<Notify>> = None;
    let mut forwarder: Option<Forwarder> = None;
    let mut pending: Option<String> = None;
    if let Some(p) = &who {
        match start(&state, p, &cfg).await {
            Ok((f, ready)) => {
                (frames, overflow, forwarder) =
                    (Some(f.frames), Some(f.overflow), Some(f.forwarder));
                pending = Some(ready);
            }
            Err(reason) => {
                let _ = ws.close(reason).await;
                return;
            }
        }
    }
    let reason = loop {
        if let Some(text) = pending.take() {
            match tokio::time::timeout(send_timeout, ws.text(text)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break None,
                Err(_) => {
                    break close(CloseCode::Again, "too slow: messages were not read in time");
                }
            }
        }
        tokio::select! {
            incoming = messages.recv() => match incoming {
                Some(Ok(AggregatedMessage::Text(text))) => {
                    last_seen = Instant::now();
                    match serde_json::from_str::<ClientMessage>(&text) {
                        Ok(ClientMessage::Ping) => pending = Some(control("pong", json!({}))),
                        Ok(ClientMessage::Auth { .. }) if who.is_some() => {
                            pending = Some(control("error", json!({
                                "code": "already_authenticated",
                                "message": "This socket is already signed in.",
                            })));
                        }
                        Ok(ClientMessage::Auth { token }) => match super::auth::from_bearer(&state, &token).await {
                            Ok(p) => match start(&state, &p, &cfg).await {
                                Ok((f, ready)) => {
                                    (frames, overflow, forwarder) =
                                        (Some(f.frames), Some(f.overflow), Some(f.forwarder));
                                    pending = Some(ready);
                                    who = Some(p);
                                }
                                Err(reason) => break reason,
                            },
                            Err(e) => {
                                let message = e.problem().detail.unwrap_or_default();
                                let text = control("error", json!({ "code": "unauthorized", "message": message }));
                                let _ = tokio::time::timeout(send_timeout, ws.text(text)).await;
                                break close(CloseCode::Policy, "authentication failed");
                            }
                        },
                        Err(e) => {
                            pending = Some(control("error", json!({
                                "code": "bad_message",
                                "message": format!("Send {{\"type\": \"auth\", \"token\": …}} or {{\"type\": \"ping\"}} ({e})."),
                            })));
                        }
                    }
                }
                Some(Ok(AggregatedMessage::Ping(bytes))) => {
                    last_seen = Instant::now();
                    if ws.pong(&bytes).await.is_err() { break None }
                }
                Some(Ok(AggregatedMessage::Pong(_))) => last_seen = Instant::now(),
                Some(Ok(AggregatedMessage::Binary(_))) => break close(CloseCode::Unsupported, "send JSON text frames"),
                Some(Ok(AggregatedMessage::Close(_))) | None => break None,
                Some(Err(_)) => break close(CloseCode::Protocol, "protocol error"),
            },
            Some(text) = async { match frames.as_mut() { Some(f) => f.recv().await, None => None } } => {
                pending = Some(text);
            }
            _ = async { match overflow.as_ref() { Some(o) => o.notified().await, None => std::future::pending().await } } => {
                break close(CloseCode::Again, "too slow: the client fell behind its events; reconnect");
            }
            _ = tokio::time::sleep_until(auth_deadline), if who.is_none() => {
                break close(CloseCode::Policy, "authenticate within events.live_auth_timeout_secs");
            }
            _ = heartbeat.tick() => {
                // Signing out, a revoked key or a removal from the workspace ends the feed.
                if let Some(p) = &who
                    && !socket::still_valid(&state, p).await
                {
                    break close(CloseCode::Policy, "signed out, or no longer allowed to see this workspace");
                }
                if last_seen.elapsed() > Duration::from_secs(cfg.live_client_timeout_secs) {
                    break close(CloseCode::Away, "no pong in time");
                }
                if ws.ping(b"").await.is_err() { break None }
            }
        }
    };
    drop(forwarder);
    if let Some(reason) = reason {
        let _ = ws.close(Some(reason)).await;
    }
}

/// Subscribes `who` and returns the feed with its `ready` frame.
async fn start(
    state: &AppState,
    who: &Principal,
    cfg: &EventSettings,
) -> Result<(Feed, String), Option<CloseReason>> {
    match subscribe(state, who, cfg).await {
        Ok(feed) => {
            let ready = control(
                "ready",
                json!({ "user_id": who.user_id, "workspace_id": who.workspace_id }),
            );
            Ok((feed, ready))
        }
        Err(why) => {
            tracing::warn!(error = %why, "could not open a live event feed");
            Err(close(CloseCode::Error, "live events are unavailable; try again"))
        }
    }
}
