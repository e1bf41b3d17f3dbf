//! `POST /api/contact`: the public contact form, as JSON or an HTML form post, with the same
//! spam defences as the lead form. The team's notification and the sender's acknowledgement
//! are jobs committed with the inquiry.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::NewInquiry;
use crate::{
    error::{AppError, FieldError, Validator},
    http::RequestId,
    modules::main_site::{
        MainSite,
        forms::{self, Screen, fields},
        leads::submit::Received,
        notify,
    },
    platform::events::{Actor, Event, record_event},
    state::AppState,
};

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ContactSubmission {
    pub name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    /// One of the contact page's topics (`sales`, `support`, `billing`, `partnership`,
    /// `other` in the built-in copy).
    pub topic: Option<String>,
    pub message: Option<String>,
    /// Must stay empty: a field people never see.
    pub website: Option<String>,
    /// From `GET /api/forms/token` (or the page's hidden field).
    pub form_token: Option<String>,
    /// HTML forms: the page to go back to when a field needs fixing.
    pub return_to: Option<String>,
}

impl NewInquiry {
    pub fn parse(
        s: &ContactSubmission,
        topics: &[&str],
        token_error: Option<FieldError>,
    ) -> Result<NewInquiry, AppError> {
        let mut v = Validator::new();
        let name = fields::line(&mut v, "name", s.name.as_deref(), 255, true);
        let email = fields::email(&mut v, s.email.as_deref());
        let company = fields::line(&mut v, "company", s.company.as_deref(), 255, false);
        let topic = s.topic.as_deref().map(str::trim).filter(|t| !t.is_empty()).unwrap_or("other");
        if !topics.contains(&topic) {
            v.add("topic", "invalid", format!("Choose one of: {}.", topics.join(", ")));
        }
        let message = fields::block(&mut v, "message", s.message.as_deref(), 10_000, true);
        if let Some(e) = token_error {
            v.add(e.field, &e.code, e.message);
        }
        v.finish()?;
        let (Some(name), Some(email), Some(message)) = (name, email, message) else {
            return Err(AppError::validation(
                "body",
                "invalid",
                "Name, e-mail and message are required.",
            ));
        };
        Ok(NewInquiry { name, email, company, topic: topic.to_string(), message })
    }
}

pub async fn store(
    state: &AppState,
    actor: &Actor,
    inquiry: &NewInquiry,
) -> Result<Uuid, AppError> {
    let label = state.ext::<MainSite>()?.content.topic_label(&inquiry.topic);
    let mut tx = state.db.begin().await?;
    let id: Uuid = sqlx::query_scalar(
        "insert into smartflow_main.inquiries (name, email, company, topic, message) \
         values ($1, $2, $3, $4, $5) returning id",
    )
    .bind(&inquiry.name)
    .bind(inquiry.email.as_str())
    .bind(&inquiry.company)
    .bind(&inquiry.topic)
    .bind(&inquiry.message)
    .fetch_one(&mut *tx)
    .await?;
    let payload = json!({
        "id": id, "name": inquiry.name, "email": inquiry.email.as_str(),
        "company": inquiry.company, "topic": inquiry.topic,
    });
    record_event(&mut tx, actor, Event::new("inquiry.created", "inquiry", id, payload)).await?;
    notify::inquiry(&mut tx, state, inquiry, label, id).await?;
    tx.commit().await?;
    metrics::counter!("main_site_inquiries_total").increment(1);
    Ok(id)
}

async fn submit(
    state: &AppState,
    req: &HttpRequest,
    input: &ContactSubmission,
) -> Result<Option<Uuid>, AppError> {
    let ip = forms::ip_of(req, state);
    let (token_error, token) =
        match forms::screen(state, &ip, input.website.as_deref(), input.form_token.as_deref())
            .await?
        {
            Screen::Trap => return Ok(None),
            Screen::Pass { token_error, token } => (token_error, token),
        };
    let site = state.ext::<MainSite>()?;
    let topics: Vec<&str> = site.content.contact.topics.iter().map(|t| t.value.as_str()).collect();
    let inquiry = NewInquiry::parse(input, &topics, token_error)?;
    forms::limits::hit_email(state, &inquiry.email).await?;
    let actor = Actor::anonymous(RequestId::of(req), Some(ip));
    forms::spend_then(state, token.as_ref(), store(state, &actor, &inquiry)).await.map(Some)
}

/// Sends a message to the team. Scripts get `202` with JSON; browsers posting the HTML form are
/// redirected to the thank-you page, or back to the form with its mistakes.
#[utoipa::path(
    tag = "main",
    request_body(content(
        (ContactSubmission = "application/json"),
        (ContactSubmission = "application/x-www-form-urlencoded")
    )),
    responses(
        (status = 202, description = "Received", body = Received),
        (status = 303, description = "HTML form posts: to /thanks, or back to `return_to` with the errors"),
        (status = 422, description = "A field needs fixing; `errors` names each one", body = crate::error::Problem),
        (status = 429, description = "Too many forms from this address or for this e-mail", body = crate::error::Problem),
    )
)]
#[post("/api/contact")]
pub async fn create_inquiry(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let sub = forms::read::<ContactSubmission>(&req, payload).await?;
    let result = submit(&state, &req, &sub.input).await;
    let return_to = sub.input.return_to.clone();
    forms::answer(&state, sub, return_to.as_deref(), "/contact", "/thanks?form=contact", result)
        .await
}
