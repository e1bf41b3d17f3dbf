//! `/admin/leads`: the pipeline table with filters and inline status changes, one lead with its
//! history, owner and notes, and erasure.

use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::{StaffPage, admin_return, notice_text, query, when};
use crate::{
    error::PageError,
    http::page::{CachePolicy, Layout, render},
    modules::main_site::{
        forms::{see_other, with_query},
        leads::{
            model::{Lead, LeadFilter, LeadHistoryEntry, LeadPatch, LeadStatus},
            repo, service,
        },
    },
    state::AppState,
};

/// The table's filters as the form sends them: every field a string, empty meaning "any".
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    source: Option<String>,
    from: Option<String>,
    to: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
    notice: Option<String>,
}

impl ListQuery {
    fn filter(&self) -> Result<LeadFilter, String> {
        let date = |raw: &Option<String>, what: &str| match raw.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| format!("The {what} date must look like 2026-11-25.")),
        };
        let text = |v: &Option<String>| {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
        };
        Ok(LeadFilter {
            status: text(&self.status),
            source: text(&self.source),
            from: date(&self.from, "start")?,
            to: date(&self.to, "end")?,
            q: text(&self.q),
            owner_id: None,
            cursor: text(&self.cursor),
            limit: Some(50),
        })
    }
}

#[derive(Template)]
#[template(path = "main_site/admin/leads.html")]
struct LeadsPage {
    layout: Layout,
    leads: Vec<Lead>,
    filter: LeadFilter,
    statuses: [LeadStatus; 6],
    sources: Vec<String>,
    staff: Vec<(Uuid, String)>,
    next_href: String,
    export_href: String,
    here: String,
    notice: &'static str,
    error: String,
}

impl LeadsPage {
    fn when(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        when(t)
    }
    fn owner(&self, id: &Option<Uuid>) -> String {
        id.and_then(|id| self.staff.iter().find(|(s, _)| *s == id).map(|(_, e)| e.clone()))
            .unwrap_or_default()
    }
    fn f(&self, v: &Option<String>) -> String {
        v.clone().unwrap_or_default()
    }
    fn date(&self, v: &Option<chrono::NaiveDate>) -> String {
        v.map(|d| d.to_string()).unwrap_or_default()
    }
}

fn filter_pairs(f: &LeadFilter) -> Vec<(&'static str, String)> {
    vec![
        ("status", f.status.clone().unwrap_or_default()),
        ("source", f.source.clone().unwrap_or_default()),
        ("from", f.from.map(|d| d.to_string()).unwrap_or_default()),
        ("to", f.to.map(|d| d.to_string()).unwrap_or_default()),
        ("q", f.q.clone().unwrap_or_default()),
    ]
}

