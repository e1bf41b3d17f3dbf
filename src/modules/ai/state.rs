//! The AI module's state (in `AppState::extensions`) and how a call finds its provider: the
//! workspace's own key when it stored one, else the server's configuration.

use std::{sync::Arc, time::Duration};

use uuid::Uuid;

use super::providers::{LlmProvider, ProviderRegistry, http_client};
use crate::{
    config::Secret, error::AppError, modules::InitContext, platform::ssrf, state::AppState,
};

pub struct AiState {
    pub registry: ProviderRegistry,
    /// SSRF-guarded client for the `http_fetch` tool (no redirects, bounded time).
    pub tool_http: reqwest::Client,
    /// The `vector` extension is installed: embeddings are ranked in SQL.
    pub pgvector: bool,
    /// Vectors for in-process ranking, when `pgvector` is false.
    pub vectors: super::knowledge::cache::VectorCache,
}

impl AiState {
    pub async fn build(ctx: &InitContext<'_>) -> anyhow::Result<AiState> {
        let settings = &ctx.settings.ai;
        let registry = ProviderRegistry::from_settings(settings, http_client(settings)?)?;
        let tool_http = ssrf::client(
            settings.tools.allow_private_targets,
            Duration::from_millis(settings.tools.http_timeout_ms),
            concat!("SmartFlow-Agent/", env!("CARGO_PKG_VERSION")),
        )?;
        let pgvector: bool = sqlx::query_scalar(
            "select exists (select 1 from information_schema.columns where table_schema = \
             'smartflow_ai' and table_name = 'chunks' and column_name = 'embedding_vector')",
        )
        .fetch_one(ctx.db)
        .await?;
        tracing::info!(
            pgvector,
            providers = ?registry.configured(),
            "AI module ready (vectors ranked {})",
            if pgvector { "by pgvector" } else { "in-process" }
        );
        Ok(AiState { registry, tool_http, pgvector, vectors: Default::default() })
    }
}

pub fn ai(state: &AppState) -> Result<&AiState, AppError> {
    state.ext::<AiState>()
}

/// A workspace's stored keys, decrypted, in the order they were configured.
async fn workspace_keys(
    state: &AppState,
    workspace: Uuid,
) -> Result<Vec<(String, Secret)>, AppError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select provider, encrypted_key from smartflow_ai.provider_keys where workspace_id = $1 \
         order by updated_at",
    )
    .bind(workspace)
    .fetch_all(&state.db)
    .await?;
    rows.into_iter()
        .map(|(provider, stored)| {
            let plain =
                state.cipher.decrypt(&stored, &key_context(workspace, &provider)).map_err(|e| {
                    AppError::internal(anyhow::anyhow!("provider key of {provider}: {e}"))
                })?;
            Ok((provider, Secret::new(plain)))
        })
        .collect()
}

/// Binds a stored key to its workspace and provider.
pub fn key_context(workspace: Uuid, provider: &str) -> String {
    format!("ai_provider_key:{workspace}:{provider}")
}

/// The chat provider for a call: `preferred` (an agent's choice) or the default chain, in the
/// `ai.fallback` order. A workspace key for a provider takes precedence over the server's.
pub async fn chat_provider(
    state: &AppState,
    workspace: Uuid,
    preferred: Option<&str>,
) -> Result<Arc<dyn LlmProvider>, AppError> {
    let ai = ai(state)?;
    let keys = workspace_keys(state, workspace).await?;
    if let Some(name) = preferred {
        if let Some((_, key)) = keys.iter().find(|(p, _)| p == name) {
            return Ok(ai.registry.with_key(name, key.clone())?);
        }
        return Ok(ai.registry.get(name)?);
    }
    if keys.is_empty() {
        return Ok(ai.registry.default_provider()?);
    }
    Ok(ai.registry.default_with_keys(&keys)?)
}

/// The provider embeddings come from, or `None` when nothing is configured (knowledge bases
/// then use full-text search alone).
pub async fn embedding_provider(
    state: &AppState,
    workspace: Uuid,
) -> Result<Option<Arc<dyn LlmProvider>>, AppError> {
    match chat_provider(state, workspace, None).await {
        Ok(p) => Ok(Some(p)),
        Err(AppError::ServiceUnavailable(_)) => Ok(None),
        Err(e) => Err(e),
    }
}
