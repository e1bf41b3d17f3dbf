//! `/admin/inquiries`: contact messages, resolved or reopened with a note, and erased on request.

use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::{StaffPage, admin_return, notice_text, query, when};
use crate::{
    error::PageError,
    http::page::{CachePolicy, Layout, render},
    modules::main_site::{
        MainSite,
        forms::{see_other, with_query},
        inquiries::{Inquiry, InquiryFilter, InquiryPatch, repo},
        notify::reference,
    },
    state::AppState,
};

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    topic: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "main_site/admin/inquiries.html")]
struct InquiriesPage {
    layout: Layout,
    items: Vec<Inquiry>,
    status: String,
    topic: String,
    q: String,
    topics: Vec<(String, String)>,
    next_href: String,
    here: String,
    notice: &'static str,
    error: String,
}

impl InquiriesPage {
    fn when(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        when(t)
    }
    fn excerpt(&self, text: &str) -> String {
        let short: String = text.chars().take(140).collect();
        if short.len() < text.len() { format!("{short}…") } else { short }
    }
}

fn topics(state: &AppState) -> Vec<(String, String)> {
    state
        .ext::<MainSite>()
        .map(|m| {
            m.content.contact.topics.iter().map(|t| (t.value.clone(), t.label.clone())).collect()
        })
        .unwrap_or_default()
}

// not-in-openapi: HTML page (staff)
#[get("/admin/inquiries")]
pub async fn inquiries_page(
    state: web::Data<AppState>,
    staff: StaffPage,
    req: HttpRequest,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let text = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or("").to_string();
    let filter = InquiryFilter {
        status: q.status.clone(),
        topic: q.topic.clone(),
        q: q.q.clone(),
        cursor: q.cursor.clone(),
        limit: Some(50),
    };
    let (parsed, error) = match filter.parse() {
        Ok(p) => (p, String::new()),
        Err(e) => (
            InquiryFilter::default().parse()?,
            e.problem().errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join(" "),
        ),
    };
    let items = repo::list(&state.db, &parsed).await?;
    let next_href = repo::next_cursor(&items, parsed.limit)
        .map(|c| {
            let pairs = [
                ("status", text(&q.status)),
                ("topic", text(&q.topic)),
                ("q", text(&q.q)),
                ("cursor", c),
            ];
            format!("/admin/inquiries{}", query(&pairs))
        })
        .unwrap_or_default();
    let page = InquiriesPage {
        layout: staff.layout("Inquiries", "/admin/inquiries"),
        items,
        status: text(&q.status),
        topic: text(&q.topic),
        q: text(&q.q),
        topics: topics(&state),
        next_href,
        here: req
            .uri()
            .path_and_query()
            .map_or_else(|| "/admin/inquiries".into(), |p| p.to_string()),
        notice: notice_text(q.notice.as_deref()),
        error,
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}

#[derive(Template)]
#[template(path = "main_site/admin/inquiry.html")]
struct InquiryPage {
    layout: Layout,
    i: Inquiry,
    topic_label: String,
    reference: String,
    notice: &'static str,
}

impl InquiryPage {
    fn when(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        when(t)
    }
}

#[derive(Debug, Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

// not-in-openapi: HTML page (staff)
#[get("/admin/inquiries/{id}")]
pub async fn inquiry_page(
    state: web::Data<AppState>,
    staff: StaffPage,
    id: web::Path<Uuid>,
    q: web::Query<NoticeQuery>,
) -> Result<HttpResponse, PageError> {
    let i = repo::get(&state.db, *id).await?;
    let topic_label = state.ext::<MainSite>()?.content.topic_label(&i.topic);
    let page = InquiryPage {
        layout: staff.layout("Inquiry", &format!("/admin/inquiries/{}", i.id)),
        reference: reference(i.id),
        topic_label,
        notice: notice_text(q.notice.as_deref()),
        i,
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}

#[derive(Debug, Deserialize)]
pub struct InquiryForm {
    status: String,
    resolution_note: Option<String>,
    return_to: Option<String>,
}

// not-in-openapi: HTML form post (staff)
#[post("/admin/inquiries/{id}")]
pub async fn inquiry_submit(
    state: web::Data<AppState>,
    staff: StaffPage,
    id: web::Path<Uuid>,
    form: web::Form<InquiryForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let patch = InquiryPatch { status: form.status, resolution_note: form.resolution_note };
    let i = repo::update(&state, &staff.who, *id, &patch).await?;
    let back = admin_return(form.return_to.as_deref(), &format!("/admin/inquiries/{id}"));
    let notice = if i.status == "resolved" { "resolved" } else { "reopened" };
    Ok(see_other(&with_query(&back, "notice", notice)))
}

// not-in-openapi: HTML form post (staff)
#[post("/admin/inquiries/{id}/erase")]
pub async fn inquiry_erase(
    state: web::Data<AppState>,
    staff: StaffPage,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, PageError> {
    repo::erase(&state, &staff.who, *id).await?;
    Ok(see_other("/admin/inquiries?notice=erased"))
}
