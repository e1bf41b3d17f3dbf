//! Usage, budget and the workspace's own provider keys.

use actix_web::{HttpResponse, delete, get, put, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::ledger::{budget_of, month_spend};
use crate::{
    error::{AppError, Validator},
    modules::ai::state::{ai, key_context},
    platform::{
        auth::{Authorized, ManageUsers, Read},
        events::{Event, record_event},
        plans::month_start,
    },
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ModelUsage {
    pub provider: String,
    pub model: String,
    pub operation: String,
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd_micros: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageSummary {
    /// Start of the month summed (UTC).
    pub since: chrono::DateTime<Utc>,
    pub spent_usd_micros: i64,
    /// `null` when the workspace has no budget.
    pub budget_usd_micros: Option<i64>,
    pub price_table_version: String,
    pub by_model: Vec<ModelUsage>,
}

/// This month's AI usage of the workspace, from the usage ledger.
#[utoipa::path(tag = "ai", responses((status = 200, body = UsageSummary)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/usage")]
pub async fn get_ai_usage(
    state: web::Data<AppState>,
    who: Authorized<Read>,
) -> Result<HttpResponse, AppError> {
    let since = month_start(Utc::now());
    let by_model: Vec<ModelUsage> = sqlx::query_as(
        "select provider, model, operation, count(*) as calls, sum(input_tokens)::bigint as input_tokens, \
         sum(output_tokens)::bigint as output_tokens, sum(cost_usd_micros)::bigint as cost_usd_micros \
         from smartflow_ai.usage_ledger where workspace_id = $1 and created_at >= $2 \
         group by provider, model, operation order by cost_usd_micros desc, calls desc",
    )
    .bind(who.workspace_id)
    .bind(since)
    .fetch_all(&state.db)
    .await?;
    Ok(HttpResponse::Ok().json(UsageSummary {
        since,
        spent_usd_micros: month_spend(&state.db, who.workspace_id).await?,
        budget_usd_micros: budget_of(&state.db, who.workspace_id).await?,
        price_table_version: crate::modules::ai::providers::PRICE_TABLE_VERSION.into(),
        by_model,
    }))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct Budget {
    /// Monthly limit in micro-dollars (1 USD = 1,000,000); `null` removes the limit.
    pub monthly_limit_usd_micros: Option<i64>,
}

/// The workspace's monthly AI budget.
#[utoipa::path(tag = "ai", responses((status = 200, body = Budget)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/budget")]
pub async fn get_ai_budget(
    state: web::Data<AppState>,
    who: Authorized<Read>,
) -> Result<HttpResponse, AppError> {
    let limit = budget_of(&state.db, who.workspace_id).await?;
    Ok(HttpResponse::Ok().json(Budget { monthly_limit_usd_micros: limit }))
}

/// Sets or removes the monthly AI budget (admins). Calls are refused once it is spent.
#[utoipa::path(tag = "ai", request_body = Budget, responses((status = 200, body = Budget), (status = 422)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[put("/budget")]
pub async fn set_ai_budget(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    body: web::Json<Budget>,
) -> Result<HttpResponse, AppError> {
    if body.monthly_limit_usd_micros.is_some_and(|v| v < 0) {
        return Err(AppError::validation(
            "monthly_limit_usd_micros",
            "out_of_range",
            "Use 0 or more micro-dollars, or null for no limit.",
        ));
    }
    let mut tx = state.db.begin().await?;
    match body.monthly_limit_usd_micros {
        Some(limit) => {
            sqlx::query(
                "insert into smartflow_ai.budgets (workspace_id, monthly_limit_usd_micros) values ($1, $2) \
                 on conflict (workspace_id) do update set monthly_limit_usd_micros = $2, updated_at = now()",
            )
            .bind(who.workspace_id)
            .bind(limit)
            .execute(&mut *tx)
            .await?;
        }
        None => {
            sqlx::query("delete from smartflow_ai.budgets where workspace_id = $1")
                .bind(who.workspace_id)
                .execute(&mut *tx)
                .await?;
        }
    }
    let payload = json!({ "monthly_limit_usd_micros": body.monthly_limit_usd_micros });
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("ai.budget.updated", "workspace", who.workspace_id, payload),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(body.into_inner()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderStatus {
    pub name: String,
    /// The server has a key (or, for OpenAI-compatible endpoints, a URL) for it.
    pub configured_by_server: bool,
    /// The workspace stored its own key; only its last characters are shown.
    pub workspace_key_hint: Option<String>,
}

/// AI providers this server knows and which of them the workspace can use.
#[utoipa::path(tag = "ai", responses((status = 200, body = Vec<ProviderStatus>)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/providers")]
pub async fn list_ai_providers(
    state: web::Data<AppState>,
    who: Authorized<Read>,
) -> Result<HttpResponse, AppError> {
    let hints: Vec<(String, String)> = sqlx::query_as(
        "select provider, key_hint from smartflow_ai.provider_keys where workspace_id = $1",
    )
    .bind(who.workspace_id)
    .fetch_all(&state.db)
    .await?;
    let list: Vec<ProviderStatus> = ai(&state)?
        .registry
        .configured()
        .into_iter()
        .map(|(name, configured)| ProviderStatus {
            workspace_key_hint: hints.iter().find(|(p, _)| *p == name).map(|(_, h)| h.clone()),
            name,
            configured_by_server: configured,
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ProviderKeyInput {
    pub api_key: String,
}

fn known_provider(state: &AppState, name: &str) -> Result<(), AppError> {
    if state.settings.ai.names().iter().any(|n| n == name) {
        return Ok(());
    }
    Err(AppError::NotFound(format!(
        "There is no AI provider named `{name}`; use one of {}.",
        state.settings.ai.names().join(", ")
    )))
}

/// Stores the workspace's own key for a provider (admins), encrypted at rest. Its calls then
/// use this key instead of the server's.
#[utoipa::path(tag = "ai", params(("name" = String, Path)), request_body = ProviderKeyInput, responses((status = 200, body = ProviderStatus), (status = 404), (status = 422)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[put("/providers/{name}/key")]
pub async fn set_ai_provider_key(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    name: web::Path<String>,
    body: web::Json<ProviderKeyInput>,
) -> Result<HttpResponse, AppError> {
    known_provider(&state, &name)?;
    let key = body.api_key.trim();
    let mut v = Validator::new();
    if key.len() < 8 || key.len() > 400 || !key.chars().all(|c| c.is_ascii_graphic()) {
        v.add(
            "api_key",
            "invalid",
            "Paste the key as issued: 8 to 400 visible characters, no spaces.",
        );
    }
    v.finish()?;
    let encrypted = state
        .cipher
        .encrypt(key, &key_context(who.workspace_id, &name))
        .map_err(AppError::internal)?;
    let hint = format!("…{}", &key[key.len() - 4..]);
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "insert into smartflow_ai.provider_keys (workspace_id, provider, encrypted_key, key_hint, created_by) \
         values ($1, $2, $3, $4, $5) on conflict (workspace_id, provider) do update \
         set encrypted_key = $3, key_hint = $4, created_by = $5, updated_at = now()",
    )
    .bind(who.workspace_id)
    .bind(name.as_str())
    .bind(&encrypted)
    .bind(&hint)
    .bind(who.user_id)
    .execute(&mut *tx)
    .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new(
            "ai.provider_key.set",
            "ai_provider",
            name.as_str(),
            json!({ "provider": name.as_str() }),
        ),
    )
    .await?;
    tx.commit().await?;
    let configured = ai(&state)?.registry.configured();
    Ok(HttpResponse::Ok().json(ProviderStatus {
        configured_by_server: configured.iter().any(|(n, c)| *n == *name && *c),
        name: name.into_inner(),
        workspace_key_hint: Some(hint),
    }))
}

/// Removes the workspace's own key for a provider (admins).
#[utoipa::path(tag = "ai", params(("name" = String, Path)), responses((status = 204), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[delete("/providers/{name}/key")]
pub async fn delete_ai_provider_key(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    name: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let mut tx = state.db.begin().await?;
    let gone = sqlx::query(
        "delete from smartflow_ai.provider_keys where workspace_id = $1 and provider = $2",
    )
    .bind(who.workspace_id)
    .bind(name.as_str())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if gone == 0 {
        return Err(AppError::NotFound(format!("This workspace has no key for `{name}`.")));
    }
    record_event(
        &mut tx,
        &who.actor(),
        Event::new(
            "ai.provider_key.deleted",
            "ai_provider",
            name.as_str(),
            json!({ "provider": name.as_str() }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
