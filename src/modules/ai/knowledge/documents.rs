//! Documents of a knowledge base: added as text, Markdown, HTML or an upload (PDF or text
//! file), then chunked and embedded by the `ai.knowledge.ingest` job.

use actix_web::{HttpResponse, delete, get, post, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    chunking::content_hash,
    extract::{SourceFormat, from_text},
    ingest::IngestDocument,
    repo::{self, ChunkView, DOC_COLUMNS, Document},
};
use crate::{
    error::{AppError, Validator},
    modules::ai::agents::routes::{ListQuery, page_limit},
    platform::{
        auth::{Authorized, Read, Write},
        events::{Event, record_event},
        jobs, uploads,
    },
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct DocumentInput {
    /// Shown in citations; defaults to the upload's file name or the first line.
    pub title: Option<String>,
    /// The text itself (with `format`); or give `upload_id`.
    pub content: Option<String>,
    /// Format of `content`: `text` (default), `markdown` or `html`.
    pub format: Option<SourceFormat>,
    /// A file from `POST /api/uploads`: PDF, text, Markdown or HTML.
    pub upload_id: Option<Uuid>,
    /// Copied to every chunk; search can filter on it (`filter`).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

fn title_from(text: &str) -> String {
    let first = text.lines().map(|l| l.trim_start_matches('#').trim()).find(|l| !l.is_empty());
    first.unwrap_or("Untitled").chars().take(120).collect()
}

/// Adds a document; it is chunked and embedded in the background (202, status `pending`). The
/// same content twice in one knowledge base answers 409 with the existing document's id.
#[utoipa::path(tag = "ai", params(("id" = Uuid, Path)), request_body = DocumentInput, responses((status = 202, body = Document), (status = 404), (status = 409), (status = 422)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[post("/api/knowledge/{id}/documents")]
pub async fn create_document(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    id: web::Path<Uuid>,
    body: web::Json<DocumentInput>,
) -> Result<HttpResponse, AppError> {
    let kb = repo::find_kb(&state, who.workspace_id, *id).await?;
    // Adding changes the knowledge base (and every agent answering from it).
    who.ensure_can_edit(kb.created_by)?;
    let mut v = Validator::new();
    let limit = state.settings.ai.knowledge.max_document_chars;
    let (source, text, hash, upload_id, default_title) = match (&body.content, body.upload_id) {
        (Some(content), None) => {
            let format = body.format.unwrap_or(SourceFormat::Text);
            if format == SourceFormat::Pdf {
                v.add(
                    "format",
                    "unsupported",
                    "Upload PDFs with POST /api/uploads and pass `upload_id`.",
                );
            }
            let text = from_text(format, content);
            if text.trim().is_empty() {
                v.add("content", "empty", "The document has no text.");
            } else if text.chars().count() > limit {
                v.add("content", "too_long", format!("Documents may have at most {limit} characters (ai.knowledge.max_document_chars)."));
            }
            let title = title_from(&text);
            (format.as_str().to_string(), text.clone(), content_hash(&text), None, title)
        }
        (None, Some(upload_id)) => {
            let upload =
                uploads::find(&state, who.workspace_id, upload_id).await.map_err(|_| {
                    AppError::validation(
                        "upload_id",
                        "not_found",
                        "There is no such upload in this workspace.",
                    )
                })?;
            let source = match SourceFormat::of_content_type(&upload.content_type) {
                Some(SourceFormat::Pdf) => "pdf",
                Some(_) => "upload",
                None => {
                    v.add("upload_id", "unsupported_type", format!("A {} file has no text to index; upload a PDF, text, Markdown or HTML file.", upload.content_type));
                    "upload"
                }
            };
            // Files are told apart by their bytes; the text comes out in the job.
            (
                source.to_string(),
                String::new(),
                format!("file:{}", upload.sha256),
                Some(upload.id),
                upload.filename.clone(),
            )
        }
        _ => {
            v.add("content", "one_of", "Send either `content` (with `format`) or `upload_id`.");
            (String::new(), String::new(), String::new(), None, String::new())
        }
    };
    let title = body
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .unwrap_or(default_title);
    if title.chars().count() > 500 {
        v.add("title", "too_long", "Use at most 500 characters.");
    }
    v.finish()?;
    let existing: Option<Uuid> = sqlx::query_scalar(
        "select id from smartflow_ai.documents where knowledge_base_id = $1 and content_hash = $2",
    )
    .bind(kb.id)
    .bind(&hash)
    .fetch_optional(&state.db)
    .await?;
    if let Some(existing) = existing {
        return Err(AppError::Conflict(format!(
            "This knowledge base already has this content as document {existing}."
        )));
    }
    let metadata = Value::Object(body.metadata.clone().unwrap_or_default());
    let mut tx = state.db.begin().await?;
    let doc: Document = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into smartflow_ai.documents (knowledge_base_id, workspace_id, title, source, upload_id, content, content_hash, metadata, char_count, created_by) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict (knowledge_base_id, content_hash) do nothing returning {DOC_COLUMNS}"
    )))
    .bind(kb.id)
    .bind(who.workspace_id)
    .bind(&title)
    .bind(&source)
    .bind(upload_id)
    .bind(&text)
    .bind(&hash)
    .bind(&metadata)
    .bind(i32::try_from(text.chars().count()).unwrap_or(i32::MAX))
    .bind(who.user_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::Conflict("This knowledge base already has this content.".into()))?;
    jobs::enqueue(&mut tx, &IngestDocument { document_id: doc.id, workspace_id: who.workspace_id })
        .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new(
            "ai.document.created",
            "document",
            doc.id,
            json!({ "knowledge_base_id": kb.id, "title": title, "source": source }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Accepted().json(doc))
}

