//! Reading leads: the filtered, keyset-paginated list (also used in batches by the CSV export
//! and by the admin table), one lead, and its history.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::model::{LEAD_COLUMNS, Lead, LeadFilter, LeadHistoryEntry, LeadStatus};
use crate::{
    error::{AppError, Validator},
    modules::main_site::cursor,
};

/// A [`LeadFilter`] whose values were checked.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub status: Option<LeadStatus>,
    pub source: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub pattern: Option<String>,
    pub owner_id: Option<Uuid>,
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

impl LeadFilter {
    pub fn parse(&self) -> Result<Query, AppError> {
        let mut v = Validator::new();
        let status = match self.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => {
                let parsed = LeadStatus::parse(s);
                if parsed.is_none() {
                    v.add(
                        "status",
                        "invalid",
                        "Use one of: new, contacted, qualified, won, lost, spam.",
                    );
                }
                parsed
            }
        };
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            v.add("to", "before_from", "Choose an end date on or after the start date.");
        }
        let after = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => v.check("cursor", cursor::decode(c)),
            None => None,
        };
        let limit = v.check("limit", cursor::limit(self.limit)).unwrap_or(50);
        v.finish()?;
        Ok(Query {
            status,
            source: self
                .source
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            from: self.from,
            to: self.to,
            pattern: cursor::contains_pattern(self.q.as_deref()),
            owner_id: self.owner_id,
            after,
            limit,
        })
    }
}

const FILTER: &str = "($1::text is null or status = $1) \
    and ($2::text is null or source = $2) \
    and ($3::date is null or created_at >= ($3::date)::timestamp at time zone 'UTC') \
    and ($4::date is null or created_at < ($4::date + 1)::timestamp at time zone 'UTC') \
    and ($5::text is null or name ilike $5 or email ilike $5 or company ilike $5) \
    and ($6::uuid is null or owner_id = $6) \
    and ($7::timestamptz is null or (created_at, id) < ($7, $8))";

/// One page of leads, newest first.
pub async fn list(db: &PgPool, q: &Query) -> Result<Vec<Lead>, sqlx::Error> {
    let sql = format!(
        "select {LEAD_COLUMNS} from smartflow_main.leads where {FILTER} \
         order by created_at desc, id desc limit $9"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(q.status.map(LeadStatus::as_str))
        .bind(&q.source)
        .bind(q.from)
        .bind(q.to)
        .bind(&q.pattern)
        .bind(q.owner_id)
        .bind(q.after.map(|a| a.0))
        .bind(q.after.map(|a| a.1))
        .bind(q.limit)
        .fetch_all(db)
        .await
}

/// The cursor of the page after `items` (when the page was full).
pub fn next_cursor(items: &[Lead], limit: i64) -> Option<String> {
    if items.len() as i64 == limit {
        items.last().map(|l| cursor::encode(l.created_at, l.id))
    } else {
        None
    }
}

pub async fn get(db: &PgPool, id: Uuid) -> Result<Lead, AppError> {
    let sql = format!("select {LEAD_COLUMNS} from smartflow_main.leads where id = $1");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("Lead {id}")))
}

pub async fn history(db: &PgPool, id: Uuid) -> Result<Vec<LeadHistoryEntry>, sqlx::Error> {
    sqlx::query_as(
        "select id, kind, actor_user_id, data, created_at from smartflow_main.lead_history \
         where lead_id = $1 order by id",
    )
    .bind(id)
    .fetch_all(db)
    .await
}

/// Distinct sources, for the admin filter.
pub async fn sources(db: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select distinct source from smartflow_main.leads where source is not null order by 1 limit 200",
    )
    .fetch_all(db)
    .await
}

/// Staff who can own leads: (id, e-mail).
pub async fn staff(db: &PgPool) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "select id, email from smartflow_main.users where is_staff and disabled_at is null order by email",
    )
    .fetch_all(db)
    .await
}
