//! The module's e-mails, queued in the caller's transaction (sent by the `mail.send` job).

use askama::Template;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{inquiries::NewInquiry, leads::submit::NewLead};
use crate::{
    error::AppError,
    platform::mail::{self, OutgoingEmail},
    state::AppState,
};

fn link(state: &AppState, path: &str) -> String {
    format!("{}{path}", state.settings.app.base_url.trim_end_matches('/'))
}

fn render(t: &impl Template) -> Result<String, AppError> {
    t.render().map_err(AppError::internal)
}

#[derive(Template)]
#[template(path = "main_site/email/new_lead.txt")]
struct NewLeadMail<'a> {
    site: &'a str,
    lead: &'a NewLead,
    returning: bool,
    count: i64,
    link: String,
}

/// Tells the sales address about a new or returning lead (reply-to is the lead).
pub async fn lead(
    conn: &mut PgConnection,
    state: &AppState,
    lead: &NewLead,
    id: Uuid,
    returning: bool,
) -> Result<(), AppError> {
    let to = &state.settings.main_site.sales_email;
    if to.is_empty() {
        return Ok(());
    }
    let count: i64 = if returning {
        sqlx::query_scalar("select submission_count::int8 from smartflow_main.leads where id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?
    } else {
        1
    };
    let body = render(&NewLeadMail {
        site: &state.settings.app.name,
        lead,
        returning,
        count,
        link: link(state, &format!("/admin/leads/{id}")),
    })?;
    let subject = if returning {
        format!("Returning lead: {}", lead.name)
    } else {
        format!("New lead: {}", lead.name)
    };
    let mut email = OutgoingEmail::text(to, &subject, body);
    email.reply_to = Some(lead.email.to_string());
    mail::enqueue_regarding(conn, state, email, &format!("lead:{id}")).await
}

#[derive(Template)]
#[template(path = "main_site/email/new_inquiry.txt")]
struct NewInquiryMail<'a> {
    site: &'a str,
    topic: String,
    name: &'a str,
    email: &'a str,
    company: &'a str,
    message: &'a str,
    reference: String,
    link: String,
}

#[derive(Template)]
#[template(path = "main_site/email/inquiry_received.txt")]
struct InquiryReceivedMail<'a> {
    site: &'a str,
    name: &'a str,
    topic: String,
    reference: String,
    response_time: &'a str,
}

/// A short reference people can quote.
pub fn reference(id: Uuid) -> String {
    id.simple().to_string()[..8].to_ascii_uppercase()
}

/// The team's notification and the sender's acknowledgement. The acknowledgement does not
/// repeat the message, so the form cannot be used to send arbitrary text to anyone.
pub async fn inquiry(
    conn: &mut PgConnection,
    state: &AppState,
    inquiry: &NewInquiry,
    topic_label: String,
    id: Uuid,
) -> Result<(), AppError> {
    let site = &state.settings.app.name;
    let team = &state.settings.main_site.support_email;
    if !team.is_empty() {
        let body = render(&NewInquiryMail {
            site,
            topic: topic_label.clone(),
            name: &inquiry.name,
            email: inquiry.email.as_str(),
            company: inquiry.company.as_deref().unwrap_or("-"),
            message: &inquiry.message,
            reference: reference(id),
            link: link(state, &format!("/admin/inquiries/{id}")),
        })?;
        let mut email = OutgoingEmail::text(
            team,
            &format!("Contact: {} [{}]", topic_label, reference(id)),
            body,
        );
        email.reply_to = Some(inquiry.email.to_string());
        mail::enqueue_regarding(&mut *conn, state, email, &format!("inquiry:{id}")).await?;
    }
    let content = state.ext::<super::MainSite>()?;
    let body = render(&InquiryReceivedMail {
        site,
        name: &inquiry.name,
        topic: topic_label,
        reference: reference(id),
        response_time: &content.content.contact.response_time,
    })?;
    let subject = format!("We received your message [{}]", reference(id));
    let mut email = OutgoingEmail::text(inquiry.email.as_str(), &subject, body);
    if !team.is_empty() {
        email.reply_to = Some(team.clone());
    }
    mail::enqueue_regarding(conn, state, email, &format!("inquiry:{id}")).await
}

#[derive(Template)]
#[template(path = "main_site/email/payment_failed.txt")]
pub struct PaymentFailedMail<'a> {
    pub site: &'a str,
    pub plan: &'a str,
    pub workspace: &'a str,
    pub amount: String,
    pub next_attempt: Option<String>,
    pub invoice_url: Option<String>,
    pub billing_link: String,
}

/// Tells each workspace admin that a payment failed.
pub async fn payment_failed(
    conn: &mut PgConnection,
    state: &AppState,
    admins: &[String],
    mail_body: &PaymentFailedMail<'_>,
) -> Result<(), AppError> {
    let body = render(mail_body)?;
    let subject = format!("Payment failed for {} on {}", mail_body.workspace, mail_body.site);
    for to in admins {
        mail::enqueue(&mut *conn, state, OutgoingEmail::text(to, &subject, body.clone())).await?;
    }
    Ok(())
}
