//! Askama pages: a page is a struct beside its handler with a `layout` field; `render` turns it
//! into a response with a status and a cache policy; errors use the same layout.

use std::sync::OnceLock;

use actix_web::{
    HttpResponse,
    http::{StatusCode, header},
};
use askama::Template;

use crate::error::{AppError, PageError, Problem};

/// Site-wide values every layout shows, set once at start-up.
#[derive(Debug, Clone)]
pub struct Site {
    pub name: String,
    pub base_url: String,
}

static SITE: OnceLock<Site> = OnceLock::new();

pub fn init_site(site: Site) {
    let _ = SITE.set(site);
}

fn site() -> Site {
    SITE.get().cloned().unwrap_or_else(|| Site {
        name: "SmartFlow".into(),
        base_url: "http://localhost:3000".into(),
    })
}

/// The signed-in user as the navigation shows them.
#[derive(Debug, Clone)]
pub struct NavUser {
    pub email: String,
    pub is_staff: bool,
}

/// What `templates/base.html` needs.
#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    pub description: String,
    /// Request path, for the canonical link and the current navigation entry.
    pub path: String,
    pub site_name: String,
    pub base_url: String,
    pub user: Option<NavUser>,
    /// Token for the hidden `csrf_token` field of cookie-authenticated forms.
    pub csrf_token: String,
    /// `noindex` for private pages.
    pub indexable: bool,
}

impl Layout {
    pub fn new(
        title: impl Into<String>,
        description: impl Into<String>,
        path: impl Into<String>,
    ) -> Self {
        let site = site();
        Layout {
            title: title.into(),
            description: description.into(),
            path: path.into(),
            site_name: site.name,
            base_url: site.base_url.trim_end_matches('/').to_string(),
            user: None,
            csrf_token: String::new(),
            indexable: true,
        }
    }

    pub fn with_csrf(mut self, token: &str) -> Self {
        self.csrf_token = token.to_string();
        self
    }

    pub fn with_user(mut self, who: Option<&crate::platform::auth::Principal>) -> Self {
        self.user = who.map(|p| NavUser { email: p.email.clone(), is_staff: p.is_staff });
        self
    }

    pub fn private(mut self) -> Self {
        self.indexable = false;
        self
    }

    pub fn asset(&self, path: &str) -> String {
        crate::http::assets::url(path)
    }

    pub fn canonical(&self) -> String {
        format!("{}{}", self.base_url, self.path)
    }

    /// `aria-current="page"` for the navigation entry of this page.
    pub fn current(&self, prefix: &str) -> &'static str {
        let active = if prefix == "/" { self.path == "/" } else { self.path.starts_with(prefix) };
        if active { "page" } else { "false" }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum CachePolicy {
    /// Personal or form pages.
    NoStore,
    /// Public pages that may be cached by browsers and proxies for `max_age` seconds.
    Public(u32),
}

pub fn render<T: Template>(
    page: &T,
    status: StatusCode,
    cache: CachePolicy,
) -> Result<HttpResponse, PageError> {
    let html = page.render().map_err(|e| PageError(AppError::internal(e)))?;
    Ok(html_response(status, cache, html))
}

fn html_response(status: StatusCode, cache: CachePolicy, html: String) -> HttpResponse {
    let cache = match cache {
        CachePolicy::NoStore => "no-store".to_string(),
        CachePolicy::Public(max_age) => format!("public, max-age={max_age}"),
    };
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, cache))
        .body(html)
}

#[derive(Template)]
#[template(path = "errors/error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    title: &'a str,
    detail: &'a str,
}

/// The HTML error page; falls back to plain text if the template itself fails.
pub fn error_page(status: StatusCode, problem: &Problem) -> HttpResponse {
    // A page has no `errors` member to point at: the field messages are the detail.
    let fields: String =
        problem.errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join(" ");
    let detail = match status.as_u16() {
        404 => "The page you asked for does not exist or has moved.",
        500..=599 => "Something went wrong on our side. Please try again in a moment.",
        _ if !fields.is_empty() => fields.as_str(),
        _ => problem.detail.as_deref().unwrap_or(""),
    };
    let page = ErrorPage {
        layout: Layout::new(problem.title.clone(), detail, "").private(),
        status: status.as_u16(),
        title: &problem.title,
        detail,
    };
    match page.render() {
        Ok(html) => html_response(status, CachePolicy::NoStore, html),
        Err(e) => {
            tracing::error!(error = %e, "error page failed to render");
            HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(problem.title.clone())
        }
    }
}
