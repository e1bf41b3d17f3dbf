//! Public marketing pages, drawn from the content file and `[billing.plans]`. Pages are public
//! and cacheable; a page showing a form's errors (after a redirect) is not.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use super::{
    MainSite,
    content::{Feature, SiteContent},
    forms::FormView,
};
use crate::{
    config::PlanSettings,
    error::{AppError, PageError},
    http::page::{CachePolicy, Layout, render},
    state::AppState,
};

/// Query parameters a marketing page understands: campaign tags and a failed form's key.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    /// Set by the form redirect when a field needs fixing.
    pub form: Option<String>,
}

const UTM: [&str; 5] = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];

/// A form for a page: its token, a failed post's values and errors, and the campaign tags and
/// landing page taken from this request (a script adds the referrer and first-touch tags).
async fn form_for(state: &AppState, req: &HttpRequest, q: &PageQuery) -> FormView {
    let mut form = FormView::load(state, q.form.as_deref()).await;
    let tags = [&q.utm_source, &q.utm_medium, &q.utm_campaign, &q.utm_term, &q.utm_content];
    for (name, value) in UTM.iter().zip(tags) {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            form.values.entry(name.to_string()).or_insert_with(|| v.chars().take(255).collect());
        }
    }
    let landing =
        req.uri().path_and_query().map_or_else(|| req.path().to_string(), |p| p.to_string());
    form.values
        .entry("landing_page".into())
        .or_insert_with(|| landing.chars().take(2000).collect());
    form
}

fn cache_for(form: &FormView) -> CachePolicy {
    if form.has_errors() { CachePolicy::NoStore } else { CachePolicy::Public(300) }
}

fn site(state: &AppState) -> Result<&MainSite, PageError> {
    Ok(state.ext::<MainSite>()?)
}

#[derive(Template)]
#[template(path = "main_site/home.html")]
struct HomePage<'a> {
    layout: Layout,
    c: &'a SiteContent,
    form: FormView,
    source: &'static str,
    return_to: &'static str,
    org_json: String,
}

// not-in-openapi: HTML page
#[get("/")]
pub async fn home(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let c = &site(&state)?.content;
    let form = form_for(&state, &req, &q).await;
    let cache = cache_for(&form);
    let layout = Layout::new(
        format!("{} — {}", state.settings.app.name, c.company.tagline),
        c.home.lead.clone(),
        "/",
    );
    let org_json = json_ld(&serde_json::json!({
        "@context": "https://schema.org",
        "@type": "Organization",
        "name": c.company.name,
        "url": layout.base_url,
        "email": c.company.email,
        "logo": format!("{}{}", layout.base_url, layout.asset("img/logo.svg")),
    }));
    let page = HomePage { layout, c, form, source: "homepage", return_to: "/", org_json };
    render(&page, StatusCode::OK, cache)
}

#[derive(Template)]
#[template(path = "main_site/features.html")]
struct FeaturesPage<'a> {
    layout: Layout,
    c: &'a SiteContent,
}

// not-in-openapi: HTML page
#[get("/features")]
pub async fn features(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let c = &site(&state)?.content;
    let layout = Layout::new(
        format!("Features — {}", state.settings.app.name),
        format!(
            "Everything {} does: lead capture, AI agents, social scheduling and content AI.",
            state.settings.app.name
        ),
        "/features",
    );
    render(&FeaturesPage { layout, c }, StatusCode::OK, CachePolicy::Public(300))
}

#[derive(Template)]
#[template(path = "main_site/feature.html")]
struct FeaturePage<'a> {
    layout: Layout,
    c: &'a SiteContent,
    f: &'a Feature,
}

// not-in-openapi: HTML page
#[get("/features/{slug}")]
pub async fn feature(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let c = &site(&state)?.content;
    let f = c.feature(&slug).ok_or_else(|| AppError::NotFound("No such feature.".into()))?;
    let layout = Layout::new(
        format!("{} — {}", f.name, state.settings.app.name),
        f.summary.clone(),
        format!("/features/{}", f.slug),
    );
    render(&FeaturePage { layout, c, f }, StatusCode::OK, CachePolicy::Public(300))
}

/// A plan as the pricing page shows it.
pub struct PlanCard<'a> {
    pub plan: &'a PlanSettings,
    pub price: String,
    pub per: String,
    pub cta_label: String,
    pub cta_href: String,
}

pub fn plan_cards<'a>(plans: &'a [PlanSettings], currency: &str) -> Vec<PlanCard<'a>> {
    plans
        .iter()
        .map(|plan| {
            let free = plan.price_cents == 0;
            PlanCard {
                plan,
                price: super::money::price_label(plan.price_cents, currency),
                per: format!("per {}", plan.interval),
                cta_label: if free { "Start free".into() } else { format!("Choose {}", plan.name) },
                cta_href: if free {
                    "/signup".into()
                } else {
                    format!("/app/billing?plan={}", plan.id)
                },
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "main_site/pricing.html")]
struct PricingPage<'a> {
    layout: Layout,
    c: &'a SiteContent,
    cards: Vec<PlanCard<'a>>,
    faq_json: String,
}

