//! `/admin`: the staff dashboard. Every page needs a signed-in staff member (others get 403,
//! visitors the sign-in page); forms post back with the CSRF token and redirect.

pub mod accounts;
pub mod chart;
pub mod inquiries;
pub mod jobs;
pub mod leads;
pub mod overview;

use std::{future::Future, pin::Pin};

use actix_web::{FromRequest, HttpRequest, dev::Payload};
use chrono::{DateTime, Utc};

use crate::{
    error::{AppError, PageError},
    http::page::Layout,
    platform::auth::{Principal, csrf::CsrfToken, pages::SignedIn},
};

/// A staff member on an admin page.
pub struct StaffPage {
    pub who: Principal,
    pub csrf: String,
}

impl FromRequest for StaffPage {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let SignedIn(who) = SignedIn::from_request(&req, &mut Payload::None).await?;
            if !who.is_staff || who.api_key_id.is_some() {
                return Err(PageError(AppError::Forbidden(
                    "The admin dashboard is for SmartFlow staff only.".into(),
                ))
                .into());
            }
            let CsrfToken(csrf) = CsrfToken::from_request(&req, &mut Payload::None).await?;
            Ok(StaffPage { who, csrf })
        })
    }
}

impl StaffPage {
    pub fn layout(&self, title: &str, path: &str) -> Layout {
        Layout::new(format!("{title} — Admin"), "SmartFlow staff dashboard", path)
            .private()
            .with_csrf(&self.csrf)
            .with_user(Some(&self.who))
    }
}

/// A date and time as the admin tables show it (UTC).
pub fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

pub fn when_opt(t: &Option<DateTime<Utc>>) -> String {
    t.as_ref().map(when).unwrap_or_default()
}

/// A query string from `pairs` (empty values left out), with a leading `?` when not empty.
pub fn query(pairs: &[(&str, String)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        ser.append_pair(k, v);
        any = true;
    }
    if any { format!("?{}", ser.finish()) } else { String::new() }
}

/// Messages shown after an admin form redirects back (fixed texts: nothing from the URL is
/// echoed).
pub fn notice_text(code: Option<&str>) -> &'static str {
    match code {
        Some("updated") => "Saved.",
        Some("erased") => "Erased. The person's data is gone from leads, history and past events.",
        Some("resolved") => "Marked as resolved.",
        Some("reopened") => "Reopened.",
        Some("retried") => "The job is queued to run again.",
        _ => "",
    }
}

/// Only admin pages may be returned to after a form.
pub fn admin_return(path: Option<&str>, default: &str) -> String {
    let p = super::forms::safe_path(path, default);
    if p == "/admin" || p.starts_with("/admin/") || p.starts_with("/admin?") {
        p
    } else {
        default.to_string()
    }
}