/// Documents of a knowledge base, newest first.
#[utoipa::path(tag = "ai", params(("id" = Uuid, Path), ListQuery), responses((status = 200, body = Vec<Document>), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/knowledge/{id}/documents")]
pub async fn list_documents(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let kb = repo::find_kb(&state, who.workspace_id, *id).await?;
    let docs: Vec<Document> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {DOC_COLUMNS} from smartflow_ai.documents where knowledge_base_id = $1 and workspace_id = $2 \
         and ($3::timestamptz is null or created_at < $3) order by created_at desc limit $4"
    )))
    .bind(kb.id)
    .bind(who.workspace_id)
    .bind(q.before)
    .bind(page_limit(q.limit)?)
    .fetch_all(&state.db)
    .await?;
    Ok(HttpResponse::Ok().json(docs))
}

/// One document and its processing status.
#[utoipa::path(tag = "ai", params(("id" = Uuid, Path), ("document_id" = Uuid, Path)), responses((status = 200, body = Document), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/knowledge/{id}/documents/{document_id}")]
pub async fn get_document(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, AppError> {
    let (kb, doc) = path.into_inner();
    Ok(HttpResponse::Ok().json(repo::find_document(&state, who.workspace_id, kb, doc).await?))
}

/// The chunks a document was split into, in order, with their offsets.
#[utoipa::path(tag = "ai", params(("id" = Uuid, Path), ("document_id" = Uuid, Path)), responses((status = 200, body = Vec<ChunkView>), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/knowledge/{id}/documents/{document_id}/chunks")]
pub async fn list_document_chunks(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, AppError> {
    let (kb, doc) = path.into_inner();
    let doc = repo::find_document(&state, who.workspace_id, kb, doc).await?;
    Ok(HttpResponse::Ok().json(repo::chunks_of(&state, who.workspace_id, doc.id).await?))
}

/// Removes a document and the chunks no other document shares (admins, or the user who
/// added it).
#[utoipa::path(tag = "ai", params(("id" = Uuid, Path), ("document_id" = Uuid, Path)), responses((status = 204), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[delete("/api/knowledge/{id}/documents/{document_id}")]
pub async fn delete_document(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, AppError> {
    let (kb, doc) = path.into_inner();
    let doc = repo::find_document(&state, who.workspace_id, kb, doc).await?;
    who.ensure_can_delete(doc.created_by)?;
    let mut tx = state.db.begin().await?;
    super::ingest::detach_chunks(&mut tx, who.workspace_id, doc.id).await?;
    sqlx::query("delete from smartflow_ai.documents where id = $1 and workspace_id = $2")
        .bind(doc.id)
        .bind(who.workspace_id)
        .execute(&mut *tx)
        .await?;
    super::cache::bump(&mut *tx, kb).await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new(
            "ai.document.deleted",
            "document",
            doc.id,
            json!({ "knowledge_base_id": kb, "title": doc.title }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
