//! The publishing ledger: one row per (post, account) target with its state, one attempt row
//! per try. States: `draft`, `scheduled` → `claimed` → `sent` → `confirmed` | `unconfirmed` |
//! `failed`, and `cancelled`. Every transition after the claim is fenced by the claim token,
//! so a worker that lost its claim (it was presumed dead) cannot overwrite the one that took
//! over.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

pub use super::{
    ownership::{lock_account, taken_remote_ids},
    status::{cancel_for_account, refresh_post},
};
use crate::{
    modules::social::platforms::PlatformError,
    platform::events::{Actor, Event, record_event},
};

/// Longest platform response kept with an attempt (already redacted by the adapters).
const RESPONSE_MAX: usize = 4_000;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Target {
    pub id: Uuid,
    pub post_id: Uuid,
    pub workspace_id: Uuid,
    pub account_id: Uuid,
    pub platform: String,
    pub state: String,
    pub due_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    /// The job whose run claimed it last.
    pub job_id: Option<i64>,
}

const TARGET: &str = "id, post_id, workspace_id, account_id, platform, state, due_at, \
    next_attempt_at, attempts, created_at, job_id";

pub enum Locked {
    Row(Target),
    /// Another transaction holds it (an edit, or another worker); come back shortly.
    Busy,
    Gone,
}

pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Locked, sqlx::Error> {
    let row: Option<Target> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {TARGET} from smartflow_social.post_targets where id = $1 for update skip locked"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(t) = row {
        return Ok(Locked::Row(t));
    }
    let exists: bool = sqlx::query_scalar(
        "select exists (select 1 from smartflow_social.post_targets where id = $1)",
    )
    .bind(id)
    .fetch_one(conn)
    .await?;
    Ok(if exists { Locked::Busy } else { Locked::Gone })
}

/// Whether another job's run that claimed the target is still going (then it owns it).
pub async fn claimed_by_live_run(
    conn: &mut PgConnection,
    t: &Target,
    me: i64,
) -> Result<bool, sqlx::Error> {
    let Some(owner) = t.job_id.filter(|j| *j != me) else { return Ok(false) };
    sqlx::query_scalar(
        "select exists (select 1 from smartflow_shared.jobs where id = $1 and state = 'running')",
    )
    .bind(owner)
    .fetch_one(conn)
    .await
}

/// Takes the target for this run; returns the claim token.
pub async fn claim(conn: &mut PgConnection, id: Uuid, job: i64) -> Result<Uuid, sqlx::Error> {
    let token = Uuid::new_v4();
    sqlx::query(
        "update smartflow_social.post_targets set state = case when state = 'scheduled' \
         then 'claimed' else state end, claim_token = $2, claimed_at = now(), job_id = $3, \
         updated_at = now() where id = $1",
    )
    .bind(id)
    .bind(token)
    .bind(job)
    .execute(conn)
    .await?;
    Ok(token)
}

/// The latest attempt that may have reached the platform: (started_at, in flight?).
pub async fn last_attempt(
    conn: &mut PgConnection,
    target: Uuid,
) -> Result<Option<(DateTime<Utc>, bool)>, sqlx::Error> {
    sqlx::query_as(
        "select started_at, outcome = 'in_flight' from smartflow_social.publish_attempts \
         where target_id = $1 and kind = 'publish' order by id desc limit 1",
    )
    .bind(target)
    .fetch_optional(conn)
    .await
}

/// An attempt on record: its row, the request id sent along, the target's attempt number.
pub struct Started {
    pub id: i64,
    pub request_id: Uuid,
    pub number: i32,
    pub at: DateTime<Utc>,
}

