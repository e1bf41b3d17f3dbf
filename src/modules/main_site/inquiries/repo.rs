//! Reading and changing inquiries (staff).

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::{COLUMNS, Inquiry, InquiryFilter, InquiryPatch};
use crate::{
    error::{AppError, Validator},
    modules::main_site::{cursor, leads::service},
    platform::{
        auth::Principal,
        events::{Event, record_event},
    },
    state::AppState,
};

#[derive(Debug, Clone, Default)]
pub struct Query {
    pub status: Option<String>,
    pub topic: Option<String>,
    pub pattern: Option<String>,
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

const STATUSES: [&str; 2] = ["open", "resolved"];

impl InquiryFilter {
    pub fn parse(&self) -> Result<Query, AppError> {
        let mut v = Validator::new();
        let status = self.status.as_deref().map(str::trim).filter(|s| !s.is_empty());
        if let Some(s) = status
            && !STATUSES.contains(&s)
        {
            v.add("status", "invalid", "Use `open` or `resolved`.");
        }
        let after = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => v.check("cursor", cursor::decode(c)),
            None => None,
        };
        let limit = v.check("limit", cursor::limit(self.limit)).unwrap_or(50);
        v.finish()?;
        Ok(Query {
            status: status.map(str::to_string),
            topic: self
                .topic
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string),
            pattern: cursor::contains_pattern(self.q.as_deref()),
            after,
            limit,
        })
    }
}

pub async fn list(db: &PgPool, q: &Query) -> Result<Vec<Inquiry>, sqlx::Error> {
    let sql = format!(
        "select {COLUMNS} from smartflow_main.inquiries \
         where ($1::text is null or status = $1) and ($2::text is null or topic = $2) \
           and ($3::text is null or name ilike $3 or email ilike $3 or company ilike $3 or message ilike $3) \
           and ($4::timestamptz is null or (created_at, id) < ($4, $5)) \
         order by created_at desc, id desc limit $6"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&q.status)
        .bind(&q.topic)
        .bind(&q.pattern)
        .bind(q.after.map(|a| a.0))
        .bind(q.after.map(|a| a.1))
        .bind(q.limit)
        .fetch_all(db)
        .await
}

pub fn next_cursor(items: &[Inquiry], limit: i64) -> Option<String> {
    (items.len() as i64 == limit)
        .then(|| items.last().map(|i| cursor::encode(i.created_at, i.id)))
        .flatten()
}

pub async fn get(db: &PgPool, id: Uuid) -> Result<Inquiry, AppError> {
    let sql = format!("select {COLUMNS} from smartflow_main.inquiries where id = $1");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("Inquiry {id}")))
}

pub async fn update(
    state: &AppState,
    staff: &Principal,
    id: Uuid,
    patch: &InquiryPatch,
) -> Result<Inquiry, AppError> {
    let mut v = Validator::new();
    if !STATUSES.contains(&patch.status.as_str()) {
        v.add("status", "invalid", "Use `open` or `resolved`.");
    }
    if patch.resolution_note.as_ref().is_some_and(|n| n.chars().count() > 5_000) {
        v.add("resolution_note", "too_long", "Use at most 5,000 characters.");
    }
    v.finish()?;
    let actor = service::platform_actor(staff);
    let mut tx = state.db.begin().await?;
    let sql = format!(
        "update smartflow_main.inquiries set status = $2, \
           resolution_note = coalesce($3, resolution_note), \
           resolved_at = case when $2 = 'resolved' then coalesce(resolved_at, now()) end, \
           resolved_by = case when $2 = 'resolved' then coalesce(resolved_by, $4) end, \
           updated_at = now() \
         where id = $1 returning {COLUMNS}"
    );
    let inquiry: Inquiry = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(&patch.status)
        .bind(patch.resolution_note.as_deref().map(str::trim))
        .bind(staff.user_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| AppError::not_found(format!("Inquiry {id}")))?;
    let kind = if inquiry.status == "resolved" { "inquiry.resolved" } else { "inquiry.reopened" };
    record_event(&mut tx, &actor, Event::new(kind, "inquiry", id, json!({ "id": id }))).await?;
    tx.commit().await?;
    Ok(inquiry)
}

pub async fn erase(state: &AppState, staff: &Principal, id: Uuid) -> Result<(), AppError> {
    let actor = service::platform_actor(staff);
    let mut tx = state.db.begin().await?;
    let deleted: Option<Uuid> =
        sqlx::query_scalar("delete from smartflow_main.inquiries where id = $1 returning id")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if deleted.is_none() {
        return Err(AppError::not_found(format!("Inquiry {id}")));
    }
    service::scrub(&mut tx, "inquiry", id).await?;
    record_event(&mut tx, &actor, Event::new("inquiry.erased", "inquiry", id, json!({ "id": id })))
        .await?;
    tx.commit().await?;
    Ok(())
}
