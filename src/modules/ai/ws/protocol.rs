//! Messages of the `/ws/chat` protocol (JSON text frames). Job events are sent as
//! [`Envelope`](crate::modules::ai::runtime::events::Envelope)s, with `job_id` and `seq`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::modules::ai::chat::ChatAccepted;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Authenticates a socket opened without credentials.
    Auth {
        token: String,
    },
    /// Sends a message to an agent (as `POST /api/chat`); the job is followed at once.
    Chat {
        agent_id: Uuid,
        conversation_id: Option<Uuid>,
        message: String,
    },
    /// Follows a job's events after `after` (the last sequence number seen; 0 for all).
    Subscribe {
        job_id: i64,
        #[serde(default)]
        after: i32,
    },
    Unsubscribe {
        job_id: i64,
    },
    Ping,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Authenticated; other messages are accepted from now on.
    Ready {
        user_id: Uuid,
        workspace_id: Uuid,
    },
    Accepted(ChatAccepted),
    Subscribed {
        job_id: i64,
        after: i32,
    },
    Unsubscribed {
        job_id: i64,
    },
    Pong,
    /// A problem with the socket or a message (not a job's); `code` is machine-readable.
    Error {
        code: String,
        message: String,
    },
}

impl ServerMessage {
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        ServerMessage::Error { code: code.to_string(), message: message.into() }
    }

    pub fn json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"type":"error","code":"internal","message":""}"#.into())
    }
}