/// The attempt whose worker stopped before its answer arrived: its outcome is unknown.
pub async fn abandon_in_flight(conn: &mut PgConnection, t: &Target) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update smartflow_social.publish_attempts set outcome = 'unknown', finished_at = now(), \
         message = 'no answer was recorded: the worker stopped while the request was out' \
         where target_id = $1 and outcome = 'in_flight'",
    )
    .bind(t.id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "update smartflow_social.post_targets set state = 'unconfirmed', \
         last_error_class = 'unknown_outcome', updated_at = now() where id = $1 and state = 'sent'",
    )
    .bind(t.id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records an attempt before its request goes out; `None` when the claim was lost. Every
/// kind counts towards `publishing.max_attempts`: reading the account to reconcile is a try
/// too, so nothing loops without bound.
pub async fn start_attempt(
    conn: &mut PgConnection,
    t: &Target,
    token: Uuid,
    kind: &str,
) -> Result<Option<Started>, sqlx::Error> {
    let publishing = kind == "publish";
    let n: Option<i32> = sqlx::query_scalar(
        "update smartflow_social.post_targets set \
         state = case when $3 then 'sent' else state end, \
         sent_at = case when $3 then now() else sent_at end, \
         attempts = attempts + 1, updated_at = now() \
         where id = $1 and claim_token = $2 returning attempts",
    )
    .bind(t.id)
    .bind(token)
    .bind(publishing)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(n) = n else { return Ok(None) };
    let request_id = Uuid::new_v4();
    let (id, at): (i64, DateTime<Utc>) = sqlx::query_as(
        "insert into smartflow_social.publish_attempts (target_id, workspace_id, attempt, request_id, kind) \
         values ($1, $2, $3, $4, $5) returning id, started_at",
    )
    .bind(t.id)
    .bind(t.workspace_id)
    .bind(n)
    .bind(request_id)
    .bind(kind)
    .fetch_one(conn)
    .await?;
    Ok(Some(Started { id, request_id, number: n, at }))
}

fn clip(s: &str) -> String {
    if s.len() <= RESPONSE_MAX {
        return s.to_string();
    }
    let mut end = RESPONSE_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A try that failed before any request went out (the token endpoint, object storage):
/// counted like an attempt, so such failures cannot loop without bound. The new count.
pub async fn count_try(
    conn: &mut PgConnection,
    t: &Target,
    token: Uuid,
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar(
        "update smartflow_social.post_targets set attempts = attempts + 1, updated_at = now() \
         where id = $1 and claim_token = $2 returning attempts",
    )
    .bind(t.id)
    .bind(token)
    .fetch_optional(conn)
    .await
}

/// Closes an attempt: `confirmed`, `reconciled`, `not_found`, `error` or `unknown`.
/// `request_id` is the platform's own id of the request (an error carries its own).
pub async fn finish_attempt(
    conn: &mut PgConnection,
    attempt: i64,
    outcome: &str,
    error: Option<&PlatformError>,
    request_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    let info = error.map(|e| e.info());
    let request_id = info.and_then(|i| i.request_id.as_deref()).or(request_id);
    sqlx::query(
        "update smartflow_social.publish_attempts set finished_at = now(), outcome = $2, \
         error_class = $3, remote_code = $4, http_status = $5, response = $6, hint = $7, \
         message = $8, retry_after_ms = $9, platform_request_id = $10 where id = $1",
    )
    .bind(attempt)
    .bind(outcome)
    .bind(error.map(PlatformError::code))
    .bind(info.and_then(|i| i.remote_code.clone()))
    .bind(info.and_then(|i| i.http_status).map(i32::from))
    .bind(info.and_then(|i| i.body.as_deref()).map(clip))
    .bind(info.map(|i| i.hint.clone()))
    .bind(error.map(|e| clip(e.message())))
    .bind(error.and_then(PlatformError::retry_after).map(|d| d.as_millis() as i64))
    .bind(request_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// What a first comment came to.
pub struct CommentResult {
    pub state: &'static str,
    pub remote_id: Option<String>,
    pub hint: Option<String>,
}

/// The post exists on the platform. Emits `post.published`.
pub async fn confirm(
    conn: &mut PgConnection,
    t: &Target,
    token: Uuid,
    remote_id: &str,
    url: Option<&str>,
    comment: Option<CommentResult>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update smartflow_social.post_targets set state = 'confirmed', confirmed_at = now(), \
         remote_id = $3, remote_url = $4, comment_state = $5, comment_remote_id = $6, \
         comment_hint = $7, last_error_class = null, last_hint = null, next_attempt_at = null, \
         updated_at = now() where id = $1 and claim_token = $2",
    )
    .bind(t.id)
    .bind(token)
    .bind(remote_id)
    .bind(url)
    .bind(comment.as_ref().map(|c| c.state))
    .bind(comment.as_ref().and_then(|c| c.remote_id.clone()))
    .bind(comment.as_ref().and_then(|c| c.hint.clone()))
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !done {
        return Ok(false);
    }
    sqlx::query("update smartflow_social.accounts set last_published_at = now() where id = $1")
        .bind(t.account_id)
        .execute(&mut *conn)
        .await?;
    record_event(
        &mut *conn,
        &Actor::system("social"),
        Event::new(
            "post.published",
            "post",
            t.post_id,
            json!({ "post_id": t.post_id, "target_id": t.id, "account_id": t.account_id,
                    "platform": t.platform, "remote_id": remote_id, "url": url }),
        )
        .workspace(t.workspace_id),
    )
    .await?;
    refresh_post(conn, t.post_id).await?;
    Ok(true)
}

/// Gives up on the target. Emits `post.failed` with the hint for the user.
pub async fn fail(
    conn: &mut PgConnection,
    t: &Target,
    token: Option<Uuid>,
    class: &str,
    hint: &str,
) -> Result<(), sqlx::Error> {
    let failed = sqlx::query(
        "update smartflow_social.post_targets set state = 'failed', failed_at = now(), \
         last_error_class = $3, last_hint = $4, next_attempt_at = null, updated_at = now() \
         where id = $1 and ($2::uuid is null or claim_token = $2) \
         and state not in ('confirmed', 'cancelled', 'failed')",
    )
    .bind(t.id)
    .bind(token)
    .bind(class)
    .bind(hint)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if failed {
        tracing::warn!(target = %t.id, platform = %t.platform, class, "social post failed");
        record_event(
            &mut *conn,
            &Actor::system("social"),
            Event::new(
                "post.failed",
                "post",
                t.post_id,
                json!({ "post_id": t.post_id, "target_id": t.id, "account_id": t.account_id,
                        "platform": t.platform, "error": class, "hint": hint }),
            )
            .workspace(t.workspace_id),
        )
        .await?;
        refresh_post(conn, t.post_id).await?;
    }
    Ok(())
}

/// The platform refused the request outright (nothing was created): back to `claimed`, so a
/// crash before the next step does not send anyone reconciling.
pub async fn unsend(conn: &mut PgConnection, t: &Target, token: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update smartflow_social.post_targets set state = 'claimed', updated_at = now() \
         where id = $1 and claim_token = $2 and state = 'sent'",
    )
    .bind(t.id)
    .bind(token)
    .execute(conn)
    .await?;
    Ok(())
}

/// Back to `scheduled` for another try at `next`.
pub async fn retry_at(
    conn: &mut PgConnection,
    t: &Target,
    token: Uuid,
    next: DateTime<Utc>,
    class: &str,
    hint: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update smartflow_social.post_targets set state = 'scheduled', next_attempt_at = $3, \
         claim_token = null, last_error_class = $4, last_hint = $5, updated_at = now() \
         where id = $1 and claim_token = $2",
    )
    .bind(t.id)
    .bind(token)
    .bind(next)
    .bind(class)
    .bind(hint)
    .execute(&mut *conn)
    .await?;
    refresh_post(conn, t.post_id).await
}

/// The outcome is unknown: reconcile before any new attempt.
pub async fn unconfirmed(
    conn: &mut PgConnection,
    t: &Target,
    token: Uuid,
    class: &str,
    hint: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update smartflow_social.post_targets set state = 'unconfirmed', last_error_class = $3, \
         last_hint = $4, updated_at = now() where id = $1 and claim_token = $2",
    )
    .bind(t.id)
    .bind(token)
    .bind(class)
    .bind(hint)
    .execute(&mut *conn)
    .await?;
    refresh_post(conn, t.post_id).await
}

/// Defers a scheduled target (budget exhausted, account rate limited) without an attempt.
pub async fn defer(
    conn: &mut PgConnection,
    id: Uuid,
    next: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update smartflow_social.post_targets set next_attempt_at = $2, updated_at = now() \
         where id = $1 and state = 'scheduled'",
    )
    .bind(id)
    .bind(next)
    .execute(conn)
    .await?;
    Ok(())
}
