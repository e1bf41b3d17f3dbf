//! `GET /api/health` exactly as the seed's health check, orchestrator probes, and `/metrics`.

use std::{collections::BTreeMap, time::Duration};

use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::{
    error::AppError,
    platform::{cache::CacheBackend, crypto::constant_time_eq, process},
    state::AppState,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Error,
}

/// One dependency's state; extra fields describe it (latency, backend, values).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Check {
    pub status: CheckStatus,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub info: Map<String, Value>,
}

impl Check {
    pub fn ok(info: Value) -> Self {
        Check { status: CheckStatus::Ok, info: into_map(info) }
    }
    pub fn error(info: Value) -> Self {
        Check { status: CheckStatus::Error, info: into_map(info) }
    }
}

fn into_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OverallStatus {
    Healthy,
    Unhealthy,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthReport {
    pub timestamp: DateTime<Utc>,
    pub service: String,
    pub version: String,
    /// `healthy` when every check is `ok`.
    pub status: OverallStatus,
    /// `database`, `redis`, `external_apis`, `memory_usage`, `cpu_usage`, and the job runner's.
    pub checks: BTreeMap<String, Check>,
}

/// Health of this instance and its dependencies (200 healthy, 503 otherwise).
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Every check is ok", body = HealthReport),
        (status = 503, description = "At least one check failed", body = HealthReport),
    )
)]
#[get("/api/health")]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let report = report(&state).await;
    let status = match report.status {
        OverallStatus::Healthy => StatusCode::OK,
        OverallStatus::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
    };
    HttpResponse::build(status).insert_header(("cache-control", "no-store")).json(report)
}

pub async fn report(state: &AppState) -> HealthReport {
    let timeout = Duration::from_millis(state.settings.health.probe_timeout_ms);
    let (database, redis, jobs) = tokio::join!(
        check_database(state, timeout),
        check_cache(state, timeout),
        check_jobs(state, timeout)
    );
    let mut checks = BTreeMap::new();
    checks.insert("database".to_string(), database);
    checks.insert("redis".to_string(), redis);
    checks.insert("external_apis".to_string(), check_external_apis(state));
    checks.insert("memory_usage".to_string(), check_memory(state));
    checks.insert("cpu_usage".to_string(), check_cpu(state));
    checks.insert("jobs".to_string(), jobs);
    let healthy = checks.values().all(|c| c.status == CheckStatus::Ok);
    HealthReport {
        timestamp: Utc::now(),
        service: state.settings.telemetry.service_name.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        status: if healthy { OverallStatus::Healthy } else { OverallStatus::Unhealthy },
        checks,
    }
}

async fn check_database(state: &AppState, timeout: Duration) -> Check {
    let started = std::time::Instant::now();
    let probe = sqlx::query("SELECT 1").execute(&state.db);
    match tokio::time::timeout(timeout, probe).await {
        Ok(Ok(_)) => Check::ok(json!({
            "latency_ms": ms(started.elapsed()),
            "pool_size": state.db.size(),
            "pool_idle": state.db.num_idle(),
        })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health: database check failed");
            Check::error(json!({ "detail": "database query failed" }))
        }
        Err(_) => Check::error(
            json!({ "detail": format!("no answer within {} ms", timeout.as_millis()) }),
        ),
    }
}

async fn check_cache(state: &AppState, timeout: Duration) -> Check {
    let backend = state.cache.backend();
    if backend == CacheBackend::Memory {
        return Check::ok(json!({
            "backend": "memory",
            "detail": "REDIS_URL is not set: sessions, rate limits and live events stay in this process",
        }));
    }
    let started = std::time::Instant::now();
    match tokio::time::timeout(timeout, state.cache.ping()).await {
        Ok(Ok(())) => Check::ok(json!({ "backend": "redis", "latency_ms": ms(started.elapsed()) })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health: redis check failed");
            Check::error(json!({ "backend": "redis", "detail": "redis did not answer PING" }))
        }
        Err(_) => Check::error(json!({
            "backend": "redis",
            "detail": format!("no answer within {} ms", timeout.as_millis()),
        })),
    }
}

