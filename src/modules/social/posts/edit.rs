//! Changing a post before it goes out: update, cancel, publish now, duplicate, delete. Each
//! locks the post's target rows, so it and a publish job never act on the same target at
//! once (the job skips locked rows and comes back).

use actix_web::{HttpResponse, delete, patch, post, web};
use chrono::Utc;
use serde::Deserialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    PostResponse,
    input::{PostInput, When, plan, take_queue_slot},
    publish_now::uncertain,
    repo,
    routes::{ensure_allowance, event_payload},
};
use crate::{
    error::AppError,
    modules::social::publish::queue,
    platform::{
        auth::{Authorized, Principal, Write},
        events::{Event, record_event},
    },
    state::AppState,
};

/// Who may act on a post's owner: `Principal::ensure_can_edit` or `ensure_can_delete`.
type OwnerCheck = fn(&Principal, Option<Uuid>) -> Result<(), AppError>;

/// Locks the post and its targets (after `allowed` passes for its creator); returns
/// [(target, account, state)].
async fn lock_for(
    conn: &mut PgConnection,
    who: &Principal,
    id: Uuid,
    allowed: OwnerCheck,
) -> Result<Vec<(Uuid, Uuid, String)>, AppError> {
    let owner: Option<Option<Uuid>> = sqlx::query_scalar(
        "select created_by from smartflow_social.posts where id = $1 and workspace_id = $2 for update",
    )
    .bind(id)
    .bind(who.workspace_id)
    .fetch_optional(&mut *conn)
    .await?;
    let owner = owner.ok_or_else(|| AppError::not_found("Post"))?;
    allowed(who, owner)?;
    Ok(sqlx::query_as(
        "select id, account_id, state from smartflow_social.post_targets where post_id = $1 \
         order by created_at, id for update",
    )
    .bind(id)
    .fetch_all(conn)
    .await?)
}

pub(super) async fn lock(
    conn: &mut PgConnection,
    who: &Principal,
    id: Uuid,
) -> Result<Vec<(Uuid, Uuid, String)>, AppError> {
    lock_for(conn, who, id, Principal::ensure_can_edit).await
}

const LEFT: [&str; 4] = ["claimed", "sent", "unconfirmed", "confirmed"];

/// Changes a post that has not started publishing (failed targets are rescheduled with it). Absent fields stay as they are; the
/// platforms' rules are checked again, and the publish jobs follow the new time.
#[utoipa::path(
    tag = "social",
    params(("id" = Uuid, Path)),
    request_body = PostInput,
    responses((status = 200, body = PostResponse), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[patch("/api/posts/{id}")]
pub async fn update_post(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    id: web::Path<Uuid>,
    body: web::Json<PostInput>,
) -> Result<HttpResponse, AppError> {
    let response = update(&state, &who, *id, &body).await?;
    Ok(HttpResponse::Ok().json(response))
}

/// Shared with the calendar page's reschedule form.
pub async fn update(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    body: &PostInput,
) -> Result<PostResponse, AppError> {
    let mut tx = state.db.begin().await?;
    let targets = lock(&mut tx, who, id).await?;
    if targets.iter().any(|(_, _, s)| LEFT.contains(&s.as_str())) {
        return Err(AppError::Conflict(
            "This post has started publishing; it can no longer be changed. Duplicate it instead."
                .into(),
        ));
    }
    if !uncertain(&mut tx, id).await?.is_empty() {
        return Err(AppError::Conflict(
            "This post may already be published on an account where SmartFlow could not \
             confirm it: use Publish now to have it checked, or duplicate it."
                .into(),
        ));
    }
    let (base, _) = repo::load_plan(&mut tx, who.workspace_id, id).await?;
    let mut plan = plan(state, who.workspace_id, body, Some(&base)).await?;
    take_queue_slot(&mut tx, body, &mut plan).await?;
    if base.when == When::Draft && plan.when != When::Draft {
        ensure_allowance(state, who.workspace_id).await?;
    }
    let at = match plan.when {
        When::At(t) => Some(t),
        When::Draft => None,
    };
    sqlx::query(
        "update smartflow_social.posts set content = $3, platforms = $4, scheduled_at = $5, \
         timezone = $6, variants = $7, media = $8, first_comment = $9, updated_at = now() \
         where id = $1 and workspace_id = $2",
    )
    .bind(id)
    .bind(who.workspace_id)
    .bind(&plan.content)
    .bind(plan.platforms())
    .bind(at)
    .bind(plan.timezone.name())
    .bind(sqlx::types::Json(&plan.variants))
    .bind(sqlx::types::Json(&plan.media))
    .bind(&plan.first_comment)
    .execute(&mut *tx)
    .await?;
    let mut added = Vec::new();
    for account in &plan.accounts {
        match targets.iter().find(|(_, a, s)| *a == account.id && s != "cancelled") {
            Some((target, _, _)) => {
                retime(&mut tx, who.workspace_id, *target, at.map_or(Due::Draft, Due::At)).await?;
            }
            None => added.push(account.clone()),
        }
    }
    for (target, account, state) in &targets {
        if state != "cancelled" && !plan.accounts.iter().any(|a| a.id == *account) {
            set_cancelled(&mut tx, *target).await?;
        }
    }
    // A target once cancelled for this account is replaced by a fresh one.
    sqlx::query(
        "delete from smartflow_social.post_targets where post_id = $1 and state = 'cancelled' \
         and account_id = any($2)",
    )
    .bind(id)
    .bind(added.iter().map(|a| a.id).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    repo::add_targets(&mut tx, who.workspace_id, id, &added, at).await?;
    repo::refresh_status(&mut tx, id).await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("post.updated", "post", id, event_payload(id, &plan)),
    )
    .await?;
    let post = repo::load(&mut tx, who.workspace_id, id, false).await?;
    tx.commit().await?;
    Ok(PostResponse { post, warnings: plan.warnings })
}

/// Where [`retime`] sends a target that has not been published.
#[derive(Debug, Clone, Copy)]
pub(super) enum Due {
    /// Back to draft: no time, no job.
    Draft,
    /// Scheduled for this time.
    At(chrono::DateTime<Utc>),
    /// Due at this time, but its post may exist: `unconfirmed` makes its job read the account's
    /// recent posts first and publish only when the post is not there.
    Recheck(chrono::DateTime<Utc>),
}

/// Moves a not-yet-published target to `due` and its job with it.
pub(super) async fn retime(
    conn: &mut PgConnection,
    workspace: Uuid,
    target: Uuid,
    due: Due,
) -> Result<(), AppError> {
    let (at, state, fresh) = match due {
        Due::Draft => (None, "draft", false),
        Due::At(at) => (Some(at), "scheduled", false),
        Due::Recheck(at) => (Some(at), "unconfirmed", true),
    };
    sqlx::query(
        "update smartflow_social.post_targets set due_at = $2, next_attempt_at = null, state = $3, \
         attempts = case when $4 or state = 'failed' then 0 else attempts end, failed_at = null, \
         claim_token = null, updated_at = now() where id = $1",
    )
    .bind(target)
    .bind(at)
    .bind(state)
    .bind(fresh)
    .execute(&mut *conn)
    .await?;
    match at {
        Some(at) => queue::move_to(conn, workspace, target, at).await?,
        None => queue::cancel(conn, target).await?,
    }
    Ok(())
}

async fn set_cancelled(conn: &mut PgConnection, target: Uuid) -> Result<(), AppError> {
    sqlx::query(
        "update smartflow_social.post_targets set state = 'cancelled', next_attempt_at = null, \
         updated_at = now() where id = $1",
    )
    .bind(target)
    .execute(&mut *conn)
    .await?;
    queue::cancel(conn, target).await?;
    Ok(())
}

/// Cancels what has not gone out yet (targets that are drafts or scheduled).
#[utoipa::path(
    tag = "social",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = super::Post), (status = 404), (status = 409)),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[post("/api/posts/{id}/cancel")]
