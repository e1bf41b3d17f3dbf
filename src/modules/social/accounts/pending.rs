//! When one login can act as several accounts (Facebook Pages, Instagram business accounts,
//! LinkedIn organizations), the tokens wait here, encrypted, until the person picks which to
//! link. Like the OAuth state, a pending choice is single use and expires.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    Account,
    candidates::{Candidate, CandidateView, seal_all, unseal_all},
    link::{NewLink, link},
};
use crate::{
    error::AppError,
    modules::social::platforms::{Platform, RemoteAccount},
    platform::auth::{Authorized, Principal, Read, Write},
    state::AppState,
};

/// Accounts waiting to be chosen.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PendingLink {
    pub id: Uuid,
    pub platform: String,
    pub expires_at: DateTime<Utc>,
    pub candidates: Vec<CandidateView>,
}

fn context(id: Uuid) -> String {
    format!("social_pending:{id}")
}

pub async fn store(
    state: &AppState,
    who: &Principal,
    platform: Platform,
    found: &[Candidate],
    views: Vec<CandidateView>,
) -> Result<PendingLink, AppError> {
    let id = Uuid::new_v4();
    let json = seal_all(found).map_err(AppError::internal)?;
    let sealed = state.cipher.encrypt(&json, &context(id)).map_err(AppError::internal)?;
    let ttl = chrono::Duration::seconds(state.settings.social.oauth_state_ttl_secs as i64 * 3);
    let expires_at = Utc::now() + ttl;
    sqlx::query(
        "insert into smartflow_social.oauth_pending (id, workspace_id, user_id, platform, \
         candidates, secrets_enc, expires_at) values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(who.workspace_id)
    .bind(who.user_id)
    .bind(platform.as_str())
    .bind(sqlx::types::Json(&views))
    .bind(&sealed)
    .bind(expires_at)
    .execute(&state.db)
    .await?;
    Ok(PendingLink { id, platform: platform.as_str().into(), expires_at, candidates: views })
}

/// The accounts a login can link, until chosen or expired. Only its starter sees it.
#[utoipa::path(
    tag = "social",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PendingLink), (status = 404)),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[get("/api/accounts/pending/{id}")]
pub async fn get_pending_link(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let row: Option<(String, DateTime<Utc>, sqlx::types::Json<Vec<CandidateView>>)> =
        sqlx::query_as(
            "select platform, expires_at, candidates from smartflow_social.oauth_pending \
             where id = $1 and workspace_id = $2 and user_id = $3 and used_at is null \
             and expires_at > now()",
        )
        .bind(*id)
        .bind(who.workspace_id)
        .bind(who.user_id)
        .fetch_optional(&state.db)
        .await?;
    let (platform, expires_at, candidates) =
        row.ok_or_else(|| AppError::not_found("Pending account choice"))?;
    Ok(HttpResponse::Ok().json(PendingLink {
        id: *id,
        platform,
        expires_at,
        candidates: candidates.0,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChooseAccounts {
    /// `remote_id`s of the candidates to link (one or more).
    pub remote_ids: Vec<String>,
}

/// Links the chosen accounts. The choice is used up, whatever is chosen.
#[utoipa::path(
    tag = "social",
    params(("id" = Uuid, Path)),
    request_body = ChooseAccounts,
    responses((status = 201, body = Vec<Account>), (status = 402), (status = 404), (status = 422)),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[post("/api/accounts/pending/{id}")]
pub async fn choose_pending_link(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    id: web::Path<Uuid>,
    body: web::Json<ChooseAccounts>,
) -> Result<HttpResponse, AppError> {
    let accounts = choose(&state, &who, *id, &body.remote_ids).await?;
    Ok(HttpResponse::Created().json(accounts))
}

/// Shared with the accounts page's form.
pub async fn choose(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    chosen: &[String],
) -> Result<Vec<Account>, AppError> {
    if chosen.is_empty() {
        return Err(AppError::validation("remote_ids", "required", "Choose at least one account."));
    }
    let mut tx = state.db.begin().await?;
    let row: Option<(String, sqlx::types::Json<Vec<CandidateView>>, String)> = sqlx::query_as(
        "update smartflow_social.oauth_pending set used_at = now() \
         where id = $1 and workspace_id = $2 and user_id = $3 and used_at is null \
         and expires_at > now() returning platform, candidates, secrets_enc",
    )
    .bind(id)
    .bind(who.workspace_id)
    .bind(who.user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (platform, views, sealed) =
        row.ok_or_else(|| AppError::not_found("Pending account choice"))?;
    let platform: Platform = platform.parse().map_err(AppError::internal)?;
    let json = state.cipher.decrypt(&sealed, &context(id)).map_err(AppError::internal)?;
    let mut tokens = unseal_all(&json).map_err(AppError::internal)?;
    let mut linked = Vec::new();
    for (i, remote_id) in chosen.iter().enumerate() {
        let view = views.0.iter().find(|v| &v.remote_id == remote_id);
        let position = tokens.iter().position(|(rid, _)| rid == remote_id);
        let (Some(view), Some(position)) = (view, position) else {
            return Err(AppError::validation(
                format!("remote_ids.{i}"),
                "unknown",
                "Choose one of the listed accounts.",
            ));
        };
        let (_, set) = tokens.swap_remove(position);
        let remote = RemoteAccount {
            id: view.remote_id.clone(),
            username: view.username.clone(),
            display_name: view.display_name.clone(),
            url: view.url.clone(),
        };
        let new = NewLink { platform, remote, instance_url: None, tokens: set };
        linked.push(link(&mut tx, state, who, new).await?);
    }
    tx.commit().await?;
    Ok(linked)
}
