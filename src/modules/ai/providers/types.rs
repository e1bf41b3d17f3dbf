//! The provider-neutral request and response shapes. They are serde types so chat jobs can store
//! a request in the queue and a reply in the database without a second model.

use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ProviderError;

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProviderKind {
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "openai_compatible")]
    OpenAiCompatible,
    #[serde(rename = "anthropic")]
    Anthropic,
    #[serde(rename = "gemini")]
    Gemini,
    /// A [`FallbackChain`](super::FallbackChain); the usage of each answer names the real provider.
    #[serde(rename = "fallback")]
    Fallback,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::OpenAiCompatible => "openai_compatible",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Fallback => "fallback",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    /// The result of a tool call, answering the assistant message that requested it.
    Tool,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: String,
    /// Calls requested by an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a `tool` message: the id of the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// For a `tool` message: the tool's name. Gemini matches results by name; when absent it is
    /// looked up from the assistant message that holds `tool_call_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// For a `tool` message: the tool failed and `content` describes the failure.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

impl Message {
    fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
            is_error: false,
        }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Message::new(Role::System, content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        Message::new(Role::User, content)
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Message::new(Role::Assistant, content)
    }

    /// An assistant turn that requested tool calls (as returned in [`ChatResponse::tool_calls`]).
    pub fn assistant_tool_calls(content: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        Message { tool_calls: calls, ..Message::new(Role::Assistant, content) }
    }

    /// The output of a tool, answering the call `call_id`.
    pub fn tool_result(
        call_id: impl Into<String>,
        tool_name: impl Into<String>,
        content: impl Into<String>,
    ) -> Self {
        Message {
            tool_call_id: Some(call_id.into()),
            tool_name: Some(tool_name.into()),
            ..Message::new(Role::Tool, content)
        }
    }

    /// A tool failure, so the model can react to it.
    pub fn tool_error(
        call_id: impl Into<String>,
        tool_name: impl Into<String>,
        content: impl Into<String>,
    ) -> Self {
        Message { is_error: true, ..Message::tool_result(call_id, tool_name, content) }
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// The model must not call tools.
    None,
    /// The model must call at least one tool.
    Required,
    /// The model must call this tool.
    Tool { name: String },
}

/// A chat completion request, in the same shape for every provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatRequest {
    /// `None`: the provider's configured default chat model.
    pub model: Option<String>,
    pub system: Option<String>,
    pub messages: Vec<Message>,
    pub temperature: Option<f32>,
    /// `None`: the provider's own limit (Anthropic requires one; 4096 is sent).
    pub max_tokens: Option<u32>,
    pub tools: Vec<ToolSpec>,
    pub tool_choice: Option<ToolChoice>,
    /// Ask for a single JSON object as the answer text.
    pub json_mode: bool,
    pub stop: Vec<String>,
}

impl ChatRequest {
    pub fn new(messages: Vec<Message>) -> Self {
        ChatRequest { messages, ..ChatRequest::default() }
    }
}

/// A tool call requested by the model, with its arguments parsed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments object (`{}` when the model sent none).
    pub arguments: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    /// The answer hit `max_tokens`.
    Length,
    ToolCalls,
    ContentFilter,
    /// A reason this layer does not know, as the provider spelled it.
    Other(String),
}

/// Tokens used by one call. `input_tokens` counts every prompt token, including the cached and
/// cache-written ones, whatever the provider's own convention (Anthropic reports them apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// The configured name of the provider that answered (e.g. `openai`, `ollama`).
    pub provider: String,
    pub provider_kind: ProviderKind,
    /// The model that answered, as the provider reported it (often a dated version).
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Part of `input_tokens` read from the provider's prompt cache (billed cheaper).
    pub cached_input_tokens: u64,
    /// Part of `input_tokens` written to the prompt cache (Anthropic bills it dearer).
    pub cache_write_input_tokens: u64,
    /// The stream failed after part of the answer: this is what the provider had reported so
    /// far (often nothing before its final event), and the tokens were spent all the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

impl Usage {
    pub fn new(provider: &str, kind: ProviderKind, model: &str) -> Self {
        Usage {
            provider: provider.to_string(),
            provider_kind: kind,
            model: model.to_string(),
            input_tokens: 0,
            output_tokens: 0,
            cached_input_tokens: 0,
            cache_write_input_tokens: 0,
            partial: false,
        }
    }

    /// The price of this usage with the configured prices first, then the table.
    pub fn cost_with(&self, overrides: &[super::settings::PriceSettings]) -> super::pricing::Cost {
        super::pricing::cost_with(overrides, self)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: FinishReason,
    pub usage: Usage,
}

/// One event of a streamed answer. A stream that completes ends with the `ToolCall` events (each
/// assembled from its deltas), then exactly one `Usage`, then exactly one `Finish`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum StreamEvent {
    TextDelta { text: String },
    ToolCall(ToolCall),
    Usage(Usage),
    Finish { reason: FinishReason },
}

/// A streamed answer; an `Err` item ends it.
pub type ChatStream = BoxStream<'static, Result<StreamEvent, ProviderError>>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmbedRequest {
    /// `None`: the provider's configured default embedding model.
    pub model: Option<String>,
    pub inputs: Vec<String>,
    /// Shorter vectors, where the model supports it.
    pub dimensions: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedResponse {
    /// One vector per input, in input order.
    pub vectors: Vec<Vec<f32>>,
    pub usage: Usage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageFormat {
    Url,
    Base64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageRequest {
    /// `None`: the provider's configured default image model.
    pub model: Option<String>,
    pub prompt: String,
    /// Number of images (default 1).
    pub n: Option<u32>,
    /// e.g. `1024x1024`.
    pub size: Option<String>,
    /// e.g. `high`, `standard`.
    pub quality: Option<String>,
    /// Sent only when set: some models reject the parameter and always answer base64.
    pub response_format: Option<ImageFormat>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageData {
    Base64(String),
    /// A temporary link (OpenAI's expire after an hour): download it promptly.
    Url(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratedImage {
    pub data: ImageData,
    pub mime_type: Option<String>,
    pub revised_prompt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageResponse {
    pub images: Vec<GeneratedImage>,
    pub usage: Usage,
}
