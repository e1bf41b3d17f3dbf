//! What a running agent reports while it answers, as WebSocket clients receive it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::modules::ai::usage::ledger::UsageTotals;

/// A source an answer cites as `[index]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Citation {
    pub index: usize,
    pub chunk_id: Uuid,
    pub document_id: Uuid,
    pub document_title: String,
    pub knowledge_base_id: Uuid,
    pub start_offset: i32,
    pub end_offset: i32,
    /// The start of the chunk's text.
    pub snippet: String,
}

/// A tool the agent called while answering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolCallRecord {
    pub id: String,
    pub name: String,
    #[schema(value_type = Object)]
    pub arguments: Value,
    pub is_error: bool,
    /// The start of what the tool answered.
    pub result_preview: String,
}

/// One event of a chat job. Each carries the job's next sequence number (see [`Envelope`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatEvent {
    /// A piece of the answer's text.
    Token {
        text: String,
    },
    ToolCall(ToolCallRecord),
    Citation(Citation),
    /// The answer is stored; `content` is all of it, so a client that missed tokens can show it.
    Done {
        message_id: Uuid,
        conversation_id: Uuid,
        content: String,
        usage: UsageTotals,
    },
    /// The job failed; `retrying` says whether it will start over (after a `reset`).
    Error {
        message: String,
        retrying: bool,
    },
    /// A retry starts the answer again: discard the text received so far.
    Reset {
        reason: String,
    },
}

impl ChatEvent {
    /// Nothing follows a `done` or a final `error`.
    pub fn is_terminal(&self) -> bool {
        matches!(self, ChatEvent::Done { .. } | ChatEvent::Error { retrying: false, .. })
    }
}

/// An event as sent: the job it belongs to and its sequence number (1, 2, 3… per job).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Envelope {
    pub job_id: i64,
    pub seq: i32,
    #[serde(flatten)]
    pub event: ChatEvent,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn wire_format() {
        let e = Envelope { job_id: 7, seq: 3, event: ChatEvent::Token { text: "Hi".into() } };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"job_id": 7, "seq": 3, "type": "token", "text": "Hi"})
        );
        let back: Envelope = serde_json::from_value(serde_json::to_value(&e).unwrap()).unwrap();
        assert_eq!(back, e);
        assert!(!ChatEvent::Error { message: "x".into(), retrying: true }.is_terminal());
    }
}
