//! The four product modules. This is the only file that knows which are compiled in: one
//! `#[cfg(feature)]` line per module for each hook, and the runtime switch `modules.enabled`.

use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    config::{Module, Settings},
    platform::jobs::JobRegistry,
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
    let on = |m: Module| settings.modules.enabled.contains(&m);
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

/// Job kinds of every compiled-in module (a disabled module's jobs still drain).
pub fn register_jobs(registry: &mut JobRegistry) {
    #[cfg(feature = "main")]
    main_site::register_jobs(registry);
    #[cfg(feature = "ai")]
    ai::register_jobs(registry);
    #[cfg(feature = "social")]
    social::register_jobs(registry);
    #[cfg(feature = "social-ai")]
    social_ai::register_jobs(registry);
    let _ = registry;
}

/// External APIs of the enabled modules and whether each is configured (for health).
pub fn external_apis(settings: &Settings) -> Vec<(String, bool)> {
    let mut apis = Vec::new();
    let on = |m: Module| settings.modules.enabled.contains(&m);
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
