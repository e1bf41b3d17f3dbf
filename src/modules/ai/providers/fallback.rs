//! A provider made of an ordered list of providers: when one fails in a way another could fix
//! (see [`ProviderError::falls_back`]), after its own retries, the next one is asked.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;

use super::{
    error::ProviderError,
    provider::{CallTarget, LlmProvider, Operation},
    types::{
        ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse, ImageRequest,
        ImageResponse, ProviderKind,
    },
};

/// Which provider answered is in the answer's `usage.provider`.
///
/// A model named in the request is meant for the first provider that really tries it; after a
/// failure the next providers use their own default model, since model names mean nothing
/// across providers. Streams fall back only while nothing has been emitted: once text reached
/// the caller, switching providers would splice two answers together.
/// Embeddings never fall back on errors: vectors from different models cannot be compared, so
/// they always come from the first provider that has embeddings.
pub struct FallbackChain {
    name: String,
    providers: Vec<Arc<dyn LlmProvider>>,
}

impl FallbackChain {
    pub fn new(name: impl Into<String>, providers: Vec<Arc<dyn LlmProvider>>) -> Self {
        FallbackChain { name: name.into(), providers }
    }

    pub fn providers(&self) -> &[Arc<dyn LlmProvider>] {
        &self.providers
    }

    fn empty(&self) -> ProviderError {
        ProviderError::Unavailable {
            message: format!("the provider chain `{}` is empty", self.name),
        }
    }

    fn log_fallback(&self, from: &dyn LlmProvider, error: &ProviderError) {
        tracing::warn!(
            chain = %self.name,
            provider = %from.name(),
            error = %error,
            "provider failed; falling back to the next one"
        );
    }
}

/// The request for the providers after a failure, which answer with their own default model.
fn without_model(req: &ChatRequest) -> ChatRequest {
    ChatRequest { model: None, ..req.clone() }
}

#[async_trait]
impl LlmProvider for FallbackChain {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Fallback
    }

    /// Chat may reach every member (the requested model at the first, their defaults after);
    /// embeddings come from the first member that has them.
    fn targets(&self, operation: Operation, model: Option<&str>) -> Vec<CallTarget> {
        match operation {
            Operation::Chat => self
                .providers
                .iter()
                .enumerate()
                .flat_map(|(at, p)| p.targets(operation, if at == 0 { model } else { None }))
                .collect(),
            Operation::Embedding => self
                .providers
                .iter()
                .map(|p| p.targets(operation, model))
                .find(|t| !t.is_empty())
                .unwrap_or_default(),
        }
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let stripped = without_model(req);
        let mut tried = false;
        for (at, provider) in self.providers.iter().enumerate() {
            let request = if tried { &stripped } else { req };
            match provider.chat(request).await {
                Ok(answer) => return Ok(answer),
                Err(err) if err.falls_back() && at + 1 < self.providers.len() => {
                    self.log_fallback(provider.as_ref(), &err);
                    tried |= !matches!(err, ProviderError::Unsupported { .. });
                }
                Err(err) => return Err(err),
            }
        }
        Err(self.empty())
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let stripped = without_model(req);
        let mut tried = false;
        for (at, provider) in self.providers.iter().enumerate() {
            let request = if tried { &stripped } else { req };
            let err = match provider.chat_stream(request).await {
                Ok(mut stream) => match stream.next().await {
                    Some(Ok(first)) => {
                        return Ok(futures_util::stream::iter([Ok(first)]).chain(stream).boxed());
                    }
                    Some(Err(err)) => err,
                    None => ProviderError::protocol("the stream ended without any event"),
                },
                Err(err) => err,
            };
            if !(err.falls_back() && at + 1 < self.providers.len()) {
                return Err(err);
            }
            self.log_fallback(provider.as_ref(), &err);
            tried |= !matches!(err, ProviderError::Unsupported { .. });
        }
        Err(self.empty())
    }

    async fn embed(&self, req: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        for provider in &self.providers {
            match provider.embed(req).await {
                Err(ProviderError::Unsupported { .. }) => continue,
                other => return other,
            }
        }
        Err(ProviderError::unsupported(&self.name, "embeddings"))
    }

    async fn generate_image(&self, req: &ImageRequest) -> Result<ImageResponse, ProviderError> {
        let stripped = ImageRequest { model: None, ..req.clone() };
        let mut tried = false;
        let mut last = None;
        for (at, provider) in self.providers.iter().enumerate() {
            let request = if tried { &stripped } else { req };
            match provider.generate_image(request).await {
                Ok(answer) => return Ok(answer),
                Err(ProviderError::Unsupported { .. }) => continue,
                Err(err) if err.falls_back() && at + 1 < self.providers.len() => {
                    self.log_fallback(provider.as_ref(), &err);
                    tried = true;
                    last = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        Err(last.unwrap_or_else(|| ProviderError::unsupported(&self.name, "image generation")))
    }
}
