//! `/api/webhooks`: workspace admins manage outgoing webhook endpoints and see deliveries.

use std::time::Duration;

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::secret_context;
use crate::{
    error::{AppError, FieldError, Validator},
    platform::{
        auth::{Authorized, ManageUsers},
        crypto::random_token,
        events::{Event, record_event},
        ssrf,
    },
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    /// Event types delivered here; `*` means all.
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub consecutive_failures: i32,
    /// Why SmartFlow disabled the endpoint, if it did.
    pub disabled_reason: Option<String>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// Signing secret for `SmartFlow-Signature`; shown only now.
    pub secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewWebhook {
    /// Public http(s) URL that receives POSTs.
    pub url: String,
    pub description: Option<String>,
    /// e.g. `["lead.created", "post.published"]`, or `["*"]` for every event.
    pub event_types: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateWebhook {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// Re-enabling clears the failure count.
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Delivery {
    pub id: i64,
    pub event_id: i64,
    pub delivery_id: Uuid,
    pub event_type: String,
    pub attempt: i32,
    pub succeeded: bool,
    pub status_code: Option<i32>,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    pub duration_ms: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    pub before: Option<i64>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

const COLUMNS: &str = "id, url, description, event_types, enabled, consecutive_failures, disabled_reason, \
    last_success_at, last_failure_at, created_at";

fn valid_event_type(t: &str) -> bool {
    t == "*"
        || (t.len() <= 64
            && t.contains('.')
            && t.split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c == '_')))
}

fn check_event_types(v: &mut Validator, types: &[String]) {
    if types.is_empty() || types.len() > 50 {
        v.add("event_types", "invalid", "List 1 to 50 event types, or [\"*\"] for all.");
    }
    for (i, t) in types.iter().enumerate() {
        if !valid_event_type(t) {
            v.add(
                format!("event_types.{i}"),
                "invalid",
                format!("`{t}` is not an event type like `lead.created`."),
            );
        }
    }
}

async fn check_url(state: &AppState, v: &mut Validator, raw: &str) -> Option<String> {
    let s = &state.settings.webhooks;
    let checked =
        ssrf::check_url(raw, s.allow_private_targets, s.require_https, Duration::from_secs(3))
            .await;
    v.check(
        "url",
        checked
            .map(|u| u.to_string())
            .map_err(|e| FieldError::new("url", "invalid_url", e.to_string())),
    )
}

/// Outgoing webhook endpoints of the workspace.
#[utoipa::path(tag = "webhooks", responses((status = 200, body = Vec<WebhookEndpoint>)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/webhooks")]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
) -> Result<HttpResponse, AppError> {
    let rows: Vec<WebhookEndpoint> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from smartflow_shared.webhook_endpoints where workspace_id = $1 order by created_at"
    )))
    .bind(who.workspace_id)
    .fetch_all(&state.db)
    .await?;
    Ok(HttpResponse::Ok().json(rows))
}

/// Registers an endpoint. Deliveries are signed with the returned secret (shown once).
#[utoipa::path(tag = "webhooks", request_body = NewWebhook, responses((status = 201, body = CreatedWebhook)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[post("/api/webhooks")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    body: web::Json<NewWebhook>,
) -> Result<HttpResponse, AppError> {
    let mut v = Validator::new();
    let url = check_url(&state, &mut v, &body.url).await;
    check_event_types(&mut v, &body.event_types);
    let description = v
        .check("description", crate::domain::text::optional(body.description.as_deref(), 500))
        .flatten();
    v.finish()?;
    let url = url.unwrap_or_default();
    let id = Uuid::new_v4();
    let secret = format!("whsec_{}", random_token(32));
    let sealed = state.cipher.encrypt(&secret, &secret_context(id)).map_err(AppError::internal)?;
    let mut tx = state.db.begin().await?;
    let endpoint: WebhookEndpoint = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into smartflow_shared.webhook_endpoints (id, workspace_id, url, description, event_types, secret_encrypted, created_by) \
         values ($1, $2, $3, $4, $5, $6, $7) returning {COLUMNS}"
    )))
    .bind(id)
    .bind(who.workspace_id)
    .bind(&url)
    .bind(description.unwrap_or_default())
    .bind(&body.event_types)
    .bind(&sealed)
    .bind(who.user_id)
    .fetch_one(&mut *tx)
    .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new(
            "webhook.created",
            "webhook_endpoint",
            id,
            json!({ "url": url, "event_types": body.event_types }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(CreatedWebhook { endpoint, secret }))
}

async fn fetch(state: &AppState, workspace: Uuid, id: Uuid) -> Result<WebhookEndpoint, AppError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from smartflow_shared.webhook_endpoints where id = $1 and workspace_id = $2"
    )))
    .bind(id)
    .bind(workspace)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| AppError::not_found("Webhook endpoint"))
}

/// One endpoint.
#[utoipa::path(tag = "webhooks", params(("id" = Uuid, Path)), responses((status = 200, body = WebhookEndpoint)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/webhooks/{id}")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(fetch(&state, who.workspace_id, *id).await?))
}

