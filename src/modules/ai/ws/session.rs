//! One socket's life: authentication, client messages, heartbeats, and events from the jobs
//! it follows through a bounded queue. A client that cannot take a message within
//! `ai.websocket.send_timeout_ms` is disconnected; one that falls behind the queue is
//! resynchronised from the stored events by its followers.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use tokio::{sync::mpsc, task::JoinHandle};

use super::{
    follow::follow,
    protocol::{ClientMessage, ServerMessage},
};
use crate::{
    error::AppError,
    modules::ai::chat::{self, ChatInput, conversations},
    platform::auth::{Principal, from_bearer},
    state::AppState,
};

struct Socket {
    state: AppState,
    ws: Session,
    who: Option<Principal>,
    out: mpsc::Sender<String>,
    follows: HashMap<i64, JoinHandle<()>>,
    send_timeout: Duration,
}

enum Next {
    Continue,
    Close(CloseReason),
    /// The connection is already gone.
    Stop,
}

fn close(code: CloseCode, why: &str) -> Next {
    Next::Close(CloseReason { code, description: Some(why.to_string()) })
}

pub async fn run(
    state: AppState,
    ws: Session,
    mut messages: AggregatedMessageStream,
    who: Option<Principal>,
) {
    let cfg = state.settings.ai.websocket.clone();
    let (out, mut queue) = mpsc::channel::<String>(cfg.send_buffer);
    let mut socket = Socket {
        state,
        ws,
        who,
        out,
        follows: HashMap::new(),
        send_timeout: Duration::from_millis(cfg.send_timeout_ms),
    };
    let opened = Instant::now();
    let mut last_seen = Instant::now();
    let mut heartbeat = tokio::time::interval(Duration::from_secs(cfg.heartbeat_interval_secs));
    heartbeat.tick().await;
    let mut next = match socket.who.clone() {
        Some(p) => socket.reply(&ready(&p)).await,
        None => Next::Continue,
    };
    while let Next::Continue = next {
        next = tokio::select! {
            incoming = messages.recv() => match incoming {
                Some(Ok(AggregatedMessage::Text(text))) => {
                    last_seen = Instant::now();
                    socket.on_text(&text).await
                }
                Some(Ok(AggregatedMessage::Ping(bytes))) => {
                    last_seen = Instant::now();
                    match socket.ws.pong(&bytes).await { Ok(()) => Next::Continue, Err(_) => Next::Stop }
                }
                Some(Ok(AggregatedMessage::Pong(_))) => {
                    last_seen = Instant::now();
                    Next::Continue
                }
                Some(Ok(AggregatedMessage::Binary(_))) => close(CloseCode::Unsupported, "send JSON text frames"),
                Some(Ok(AggregatedMessage::Close(_))) | None => Next::Stop,
                Some(Err(_)) => close(CloseCode::Protocol, "protocol error"),
            },
            Some(text) = queue.recv() => socket.send(text).await,
            _ = heartbeat.tick() => {
                if socket.who.is_none() && opened.elapsed() > Duration::from_secs(cfg.auth_timeout_secs) {
                    close(CloseCode::Policy, "authenticate within ai.websocket.auth_timeout_secs")
                } else if last_seen.elapsed() > Duration::from_secs(cfg.client_timeout_secs) {
                    close(CloseCode::Away, "no pong in time")
                } else {
                    match socket.ws.ping(b"").await { Ok(()) => Next::Continue, Err(_) => Next::Stop }
                }
            }
        };
    }
    for (_, task) in socket.follows.drain() {
        task.abort();
    }
    if let Next::Close(reason) = next {
        let _ = socket.ws.close(Some(reason)).await;
    }
}

fn ready(p: &Principal) -> ServerMessage {
    ServerMessage::Ready { user_id: p.user_id, workspace_id: p.workspace_id }
}

impl Socket {
    /// Sends one frame, giving up on clients that do not read.
    async fn send(&mut self, text: String) -> Next {
        match tokio::time::timeout(self.send_timeout, self.ws.text(text)).await {
            Ok(Ok(())) => Next::Continue,
            Ok(Err(_)) => Next::Stop,
            Err(_) => {
                metrics::counter!("ai_websocket_closed_total", "reason" => "too_slow").increment(1);
                close(CloseCode::Again, "too slow: the client did not read its messages in time")
            }
        }
    }

