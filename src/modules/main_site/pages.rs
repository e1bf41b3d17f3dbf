//! Public marketing pages.

use actix_web::{HttpResponse, get, http::StatusCode};
use askama::Template;

use crate::{
    error::PageError,
    http::page::{CachePolicy, Layout, render},
};

#[derive(Template)]
#[template(path = "main_site/home.html")]
struct HomePage {
    layout: Layout,
}

// not-in-openapi: HTML page
#[get("/")]
pub async fn home() -> Result<HttpResponse, PageError> {
    let page = HomePage {
        layout: Layout::new(
            "SmartFlow — business automation for small businesses",
            "Capture leads, answer customers with AI and schedule social posts from one place.",
            "/",
        ),
    };
    render(&page, StatusCode::OK, CachePolicy::Public(300))
}
