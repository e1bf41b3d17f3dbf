//! Each account's queue of recurring time slots ("Mondays 09:30 Europe/Paris"): posts added
//! with `queue: true` take the first free one. Slots are wall-clock times in their timezone,
//! so a 09:30 slot stays at 09:30 local across DST changes.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgConnection;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::find;
use crate::{
    error::{AppError, Validator},
    modules::social::posts::{
        input::workspace_tz,
        when::{local_date, parse_time_of_day, parse_tz, resolve_lenient},
    },
    platform::{
        auth::{Authorized, Principal, Read, Write},
        events::{Event, record_event},
    },
    state::AppState,
};

pub const WEEKDAYS: [&str; 7] =
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct TimeSlot {
    pub id: Uuid,
    pub account_id: Uuid,
    /// 0 = Monday … 6 = Sunday.
    pub weekday: i16,
    /// Local time of day, `HH:MM`.
    #[schema(value_type = String, example = "09:30")]
    #[serde(serialize_with = "hh_mm")]
    pub local_time: NaiveTime,
    pub timezone: String,
}

fn hh_mm<S: serde::Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.format("%H:%M").to_string())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewTimeSlot {
    /// `monday` … `sunday`, or 0 (Monday) … 6 (Sunday).
    #[schema(value_type = String, example = "monday")]
    pub weekday: serde_json::Value,
    /// `HH:MM`, 24-hour.
    pub time: String,
    /// IANA timezone; default the workspace's.
    pub timezone: Option<String>,
}

pub async fn slots_of(
    conn: &mut PgConnection,
    account: Uuid,
) -> Result<Vec<TimeSlot>, sqlx::Error> {
    sqlx::query_as(
        "select id, account_id, weekday, local_time, timezone from smartflow_social.time_slots \
         where account_id = $1 order by weekday, local_time",
    )
    .bind(account)
    .fetch_all(conn)
    .await
}

/// The next `count` slot instants after `after` that no post already takes.
pub async fn next_free(
    conn: &mut PgConnection,
    account: Uuid,
    after: DateTime<Utc>,
    count: usize,
) -> Result<Vec<DateTime<Utc>>, AppError> {
    let slots = slots_of(conn, account).await?;
    if slots.is_empty() {
        return Ok(Vec::new());
    }
    // Far enough to find `count` slots even when some are taken.
    let weeks = (count / slots.len() + 2).clamp(8, 110) as i64;
    let horizon = after + Duration::weeks(weeks);
    let taken: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "select due_at from smartflow_social.post_targets where account_id = $1 \
         and state not in ('cancelled', 'draft') and due_at > $2 and due_at <= $3",
    )
    .bind(account)
    .bind(after)
    .bind(horizon)
    .fetch_all(&mut *conn)
    .await?;
    let mut times = Vec::new();
    for slot in &slots {
        let Ok(tz) = parse_tz(&slot.timezone) else { continue };
        let start = local_date(after, tz);
        for day in 0..(weeks * 7 + 1) {
            let date = start + Duration::days(day);
            if date.weekday().num_days_from_monday() as i16 != slot.weekday {
                continue;
            }
            let at = resolve_lenient(tz, date.and_time(slot.local_time));
            if at > after && at <= horizon {
                times.push(at);
            }
        }
    }
    times.sort();
    times.dedup();
    Ok(times.into_iter().filter(|t| !taken.contains(t)).take(count).collect())
}

/// The first free slot after `after`, for a post stored in `conn`'s transaction. The account's
/// queue stays locked until that transaction ends, so two posts queued at once never take
/// the same slot: the second sees the first one's target once it is committed.
pub async fn take_free(
    conn: &mut PgConnection,
    account: Uuid,
    after: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, AppError> {
    crate::db::xact_lock(conn, "social.slots", account).await?;
    Ok(next_free(conn, account, after, 1).await?.into_iter().next())
}

/// The account's time slots.
#[utoipa::path(tag = "social", params(("id" = Uuid, Path)), responses((status = 200, body = Vec<TimeSlot>), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/accounts/{id}/slots")]
pub async fn list_time_slots(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let account = find(&state.db, who.workspace_id, *id).await?;
    let mut conn = state.db.acquire().await?;
    Ok(HttpResponse::Ok().json(slots_of(&mut conn, account.id).await?))
}

fn parse_weekday(v: &serde_json::Value) -> Option<i16> {
    match v {
        serde_json::Value::Number(n) => n.as_i64().filter(|n| (0..7).contains(n)).map(|n| n as i16),
        serde_json::Value::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            WEEKDAYS.iter().position(|d| *d == s || d[..3] == s).map(|i| i as i16)
        }
        _ => None,
    }
}

