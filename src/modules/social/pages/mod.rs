//! The social booster's pages in the dashboard: accounts (linking, status, time slots), the
//! content calendar (month/week, reschedule) and analytics (SVG charts). Forms post back to
//! page routes (CSRF-checked by the page middleware); the calendar's drag-and-drop calls the
//! JSON API with the `X-CSRF-Token` header.

pub mod accounts;
pub mod analytics;
pub mod calendar;
pub mod charts;

use actix_web::{HttpResponse, http::header};

use crate::{
    error::AppError,
    http::page::Layout,
    platform::auth::{Permission, Principal, csrf::CsrfToken},
};

pub fn layout(title: &str, path: &str, csrf: &CsrfToken, who: &Principal) -> Layout {
    Layout::new(format!("{title} — SmartFlow"), "Social booster", path)
        .private()
        .with_csrf(&csrf.0)
        .with_user(Some(who))
}

/// Back to `path` with a notice or an error in the query string.
pub fn back(path: &str, key: &str, message: &str) -> HttpResponse {
    let sep = if path.contains('?') { '&' } else { '?' };
    let value: String = url::form_urlencoded::byte_serialize(message.as_bytes()).collect();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{path}{sep}{key}={value}")))
        .finish()
}

/// A failed action as one sentence for the page.
pub fn say(e: &AppError) -> String {
    match e {
        AppError::Validation(errors) => {
            errors.iter().map(|f| f.message.clone()).collect::<Vec<_>>().join(" ")
        }
        other => other.problem().detail.unwrap_or_else(|| "Something went wrong.".into()),
    }
}

pub fn can_write(who: &Principal) -> bool {
    who.has(Permission::Write) || who.has(Permission::WriteOwn)
}

/// The page's sub-navigation.
pub const NAV: [(&str, &str); 3] = [
    ("/app/social", "Accounts"),
    ("/app/social/calendar", "Calendar"),
    ("/app/social/analytics", "Analytics"),
];
