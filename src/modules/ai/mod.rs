//! The AI platform: agents with versioned configurations, chat answered by jobs and streamed
//! over `/ws/chat`, knowledge bases with hybrid search, the usage ledger and budgets. A
//! workflow step calls an agent through [`runtime::run_agent`].

pub mod agents;
pub mod chat;
pub mod knowledge;
mod pages;
pub mod providers;
pub mod runtime;
pub mod state;
pub mod usage;
pub mod ws;

use actix_web::{HttpResponse, get};
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::{
    config::{Module, Settings},
    modules::info::ModuleInfo,
};

pub fn configure(cfg: &mut ServiceConfig) {
    use agents::routes as a;
    use chat::{conversations as c, routes as ch};
    use knowledge::{documents as d, routes as k};
    use usage::routes as u;
    // Everything under /api/ai lives in this scope (a scope owns its whole prefix).
    cfg.service(
        scope::scope("/api/ai")
            .service(info)
            .service(u::get_ai_usage)
            .service(u::get_ai_budget)
            .service(u::set_ai_budget)
            .service(u::list_ai_providers)
            .service(u::set_ai_provider_key)
            .service(u::delete_ai_provider_key),
    );
    cfg.service(a::create_agent)
        .service(a::list_agents)
        .service(a::get_agent)
        .service(a::update_agent)
        .service(a::delete_agent)
        .service(a::list_agent_versions)
        .service(a::get_agent_version)
        .service(ch::create_chat)
        .service(ch::get_chat_job)
        .service(c::list_conversations)
        .service(c::get_conversation)
        .service(c::list_conversation_messages)
        .service(c::delete_conversation)
        .service(k::create_knowledge_base)
        .service(k::list_knowledge_bases)
        .service(k::get_knowledge_base)
        .service(k::update_knowledge_base)
        .service(k::delete_knowledge_base)
        .service(d::create_document)
        .service(d::list_documents)
        .service(d::get_document)
        .service(d::list_document_chunks)
        .service(d::delete_document)
        .service(knowledge::search_knowledge_base)
        .service(ws::chat_socket);
    cfg.map(|c| c.service(pages::chat_page).service(pages::knowledge_page));
}

pub fn register_jobs(registry: &mut crate::platform::jobs::JobRegistry) {
    registry
        .register::<chat::job::ChatJob>()
        .register::<chat::job::PruneChatEvents>()
        .register::<knowledge::ingest::IngestDocument>();
}

pub async fn init(
    ctx: &super::InitContext<'_>,
    ext: &mut crate::state::Extensions,
) -> anyhow::Result<()> {
    ext.insert(state::AiState::build(ctx).await?);
    Ok(())
}

pub fn start(_state: &crate::state::AppState) {
    register_metrics();
}

/// Puts `ai_processing_duration_seconds` on `/metrics` from the start, at zero, for every
/// operation and outcome the module records (dashboards and alerts see the series before the
/// first call).
fn register_metrics() {
    for operation in ["chat", "agent"] {
        for outcome in ["ok", "error"] {
            let _ = metrics::histogram!(
                "ai_processing_duration_seconds",
                "operation" => operation,
                "outcome" => outcome
            );
        }
    }
}

#[cfg(test)]
mod metrics_tests {
    #[test]
    fn ai_processing_duration_is_exported_before_any_call() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, super::register_metrics);
        let text = handle.render();
        for (operation, outcome) in
            [("chat", "ok"), ("chat", "error"), ("agent", "ok"), ("agent", "error")]
        {
            assert!(
                text.lines().any(|l| l.starts_with("ai_processing_duration_seconds_count{")
                    && l.contains(&format!(r#"operation="{operation}""#))
                    && l.contains(&format!(r#"outcome="{outcome}""#))
                    && l.ends_with(" 0")),
                "{operation}/{outcome} missing:\n{text}"
            );
        }
    }
}

pub fn dashboard_links() -> Vec<super::DashboardLink> {
    vec![
        super::DashboardLink {
            title: "AI chat",
            description: "Talk to your agents; answers stream in as they are written.",
            href: "/app/chat",
        },
        super::DashboardLink {
            title: "Knowledge bases",
            description: "Documents your agents search and cite.",
            href: "/app/knowledge",
        },
    ]
}

/// Each provider the settings define and whether the server has it configured.
pub fn external_apis(settings: &Settings) -> Vec<(String, bool)> {
    let ai = &settings.ai;
    let mut apis: Vec<(String, bool)> = vec![
        ("openai".into(), ai.openai.is_configured()),
        ("anthropic".into(), ai.anthropic.is_configured()),
        ("gemini".into(), ai.gemini.is_configured()),
    ];
    apis.extend(ai.openai_compatible.iter().map(|c| (c.name.clone(), true)));
    apis
}

/// Describes this module; answers only when the module is enabled.
#[utoipa::path(tag = "ai", operation_id = "ai_info", responses((status = 200, body = ModuleInfo)))]
#[get("/info")]
async fn info() -> HttpResponse {
    HttpResponse::Ok()
        .json(ModuleInfo::new(Module::Ai, "AI agents, chat, workflows and knowledge bases"))
}
