//! `POST /api/leads`: the public lead form, as JSON or an HTML form post. A repeat e-mail address
//! joins the existing lead's history; the sales notification and `lead.created` are jobs
//! committed with the lead.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::Email,
    error::{AppError, FieldError, Validator},
    http::RequestId,
    modules::main_site::{
        forms::{self, Checkbox, Screen, fields},
        leads::model::LeadStatus,
        notify,
    },
    platform::events::{Actor, Event, record_event},
    state::AppState,
};

/// A lead form submission. Only `name`, `email` and `form_token` are required.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct LeadSubmission {
    pub name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub phone: Option<String>,
    pub message: Option<String>,
    /// Where the form is, e.g. `homepage` or `webinar-2026` (default `website`).
    pub source: Option<String>,
    /// Agrees to receive news.
    #[serde(default)]
    pub consent: Checkbox,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    /// The page that sent the visitor to the site.
    pub referrer: Option<String>,
    /// The first page the visitor saw.
    pub landing_page: Option<String>,
    /// Must stay empty: a field people never see.
    pub website: Option<String>,
    /// From `GET /api/forms/token` (or the page's hidden field), at least `min_fill_secs` old.
    pub form_token: Option<String>,
    /// HTML forms: the page to go back to when a field needs fixing.
    pub return_to: Option<String>,
}

/// The answer to a public form: the same whether the address was new, known or the form was
/// judged automated, so the form reveals nothing about who is already a lead.
#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    /// Always `received`.
    pub status: String,
}

/// A submission whose fields were checked.
#[derive(Debug, Clone, Serialize)]
pub struct NewLead {
    pub name: String,
    #[serde(serialize_with = "email_text")]
    pub email: Email,
    pub company: Option<String>,
    pub phone: Option<String>,
    pub message: Option<String>,
    pub source: String,
    pub consent: bool,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    pub referrer: Option<String>,
    pub landing_page: Option<String>,
}

fn email_text<S: serde::Serializer>(email: &Email, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(email.as_str())
}

impl NewLead {
    pub fn parse(s: &LeadSubmission, token_error: Option<FieldError>) -> Result<NewLead, AppError> {
        let mut v = Validator::new();
        let name = fields::line(&mut v, "name", s.name.as_deref(), 255, true);
        let email = fields::email(&mut v, s.email.as_deref());
        let company = fields::line(&mut v, "company", s.company.as_deref(), 255, false);
        let phone = fields::phone(&mut v, s.phone.as_deref());
        let message = fields::block(&mut v, "message", s.message.as_deref(), 5_000, false);
        let source = fields::slug(&mut v, "source", s.source.as_deref(), 100);
        let mut utm = |field: &str, raw: &Option<String>| {
            fields::line(&mut v, field, raw.as_deref(), 255, false)
        };
        let (utm_source, utm_medium, utm_campaign, utm_term, utm_content) = (
            utm("utm_source", &s.utm_source),
            utm("utm_medium", &s.utm_medium),
            utm("utm_campaign", &s.utm_campaign),
            utm("utm_term", &s.utm_term),
            utm("utm_content", &s.utm_content),
        );
        let referrer = fields::line(&mut v, "referrer", s.referrer.as_deref(), 2_000, false);
        let landing_page =
            fields::line(&mut v, "landing_page", s.landing_page.as_deref(), 2_000, false);
        if let Some(e) = token_error {
            v.add(e.field, &e.code, e.message);
        }
        v.finish()?;
        let (Some(name), Some(email)) = (name, email) else {
            return Err(AppError::validation("body", "invalid", "Name and e-mail are required."));
        };
        Ok(NewLead {
            name,
            email,
            company,
            phone,
            message,
            source: source.unwrap_or_else(|| "website".into()),
            consent: s.consent.0,
            utm_source,
            utm_medium,
            utm_campaign,
            utm_term,
            utm_content,
            referrer,
            landing_page,
        })
    }
}

/// What happened to an accepted submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Created(Uuid),
    /// The address was known: the submission joined that lead's history.
    Merged(Uuid),
}

