//! `POST /api/agents`, `GET /api/agents/{id}` (the seed's), list, update (a new version),
//! delete, and the versions of an agent.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    config,
    repo::{self, Agent, AgentVersion},
};
use crate::{
    error::{AppError, Validator},
    platform::{
        auth::{Authorized, Principal, Read, Write},
        events::{Event, record_event},
    },
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct AgentInput {
    /// 1–255 characters.
    pub name: String,
    pub description: Option<String>,
    /// See `AgentConfig`; omitted fields take their defaults.
    #[schema(value_type = Option<AgentConfig>)]
    pub configuration: Option<Value>,
    /// On update: the version you edited; a newer one answers 409 instead of being overwritten.
    pub base_version: Option<i32>,
}

use super::config::AgentConfig;

struct Parsed {
    name: String,
    description: Option<String>,
    config: AgentConfig,
}

async fn parse(state: &AppState, who: &Principal, input: &AgentInput) -> Result<Parsed, AppError> {
    let mut v = Validator::new();
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 255 {
        v.add("name", "invalid_length", "Give the agent a name of 1 to 255 characters.");
    }
    let description = input.description.as_deref().map(str::trim).filter(|d| !d.is_empty());
    if description.is_some_and(|d| d.chars().count() > 5_000) {
        v.add("description", "too_long", "Use at most 5,000 characters.");
    }
    let config = match config::parse(input.configuration.as_ref(), &state.settings) {
        Ok(c) => {
            repo::check_knowledge_bases(state, who.workspace_id, &c.knowledge_bases, &mut v)
                .await?;
            Some(c)
        }
        Err(errors) => {
            for e in errors {
                v.check::<()>("", Err(e));
            }
            None
        }
    };
    v.finish()?;
    let config = config.ok_or_else(|| AppError::internal(anyhow::anyhow!("unreachable")))?;
    Ok(Parsed { name, description: description.map(str::to_string), config })
}

fn summary(agent: &Agent) -> Value {
    json!({ "name": agent.name, "version": agent.version })
}

/// Creates an agent (version 1).
#[utoipa::path(tag = "ai", request_body = AgentInput, responses((status = 201, body = Agent), (status = 422)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[post("/api/agents")]
pub async fn create_agent(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    body: web::Json<AgentInput>,
) -> Result<HttpResponse, AppError> {
    let p = parse(&state, &who, &body).await?;
    let mut tx = state.db.begin().await?;
    let agent = repo::save(
        &mut tx,
        who.workspace_id,
        who.user_id,
        None,
        &p.name,
        p.description.as_deref(),
        &p.config,
    )
    .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("ai.agent.created", "agent", agent.id, summary(&agent)),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(agent))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Items created before this instant (the `created_at` of the last item of a page).
    pub before: Option<DateTime<Utc>>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

pub fn page_limit(limit: Option<i64>) -> Result<i64, AppError> {
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::validation(
            "limit",
            "out_of_range",
            "Use a page size from 1 to 200.",
        ));
    }
    Ok(limit)
}

/// Agents of the workspace, newest first.
#[utoipa::path(tag = "ai", params(ListQuery), responses((status = 200, body = Vec<Agent>)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/agents")]
pub async fn list_agents(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let agents = repo::list(&state, who.workspace_id, q.before, page_limit(q.limit)?).await?;
    Ok(HttpResponse::Ok().json(agents))
}

/// One agent, at its current version.
#[utoipa::path(tag = "ai", params(("id" = Uuid, Path)), responses((status = 200, body = Agent), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/agents/{id}")]
pub async fn get_agent(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(repo::find(&state, who.workspace_id, *id).await?))
}

/// Saves a new version of an agent (admins, or the user who created it). Earlier versions stay
/// listable; conversations keep the version that answered each message.
#[utoipa::path(tag = "ai", params(("id" = Uuid, Path)), request_body = AgentInput, responses((status = 200, body = Agent), (status = 404), (status = 409), (status = 422)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[put("/api/agents/{id}")]
pub async fn update_agent(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    id: web::Path<Uuid>,
    body: web::Json<AgentInput>,
) -> Result<HttpResponse, AppError> {
    let existing = repo::find(&state, who.workspace_id, *id).await?;
    who.ensure_can_edit(existing.created_by)?;
    if body.base_version.is_some_and(|v| v != existing.version) {
        return Err(AppError::Conflict(format!(
            "The agent is at version {}; you edited an older one. Load it again.",
            existing.version
        )));
    }
    let p = parse(&state, &who, &body).await?;
    let mut tx = state.db.begin().await?;
    let agent = repo::save(
        &mut tx,
        who.workspace_id,
        who.user_id,
        Some(&existing),
        &p.name,
        p.description.as_deref(),
        &p.config,
    )
    .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("ai.agent.updated", "agent", agent.id, summary(&agent)),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(agent))
}

/// Deletes an agent and its versions (admins, or its creator). Conversations stay readable.
#[utoipa::path(tag = "ai", params(("id" = Uuid, Path)), responses((status = 204), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[delete("/api/agents/{id}")]
pub async fn delete_agent(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let agent = repo::find(&state, who.workspace_id, *id).await?;
    who.ensure_can_delete(agent.created_by)?;
    let mut tx = state.db.begin().await?;
    sqlx::query("delete from smartflow_ai.agents where id = $1 and workspace_id = $2")
        .bind(agent.id)
        .bind(who.workspace_id)
        .execute(&mut *tx)
        .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("ai.agent.deleted", "agent", agent.id, summary(&agent)),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every saved version of an agent, newest first.
#[utoipa::path(tag = "ai", params(("id" = Uuid, Path)), responses((status = 200, body = Vec<AgentVersion>), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/agents/{id}/versions")]
pub async fn list_agent_versions(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let list = repo::versions(&state, who.workspace_id, *id, None).await?;
    if list.is_empty() {
        return Err(AppError::not_found("Agent"));
    }
    Ok(HttpResponse::Ok().json(list))
}

/// One saved version of an agent.
#[utoipa::path(tag = "ai", params(("id" = Uuid, Path), ("version" = i32, Path)), responses((status = 200, body = AgentVersion), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/agents/{id}/versions/{version}")]
pub async fn get_agent_version(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    path: web::Path<(Uuid, i32)>,
) -> Result<HttpResponse, AppError> {
    let (id, version) = path.into_inner();
    let found = repo::versions(&state, who.workspace_id, id, Some(version)).await?;
    found
        .into_iter()
        .next()
        .map(|v| HttpResponse::Ok().json(v))
        .ok_or_else(|| AppError::not_found("Agent version"))
}
