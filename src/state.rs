//! `AppState`: everything a handler or job needs, shared as one `web::Data`.

use std::{ops::Deref, sync::Arc, time::Instant};

use sqlx::PgPool;

use crate::{
    config::Settings,
    http::routes::RouteTable,
    platform::{
        cache::Cache, crypto::Cipher, events::Subscribers, jobs::RunnerStatus, mail::Mailer,
        ratelimit::RateLimiter, storage::Storage,
    },
};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub settings: Settings,
    pub db: PgPool,
    pub cache: Arc<dyn Cache>,
    pub cipher: Cipher,
    /// Outbound HTTP client: connect and total timeouts from `http_client.*`.
    pub http: reqwest::Client,
    pub rate_limiter: RateLimiter,
    /// API paths and their methods, from the OpenAPI document (for 405 answers).
    pub routes: Arc<RouteTable>,
    pub openapi_json: Arc<String>,
    pub started_at: Instant,
    /// Whether this process's job runner and cron are up, for health.
    pub jobs: Arc<RunnerStatus>,
    pub mailer: Arc<dyn Mailer>,
    /// Client for user-supplied URLs (webhooks, agent tools): SSRF-guarded, no redirects.
    pub outbound: reqwest::Client,
    /// Reactions to events registered at start-up (workflow triggers).
    pub subscribers: Subscribers,
    pub storage: Storage,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        AppState(Arc::new(inner))
    }
}
