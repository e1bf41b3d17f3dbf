//! The four product modules. This is the only file that knows which are compiled in: one
//! `#[cfg(feature)]` line per module for each hook, and the runtime switch `modules.enabled`.

use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    config::{Module, ModuleSettings, Settings},
    platform::jobs::JobRegistry,
    state::{AppState, Extensions},
};

#[cfg(feature = "ai")]
pub mod ai;
#[cfg(feature = "main")]
pub mod main_site;
#[cfg(feature = "social")]
pub mod social;
#[cfg(feature = "social-ai")]
pub mod social_ai;

pub mod info;

/// The module a job kind belongs to, from its prefix (`social.publish` → social).
pub fn module_of_job(kind: &str) -> Option<Module> {
    let prefix = kind.split('.').next()?;
    match prefix {
        "main_site" => Some(Module::Main),
        "ai" => Some(Module::Ai),
        "social" => Some(Module::Social),
        "social_ai" => Some(Module::SocialAi),
        _ => None,
    }
}

/// Modules built into this binary.
pub fn compiled() -> &'static [Module] {
    &[
        #[cfg(feature = "main")]
        Module::Main,
        #[cfg(feature = "ai")]
        Module::Ai,
        #[cfg(feature = "social")]
        Module::Social,
        #[cfg(feature = "social-ai")]
        Module::SocialAi,
    ]
}

/// Mounts the routes of every compiled-in module that `modules.enabled` switches on.
pub fn configure(cfg: &mut ServiceConfig, settings: &Settings) {
    let on = |m: Module| settings.modules.is_enabled(m);
    #[cfg(feature = "main")]
    if on(Module::Main) {
        main_site::configure(cfg);
    }
    #[cfg(feature = "ai")]
    if on(Module::Ai) {
        ai::configure(cfg);
    }
    #[cfg(feature = "social")]
    if on(Module::Social) {
        social::configure(cfg);
    }
    #[cfg(feature = "social-ai")]
    if on(Module::SocialAi) {
        social_ai::configure(cfg);
    }
    let _ = on;
}

/// What a module needs to build its own state at start-up.
pub struct InitContext<'a> {
    pub settings: &'a Settings,
    pub db: &'a sqlx::PgPool,
    pub http: &'a reqwest::Client,
}

/// Builds each enabled module's state (stored in `AppState::extensions`).
pub async fn init(
    settings: &Settings,
    db: &sqlx::PgPool,
    http: &reqwest::Client,
) -> anyhow::Result<Extensions> {
    let mut ext = Extensions::default();
    let ctx = InitContext { settings, db, http };
    let on = |m: Module| settings.modules.is_enabled(m);
    #[cfg(feature = "main")]
    if on(Module::Main) {
        main_site::init(&ctx, &mut ext).await?;
    }
    #[cfg(feature = "ai")]
    if on(Module::Ai) {
        ai::init(&ctx, &mut ext).await?;
    }
    #[cfg(feature = "social")]
    if on(Module::Social) {
        social::init(&ctx, &mut ext).await?;
    }
    #[cfg(feature = "social-ai")]
    if on(Module::SocialAi) {
        social_ai::init(&ctx, &mut ext).await?;
    }
    let _ = (on, &ctx);
    Ok(ext)
}

/// Hooks that need the finished state (event subscribers).
pub fn start(state: &AppState) {
    let on = |m: Module| state.settings.modules.is_enabled(m);
    #[cfg(feature = "main")]
    if on(Module::Main) {
        main_site::start(state);
    }
    #[cfg(feature = "ai")]
    if on(Module::Ai) {
        ai::start(state);
    }
    #[cfg(feature = "social")]
    if on(Module::Social) {
        social::start(state);
    }
    #[cfg(feature = "social-ai")]
    if on(Module::SocialAi) {
        social_ai::start(state);
    }
    let _ = on;
}

/// An entry on the /app dashboard.
#[derive(Debug, Clone)]
pub struct DashboardLink {
    pub title: &'static str,
    pub description: &'static str,
    pub href: &'static str,
}

/// Dashboard entries of the enabled modules.
pub fn dashboard_links(settings: &Settings) -> Vec<DashboardLink> {
    let mut links = Vec::new();
    let on = |m: Module| settings.modules.is_enabled(m);
    #[cfg(feature = "main")]
    if on(Module::Main) {
        links.extend(main_site::dashboard_links());
    }
    #[cfg(feature = "ai")]
    if on(Module::Ai) {
        links.extend(ai::dashboard_links());
    }
    #[cfg(feature = "social")]
    if on(Module::Social) {
        links.extend(social::dashboard_links());
    }
    #[cfg(feature = "social-ai")]
    if on(Module::SocialAi) {
        links.extend(social_ai::dashboard_links());
    }
    let _ = on;
    links
}

/// Job kinds of the enabled modules: a process claims only jobs it is set up to run (in the
/// four-service layout, AI jobs wait for the process that has the AI settings).
pub fn register_jobs(modules: &ModuleSettings, registry: &mut JobRegistry) {
    let on = |m: Module| modules.is_enabled(m);
    #[cfg(feature = "main")]
    if on(Module::Main) {
        main_site::register_jobs(registry);
    }
    #[cfg(feature = "ai")]
    if on(Module::Ai) {
        ai::register_jobs(registry);
    }
    #[cfg(feature = "social")]
    if on(Module::Social) {
        social::register_jobs(registry);
    }
    #[cfg(feature = "social-ai")]
    if on(Module::SocialAi) {
        social_ai::register_jobs(registry);
    }
    let _ = (on, registry);
}

/// External APIs of the enabled modules and whether each is configured (for health).
pub fn external_apis(settings: &Settings) -> Vec<(String, bool)> {
    let mut apis = Vec::new();
    let on = |m: Module| settings.modules.is_enabled(m);
    #[cfg(feature = "main")]
    if on(Module::Main) {
        apis.extend(main_site::external_apis(settings));
    }
    #[cfg(feature = "ai")]
    if on(Module::Ai) {
        apis.extend(ai::external_apis(settings));
    }
    #[cfg(feature = "social")]
    if on(Module::Social) {
        apis.extend(social::external_apis(settings));
    }
    #[cfg(feature = "social-ai")]
    if on(Module::SocialAi) {
        apis.extend(social_ai::external_apis(settings));
    }
    let _ = on;
    apis
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_kinds_name_their_module() {
        assert_eq!(module_of_job("social.publish"), Some(Module::Social));
        assert_eq!(module_of_job("social_ai.generate"), Some(Module::SocialAi));
        assert_eq!(module_of_job("ai.chat"), Some(Module::Ai));
        assert_eq!(module_of_job("jobs.prune"), None);
    }

    #[test]
    fn an_empty_list_enables_every_compiled_module() {
        let mut s = crate::config::ModuleSettings { enabled: Vec::new() };
        assert_eq!(s.active(), compiled().to_vec());
        s.enabled = vec![Module::Main];
        assert_eq!(s.active(), vec![Module::Main]);
    }
}