    async fn reply(&mut self, msg: &ServerMessage) -> Next {
        self.send(msg.json()).await
    }

    async fn on_text(&mut self, text: &str) -> Next {
        let msg: ClientMessage = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                return self.reply(&ServerMessage::error("bad_message", format!("{e}"))).await;
            }
        };
        let who = match (&self.who, msg) {
            (_, ClientMessage::Ping) => return self.reply(&ServerMessage::Pong).await,
            (None, ClientMessage::Auth { token }) => match from_bearer(&self.state, &token).await {
                Ok(p) => {
                    let hello = ready(&p);
                    self.who = Some(p);
                    return self.reply(&hello).await;
                }
                Err(e) => {
                    let _ = self.reply(&problem("unauthorized", &e)).await;
                    return close(CloseCode::Policy, "authentication failed");
                }
            },
            (None, _) => {
                return self
                    .reply(&ServerMessage::error(
                        "unauthenticated",
                        "Send {\"type\": \"auth\", \"token\": …} first.",
                    ))
                    .await;
            }
            (Some(_), ClientMessage::Auth { .. }) => {
                return self
                    .reply(&ServerMessage::error(
                        "already_authenticated",
                        "This socket is already signed in.",
                    ))
                    .await;
            }
            (Some(who), msg) => (who.clone(), msg),
        };
        let (who, msg) = who;
        match msg {
            ClientMessage::Chat { agent_id, conversation_id, message } => {
                let input = ChatInput { agent_id, conversation_id, message };
                match chat::submit(&self.state, &who, &input).await {
                    Ok(accepted) => {
                        let job_id = accepted.job_id;
                        if let stop @ (Next::Close(_) | Next::Stop) =
                            self.reply(&ServerMessage::Accepted(accepted)).await
                        {
                            return stop;
                        }
                        self.start(job_id, 0)
                    }
                    Err(e) => self.reply(&problem("chat_refused", &e)).await,
                }
            }
            ClientMessage::Subscribe { job_id, after } => {
                self.follows.retain(|_, t| !t.is_finished());
                if self.follows.len() >= self.state.settings.ai.websocket.max_subscriptions
                    && !self.follows.contains_key(&job_id)
                {
                    return self
                        .reply(&ServerMessage::error(
                            "too_many_subscriptions",
                            "Unsubscribe from a job first (ai.websocket.max_subscriptions).",
                        ))
                        .await;
                }
                if let Err(e) = conversations::by_job(&self.state, &who, job_id).await {
                    return self.reply(&problem("not_found", &e)).await;
                }
                let after = after.max(0);
                if let stop @ (Next::Close(_) | Next::Stop) =
                    self.reply(&ServerMessage::Subscribed { job_id, after }).await
                {
                    return stop;
                }
                self.start(job_id, after)
            }
            ClientMessage::Unsubscribe { job_id } => {
                if let Some(task) = self.follows.remove(&job_id) {
                    task.abort();
                }
                self.reply(&ServerMessage::Unsubscribed { job_id }).await
            }
            ClientMessage::Ping | ClientMessage::Auth { .. } => Next::Continue,
        }
    }

    /// Follows `job_id` from `after`, replacing an earlier follower of the same job.
    fn start(&mut self, job_id: i64, after: i32) -> Next {
        let task = tokio::spawn(follow(self.state.clone(), job_id, after, self.out.clone()));
        if let Some(old) = self.follows.insert(job_id, task) {
            old.abort();
        }
        Next::Continue
    }
}

fn problem(code: &str, e: &AppError) -> ServerMessage {
    let p = e.problem();
    let detail = p.detail.unwrap_or(p.title);
    let fields: Vec<String> =
        p.errors.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
    let message =
        if fields.is_empty() { detail } else { format!("{detail} {}", fields.join("; ")) };
    ServerMessage::Error { code: format!("{code}:{}", p.status), message }
}
