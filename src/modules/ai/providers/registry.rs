//! Builds the configured providers from [`AiProviderSettings`] and hands them out, alone or as
//! a fallback chain.

use std::{sync::Arc, time::Duration};

use super::{
    anthropic::{AnthropicConfig, AnthropicProvider},
    fallback::FallbackChain,
    gemini::{GeminiConfig, GeminiProvider},
    openai::{OpenAiCapabilities, OpenAiConfig, OpenAiProvider},
    provider::{DefaultModels, LlmProvider},
    settings::{
        AiProviderSettings, BUILT_IN, ClientOptionsExt, CompatibleSettings, ProviderSettings,
        built_in_defaults,
    },
    types::ProviderKind,
};
use crate::{
    config::{ConfigError, Secret},
    error::AppError,
};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error(
        "no AI provider is configured: set `ai.openai.api_key`, `ai.anthropic.api_key` or \
         `ai.gemini.api_key`, or add an `[[ai.openai_compatible]]` endpoint{hint}"
    )]
    NothingConfigured { hint: String },
    #[error("the AI provider `{name}` is not configured: set `{setting}`")]
    NotConfigured { name: String, setting: String },
    #[error("there is no AI provider named `{0}`")]
    Unknown(String),
    #[error("the HTTP client for AI providers could not be built: {0}")]
    Client(String),
}

impl From<RegistryError> for AppError {
    /// Reaching for an unconfigured provider is the operator's to fix, not the caller's.
    fn from(err: RegistryError) -> Self {
        AppError::ServiceUnavailable(err.to_string())
    }
}

/// Cheap to clone: the providers are shared.
#[derive(Clone)]
pub struct ProviderRegistry {
    /// Configured providers, in the order openai, anthropic, gemini, then the endpoints.
    providers: Vec<Arc<dyn LlmProvider>>,
    status: Vec<(String, bool)>,
    /// `ai.fallback` as written (empty: all configured providers).
    fallback: Vec<String>,
    /// To build providers with a workspace's own key.
    settings: Arc<AiProviderSettings>,
    http: reqwest::Client,
}