// not-in-openapi: HTML page
#[get("/pricing")]
pub async fn pricing(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let c = &site(&state)?.content;
    let billing = &state.settings.billing;
    let layout = Layout::new(
        format!("Pricing — {}", state.settings.app.name),
        c.pricing.lead.clone(),
        "/pricing",
    );
    let faq_json = json_ld(&serde_json::json!({
        "@context": "https://schema.org",
        "@type": "FAQPage",
        "mainEntity": c.pricing.faq.iter().map(|f| serde_json::json!({
            "@type": "Question", "name": f.question,
            "acceptedAnswer": { "@type": "Answer", "text": f.answer },
        })).collect::<Vec<_>>(),
    }));
    let page =
        PricingPage { layout, c, cards: plan_cards(&billing.plans, &billing.currency), faq_json };
    render(&page, StatusCode::OK, CachePolicy::Public(300))
}

#[derive(Template)]
#[template(path = "main_site/demo.html")]
struct DemoPage<'a> {
    layout: Layout,
    c: &'a SiteContent,
    form: FormView,
    source: &'static str,
    return_to: &'static str,
}

// not-in-openapi: HTML page
#[get("/demo")]
pub async fn demo(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let c = &site(&state)?.content;
    let form = form_for(&state, &req, &q).await;
    let cache = cache_for(&form);
    let layout = Layout::new(
        format!("{} — {}", c.demo.headline, state.settings.app.name),
        c.demo.lead.clone(),
        "/demo",
    );
    render(&DemoPage { layout, c, form, source: "demo", return_to: "/demo" }, StatusCode::OK, cache)
}

#[derive(Template)]
#[template(path = "main_site/contact.html")]
struct ContactPage<'a> {
    layout: Layout,
    c: &'a SiteContent,
    form: FormView,
}

// not-in-openapi: HTML page
#[get("/contact")]
pub async fn contact(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let c = &site(&state)?.content;
    let form = form_for(&state, &req, &q).await;
    let cache = cache_for(&form);
    let layout = Layout::new(
        format!("Contact — {}", state.settings.app.name),
        c.contact.lead.clone(),
        "/contact",
    );
    render(&ContactPage { layout, c, form }, StatusCode::OK, cache)
}

#[derive(Template)]
#[template(path = "main_site/thanks.html")]
struct ThanksPage {
    layout: Layout,
    title: String,
    text: String,
}

// not-in-openapi: HTML page
#[get("/thanks")]
pub async fn thanks(
    state: web::Data<AppState>,
    q: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, PageError> {
    let t = &site(&state)?.content.thanks;
    let (title, text) = match q.get("form").map(String::as_str) {
        Some("contact") => (t.contact_title.clone(), t.contact_text.clone()),
        _ => (t.lead_title.clone(), t.lead_text.clone()),
    };
    let layout =
        Layout::new(format!("{title} — {}", state.settings.app.name), text.clone(), "/thanks")
            .private();
    render(&ThanksPage { layout, title, text }, StatusCode::OK, CachePolicy::NoStore)
}

#[derive(Template)]
#[template(path = "main_site/legal.html")]
struct LegalView<'a> {
    layout: Layout,
    page: &'a super::content::LegalPage,
    c: &'a SiteContent,
}

// not-in-openapi: HTML page
#[get("/privacy")]
pub async fn privacy(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let c = &site(&state)?.content;
    let layout = Layout::new(
        format!("{} — {}", c.privacy.title, state.settings.app.name),
        c.privacy.intro.clone(),
        "/privacy",
    );
    render(&LegalView { layout, page: &c.privacy, c }, StatusCode::OK, CachePolicy::Public(3600))
}

// not-in-openapi: HTML page
#[get("/terms")]
pub async fn terms(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let c = &site(&state)?.content;
    let layout = Layout::new(
        format!("{} — {}", c.terms.title, state.settings.app.name),
        c.terms.intro.clone(),
        "/terms",
    );
    render(&LegalView { layout, page: &c.terms, c }, StatusCode::OK, CachePolicy::Public(3600))
}

/// JSON-LD for a `<script type="application/ld+json">`: `<` is escaped so the text can never
/// close the script element.
fn json_ld(value: &serde_json::Value) -> String {
    serde_json::to_string(value).unwrap_or_default().replace('<', "\\u003c")
}

#[cfg(test)]
mod tests {
    #[test]
    fn plan_cards_name_every_stripe_interval() {
        let mut plans = crate::config::Settings::default().billing.plans;
        plans.truncate(2);
        plans[0].interval = "week".into();
        plans[1].interval = "year".into();
        plans[1].price_cents = 120_000;
        let cards = super::plan_cards(&plans, "jpy");
        assert_eq!(cards[0].per, "per week");
        assert_eq!((cards[1].price.as_str(), cards[1].per.as_str()), ("¥120000", "per year"));
    }

    #[test]
    fn json_ld_cannot_close_its_script() {
        let s = super::json_ld(&serde_json::json!({ "name": "</script><script>alert(1)" }));
        assert!(!s.contains("</script>"));
    }
}
