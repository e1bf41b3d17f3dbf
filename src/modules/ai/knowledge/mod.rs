//! Knowledge bases: documents, chunks, embeddings and hybrid search.

pub mod cache;
pub mod chunking;
pub mod documents;
pub mod extract;
pub mod ingest;
pub mod repo;
pub mod routes;
pub mod search;
pub mod vectors;

use actix_web::{HttpResponse, post, web};
use uuid::Uuid;

use self::search::{SearchInput, SearchResult};
use crate::{
    error::AppError,
    modules::ai::usage::ledger::CallContext,
    platform::auth::{Authorized, Read},
    state::AppState,
};

/// Ranked chunks for a query, with their document and offsets: what an agent would retrieve.
#[utoipa::path(tag = "ai", params(("id" = Uuid, Path)), request_body = SearchInput, responses((status = 200, body = SearchResult), (status = 404), (status = 422)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[post("/api/knowledge/{id}/search")]
pub async fn search_knowledge_base(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
    body: web::Json<SearchInput>,
) -> Result<HttpResponse, AppError> {
    let kb = repo::kb_id(&state, who.workspace_id, *id).await?;
    let query = body.parse(state.settings.ai.knowledge.min_similarity)?;
    let ctx = CallContext {
        workspace: who.workspace_id,
        user: Some(who.user_id),
        ..CallContext::default()
    };
    let result = search::search(&state, &ctx, &[kb], &query).await?;
    Ok(HttpResponse::Ok().json(result))
}
