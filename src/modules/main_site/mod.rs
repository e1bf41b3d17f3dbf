//! Marketing site, leads, contact inquiries, admin dashboard and billing.

pub mod admin;
pub mod billing;
pub mod content;
pub mod cursor;
pub mod forms;
pub mod inquiries;
pub mod leads;
pub mod money;
pub mod notify;
pub mod pages;
pub mod seo;

use actix_web::{HttpResponse, get};
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use self::{billing::stripe::StripeClient, content::SiteContent};
use crate::{
    config::{Module, Settings},
    modules::info::ModuleInfo,
};

/// The module's state, built once at start-up.
pub struct MainSite {
    pub content: SiteContent,
    /// `None` when no Stripe secret key is configured.
    pub stripe: Option<StripeClient>,
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(scope::scope("/api/main").service(info));
    cfg.service(forms::routes::issue_form_token)
        .service(leads::submit::create_lead)
        // The export's fixed path is registered before `{id}` would capture it.
        .service(leads::routes::export_leads)
        .service(leads::routes::list_leads)
        .service(leads::routes::get_lead)
        .service(leads::routes::update_lead)
        .service(leads::routes::erase_lead)
        .service(inquiries::submit::create_inquiry)
        .service(inquiries::routes::list_inquiries)
        .service(inquiries::routes::get_inquiry)
        .service(inquiries::routes::update_inquiry)
        .service(inquiries::routes::erase_inquiry)
        .service(billing::routes::get_billing_status)
        .service(billing::routes::create_checkout_session)
        .service(billing::routes::create_portal_session)
        .service(billing::webhook::stripe_webhook);
    cfg.map(|c| {
        c.service(pages::home)
            .service(pages::features)
            .service(pages::feature)
            .service(pages::pricing)
            .service(pages::demo)
            .service(pages::contact)
            .service(pages::thanks)
            .service(pages::privacy)
            .service(pages::terms)
            .service(seo::sitemap)
            .service(seo::robots)
            .service(billing::pages::billing_page)
            .service(billing::pages::billing_checkout)
            .service(billing::pages::billing_portal)
            .service(admin::overview::overview)
            .service(admin::leads::leads_page)
            .service(admin::leads::lead_page)
            .service(admin::leads::lead_submit)
            .service(admin::leads::lead_erase)
            .service(admin::inquiries::inquiries_page)
            .service(admin::inquiries::inquiry_page)
            .service(admin::inquiries::inquiry_submit)
            .service(admin::inquiries::inquiry_erase)
            .service(admin::accounts::users_page)
            .service(admin::accounts::workspaces_page)
            .service(admin::accounts::subscriptions_page)
            .service(admin::jobs::jobs_page)
            .service(admin::jobs::job_retry)
    });
}

pub fn register_jobs(_registry: &mut crate::platform::jobs::JobRegistry) {}

pub async fn init(
    ctx: &super::InitContext<'_>,
    ext: &mut crate::state::Extensions,
) -> anyhow::Result<()> {
    let content = SiteContent::load(&ctx.settings.main_site.content_file)?;
    let stripe = StripeClient::from_settings(
        &ctx.settings.billing,
        &ctx.settings.main_site.stripe_api_version,
        ctx.http.clone(),
    );
    if stripe.is_none() {
        tracing::info!(
            "billing.stripe_secret_key is empty: checkout and the billing portal are off"
        );
    }
    ext.insert(MainSite { content, stripe });
    Ok(())
}

pub fn start(_state: &crate::state::AppState) {}

pub fn dashboard_links() -> Vec<super::DashboardLink> {
    vec![super::DashboardLink {
        title: "Billing",
        description: "Your plan, payment method and invoices.",
        href: "/app/billing",
    }]
}

pub fn external_apis(settings: &Settings) -> Vec<(String, bool)> {
    vec![("stripe".to_string(), settings.billing.stripe_secret_key.is_set())]
}

/// Describes this module; answers only when the module is enabled.
#[utoipa::path(tag = "main", operation_id = "main_info", responses((status = 200, body = ModuleInfo)))]
#[get("/info")]
async fn info() -> HttpResponse {
    HttpResponse::Ok().json(ModuleInfo::new(
        Module::Main,
        "Marketing site, leads, contact inquiries, admin dashboard and billing",
    ))
}
