//! Fixed-window rate limits as in the seed: `INCR rate:<group>:<subject>` + `EXPIRE <window>`.

use std::time::Duration;

use crate::{
    config::{RateLimitGroup, RateLimitSettings},
    platform::cache::Cache,
};

#[derive(Debug, Clone)]
pub struct RateLimiter {
    enabled: bool,
    exempt: Vec<String>,
    /// (prefix, methods, group) sorted longest prefix first; no methods: every method.
    prefixes: Vec<(String, Vec<String>, Limit)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub name: String,
    pub requests: u64,
    pub window: Duration,
}

impl From<&RateLimitGroup> for Limit {
    fn from(g: &RateLimitGroup) -> Self {
        Limit {
            name: g.name.clone(),
            requests: g.requests,
            window: Duration::from_secs(g.window_secs),
        }
    }
}

/// The outcome of one hit, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the window resets (at least 1).
    pub reset_secs: u64,
}

impl RateLimiter {
    pub fn from_settings(settings: &RateLimitSettings) -> Self {
        let mut prefixes: Vec<(String, Vec<String>, Limit)> = settings
            .groups
            .iter()
            .flat_map(|g| {
                g.prefixes.iter().map(move |p| (p.clone(), g.methods.clone(), Limit::from(g)))
            })
            .collect();
        prefixes.sort_by_key(|(p, _, _)| std::cmp::Reverse(p.len()));
        RateLimiter { enabled: settings.enabled, exempt: settings.exempt.clone(), prefixes }
    }

    /// The group a request belongs to (the longest prefix whose group counts `method`), or
    /// `None` when it is exempt or limits are off.
    pub fn limit_for(&self, method: &str, path: &str) -> Option<&Limit> {
        if !self.enabled || self.exempt.iter().any(|p| path.starts_with(p.as_str())) {
            return None;
        }
        self.prefixes
            .iter()
            .find(|(p, methods, _)| {
                path.starts_with(p.as_str())
                    && (methods.is_empty() || methods.iter().any(|m| m == method))
            })
            .map(|(_, _, l)| l)
    }

    /// Counts one request of `subject` against `limit`. Cache failures let the request through
    /// (a rate limiter must not take the site down with Redis) and are logged.
    pub async fn hit(cache: &dyn Cache, limit: &Limit, subject: &str) -> Option<Decision> {
        let key = format!("rate:{}:{}", limit.name, subject);
        match cache.incr(&key, limit.window).await {
            Ok(counter) => Some(Decision {
                allowed: counter.count <= limit.requests,
                limit: limit.requests,
                remaining: limit.requests.saturating_sub(counter.count),
                reset_secs: counter.resets_in.as_secs_f64().ceil().max(1.0) as u64,
            }),
            Err(e) => {
                tracing::warn!(error = %e, group = %limit.name, "rate limit check failed; allowing");
                metrics::counter!("rate_limit_errors_total").increment(1);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::Settings, platform::cache::MemoryCache};

    #[test]
    fn longest_prefix_wins_and_exempt_paths_skip() {
        let limiter = RateLimiter::from_settings(&Settings::default().rate_limit);
        let group = |method, path| limiter.limit_for(method, path).map(|l| l.name.as_str());
        assert_eq!(group("POST", "/api/auth/login"), Some("auth"));
        assert_eq!(group("POST", "/api/leads"), Some("forms"));
        assert_eq!(group("GET", "/api/agents"), Some("api"));
        assert_eq!(group("GET", "/pricing"), Some("pages"));
        assert_eq!(group("GET", "/api/health"), None);
        assert_eq!(group("GET", "/static/css/app.css"), None);
    }

    #[test]
    fn a_group_limited_to_some_methods_lets_the_others_fall_through() {
        let limiter = RateLimiter::from_settings(&Settings::default().rate_limit);
        let group = |method, path| limiter.limit_for(method, path).map(|l| l.name.as_str());
        assert_eq!(group("POST", "/api/contact"), Some("forms"));
        // Staff work on leads and inquiries counts against the general API allowance.
        assert_eq!(group("GET", "/api/leads"), Some("api"));
        assert_eq!(group("GET", "/api/leads/export.csv"), Some("api"));
        assert_eq!(group("PATCH", "/api/leads/0191"), Some("api"));
        assert_eq!(group("DELETE", "/api/contact/0191"), Some("api"));
    }

    #[tokio::test]
    async fn blocks_after_the_limit() {
        let cache = MemoryCache::new();
        let limit = Limit { name: "t".into(), requests: 2, window: Duration::from_secs(60) };
        let d1 = RateLimiter::hit(&cache, &limit, "ip:1").await.unwrap();
        let d2 = RateLimiter::hit(&cache, &limit, "ip:1").await.unwrap();
        let d3 = RateLimiter::hit(&cache, &limit, "ip:1").await.unwrap();
        let other = RateLimiter::hit(&cache, &limit, "ip:2").await.unwrap();
        assert!(d1.allowed && d2.allowed && !d3.allowed && other.allowed);
        assert_eq!((d1.remaining, d2.remaining, d3.remaining), (1, 0, 0));
        assert!(d3.reset_secs >= 59 && d3.reset_secs <= 60);
    }
}
