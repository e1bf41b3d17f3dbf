//! The `[ai]` settings section: one table per provider, a list of OpenAI-compatible endpoints,
//! the fallback order, and the AI module's own tables (`chat`, `tools`, `websocket`,
//! `knowledge`, in [`runtime`]). Keys are [`Secret`]s, so `Debug` never prints them. An empty
//! string means "the built-in default" for URLs and models, and "not configured" for keys.
//!
//! Compiled whatever the cargo features, so `config/default.toml` always parses; the provider
//! clients read these types through `modules::ai::providers`.

mod runtime;

use serde::{Deserialize, Serialize};

pub use self::runtime::{ChatSettings, KnowledgeSettings, ToolSettings, WebSocketSettings};
use super::{ConfigError, Secret};

pub const OPENAI_BASE_URL: &str = "https://api.openai.com";
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
pub const GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// Names the built-in providers use; endpoints may not take them.
pub const BUILT_IN: [&str; 3] = ["openai", "anthropic", "gemini"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AiProviderSettings {
    /// Order in which the default chain tries providers: `openai`, `anthropic`, `gemini` or an
    /// `openai_compatible` name. Unconfigured ones are skipped. Empty: every configured provider
    /// in the order openai, anthropic, gemini, then the endpoints as listed.
    pub fallback: Vec<String>,
    /// Connect timeout of the client that calls the providers.
    pub connect_timeout_ms: u64,
    pub openai: ProviderSettings,
    pub anthropic: ProviderSettings,
    pub gemini: ProviderSettings,
    pub openai_compatible: Vec<CompatibleSettings>,
    /// Prices for models the built-in table does not know (every OpenAI-compatible host's), or
    /// that an operator pays differently for. They take precedence over the table.
    pub prices: Vec<PriceSettings>,
    /// Chat requests and the worker that answers them.
    pub chat: ChatSettings,
    /// What agents' tools may do.
    pub tools: ToolSettings,
    /// `/ws/chat`: heartbeats, buffers, resume window.
    pub websocket: WebSocketSettings,
    /// Chunking, embedding and retrieval of knowledge bases.
    pub knowledge: KnowledgeSettings,
}

/// One built-in provider. It is configured when `api_key` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderSettings {
    pub api_key: Secret,
    /// Empty: the provider's public API.
    pub base_url: String,
    /// OpenAI only: sent as `OpenAI-Organization` when set.
    pub organization: String,
    /// Models used when a request names none; empty: the built-in default. Anthropic has no
    /// embedding or image models.
    pub chat_model: String,
    pub embedding_model: String,
    pub image_model: String,
    /// Whole call; for streams, the time to the first byte.
    pub timeout_ms: u64,
    /// Longest silence between two chunks of a stream.
    pub stream_idle_timeout_ms: u64,
    /// Attempts after the first on 429, 5xx, 529 and connection errors.
    pub max_retries: u32,
    pub retry_base_delay_ms: u64,
    /// Cap on any single wait between attempts, even one the provider asked for.
    pub max_retry_delay_ms: u64,
}

/// A server speaking OpenAI's API (Ollama, vLLM, LM Studio, OpenRouter…).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompatibleSettings {
    /// How requests, usage and health name it: lowercase letters, digits, `-` and `_`.
    pub name: String,
    /// Up to, not including, `/v1`, e.g. `http://localhost:11434` for Ollama or
    /// `https://openrouter.ai/api` for OpenRouter.
    pub base_url: String,
    /// Optional: local servers usually need none.
    pub api_key: Secret,
    pub chat_model: String,
    pub embedding_model: String,
    pub image_model: String,
    pub supports_embeddings: bool,
    pub supports_images: bool,
    /// Ask for usage in streams (`stream_options.include_usage`); turn off for servers that
    /// reject the field.
    pub stream_usage: bool,
    pub timeout_ms: u64,
    pub stream_idle_timeout_ms: u64,
    pub max_retries: u32,
    pub retry_base_delay_ms: u64,
    pub max_retry_delay_ms: u64,
}

