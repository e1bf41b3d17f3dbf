//! The `ai.knowledge.ingest` job: extracts a document's text, splits it into chunks, links
//! chunks the knowledge base already has instead of storing their text again, and embeds the
//! new ones.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    chunking,
    extract::{self, SourceFormat},
    vectors,
};
use crate::{
    modules::ai::{state::ai, usage::ledger::CallContext},
    platform::{
        events::{Actor, Event, record_event},
        jobs::{Job, JobContext, JobError, JobResult, Outcome},
        uploads,
    },
    state::AppState,
};

#[derive(Debug, Serialize, Deserialize)]
pub struct IngestDocument {
    pub document_id: Uuid,
    pub workspace_id: Uuid,
}

#[derive(sqlx::FromRow)]
struct Loaded {
    knowledge_base_id: Uuid,
    source: String,
    upload_id: Option<Uuid>,
    content: String,
    metadata: Value,
    language: String,
    created_by: Option<Uuid>,
}

#[async_trait]
impl Job for IngestDocument {
    const KIND: &'static str = "ai.knowledge.ingest";
    const QUEUE: &'static str = "ai";
    const MAX_ATTEMPTS: i32 = 6;

    fn timeout() -> Duration {
        Duration::from_secs(900)
    }

    async fn run(self, ctx: JobContext) -> JobResult {
        let state = &ctx.state;
        let doc: Option<Loaded> = sqlx::query_as(
            "update smartflow_ai.documents d set status = 'processing', updated_at = now() \
             from smartflow_ai.knowledge_bases kb \
             where d.id = $1 and d.workspace_id = $2 and kb.id = d.knowledge_base_id \
             returning d.knowledge_base_id, d.source, d.upload_id, d.content, d.metadata, kb.language::text as language, d.created_by",
        )
        .bind(self.document_id)
        .bind(self.workspace_id)
        .fetch_optional(&state.db)
        .await?;
        let Some(doc) = doc else {
            return Ok(Outcome::Cancel("the document was deleted".into()));
        };
        let text = match doc.upload_id {
            Some(upload) => match self.extract_upload(state, upload, &doc.source).await {
                Ok(text) => text,
                Err(message) => return self.fail(state, &message).await,
            },
            None => doc.content.clone(),
        };
        let max = state.settings.ai.knowledge.max_document_chars;
        if text.chars().count() > max {
            return self
                .fail(
                    state,
                    &format!(
                        "the text has more than {max} characters (ai.knowledge.max_document_chars)"
                    ),
                )
                .await;
        }
        let k = &state.settings.ai.knowledge;
        let chunks = chunking::split(&text, k.chunk_chars, k.chunk_overlap_chars);
        let inserted = self.store_chunks(state, &doc, &chunks).await?;
        let note = self.embed(state, &doc, &inserted).await?;
        let mut tx = state.db.begin().await?;
        sqlx::query(
            "update smartflow_ai.documents set status = 'ready', error = $3, chunk_count = $4, \
             duplicate_chunks = $5, updated_at = now() where id = $1 and workspace_id = $2",
        )
        .bind(self.document_id)
        .bind(self.workspace_id)
        .bind(&note)
        .bind(chunks.len() as i32)
        .bind((chunks.len() - inserted.len()) as i32)
        .execute(&mut *tx)
        .await?;
        let event = Event::new(
            "ai.document.ready",
            "document",
            self.document_id,
            json!({
                "knowledge_base_id": doc.knowledge_base_id, "chunks": chunks.len(),
                "duplicate_chunks": chunks.len() - inserted.len(), "note": note,
            }),
        );
        record_event(
            &mut tx,
            &Actor::system("ai.knowledge.ingest"),
            event.workspace(self.workspace_id).unaudited(),
        )
        .await?;
        tx.commit().await?;
        Ok(Outcome::Done)
    }
}

impl IngestDocument {
    async fn fail(&self, state: &AppState, message: &str) -> JobResult {
        sqlx::query(
            "update smartflow_ai.documents set status = 'failed', error = $3, updated_at = now() \
             where id = $1 and workspace_id = $2",
        )
        .bind(self.document_id)
        .bind(self.workspace_id)
        .bind(message)
        .execute(&state.db)
        .await?;
        Ok(Outcome::Cancel(message.to_string()))
    }

    /// The upload's text (stored on the document, so offsets stay meaningful), or why not.
    async fn extract_upload(
        &self,
        state: &AppState,
        upload: Uuid,
        source: &str,
    ) -> Result<String, String> {
        let upload = uploads::find(state, self.workspace_id, upload)
            .await
            .map_err(|_| "the upload was deleted".to_string())?;
        let format = if source == "pdf" {
            Some(SourceFormat::Pdf)
        } else {
            SourceFormat::of_content_type(&upload.content_type)
        };
        let format = format.ok_or_else(|| format!("{} files have no text", upload.content_type))?;
        let bytes = state
            .storage
            .get(&upload.storage_key)
            .await
            .map_err(|e| format!("the file could not be read: {e}"))?;
        let text = extract::extract(format, bytes).await.map_err(|e| e.to_string())?;
        sqlx::query(
            "update smartflow_ai.documents set content = $2, char_count = $3 where id = $1",
        )
        .bind(self.document_id)
        .bind(&text)
        .bind(i32::try_from(text.chars().count()).unwrap_or(i32::MAX))
        .execute(&state.db)
        .await
        .map_err(|e| format!("the text could not be stored: {e}"))?;
        Ok(text)
    }

