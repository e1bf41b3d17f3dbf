//! AI agents, chat, workflows and knowledge bases.

pub mod providers;

use actix_web::{HttpResponse, get};
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::{
    config::{Module, Settings},
    modules::info::ModuleInfo,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(scope::scope("/api/ai").service(info));
}

pub fn register_jobs(_registry: &mut crate::platform::jobs::JobRegistry) {}

pub fn external_apis(_settings: &Settings) -> Vec<(String, bool)> {
    Vec::new()
}

/// Describes this module; answers only when the module is enabled.
#[utoipa::path(tag = "ai", operation_id = "ai_info", responses((status = 200, body = ModuleInfo)))]
#[get("/info")]
async fn info() -> HttpResponse {
    HttpResponse::Ok()
        .json(ModuleInfo::new(Module::Ai, "AI agents, chat, workflows and knowledge bases"))
}