/// The price of one model at one provider, in USD per million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceSettings {
    /// A provider name: `openai`, `anthropic`, `gemini` or an `openai_compatible` name.
    pub provider: String,
    /// The model as requested or reported; dated versions (`-2025-04-14`) and `-latest` match.
    pub model: String,
    pub input: f64,
    pub output: f64,
    /// Prompt tokens read from the provider's cache; default `input`.
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// Prompt tokens written to the cache; default `input`.
    #[serde(default)]
    pub cache_write: Option<f64>,
}

impl Default for AiProviderSettings {
    fn default() -> Self {
        AiProviderSettings {
            fallback: Vec::new(),
            connect_timeout_ms: 5_000,
            openai: ProviderSettings::built_in("openai"),
            anthropic: ProviderSettings::built_in("anthropic"),
            gemini: ProviderSettings::built_in("gemini"),
            openai_compatible: Vec::new(),
            prices: Vec::new(),
            chat: ChatSettings::default(),
            tools: ToolSettings::default(),
            websocket: WebSocketSettings::default(),
            knowledge: KnowledgeSettings::default(),
        }
    }
}

impl Default for ProviderSettings {
    /// Empty URL and models, resolved to the built-in ones when the provider is built.
    fn default() -> Self {
        ProviderSettings {
            api_key: Secret::default(),
            base_url: String::new(),
            organization: String::new(),
            chat_model: String::new(),
            embedding_model: String::new(),
            image_model: String::new(),
            timeout_ms: 120_000,
            stream_idle_timeout_ms: 90_000,
            max_retries: 2,
            retry_base_delay_ms: 500,
            max_retry_delay_ms: 20_000,
        }
    }
}

impl Default for CompatibleSettings {
    fn default() -> Self {
        let timing = ProviderSettings::default();
        CompatibleSettings {
            name: String::new(),
            base_url: String::new(),
            api_key: Secret::default(),
            chat_model: String::new(),
            embedding_model: String::new(),
            image_model: String::new(),
            supports_embeddings: false,
            supports_images: false,
            stream_usage: true,
            timeout_ms: timing.timeout_ms,
            stream_idle_timeout_ms: timing.stream_idle_timeout_ms,
            max_retries: timing.max_retries,
            retry_base_delay_ms: timing.retry_base_delay_ms,
            max_retry_delay_ms: timing.max_retry_delay_ms,
        }
    }
}

/// Built-in base URL and models of `provider` (one of [`BUILT_IN`]).
pub fn built_in_defaults(provider: &str) -> (&'static str, [&'static str; 3]) {
    match provider {
        "openai" => (OPENAI_BASE_URL, ["gpt-4.1-mini", "text-embedding-3-small", "gpt-image-1"]),
        "anthropic" => (ANTHROPIC_BASE_URL, ["claude-sonnet-4-6", "", ""]),
        "gemini" => (
            GEMINI_BASE_URL,
            ["gemini-2.5-flash", "gemini-embedding-001", "gemini-2.5-flash-image"],
        ),
        _ => ("", ["", "", ""]),
    }
}

impl ProviderSettings {
    /// The defaults of one built-in provider, with its URL and models filled in.
    pub fn built_in(provider: &str) -> Self {
        let (base_url, [chat, embedding, image]) = built_in_defaults(provider);
        ProviderSettings {
            base_url: base_url.into(),
            chat_model: chat.into(),
            embedding_model: embedding.into(),
            image_model: image.into(),
            ..ProviderSettings::default()
        }
    }

    pub fn is_configured(&self) -> bool {
        self.api_key.is_set()
    }
}

impl AiProviderSettings {
    /// Every provider name the settings define, configured or not.
    pub fn names(&self) -> Vec<String> {
        BUILT_IN
            .iter()
            .map(|s| s.to_string())
            .chain(self.openai_compatible.iter().map(|c| c.name.clone()))
            .collect()
    }