/// The job runner and cron of this process (up, down or disabled), the workers alive across
/// all instances, and queue lag.
async fn check_jobs(state: &AppState, timeout: Duration) -> Check {
    use std::sync::atomic::Ordering;
    let role = |enabled: bool, up: bool| match (enabled, up) {
        (false, _) => "disabled",
        (true, true) => "up",
        (true, false) => "down",
    };
    let worker =
        role(state.settings.process.workers, state.jobs.worker_running.load(Ordering::Relaxed));
    let cron = role(state.settings.process.cron, state.jobs.cron_running.load(Ordering::Relaxed));
    let stale_after = (state.settings.jobs.heartbeat_interval_ms * 3) as f64 / 1000.0;
    let probe = crate::platform::jobs::workers_and_lag(&state.db, stale_after.max(1.0));
    let (alive, max_lag) = match tokio::time::timeout(timeout, probe).await {
        Ok(Ok(v)) => v,
        _ => {
            return Check::error(
                json!({ "worker": worker, "cron": cron, "detail": "queue state unavailable" }),
            );
        }
    };
    let info = json!({
        "worker": worker,
        "cron": cron,
        "workers_alive": alive,
        "lag_seconds": round1(max_lag),
        "max_healthy_lag_seconds": state.settings.jobs.max_healthy_lag_secs,
    });
    if worker == "down"
        || cron == "down"
        || max_lag > state.settings.jobs.max_healthy_lag_secs as f64
    {
        Check::error(info)
    } else {
        Check::ok(info)
    }
}

/// Providers are reported as configured or not; they are not called on every probe (that
/// would spend their rate limits), and one that is not configured does not make us unhealthy.
fn check_external_apis(state: &AppState) -> Check {
    let apis: Map<String, Value> = crate::modules::external_apis(&state.settings)
        .into_iter()
        .map(|(name, configured)| {
            (name, Value::from(if configured { "configured" } else { "not_configured" }))
        })
        .collect();
    Check::ok(json!({ "apis": apis }))
}

fn check_memory(state: &AppState) -> Check {
    let Some(rss) = process::rss_bytes() else {
        return Check::ok(json!({ "detail": "not measured on this platform" }));
    };
    let rss_mb = rss as f64 / 1_048_576.0;
    let limit = state.settings.health.max_rss_mb;
    let info = json!({ "rss_mb": round1(rss_mb), "limit_mb": limit });
    if limit > 0 && rss_mb > limit as f64 { Check::error(info) } else { Check::ok(info) }
}

fn check_cpu(state: &AppState) -> Check {
    static SAMPLER: std::sync::LazyLock<process::CpuSampler> =
        std::sync::LazyLock::new(process::CpuSampler::default);
    let Some(percent) = SAMPLER.sample() else {
        return Check::ok(json!({ "detail": "not measured on this platform" }));
    };
    let limit = state.settings.health.max_cpu_percent;
    let info = json!({
        "percent": round1(percent),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "limit_percent": limit,
    });
    if limit > 0.0 && percent > limit { Check::error(info) } else { Check::ok(info) }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[derive(Serialize, ToSchema)]
pub struct Probe {
    /// `alive`, `ready` or `not_ready`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Liveness: the process is up and serving.
#[utoipa::path(tag = "health", responses((status = 200, body = Probe)))]
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Probe { status: "alive".into(), detail: None })
}

/// Readiness: the database answers (and Redis, when configured), so traffic can be sent here.
#[utoipa::path(tag = "health", responses((status = 200, body = Probe), (status = 503, body = Probe)))]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let timeout = Duration::from_millis(state.settings.health.probe_timeout_ms);
    let (db, cache) = tokio::join!(check_database(&state, timeout), check_cache(&state, timeout));
    let failing: Vec<&str> = [("database", &db), ("redis", &cache)]
        .into_iter()
        .filter(|(_, c)| c.status != CheckStatus::Ok)
        .map(|(n, _)| n)
        .collect();
    if failing.is_empty() {
        HttpResponse::Ok().json(Probe { status: "ready".into(), detail: None })
    } else {
        HttpResponse::ServiceUnavailable().json(Probe {
            status: "not_ready".into(),
            detail: Some(format!("failing: {}", failing.join(", "))),
        })
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, description = "metrics.bearer_token is set and was not sent", body = crate::error::Problem),
        (status = 404, description = "metrics.enabled is false", body = crate::error::Problem),
    )
)]
#[get("/metrics")]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    if !state.settings.metrics.enabled {
        return Err(AppError::NotFound("Metrics are disabled (metrics.enabled).".into()));
    }
    if let Some(token) = state.settings.metrics.bearer_token.get() {
        let sent = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq(sent.as_bytes(), token.as_bytes()) {
            return Err(AppError::Unauthorized(
                "Send `Authorization: Bearer <metrics.bearer_token>`.".into(),
            ));
        }
    }
    crate::telemetry::record_process_metrics();
    let handle = crate::telemetry::metrics_handle();
    handle.run_upkeep();
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .body(handle.render()))
}
