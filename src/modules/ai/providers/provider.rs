//! The one trait every provider implements, and what all implementations share.

use async_trait::async_trait;

use super::{
    error::ProviderError,
    types::{
        ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse, FinishReason,
        ImageRequest, ImageResponse, ProviderKind,
    },
};

/// A chat, embedding and image model host. Object-safe: the registry hands out
/// `Arc<dyn LlmProvider>`, which may be one provider or a [`FallbackChain`](super::FallbackChain).
#[async_trait]
pub trait LlmProvider: Send + Sync {
    /// The configured name (`openai`, `anthropic`, `gemini`, or an OpenAI-compatible endpoint's).
    fn name(&self) -> &str;

    fn kind(&self) -> ProviderKind;

    /// The providers and models a call of `operation` naming `model` may reach, in the order
    /// they would be tried: what must have a price before a budgeted workspace calls.
    fn targets(&self, operation: Operation, model: Option<&str>) -> Vec<CallTarget>;

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError>;

    /// Retries happen before the first event only; see [`StreamEvent`](super::StreamEvent) for
    /// the order of events.
    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError>;

    async fn embed(&self, _req: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        Err(ProviderError::unsupported(self.name(), "embeddings"))
    }

    async fn generate_image(&self, _req: &ImageRequest) -> Result<ImageResponse, ProviderError> {
        Err(ProviderError::unsupported(self.name(), "image generation"))
    }
}

/// What a call asks a provider for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Chat,
    Embedding,
}

/// A provider (by configured name) and the model a call would use there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTarget {
    pub provider: String,
    pub kind: ProviderKind,
    pub model: String,
}

/// The one target of a single provider: the requested model, else its default; none when
/// neither is set (the call itself then fails and says which setting to set).
pub(crate) fn single_target(
    provider: &str,
    kind: ProviderKind,
    requested: Option<&str>,
    default: &str,
) -> Vec<CallTarget> {
    let model = requested.map(str::trim).filter(|m| !m.is_empty()).unwrap_or(default.trim());
    if model.is_empty() {
        return Vec::new();
    }
    vec![CallTarget { provider: provider.to_string(), kind, model: model.to_string() }]
}

/// Models used when a request names none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefaultModels {
    pub chat: String,
    pub embedding: String,
    pub image: String,
}

/// The request's model, else the configured default; an error names the setting when neither
/// is set.
pub(crate) fn pick_model(
    requested: Option<&str>,
    default: &str,
    provider: &str,
    setting: &str,
) -> Result<String, ProviderError> {
    match requested.filter(|m| !m.trim().is_empty()).unwrap_or(default) {
        "" => Err(ProviderError::InvalidRequest {
            message: format!(
                "no model given and no default configured for `{provider}`; set `{setting}`"
            ),
        }),
        model => Ok(model.to_string()),
    }
}

/// Some providers report `stop` even when the turn ends in tool calls; callers loop on
/// `ToolCalls`, so it is made consistent.
pub(crate) fn settle_finish(reason: FinishReason, has_tool_calls: bool) -> FinishReason {
    match reason {
        FinishReason::Stop if has_tool_calls => FinishReason::ToolCalls,
        other => other,
    }
}

/// The instruction added for JSON mode where the provider needs to be told in words.
pub(crate) const JSON_INSTRUCTION: &str =
    "Answer with a single valid JSON object and nothing else: no prose, no code fences.";

/// A body that is not the expected JSON, cut short for the error message.
pub(crate) fn body_snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body).trim().chars().take(300).collect()
}
