//! `POST /api/posts` and `GET /api/posts/{id}` (seed), and the list.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use uuid::Uuid;

use super::{
    Post, PostResponse,
    input::{Plan, PostInput, When, plan, take_queue_slot},
    repo,
};
use crate::{
    error::AppError,
    platform::{
        auth::{Authorized, Read, Write},
        events::{Event, record_event},
        plans::{self, Limit},
    },
    state::AppState,
};

/// Refuses (402) a scheduled post beyond the plan's monthly allowance.
pub async fn ensure_allowance(state: &AppState, workspace: Uuid) -> Result<(), AppError> {
    let used: i64 = sqlx::query_scalar(
        "select count(*) from smartflow_social.posts where workspace_id = $1 \
         and created_at >= $2 and scheduled_at is not null",
    )
    .bind(workspace)
    .bind(plans::month_start(Utc::now()))
    .fetch_one(&state.db)
    .await?;
    plans::ensure(state, workspace, Limit::ScheduledPostsPerMonth, used).await
}

pub fn event_payload(id: Uuid, plan: &Plan) -> serde_json::Value {
    let at = match plan.when {
        When::At(t) => Some(t),
        When::Draft => None,
    };
    json!({ "post_id": id, "platforms": plan.platforms(), "scheduled_at": at,
            "targets": plan.accounts.iter().map(|a| a.id).collect::<Vec<_>>() })
}

/// Schedules a post (seed route). Every target's platform rules are checked now: a post that
/// a platform would refuse is answered 422 with `errors[].code` = `<platform>.<rule>` (e.g.
/// `x.text_too_long`, `x.media_too_large`). Without `scheduled_at`, `publish_now` or `queue`
/// the post is a draft (rules then only warn).
#[utoipa::path(
    tag = "social",
    request_body = PostInput,
    responses((status = 201, body = PostResponse), (status = 402), (status = 422)),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[post("/api/posts")]
pub async fn create_post(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    body: web::Json<PostInput>,
) -> Result<HttpResponse, AppError> {
    let mut plan = plan(&state, who.workspace_id, &body, None).await?;
    if plan.when != When::Draft {
        ensure_allowance(&state, who.workspace_id).await?;
    }
    let mut tx = state.db.begin().await?;
    take_queue_slot(&mut tx, &body, &mut plan).await?;
    let id = repo::insert(&mut tx, who.workspace_id, who.user_id, &plan, None).await?;
    let kind = if plan.when == When::Draft { "post.created" } else { "post.scheduled" };
    record_event(&mut tx, &who.actor(), Event::new(kind, "post", id, event_payload(id, &plan)))
        .await?;
    let post = repo::load(&mut tx, who.workspace_id, id, false).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(PostResponse { post, warnings: plan.warnings }))
}

/// A post with each target's delivery state and attempt log (seed route).
#[utoipa::path(
    tag = "social",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Post), (status = 404)),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[get("/api/posts/{id}")]
pub async fn get_post(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let mut conn = state.db.acquire().await?;
    Ok(HttpResponse::Ok().json(repo::load(&mut conn, who.workspace_id, *id, true).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PostListQuery {
    /// `draft`, `scheduled`, `publishing`, `published`, `partially_published`, `failed`,
    /// `cancelled`.
    pub status: Option<String>,
    /// Only posts with a target on this account.
    pub account_id: Option<Uuid>,
    /// Scheduled at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Scheduled before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Posts created before this instant (the `created_at` of the last item of a page).
    pub before: Option<DateTime<Utc>>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

const STATUSES: [&str; 7] =
    ["draft", "scheduled", "publishing", "published", "partially_published", "failed", "cancelled"];

/// The workspace's posts, newest first, with their targets.
#[utoipa::path(
    tag = "social",
    params(PostListQuery),
    responses((status = 200, body = Vec<Post>), (status = 422)),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[get("/api/posts")]
pub async fn list_posts(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    q: web::Query<PostListQuery>,
) -> Result<HttpResponse, AppError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::validation(
            "limit",
            "out_of_range",
            "Use a page size from 1 to 200.",
        ));
    }
    if let Some(s) = q.status.as_deref().filter(|s| !STATUSES.contains(s)) {
        return Err(AppError::validation(
            "status",
            "unknown",
            format!("`{s}` is not a status; use one of {}.", STATUSES.join(", ")),
        ));
    }
    let mut conn = state.db.acquire().await?;
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "select p.id from smartflow_social.posts p where p.workspace_id = $1 \
         and ($2::text is null or p.status = $2) \
         and ($3::uuid is null or exists (select 1 from smartflow_social.post_targets t \
              where t.post_id = p.id and t.account_id = $3)) \
         and ($4::timestamptz is null or p.scheduled_at >= $4) \
         and ($5::timestamptz is null or p.scheduled_at < $5) \
         and ($6::timestamptz is null or p.created_at < $6) \
         order by p.created_at desc, p.id limit $7",
    )
    .bind(who.workspace_id)
    .bind(&q.status)
    .bind(q.account_id)
    .bind(q.from)
    .bind(q.to)
    .bind(q.before)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    Ok(HttpResponse::Ok().json(repo::load_many(&mut conn, who.workspace_id, &ids).await?))
}
