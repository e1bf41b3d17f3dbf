//! Agents in `smartflow_ai.agents` (the current version) and `agent_versions` (every version).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::config::AgentConfig;
use crate::{
    error::{AppError, FieldError, Validator},
    state::AppState,
};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Agent {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub configuration: AgentConfig,
    /// Increases by one on every update; earlier versions stay readable.
    pub version: i32,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    description: Option<String>,
    configuration: Option<Value>,
    version: i32,
    created_by: Option<Uuid>,
    created_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<Row> for Agent {
    type Error = AppError;
    fn try_from(r: Row) -> Result<Agent, AppError> {
        let configuration = serde_json::from_value(r.configuration.unwrap_or(Value::Null))
            .map_err(|e| {
                AppError::internal(anyhow::anyhow!("agent {} configuration: {e}", r.id))
            })?;
        Ok(Agent {
            id: r.id,
            name: r.name,
            description: r.description,
            configuration,
            version: r.version,
            created_by: r.created_by,
            created_at: r.created_at.unwrap_or(r.updated_at),
            updated_at: r.updated_at,
        })
    }
}

const COLUMNS: &str =
    "id, name, description, configuration, version, created_by, created_at, updated_at";

pub async fn find(state: &AppState, workspace: Uuid, id: Uuid) -> Result<Agent, AppError> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from smartflow_ai.agents where id = $1 and workspace_id = $2"
    )))
    .bind(id)
    .bind(workspace)
    .fetch_optional(&state.db)
    .await?;
    row.ok_or_else(|| AppError::not_found("Agent"))?.try_into()
}

pub async fn list(
    state: &AppState,
    workspace: Uuid,
    before: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<Agent>, AppError> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from smartflow_ai.agents where workspace_id = $1 \
         and ($2::timestamptz is null or created_at < $2) order by created_at desc limit $3"
    )))
    .bind(workspace)
    .bind(before)
    .bind(limit)
    .fetch_all(&state.db)
    .await?;
    rows.into_iter().map(Agent::try_from).collect()
}

/// Inserts a new agent, or a new version of `existing`, with its version row.
pub async fn save(
    conn: &mut PgConnection,
    workspace: Uuid,
    user: Uuid,
    existing: Option<&Agent>,
    name: &str,
    description: Option<&str>,
    config: &AgentConfig,
) -> Result<Agent, AppError> {
    let json = serde_json::to_value(config).map_err(AppError::internal)?;
    let row: Row = match existing {
        None => sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "insert into smartflow_ai.agents (workspace_id, created_by, name, description, configuration) \
             values ($1, $2, $3, $4, $5) returning {COLUMNS}"
        )))
        .bind(workspace)
        .bind(user)
        .bind(name)
        .bind(description)
        .bind(&json)
        .fetch_one(&mut *conn)
        .await?,
        Some(agent) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "update smartflow_ai.agents set name = $3, description = $4, configuration = $5, \
             version = version + 1, updated_at = now() \
             where id = $1 and workspace_id = $2 and version = $6 returning {COLUMNS}"
        )))
        .bind(agent.id)
        .bind(workspace)
        .bind(name)
        .bind(description)
        .bind(&json)
        .bind(agent.version)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| {
            AppError::Conflict("The agent changed while you edited it; load it again.".into())
        })?,
    };
    sqlx::query(
        "insert into smartflow_ai.agent_versions (agent_id, version, workspace_id, name, description, configuration, created_by) \
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(row.id)
    .bind(row.version)
    .bind(workspace)
    .bind(name)
    .bind(description)
    .bind(&json)
    .bind(user)
    .execute(&mut *conn)
    .await?;
    row.try_into()
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AgentVersion {
    pub agent_id: Uuid,
    pub version: i32,
    pub name: String,
    pub description: Option<String>,
    #[schema(value_type = AgentConfig)]
    pub configuration: Value,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

pub async fn versions(
    state: &AppState,
    workspace: Uuid,
    agent: Uuid,
    version: Option<i32>,
) -> Result<Vec<AgentVersion>, AppError> {
    Ok(sqlx::query_as(
        "select agent_id, version, name, description, configuration, created_by, created_at \
         from smartflow_ai.agent_versions where agent_id = $1 and workspace_id = $2 \
         and ($3::int is null or version = $3) order by version desc",
    )
    .bind(agent)
    .bind(workspace)
    .bind(version)
    .fetch_all(&state.db)
    .await?)
}

/// Field errors for knowledge bases that are not in the workspace.
pub async fn check_knowledge_bases(
    state: &AppState,
    workspace: Uuid,
    ids: &[Uuid],
    v: &mut Validator,
) -> Result<(), AppError> {
    if ids.is_empty() {
        return Ok(());
    }
    let found: Vec<Uuid> = sqlx::query_scalar(
        "select id from smartflow_ai.knowledge_bases where workspace_id = $1 and id = any($2)",
    )
    .bind(workspace)
    .bind(ids)
    .fetch_all(&state.db)
    .await?;
    for (i, id) in ids.iter().enumerate() {
        if !found.contains(id) {
            let e = FieldError::new(
                format!("configuration.knowledge_bases.{i}"),
                "not_found",
                format!("There is no knowledge base {id} in this workspace."),
            );
            v.check::<()>("", Err(e));
        }
    }
    Ok(())
}
