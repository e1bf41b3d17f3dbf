//! `/app/social`: linked accounts with their status, linking (login redirect or token), time
//! slots, and choosing among the Pages or organizations one login can link.

use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::{NAV, back, can_write, layout, say};
use crate::{
    error::{AppError, PageError},
    http::page::{CachePolicy, Layout, render},
    modules::social::{
        Social,
        accounts::{
            self, oauth, pending,
            routes::{LinkAccountRequest, disconnect, link_with_token},
            slots::{self, NewTimeSlot, WEEKDAYS},
        },
        platforms::Platform,
    },
    platform::auth::{csrf::CsrfToken, pages::SignedIn},
    state::AppState,
};

const HOME: &str = "/app/social";

pub struct SlotView {
    pub id: Uuid,
    pub label: String,
}

pub struct AccountCard {
    pub id: Uuid,
    pub platform: String,
    pub label: String,
    pub status: String,
    pub hint: String,
    pub expires: String,
    pub last_error: String,
    pub slots: Vec<SlotView>,
}

pub struct Candidate {
    pub remote_id: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "social/accounts.html")]
struct AccountsPage {
    layout: Layout,
    nav: [(&'static str, &'static str); 3],
    accounts: Vec<AccountCard>,
    oauth: Vec<(String, String, bool)>,
    bluesky: bool,
    mastodon: bool,
    notice: String,
    error: String,
    pending_id: String,
    candidates: Vec<Candidate>,
    can_write: bool,
    weekdays: [&'static str; 7],
}

#[derive(Deserialize)]
pub struct AccountsQuery {
    linked: Option<String>,
    choose: Option<Uuid>,
    error: Option<String>,
    notice: Option<String>,
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

// not-in-openapi: HTML page
#[get("/app/social")]
pub async fn accounts_page(
    state: web::Data<AppState>,
    csrf: CsrfToken,
    who: SignedIn,
    q: web::Query<AccountsQuery>,
) -> Result<HttpResponse, PageError> {
    let who = who.0;
    let social = state.ext::<Social>()?;
    let mut conn = state.db.acquire().await.map_err(AppError::from)?;
    let mut cards = Vec::new();
    for a in accounts::list(&state.db, who.workspace_id, false).await? {
        let slots = slots::slots_of(&mut conn, a.id)
            .await
            .map_err(AppError::from)?
            .into_iter()
            .map(|s| SlotView {
                id: s.id,
                label: format!(
                    "{} {} ({})",
                    capitalised(WEEKDAYS[s.weekday as usize % 7]),
                    s.local_time.format("%H:%M"),
                    s.timezone
                ),
            })
            .collect();
        let platform =
            a.platform.parse::<Platform>().map(Platform::name).unwrap_or("?").to_string();
        let hint = match a.status.as_str() {
            "needs_reauth" => "Reconnect: SmartFlow's access expired or was revoked.",
            _ => "Connected.",
        };
        cards.push(AccountCard {
            id: a.id,
            platform,
            label: a.username.or(a.display_name).unwrap_or(a.remote_id),
            status: a.status,
            hint: hint.into(),
            expires: a
                .token_expires_at
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_else(|| "never".into()),
            last_error: a.last_error.unwrap_or_default(),
            slots,
        });
    }
    let (pending_id, candidates) = match q.choose {
        Some(id) => {
            let row: Option<sqlx::types::Json<Vec<accounts::candidates::CandidateView>>> = sqlx::query_scalar(
                "select candidates from smartflow_social.oauth_pending where id = $1 and workspace_id = $2 \
                 and user_id = $3 and used_at is null and expires_at > now()",
            )
            .bind(id)
            .bind(who.workspace_id)
            .bind(who.user_id)
            .fetch_optional(&state.db)
            .await
            .map_err(AppError::from)?;
            let list = row.map(|r| r.0).unwrap_or_default();
            (
                id.to_string(),
                list.into_iter()
                    .map(|c| Candidate {
                        label: c.display_name.or(c.username).unwrap_or_else(|| c.remote_id.clone()),
                        remote_id: c.remote_id,
                    })
                    .collect(),
            )
        }
        None => (String::new(), Vec::new()),
    };
    let oauth_platforms =
        [Platform::X, Platform::Facebook, Platform::Instagram, Platform::LinkedIn]
            .into_iter()
            .map(|p| {
                (p.as_str().to_string(), p.name().to_string(), social.registry.is_configured(p))
            })
            .collect();
    let page = AccountsPage {
        layout: layout("Social accounts", HOME, &csrf, &who),
        nav: NAV,
        accounts: cards,
        oauth: oauth_platforms,
        bluesky: social.registry.is_configured(Platform::Bluesky),
        mastodon: social.registry.is_configured(Platform::Mastodon),
        notice: match (&q.linked, &q.notice) {
            (Some(_), _) => "The account is linked.".into(),
            (None, Some(n)) => n.clone(),
            _ => String::new(),
        },
        error: q.error.clone().unwrap_or_default(),
        pending_id,
        candidates,
        can_write: can_write(&who),
        weekdays: WEEKDAYS,
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}

#[derive(Deserialize)]
pub struct ConnectForm {
    platform: String,
}

// not-in-openapi: HTML form that redirects to the platform's login
#[post("/app/social/connect")]
pub async fn connect_submit(
    state: web::Data<AppState>,
    who: SignedIn,
    form: web::Form<ConnectForm>,
) -> Result<HttpResponse, PageError> {
    let Ok(platform) = form.platform.parse::<Platform>() else {
        return Ok(back(HOME, "error", "Choose a platform."));
    };
    match oauth::start(&state, &who.0, platform, Some(HOME.to_string()), &[]).await {
        Ok(started) => Ok(HttpResponse::SeeOther()
            .insert_header((actix_web::http::header::LOCATION, started.authorize_url))
            .finish()),
        Err(e) => Ok(back(HOME, "error", &say(&e))),
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    platform: String,
    handle: Option<String>,
    app_password: Option<String>,
    pds_url: Option<String>,
    instance_url: Option<String>,
    access_token: Option<String>,
}

// not-in-openapi: HTML form
#[post("/app/social/link-token")]
pub async fn link_token_submit(
    state: web::Data<AppState>,
    who: SignedIn,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let Ok(platform) = form.platform.parse::<Platform>() else {
        return Ok(back(HOME, "error", "Choose a platform."));
    };
    let request = LinkAccountRequest {
        platform: form.platform,
        return_to: None,
        scopes: None,
        handle: form.handle,
        app_password: form.app_password,
        pds_url: form.pds_url,
        instance_url: form.instance_url,
        access_token: form.access_token,
    };
    if let Err(e) = who.0.require(crate::platform::auth::Permission::Write) {
        return Ok(back(HOME, "error", &say(&e)));
    }
    match link_with_token(&state, &who.0, platform, &request).await {
        Ok(a) => Ok(back(HOME, "linked", &a.id.to_string())),
        Err(e) => Ok(back(HOME, "error", &say(&e))),
    }
}

// not-in-openapi: HTML form
#[post("/app/social/accounts/{id}/disconnect")]
pub async fn disconnect_submit(
    state: web::Data<AppState>,
    who: SignedIn,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, PageError> {
    match disconnect(&state, &who.0, *id).await {
        Ok(d) => Ok(back(
            HOME,
            "notice",
            &format!(
                "Disconnected; {} scheduled post(s) for it were cancelled.",
                d.cancelled_targets
            ),
        )),
        Err(e) => Ok(back(HOME, "error", &say(&e))),
    }
}

#[derive(Deserialize)]
pub struct SlotForm {
    weekday: String,
    time: String,
}

// not-in-openapi: HTML form
#[post("/app/social/accounts/{id}/slots")]
pub async fn add_slot_submit(
    state: web::Data<AppState>,
    who: SignedIn,
    id: web::Path<Uuid>,
    form: web::Form<SlotForm>,
) -> Result<HttpResponse, PageError> {
    if let Err(e) = who.0.require(crate::platform::auth::Permission::Write) {
        return Ok(back(HOME, "error", &say(&e)));
    }
    let slot = NewTimeSlot {
        weekday: serde_json::Value::String(form.weekday.clone()),
        time: form.time.clone(),
        timezone: None,
    };
    match slots::add(&state, &who.0, *id, &slot).await {
        Ok(_) => Ok(back(HOME, "notice", "Time slot added.")),
        Err(e) => Ok(back(HOME, "error", &say(&e))),
    }
}

// not-in-openapi: HTML form
#[post("/app/social/accounts/{id}/slots/{slot}/delete")]
pub async fn delete_slot_submit(
    state: web::Data<AppState>,
    who: SignedIn,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, PageError> {
    let (id, slot) = path.into_inner();
    if let Err(e) = who.0.require(crate::platform::auth::Permission::Write) {
        return Ok(back(HOME, "error", &say(&e)));
    }
    match slots::remove(&state, &who.0, id, slot).await {
        Ok(()) => Ok(back(HOME, "notice", "Time slot removed.")),
        Err(e) => Ok(back(HOME, "error", &say(&e))),
    }
}

// not-in-openapi: HTML form (checkboxes named remote_id, repeated)
#[post("/app/social/pending/{id}")]
pub async fn choose_submit(
    state: web::Data<AppState>,
    who: SignedIn,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let chosen: Vec<String> = url::form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "remote_id")
        .map(|(_, v)| v.into_owned())
        .collect();
    if let Err(e) = who.0.require(crate::platform::auth::Permission::Write) {
        return Ok(back(HOME, "error", &say(&e)));
    }
    match pending::choose(&state, &who.0, *id, &chosen).await {
        Ok(linked) => Ok(back(HOME, "notice", &format!("{} account(s) linked.", linked.len()))),
        Err(e) => Ok(back(HOME, "error", &say(&e))),
    }
}
