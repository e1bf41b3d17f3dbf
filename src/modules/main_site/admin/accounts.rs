//! `/admin/users`, `/admin/workspaces` and `/admin/subscriptions`: the customers, read-only.

use actix_web::{HttpResponse, get, http::StatusCode, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{StaffPage, query, when, when_opt};
use crate::{
    error::PageError,
    http::page::{CachePolicy, Layout, render},
    modules::main_site::cursor,
    state::AppState,
};

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    cursor: Option<String>,
    status: Option<String>,
}

impl SearchQuery {
    fn text(&self) -> String {
        self.q.as_deref().map(str::trim).unwrap_or("").to_string()
    }
    fn after(&self) -> Option<(DateTime<Utc>, Uuid)> {
        self.cursor.as_deref().and_then(|c| cursor::decode(c).ok())
    }
}

const PAGE: i64 = 50;

#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub is_staff: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub workspaces: i64,
}

#[derive(Template)]
#[template(path = "main_site/admin/users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserRow>,
    q: String,
    next_href: String,
}

impl UsersPage {
    fn when(&self, t: &DateTime<Utc>) -> String {
        when(t)
    }
    fn when_opt(&self, t: &Option<DateTime<Utc>>) -> String {
        when_opt(t)
    }
}

// not-in-openapi: HTML page (staff)
#[get("/admin/users")]
pub async fn users_page(
    state: web::Data<AppState>,
    staff: StaffPage,
    q: web::Query<SearchQuery>,
) -> Result<HttpResponse, PageError> {
    let after = q.after();
    let users: Vec<UserRow> = sqlx::query_as(
        "select u.id, u.email, u.name, u.is_staff, u.disabled_at, u.last_login_at, u.created_at, \
           (select count(*) from smartflow_shared.memberships m where m.user_id = u.id) as workspaces \
         from smartflow_main.users u \
         where ($1::text is null or u.email ilike $1 or u.name ilike $1) \
           and ($2::timestamptz is null or (u.created_at, u.id) < ($2, $3)) \
         order by u.created_at desc, u.id desc limit $4",
    )
    .bind(cursor::contains_pattern(q.q.as_deref()))
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(PAGE)
    .fetch_all(&state.db)
    .await?;
    let next_href = match users.last() {
        Some(last) if users.len() as i64 == PAGE => format!(
            "/admin/users{}",
            query(&[("q", q.text()), ("cursor", cursor::encode(last.created_at, last.id))])
        ),
        _ => String::new(),
    };
    let page =
        UsersPage { layout: staff.layout("Users", "/admin/users"), users, q: q.text(), next_href };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}

#[derive(Debug, sqlx::FromRow)]
pub struct WorkspaceRow {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub members: i64,
    pub plan_id: Option<String>,
    pub status: Option<String>,
}

#[derive(Template)]
#[template(path = "main_site/admin/workspaces.html")]
struct WorkspacesPage {
    layout: Layout,
    workspaces: Vec<WorkspaceRow>,
    q: String,
    next_href: String,
    default_plan: String,
}

impl WorkspacesPage {
    fn when(&self, t: &DateTime<Utc>) -> String {
        when(t)
    }
}

// not-in-openapi: HTML page (staff)
#[get("/admin/workspaces")]
pub async fn workspaces_page(
    state: web::Data<AppState>,
    staff: StaffPage,
    q: web::Query<SearchQuery>,
) -> Result<HttpResponse, PageError> {
    let after = q.after();
    let workspaces: Vec<WorkspaceRow> = sqlx::query_as(
        "select w.id, w.name, w.created_at, \
           (select count(*) from smartflow_shared.memberships m where m.workspace_id = w.id) as members, \
           s.plan_id, s.status \
         from smartflow_shared.workspaces w \
         left join smartflow_shared.subscriptions s on s.workspace_id = w.id \
         where ($1::text is null or w.name ilike $1) \
           and ($2::timestamptz is null or (w.created_at, w.id) < ($2, $3)) \
         order by w.created_at desc, w.id desc limit $4",
    )
    .bind(cursor::contains_pattern(q.q.as_deref()))
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(PAGE)
    .fetch_all(&state.db)
    .await?;
    let next_href = match workspaces.last() {
        Some(last) if workspaces.len() as i64 == PAGE => format!(
            "/admin/workspaces{}",
            query(&[("q", q.text()), ("cursor", cursor::encode(last.created_at, last.id))])
        ),
        _ => String::new(),
    };
    let page = WorkspacesPage {
        layout: staff.layout("Workspaces", "/admin/workspaces"),
        workspaces,
        q: q.text(),
        next_href,
        default_plan: state.settings.billing.default_plan.clone(),
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}

#[derive(Debug, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub workspace_id: Uuid,
    pub workspace: String,
    pub plan_id: String,
    pub status: String,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct StripeEventRow {
    pub id: String,
    pub kind: String,
    pub outcome: String,
    pub received_at: DateTime<Utc>,
}

#[derive(Template)]
#[template(path = "main_site/admin/subscriptions.html")]
struct SubscriptionsPage {
    layout: Layout,
    subscriptions: Vec<SubscriptionRow>,
    events: Vec<StripeEventRow>,
    status: String,
    statuses: [&'static str; 7],
    next_href: String,
}

impl SubscriptionsPage {
    fn is_status(&self, s: &str) -> bool {
        self.status == s
    }
    fn when(&self, t: &DateTime<Utc>) -> String {
        when(t)
    }
    fn when_opt(&self, t: &Option<DateTime<Utc>>) -> String {
        when_opt(t)
    }
}

// not-in-openapi: HTML page (staff)
#[get("/admin/subscriptions")]
pub async fn subscriptions_page(
    state: web::Data<AppState>,
    staff: StaffPage,
    q: web::Query<SearchQuery>,
) -> Result<HttpResponse, PageError> {
    let status = q.status.as_deref().map(str::trim).unwrap_or("").to_string();
    let after = q.after();
    let subscriptions: Vec<SubscriptionRow> = sqlx::query_as(
        "select s.workspace_id, w.name as workspace, s.plan_id, s.status, s.stripe_customer_id, \
           s.stripe_subscription_id, s.current_period_end, s.cancel_at_period_end, s.updated_at \
         from smartflow_shared.subscriptions s join smartflow_shared.workspaces w on w.id = s.workspace_id \
         where ($1 = '' or s.status = $1) \
           and ($2::timestamptz is null or (s.updated_at, s.workspace_id) < ($2, $3)) \
         order by s.updated_at desc, s.workspace_id desc limit $4",
    )
    .bind(&status)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(PAGE)
    .fetch_all(&state.db)
    .await?;
    let next_href = match subscriptions.last() {
        Some(last) if subscriptions.len() as i64 == PAGE => format!(
            "/admin/subscriptions{}",
            query(&[
                ("status", status.clone()),
                ("cursor", cursor::encode(last.updated_at, last.workspace_id)),
            ])
        ),
        _ => String::new(),
    };
    let events: Vec<StripeEventRow> = sqlx::query_as(
        "select id, type as kind, outcome, received_at from smartflow_main.stripe_events \
         order by received_at desc limit 20",
    )
    .fetch_all(&state.db)
    .await?;
    let page = SubscriptionsPage {
        layout: staff.layout("Subscriptions", "/admin/subscriptions"),
        subscriptions,
        events,
        status,
        statuses: ["active", "trialing", "past_due", "unpaid", "incomplete", "canceled", "paused"],
        next_href,
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}
