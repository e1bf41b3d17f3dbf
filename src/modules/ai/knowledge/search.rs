//! Hybrid retrieval: full-text (`tsvector`) and vector similarity, each ranked on its own and
//! merged by reciprocal-rank fusion, with metadata filters and a score threshold. Without an
//! embedding provider (or vectors), full-text search alone answers.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::vectors::{self, EmbeddingModel, cosine, vector_literal};
use crate::{
    error::{AppError, Validator},
    modules::ai::{state::ai, usage::ledger::CallContext},
    state::AppState,
};

/// The condition that keeps chunk `c` only when one of its sources matches the metadata filter
/// (parameter `$filter`, `jsonb`) and the document list (parameter `$docs`, `uuid[]`); both
/// null keeps every chunk without looking at sources.
#[rustfmt::skip]
macro_rules! source_filter {
    ($filter:literal, $docs:literal) => {
        concat!(
            "(($", $filter, "::jsonb is null and $", $docs, "::uuid[] is null) or exists (",
            "select 1 from smartflow_ai.chunk_sources s where s.chunk_id = c.id ",
            "and ($", $filter, "::jsonb is null or s.metadata @> $", $filter, ") ",
            "and ($", $docs, "::uuid[] is null or s.document_id = any($", $docs, "))))"
        )
    };
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SearchInput {
    pub query: String,
    /// 1–50, default 5.
    pub top_k: Option<usize>,
    /// Only chunks whose metadata contains all of these pairs.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Map<String, Value>>,
    /// Only chunks of these documents.
    pub document_ids: Option<Vec<Uuid>>,
    /// 0–1: drop results whose fused score is lower. 1 is a chunk ranked first by every
    /// retriever; 0.5 first by one of two. Scores come from ranks alone, so this cannot tell
    /// a relevant chunk from the least bad one: `min_similarity` can.
    pub min_score: Option<f64>,
    /// 0–1: vector matches less similar than this (cosine) are dropped before fusion.
    /// Default `ai.knowledge.min_similarity`.
    pub min_similarity: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SearchHit {
    pub chunk_id: Uuid,
    pub document_id: Uuid,
    pub document_title: String,
    pub knowledge_base_id: Uuid,
    pub ordinal: i32,
    /// Character offsets of the chunk in the document's text.
    pub start_offset: i32,
    pub end_offset: i32,
    pub content: String,
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Fused score, 0–1.
    pub score: f64,
    /// 1-based rank in full-text search, when it found the chunk.
    pub text_rank: Option<usize>,
    /// 1-based rank by vector similarity, when vectors were searched.
    pub vector_rank: Option<usize>,
    pub similarity: Option<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    Hybrid,
    FullText,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchResult {
    /// `full_text` when no vectors could be compared (no embedding provider, or none stored).
    pub mode: SearchMode,
    pub hits: Vec<SearchHit>,
}

pub struct Query {
    pub text: String,
    pub top_k: usize,
    pub filter: Value,
    pub document_ids: Option<Vec<Uuid>>,
    pub min_score: f64,
    /// Vector matches below this cosine similarity do not take part.
    pub min_similarity: f64,
}

impl Query {
    /// `None` without filters, so the condition drops out of the plan instead of matching
    /// every chunk through the metadata index.
    fn filter_or_none(&self) -> Option<&Value> {
        self.filter.as_object().is_some_and(|f| !f.is_empty()).then_some(&self.filter)
    }
}

impl SearchInput {
    /// The query, with `default_similarity` when the caller set no `min_similarity`.
    pub fn parse(&self, default_similarity: f64) -> Result<Query, AppError> {
        let mut v = Validator::new();
        let text = self.query.trim().to_string();
        if text.is_empty() || text.chars().count() > 4_000 {
            v.add("query", "invalid_length", "Ask with 1 to 4,000 characters.");
        }
        let top_k = self.top_k.unwrap_or(5);
        if !(1..=50).contains(&top_k) {
            v.add("top_k", "out_of_range", "Use 1 to 50.");
        }
        let min_score = self.min_score.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&min_score) {
            v.add("min_score", "out_of_range", "Use a score from 0 to 1.");
        }
        let min_similarity = self.min_similarity.unwrap_or(default_similarity);
        if !(0.0..=1.0).contains(&min_similarity) {
            v.add("min_similarity", "out_of_range", "Use a similarity from 0 to 1.");
        }
        v.finish()?;
        Ok(Query {
            text,
            top_k,
            filter: Value::Object(self.filter.clone().unwrap_or_default()),
            document_ids: self.document_ids.clone(),
            min_score,
            min_similarity,
        })
    }
}

/// Ranks each list's items by position and merges: score = Σ 1 / (k + rank), normalised by
/// the best possible score over `lists` retrievers.
pub fn fuse(lists: &[Vec<Uuid>], k: u32) -> Vec<(Uuid, f64, Vec<Option<usize>>)> {
    let mut scores: HashMap<Uuid, (f64, Vec<Option<usize>>)> = HashMap::new();
    for (li, list) in lists.iter().enumerate() {
        for (i, id) in list.iter().enumerate() {
            let e = scores.entry(*id).or_insert_with(|| (0.0, vec![None; lists.len()]));
            e.0 += 1.0 / (f64::from(k) + (i + 1) as f64);
            e.1[li] = Some(i + 1);
        }
    }
    let best = lists.len().max(1) as f64 / (f64::from(k) + 1.0);
    let mut out: Vec<_> = scores.into_iter().map(|(id, (s, r))| (id, s / best, r)).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

#[derive(sqlx::FromRow)]
struct HitRow {
    id: Uuid,
    document_id: Uuid,
    title: String,
    knowledge_base_id: Uuid,
    ordinal: i32,
    start_offset: i32,
    end_offset: i32,
    content: String,
    metadata: Value,
}

/// Searches the knowledge bases `kbs` (already checked to be the workspace's).
pub async fn search(
    state: &AppState,
    ctx: &CallContext,
    kbs: &[Uuid],
    q: &Query,
) -> Result<SearchResult, AppError> {
    let n = state.settings.ai.knowledge.candidates as i64;
    let text_ids = text_candidates(state, ctx, kbs, q, n).await?;
    // Vector search always has nearest neighbours, related or not; the floor keeps unrelated
    // ones out (rank fusion alone would rate the least bad one as highly as a true match).
    let vector = vector_candidates(state, ctx, kbs, q, n).await?.map(|found| {
        found.into_iter().filter(|(_, s)| f64::from(*s) >= q.min_similarity).collect::<Vec<_>>()
    });
    let mut lists = vec![text_ids];
    let mut similarity: HashMap<Uuid, f32> = HashMap::new();
    let mode = match vector {
        Some(found) => {
            lists.push(found.iter().map(|(id, _)| *id).collect());
            similarity.extend(found);
            SearchMode::Hybrid
        }
        None => SearchMode::FullText,
    };
    let fused: Vec<_> = fuse(&lists, state.settings.ai.knowledge.rrf_k)
        .into_iter()
        .filter(|(_, score, _)| *score >= q.min_score)
        .take(q.top_k)
        .collect();
    let ids: Vec<Uuid> = fused.iter().map(|(id, _, _)| *id).collect();
    // A chunk shared by several documents is shown in the oldest one the filters admit.
    let rows: Vec<HitRow> = sqlx::query_as(
        "select distinct on (c.id) c.id, s.document_id, d.title, c.knowledge_base_id, s.ordinal, \
         s.start_offset, s.end_offset, c.content, s.metadata from smartflow_ai.chunks c \
         join smartflow_ai.chunk_sources s on s.chunk_id = c.id \
         join smartflow_ai.documents d on d.id = s.document_id \
         where c.id = any($1) and c.workspace_id = $2 \
         and ($3::jsonb is null or s.metadata @> $3) and ($4::uuid[] is null or s.document_id = any($4)) \
         order by c.id, d.created_at, d.id",
    )
    .bind(&ids)
    .bind(ctx.workspace)
    .bind(q.filter_or_none())
    .bind(&q.document_ids)
    .fetch_all(&state.db)
    .await?;
    let mut by_id: HashMap<Uuid, HitRow> = rows.into_iter().map(|r| (r.id, r)).collect();
    let hits = fused
        .into_iter()
        .filter_map(|(id, score, ranks)| {
            let r = by_id.remove(&id)?;
            Some(SearchHit {
                chunk_id: r.id,
                document_id: r.document_id,
                document_title: r.title,
                knowledge_base_id: r.knowledge_base_id,
                ordinal: r.ordinal,
                start_offset: r.start_offset,
                end_offset: r.end_offset,
                content: r.content,
                metadata: r.metadata,
                score,
                text_rank: ranks[0],
                vector_rank: ranks.get(1).copied().flatten(),
                similarity: similarity.get(&id).copied(),
            })
        })
        .collect();
    Ok(SearchResult { mode, hits })
}

/// Chunks matching any word of the query, best `ts_rank_cd` first. The query is turned into a
/// `tsquery` once per text search configuration and passed as a constant, so the GIN index is
/// used (a query computed in a join made the planner scan every chunk).
async fn text_candidates(
    state: &AppState,
    ctx: &CallContext,
    kbs: &[Uuid],
    q: &Query,
    n: i64,
) -> Result<Vec<Uuid>, AppError> {
    let groups: Vec<(String, Vec<Uuid>, String)> = sqlx::query_as(
        "select language::text, array_agg(id), \
         replace(plainto_tsquery(language, $3)::text, ' & ', ' | ') \
         from smartflow_ai.knowledge_bases where id = any($1) and workspace_id = $2 group by language",
    )
    .bind(kbs)
    .bind(ctx.workspace)
    .bind(&q.text)
    .fetch_all(&state.db)
    .await?;
    let mut ranked: Vec<(Uuid, f32)> = Vec::new();
    // The planner does not cost reading each chunk's out-of-line `tsv`, so on a small heap it
    // prefers testing every chunk (50 ms on 10,000) to the GIN index (12 ms): steer it.
    let mut tx = state.db.begin().await?;
    sqlx::query("set local enable_seqscan = off").execute(&mut *tx).await?;
    for (_, ids, tsquery) in groups {
        if tsquery.trim().is_empty() {
            continue; // only stop words
        }
        let rows: Vec<(Uuid, f32)> = sqlx::query_as(concat!(
            "select c.id, ts_rank_cd(c.tsv, $3::tsquery) as rank from smartflow_ai.chunks c \
             where c.knowledge_base_id = any($1) and c.workspace_id = $2 and c.tsv @@ $3::tsquery and ",
            source_filter!(4, 5),
            " order by rank desc, c.id limit $6",
        ))
        // Planned with the real query each time: a cached generic plan cannot know how
        // selective the words are and scanned every chunk.
        .persistent(false)
        .bind(&ids)
        .bind(ctx.workspace)
        .bind(&tsquery)
        .bind(q.filter_or_none())
        .bind(&q.document_ids)
        .bind(n)
        .fetch_all(&mut *tx)
        .await?;
        ranked.extend(rows);
    }
    tx.commit().await?;
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(n as usize);
    Ok(ranked.into_iter().map(|(id, _)| id).collect())
}

/// Chunks most similar to the query, or `None` when vectors cannot be compared.
async fn vector_candidates(
    state: &AppState,
    ctx: &CallContext,
    kbs: &[Uuid],
    q: &Query,
    n: i64,
) -> Result<Option<Vec<(Uuid, f32)>>, AppError> {
    let models: Vec<(Uuid, String, String, i32, i64)> = sqlx::query_as(
        "select id, embedding_provider, embedding_model, embedding_dimensions, revision from smartflow_ai.knowledge_bases \
         where id = any($1) and workspace_id = $2 and embedding_model is not null",
    )
    .bind(kbs)
    .bind(ctx.workspace)
    .fetch_all(&state.db)
    .await?;
    if models.is_empty() {
        return Ok(None);
    }
    let (model, query_vector) = match vectors::embed(state, ctx, vec![q.text.clone()]).await {
        Ok(Some((model, mut v))) if !v.is_empty() => (model, v.swap_remove(0)),
        Ok(_) => return Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "query embedding failed; full-text search only");
            return Ok(None);
        }
    };
    let same: Vec<(Uuid, i64)> = models
        .iter()
        .filter(|(_, p, m, d, _)| {
            EmbeddingModel { provider: p.clone(), model: m.clone(), dimensions: *d } == model
        })
        .map(|(id, _, _, _, revision)| (*id, *revision))
        .collect();
    let same_ids: Vec<Uuid> = same.iter().map(|(id, _)| *id).collect();
    if same.is_empty() {
        return Ok(None);
    }
    if ai(state)?.pgvector {
        let rows: Vec<(Uuid, f64)> = sqlx::query_as(concat!(
            "select c.id, 1 - (c.embedding_vector <=> $3::vector) as similarity from smartflow_ai.chunks c \
             where c.knowledge_base_id = any($1) and c.workspace_id = $2 and c.embedding_vector is not null and ",
            source_filter!(4, 5),
            " order by c.embedding_vector <=> $3::vector, c.id limit $6",
        ))
        .persistent(false)
        .bind(&same_ids)
        .bind(ctx.workspace)
        .bind(vector_literal(&query_vector))
        .bind(q.filter_or_none())
        .bind(&q.document_ids)
        .bind(n)
        .fetch_all(&state.db)
        .await?;
        return Ok(Some(rows.into_iter().map(|(id, s)| (id, s as f32)).collect()));
    }
    let unfiltered = q.filter.as_object().is_none_or(|f| f.is_empty()) && q.document_ids.is_none();
    if unfiltered && state.settings.ai.knowledge.vector_cache_mb > 0 {
        let mut scored = Vec::new();
        for (kb, revision) in same {
            let vectors = ai(state)?.vectors.load(state, kb, revision).await?;
            scored.extend(vectors.rank(&query_vector, n as usize));
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        scored.truncate(n as usize);
        return Ok(Some(scored));
    }
    let rows: Vec<(Uuid, Vec<f32>)> = sqlx::query_as(concat!(
        "select c.id, c.embedding from smartflow_ai.chunks c \
         where c.knowledge_base_id = any($1) and c.workspace_id = $2 and c.embedding is not null and ",
        source_filter!(3, 4),
    ))
    .bind(&same_ids)
    .bind(ctx.workspace)
    .bind(q.filter_or_none())
    .bind(&q.document_ids)
    .fetch_all(&state.db)
    .await?;
    let mut scored: Vec<(Uuid, f32)> =
        rows.into_iter().map(|(id, e)| (id, cosine(&query_vector, &e))).collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    scored.truncate(n as usize);
    Ok(Some(scored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reciprocal_rank_fusion_rewards_agreement() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let fused = fuse(&[vec![a, b], vec![b, c]], 60);
        assert_eq!(fused[0].0, b, "second in one list and first in the other beats first in one");
        assert_eq!(fused[0].2, vec![Some(2), Some(1)]);
        let alone = fuse(&[vec![a]], 60);
        assert!((alone[0].1 - 1.0).abs() < 1e-9, "first of the only list scores 1");
        let half = fuse(&[vec![a], vec![]], 60);
        assert!((half[0].1 - 0.5).abs() < 1e-9);
    }
}
