//! Anthropic's Messages API: `POST {base}/v1/messages` with `x-api-key` and
//! `anthropic-version: 2023-06-01`. Anthropic offers no embeddings and no image generation.

mod stream;
mod wire;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::{RequestBuilder, header::CONTENT_TYPE};

use super::{
    error::ProviderError,
    provider::{CallTarget, DefaultModels, LlmProvider, Operation, pick_model, single_target},
    sse::sse_events,
    stream::decode,
    transport::{ClientOptions, Transport, join_url, sensitive},
    types::{ChatRequest, ChatResponse, ChatStream, ProviderKind, Usage},
};
use crate::config::Secret;

pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// `Debug` shows the key as `[redacted]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AnthropicConfig {
    pub name: String,
    pub base_url: String,
    pub api_key: Secret,
    /// Only `chat` is used.
    pub models: DefaultModels,
    pub options: ClientOptions,
}

pub struct AnthropicProvider {
    config: AnthropicConfig,
    transport: Transport,
}

impl AnthropicProvider {
    pub fn new(config: AnthropicConfig, http: reqwest::Client) -> Self {
        let transport =
            Transport::new(http, config.options.clone(), &config.name, config.api_key.clone());
        AnthropicProvider { config, transport }
    }

    fn post(&self, body: Bytes) -> impl Fn() -> RequestBuilder + Send + Sync + '_ {
        let url = join_url(self.config.base_url.trim(), "/v1/messages");
        move || {
            let mut request = self
                .transport
                .http()
                .post(&url)
                .header(CONTENT_TYPE, "application/json")
                .header("anthropic-version", ANTHROPIC_VERSION)
                .body(body.clone());
            if let Some(key) = self.config.api_key.get().and_then(sensitive) {
                request = request.header("x-api-key", key);
            }
            request
        }
    }

    fn prepare(&self, req: &ChatRequest, stream: bool) -> Result<(String, Bytes), ProviderError> {
        let model = pick_model(
            req.model.as_deref(),
            &self.config.models.chat,
            &self.config.name,
            "ai.anthropic.chat_model",
        )?;
        let body = Bytes::from(wire::chat_body(req, &model, stream).to_string());
        Ok((model, body))
    }
}

#[async_trait]
impl LlmProvider for AnthropicProvider {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Anthropic
    }

    fn targets(&self, operation: Operation, model: Option<&str>) -> Vec<CallTarget> {
        let default = match operation {
            Operation::Chat => self.config.models.chat.as_str(),
            Operation::Embedding => "",
        };
        single_target(&self.config.name, ProviderKind::Anthropic, model, default)
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let (model, body) = self.prepare(req, false)?;
        let answer = self.transport.call(self.post(body), wire::parse_error).await?;
        wire::parse_chat(
            &answer,
            req,
            Usage::new(&self.config.name, ProviderKind::Anthropic, &model),
        )
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let (model, body) = self.prepare(req, true)?;
        let response = self.transport.open_stream(self.post(body), wire::parse_error).await?;
        let events = sse_events(response, self.transport.options().stream_idle_timeout);
        let usage = Usage::new(&self.config.name, ProviderKind::Anthropic, &model);
        Ok(decode(events, stream::AnthropicDecoder::new(usage, wire::uses_json_tool(req))))
    }
}
