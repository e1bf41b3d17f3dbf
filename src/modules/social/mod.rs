//! Social booster: linked accounts, scheduled publishing with an exactly-once ledger, the
//! content calendar, and analytics. See `docs/modules/social.md`.

pub mod accounts;
pub mod analytics;
pub mod calendar;
pub mod pages;
pub mod platforms;
pub mod posts;
pub mod publish;

use actix_web::{HttpResponse, get};
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::{
    config::{Module, Settings},
    modules::info::ModuleInfo,
};

/// The module's state in `AppState::extensions`: one adapter per platform, built once.
pub struct Social {
    pub registry: platforms::PlatformRegistry,
}

pub fn configure(cfg: &mut ServiceConfig) {
    use accounts::{oauth, pending, routes as acc, slots};
    use posts::{edit, publish_now, routes as post};
    cfg.service(scope::scope("/api/social").service(info));
    // Literal paths before `{id}` ones.
    cfg.service(oauth::oauth_callback)
        .service(pending::get_pending_link)
        .service(pending::choose_pending_link)
        .service(acc::link_account)
        .service(acc::list_accounts)
        .service(acc::get_account)
        .service(acc::account_status)
        .service(acc::disconnect_account)
        .service(slots::next_time_slots)
        .service(slots::list_time_slots)
        .service(slots::create_time_slot)
        .service(slots::delete_time_slot)
        .service(analytics::insights::account_insights)
        .service(post::create_post)
        .service(post::list_posts)
        .service(post::get_post)
        .service(edit::update_post)
        .service(edit::cancel_post)
        .service(publish_now::publish_post_now)
        .service(edit::duplicate_post)
        .service(edit::delete_post)
        .service(calendar::get_calendar)
        .service(analytics::post_analytics);
    cfg.map(|c| {
        c.service(pages::accounts::accounts_page)
            .service(pages::accounts::connect_submit)
            .service(pages::accounts::link_token_submit)
            .service(pages::accounts::disconnect_submit)
            .service(pages::accounts::add_slot_submit)
            .service(pages::accounts::delete_slot_submit)
            .service(pages::accounts::choose_submit)
            .service(pages::calendar::calendar_page)
            .service(pages::calendar::reschedule_submit)
            .service(pages::analytics::analytics_page)
    });
}

pub fn register_jobs(registry: &mut crate::platform::jobs::JobRegistry) {
    registry
        .register::<publish::PublishTarget>()
        .register::<publish::sweeper::Sweep>()
        .register::<accounts::refresh::RefreshTokens>()
        .register::<accounts::refresh::RefreshAccount>()
        .register::<analytics::collect::CollectMetrics>()
        .register::<analytics::collect::CollectAccountMetrics>();
}

pub async fn init(
    ctx: &super::InitContext<'_>,
    ext: &mut crate::state::Extensions,
) -> anyhow::Result<()> {
    let registry = platforms::PlatformRegistry::from_settings(
        &ctx.settings.social.platforms,
        ctx.http.clone(),
    );
    ext.insert(Social { registry });
    Ok(())
}

pub fn start(_state: &crate::state::AppState) {}

pub fn dashboard_links() -> Vec<super::DashboardLink> {
    vec![
        super::DashboardLink {
            title: "Social accounts",
            description: "Link X, Facebook, Instagram, LinkedIn, Bluesky and Mastodon accounts.",
            href: "/app/social",
        },
        super::DashboardLink {
            title: "Content calendar",
            description: "Scheduled posts by day, rescheduling and posting queues.",
            href: "/app/social/calendar",
        },
        super::DashboardLink {
            title: "Social analytics",
            description: "Engagement, followers and the best times to post.",
            href: "/app/social/analytics",
        },
    ]
}

/// Each platform and whether this server can link accounts on it (for health).
pub fn external_apis(settings: &Settings) -> Vec<(String, bool)> {
    platforms::registry::statuses(&settings.social.platforms)
        .iter()
        .map(|s| (format!("social.{}", s.platform.as_str()), s.configured))
        .collect()
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
