//! `sitemap.xml` and `robots.txt`, from the same list of public pages the site serves.

use actix_web::{HttpResponse, get, http::header, web};
use askama::Template;

use super::MainSite;
use crate::{error::PageError, state::AppState};

/// Public pages and how often they change.
const PAGES: [(&str, &str, &str); 7] = [
    ("/", "weekly", "1.0"),
    ("/pricing", "weekly", "0.9"),
    ("/features", "monthly", "0.8"),
    ("/demo", "monthly", "0.7"),
    ("/contact", "monthly", "0.6"),
    ("/privacy", "yearly", "0.2"),
    ("/terms", "yearly", "0.2"),
];

pub struct Url {
    pub loc: String,
    pub changefreq: &'static str,
    pub priority: &'static str,
}

#[derive(Template)]
#[template(path = "main_site/sitemap.xml")]
struct Sitemap {
    urls: Vec<Url>,
}

fn base(state: &AppState) -> String {
    state.settings.app.base_url.trim_end_matches('/').to_string()
}

// not-in-openapi: XML for search engines
#[get("/sitemap.xml")]
pub async fn sitemap(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let base = base(&state);
    let mut urls: Vec<Url> = PAGES
        .iter()
        .map(|(path, changefreq, priority)| Url {
            loc: format!("{base}{path}"),
            changefreq,
            priority,
        })
        .collect();
    for f in &state.ext::<MainSite>()?.content.features {
        urls.push(Url {
            loc: format!("{base}/features/{}", f.slug),
            changefreq: "monthly",
            priority: "0.7",
        });
    }
    let xml =
        Sitemap { urls }.render().map_err(|e| PageError(crate::error::AppError::internal(e)))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/xml; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(xml))
}

// not-in-openapi: plain text for crawlers
#[get("/robots.txt")]
pub async fn robots(state: web::Data<AppState>) -> HttpResponse {
    let body = format!(
        "User-agent: *\nAllow: /\nDisallow: /admin\nDisallow: /app\nDisallow: /api/\n\
         Disallow: /login\nDisallow: /signup\nDisallow: /thanks\n\nSitemap: {}/sitemap.xml\n",
        base(&state)
    );
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}
