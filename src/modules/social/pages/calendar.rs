//! `/app/social/calendar`: month and week views in the workspace's timezone, a reschedule
//! form on each post that has not gone out (drag-and-drop does the same through the API),
//! and each account's queue of time slots.

use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use chrono::{Datelike, Duration, NaiveDate, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{NAV, back, can_write, layout, say};
use crate::{
    error::{AppError, PageError},
    http::page::{CachePolicy, Layout, render},
    modules::social::{
        accounts::{
            self,
            slots::{WEEKDAYS, slots_of},
        },
        calendar,
        platforms::Platform,
        posts::{edit, input::PostInput, when::local_date},
    },
    platform::auth::{csrf::CsrfToken, pages::SignedIn},
    state::AppState,
};

#[derive(Clone)]
pub struct PostChip {
    pub id: Uuid,
    pub time: String,
    pub excerpt: String,
    pub status: String,
    pub targets: Vec<(String, String)>,
    pub local_value: String,
    pub editable: bool,
}

#[derive(Clone)]
pub struct DayCell {
    pub date: String,
    pub day: u32,
    pub in_range: bool,
    pub today: bool,
    pub posts: Vec<PostChip>,
}

#[derive(Template)]
#[template(path = "social/calendar.html")]
struct CalendarPage {
    layout: Layout,
    nav: [(&'static str, &'static str); 3],
    view: String,
    title: String,
    tz: String,
    prev: String,
    next: String,
    today: String,
    other_view: String,
    other_view_label: String,
    weeks: Vec<Vec<DayCell>>,
    queues: Vec<(String, Vec<String>)>,
    notice: String,
    error: String,
    can_write: bool,
}

#[derive(Deserialize)]
pub struct CalendarPageQuery {
    view: Option<String>,
    date: Option<NaiveDate>,
    notice: Option<String>,
    error: Option<String>,
}

fn href(view: &str, date: NaiveDate) -> String {
    format!("/app/social/calendar?view={view}&date={date}")
}

// not-in-openapi: HTML page
#[get("/app/social/calendar")]
pub async fn calendar_page(
    state: web::Data<AppState>,
    csrf: CsrfToken,
    who: SignedIn,
    q: web::Query<CalendarPageQuery>,
) -> Result<HttpResponse, PageError> {
    let who = who.0;
    let tz = crate::modules::social::posts::input::workspace_tz(&state, who.workspace_id).await?;
    let today = local_date(Utc::now(), tz);
    let anchor = q.date.unwrap_or(today);
    let week = q.view.as_deref() == Some("week");
    // The grid starts on a Monday: the anchor's week, or the week of the month's first day.
    let first = if week { anchor } else { anchor.with_day(1).unwrap_or(anchor) };
    let grid_start = first - Duration::days(i64::from(first.weekday().num_days_from_monday()));
    let (range_from, range_to, grid_days) = if week {
        (grid_start, grid_start + Duration::days(6), 7)
    } else {
        let last = (first + Duration::days(31)).with_day(1).unwrap_or(first) - Duration::days(1);
        let span = (last - grid_start).num_days() + 1;
        (first, last, ((span + 6) / 7) * 7)
    };
    let cal = calendar::load(
        &state,
        who.workspace_id,
        grid_start,
        grid_start + Duration::days(grid_days - 1),
        tz,
        None,
    )
    .await?;
    let editable = can_write(&who);
    let cells: Vec<DayCell> = cal
        .days
        .into_iter()
        .map(|d| DayCell {
            date: d.date.to_string(),
            day: d.date.day(),
            in_range: d.date >= range_from && d.date <= range_to,
            today: d.date == today,
            posts: d
                .posts
                .into_iter()
                .map(|p| PostChip {
                    local_value: format!("{}T{}", d.date, p.local_time),
                    editable: editable
                        && matches!(p.status.as_str(), "scheduled" | "draft" | "failed"),
                    id: p.id,
                    time: p.local_time,
                    excerpt: p.excerpt.chars().take(80).collect(),
                    status: p.status,
                    targets: p
                        .targets
                        .into_iter()
                        .map(|t| {
                            (
                                t.platform
                                    .parse::<Platform>()
                                    .map(Platform::name)
                                    .unwrap_or("?")
                                    .to_string(),
                                t.state,
                            )
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let weeks = cells.chunks(7).map(<[DayCell]>::to_vec).collect();
    let mut queues = Vec::new();
    let mut conn = state.db.acquire().await.map_err(AppError::from)?;
    for a in accounts::list(&state.db, who.workspace_id, false).await? {
        let slots: Vec<String> = slots_of(&mut conn, a.id)
            .await
            .map_err(AppError::from)?
            .into_iter()
            .map(|s| {
                format!(
                    "{} {}",
                    &WEEKDAYS[s.weekday as usize % 7][..3],
                    s.local_time.format("%H:%M")
                )
            })
            .collect();
        if !slots.is_empty() {
            queues.push((a.username.or(a.display_name).unwrap_or(a.remote_id), slots));
        }
    }
    let (view, step, other) = if week {
        ("week", Duration::days(7), "month")
    } else {
        ("month", Duration::days(31), "week")
    };
    let prev_anchor =
        if week { anchor - step } else { (first - Duration::days(1)).with_day(1).unwrap_or(first) };
    let next_anchor =
        if week { anchor + step } else { (first + step).with_day(1).unwrap_or(first) };
    let title = if week {
        format!("Week of {}", grid_start.format("%-d %B %Y"))
    } else {
        first.format("%B %Y").to_string()
    };
    let page = CalendarPage {
        layout: layout("Content calendar", "/app/social/calendar", &csrf, &who),
        nav: NAV,
        view: view.into(),
        title,
        tz: tz.name().to_string(),
        prev: href(view, prev_anchor),
        next: href(view, next_anchor),
        today: href(view, today),
        other_view: href(other, anchor),
        other_view_label: format!("{other} view"),
        weeks,
        queues,
        notice: q.notice.clone().unwrap_or_default(),
        error: q.error.clone().unwrap_or_default(),
        can_write: editable,
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}

#[derive(Deserialize)]
pub struct RescheduleForm {
    scheduled_at: String,
    timezone: Option<String>,
    back: Option<String>,
}

// not-in-openapi: HTML form
#[post("/app/social/posts/{id}/reschedule")]
pub async fn reschedule_submit(
    state: web::Data<AppState>,
    who: SignedIn,
    id: web::Path<Uuid>,
    form: web::Form<RescheduleForm>,
) -> Result<HttpResponse, PageError> {
    let to = crate::platform::auth::pages::safe_next(form.back.as_deref());
    let to =
        if to.starts_with("/app/social/calendar") { to } else { "/app/social/calendar".into() };
    if let Err(e) = who.0.require(crate::platform::auth::Permission::Write) {
        return Ok(back(&to, "error", &say(&e)));
    }
    let input = PostInput {
        scheduled_at: Some(form.scheduled_at.clone()),
        timezone: form.timezone.clone().filter(|t| !t.is_empty()),
        ..PostInput::default()
    };
    match edit::update(&state, &who.0, *id, &input).await {
        Ok(r) => Ok(back(
            &to,
            "notice",
            &format!("Rescheduled to {}.", r.post.scheduled_local.unwrap_or_default()),
        )),
        Err(e) => Ok(back(&to, "error", &say(&e))),
    }
}