/// A client suited to provider calls: the connect timeout from the settings and no total
/// timeout (each call sets its own).
pub fn http_client(settings: &AiProviderSettings) -> Result<reqwest::Client, RegistryError> {
    crate::app::install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
        .user_agent(concat!("SmartFlow/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| RegistryError::Client(e.to_string()))
}

impl ProviderRegistry {
    /// Validates the settings and builds every configured provider on `http`. Succeeds with
    /// nothing configured, so the app can start and report it; asking for a provider then says
    /// which setting to set.
    pub fn from_settings(
        settings: &AiProviderSettings,
        http: reqwest::Client,
    ) -> Result<Self, RegistryError> {
        settings.validate()?;
        let mut providers: Vec<Arc<dyn LlmProvider>> = Vec::new();
        let mut status = Vec::new();
        for name in BUILT_IN {
            let p = built_in(settings, name);
            status.push((name.to_string(), p.is_configured()));
            if p.is_configured() {
                providers.push(build_built_in(name, p, &http));
            }
        }
        for c in &settings.openai_compatible {
            status.push((c.name.clone(), true));
            providers.push(build_compatible(c, &http));
        }
        Ok(ProviderRegistry {
            providers,
            status,
            fallback: settings.fallback.clone(),
            settings: Arc::new(settings.clone()),
            http,
        })
    }

    /// The provider `name` as configured, but calling with `api_key` (a workspace's own key).
    pub fn with_key(
        &self,
        name: &str,
        api_key: Secret,
    ) -> Result<Arc<dyn LlmProvider>, RegistryError> {
        if BUILT_IN.contains(&name) {
            let p = ProviderSettings { api_key, ..built_in(&self.settings, name).clone() };
            return Ok(build_built_in(name, &p, &self.http));
        }
        match self.settings.openai_compatible.iter().find(|c| c.name == name) {
            Some(c) => {
                Ok(build_compatible(&CompatibleSettings { api_key, ..c.clone() }, &self.http))
            }
            None => Err(RegistryError::Unknown(name.to_string())),
        }
    }

    /// Every provider the settings define and whether it is configured, for the health check.
    pub fn configured(&self) -> Vec<(String, bool)> {
        self.status.clone()
    }

    /// The configured providers, in a fixed order.
    pub fn providers(&self) -> &[Arc<dyn LlmProvider>] {
        &self.providers
    }

    /// One provider by name.
    pub fn get(&self, name: &str) -> Result<Arc<dyn LlmProvider>, RegistryError> {
        if let Some(p) = self.providers.iter().find(|p| p.name() == name) {
            return Ok(p.clone());
        }
        if self.status.iter().any(|(n, _)| n == name) {
            return Err(RegistryError::NotConfigured {
                name: name.to_string(),
                setting: format!("ai.{name}.api_key"),
            });
        }
        Err(RegistryError::Unknown(name.to_string()))
    }

    /// A chain of exactly these providers, in this order; each must be configured. One name
    /// gives the provider itself.
    pub fn chain<S: AsRef<str>>(&self, names: &[S]) -> Result<Arc<dyn LlmProvider>, RegistryError> {
        let providers =
            names.iter().map(|n| self.get(n.as_ref())).collect::<Result<Vec<_>, _>>()?;
        wrap(providers).ok_or_else(|| RegistryError::NothingConfigured { hint: String::new() })
    }

    /// The provider to use when the caller has no preference: the configured providers in the
    /// `ai.fallback` order (unconfigured ones skipped), as a chain when there are several.
    pub fn default_provider(&self) -> Result<Arc<dyn LlmProvider>, RegistryError> {
        let providers: Vec<Arc<dyn LlmProvider>> = if self.fallback.is_empty() {
            self.providers.clone()
        } else {
            self.fallback.iter().filter_map(|n| self.get(n).ok()).collect()
        };
        wrap(providers).ok_or_else(|| RegistryError::NothingConfigured {
            hint: if self.fallback.is_empty() {
                String::new()
            } else {
                format!(" among those `ai.fallback` lists ({})", self.fallback.join(", "))
            },
        })
    }
}

impl ProviderRegistry {
    /// The default chain of a workspace that stored its own keys (`keys`: provider name and
    /// key). With `ai.fallback` set, exactly its providers in its order, each with the
    /// workspace's key when it has one; keys for providers not listed are not used. Without
    /// it, the workspace's own providers first, then the server's, each in the order
    /// openai, anthropic, gemini, endpoints.
    pub fn default_with_keys(
        &self,
        keys: &[(String, Secret)],
    ) -> Result<Arc<dyn LlmProvider>, RegistryError> {
        let key_of = |name: &str| keys.iter().find(|(p, _)| p == name).map(|(_, k)| k.clone());
        let mut providers: Vec<Arc<dyn LlmProvider>> = Vec::new();
        if self.fallback.is_empty() {
            for name in self.settings.names() {
                if let Some(key) = key_of(&name) {
                    providers.push(self.with_key(&name, key)?);
                }
            }
            for p in &self.providers {
                if !providers.iter().any(|c| c.name() == p.name()) {
                    providers.push(p.clone());
                }
            }
        } else {
            for name in &self.fallback {
                match key_of(name) {
                    Some(key) => providers.push(self.with_key(name, key)?),
                    None => providers.extend(self.get(name).ok()),
                }
            }
        }
        wrap(providers).ok_or_else(|| RegistryError::NothingConfigured {
            hint: format!(" among those `ai.fallback` lists ({})", self.fallback.join(", ")),
        })
    }
}

/// One built-in provider (`openai`, `anthropic` or `gemini`) from its settings.
fn build_built_in(
    name: &str,
    p: &ProviderSettings,
    http: &reqwest::Client,
) -> Arc<dyn LlmProvider> {
    let (default_url, [chat, embedding, image]) = built_in_defaults(name);
    let or = |value: &str, default: &str| {
        if value.trim().is_empty() { default.to_string() } else { value.trim().to_string() }
    };
    let base_url = or(&p.base_url, default_url);
    let models = DefaultModels {
        chat: or(&p.chat_model, chat),
        embedding: or(&p.embedding_model, embedding),
        image: or(&p.image_model, image),
    };
    let (api_key, options) = (p.api_key.clone(), p.client_options());
    match name {
        "openai" => Arc::new(OpenAiProvider::new(
            OpenAiConfig {
                name: name.into(),
                kind: ProviderKind::OpenAi,
                base_url,
                api_key,
                organization: p.organization.trim().to_string(),
                models,
                capabilities: OpenAiCapabilities::OPENAI,
                options,
            },
            http.clone(),
        )),
        "anthropic" => Arc::new(AnthropicProvider::new(
            AnthropicConfig { name: name.into(), base_url, api_key, models, options },
            http.clone(),
        )),
        _ => Arc::new(GeminiProvider::new(
            GeminiConfig { name: name.into(), base_url, api_key, models, options },
            http.clone(),
        )),
    }
}

fn build_compatible(c: &CompatibleSettings, http: &reqwest::Client) -> Arc<dyn LlmProvider> {
    Arc::new(OpenAiProvider::new(
        OpenAiConfig {
            name: c.name.clone(),
            kind: ProviderKind::OpenAiCompatible,
            base_url: c.base_url.trim().to_string(),
            api_key: c.api_key.clone(),
            organization: String::new(),
            models: DefaultModels {
                chat: c.chat_model.trim().to_string(),
                embedding: c.embedding_model.trim().to_string(),
                image: c.image_model.trim().to_string(),
            },
            capabilities: OpenAiCapabilities {
                embeddings: c.supports_embeddings,
                images: c.supports_images,
                stream_usage: c.stream_usage,
                max_completion_tokens: false,
            },
            options: c.client_options(),
        },
        http.clone(),
    ))
}

fn built_in<'a>(settings: &'a AiProviderSettings, name: &str) -> &'a ProviderSettings {
    match name {
        "openai" => &settings.openai,
        "anthropic" => &settings.anthropic,
        _ => &settings.gemini,
    }
}

fn wrap(mut providers: Vec<Arc<dyn LlmProvider>>) -> Option<Arc<dyn LlmProvider>> {
    match providers.len() {
        0 => None,
        1 => providers.pop(),
        _ => Some(Arc::new(FallbackChain::new("fallback", providers))),
    }
}
