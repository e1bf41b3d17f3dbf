//! Linked social accounts, scheduled publishing, calendar and analytics.

pub mod platforms;

use actix_web::{HttpResponse, get};
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::{
    config::{Module, Settings},
    modules::info::ModuleInfo,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(scope::scope("/api/social").service(info));
}

pub fn register_jobs(_registry: &mut crate::platform::jobs::JobRegistry) {}

pub async fn init(
    _ctx: &super::InitContext<'_>,
    _ext: &mut crate::state::Extensions,
) -> anyhow::Result<()> {
    Ok(())
}

pub fn start(_state: &crate::state::AppState) {}

pub fn dashboard_links() -> Vec<super::DashboardLink> {
    Vec::new()
}

pub fn external_apis(_settings: &Settings) -> Vec<(String, bool)> {
    Vec::new()
}

/// Describes this module; answers only when the module is enabled.
#[utoipa::path(tag = "social", operation_id = "social_info", responses((status = 200, body = ModuleInfo)))]
#[get("/info")]
async fn info() -> HttpResponse {
    HttpResponse::Ok().json(ModuleInfo::new(
        Module::Social,
        "Linked social accounts, scheduled publishing, calendar and analytics",
    ))
}