/// Adds a recurring slot to the account's queue.
#[utoipa::path(tag = "social", params(("id" = Uuid, Path)), request_body = NewTimeSlot, responses((status = 201, body = TimeSlot), (status = 404), (status = 409), (status = 422)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[post("/api/accounts/{id}/slots")]
pub async fn create_time_slot(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    id: web::Path<Uuid>,
    body: web::Json<NewTimeSlot>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Created().json(add(&state, &who, *id, &body).await?))
}

/// Shared with the accounts page.
pub async fn add(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    body: &NewTimeSlot,
) -> Result<TimeSlot, AppError> {
    let account = find(&state.db, who.workspace_id, id).await?;
    // A slot changes the account's queue: the account's creator's (or an admin's) decision.
    who.ensure_can_edit(account.created_by)?;
    let mut v = Validator::new();
    let weekday = parse_weekday(&body.weekday);
    if weekday.is_none() {
        v.add("weekday", "invalid", "Use monday … sunday, or 0 (Monday) … 6 (Sunday).");
    }
    let time = v.check("time", parse_time_of_day(&body.time));
    let tz = match body.timezone.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(raw) => v.check("timezone", parse_tz(raw)),
        None => Some(workspace_tz(state, who.workspace_id).await?),
    };
    v.finish()?;
    let (Some(weekday), Some(time), Some(tz)) = (weekday, time, tz) else {
        return Err(AppError::internal(anyhow::anyhow!("validated slot lost its fields")));
    };
    let mut tx = state.db.begin().await?;
    let slot: Option<TimeSlot> = sqlx::query_as(
        "insert into smartflow_social.time_slots (workspace_id, account_id, weekday, local_time, timezone) \
         values ($1, $2, $3, $4, $5) on conflict (account_id, weekday, local_time) do nothing \
         returning id, account_id, weekday, local_time, timezone",
    )
    .bind(who.workspace_id)
    .bind(account.id)
    .bind(weekday)
    .bind(time)
    .bind(tz.name())
    .fetch_optional(&mut *tx)
    .await?;
    let slot =
        slot.ok_or_else(|| AppError::Conflict("This account already has that slot.".into()))?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new(
            "time_slot.created",
            "social_account",
            account.id,
            json!({ "slot_id": slot.id }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(slot)
}

/// Removes a slot (posts already placed in it keep their time).
#[utoipa::path(tag = "social", params(("id" = Uuid, Path), ("slot_id" = Uuid, Path)), responses((status = 204), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[delete("/api/accounts/{id}/slots/{slot_id}")]
pub async fn delete_time_slot(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, AppError> {
    let (id, slot) = path.into_inner();
    remove(&state, &who, id, slot).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Shared with the accounts page.
pub async fn remove(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    slot: Uuid,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    let account = find(&mut *tx, who.workspace_id, id).await?;
    who.ensure_can_edit(account.created_by)?;
    let gone = sqlx::query(
        "delete from smartflow_social.time_slots where id = $1 and account_id = $2 and workspace_id = $3",
    )
    .bind(slot)
    .bind(account.id)
    .bind(who.workspace_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if gone == 0 {
        return Err(AppError::not_found("Time slot"));
    }
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("time_slot.deleted", "social_account", id, json!({ "slot_id": slot })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NextSlotsQuery {
    /// How many, 1–100 (default 5).
    pub count: Option<usize>,
}

/// The next free slot times of the account's queue.
#[utoipa::path(tag = "social", params(("id" = Uuid, Path), NextSlotsQuery), responses((status = 200, body = Vec<DateTime<Utc>>), (status = 404)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/accounts/{id}/slots/next")]
pub async fn next_time_slots(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
    q: web::Query<NextSlotsQuery>,
) -> Result<HttpResponse, AppError> {
    let account = find(&state.db, who.workspace_id, *id).await?;
    let count = q.count.unwrap_or(5).clamp(1, 100);
    let mut conn = state.db.acquire().await?;
    Ok(HttpResponse::Ok().json(next_free(&mut conn, account.id, Utc::now(), count).await?))
}
