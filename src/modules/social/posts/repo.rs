//! Storing posts with their targets and publish jobs in one transaction, and reading them back.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use super::{
    Attempt, MediaRef, Post, TargetView,
    input::{Plan, TargetAccount, When},
    when::parse_tz,
};
use crate::{
    error::AppError,
    modules::social::{
        platforms::Platform,
        publish::{ledger, queue},
    },
};

#[derive(sqlx::FromRow)]
struct PostRow {
    id: Uuid,
    content: String,
    platforms: Vec<String>,
    scheduled_at: Option<DateTime<Utc>>,
    published_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    timezone: String,
    status: String,
    variants: Json<BTreeMap<String, String>>,
    media: Json<Vec<MediaRef>>,
    first_comment: Option<String>,
    created_by: Option<Uuid>,
    duplicated_from: Option<Uuid>,
}

pub const POST_COLUMNS: &str = "id, content, platforms, scheduled_at, published_at, created_at, \
    updated_at, timezone, status, variants, media, first_comment, created_by, duplicated_from";

const TARGET_COLUMNS: &str = "t.id, t.post_id, t.account_id, t.platform, a.username as account_username, \
    t.state, t.due_at, t.next_attempt_at, t.attempts, t.remote_id, t.remote_url, t.sent_at, \
    t.confirmed_at, t.failed_at, t.last_error_class, t.last_hint as hint, t.comment_state, \
    t.comment_hint, t.alarm_count";

fn local(at: Option<DateTime<Utc>>, tz: &str) -> Option<String> {
    let tz: Tz = parse_tz(tz).ok()?;
    at.map(|t| t.with_timezone(&tz).to_rfc3339())
}

fn to_post(row: PostRow, targets: Vec<TargetView>) -> Post {
    Post {
        scheduled_local: local(row.scheduled_at, &row.timezone),
        id: row.id,
        content: row.content,
        platforms: row.platforms,
        scheduled_at: row.scheduled_at,
        timezone: row.timezone,
        published_at: row.published_at,
        status: row.status,
        variants: row.variants.0,
        media: row.media.0,
        first_comment: row.first_comment,
        created_by: row.created_by,
        duplicated_from: row.duplicated_from,
        created_at: row.created_at,
        updated_at: row.updated_at,
        targets,
    }
}

/// Inserts the post, its targets and (unless a draft) their publish jobs.
pub async fn insert(
    conn: &mut PgConnection,
    workspace: Uuid,
    user: Uuid,
    plan: &Plan,
    duplicated_from: Option<Uuid>,
) -> Result<Uuid, AppError> {
    let id = Uuid::new_v4();
    let at = match plan.when {
        When::At(t) => Some(t),
        When::Draft => None,
    };
    sqlx::query(
        "insert into smartflow_social.posts (id, workspace_id, created_by, content, platforms, \
         scheduled_at, timezone, variants, media, first_comment, status, duplicated_from) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(id)
    .bind(workspace)
    .bind(user)
    .bind(&plan.content)
    .bind(plan.platforms())
    .bind(at)
    .bind(plan.timezone.name())
    .bind(Json(&plan.variants))
    .bind(Json(&plan.media))
    .bind(&plan.first_comment)
    .bind(if at.is_some() { "scheduled" } else { "draft" })
    .bind(duplicated_from)
    .execute(&mut *conn)
    .await?;
    add_targets(conn, workspace, id, &plan.accounts, at).await?;
    Ok(id)
}

/// New targets for `accounts` (scheduled at `at`, or drafts) and their jobs.
pub async fn add_targets(
    conn: &mut PgConnection,
    workspace: Uuid,
    post: Uuid,
    accounts: &[TargetAccount],
    at: Option<DateTime<Utc>>,
) -> Result<(), AppError> {
    if accounts.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = accounts.iter().map(|a| a.id).collect();
    let platforms: Vec<&str> = accounts.iter().map(|a| a.platform.as_str()).collect();
    let inserted: Vec<Uuid> = sqlx::query_scalar(
        "insert into smartflow_social.post_targets (post_id, workspace_id, account_id, platform, state, due_at) \
         select $1, $2, a, p, case when $5::timestamptz is null then 'draft' else 'scheduled' end, $5 \
         from unnest($3::uuid[], $4::text[]) as x(a, p) returning id",
    )
    .bind(post)
    .bind(workspace)
    .bind(&ids)
    .bind(&platforms)
    .bind(at)
    .fetch_all(&mut *conn)
    .await?;
    if let Some(at) = at {
        let jobs: Vec<(Uuid, DateTime<Utc>)> = inserted.into_iter().map(|t| (t, at)).collect();
        queue::enqueue(conn, workspace, &jobs).await?;
    }
    Ok(())
}

/// The stored post as a plan (the base an update applies to).
pub async fn load_plan(
    conn: &mut PgConnection,
    workspace: Uuid,
    id: Uuid,
) -> Result<(Plan, Option<Uuid>), AppError> {
    let row: PostRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {POST_COLUMNS} from smartflow_social.posts where id = $1 and workspace_id = $2"
    )))
    .bind(id)
    .bind(workspace)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| AppError::not_found("Post"))?;
    let targets: Vec<(Uuid, String)> = sqlx::query_as(
        "select account_id, platform from smartflow_social.post_targets \
         where post_id = $1 and state <> 'cancelled' order by created_at, id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let accounts = targets
        .into_iter()
        .filter_map(|(id, p)| Some(TargetAccount::new(id, p.parse::<Platform>().ok()?)))
        .collect();
    let plan = Plan {
        content: row.content,
        accounts,
        variants: row.variants.0,
        media: row.media.0,
        first_comment: row.first_comment,
        when: row.scheduled_at.map_or(When::Draft, When::At),
        timezone: parse_tz(&row.timezone).unwrap_or(Tz::UTC),
        warnings: Vec::new(),
    };
    Ok((plan, row.created_by))
}