/// Changes an endpoint's URL, description, event types, or turns it on or off.
#[utoipa::path(tag = "webhooks", params(("id" = Uuid, Path)), request_body = UpdateWebhook, responses((status = 200, body = WebhookEndpoint)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[patch("/api/webhooks/{id}")]
pub async fn update_webhook(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    id: web::Path<Uuid>,
    body: web::Json<UpdateWebhook>,
) -> Result<HttpResponse, AppError> {
    fetch(&state, who.workspace_id, *id).await?;
    let mut v = Validator::new();
    let url = match &body.url {
        Some(raw) => check_url(&state, &mut v, raw).await,
        None => None,
    };
    if let Some(types) = &body.event_types {
        check_event_types(&mut v, types);
    }
    let description = v
        .check("description", crate::domain::text::optional(body.description.as_deref(), 500))
        .flatten();
    v.finish()?;
    let mut tx = state.db.begin().await?;
    let endpoint: WebhookEndpoint = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update smartflow_shared.webhook_endpoints set \
           url = coalesce($3, url), description = coalesce($4, description), \
           event_types = coalesce($5, event_types), enabled = coalesce($6, enabled), \
           consecutive_failures = case when $6 then 0 else consecutive_failures end, \
           disabled_reason = case when $6 then null else disabled_reason end, updated_at = now() \
         where id = $1 and workspace_id = $2 returning {COLUMNS}"
    )))
    .bind(*id)
    .bind(who.workspace_id)
    .bind(&url)
    .bind(&description)
    .bind(&body.event_types)
    .bind(body.enabled)
    .fetch_one(&mut *tx)
    .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new(
            "webhook.updated",
            "webhook_endpoint",
            *id,
            json!({ "url": endpoint.url, "enabled": endpoint.enabled }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(endpoint))
}

/// Deletes an endpoint and its delivery log.
#[utoipa::path(tag = "webhooks", params(("id" = Uuid, Path)), responses((status = 204)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[delete("/api/webhooks/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let mut tx = state.db.begin().await?;
    let url: Option<String> = sqlx::query_scalar("delete from smartflow_shared.webhook_endpoints where id = $1 and workspace_id = $2 returning url")
        .bind(*id)
        .bind(who.workspace_id)
        .fetch_optional(&mut *tx)
        .await?;
    let url = url.ok_or_else(|| AppError::not_found("Webhook endpoint"))?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("webhook.deleted", "webhook_endpoint", *id, json!({ "url": url })),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Replaces the signing secret; the new one is shown only now.
#[utoipa::path(tag = "webhooks", params(("id" = Uuid, Path)), responses((status = 200, body = CreatedWebhook)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[post("/api/webhooks/{id}/rotate-secret")]
pub async fn rotate_webhook_secret(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    fetch(&state, who.workspace_id, *id).await?;
    let secret = format!("whsec_{}", random_token(32));
    let sealed = state.cipher.encrypt(&secret, &secret_context(*id)).map_err(AppError::internal)?;
    let mut tx = state.db.begin().await?;
    let endpoint: WebhookEndpoint = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update smartflow_shared.webhook_endpoints set secret_encrypted = $3, updated_at = now() \
         where id = $1 and workspace_id = $2 returning {COLUMNS}"
    )))
    .bind(*id)
    .bind(who.workspace_id)
    .bind(&sealed)
    .fetch_one(&mut *tx)
    .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("webhook.secret_rotated", "webhook_endpoint", *id, json!({})),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(CreatedWebhook { endpoint, secret }))
}

/// Sends a `webhook.test` event to this endpoint only.
#[utoipa::path(tag = "webhooks", params(("id" = Uuid, Path)), responses((status = 202)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[post("/api/webhooks/{id}/test")]
pub async fn test_webhook(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let endpoint = fetch(&state, who.workspace_id, *id).await?;
    let mut tx = state.db.begin().await?;
    // Unaudited and not fanned out: delivered to this endpoint alone.
    let event_id: i64 = sqlx::query_scalar(
        "insert into smartflow_shared.events (event_type, workspace_id, actor_user_id, subject_type, subject_id, payload, request_id, dispatched_at) \
         values ('webhook.test', $1, $2, 'webhook_endpoint', $3, $4, $5, now()) returning id",
    )
    .bind(who.workspace_id)
    .bind(who.user_id)
    .bind(endpoint.id.to_string())
    .bind(json!({ "message": "This is a test delivery from SmartFlow." }))
    .bind(&who.request_id)
    .fetch_one(&mut *tx)
    .await?;
    let job =
        super::delivery_job(&state.settings.webhooks, endpoint.id, event_id, who.workspace_id)
            .map_err(AppError::internal)?;
    crate::platform::jobs::insert(&mut tx, job).await?;
    tx.commit().await?;
    Ok(HttpResponse::Accepted().json(json!({ "event_id": event_id })))
}

/// Delivery attempts to this endpoint, newest first.
#[utoipa::path(tag = "webhooks", params(("id" = Uuid, Path), DeliveryQuery), responses((status = 200, body = Vec<Delivery>)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/webhooks/{id}/deliveries")]
pub async fn list_webhook_deliveries(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    id: web::Path<Uuid>,
    q: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, AppError> {
    fetch(&state, who.workspace_id, *id).await?;
    let limit = crate::http::pagination::page_size(q.limit)?;
    let rows: Vec<Delivery> = sqlx::query_as(
        "select d.id, d.event_id, d.delivery_id, d.event_type, d.attempt, d.succeeded, d.status_code, d.response_excerpt, d.error, d.duration_ms, d.created_at \
         from smartflow_shared.webhook_deliveries d \
         join smartflow_shared.webhook_endpoints e on e.id = d.endpoint_id and e.workspace_id = $4 \
         where d.endpoint_id = $1 and ($2::int8 is null or d.id < $2) order by d.id desc limit $3",
    )
    .bind(*id)
    .bind(q.before)
    .bind(limit)
    .bind(who.workspace_id)
    .fetch_all(&state.db)
    .await?;
    Ok(HttpResponse::Ok().json(rows))
}
