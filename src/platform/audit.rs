//! The audit log: who did what to which record, from where, for every mutating action.
//! Rows are written by [`crate::platform::events::record_event`] in the change's transaction.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    error::AppError,
    platform::{
        auth::{Authorized, ManageUsers},
        events::Actor,
    },
    state::AppState,
};

pub async fn write(
    conn: &mut PgConnection,
    actor: &Actor,
    workspace: Option<Uuid>,
    action: &str,
    target_type: &str,
    target_id: &str,
    details: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into smartflow_shared.audit_log \
         (workspace_id, actor_user_id, actor_api_key_id, actor_label, action, target_type, target_id, request_id, ip, details) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(workspace)
    .bind(actor.user_id)
    .bind(actor.api_key_id)
    .bind(&actor.label)
    .bind(action)
    .bind(target_type)
    .bind(target_id)
    .bind(&actor.request_id)
    .bind(&actor.ip)
    .bind(details)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub actor_user_id: Option<Uuid>,
    pub actor_api_key_id: Option<Uuid>,
    /// E-mail, `api-key:<id>` or `system:<what>`.
    pub actor_label: String,
    /// e.g. `auth.signed_in`, `member.role_changed`, `api_key.created`, `lead.created`.
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Pass as `before` to get the next page; absent on the last page.
    pub next_cursor: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Exact action, or a prefix ending in `.` (e.g. `auth.`).
    pub action: Option<String>,
    pub actor_user_id: Option<Uuid>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Entries with an id below this cursor.
    pub before: Option<i64>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

/// The workspace's audit log, newest first (workspace admins).
#[utoipa::path(
    tag = "identity",
    params(AuditQuery),
    responses((status = 200, body = AuditPage)),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[get("/api/audit")]
pub async fn list_audit(
    state: web::Data<AppState>,
    who: Authorized<ManageUsers>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let limit = crate::http::pagination::page_size(q.limit)?;
    let (action_exact, action_prefix) = match q.action.as_deref() {
        Some(a) if a.ends_with('.') => (None, Some(format!("{a}%"))),
        Some(a) => (Some(a.to_string()), None),
        None => (None, None),
    };
    let items: Vec<AuditEntry> = sqlx::query_as(
        r#"
        select id, actor_user_id, actor_api_key_id, actor_label, action, target_type, target_id,
               request_id, ip, details, created_at
        from smartflow_shared.audit_log
        where workspace_id = $1
          and ($2::text is null or action = $2)
          and ($3::text is null or action like $3)
          and ($4::uuid is null or actor_user_id = $4)
          and ($5::text is null or target_type = $5)
          and ($6::text is null or target_id = $6)
          and ($7::timestamptz is null or created_at >= $7)
          and ($8::timestamptz is null or created_at < $8)
          and ($9::int8 is null or id < $9)
        order by id desc
        limit $10
        "#,
    )
    .bind(who.workspace_id)
    .bind(action_exact)
    .bind(action_prefix)
    .bind(q.actor_user_id)
    .bind(&q.target_type)
    .bind(&q.target_id)
    .bind(q.from)
    .bind(q.to)
    .bind(q.before)
    .bind(limit)
    .fetch_all(&state.db)
    .await?;
    let next_cursor = crate::http::pagination::next_cursor(&items, limit, |e| e.id);
    Ok(HttpResponse::Ok().json(AuditPage { items, next_cursor }))
}