/// Stores `lead` (or joins it to the lead with the same address), its history entry, the
/// notification and the event, in one transaction.
pub async fn store(state: &AppState, actor: &Actor, lead: &NewLead) -> Result<Stored, AppError> {
    let mut tx = state.db.begin().await?;
    let (id, inserted, status): (Uuid, bool, LeadStatus) = sqlx::query_as(
        "insert into smartflow_main.leads (name, email, email_normalized, company, source, phone, \
           message, consent, consent_at, utm_source, utm_medium, utm_campaign, utm_term, utm_content, \
           referrer, landing_page) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, case when $8 then now() end, $9, $10, $11, $12, $13, $14, $15) \
         on conflict (email_normalized) do update set \
           submission_count = leads.submission_count + 1, last_submitted_at = now(), updated_at = now(), \
           company = coalesce(leads.company, excluded.company), phone = coalesce(leads.phone, excluded.phone), \
           consent = leads.consent or excluded.consent, consent_at = coalesce(leads.consent_at, excluded.consent_at) \
         returning id, (xmax = 0), status",
    )
    .bind(&lead.name)
    .bind(lead.email.as_str())
    .bind(lead.email.as_str())
    .bind(&lead.company)
    .bind(&lead.source)
    .bind(&lead.phone)
    .bind(&lead.message)
    .bind(lead.consent)
    .bind(&lead.utm_source)
    .bind(&lead.utm_medium)
    .bind(&lead.utm_campaign)
    .bind(&lead.utm_term)
    .bind(&lead.utm_content)
    .bind(&lead.referrer)
    .bind(&lead.landing_page)
    .fetch_one(&mut *tx)
    .await?;
    let submission = serde_json::to_value(lead).map_err(AppError::internal)?;
    sqlx::query(
        "insert into smartflow_main.lead_history (lead_id, kind, data) values ($1, 'submitted', $2)",
    )
    .bind(id)
    .bind(&submission)
    .execute(&mut *tx)
    .await?;
    let kind = if inserted { "lead.created" } else { "lead.resubmitted" };
    let payload = json!({ "id": id, "lead": submission });
    record_event(&mut tx, actor, Event::new(kind, "lead", id, payload)).await?;
    // Someone marked as spam may write again: it joins the history, but nobody is paged.
    if status != LeadStatus::Spam {
        notify::lead(&mut tx, state, lead, id, !inserted).await?;
    }
    tx.commit().await?;
    metrics::counter!("main_site_leads_total", "kind" => kind).increment(1);
    Ok(if inserted { Stored::Created(id) } else { Stored::Merged(id) })
}

/// Screens, parses and stores one submission; `None` when the honeypot caught it.
pub async fn submit(
    state: &AppState,
    req: &HttpRequest,
    input: &LeadSubmission,
) -> Result<Option<Stored>, AppError> {
    let ip = forms::ip_of(req, state);
    let (token_error, token) =
        match forms::screen(state, &ip, input.website.as_deref(), input.form_token.as_deref())
            .await?
        {
            Screen::Trap => return Ok(None),
            Screen::Pass { token_error, token } => (token_error, token),
        };
    let lead = NewLead::parse(input, token_error)?;
    forms::limits::hit_email(state, &lead.email).await?;
    let actor = Actor::anonymous(RequestId::of(req), Some(ip));
    forms::spend_then(state, token.as_ref(), store(state, &actor, &lead)).await.map(Some)
}

/// Sends a lead. Scripts get `202` with JSON (or a problem); browsers posting the HTML form are
/// redirected to the thank-you page, or back to the form with its mistakes.
#[utoipa::path(
    tag = "main",
    request_body(content(
        (LeadSubmission = "application/json"),
        (LeadSubmission = "application/x-www-form-urlencoded")
    )),
    responses(
        (status = 202, description = "Received (new, merged into a known lead, or dropped as spam)", body = Received),
        (status = 303, description = "HTML form posts: to /thanks, or back to `return_to` with the errors"),
        (status = 422, description = "A field needs fixing; `errors` names each one", body = crate::error::Problem),
        (status = 429, description = "Too many forms from this address or for this e-mail", body = crate::error::Problem),
    )
)]
#[post("/api/leads")]
pub async fn create_lead(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let sub = forms::read::<LeadSubmission>(&req, payload).await?;
    let result = submit(&state, &req, &sub.input).await;
    let return_to = sub.input.return_to.clone();
    forms::answer(&state, sub, return_to.as_deref(), "/demo", "/thanks?form=lead", result).await
}