    /// Checks beyond types, naming the key to fix; meant to be called from `Settings::validate`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, p) in
            [("openai", &self.openai), ("anthropic", &self.anthropic), ("gemini", &self.gemini)]
        {
            let key = |field: &str| format!("ai.{name}.{field}");
            if !p.base_url.trim().is_empty() {
                check_url(&key("base_url"), &p.base_url)?;
            }
            check_key(&key("api_key"), &p.api_key)?;
            check_timing(&key(""), p.timeout_ms, p.stream_idle_timeout_ms)?;
        }
        let mut seen: Vec<&str> = BUILT_IN.to_vec();
        for (i, c) in self.openai_compatible.iter().enumerate() {
            let key = |field: &str| format!("ai.openai_compatible[{i}].{field}");
            let valid_name = !c.name.is_empty()
                && c.name.chars().all(|ch| {
                    ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_'
                });
            if !valid_name {
                return Err(ConfigError::invalid(
                    key("name"),
                    format!("`{}`: use lowercase letters, digits, `-` and `_`", c.name),
                ));
            }
            if seen.contains(&c.name.as_str()) {
                return Err(ConfigError::invalid(
                    key("name"),
                    format!("`{}` is already taken; each provider needs its own name", c.name),
                ));
            }
            seen.push(&c.name);
            if c.base_url.trim().is_empty() {
                return Err(ConfigError::invalid(
                    key("base_url"),
                    "required, e.g. `http://localhost:11434` for Ollama",
                ));
            }
            check_url(&key("base_url"), &c.base_url)?;
            check_key(&key("api_key"), &c.api_key)?;
            check_timing(&key(""), c.timeout_ms, c.stream_idle_timeout_ms)?;
        }
        let mut listed: Vec<&str> = Vec::new();
        for name in &self.fallback {
            if !seen.contains(&name.as_str()) {
                return Err(ConfigError::invalid(
                    "ai.fallback",
                    format!(
                        "`{name}` is not a provider; use {} or add an [[ai.openai_compatible]] \
                         entry with that name",
                        BUILT_IN.join(", ")
                    ),
                ));
            }
            if listed.contains(&name.as_str()) {
                return Err(ConfigError::invalid(
                    "ai.fallback",
                    format!("`{name}` is listed twice"),
                ));
            }
            listed.push(name);
        }
        for (i, price) in self.prices.iter().enumerate() {
            let key = |field: &str| format!("ai.prices[{i}].{field}");
            if !seen.contains(&price.provider.as_str()) {
                return Err(ConfigError::invalid(
                    key("provider"),
                    format!("`{}` is not a provider; use {}", price.provider, seen.join(", ")),
                ));
            }
            if price.model.trim().is_empty() {
                return Err(ConfigError::invalid(key("model"), "required"));
            }
            let rates = [
                ("input", Some(price.input)),
                ("output", Some(price.output)),
                ("cached_input", price.cached_input),
                ("cache_write", price.cache_write),
            ];
            for (field, rate) in rates {
                if rate.is_some_and(|r| !(0.0..=100_000.0).contains(&r)) {
                    return Err(ConfigError::invalid(
                        key(field),
                        "expected USD per million tokens, from 0 to 100000",
                    ));
                }
            }
        }
        self.chat.validate()?;
        self.tools.validate()?;
        self.websocket.validate()?;
        self.knowledge.validate()?;
        Ok(())
    }
}

fn check_url(key: &str, value: &str) -> Result<(), ConfigError> {
    let url = url::Url::parse(value.trim())
        .map_err(|e| ConfigError::invalid(key, format!("expected a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::invalid(
            key,
            format!("expected http or https, got `{}`", url.scheme()),
        ));
    }
    Ok(())
}

/// A key goes into a header; a stray newline from a secrets file would otherwise only show up
/// as a confusing 401.
fn check_key(key: &str, value: &Secret) -> Result<(), ConfigError> {
    match value.get() {
        Some(secret) if !secret.chars().all(|c| c.is_ascii_graphic()) => Err(ConfigError::invalid(
            key,
            "contains spaces or characters an HTTP header cannot carry (a trailing newline?)",
        )),
        _ => Ok(()),
    }
}

fn check_timing(prefix: &str, timeout_ms: u64, idle_ms: u64) -> Result<(), ConfigError> {
    if timeout_ms == 0 {
        return Err(ConfigError::invalid(format!("{prefix}timeout_ms"), "expected at least 1"));
    }
    if idle_ms == 0 {
        return Err(ConfigError::invalid(
            format!("{prefix}stream_idle_timeout_ms"),
            "expected at least 1",
        ));
    }
    Ok(())
}
