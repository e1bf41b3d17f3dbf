//! `POST /api/knowledge` (the seed's) and the rest of a knowledge base's life; documents are in
//! `documents.rs`, search in `search.rs`.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::repo::{self, KnowledgeBase};
use crate::{
    error::{AppError, Validator},
    modules::ai::agents::routes::{ListQuery, page_limit},
    platform::{
        auth::{Authorized, Read, Write},
        events::{Event, record_event},
        plans::{self, Limit},
    },
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct KnowledgeBaseInput {
    /// 1–255 characters.
    pub name: Option<String>,
    pub description: Option<String>,
    /// Text search configuration (`english`, `simple`, `german`…); only on creation.
    pub language: Option<String>,
}

fn check_name(v: &mut Validator, name: Option<&str>, required: bool) -> Option<String> {
    match name.map(str::trim) {
        Some(n) if !n.is_empty() && n.chars().count() <= 255 => Some(n.to_string()),
        None if !required => None,
        _ => {
            v.add("name", "invalid_length", "Use a name of 1 to 255 characters.");
            None
        }
    }
}

/// Creates a knowledge base (the plan limits how many a workspace has).
#[utoipa::path(tag = "ai", request_body = KnowledgeBaseInput, responses((status = 201, body = KnowledgeBase), (status = 402), (status = 422)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[post("/api/knowledge")]
pub async fn create_knowledge_base(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    body: web::Json<KnowledgeBaseInput>,
) -> Result<HttpResponse, AppError> {
    let mut v = Validator::new();
    let name = check_name(&mut v, body.name.as_deref(), true);
    let language = body
        .language
        .clone()
        .unwrap_or_else(|| state.settings.ai.knowledge.default_language.clone());
    if !repo::language_exists(&state, &language).await? {
        v.add("language", "unknown", format!("`{language}` is not a text search configuration of this database; try `english` or `simple`."));
    }
    v.finish()?;
    let count: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_ai.knowledge_bases where workspace_id = $1",
    )
    .bind(who.workspace_id)
    .fetch_one(&state.db)
    .await?;
    plans::ensure(&state, who.workspace_id, Limit::KnowledgeBases, count).await?;
    let mut tx = state.db.begin().await?;
    let id: Uuid = sqlx::query_scalar(
        "insert into smartflow_ai.knowledge_bases (workspace_id, name, description, language, created_by) \
         values ($1, $2, $3, $4::regconfig, $5) returning id",
    )
    .bind(who.workspace_id)
    .bind(&name)
    .bind(body.description.as_deref().map(str::trim).filter(|d| !d.is_empty()))
    .bind(&language)
    .bind(who.user_id)
    .fetch_one(&mut *tx)
    .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("ai.knowledge_base.created", "knowledge_base", id, json!({ "name": name })),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(repo::find_kb(&state, who.workspace_id, id).await?))
}

/// Knowledge bases of the workspace, newest first.
#[utoipa::path(tag = "ai", params(ListQuery), responses((status = 200, body = Vec<KnowledgeBase>)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/knowledge")]
pub async fn list_knowledge_bases(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let list = repo::list_kbs(&state, who.workspace_id, q.before, page_limit(q.limit)?).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// One knowledge base with its document and chunk counts.
#[utoipa::path(tag = "ai", params(("id" = Uuid, Path)), responses((status = 200, body = KnowledgeBase), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/knowledge/{id}")]
pub async fn get_knowledge_base(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(repo::find_kb(&state, who.workspace_id, *id).await?))
}

/// Renames or redescribes a knowledge base (admins, or its creator).
#[utoipa::path(tag = "ai", params(("id" = Uuid, Path)), request_body = KnowledgeBaseInput, responses((status = 200, body = KnowledgeBase), (status = 404), (status = 422)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[patch("/api/knowledge/{id}")]
pub async fn update_knowledge_base(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    id: web::Path<Uuid>,
    body: web::Json<KnowledgeBaseInput>,
) -> Result<HttpResponse, AppError> {
    let kb = repo::find_kb(&state, who.workspace_id, *id).await?;
    who.ensure_can_edit(kb.created_by)?;
    let mut v = Validator::new();
    let name = check_name(&mut v, body.name.as_deref(), false);
    if body.language.as_ref().is_some_and(|l| *l != kb.language) {
        v.add(
            "language",
            "immutable",
            "The language is fixed once created; create a new knowledge base instead.",
        );
    }
    v.finish()?;
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "update smartflow_ai.knowledge_bases set name = coalesce($3, name), \
         description = case when $4 then $5 else description end, updated_at = now() \
         where id = $1 and workspace_id = $2",
    )
    .bind(kb.id)
    .bind(who.workspace_id)
    .bind(&name)
    .bind(body.description.is_some())
    .bind(body.description.as_deref().map(str::trim).filter(|d| !d.is_empty()))
    .execute(&mut *tx)
    .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("ai.knowledge_base.updated", "knowledge_base", kb.id, json!({ "name": name })),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(repo::find_kb(&state, who.workspace_id, kb.id).await?))
}

/// Deletes a knowledge base with its documents and chunks (admins, or its creator).
#[utoipa::path(tag = "ai", params(("id" = Uuid, Path)), responses((status = 204), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[delete("/api/knowledge/{id}")]
pub async fn delete_knowledge_base(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let kb = repo::find_kb(&state, who.workspace_id, *id).await?;
    who.ensure_can_delete(kb.created_by)?;
    let mut tx = state.db.begin().await?;
    // Documents and their chunks go with it (foreign keys cascade).
    sqlx::query("delete from smartflow_ai.knowledge_bases where id = $1 and workspace_id = $2")
        .bind(kb.id)
        .bind(who.workspace_id)
        .execute(&mut *tx)
        .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new(
            "ai.knowledge_base.deleted",
            "knowledge_base",
            kb.id,
            json!({ "name": kb.name }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
