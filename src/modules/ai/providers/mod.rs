//! Clients for the LLM providers SmartFlow uses — OpenAI and OpenAI-compatible servers,
//! Anthropic, Google Gemini — behind one trait, [`LlmProvider`], with retries, timeouts,
//! fallback across providers and a price table.
//!
//! Pure client code: no routes and no database. [`ProviderRegistry::from_settings`] builds
//! every configured provider from the `[ai]` settings section.

mod anthropic;
mod error;
mod fallback;
mod gemini;
mod openai;
mod pricing;
mod provider;
mod registry;
mod retry;
mod settings;
mod sse;
mod stream;
mod transport;
mod types;

pub use self::{
    anthropic::{ANTHROPIC_VERSION, AnthropicConfig, AnthropicProvider},
    error::ProviderError,
    fallback::FallbackChain,
    gemini::{GeminiConfig, GeminiProvider},
    openai::{OpenAiCapabilities, OpenAiConfig, OpenAiProvider},
    pricing::{
        CONFIGURED_PRICE_VERSION, Cost, ModelPrice, PRICE_TABLE_VERSION, cost_with, model_price,
        price_for,
    },
    provider::{CallTarget, DefaultModels, LlmProvider, Operation},
    registry::{ProviderRegistry, RegistryError, http_client},
    retry::RetryPolicy,
    settings::{
        ANTHROPIC_BASE_URL, AiProviderSettings, CompatibleSettings, GEMINI_BASE_URL,
        OPENAI_BASE_URL, PriceSettings, ProviderSettings, built_in_defaults,
    },
    sse::{SseEvent, SseParser},
    stream::collect,
    transport::ClientOptions,
    types::*,
};

#[cfg(test)]
mod tests;
