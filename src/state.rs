//! `AppState`: everything a handler or job needs, shared as one `web::Data`.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    ops::Deref,
    sync::Arc,
    time::Instant,
};

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
    /// Per-module state (provider registries, platform clients), set up by `modules::init`.
    pub extensions: Extensions,
}

/// A small type map, so each module keeps its own state without touching `AppState`.
#[derive(Default)]
pub struct Extensions(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl Extensions {
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        self.0.insert(TypeId::of::<T>(), Arc::new(value));
    }

    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.0.get(&TypeId::of::<T>()).and_then(|v| v.downcast_ref::<T>())
    }
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

    /// A module's state; missing only when that module is disabled in this process.
    pub fn ext<T: Any + Send + Sync>(&self) -> Result<&T, crate::error::AppError> {
        self.extensions.get::<T>().ok_or_else(|| {
            crate::error::AppError::ServiceUnavailable(
                "This module is not enabled on this server (modules.enabled).".into(),
            )
        })
    }
}
