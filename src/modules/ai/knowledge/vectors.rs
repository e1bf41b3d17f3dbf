//! Embeddings of chunks: made by the configured provider, stored as `real[]` (and as pgvector
//! `vector` where the extension exists), compared by cosine similarity.

use std::sync::Arc;

use uuid::Uuid;

use crate::{
    error::AppError,
    modules::ai::{
        providers::{EmbedRequest, LlmProvider, Operation, ProviderError},
        state::embedding_provider,
        usage::ledger::{self, CallContext},
    },
    state::AppState,
};

/// The model a knowledge base's vectors come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingModel {
    pub provider: String,
    pub model: String,
    pub dimensions: i32,
}

/// Vectors for `texts` from the workspace's embedding provider, with the model that made them.
/// `Ok(None)` when no provider can embed (full-text search still works).
pub async fn embed(
    state: &AppState,
    ctx: &CallContext,
    texts: Vec<String>,
) -> Result<Option<(EmbeddingModel, Vec<Vec<f32>>)>, ProviderError> {
    let provider: Option<Arc<dyn LlmProvider>> = embedding_provider(state, ctx.workspace)
        .await
        .map_err(|e| ProviderError::Unavailable { message: e.to_string() })?;
    let Some(provider) = provider else { return Ok(None) };
    let targets = provider.targets(Operation::Embedding, None);
    if let Err(e) = ledger::ensure_budget(state, ctx.workspace, &targets).await {
        let detail = e.problem().detail.unwrap_or_default();
        return Err(ProviderError::InvalidRequest { message: detail });
    }
    let res = match provider
        .embed(&EmbedRequest { model: None, inputs: texts, dimensions: None })
        .await
    {
        Ok(res) => res,
        Err(ProviderError::Unsupported { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    if let Err(e) = ledger::record(state, ctx, "embedding", &res.usage, false).await {
        tracing::error!(error = %e, "embedding usage not recorded");
    }
    let dimensions = res.vectors.first().map_or(0, |v| v.len());
    let model = EmbeddingModel {
        provider: res.usage.provider.clone(),
        model: res.usage.model.clone(),
        dimensions: i32::try_from(dimensions).unwrap_or(0),
    };
    Ok(Some((model, res.vectors)))
}

/// Claims `model` for the knowledge base if it has none yet; returns the one it uses.
pub async fn claim_model(
    state: &AppState,
    kb: Uuid,
    model: &EmbeddingModel,
) -> Result<EmbeddingModel, sqlx::Error> {
    let (provider, name, dims): (String, String, i32) = sqlx::query_as(
        "update smartflow_ai.knowledge_bases set embedding_provider = coalesce(embedding_provider, $2), \
         embedding_model = coalesce(embedding_model, $3), embedding_dimensions = coalesce(embedding_dimensions, $4) \
         where id = $1 returning embedding_provider, embedding_model, embedding_dimensions",
    )
    .bind(kb)
    .bind(&model.provider)
    .bind(&model.model)
    .bind(model.dimensions)
    .fetch_one(&state.db)
    .await?;
    Ok(EmbeddingModel { provider, model: name, dimensions: dims })
}

fn array_literal(v: &[f32], open: char, close: char) -> String {
    let mut s = String::with_capacity(v.len() * 10 + 2);
    s.push(open);
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&x.to_string());
    }
    s.push(close);
    s
}

/// pgvector's text form of a vector.
pub fn vector_literal(v: &[f32]) -> String {
    array_literal(v, '[', ']')
}

/// Stores one vector per chunk id.
pub async fn store(
    state: &AppState,
    pgvector: bool,
    items: &[(Uuid, Vec<f32>)],
) -> Result<(), AppError> {
    let ids: Vec<Uuid> = items.iter().map(|(id, _)| *id).collect();
    let arrays: Vec<String> = items.iter().map(|(_, v)| array_literal(v, '{', '}')).collect();
    let sql = if pgvector {
        "update smartflow_ai.chunks c set embedding = v.e::real[], embedding_vector = v.e::real[]::vector \
         from unnest($1::uuid[], $2::text[]) as v(id, e) where c.id = v.id returning c.knowledge_base_id"
    } else {
        "update smartflow_ai.chunks c set embedding = v.e::real[] \
         from unnest($1::uuid[], $2::text[]) as v(id, e) where c.id = v.id returning c.knowledge_base_id"
    };
    let mut tx = state.db.begin().await?;
    let kbs: Vec<Uuid> =
        sqlx::query_scalar(sql).bind(&ids).bind(&arrays).fetch_all(&mut *tx).await?;
    let mut kbs = kbs;
    kbs.sort();
    kbs.dedup();
    for kb in kbs {
        super::cache::bump(&mut *tx, kb).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na.sqrt() * nb.sqrt()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_of_parallel_orthogonal_and_mismatched() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 1.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 2.0]), 0.0);
        assert_eq!(vector_literal(&[0.5, -1.0]), "[0.5,-1]");
    }
}