pub async fn cancel_post(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let mut tx = state.db.begin().await?;
    let targets = lock(&mut tx, &who, *id).await?;
    let pending: Vec<Uuid> = targets
        .iter()
        .filter(|(_, _, s)| s == "draft" || s == "scheduled")
        .map(|(t, _, _)| *t)
        .collect();
    if pending.is_empty() {
        return Err(AppError::Conflict("Nothing of this post is waiting to be published.".into()));
    }
    for t in &pending {
        set_cancelled(&mut tx, *t).await?;
    }
    repo::refresh_status(&mut tx, *id).await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("post.cancelled", "post", *id, serde_json::json!({ "targets": pending })),
    )
    .await?;
    let post = repo::load(&mut tx, who.workspace_id, *id, false).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(post))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DuplicatePost {
    /// When the copy should go out (as in `POST /api/posts`); absent: a draft.
    pub scheduled_at: Option<String>,
    pub timezone: Option<String>,
}

/// Copies a post (text, variants, media, first comment, accounts) as a new draft, or
/// scheduled at `scheduled_at`.
#[utoipa::path(
    tag = "social",
    params(("id" = Uuid, Path)),
    request_body(content = DuplicatePost, description = "Optional"),
    responses((status = 201, body = PostResponse), (status = 404), (status = 422)),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[post("/api/posts/{id}/duplicate")]
pub async fn duplicate_post(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let body: DuplicatePost = crate::http::optional_json(&body)?.unwrap_or_default();
    let mut conn = state.db.acquire().await?;
    let (mut base, _) = repo::load_plan(&mut conn, who.workspace_id, *id).await?;
    drop(conn);
    base.when = When::Draft;
    let input = PostInput {
        scheduled_at: body.scheduled_at,
        timezone: body.timezone,
        ..PostInput::default()
    };
    let plan = plan(&state, who.workspace_id, &input, Some(&base)).await?;
    if plan.when != When::Draft {
        ensure_allowance(&state, who.workspace_id).await?;
    }
    let mut tx = state.db.begin().await?;
    let copy = repo::insert(&mut tx, who.workspace_id, who.user_id, &plan, Some(*id)).await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("post.duplicated", "post", copy, event_payload(copy, &plan)),
    )
    .await?;
    let post = repo::load(&mut tx, who.workspace_id, copy, false).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(PostResponse { post, warnings: plan.warnings }))
}

/// Deletes a post that never went out (drafts, cancelled, failed) — admins, or the user who
/// created it. Published posts stay, for the record and analytics; cancel what is pending
/// instead.
#[utoipa::path(
    tag = "social",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404), (status = 409)),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[delete("/api/posts/{id}")]
pub async fn delete_post(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let mut tx = state.db.begin().await?;
    let targets = lock_for(&mut tx, &who, *id, Principal::ensure_can_delete).await?;
    if targets.iter().any(|(_, _, s)| LEFT.contains(&s.as_str())) {
        return Err(AppError::Conflict(
            "This post was (or is being) published; cancel what is pending instead.".into(),
        ));
    }
    for (t, _, _) in &targets {
        queue::cancel(&mut tx, *t).await?;
    }
    sqlx::query("delete from smartflow_social.posts where id = $1 and workspace_id = $2")
        .bind(*id)
        .bind(who.workspace_id)
        .execute(&mut *tx)
        .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("post.deleted", "post", *id, serde_json::json!({})),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
