//! The Gemini API: `POST {base}/v1beta/models/{model}:generateContent`,
//! `:streamGenerateContent?alt=sse` and `:batchEmbedContents`, key in `x-goog-api-key`.
//! Images come from `generateContent` with image output (`responseModalities`).

mod stream;
mod wire;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::{RequestBuilder, header::CONTENT_TYPE};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    error::ProviderError,
    provider::{CallTarget, DefaultModels, LlmProvider, Operation, pick_model, single_target},
    sse::sse_events,
    stream::decode,
    transport::{ClientOptions, Transport, join_url, parse_json, sensitive},
    types::{
        ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse, ImageRequest,
        ImageResponse, ProviderKind, Usage,
    },
};
use crate::config::Secret;

/// `Debug` shows the key as `[redacted]`.
#[derive(Debug, Clone, PartialEq)]
pub struct GeminiConfig {
    pub name: String,
    pub base_url: String,
    pub api_key: Secret,
    pub models: DefaultModels,
    pub options: ClientOptions,
}

pub struct GeminiProvider {
    config: GeminiConfig,
    transport: Transport,
}

#[derive(Debug, Deserialize)]
struct BatchEmbeddings {
    #[serde(default)]
    embeddings: Vec<Embedding>,
}

#[derive(Debug, Deserialize)]
struct Embedding {
    values: Vec<f32>,
}

impl GeminiProvider {
    pub fn new(config: GeminiConfig, http: reqwest::Client) -> Self {
        let transport =
            Transport::new(http, config.options.clone(), &config.name, config.api_key.clone());
        GeminiProvider { config, transport }
    }

    /// `model` may be given with or without the `models/` prefix.
    fn post(
        &self,
        model: &str,
        method: &str,
        body: Bytes,
    ) -> impl Fn() -> RequestBuilder + Send + Sync + '_ {
        let model = model.strip_prefix("models/").unwrap_or(model);
        let url =
            join_url(self.config.base_url.trim(), &format!("/v1beta/models/{model}:{method}"));
        move || {
            let mut request = self
                .transport
                .http()
                .post(&url)
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some(key) = self.config.api_key.get().and_then(sensitive) {
                request = request.header("x-goog-api-key", key);
            }
            request
        }
    }

    fn model(
        &self,
        requested: Option<&str>,
        default: &str,
        field: &str,
    ) -> Result<String, ProviderError> {
        pick_model(requested, default, &self.config.name, &format!("ai.gemini.{field}"))
    }

    fn usage(&self, model: &str) -> Usage {
        Usage::new(&self.config.name, ProviderKind::Gemini, model)
    }
}

fn to_bytes(value: &Value) -> Bytes {
    Bytes::from(value.to_string())
}

#[async_trait]
impl LlmProvider for GeminiProvider {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Gemini
    }

    fn targets(&self, operation: Operation, model: Option<&str>) -> Vec<CallTarget> {
        let default = match operation {
            Operation::Chat => self.config.models.chat.as_str(),
            Operation::Embedding => self.config.models.embedding.as_str(),
        };
        single_target(&self.config.name, ProviderKind::Gemini, model, default)
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let model = self.model(req.model.as_deref(), &self.config.models.chat, "chat_model")?;
        let body = to_bytes(&wire::chat_body(req)?);
        let answer = self
            .transport
            .call(self.post(&model, "generateContent", body), wire::parse_error)
            .await?;
        wire::parse_chat(&answer, self.usage(&model))
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let model = self.model(req.model.as_deref(), &self.config.models.chat, "chat_model")?;
        let body = to_bytes(&wire::chat_body(req)?);
        let response = self
            .transport
            .open_stream(
                self.post(&model, "streamGenerateContent?alt=sse", body),
                wire::parse_error,
            )
            .await?;
        let events = sse_events(response, self.transport.options().stream_idle_timeout);
        Ok(decode(events, stream::GeminiDecoder::new(self.usage(&model))))
    }

    async fn embed(&self, req: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        let model =
            self.model(req.model.as_deref(), &self.config.models.embedding, "embedding_model")?;
        let qualified = format!("models/{}", model.strip_prefix("models/").unwrap_or(&model));
        let requests: Vec<Value> = req
            .inputs
            .iter()
            .map(|text| {
                let mut one = json!({"model": qualified, "content": {"parts": [{"text": text}]}});
                if let Some(d) = req.dimensions {
                    one["outputDimensionality"] = json!(d);
                }
                one
            })
            .collect();
        let body = to_bytes(&json!({"requests": requests}));
        let answer = self
            .transport
            .call(self.post(&model, "batchEmbedContents", body), wire::parse_error)
            .await?;
        let answer: BatchEmbeddings = parse_json("batchEmbedContents", &answer)?;
        if answer.embeddings.len() != req.inputs.len() {
            return Err(ProviderError::protocol(format!(
                "asked for {} embeddings, got {}",
                req.inputs.len(),
                answer.embeddings.len()
            )));
        }
        // The batch endpoint reports no token counts.
        let vectors = answer.embeddings.into_iter().map(|e| e.values).collect();
        Ok(EmbedResponse { vectors, usage: self.usage(&model) })
    }

    /// One image per call; `size` and `quality` have no equivalent here and are not sent.
    async fn generate_image(&self, req: &ImageRequest) -> Result<ImageResponse, ProviderError> {
        if req.n.is_some_and(|n| n > 1) {
            return Err(ProviderError::InvalidRequest {
                message: "Gemini generates one image per request; ask with n = 1".into(),
            });
        }
        let model = self.model(req.model.as_deref(), &self.config.models.image, "image_model")?;
        let body = to_bytes(&json!({
            "contents": [{"role": "user", "parts": [{"text": req.prompt}]}],
            "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]},
        }));
        let answer = self
            .transport
            .call(self.post(&model, "generateContent", body), wire::parse_error)
            .await?;
        let answer: wire::GenerateResponse = parse_json("generateContent", &answer)?;
        let mut usage = self.usage(&model);
        let reading = answer.read(&mut usage)?;
        if reading.images.is_empty() {
            return Err(ProviderError::protocol(format!(
                "the answer holds no image{}",
                if reading.text.is_empty() { String::new() } else { format!(": {}", reading.text) }
            )));
        }
        Ok(ImageResponse { images: reading.images, usage })
    }
}
