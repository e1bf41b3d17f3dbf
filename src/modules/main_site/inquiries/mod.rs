//! Contact inquiries: `POST /api/contact` from the public, listed and resolved by staff.

pub mod repo;
pub mod routes;
pub mod submit;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::Email;

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Inquiry {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub company: Option<String>,
    /// One of the topics on the contact page, e.g. `sales` or `support`.
    pub topic: String,
    pub message: String,
    /// `open` or `resolved`.
    pub status: String,
    pub resolution_note: String,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const COLUMNS: &str = "id, name, email, company, topic, message, status, resolution_note, \
    resolved_at, resolved_by, created_at, updated_at";

/// A contact form submission whose fields were checked.
#[derive(Debug, Clone)]
pub struct NewInquiry {
    pub name: String,
    pub email: Email,
    pub company: Option<String>,
    pub topic: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InquiryFilter {
    /// `open` or `resolved`.
    pub status: Option<String>,
    pub topic: Option<String>,
    /// Text found in the name, e-mail address, company or message.
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InquiryPage {
    pub items: Vec<Inquiry>,
    pub next_cursor: Option<String>,
}

/// Resolves or reopens an inquiry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InquiryPatch {
    /// `open` or `resolved`.
    pub status: String,
    /// What was done (at most 5,000 characters).
    pub resolution_note: Option<String>,
}
