//! `/app/billing`: the workspace's plan, and buttons that send admins to Stripe Checkout or the
//! Customer Portal (form posts, so they work without JavaScript).

use actix_web::{
    HttpResponse, get,
    http::{
        StatusCode,
        header::{CONTENT_SECURITY_POLICY, HeaderValue},
    },
    post, web,
};
use askama::Template;
use serde::Deserialize;

use super::BillingStatus;
use crate::{
    error::{AppError, PageError},
    http::page::{CachePolicy, Layout, render},
    modules::main_site::{
        forms::see_other,
        pages::{PlanCard, plan_cards},
    },
    platform::auth::{Permission, csrf::CsrfToken, pages::SignedIn},
    state::AppState,
};

#[derive(Debug, Deserialize)]
pub struct BillingQuery {
    plan: Option<String>,
    checkout: Option<String>,
}

#[derive(Template)]
#[template(path = "main_site/billing.html")]
struct BillingPage<'a> {
    layout: Layout,
    billing: BillingStatus,
    cards: Vec<PlanCard<'a>>,
    is_admin: bool,
    chosen: String,
    notice: &'static str,
}

impl BillingPage<'_> {
    fn period_end(&self) -> String {
        self.billing
            .current_period_end
            .map(|t| t.format("%-d %B %Y").to_string())
            .unwrap_or_default()
    }

    fn failed_on(&self) -> String {
        self.billing
            .last_payment_failed_at
            .map(|t| format!(" on {}", t.format("%-d %B %Y")))
            .unwrap_or_default()
    }
}

// not-in-openapi: HTML page
#[get("/app/billing")]
pub async fn billing_page(
    state: web::Data<AppState>,
    who: SignedIn,
    csrf: CsrfToken,
    q: web::Query<BillingQuery>,
) -> Result<HttpResponse, PageError> {
    let p = &who.0;
    let billing = super::status(&state, p.workspace_id).await?;
    let notice = match q.checkout.as_deref() {
        Some("success") => {
            "Thank you! Your payment went through; your new plan is active as soon as Stripe confirms it."
        }
        Some("cancelled") => "Checkout was cancelled; nothing was charged.",
        _ => "",
    };
    let s = &state.settings.billing;
    let page = BillingPage {
        layout: Layout::new(
            format!("Billing — {}", state.settings.app.name),
            "Your plan and payments",
            "/app/billing",
        )
        .private()
        .with_csrf(&csrf.0)
        .with_user(Some(p)),
        billing,
        cards: plan_cards(&s.plans, &s.currency),
        is_admin: p.has(Permission::ManageUsers),
        chosen: q.plan.clone().unwrap_or_default(),
        notice,
    };
    let mut res = render(&page, StatusCode::OK, CachePolicy::NoStore)?;
    // The buttons post here and are redirected to Stripe; browsers check that redirect against
    // this page's `form-action` too, so Stripe's origins join it (the middleware keeps a CSP a
    // handler set).
    let csp = with_form_targets(
        &state.settings.security.content_security_policy,
        &state.settings.main_site.stripe_redirect_origins,
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        res.headers_mut().insert(CONTENT_SECURITY_POLICY, value);
    }
    Ok(res)
}

/// `csp` with `origins` added to its `form-action` directive. Without that directive forms may
/// go anywhere already, so the policy is returned as it is.
pub fn with_form_targets(csp: &str, origins: &[String]) -> String {
    csp.split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|directive| {
            let is_form_action = directive
                .split_ascii_whitespace()
                .next()
                .is_some_and(|name| name.eq_ignore_ascii_case("form-action"));
            if !is_form_action {
                return directive.to_string();
            }
            let mut sources: Vec<&str> = directive.split_ascii_whitespace().collect();
            // `'none'` cannot be combined with sources; the billing buttons need these.
            sources.retain(|s| !s.eq_ignore_ascii_case("'none'"));
            for origin in origins {
                if !sources.contains(&origin.as_str()) {
                    sources.push(origin);
                }
            }
            sources.join(" ")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Debug, Deserialize)]
pub struct CheckoutForm {
    plan_id: String,
}

fn require_admin(who: &SignedIn) -> Result<(), PageError> {
    if who.0.has(Permission::ManageUsers) {
        Ok(())
    } else {
        Err(AppError::Forbidden("Only a workspace admin can change its plan.".into()).into())
    }
}

// not-in-openapi: HTML form post that redirects to Stripe Checkout
#[post("/app/billing/checkout")]
pub async fn billing_checkout(
    state: web::Data<AppState>,
    who: SignedIn,
    form: web::Form<CheckoutForm>,
) -> Result<HttpResponse, PageError> {
    require_admin(&who)?;
    let session = super::start_checkout(&state, &who.0, form.plan_id.trim(), None).await?;
    Ok(see_other(&session.url.unwrap_or_else(|| "/app/billing".into())))
}

// not-in-openapi: HTML form post that redirects to the Stripe Customer Portal
#[post("/app/billing/portal")]
pub async fn billing_portal(
    state: web::Data<AppState>,
    who: SignedIn,
) -> Result<HttpResponse, PageError> {
    require_admin(&who)?;
    let session = super::open_portal(&state, &who.0, None).await?;
    Ok(see_other(&session.url))
}

#[cfg(test)]
mod tests {
    use super::with_form_targets;

    #[test]
    fn stripe_origins_join_form_action_only() {
        let origins = vec!["https://checkout.stripe.com".to_string()];
        assert_eq!(
            with_form_targets(
                "default-src 'self'; form-action 'self'; object-src 'none'",
                &origins
            ),
            "default-src 'self'; form-action 'self' https://checkout.stripe.com; object-src 'none'"
        );
        assert_eq!(
            with_form_targets("form-action 'none'", &origins),
            "form-action https://checkout.stripe.com"
        );
        assert_eq!(with_form_targets("default-src 'self'", &origins), "default-src 'self'");
    }
}