// not-in-openapi: HTML page (staff)
#[get("/admin/leads")]
pub async fn leads_page(
    state: web::Data<AppState>,
    staff: StaffPage,
    req: HttpRequest,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    // A bad filter shows its message above an unfiltered table rather than an error page.
    let checked = q.filter().and_then(|f| {
        let parsed = f.parse().map_err(|e| {
            e.problem().errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join(" ")
        })?;
        Ok((f, parsed))
    });
    let (filter, parsed, error) = match checked {
        Ok((f, p)) => (f, p, String::new()),
        Err(message) => (LeadFilter::default(), LeadFilter::default().parse()?, message),
    };
    let leads = repo::list(&state.db, &parsed).await?;
    let base = filter_pairs(&filter);
    let next_href = repo::next_cursor(&leads, parsed.limit)
        .map(|c| {
            let mut pairs = base.clone();
            pairs.push(("cursor", c));
            format!("/admin/leads{}", query(&pairs))
        })
        .unwrap_or_default();
    let page = LeadsPage {
        layout: staff.layout("Leads", "/admin/leads"),
        leads,
        statuses: LeadStatus::ALL,
        sources: repo::sources(&state.db).await?,
        staff: repo::staff(&state.db).await?,
        next_href,
        export_href: format!("/api/leads/export.csv{}", query(&base)),
        here: req.uri().path_and_query().map_or_else(|| "/admin/leads".into(), |p| p.to_string()),
        notice: notice_text(q.notice.as_deref()),
        error,
        filter,
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}

#[derive(Template)]
#[template(path = "main_site/admin/lead.html")]
struct LeadPage {
    layout: Layout,
    lead: Lead,
    history: Vec<LeadHistoryEntry>,
    staff: Vec<(Uuid, String)>,
    notice: &'static str,
}

impl LeadPage {
    fn is_owner(&self, id: &Uuid) -> bool {
        self.lead.owner_id == Some(*id)
    }
    fn when(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        when(t)
    }
    fn f(&self, v: &Option<String>) -> String {
        v.clone().unwrap_or_default()
    }
    fn email_of(&self, id: &Option<Uuid>) -> String {
        id.and_then(|id| self.staff.iter().find(|(s, _)| *s == id).map(|(_, e)| e.clone()))
            .unwrap_or_else(|| {
                if id.is_some() { "a former staff member".into() } else { "SmartFlow".into() }
            })
    }
    /// A history entry in words.
    fn describe(&self, h: &LeadHistoryEntry) -> String {
        let s = |k: &str| h.data.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
        match h.kind.as_str() {
            "submitted" => {
                let message = s("message");
                let from = s("source");
                if message.is_empty() {
                    format!("Sent the form ({from})")
                } else {
                    format!("Sent the form ({from}): “{message}”")
                }
            }
            "status_changed" => format!("Status {} → {}", s("from"), s("to")),
            "owner_changed" => {
                let to =
                    h.data.get("to").and_then(|v| v.as_str()).and_then(|v| Uuid::parse_str(v).ok());
                format!(
                    "Owner set to {}",
                    if to.is_some() { self.email_of(&to) } else { "nobody".into() }
                )
            }
            "notes_changed" => "Notes edited".into(),
            other => other.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

// not-in-openapi: HTML page (staff)
#[get("/admin/leads/{id}")]
pub async fn lead_page(
    state: web::Data<AppState>,
    staff: StaffPage,
    id: web::Path<Uuid>,
    q: web::Query<NoticeQuery>,
) -> Result<HttpResponse, PageError> {
    let lead = repo::get(&state.db, *id).await?;
    let history = repo::history(&state.db, lead.id).await?;
    let page = LeadPage {
        layout: staff.layout(&lead.name, &format!("/admin/leads/{}", lead.id)),
        history,
        staff: repo::staff(&state.db).await?,
        notice: notice_text(q.notice.as_deref()),
        lead,
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}

/// The fields of the status, owner and notes forms; absent fields stay as they are.
#[derive(Debug, Deserialize)]
pub struct LeadForm {
    status: Option<LeadStatus>,
    /// `""` removes the owner.
    owner_id: Option<String>,
    notes: Option<String>,
    return_to: Option<String>,
}

// not-in-openapi: HTML form post (staff)
#[post("/admin/leads/{id}")]
pub async fn lead_submit(
    state: web::Data<AppState>,
    staff: StaffPage,
    id: web::Path<Uuid>,
    form: web::Form<LeadForm>,
) -> Result<HttpResponse, PageError> {
    let owner_id = match form.owner_id.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(raw) => Some(Some(Uuid::parse_str(raw).map_err(|_| {
            crate::error::AppError::validation(
                "owner_id",
                "invalid",
                "Choose a staff member from the list.",
            )
        })?)),
    };
    let patch = LeadPatch { status: form.status, owner_id, notes: form.notes.clone() };
    service::update(&state, &staff.who, *id, &patch).await?;
    let back = admin_return(form.return_to.as_deref(), &format!("/admin/leads/{id}"));
    Ok(see_other(&with_query(&back, "notice", "updated")))
}

// not-in-openapi: HTML form post (staff)
#[post("/admin/leads/{id}/erase")]
pub async fn lead_erase(
    state: web::Data<AppState>,
    staff: StaffPage,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, PageError> {
    service::erase(&state, &staff.who, *id).await?;
    Ok(see_other("/admin/leads?notice=erased"))
}
