//! Services shared by every module: identity, jobs, events, webhooks, mail, cache.

pub mod audit;
pub mod auth;
pub mod cache;
pub mod crypto;
pub mod events;
pub mod jobs;
pub mod live;
pub mod mail;
pub mod plans;
pub mod process;
pub mod ratelimit;
pub mod ssrf;
pub mod storage;
pub mod uploads;
pub mod webhooks;
pub mod workspaces;

use utoipa_actix_web::service_config::ServiceConfig;

/// Routes every deployment serves, whatever modules are enabled.
pub fn configure(cfg: &mut ServiceConfig) {
    use auth::{api_keys, pages, reset, routes};
    cfg.service(routes::signup)
        .service(routes::login)
        .service(routes::refresh)
        .service(routes::logout)
        .service(routes::me)
        .service(routes::session_info)
        .service(routes::switch_workspace)
        .service(reset::password_reset)
        .service(reset::password_reset_confirm)
        .service(api_keys::list_api_keys)
        .service(api_keys::create_api_key)
        .service(api_keys::revoke_api_key)
        .service(workspaces::list_workspaces)
        .service(workspaces::get_workspace)
        .service(workspaces::update_workspace)
        .service(workspaces::list_members)
        .service(workspaces::change_member_role)
        .service(workspaces::remove_member)
        .service(workspaces::invite_member)
        .service(workspaces::list_invitations)
        .service(workspaces::revoke_invitation)
        .service(workspaces::accept_invitation)
        .service(audit::list_audit)
        .service(webhooks::routes::list_webhooks)
        .service(webhooks::routes::create_webhook)
        .service(webhooks::routes::get_webhook)
        .service(webhooks::routes::update_webhook)
        .service(webhooks::routes::delete_webhook)
        .service(webhooks::routes::rotate_webhook_secret)
        .service(webhooks::routes::test_webhook)
        .service(webhooks::routes::list_webhook_deliveries)
        .service(jobs::routes::list_jobs)
        .service(jobs::routes::get_job)
        .service(jobs::routes::retry_job)
        .service(jobs::routes::cancel_job)
        .service(live::events_socket)
        .service(uploads::create_upload)
        .service(uploads::list_uploads)
        .service(uploads::get_upload)
        .service(uploads::download_upload)
        .service(uploads::delete_upload);
    cfg.map(|c| {
        c.service(pages::login_page)
            .service(pages::login_submit)
            .service(pages::signup_page)
            .service(pages::signup_submit)
            .service(pages::logout_submit)
            .service(pages::forgot_page)
            .service(pages::forgot_submit)
            .service(pages::reset_page)
            .service(pages::reset_submit)
            .service(pages::invite_page)
            .service(pages::invite_submit)
            .service(pages::dashboard)
            .service(uploads::public_media)
    });
}

/// Job kinds of the platform itself.
pub fn register_jobs(registry: &mut jobs::JobRegistry) {
    registry
        .register::<jobs::PruneJobs>()
        .register::<events::DispatchEvent>()
        .register::<webhooks::DeliverWebhook>()
        .register::<mail::SendEmail>()
        .register::<auth::reset::SendResetLink>();
}

/// Every job kind this binary can run.
pub fn job_registry() -> jobs::JobRegistry {
    job_registry_for(&crate::config::ModuleSettings::default())
}

/// The platform's job kinds and those of the modules `modules` enables.
pub fn job_registry_for(modules: &crate::config::ModuleSettings) -> jobs::JobRegistry {
    let mut registry = jobs::JobRegistry::new();
    register_jobs(&mut registry);
    crate::modules::register_jobs(modules, &mut registry);
    registry
}

/// The job kinds this process runs (those of its enabled modules), once `settings.jobs.queues`
/// is known to work every queue they use: a job on a queue no worker runs would wait forever.
/// `serve` refuses to start and `check-config` fails on the same check.
pub fn checked_job_registry(
    settings: &crate::config::Settings,
) -> Result<jobs::JobRegistry, crate::config::ConfigError> {
    let registry = job_registry_for(&settings.modules);
    let unserved = registry.unserved_queues(&settings.jobs.queues);
    if !unserved.is_empty() {
        return Err(crate::config::ConfigError::invalid(
            "jobs.queues",
            format!("jobs use queue(s) {} that no worker runs; add them", unserved.join(", ")),
        ));
    }
    Ok(registry)
}
