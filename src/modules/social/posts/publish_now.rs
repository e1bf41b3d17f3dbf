//! "Publish now": drafts, scheduled and failed targets go out at once. A failed target whose
//! last attempt may have reached the platform is reconciled first (the account's recent
//! posts read) instead of being sent again blindly, unless a person says they checked.

use actix_web::{HttpResponse, post, web};
use chrono::Utc;
use serde::Deserialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    PostResponse,
    edit::{Due, lock, retime},
    input::{PostInput, When, plan},
    repo,
    routes::{ensure_allowance, event_payload},
};
use crate::{
    error::AppError,
    platform::{
        auth::{Authorized, Write},
        events::{Event, record_event},
    },
    state::AppState,
};

/// Failed targets that may nevertheless exist on the platform: an attempt went out and its
/// outcome was never confirmed (a timeout, a "duplicate" answer, a read that was refused).
pub(super) async fn uncertain(conn: &mut PgConnection, post: Uuid) -> Result<Vec<Uuid>, AppError> {
    Ok(sqlx::query_scalar(
        "select t.id from smartflow_social.post_targets t where t.post_id = $1 \
         and t.state = 'failed' and t.last_error_class in ('unknown_outcome', 'duplicate') \
         and exists (select 1 from smartflow_social.publish_attempts a \
                     where a.target_id = t.id and a.kind = 'publish')",
    )
    .bind(post)
    .fetch_all(conn)
    .await?)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PublishNow {
    /// You looked at the accounts where SmartFlow could not confirm the post and it is not
    /// there: send it again without reading the account first. Without it such targets are
    /// checked first (and sent only when the post is not found), so nothing is posted twice.
    pub checked: Option<bool>,
}

/// Publishes now: drafts, scheduled targets and failed ones (after fixing what made them
/// fail, e.g. reconnecting the account). The platforms' rules are checked first. A failed
/// target whose last attempt may have reached the platform is reconciled (the account's
/// recent posts read) before anything is sent again, unless `checked` says a person did that.
#[utoipa::path(
    tag = "social",
    params(("id" = Uuid, Path)),
    request_body(content = PublishNow, description = "Optional"),
    responses((status = 200, body = PostResponse), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[post("/api/posts/{id}/publish")]
pub async fn publish_post_now(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let body: Option<PublishNow> = crate::http::optional_json(&body)?;
    let checked = body.and_then(|b| b.checked).unwrap_or(false);
    let mut tx = state.db.begin().await?;
    let targets = lock(&mut tx, &who, *id).await?;
    let uncertain = if checked { Vec::new() } else { uncertain(&mut tx, *id).await? };
    let ready: Vec<Uuid> = targets
        .iter()
        .filter(|(_, _, s)| matches!(s.as_str(), "draft" | "scheduled" | "failed"))
        .map(|(t, _, _)| *t)
        .collect();
    if ready.is_empty() {
        return Err(AppError::Conflict("Nothing of this post is left to publish.".into()));
    }
    let (base, _) = repo::load_plan(&mut tx, who.workspace_id, *id).await?;
    let input = PostInput { publish_now: Some(true), ..PostInput::default() };
    let plan = plan(&state, who.workspace_id, &input, Some(&base)).await?;
    if base.when == When::Draft {
        ensure_allowance(&state, who.workspace_id).await?;
    }
    let now = Utc::now();
    sqlx::query(
        "update smartflow_social.posts set scheduled_at = $2, updated_at = now() where id = $1",
    )
    .bind(*id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    for t in &ready {
        let due = if uncertain.contains(t) { Due::Recheck(now) } else { Due::At(now) };
        retime(&mut tx, who.workspace_id, *t, due).await?;
    }
    repo::refresh_status(&mut tx, *id).await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("post.publish_now", "post", *id, event_payload(*id, &plan)),
    )
    .await?;
    let post = repo::load(&mut tx, who.workspace_id, *id, false).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(PostResponse { post, warnings: plan.warnings }))
}