    /// Replaces the document's chunks; returns the ids and texts of the chunks whose text was
    /// new to the knowledge base (text it already had is linked, not stored again).
    async fn store_chunks(
        &self,
        state: &AppState,
        doc: &Loaded,
        chunks: &[chunking::Chunk],
    ) -> Result<Vec<(Uuid, String)>, JobError> {
        let ordinals: Vec<i32> = (0..chunks.len() as i32).collect();
        let contents: Vec<&str> = chunks.iter().map(|c| c.content.as_str()).collect();
        let hashes: Vec<&str> = chunks.iter().map(|c| c.hash.as_str()).collect();
        let starts: Vec<i32> = chunks.iter().map(|c| c.start as i32).collect();
        let ends: Vec<i32> = chunks.iter().map(|c| c.end as i32).collect();
        let mut tx = state.db.begin().await?;
        // An earlier attempt's chunks.
        detach_chunks(&mut tx, self.workspace_id, self.document_id).await?;
        let inserted: Vec<(Uuid, String)> = sqlx::query_as(
            "insert into smartflow_ai.chunks (knowledge_base_id, workspace_id, content, content_hash, language) \
             select $1, $2, c, h, $3::regconfig from unnest($4::text[], $5::text[]) as t(c, h) \
             on conflict (knowledge_base_id, content_hash) do nothing returning id, content",
        )
        .bind(doc.knowledge_base_id)
        .bind(self.workspace_id)
        .bind(&doc.language)
        .bind(&contents)
        .bind(&hashes)
        .fetch_all(&mut *tx)
        .await?;
        // Every chunk of the document, new or shared, with this document's offsets and metadata.
        sqlx::query(
            "insert into smartflow_ai.chunk_sources (document_id, ordinal, chunk_id, knowledge_base_id, \
             workspace_id, start_offset, end_offset, metadata) \
             select $1, t.o, c.id, $2, $3, t.s, t.e, $4 \
             from unnest($5::int[], $6::text[], $7::int[], $8::int[]) as t(o, h, s, e) \
             join smartflow_ai.chunks c on c.knowledge_base_id = $2 and c.content_hash = t.h",
        )
        .bind(self.document_id)
        .bind(doc.knowledge_base_id)
        .bind(self.workspace_id)
        .bind(&doc.metadata)
        .bind(&ordinals)
        .bind(&hashes)
        .bind(&starts)
        .bind(&ends)
        .execute(&mut *tx)
        .await?;
        super::cache::bump(&mut *tx, doc.knowledge_base_id).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    /// Embeds the new chunks; a note when vectors were skipped (search then uses full text).
    async fn embed(
        &self,
        state: &AppState,
        doc: &Loaded,
        chunks: &[(Uuid, String)],
    ) -> Result<Option<String>, JobError> {
        let pgvector = ai(state).map_err(|e| anyhow::anyhow!("{e}"))?.pgvector;
        let ctx = CallContext {
            workspace: self.workspace_id,
            user: doc.created_by,
            ..CallContext::default()
        };
        for batch in chunks.chunks(state.settings.ai.knowledge.embedding_batch) {
            let texts = batch.iter().map(|(_, t)| t.clone()).collect();
            let (model, vectors) = match vectors::embed(state, &ctx, texts).await {
                Ok(Some(found)) => found,
                Ok(None) => {
                    return Ok(Some(
                        "no embedding provider is configured: full-text search only".into(),
                    ));
                }
                Err(e) if e.falls_back() => {
                    let wait = e.retry_after().unwrap_or(Duration::from_secs(30));
                    return Err(JobError::retry_after(
                        anyhow::anyhow!("embedding failed: {e}"),
                        wait,
                    ));
                }
                Err(e) => return Ok(Some(format!("embeddings skipped: {e}"))),
            };
            let kb_model = vectors::claim_model(state, doc.knowledge_base_id, &model).await?;
            if kb_model != model {
                return Ok(Some(format!(
                    "embeddings skipped: the knowledge base uses {}/{} and the provider answered with {}/{}",
                    kb_model.provider, kb_model.model, model.provider, model.model
                )));
            }
            let items: Vec<(Uuid, Vec<f32>)> =
                batch.iter().map(|(id, _)| *id).zip(vectors).collect();
            vectors::store(state, pgvector, &items).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(None)
    }
}

/// Unlinks a document from its chunks and deletes those no other document uses (a chunk
/// stays while another document has the same text).
pub async fn detach_chunks(
    conn: &mut sqlx::PgConnection,
    workspace: Uuid,
    document: Uuid,
) -> Result<(), sqlx::Error> {
    let chunks: Vec<Uuid> = sqlx::query_scalar(
        "delete from smartflow_ai.chunk_sources where document_id = $1 and workspace_id = $2 \
         returning chunk_id",
    )
    .bind(document)
    .bind(workspace)
    .fetch_all(&mut *conn)
    .await?;
    delete_orphans(conn, workspace, &chunks).await
}

/// Deletes those of `chunks` that no document uses any more.
async fn delete_orphans(
    conn: &mut sqlx::PgConnection,
    workspace: Uuid,
    chunks: &[Uuid],
) -> Result<(), sqlx::Error> {
    if chunks.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "delete from smartflow_ai.chunks c where c.id = any($1) and c.workspace_id = $2 \
         and not exists (select 1 from smartflow_ai.chunk_sources s where s.chunk_id = c.id)",
    )
    .bind(chunks)
    .bind(workspace)
    .execute(conn)
    .await
    .map(|_| ())
}
