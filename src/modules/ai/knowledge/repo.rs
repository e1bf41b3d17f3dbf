//! Knowledge bases and documents in PostgreSQL, always filtered by workspace.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{error::AppError, state::AppState};

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct KnowledgeBase {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// PostgreSQL text search configuration of its full-text index.
    pub language: String,
    /// Model of its vectors (set by the first embedding); `null`: full-text search only.
    pub embedding_model: Option<String>,
    pub embedding_provider: Option<String>,
    pub embedding_dimensions: Option<i32>,
    pub document_count: i64,
    pub chunk_count: i64,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const KB_SELECT: &str = "select kb.id, kb.name, kb.description, kb.language::text as language, \
    kb.embedding_model, kb.embedding_provider, kb.embedding_dimensions, \
    (select count(*) from smartflow_ai.documents d where d.knowledge_base_id = kb.id) as document_count, \
    (select count(*) from smartflow_ai.chunks c where c.knowledge_base_id = kb.id) as chunk_count, \
    kb.created_by, kb.created_at, kb.updated_at from smartflow_ai.knowledge_bases kb";

pub async fn find_kb(
    state: &AppState,
    workspace: Uuid,
    id: Uuid,
) -> Result<KnowledgeBase, AppError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{KB_SELECT} where kb.id = $1 and kb.workspace_id = $2"
    )))
    .bind(id)
    .bind(workspace)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| AppError::not_found("Knowledge base"))
}

/// The id of a knowledge base of the workspace (no counts: cheap enough for every search).
pub async fn kb_id(state: &AppState, workspace: Uuid, id: Uuid) -> Result<Uuid, AppError> {
    sqlx::query_scalar(
        "select id from smartflow_ai.knowledge_bases where id = $1 and workspace_id = $2",
    )
    .bind(id)
    .bind(workspace)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| AppError::not_found("Knowledge base"))
}

pub async fn list_kbs(
    state: &AppState,
    workspace: Uuid,
    before: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<KnowledgeBase>, AppError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{KB_SELECT} where kb.workspace_id = $1 and ($2::timestamptz is null or kb.created_at < $2) \
         order by kb.created_at desc limit $3"
    )))
    .bind(workspace)
    .bind(before)
    .bind(limit)
    .fetch_all(&state.db)
    .await?)
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Document {
    pub id: Uuid,
    pub knowledge_base_id: Uuid,
    pub title: String,
    /// `text`, `markdown`, `html`, `pdf` or `upload` (a text file).
    pub source: String,
    pub upload_id: Option<Uuid>,
    pub content_hash: String,
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// `pending` → `processing` → `ready` | `failed`.
    pub status: String,
    /// Why it failed, or a note (e.g. embeddings skipped).
    pub error: Option<String>,
    pub char_count: i32,
    /// Chunks the text was split into, shared ones included.
    pub chunk_count: i32,
    /// Of `chunk_count`, those whose text the knowledge base already had (stored once, shared).
    pub duplicate_chunks: i32,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const DOC_COLUMNS: &str = "id, knowledge_base_id, title, source, upload_id, content_hash, \
    metadata, status, error, char_count, chunk_count, duplicate_chunks, created_by, created_at, updated_at";

pub async fn find_document(
    state: &AppState,
    workspace: Uuid,
    kb: Uuid,
    id: Uuid,
) -> Result<Document, AppError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {DOC_COLUMNS} from smartflow_ai.documents \
         where id = $1 and knowledge_base_id = $2 and workspace_id = $3"
    )))
    .bind(id)
    .bind(kb)
    .bind(workspace)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| AppError::not_found("Document"))
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct ChunkView {
    pub id: Uuid,
    pub ordinal: i32,
    pub content: String,
    pub start_offset: i32,
    pub end_offset: i32,
    /// Whether a vector was stored for it.
    pub embedded: bool,
}

pub async fn chunks_of(
    state: &AppState,
    workspace: Uuid,
    document: Uuid,
) -> Result<Vec<ChunkView>, AppError> {
    Ok(sqlx::query_as(
        "select c.id, s.ordinal, c.content, s.start_offset, s.end_offset, \
         c.embedding is not null as embedded from smartflow_ai.chunk_sources s \
         join smartflow_ai.chunks c on c.id = s.chunk_id \
         where s.document_id = $1 and s.workspace_id = $2 order by s.ordinal",
    )
    .bind(document)
    .bind(workspace)
    .fetch_all(&state.db)
    .await?)
}

/// Whether PostgreSQL knows the text search configuration `name`.
pub async fn language_exists(state: &AppState, name: &str) -> Result<bool, AppError> {
    Ok(sqlx::query_scalar("select exists (select 1 from pg_ts_config where cfgname = $1)")
        .bind(name)
        .fetch_one(&state.db)
        .await?)
}
