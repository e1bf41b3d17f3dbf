//! `[main_site]`: the marketing site's copy, the lead and contact forms' defences and
//! notifications, the admin chart and the Stripe API version. Plans and Stripe keys live in
//! `[billing]` because entitlements are shared by every module.

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MainSiteSettings {
    /// TOML file with the marketing copy (headline, features, testimonials, FAQ, legal pages);
    /// empty: the copy built into the binary (`templates/main_site/content.toml`).
    pub content_file: String,
    /// Receives a notification for every new and returning lead; empty sends none.
    pub sales_email: String,
    /// Receives contact inquiries (reply-to is the sender); empty sends none.
    pub support_email: String,
    /// A form sent sooner than this after its page was shown is refused as automated.
    pub min_fill_secs: u64,
    /// A form older than this is refused; the visitor reloads the page.
    pub form_max_age_secs: u64,
    /// Each form token is accepted once (its nonce is remembered until it expires), so a page
    /// fetched once cannot be replayed. Off only for load tests that reuse one token.
    pub single_use_form_tokens: bool,
    /// Lead and contact submissions per client address per window; 0 = no limit. Off with
    /// `rate_limit.enabled = false` too.
    pub submissions_per_ip: u64,
    /// Submissions per e-mail address per window; 0 = no limit.
    pub submissions_per_email: u64,
    pub submission_window_secs: u64,
    /// `Stripe-Version` header of every Stripe call (the shapes the client parses).
    pub stripe_api_version: String,
    /// Origins of Stripe's hosted pages (Checkout, Customer Portal). The billing page's CSP
    /// `form-action` allows them, because browsers check a form post's redirect target too.
    pub stripe_redirect_origins: Vec<String>,
    /// Days in the admin chart of leads per day by source.
    pub chart_days: u32,
}

impl Default for MainSiteSettings {
    fn default() -> Self {
        MainSiteSettings {
            content_file: String::new(),
            sales_email: "sales@example.com".into(),
            support_email: "support@example.com".into(),
            min_fill_secs: 3,
            form_max_age_secs: 86_400,
            single_use_form_tokens: true,
            submissions_per_ip: 30,
            submissions_per_email: 5,
            submission_window_secs: 3_600,
            stripe_api_version: "2024-06-20".into(),
            stripe_redirect_origins: vec![
                "https://checkout.stripe.com".into(),
                "https://billing.stripe.com".into(),
            ],
            chart_days: 30,
        }
    }
}

impl MainSiteSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("main_site.sales_email", &self.sales_email),
            ("main_site.support_email", &self.support_email),
        ] {
            if !value.is_empty() && crate::domain::Email::parse(value).is_err() {
                return Err(ConfigError::invalid(key, "expected an e-mail address or \"\""));
            }
        }
        if self.form_max_age_secs <= self.min_fill_secs {
            return Err(ConfigError::invalid(
                "main_site.form_max_age_secs",
                "must be longer than main_site.min_fill_secs",
            ));
        }
        if self.submission_window_secs == 0 {
            return Err(ConfigError::invalid(
                "main_site.submission_window_secs",
                "expected at least 1",
            ));
        }
        if !(1..=366).contains(&self.chart_days) {
            return Err(ConfigError::invalid("main_site.chart_days", "expected 1 to 366 days"));
        }
        if self.stripe_api_version.trim().is_empty() {
            return Err(ConfigError::invalid(
                "main_site.stripe_api_version",
                "expected a Stripe API version such as 2024-06-20",
            ));
        }
        for origin in &self.stripe_redirect_origins {
            if !is_origin(origin) {
                return Err(ConfigError::invalid(
                    "main_site.stripe_redirect_origins",
                    format!("`{origin}` is not an origin such as https://checkout.stripe.com"),
                ));
            }
        }
        Ok(())
    }
}

/// `scheme://host[:port]` and nothing else: the value goes into a CSP header as it is.
fn is_origin(value: &str) -> bool {
    !value.contains(|c: char| c.is_whitespace() || matches!(c, ';' | ',' | '\''))
        && url::Url::parse(value).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.path() == "/"
                && !value.ends_with('/')
                && u.query().is_none()
                && u.fragment().is_none()
                && u.username().is_empty()
                && u.password().is_none()
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_bare_origins_are_accepted_for_the_csp() {
        assert!(super::is_origin("https://checkout.stripe.com"));
        assert!(super::is_origin("http://127.0.0.1:4242"));
        for bad in [
            "https://checkout.stripe.com/",
            "checkout.stripe.com",
            "https://a.b/c",
            "https://a.b; script-src *",
            "javascript:x",
        ] {
            assert!(!super::is_origin(bad), "{bad}");
        }
    }
}
