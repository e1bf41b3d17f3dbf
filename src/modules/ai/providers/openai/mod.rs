//! OpenAI and every server that speaks its API (Ollama's `/v1`, vLLM, LM Studio, OpenRouter):
//! `POST {base}/v1/chat/completions`, `/v1/embeddings`, `/v1/images/generations`.

mod media;
mod stream;
mod wire;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::{RequestBuilder, header::CONTENT_TYPE};

pub use self::wire::OpenAiCapabilities;
use super::{
    error::ProviderError,
    provider::{CallTarget, DefaultModels, LlmProvider, Operation, pick_model, single_target},
    sse::sse_events,
    stream::decode,
    transport::{ClientOptions, Transport, join_url},
    types::{
        ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse, ImageRequest,
        ImageResponse, ProviderKind, Usage,
    },
};
use crate::config::Secret;

/// Everything one OpenAI-style endpoint needs. `Debug` shows the key as `[redacted]`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiConfig {
    pub name: String,
    /// `OpenAi` or `OpenAiCompatible`; only decides what the usage reports for pricing.
    pub kind: ProviderKind,
    /// Up to, not including, `/v1` (a trailing `/v1` is tolerated and dropped).
    pub base_url: String,
    /// Optional for local servers.
    pub api_key: Secret,
    /// Sent as `OpenAI-Organization` when not empty.
    pub organization: String,
    pub models: DefaultModels,
    pub capabilities: OpenAiCapabilities,
    pub options: ClientOptions,
}

pub struct OpenAiProvider {
    config: OpenAiConfig,
    base_url: String,
    transport: Transport,
}

impl OpenAiProvider {
    pub fn new(config: OpenAiConfig, http: reqwest::Client) -> Self {
        let trimmed = config.base_url.trim().trim_end_matches('/');
        let base_url = trimmed.strip_suffix("/v1").unwrap_or(trimmed).to_string();
        let transport =
            Transport::new(http, config.options.clone(), &config.name, config.api_key.clone());
        OpenAiProvider { config, base_url, transport }
    }

    fn post(&self, path: &str, body: Bytes) -> impl Fn() -> RequestBuilder + Send + Sync + '_ {
        let url = join_url(&self.base_url, path);
        move || {
            let mut request = self
                .transport
                .http()
                .post(&url)
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some(key) = self.config.api_key.get() {
                request = request.bearer_auth(key);
            }
            if !self.config.organization.is_empty() {
                request = request.header("OpenAI-Organization", &self.config.organization);
            }
            request
        }
    }

    fn usage(&self, model: &str) -> Usage {
        Usage::new(&self.config.name, self.config.kind, model)
    }

    fn model(
        &self,
        requested: Option<&str>,
        default: &str,
        field: &str,
    ) -> Result<String, ProviderError> {
        let setting = match self.config.kind {
            ProviderKind::OpenAi => format!("ai.openai.{field}"),
            _ => format!("ai.openai_compatible[{}].{field}", self.config.name),
        };
        pick_model(requested, default, &self.config.name, &setting)
    }
}

fn to_bytes(value: &serde_json::Value) -> Bytes {
    Bytes::from(value.to_string())
}

#[async_trait]
impl LlmProvider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn kind(&self) -> ProviderKind {
        self.config.kind
    }

    fn targets(&self, operation: Operation, model: Option<&str>) -> Vec<CallTarget> {
        let default = match operation {
            Operation::Chat => self.config.models.chat.as_str(),
            Operation::Embedding => {
                if self.config.capabilities.embeddings {
                    self.config.models.embedding.as_str()
                } else {
                    ""
                }
            }
        };
        single_target(&self.config.name, self.config.kind, model, default)
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let model = self.model(req.model.as_deref(), &self.config.models.chat, "chat_model")?;
        let body = to_bytes(&wire::chat_body(req, &model, false, self.config.capabilities));
        let answer =
            self.transport.call(self.post("/v1/chat/completions", body), wire::parse_error).await?;
        wire::parse_chat(&answer, self.usage(&model))
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let model = self.model(req.model.as_deref(), &self.config.models.chat, "chat_model")?;
        let body = to_bytes(&wire::chat_body(req, &model, true, self.config.capabilities));
        let response = self
            .transport
            .open_stream(self.post("/v1/chat/completions", body), wire::parse_error)
            .await?;
        let events = sse_events(response, self.transport.options().stream_idle_timeout);
        Ok(decode(events, stream::OpenAiDecoder::new(self.usage(&model))))
    }

    async fn embed(&self, req: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        if !self.config.capabilities.embeddings {
            return Err(ProviderError::unsupported(&self.config.name, "embeddings"));
        }
        let model =
            self.model(req.model.as_deref(), &self.config.models.embedding, "embedding_model")?;
        let body = to_bytes(&media::embed_body(req, &model));
        let answer =
            self.transport.call(self.post("/v1/embeddings", body), wire::parse_error).await?;
        let (vectors, usage) =
            media::parse_embeddings(&answer, req.inputs.len(), self.usage(&model))?;
        Ok(EmbedResponse { vectors, usage })
    }

    async fn generate_image(&self, req: &ImageRequest) -> Result<ImageResponse, ProviderError> {
        if !self.config.capabilities.images {
            return Err(ProviderError::unsupported(&self.config.name, "image generation"));
        }
        let model = self.model(req.model.as_deref(), &self.config.models.image, "image_model")?;
        let body = to_bytes(&media::image_body(req, &model));
        let answer = self
            .transport
            .call(self.post("/v1/images/generations", body), wire::parse_error)
            .await?;
        let (images, usage) = media::parse_images(&answer, self.usage(&model))?;
        Ok(ImageResponse { images, usage })
    }
}