/// One post with its targets (and, with `attempts`, each target's attempt log).
pub async fn load(
    conn: &mut PgConnection,
    workspace: Uuid,
    id: Uuid,
    attempts: bool,
) -> Result<Post, AppError> {
    let row: PostRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {POST_COLUMNS} from smartflow_social.posts where id = $1 and workspace_id = $2"
    )))
    .bind(id)
    .bind(workspace)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| AppError::not_found("Post"))?;
    let mut targets = targets_of(conn, &[id]).await?;
    if attempts {
        let log: Vec<Attempt> = sqlx::query_as(
            "select target_id, attempt, kind, request_id, platform_request_id, started_at, finished_at, outcome, \
             error_class, remote_code, http_status, response, hint, message, retry_after_ms \
             from smartflow_social.publish_attempts where target_id = any($1) order by id",
        )
        .bind(targets.iter().map(|t| t.id).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await?;
        for t in &mut targets {
            t.attempt_log = Some(log.iter().filter(|a| a.target_id == t.id).cloned().collect());
        }
    }
    Ok(to_post(row, targets))
}

pub async fn targets_of(
    conn: &mut PgConnection,
    posts: &[Uuid],
) -> Result<Vec<TargetView>, AppError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {TARGET_COLUMNS} from smartflow_social.post_targets t \
         join smartflow_social.accounts a on a.id = t.account_id \
         where t.post_id = any($1) order by t.created_at, t.id"
    )))
    .bind(posts)
    .fetch_all(conn)
    .await?)
}

/// Posts of a page of ids, with their targets, in the given order.
pub async fn load_many(
    conn: &mut PgConnection,
    workspace: Uuid,
    ids: &[Uuid],
) -> Result<Vec<Post>, AppError> {
    let rows: Vec<PostRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {POST_COLUMNS} from smartflow_social.posts where id = any($1) and workspace_id = $2"
    )))
    .bind(ids)
    .bind(workspace)
    .fetch_all(&mut *conn)
    .await?;
    let targets = targets_of(conn, ids).await?;
    let mut by_id: BTreeMap<Uuid, PostRow> = rows.into_iter().map(|r| (r.id, r)).collect();
    Ok(ids
        .iter()
        .filter_map(|id| {
            let row = by_id.remove(id)?;
            let mine = targets.iter().filter(|t| t.post_id == *id).cloned().collect();
            Some(to_post(row, mine))
        })
        .collect())
}

/// Refreshes the post's status from its targets.
pub async fn refresh_status(conn: &mut PgConnection, id: Uuid) -> Result<(), AppError> {
    ledger::refresh_post(conn, id).await?;
    Ok(())
}
