//! The AI module's own tables of the `[ai]` section: chat, agent tools, the WebSocket and
//! knowledge bases.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatSettings {
    /// Longest user message accepted by `POST /api/chat` and `/ws/chat`.
    pub max_message_chars: usize,
    /// A chat job running longer fails (and is retried).
    pub job_timeout_secs: u64,
    /// Chunks retrieved from an agent's knowledge bases for each message.
    pub retrieval_top_k: usize,
    /// Vector matches less similar (cosine, 0–1) are not given to the model, so a question
    /// the knowledge bases cannot answer brings no sources. Depends on the embedding model:
    /// unrelated texts score about 0.1 with OpenAI's, higher with some others.
    pub retrieval_min_similarity: f64,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            max_message_chars: 16_000,
            job_timeout_secs: 300,
            retrieval_top_k: 4,
            retrieval_min_similarity: 0.3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolSettings {
    /// The most model calls one answer may take, whatever an agent asks for.
    pub max_iterations: u32,
    /// `http_fetch`: whole request, and the most bytes read from an answer.
    pub http_timeout_ms: u64,
    pub http_max_bytes: usize,
    /// `http_fetch` may reach private and loopback addresses (only to test against local
    /// services; the allow-list still applies).
    pub allow_private_targets: bool,
}

impl Default for ToolSettings {
    fn default() -> Self {
        ToolSettings {
            max_iterations: 8,
            http_timeout_ms: 10_000,
            http_max_bytes: 262_144,
            allow_private_targets: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSocketSettings {
    /// The server pings this often.
    pub heartbeat_interval_secs: u64,
    /// A socket that sends nothing (not even a pong) for this long is closed.
    pub client_timeout_secs: u64,
    /// Time to authenticate with a first `auth` message when no cookie, header or
    /// `access_token` query parameter did.
    pub auth_timeout_secs: u64,
    /// Events queued for one socket; a client that falls further behind is resynchronised
    /// from the stored events.
    pub send_buffer: usize,
    /// A client that cannot take one message for this long is disconnected.
    pub send_timeout_ms: u64,
    /// Jobs one socket may follow at once.
    pub max_subscriptions: usize,
    /// How long a job's events are kept for clients that resume.
    pub event_retention_secs: u64,
    /// A follower that hears nothing live for this long reads the job's stored events, so a
    /// lost publish (Redis reconnect, publish error) delays events instead of losing them.
    pub resync_interval_ms: u64,
    /// Origins allowed for cookie-authenticated sockets besides `app.base_url`
    /// (e.g. `https://app.example.com`).
    pub allowed_origins: Vec<String>,
}

impl Default for WebSocketSettings {
    fn default() -> Self {
        WebSocketSettings {
            heartbeat_interval_secs: 15,
            client_timeout_secs: 45,
            auth_timeout_secs: 10,
            send_buffer: 256,
            send_timeout_ms: 5_000,
            max_subscriptions: 8,
            event_retention_secs: 900,
            resync_interval_ms: 3_000,
            allowed_origins: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnowledgeSettings {
    /// Target chunk length in characters; chunks end at a paragraph, sentence or word
    /// boundary when one is near.
    pub chunk_chars: usize,
    /// Characters repeated from the end of one chunk at the start of the next.
    pub chunk_overlap_chars: usize,
    /// Largest text (after extraction) one document may have.
    pub max_document_chars: usize,
    /// Texts per embedding request.
    pub embedding_batch: usize,
    /// Candidates taken from each of full-text and vector search before fusion.
    pub candidates: usize,
    /// Reciprocal-rank-fusion constant: higher flattens the difference between ranks.
    pub rrf_k: u32,
    /// Default floor (cosine, 0–1) on vector matches for `POST /api/knowledge/{id}/search`;
    /// requests may set their own `min_similarity`.
    pub min_similarity: f64,
    /// PostgreSQL text search configuration of new knowledge bases (`english`, `simple`…).
    pub default_language: String,
    /// Memory for vectors ranked in-process (without pgvector), per process; 0 reads them
    /// from the database on every search.
    pub vector_cache_mb: usize,
}

impl Default for KnowledgeSettings {
    fn default() -> Self {
        KnowledgeSettings {
            chunk_chars: 1_200,
            chunk_overlap_chars: 200,
            max_document_chars: 2_000_000,
            embedding_batch: 64,
            candidates: 50,
            rrf_k: 60,
            min_similarity: 0.0,
            default_language: "english".into(),
            vector_cache_mb: 256,
        }
    }
}

fn at_least(key: &str, value: u64, min: u64) -> Result<(), ConfigError> {
    if value < min {
        return Err(ConfigError::invalid(key, format!("expected at least {min}")));
    }
    Ok(())
}

fn fraction(key: &str, value: f64) -> Result<(), ConfigError> {
    if !(0.0..=1.0).contains(&value) {
        return Err(ConfigError::invalid(key, "expected a number from 0 to 1"));
    }
    Ok(())
}

impl ChatSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least("ai.chat.max_message_chars", self.max_message_chars as u64, 1)?;
        at_least("ai.chat.job_timeout_secs", self.job_timeout_secs, 1)?;
        at_least("ai.chat.retrieval_top_k", self.retrieval_top_k as u64, 1)?;
        fraction("ai.chat.retrieval_min_similarity", self.retrieval_min_similarity)
    }
}

impl ToolSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least("ai.tools.max_iterations", u64::from(self.max_iterations), 1)?;
        at_least("ai.tools.http_timeout_ms", self.http_timeout_ms, 1)?;
        at_least("ai.tools.http_max_bytes", self.http_max_bytes as u64, 1)
    }
}

impl WebSocketSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least("ai.websocket.heartbeat_interval_secs", self.heartbeat_interval_secs, 1)?;
        if self.client_timeout_secs <= self.heartbeat_interval_secs {
            return Err(ConfigError::invalid(
                "ai.websocket.client_timeout_secs",
                "must be longer than ai.websocket.heartbeat_interval_secs",
            ));
        }
        at_least("ai.websocket.auth_timeout_secs", self.auth_timeout_secs, 1)?;
        at_least("ai.websocket.send_buffer", self.send_buffer as u64, 8)?;
        at_least("ai.websocket.send_timeout_ms", self.send_timeout_ms, 1)?;
        at_least("ai.websocket.max_subscriptions", self.max_subscriptions as u64, 1)?;
        at_least("ai.websocket.event_retention_secs", self.event_retention_secs, 1)?;
        at_least("ai.websocket.resync_interval_ms", self.resync_interval_ms, 10)?;
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            let ok = url::Url::parse(origin)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(ConfigError::invalid(
                    format!("ai.websocket.allowed_origins[{i}]"),
                    format!("`{origin}`: expected an origin such as https://app.example.com"),
                ));
            }
        }
        Ok(())
    }
}

impl KnowledgeSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least("ai.knowledge.chunk_chars", self.chunk_chars as u64, 100)?;
        if self.chunk_overlap_chars * 2 > self.chunk_chars {
            return Err(ConfigError::invalid(
                "ai.knowledge.chunk_overlap_chars",
                "must be at most half of ai.knowledge.chunk_chars",
            ));
        }
        at_least("ai.knowledge.max_document_chars", self.max_document_chars as u64, 1)?;
        at_least("ai.knowledge.embedding_batch", self.embedding_batch as u64, 1)?;
        at_least("ai.knowledge.candidates", self.candidates as u64, 1)?;
        at_least("ai.knowledge.rrf_k", u64::from(self.rrf_k), 1)?;
        fraction("ai.knowledge.min_similarity", self.min_similarity)?;
        let lang = &self.default_language;
        if lang.is_empty() || !lang.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return Err(ConfigError::invalid(
                "ai.knowledge.default_language",
                "expected a PostgreSQL text search configuration name such as `english` or `simple`",
            ));
        }
        Ok(())
    }
}
